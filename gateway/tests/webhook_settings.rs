//! Webhook settings on the memory store, over real sockets: 410 disabling an endpoint and `PUT`
//! re-enabling it, secret rotation and its overlap, removal, and the SSRF refusals at
//! registration and at delivery. Delivery itself and the metrics are in `webhooks.rs`.

mod support_webhook;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{MemoryStore, WakeHub};
use sealgate_crypto::webhook::WebhookSecret;

use sealgate_testkit::{EVENTUALLY, Reply, now_secs};
use support_webhook::{
    Deposited, QUIET, Receiver, Step, TestApp, TestGateway, check_delivery, register_with_webhook,
    webhook_config,
};

/// `POST …/webhook/secret`, answered 200: the answer and the new secret it shows.
async fn rotate(gw: &TestGateway, app: &TestApp) -> (Value, String) {
    let rotated = gw.rotate_secret(app).await;
    rotated.assert_status(200);
    let answer = rotated.json();
    let new = answer["webhook_secret"]
        .as_str()
        .expect("a new secret")
        .to_owned();
    (answer, new)
}

/// A gateway whose rotated-out webhook secrets keep signing for `overlap_secs`, a receiver,
/// and an app registered with it; the app's first webhook secret.
async fn registered_with_overlap(overlap_secs: u64) -> (TestGateway, Receiver, TestApp, String) {
    let mut config = webhook_config();
    config.webhooks.secret_overlap_secs = overlap_secs;
    let gw = TestGateway::start(config).await;
    let receiver = Receiver::start().await;
    let app = register_with_webhook(&gw, &receiver).await;
    let old = app.webhook_secret().to_owned();
    (gw, receiver, app, old)
}

/// Asserts a 400 `invalid_client_metadata` problem; returns its body.
#[track_caller]
fn assert_invalid_metadata(reply: &Reply) -> Value {
    reply.assert_problem(
        400,
        "invalid-client-metadata",
        Some("invalid_client_metadata"),
    )
}

/// A refused registration: the same error, as `application/json` (RFC 7591 §3.2.2).
#[track_caller]
fn assert_invalid_registration(reply: &Reply) -> Value {
    reply.assert_registration_error(
        400,
        "invalid-client-metadata",
        Some("invalid_client_metadata"),
    )
}

/// 410 Gone disables the endpoint (the envelope stays pollable, later deposits are not
/// delivered); `PUT …/webhook` re-enables it with the same secret.
#[tokio::test]
async fn gone_disables_the_endpoint_and_put_re_enables_it() {
    let gw = TestGateway::memory().await;
    let receiver = Receiver::start().await;
    receiver.script([Step::status(410)]);
    let app = register_with_webhook(&gw, &receiver).await;

    let first = gw.open_and_deposit(&app, 120).await;
    receiver.wait_for(1, EVENTUALLY).await;
    let polled = gw.poll(&app, &first.mailbox, 5).await;
    polled.assert_status(200);
    assert_eq!(
        polled.body,
        first.envelope.as_bytes(),
        "a 410 leaves the envelope"
    );
    gw.wait_for_metric("a disabled endpoint", 1.0, |m| m.endpoints_disabled())
        .await;
    let metrics = gw.metrics().await;
    assert_eq!(metrics.deliveries("endpoint_gone"), 1.0);
    assert_eq!(metrics.attempts("4xx"), 1.0);
    let record = gw.client_record(&app).await.json();
    assert_eq!(record["webhook"]["disabled"], true, "{record}");
    let disabled_at = record["webhook"]["disabled_at"]
        .as_str()
        .expect("disabled_at");
    humantime::parse_rfc3339(disabled_at).expect("an RFC 3339 disabled_at");

    // Disabled: a deposit is not delivered, and polling gets it.
    let second = gw.open_and_deposit(&app, 120).await;
    receiver
        .assert_stays(1, QUIET, "a disabled endpoint got a delivery")
        .await;
    gw.poll(&app, &second.mailbox, 0).await.assert_status(200);

    // PUT re-enables, keeping the secret (none is shown again).
    let put = gw.set_webhook(&app, &receiver.url()).await;
    put.assert_status(200);
    let answer = put.json();
    assert!(answer.get("webhook_secret").is_none(), "{answer}");
    assert_eq!(answer["webhook"]["disabled"], false);
    assert_eq!(answer["webhook"]["disabled_at"], json!(null));
    let third = gw.open_and_deposit(&app, 120).await;
    let received = receiver.wait_for(2, EVENTUALLY).await;
    check_delivery(&received[1], &app, &third);
    assert_eq!(
        received[1]
            .verify_with(&[app.webhook_secret()])
            .map(|d| d.id),
        Ok(received[1].id.clone()),
        "still signed with the registration secret"
    );
    gw.assert_delivered_and_consumed(&app, &third.mailbox).await;
}

/// After `POST …/webhook/secret`, deliveries carry two `v1,` signatures: the old secret and the
/// new one each verify alone, any other secret does not, and a changed body does not.
#[tokio::test]
async fn during_the_overlap_both_secrets_verify() {
    let (gw, receiver, app, old) = registered_with_overlap(3600).await;

    let before = now_secs();
    let (answer, new) = rotate(&gw, &app).await;
    assert!(new.starts_with("whsec_") && new != old);
    let retire = humantime::parse_rfc3339(answer["previous_secrets_retire_at"].as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (before + 3600..=now_secs() + 3600).contains(&retire),
        "retire at {retire}"
    );
    let record = gw.client_record(&app).await;
    assert_eq!(record.json()["webhook"]["secrets"], 2);
    assert!(!record.text().contains(&new[6..]) && !record.text().contains(&old[6..]));

    receiver.set_secrets(&[&new]);
    let sent = gw.open_and_deposit(&app, 120).await;
    let request = &receiver.wait_for(1, EVENTUALLY).await[0];
    check_delivery(request, &app, &sent);
    assert_eq!(request.signatures().len(), 2, "{}", request.signature);
    assert!(
        request.verify_with(&[&old]).is_ok(),
        "the old secret verifies"
    );
    assert!(
        request.verify_with(&[&new]).is_ok(),
        "the new secret verifies"
    );
    let stranger = WebhookSecret::generate().expose().to_string();
    assert_eq!(
        request.verify_with(&[&stranger]).unwrap_err(),
        "no webhook signature matches"
    );
    let mut tampered = request.clone();
    let mut body = tampered.body.to_vec();
    let at = body.len() / 2;
    body[at] ^= 1;
    tampered.body = body.into();
    assert!(
        tampered.verify_with(&[&old, &new]).is_err(),
        "a changed body verifies"
    );
}

/// With a 1 s overlap, the rotated-out secret stops signing: one `v1,` signature, by the new
/// secret only. Rotating a client without a webhook is 404.
#[tokio::test]
async fn after_the_overlap_only_the_new_secret_signs() {
    let (gw, receiver, app, old) = registered_with_overlap(1).await;
    let (_, new) = rotate(&gw, &app).await;
    receiver.set_secrets(&[&new]);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let sent = gw.open_and_deposit(&app, 120).await;
    let request = &receiver.wait_for(1, EVENTUALLY).await[0];
    check_delivery(request, &app, &sent);
    assert_eq!(request.signatures().len(), 1, "{}", request.signature);
    assert!(
        request.verify_with(&[&old]).is_err(),
        "a retired secret still verifies"
    );

    let plain = gw.register(None).await;
    gw.rotate_secret(&plain)
        .await
        .assert_problem(404, "not-found", None);
}

/// `DELETE …/webhook` drops a delivery still being retried (outcome `dropped`, the envelope
/// stays pollable) and later deposits are not delivered; `PUT` adds a webhook again with a new
/// secret.
#[tokio::test]
async fn removing_the_webhook_stops_deliveries() {
    let gw = TestGateway::memory().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Step::status(500));
    let app = register_with_webhook(&gw, &receiver).await;
    let first = gw.open_and_deposit(&app, 120).await;
    receiver.wait_for(1, EVENTUALLY).await;

    gw.remove_webhook(&app).await.assert_status(204);
    gw.wait_for_metric("a dropped outcome", 1.0, |m| m.deliveries("dropped"))
        .await;
    let polled = gw.poll(&app, &first.mailbox, 5).await;
    polled.assert_status(200);
    assert_eq!(polled.body, first.envelope.as_bytes());
    assert_eq!(gw.client_record(&app).await.json()["webhook"], json!(null));

    let second = gw.open_and_deposit(&app, 120).await;
    receiver
        .assert_stays(1, QUIET, "a removed webhook got a delivery")
        .await;
    gw.poll(&app, &second.mailbox, 0).await.assert_status(200);
    gw.remove_webhook(&app)
        .await
        .assert_problem(404, "not-found", None);

    receiver.set_default(Step::ok());
    let put = gw.set_webhook(&app, &receiver.url()).await;
    put.assert_status(200);
    let secret = put.json()["webhook_secret"]
        .as_str()
        .expect("a webhook added by PUT shows its secret")
        .to_owned();
    assert_ne!(secret, app.webhook_secret());
    receiver.set_secrets(&[&secret]);
    let third = gw.open_and_deposit(&app, 120).await;
    let received = receiver.wait_for(2, EVENTUALLY).await;
    check_delivery(&received[1], &app, &third);
    assert!(received[1].verify_with(&[app.webhook_secret()]).is_err());
}

/// Registration and `PUT …/webhook` refuse `http://` without `allow_insecure`, and loopback
/// (by address or by name) without `allow_private`: 400 `invalid_client_metadata`. A gateway
/// with webhooks turned off refuses any `webhook_url`.
#[tokio::test]
async fn registration_refuses_insecure_and_private_urls() {
    let receiver = Receiver::start().await;
    let port = receiver.port();
    let key = sealgate_crypto::PrivateKey::generate(sealgate_crypto::Algorithm::Hpke4);
    let registration = |url: &str| {
        json!({
            "name": "refused",
            "jwks": { "keys": [key.public_key().to_jwk()] },
            "webhook_url": url,
        })
    };

    let mut strict = webhook_config();
    strict.webhooks.allow_insecure = false;
    strict.webhooks.allow_private = false;
    let strict = TestGateway::start(strict).await;
    let refused = strict
        .register_raw(&registration(&format!("http://127.0.0.1:{port}/")), None)
        .await;
    let body = assert_invalid_registration(&refused);
    assert!(body["detail"].as_str().unwrap().contains("https"), "{body}");
    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("https://localhost:{port}/"),
        "https://user:pw@hooks.example.com/".to_owned(),
        "ftp://hooks.example.com/".to_owned(),
        "/relative".to_owned(),
    ] {
        assert_invalid_registration(&strict.register_raw(&registration(&url), None).await);
    }

    let mut insecure_only = webhook_config();
    insecure_only.webhooks.allow_private = false;
    let insecure_only = TestGateway::start(insecure_only).await;
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://10.0.0.1:{port}/"),
        format!("http://169.254.169.254:{port}/"),
    ] {
        let body = assert_invalid_registration(
            &insecure_only.register_raw(&registration(&url), None).await,
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("non-public") || detail.contains("does not resolve"),
            "{url}: {detail}"
        );
    }
    let app = insecure_only.register(None).await;
    assert_invalid_metadata(
        &insecure_only
            .set_webhook(&app, &format!("http://localhost:{port}/"))
            .await,
    );
    assert_eq!(
        insecure_only.client_record(&app).await.json()["webhook"],
        json!(null)
    );

    let mut off = webhook_config();
    off.webhooks.enabled = false;
    let off = TestGateway::start(off).await;
    let body =
        assert_invalid_registration(&off.register_raw(&registration(&receiver.url()), None).await);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("does not deliver webhooks")
    );
    assert_eq!(receiver.count(), 0);
}

/// A webhook registered at `url(receiver)` by a gateway that allows private targets, which
/// then stops, and an envelope deposited on `strict`: a gateway on the same memory store whose
/// policy forbids them, so that it must refuse to connect when it delivers.
async fn deposited_on_strict(
    url: fn(&Receiver) -> String,
) -> (TestGateway, Receiver, TestApp, Deposited) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = MemoryStore::new(WakeHub::default(), clock.clone());
    let loose =
        TestGateway::start_on(webhook_config(), Arc::new(store.clone()), clock.clone()).await;
    let mut strict = webhook_config();
    strict.webhooks.allow_private = false;
    let strict = TestGateway::start_on(strict, Arc::new(store), clock).await;
    let receiver = Receiver::start().await;
    let app = loose.register(Some(&url(&receiver))).await;
    receiver.set_secrets(&[app.webhook_secret()]);
    loose.shutdown().await;
    let sent = strict.open_and_deposit(&app, 120).await;
    (strict, receiver, app, sent)
}

/// A webhook registered as `http://localhost:PORT/` under a loose policy is not delivered by
/// an instance whose policy forbids loopback: the name is checked on every connection.
#[tokio::test]
async fn a_loopback_name_is_refused_at_delivery_time() {
    let (strict, receiver, app, sent) =
        deposited_on_strict(|receiver| format!("http://localhost:{}/hook", receiver.port())).await;
    strict
        .wait_for_metric("a refused attempt", 1.0, |m| m.attempts("connection_error"))
        .await;
    receiver
        .assert_stays(0, QUIET, "a loopback name was connected to")
        .await;
    strict.poll(&app, &sent.mailbox, 0).await.assert_status(200);
}

/// The same with an IP literal, `http://127.0.0.1:PORT/`: `CheckedResolver` guards the
/// connection only when a name is resolved, and hyper-util's `HttpConnector` connects to an IP
/// literal without asking the resolver, so the stricter instance delivers to loopback anyway.
#[tokio::test]
async fn a_loopback_ip_literal_is_refused_at_delivery_time() {
    let (strict, receiver, app, sent) = deposited_on_strict(Receiver::url).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) && receiver.count() == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        receiver.count(),
        0,
        "an instance with allow_private = false POSTed to {} (an IP literal is never checked at \
         connection time)",
        receiver.url()
    );
    assert!(strict.metrics().await.attempts("connection_error") >= 1.0);
    strict.poll(&app, &sent.mailbox, 0).await.assert_status(200);
}

/// A 410 that arrives after the app rotated its secret must not undo the rotation: the worker
/// writes back the client record it read before the attempt.
#[tokio::test]
async fn a_secret_rotated_during_an_attempt_survives_its_410() {
    let gw = TestGateway::memory().await;
    let receiver = Receiver::start().await;
    receiver.script([Step::status(410).after(Duration::from_secs(2))]);
    let app = register_with_webhook(&gw, &receiver).await;
    gw.open_and_deposit(&app, 120).await;
    receiver.wait_for(1, EVENTUALLY).await;
    let (_, new) = rotate(&gw, &app).await;
    assert_eq!(gw.client_record(&app).await.json()["webhook"]["secrets"], 2);
    gw.wait_for_metric("a disabled endpoint", 1.0, |m| m.endpoints_disabled())
        .await;

    let record = gw.client_record(&app).await.json();
    assert_eq!(record["webhook"]["disabled"], true, "{record}");
    assert_eq!(
        record["webhook"]["secrets"], 2,
        "the 410 undid the rotation made while its attempt was in flight: {record}"
    );
    gw.set_webhook(&app, &receiver.url())
        .await
        .assert_status(200);
    receiver.set_secrets(&[&new]);
    gw.open_and_deposit(&app, 120).await;
    let request = &receiver.wait_for(2, EVENTUALLY).await[1];
    assert!(
        request.verify_with(&[&new]).is_ok(),
        "the secret the gateway returned from POST …/webhook/secret during the attempt does \
         not sign (record after the 410: {record})"
    );
}
