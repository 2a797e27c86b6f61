//! Registration as RFC 7591 describes it: `client_name` (with `name` as its alias), unknown
//! metadata ignored, the registered metadata echoed in the 201, and `application/json` error
//! bodies on `POST /v1/clients` while every other route keeps `application/problem+json`.

use http::{Method, header};
use http_body_util::Full;
use serde_json::{Value, json};

use sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_testkit::{
    TestGateway, assert_problem, assert_registration_error, jwks_of, test_config,
};

fn fresh_jwks() -> Value {
    jwks_of(&PrivateKey::generate(Algorithm::Hpke4))
}

/// Registers `body` and returns the 201's JSON.
async fn registered(gw: &TestGateway, body: &Value) -> Value {
    let reply = gw.register_raw(body, None).await;
    reply.assert_status(201);
    assert_eq!(reply.header(header::CONTENT_TYPE), Some("application/json"));
    reply.json()
}

#[tokio::test]
async fn client_name_is_accepted_and_echoed_with_the_registered_metadata() {
    let gw = TestGateway::start().await;
    let jwks = fresh_jwks();
    let answer = registered(&gw, &json!({ "client_name": "Billing", "jwks": jwks })).await;
    assert_eq!(answer["client_name"], "Billing", "{answer}");
    assert_eq!(answer["name"], "Billing", "{answer}");
    assert_eq!(answer["jwks"], jwks, "{answer}");
    assert_eq!(answer["client_secret_expires_at"], 0);
    assert_eq!(answer["token_endpoint_auth_method"], "client_secret_basic");
    assert!(answer["client_id_issued_at"].as_u64().unwrap() > 1_700_000_000);
    assert!(answer["client_id"].is_string() && answer["client_secret"].is_string());
    assert!(answer.get("webhook_url").is_none(), "{answer}");

    let client_id = answer["client_id"].as_str().unwrap();
    let record = gw.get(&format!("/v1/clients/{client_id}/jwks")).await;
    record.assert_status(200);
    assert_eq!(record.json(), jwks);
}

#[tokio::test]
async fn name_is_still_accepted_as_an_alias() {
    let gw = TestGateway::start().await;
    let answer = registered(&gw, &json!({ "name": "Legacy", "jwks": fresh_jwks() })).await;
    assert_eq!(answer["client_name"], "Legacy");
    assert_eq!(answer["name"], "Legacy");

    let same = json!({ "client_name": "Both", "name": "Both", "jwks": fresh_jwks() });
    assert_eq!(registered(&gw, &same).await["client_name"], "Both");
}

#[tokio::test]
async fn unknown_metadata_is_ignored() {
    // RFC 7591 §2: the server MUST ignore metadata it does not understand.
    let gw = TestGateway::start().await;
    let body = json!({
        "client_name": "Tolerant",
        "jwks": fresh_jwks(),
        "redirect_uris": ["https://app.example/cb"],
        "grant_types": ["authorization_code"],
        "logo_uri": "https://app.example/logo.png",
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "x-private": { "nested": [1, 2, 3] },
    });
    let answer = registered(&gw, &body).await;
    assert_eq!(answer["client_name"], "Tolerant");
    assert!(answer.get("redirect_uris").is_none(), "{answer}");
    assert!(answer.get("x-private").is_none(), "{answer}");
}

#[tokio::test]
async fn client_name_wins_over_its_alias_and_one_of_them_is_required() {
    let gw = TestGateway::start().await;
    let body = json!({ "client_name": "One", "name": "Other", "jwks": fresh_jwks() });
    let answer = registered(&gw, &body).await;
    assert_eq!(answer["client_name"], "One", "{answer}");

    let nameless = gw
        .register_raw(&json!({ "jwks": fresh_jwks() }), None)
        .await;
    nameless.assert_registration_error(
        400,
        "invalid-client-metadata",
        Some("invalid_client_metadata"),
    );
}

#[tokio::test]
async fn an_invalid_jwks_is_still_refused_among_unknown_members() {
    let gw = TestGateway::start().await;
    let body = json!({
        "client_name": "Bad keys",
        "jwks": { "keys": [{ "kty": "RSA", "n": "AQAB", "e": "AQAB" }] },
        "unknown": true,
    });
    let reply = gw.register_raw(&body, None).await;
    let error = reply.assert_registration_error(
        400,
        "invalid-client-metadata",
        Some("invalid_client_metadata"),
    );
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .starts_with("jwks"),
        "{error}"
    );
}

#[tokio::test]
async fn webhook_url_is_echoed_when_set() {
    let mut config = test_config();
    config.webhooks.enabled = true;
    config.webhooks.allow_private = true;
    let gw = TestGateway::start_with(config).await;
    let url = "https://127.0.0.1/hook";
    let body = json!({ "client_name": "Hooked", "jwks": fresh_jwks(), "webhook_url": url });
    let answer = registered(&gw, &body).await;
    assert_eq!(answer["webhook_url"], url, "{answer}");
    assert!(answer["webhook_secret"].is_string(), "{answer}");
}

#[tokio::test]
async fn registration_errors_are_json_and_other_routes_keep_problem_json() {
    let gw = TestGateway::start().await;
    // Bad JSON, a wrong media type and an oversized body: all application/json here.
    let bad_json = gw
        .request(Method::POST, "/v1/clients")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new("{\"client_name\": ".into()))
        .unwrap();
    let error = gw.send(bad_json).await.assert_registration_error(
        400,
        "invalid-request",
        Some("invalid_request"),
    );
    assert!(error["error_description"].is_string());
    let text = gw
        .request(Method::POST, "/v1/clients")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new("hello".into()))
        .unwrap();
    assert_registration_error(&gw.send(text).await, 415, "unsupported-media-type");
    let padding = "x".repeat(32 * 1024);
    let huge = json!({ "client_name": "Big", "jwks": fresh_jwks(), "padding": padding });
    assert_registration_error(
        &gw.register_raw(&huge, None).await,
        413,
        "payload-too-large",
    );

    // Another method on the same path, and other routes: problem+json.
    let listing = gw.get("/v1/clients").await;
    assert_problem(&listing, 405, "method-not-allowed");
    assert_problem(
        &gw.get("/v1/clients/AAAAAAAAAAAAAAAAAAAAAA").await,
        401,
        "invalid-client",
    );
    let client = gw.register().await;
    let rotation = gw
        .call(
            Method::PUT,
            &format!("/v1/clients/{}/jwks", client.id),
            Some(&client.basic()),
            Some(("application/json", b"{\"keys\": []}".to_vec())),
        )
        .await;
    rotation.assert_problem(
        400,
        "invalid-client-metadata",
        Some("invalid_client_metadata"),
    );
    assert_problem(&gw.get("/v1/nowhere").await, 404, "not-found");
}
