//! The route table over real HTTP: `HEAD` on every `GET` route, a mailbox `HEAD` that never
//! consumes, `405` with the whole `Allow` list, `404` for every other path, and the
//! `x-request-id` every answer carries.

use http::{Method, header};
use http_body_util::Full;

use sealgate_testkit::{Reply, TestGateway, assert_problem, fake_id_token, seal_for};

/// Sends `method path`, with `Authorization` when given.
async fn send(gw: &TestGateway, method: Method, path: &str, auth: Option<&str>) -> Reply {
    let mut request = gw.request(method, path);
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    gw.send(request.body(Full::default()).unwrap()).await
}

/// Asserts that `head` answers as `get` does, headers included, with no body.
#[track_caller]
fn assert_head_like_get(head: &Reply, get: &Reply, path: &str) {
    assert_eq!(head.status, get.status, "{path}");
    assert!(head.body.is_empty(), "{path}: {}", head.text());
    let content_length = get.body.len().to_string();
    assert_eq!(
        head.header(header::CONTENT_LENGTH),
        Some(content_length.as_str()),
        "{path}"
    );
    for name in [
        header::CONTENT_TYPE,
        header::CACHE_CONTROL,
        header::ETAG,
        header::WWW_AUTHENTICATE,
    ] {
        assert_eq!(head.header(&name), get.header(&name), "{path}: {name}");
    }
}

#[tokio::test]
async fn head_answers_every_get_route_as_get_without_the_body() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let basic = client.basic();
    let record = format!("/v1/clients/{}", client.id);
    let jwks = format!("/v1/clients/{}/jwks", client.id);
    let cases = [
        (record.as_str(), Some(basic.as_str()), 200),
        (record.as_str(), None, 401),
        (jwks.as_str(), None, 200),
        ("/v1/clients/nobody/jwks", None, 404),
        ("/healthz", None, 200),
        ("/readyz", None, 200),
        ("/openapi.json", None, 200),
    ];
    for (path, auth, status) in cases {
        let get = send(&gw, Method::GET, path, auth).await;
        get.assert_status(status);
        assert!(!get.body.is_empty(), "{path}");
        let head = send(&gw, Method::HEAD, path, auth).await;
        assert_head_like_get(&head, &get, path);
    }
    let metrics = gw.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("sealgate_http_requests_total{")
                && line.contains("route=\"/v1/clients/{client_id}/jwks\"")
                && line.contains("method=\"HEAD\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn head_on_a_mailbox_answers_without_consuming_it() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let other = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let path = format!("/v1/mailboxes/{}", mailbox.id);
    let status = |auth: Option<String>| {
        let (gw, path) = (&gw, &path);
        async move { send(gw, Method::HEAD, path, auth.as_deref()).await }
    };

    let open = status(Some(client.basic())).await;
    open.assert_status(204);
    assert!(open.body.is_empty());
    assert_eq!(open.header(header::CACHE_CONTROL), Some("no-store"));
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    gw.deposit(&mailbox.id, &envelope).await.assert_status(201);
    status(Some(client.basic())).await.assert_status(204);
    status(Some(client.basic())).await.assert_status(204);

    let strangers = status(Some(other.basic())).await;
    strangers.assert_status(404);
    assert!(strangers.body.is_empty());
    let anonymous = status(None).await;
    anonymous.assert_status(401);
    assert!(anonymous.header(header::WWW_AUTHENTICATE).is_some());
    send(
        &gw,
        Method::HEAD,
        "/v1/mailboxes/unknown",
        Some(&client.basic()),
    )
    .await
    .assert_status(404);

    let polled = gw.poll(&client.basic(), &mailbox.id, 0).await;
    polled.assert_status(200);
    assert_eq!(polled.text(), envelope, "HEAD took the envelope");
    assert_problem(
        &gw.poll(&client.basic(), &mailbox.id, 0).await,
        404,
        "not-found",
    );
}

#[tokio::test]
async fn wrong_methods_get_405_with_every_allowed_method() {
    let gw = TestGateway::start().await;
    let cases = [
        ("/v1/clients", "POST"),
        ("/v1/clients/abc", "GET, HEAD, DELETE"),
        ("/v1/clients/abc/jwks", "GET, HEAD, PUT"),
        ("/v1/clients/abc/webhook", "PUT, DELETE"),
        ("/v1/clients/abc/webhook/secret", "POST"),
        ("/v1/mailboxes", "POST"),
        ("/v1/mailboxes/abc", "PUT, GET, HEAD, DELETE"),
        ("/healthz", "GET, HEAD"),
        ("/readyz", "GET, HEAD"),
        ("/openapi.json", "GET, HEAD"),
    ];
    for (path, allow) in cases {
        let reply = send(&gw, Method::PATCH, path, None).await;
        assert_problem(&reply, 405, "method-not-allowed");
        assert_eq!(reply.header(header::ALLOW), Some(allow), "{path}");
    }
    let head = send(&gw, Method::HEAD, "/v1/mailboxes", None).await;
    head.assert_status(405);
    assert!(head.body.is_empty());
    assert_eq!(head.header(header::ALLOW), Some("POST"));
}

#[tokio::test]
async fn unknown_paths_are_404_for_every_method() {
    let gw = TestGateway::start().await;
    let long_id = "a".repeat(129);
    let too_long = format!("/v1/mailboxes/{long_id}");
    for path in [
        "/v1",
        "/v1/clients/",
        "/v1/mailboxes/abc/",
        "/v1/clients/abc/webhook/secret/more",
        "/v1/mailboxes/a.b",
        too_long.as_str(),
        "/healthz/",
    ] {
        for method in [Method::GET, Method::POST, Method::PATCH] {
            assert_problem(&send(&gw, method, path, None).await, 404, "not-found");
        }
        let head = send(&gw, Method::HEAD, path, None).await;
        head.assert_status(404);
        assert!(head.body.is_empty(), "{path}");
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_well_formed_incoming_one_is_kept() {
    let gw = TestGateway::start().await;
    let with_id = |id: &str| {
        gw.request(Method::GET, "/healthz")
            .header("x-request-id", id)
            .body(Full::default())
            .unwrap()
    };
    // A fresh id on every answer, success or error, found or not.
    let mut seen = std::collections::HashSet::new();
    for (method, path, status) in [
        (Method::GET, "/healthz", 200),
        (Method::GET, "/healthz", 200),
        (Method::GET, "/nowhere", 404),
        (Method::PATCH, "/v1/clients", 405),
        (Method::HEAD, "/readyz", 200),
    ] {
        let reply = send(&gw, method, path, None).await;
        reply.assert_status(status);
        let id = reply
            .header("x-request-id")
            .expect("x-request-id")
            .to_owned();
        assert!(id.len() >= 16, "{path}: {id}");
        assert!(seen.insert(id), "a fresh id per request");
    }
    // A well-formed incoming id comes back as it was sent.
    let incoming = "3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f";
    let reply = gw.send(with_id(incoming)).await;
    assert_eq!(reply.header("x-request-id"), Some(incoming));
    let longest = "a".repeat(64);
    let reply = gw.send(with_id(&longest)).await;
    assert_eq!(reply.header("x-request-id"), Some(longest.as_str()));
    // One too long, or with characters outside the URL-safe set, is replaced.
    for bad in [
        "a".repeat(65),
        "has space".to_owned(),
        "semi;colon".to_owned(),
    ] {
        let reply = gw.send(with_id(&bad)).await;
        let id = reply.header("x-request-id").expect("x-request-id");
        assert_ne!(id, bad);
        assert!(!id.is_empty());
    }
}
