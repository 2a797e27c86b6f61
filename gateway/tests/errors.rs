//! Every error row of the HTTP API v1 table, over real HTTP: status, RFC 9457 problem type and
//! the headers that go with it (WWW-Authenticate, Allow, ETag, Retry-After).

use std::time::{Duration, Instant};

use http::{Method, header};
use http_body_util::Full;
use serde_json::{Value, json};

use sealgate::config::Secret;
use sealgate_crypto::{Algorithm, Binding, PrivateKey};
use sealgate_testkit::{
    TestGateway, assert_problem, assert_registration_error, basic, fake_id_token, jwks_of,
    now_secs, raw_exchange, seal_for, seal_with, test_config,
};

/// A registration body with `jwks`.
fn registration(jwks: Value) -> Value {
    json!({ "name": "app", "jwks": jwks })
}

#[tokio::test]
async fn registration_refuses_bad_bodies() {
    let gw = TestGateway::start().await;
    let bad_json = gw
        .request(Method::POST, "/v1/clients")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new("{\"name\": ".into()))
        .unwrap();
    let body = assert_registration_error(&gw.send(bad_json).await, 400, "invalid-request");
    assert_eq!(body["error"], "invalid_request");

    let key = PrivateKey::generate(Algorithm::Hpke4);
    let cases = [
        ("empty key set", registration(json!({ "keys": [] }))),
        ("no keys member", registration(json!({}))),
        (
            "an RSA key",
            registration(json!({ "keys": [{ "kty": "RSA", "n": "AQAB", "e": "AQAB" }] })),
        ),
        (
            "a private key",
            registration(
                json!({ "keys": [serde_json::from_str::<Value>(&key.to_jwk_json()).unwrap()] }),
            ),
        ),
        (
            "a blank name",
            json!({ "name": " ", "jwks": jwks_of(&key) }),
        ),
    ];
    for (what, body) in cases {
        let reply = gw.register_raw(&body, None).await;
        let problem = assert_registration_error(&reply, 400, "invalid-client-metadata");
        assert_eq!(problem["error"], "invalid_client_metadata", "{what}");
    }

    let text = gw
        .request(Method::POST, "/v1/clients")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new(registration(jwks_of(&key)).to_string().into()))
        .unwrap();
    assert_registration_error(&gw.send(text).await, 415, "unsupported-media-type");
}

#[tokio::test]
async fn registration_without_jwks_is_invalid_client_metadata() {
    // RFC 7591 §3.2.2: a missing required metadata field is `invalid_client_metadata`.
    let gw = TestGateway::start().await;
    let reply = gw.register_raw(&json!({ "name": "app" }), None).await;
    let problem = assert_registration_error(&reply, 400, "invalid-client-metadata");
    assert_eq!(problem["error"], "invalid_client_metadata");
}

#[tokio::test]
async fn registration_token_when_configured() {
    let mut config = test_config();
    config.registration_token = Some(Secret::new(
        "let-me-in-let-me-in-let-me-in-let-me-in".into(),
    ));
    let gw = TestGateway::start_with(config).await;
    let body = registration(jwks_of(&PrivateKey::generate(Algorithm::Hpke4)));
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic bGV0LW1lLWluLWxldC1tZS1pbi1sZXQtbWUtaW4tbGV0LW1lLWlu"),
    ] {
        let reply = gw.register_raw(&body, auth).await;
        assert_registration_error(&reply, 401, "invalid-registration-token");
        let challenge = reply.header(header::WWW_AUTHENTICATE).unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    let reply = gw
        .register_raw(
            &body,
            Some("Bearer let-me-in-let-me-in-let-me-in-let-me-in"),
        )
        .await;
    reply.assert_status(201);
    assert!(reply.json()["client_secret"].as_str().unwrap().len() >= 43);
}

#[tokio::test]
async fn jwks_is_cacheable_and_rotates() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let other = gw.register().await;
    let path = format!("/v1/clients/{}/jwks", client.id);

    let first = gw.get(&path).await;
    first.assert_status(200);
    let etag = first.header(header::ETAG).expect("an ETag").to_owned();
    assert!(
        first
            .header(header::CACHE_CONTROL)
            .unwrap()
            .contains("max-age")
    );
    assert_eq!(
        first.json()["keys"][0]["kid"].as_str(),
        Some(client.key.public_key().thumbprint())
    );
    let conditional = gw
        .request(Method::GET, &path)
        .header(header::IF_NONE_MATCH, &etag)
        .body(Full::default())
        .unwrap();
    let not_modified = gw.send(conditional).await;
    not_modified.assert_status(304);
    assert!(not_modified.body.is_empty());
    assert_problem(
        &gw.get("/v1/clients/no-such-client/jwks").await,
        404,
        "not-found",
    );

    let new_key = PrivateKey::generate(Algorithm::Hpke4);
    let rotate = |auth: String, id: &str| {
        gw.request(Method::PUT, &format!("/v1/clients/{id}/jwks"))
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(jwks_of(&new_key).to_string().into()))
            .unwrap()
    };
    let wrong = gw
        .send(rotate(basic(&client.id, "wrong"), &client.id))
        .await;
    assert_problem(&wrong, 401, "invalid-client");
    assert!(
        wrong
            .header(header::WWW_AUTHENTICATE)
            .unwrap()
            .starts_with("Basic")
    );
    let foreign = gw.send(rotate(client.basic(), &other.id)).await;
    assert_problem(&foreign, 404, "not-found");

    gw.send(rotate(client.basic(), &client.id))
        .await
        .assert_status(200);
    let rotated = gw.get(&path).await;
    assert_eq!(
        rotated.json()["keys"][0]["kid"].as_str(),
        Some(new_key.public_key().thumbprint())
    );
    assert_ne!(rotated.header(header::ETAG), Some(etag.as_str()));
    // RFC 7517 §5: members of a JWK Set that are not understood are ignored.
    let newer_key = PrivateKey::generate(Algorithm::Hpke3);
    let mut with_extra = jwks_of(&newer_key);
    with_extra["x-extension"] = serde_json::json!({ "any": ["value"] });
    let extended = gw
        .request(Method::PUT, &path)
        .header(header::AUTHORIZATION, client.basic())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(with_extra.to_string().into()))
        .unwrap();
    let extended = gw.send(extended).await;
    extended.assert_status(200);
    assert_eq!(
        extended.json()["keys"][0]["kid"].as_str(),
        Some(newer_key.public_key().thumbprint())
    );
    assert!(extended.json().get("x-extension").is_none());
    let other_jwks = gw.get(&format!("/v1/clients/{}/jwks", other.id)).await;
    assert_eq!(
        other_jwks.json()["keys"][0]["kid"].as_str(),
        Some(other.key.public_key().thumbprint()),
        "the other client's keys are untouched"
    );
}

#[tokio::test]
async fn deleting_a_client_removes_its_mailboxes_and_credentials() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let other = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    let path = format!("/v1/clients/{}", client.id);

    assert_problem(
        &gw.delete(&basic(&client.id, "nope"), &path).await,
        401,
        "invalid-client",
    );
    assert_problem(&gw.delete(&other.basic(), &path).await, 404, "not-found");
    gw.delete(&client.basic(), &path).await.assert_status(204);

    assert_problem(&gw.deposit(&mailbox.id, &envelope).await, 404, "not-found");
    let poll = gw.poll(&client.basic(), &mailbox.id, 0).await;
    assert_problem(&poll, 401, "invalid-client");
    assert_problem(
        &gw.open_raw(Some(&client.basic()), None).await,
        401,
        "invalid-client",
    );
    assert_problem(&gw.get(&format!("{path}/jwks")).await, 404, "not-found");
    assert_eq!(gw.memory_store().mailbox_count(), 0);
}

#[tokio::test]
async fn opening_a_mailbox_checks_ttl_and_credentials() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    for ttl in [0, 601] {
        let reply = gw
            .open_raw(Some(&client.basic()), Some(json!({ "ttl": ttl })))
            .await;
        assert_problem(&reply, 400, "invalid-request");
    }
    let no_auth = gw.open_raw(None, None).await;
    assert_problem(&no_auth, 401, "invalid-client");
    assert!(
        no_auth
            .header(header::WWW_AUTHENTICATE)
            .unwrap()
            .starts_with("Basic")
    );
    let wrong = gw.open_raw(Some(&basic(&client.id, "x")), None).await;
    assert_problem(&wrong, 401, "invalid-client");
    let max = gw
        .open_raw(Some(&client.basic()), Some(json!({ "ttl": 600 })))
        .await;
    max.assert_status(201);
}

#[tokio::test]
async fn deposits_refuse_unknown_mailboxes_bad_bodies_and_media_types() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());

    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    let bound_to_unknown = seal_with(
        &client.key,
        Binding::to_mailbox(&client.id, unknown, mailbox.exp),
        fake_id_token().as_bytes(),
    );
    assert_problem(
        &gw.deposit(unknown, &bound_to_unknown).await,
        404,
        "not-found",
    );
    // Bound to another mailbox: an unknown path is still 404.
    assert_problem(&gw.deposit(unknown, &envelope).await, 404, "not-found");
    for body in ["", "not a jwe", "a.b.c.d.e", "{\"protected\":1}"] {
        let reply = gw.deposit(&mailbox.id, body).await;
        assert_problem(&reply, 400, "malformed-envelope");
    }
    let reply = gw
        .deposit_as(&mailbox.id, "text/plain", envelope.clone().into())
        .await;
    assert_problem(&reply, 415, "unsupported-media-type");

    let big = vec![b'A'; 16 * 1024 + 1];
    let reply = gw
        .deposit_as(&mailbox.id, "application/jose", big.clone())
        .await;
    assert_problem(&reply, 413, "payload-too-large");
    let mut chunked = format!(
        "PUT /v1/mailboxes/{} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/jose\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        mailbox.id
    )
    .into_bytes();
    for chunk in big.chunks(4096) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let response = raw_exchange(gw.addr(), &chunked).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("application/problem+json")
    );

    // None of that filled the mailbox.
    gw.deposit(&mailbox.id, &envelope).await.assert_status(201);
}

#[tokio::test]
async fn deposits_must_be_bound_to_the_mailbox() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let other = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let sibling = gw.open(&client, None).await;
    let (cid, mid, exp) = (client.id.as_str(), mailbox.id.as_str(), mailbox.exp);
    let token = fake_id_token();
    let stranger = PrivateKey::generate(Algorithm::Hpke4);
    let unbound = |aud: Option<&str>, mbx: Option<&str>, exp: Option<u64>| Binding {
        aud: aud.map(str::to_owned),
        mbx: mbx.map(str::to_owned),
        exp,
    };
    let (key, to) = (&client.key, Binding::to_mailbox);
    let cases = [
        ("kid not in the JWKS", &stranger, to(cid, mid, exp)),
        ("aud of another client", key, to(&other.id, mid, exp)),
        ("mbx of another mailbox", key, to(cid, &sibling.id, exp)),
        ("exp in the past", key, to(cid, mid, now_secs() - 5)),
        ("no binding", key, Binding::default()),
        ("no aud", key, unbound(None, Some(mid), Some(exp))),
        ("no mbx", key, unbound(Some(cid), None, Some(exp))),
        ("no exp", key, unbound(Some(cid), Some(mid), None)),
    ];
    for (what, key, binding) in cases {
        let reply = gw
            .deposit(mid, &seal_with(key, binding, token.as_bytes()))
            .await;
        assert_eq!(reply.status.as_u16(), 422, "{what}: {}", reply.text());
        assert_problem(&reply, 422, "envelope-mismatch");
    }
    let good = seal_for(&client, &mailbox, token.as_bytes());
    gw.deposit(mid, &good).await.assert_status(201);
}

#[tokio::test]
async fn polling_is_for_the_owner_only() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let other = gw.register().await;
    let mailbox = gw.open(&client, None).await;

    let foreign = gw.poll(&other.basic(), &mailbox.id, 0).await;
    assert_problem(&foreign, 404, "not-found");
    let wrong = gw
        .poll(&basic(&client.id, "wrong-secret"), &mailbox.id, 0)
        .await;
    assert_problem(&wrong, 401, "invalid-client");
    assert!(
        wrong
            .header(header::WWW_AUTHENTICATE)
            .unwrap()
            .starts_with("Basic")
    );
    let unknown = gw.poll(&client.basic(), "AAAAAAAAAAAAAAAAAAAAAA", 0).await;
    assert_problem(&unknown, 404, "not-found");
    let bad_wait = gw
        .request(
            Method::GET,
            &format!("/v1/mailboxes/{}?wait=soon", mailbox.id),
        )
        .header(header::AUTHORIZATION, client.basic())
        .body(Full::default())
        .unwrap();
    assert_problem(&gw.send(bad_wait).await, 400, "invalid-request");

    let pending = gw.poll(&client.basic(), &mailbox.id, 0).await;
    pending.assert_status(202);
    assert!(pending.header(header::RETRY_AFTER).is_some());
    assert_eq!(
        pending.header(header::CONTENT_TYPE),
        Some("application/json")
    );
    assert_eq!(pending.json()["error"], "authorization_pending");
    // The other client's attempt did not consume or remove anything.
    gw.deposit(&mailbox.id, &seal_for(&client, &mailbox, b"t"))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn a_long_wait_is_capped_at_the_server_maximum() {
    let mut config = test_config();
    config.limits.max_wait_secs = 1;
    let gw = TestGateway::start_with(config).await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let started = Instant::now();
    let reply = gw.poll(&client.basic(), &mailbox.id, 61).await;
    reply.assert_status(202);
    assert_eq!(reply.json()["error"], "authorization_pending");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "it did wait: {took:?}");
    assert!(took < Duration::from_secs(20), "but not 61 s: {took:?}");
}

#[tokio::test]
async fn cancelling_a_mailbox() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let other = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let path = format!("/v1/mailboxes/{}", mailbox.id);
    assert_problem(&gw.delete(&other.basic(), &path).await, 404, "not-found");
    gw.delete(&client.basic(), &path).await.assert_status(204);
    assert_problem(&gw.delete(&client.basic(), &path).await, 404, "not-found");
    let envelope = seal_for(&client, &mailbox, b"t");
    assert_problem(&gw.deposit(&mailbox.id, &envelope).await, 404, "not-found");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let gw = TestGateway::start().await;
    for path in [
        "/",
        "/v2/mailboxes",
        "/v1/mailboxes/a/b",
        "/v1/mailboxes/bad%20id",
        "/metrics",
    ] {
        assert_problem(&gw.get(path).await, 404, "not-found");
    }
    let cases = [
        (Method::GET, "/v1/clients", "POST"),
        (Method::PATCH, "/v1/mailboxes/abc", "PUT, GET, HEAD, DELETE"),
        (Method::POST, "/v1/clients/abc/jwks", "GET, HEAD, PUT"),
        (Method::DELETE, "/healthz", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let reply = gw
            .send(gw.request(method, path).body(Full::default()).unwrap())
            .await;
        assert_problem(&reply, 405, "method-not-allowed");
        assert_eq!(reply.header(header::ALLOW), Some(allow), "{path}");
    }
}
