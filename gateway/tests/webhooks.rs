//! Webhook delivery on the memory store, over real sockets: a scripted receiver on loopback
//! verifies every delivery with the SDK; retries, 410, a receiver that is down, exactly-once
//! against a poller, `Retry-After`, secret rotation, re-enabling and removal, metrics, and the
//! SSRF refusals at registration and at delivery.

mod support_webhook;

use std::net::IpAddr;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::dns::Name;
use serde_json::json;
use tower_service::Service as _;

use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{MemoryStore, WakeHub};
use sealgate::webhook::ssrf::{self, CheckedResolver, Policy, UrlError};
use sealgate_crypto::webhook::WebhookSecret;

use support_webhook::{
    EVENTUALLY, Receiver, Step, TestGateway, check_delivery, eventually, fake_id_token, now_secs,
    register_with_webhook, webhook_config,
};

async fn gateway() -> TestGateway {
    TestGateway::start(webhook_config()).await
}

#[tokio::test]
async fn a_deposit_is_delivered_verified_and_consumes_the_mailbox() {
    support_webhook::scenario_deliver_verify_consume(&gateway().await).await;
}

#[tokio::test]
async fn failing_twice_then_succeeding_is_one_delivery_with_one_id() {
    support_webhook::scenario_fail_twice_then_succeed(&gateway().await).await;
}

#[tokio::test]
async fn a_slow_receiver_and_a_poll_never_both_get_the_envelope() {
    support_webhook::scenario_slow_receiver_races_poll(&gateway().await).await;
}

#[tokio::test]
async fn a_failing_receiver_leaves_the_envelope_to_the_poll() {
    support_webhook::scenario_failing_receiver_loses_to_poll(&gateway().await).await;
}

/// 410 Gone disables the endpoint (the envelope stays pollable, later deposits are not
/// delivered); `PUT …/webhook` re-enables it with the same secret.
#[tokio::test]
async fn gone_disables_the_endpoint_and_put_re_enables_it() {
    let gw = gateway().await;
    let receiver = Receiver::start().await;
    receiver.script([Step::status(410)]);
    let app = register_with_webhook(&gw, &receiver).await;

    let first = gw.open(&app, 120).await;
    let envelope = app.seal(&first, &fake_id_token());
    gw.deposit(&first, &envelope).await.assert_status(201);
    receiver.wait_for(1, EVENTUALLY).await;
    let polled = gw.poll(&app, &first, 5).await;
    polled.assert_status(200);
    assert_eq!(
        polled.body,
        envelope.as_bytes(),
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
    let second = gw.open(&app, 120).await;
    let envelope = app.seal(&second, &fake_id_token());
    gw.deposit(&second, &envelope).await.assert_status(201);
    receiver
        .assert_stays(
            1,
            Duration::from_millis(1500),
            "a disabled endpoint got a delivery",
        )
        .await;
    gw.poll(&app, &second, 0).await.assert_status(200);

    // PUT re-enables, keeping the secret (none is shown again).
    let put = gw.set_webhook(&app, &receiver.url()).await;
    put.assert_status(200);
    let answer = put.json();
    assert!(answer.get("webhook_secret").is_none(), "{answer}");
    assert_eq!(answer["webhook"]["disabled"], false);
    assert_eq!(answer["webhook"]["disabled_at"], json!(null));
    let third = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&third, &token);
    gw.deposit(&third, &envelope).await.assert_status(201);
    let received = receiver.wait_for(2, EVENTUALLY).await;
    check_delivery(&received[1], &app, &third, &envelope, &token);
    assert_eq!(
        received[1]
            .verify_with(&[app.webhook_secret()])
            .map(|d| d.id),
        Ok(received[1].id.clone()),
        "still signed with the registration secret"
    );
    gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
        .await;
    gw.poll(&app, &third, 0)
        .await
        .assert_problem(404, "not-found", None);
}

/// The receiver is down when the envelope is deposited (connections refused); it is delivered
/// once the receiver is back, well within the mailbox TTL.
#[tokio::test]
async fn a_deposit_while_the_receiver_is_down_arrives_when_it_is_back() {
    let gw = gateway().await;
    let mut receiver = Receiver::start().await;
    let app = register_with_webhook(&gw, &receiver).await;
    receiver.stop().await;

    let mailbox = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&mailbox, &token);
    gw.deposit(&mailbox, &envelope).await.assert_status(201);
    gw.wait_for_metric("two refused attempts", 2.0, |m| {
        m.attempts("connection_error")
    })
    .await;
    assert_eq!(receiver.count(), 0);
    assert_eq!(gw.metrics().await.queue_depth(), 1.0, "the delivery waits");

    receiver.restart().await;
    let received = receiver.wait_for(1, EVENTUALLY).await;
    check_delivery(&received[0], &app, &mailbox, &envelope, &token);
    gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
        .await;
    gw.poll(&app, &mailbox, 0)
        .await
        .assert_problem(404, "not-found", None);
    let metrics = gw.metrics().await;
    assert_eq!(metrics.attempts("2xx"), 1.0);
    assert_eq!(metrics.consumed(), 1.0);
}

/// 429 with `Retry-After: 2` delays the next attempt by at least 2 s (the backoff alone would
/// be 1–1.2 s).
#[tokio::test]
async fn retry_after_is_honoured() {
    let gw = gateway().await;
    let receiver = Receiver::start().await;
    receiver.script([Step::status(429).retry_after("2")]);
    let app = register_with_webhook(&gw, &receiver).await;
    let mailbox = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&mailbox, &token);
    gw.deposit(&mailbox, &envelope).await.assert_status(201);

    let received = receiver.wait_for(2, EVENTUALLY).await;
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(6), "retried after {gap:?}");
    check_delivery(&received[1], &app, &mailbox, &envelope, &token);
    gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
        .await;
    assert_eq!(gw.metrics().await.attempts("4xx"), 1.0);
}

/// After `POST …/webhook/secret`, deliveries carry two `v1,` signatures: the old secret and the
/// new one each verify alone, any other secret does not, and a changed body does not.
#[tokio::test]
async fn during_the_overlap_both_secrets_verify() {
    let mut config = webhook_config();
    config.webhooks.secret_overlap_secs = 3600;
    let gw = TestGateway::start(config).await;
    let receiver = Receiver::start().await;
    let app = register_with_webhook(&gw, &receiver).await;
    let old = app.webhook_secret().to_owned();

    let before = now_secs();
    let rotated = gw.rotate_secret(&app).await;
    rotated.assert_status(200);
    let answer = rotated.json();
    let new = answer["webhook_secret"]
        .as_str()
        .expect("a new secret")
        .to_owned();
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
    let mailbox = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&mailbox, &token);
    gw.deposit(&mailbox, &envelope).await.assert_status(201);
    let request = &receiver.wait_for(1, EVENTUALLY).await[0];
    check_delivery(request, &app, &mailbox, &envelope, &token);
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
    let mut config = webhook_config();
    config.webhooks.secret_overlap_secs = 1;
    let gw = TestGateway::start(config).await;
    let receiver = Receiver::start().await;
    let app = register_with_webhook(&gw, &receiver).await;
    let old = app.webhook_secret().to_owned();
    let rotated = gw.rotate_secret(&app).await;
    rotated.assert_status(200);
    let new = rotated.json()["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    receiver.set_secrets(&[&new]);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let mailbox = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&mailbox, &token);
    gw.deposit(&mailbox, &envelope).await.assert_status(201);
    let request = &receiver.wait_for(1, EVENTUALLY).await[0];
    check_delivery(request, &app, &mailbox, &envelope, &token);
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
    let gw = gateway().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Step::status(500));
    let app = register_with_webhook(&gw, &receiver).await;
    let first = gw.open(&app, 120).await;
    let envelope = app.seal(&first, &fake_id_token());
    gw.deposit(&first, &envelope).await.assert_status(201);
    receiver.wait_for(1, EVENTUALLY).await;

    gw.remove_webhook(&app).await.assert_status(204);
    gw.wait_for_metric("a dropped outcome", 1.0, |m| m.deliveries("dropped"))
        .await;
    let polled = gw.poll(&app, &first, 5).await;
    polled.assert_status(200);
    assert_eq!(polled.body, envelope.as_bytes());
    assert_eq!(gw.client_record(&app).await.json()["webhook"], json!(null));

    let second = gw.open(&app, 120).await;
    gw.deposit(&second, &app.seal(&second, &fake_id_token()))
        .await
        .assert_status(201);
    receiver
        .assert_stays(
            1,
            Duration::from_millis(1500),
            "a removed webhook got a delivery",
        )
        .await;
    gw.poll(&app, &second, 0).await.assert_status(200);
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
    let third = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&third, &token);
    gw.deposit(&third, &envelope).await.assert_status(201);
    let received = receiver.wait_for(2, EVENTUALLY).await;
    check_delivery(&received[1], &app, &third, &envelope, &token);
    assert!(received[1].verify_with(&[app.webhook_secret()]).is_err());
}

/// Every metric of the issue, through one failure, one 410, one delivery and one supersession.
#[tokio::test]
async fn the_webhook_metrics_move() {
    let gw = gateway().await;
    let before = gw.metrics().await;
    assert!(
        before
            .0
            .contains("# TYPE sealgate_webhook_queue_depth gauge")
    );
    assert!(
        before
            .0
            .contains("# TYPE sealgate_webhook_delivery_duration_seconds histogram")
    );
    assert!(
        before
            .0
            .contains("# TYPE sealgate_webhook_endpoints_disabled_total counter")
    );
    assert_eq!(before.queue_depth(), 0.0);
    assert_eq!(before.durations(), 0.0);

    let mut receiver = Receiver::start().await;
    let app = register_with_webhook(&gw, &receiver).await;
    receiver.stop().await;
    let mailbox = gw.open(&app, 120).await;
    gw.deposit(&mailbox, &app.seal(&mailbox, &fake_id_token()))
        .await
        .assert_status(201);
    gw.wait_for_metric("a refused attempt", 1.0, |m| m.attempts("connection_error"))
        .await;
    assert_eq!(gw.metrics().await.queue_depth(), 1.0, "the delivery waits");
    receiver.restart().await;
    receiver.wait_for(1, EVENTUALLY).await;
    gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
        .await;
    let metrics = gw.metrics().await;
    assert_eq!(metrics.attempts("2xx"), 1.0);
    assert_eq!(metrics.durations(), 1.0);
    let seconds = metrics.value("sealgate_webhook_delivery_duration_seconds_sum", "");
    assert!(
        seconds >= 0.9,
        "the delivery took {seconds} s, from the deposit to the 2xx"
    );
    eventually("an empty delivery queue", EVENTUALLY, || async {
        gw.metrics().await.queue_depth() == 0.0
    })
    .await;

    receiver.script([Step::status(410)]);
    let mailbox = gw.open(&app, 120).await;
    gw.deposit(&mailbox, &app.seal(&mailbox, &fake_id_token()))
        .await
        .assert_status(201);
    gw.wait_for_metric("a disabled endpoint", 1.0, |m| m.endpoints_disabled())
        .await;
    let metrics = gw.metrics().await;
    assert_eq!(metrics.deliveries("endpoint_gone"), 1.0);
    assert_eq!(metrics.attempts("4xx"), 1.0);
    assert_eq!(metrics.deliveries("delivered"), 1.0);
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
        .register_raw(&registration(&format!("http://127.0.0.1:{port}/")))
        .await;
    let body = refused.assert_problem(
        400,
        "invalid-client-metadata",
        Some("invalid_client_metadata"),
    );
    assert!(body["detail"].as_str().unwrap().contains("https"), "{body}");
    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("https://localhost:{port}/"),
        "https://user:pw@hooks.example.com/".to_owned(),
        "ftp://hooks.example.com/".to_owned(),
        "/relative".to_owned(),
    ] {
        strict
            .register_raw(&registration(&url))
            .await
            .assert_problem(
                400,
                "invalid-client-metadata",
                Some("invalid_client_metadata"),
            );
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
        let body = insecure_only
            .register_raw(&registration(&url))
            .await
            .assert_problem(
                400,
                "invalid-client-metadata",
                Some("invalid_client_metadata"),
            );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("non-public") || detail.contains("does not resolve"),
            "{url}: {detail}"
        );
    }
    let app = insecure_only.register(None).await;
    insecure_only
        .set_webhook(&app, &format!("http://localhost:{port}/"))
        .await
        .assert_problem(
            400,
            "invalid-client-metadata",
            Some("invalid_client_metadata"),
        );
    assert_eq!(
        insecure_only.client_record(&app).await.json()["webhook"],
        json!(null)
    );

    let mut off = webhook_config();
    off.webhooks.enabled = false;
    let off = TestGateway::start(off).await;
    let body = off
        .register_raw(&registration(&receiver.url()))
        .await
        .assert_problem(
            400,
            "invalid-client-metadata",
            Some("invalid_client_metadata"),
        );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("does not deliver webhooks")
    );
    assert_eq!(receiver.count(), 0);
}

/// The names /etc/hosts maps to a loopback address (`localhost`, and e.g. the machine's own
/// name or `ip6-localhost` where it lists them).
fn loopback_names_in_etc_hosts() -> Vec<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut names: Vec<String> = hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address: IpAddr = fields.next()?.parse().ok()?;
            address
                .is_loopback()
                .then(|| fields.map(str::to_owned).collect::<Vec<_>>())
        })
        .flatten()
        .collect();
    names.push("localhost".to_owned());
    names.sort();
    names.dedup();
    names
}

/// `ssrf::check` (registration) and `CheckedResolver` (every connection) refuse 127.0.0.1,
/// localhost, [::1] and every name that resolves to loopback, unless private targets are
/// allowed.
#[tokio::test]
async fn loopback_targets_are_refused_by_the_checks() {
    let strict = Policy {
        allow_insecure: true,
        allow_private: false,
    };
    let names = loopback_names_in_etc_hosts();
    eprintln!("names that resolve to loopback here: {names:?}");
    let mut urls = vec![
        "http://127.0.0.1:9/".to_owned(),
        "http://127.1.2.3:9/".to_owned(),
        "http://[::1]:9/".to_owned(),
    ];
    urls.extend(names.iter().map(|name| format!("http://{name}:9/")));
    for url in &urls {
        assert_eq!(
            ssrf::check(url, strict).await,
            Err(UrlError::ForbiddenAddress),
            "{url}"
        );
    }

    let mut hosts = vec!["127.0.0.1".to_owned(), "::1".to_owned(), "[::1]".to_owned()];
    hosts.extend(names.iter().cloned());
    for host in &hosts {
        let refused = CheckedResolver::new(strict)
            .call(Name::from_str(host).expect("a name"))
            .await
            .expect_err(&format!("the resolver let {host} through"));
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{host}"
        );
        let mut allowed = CheckedResolver::new(Policy {
            allow_private: true,
            ..strict
        })
        .call(Name::from_str(host).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{host} does not resolve when allowed: {e}"));
        assert!(allowed.all(|address| address.ip().is_loopback()), "{host}");
    }
}

/// A memory store shared by two gateways: `loose` (private targets allowed) registers the
/// webhook and stops; `strict` (the same store, private targets forbidden) must refuse to
/// connect when it delivers.
async fn loose_and_strict() -> (TestGateway, TestGateway) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = MemoryStore::new(WakeHub::default(), clock.clone());
    let loose =
        TestGateway::start_on(webhook_config(), Arc::new(store.clone()), clock.clone()).await;
    let mut strict = webhook_config();
    strict.webhooks.allow_private = false;
    let strict = TestGateway::start_on(strict, Arc::new(store), clock).await;
    (loose, strict)
}

/// A webhook registered as `http://localhost:PORT/` under a loose policy is not delivered by
/// an instance whose policy forbids loopback: the name is checked on every connection.
#[tokio::test]
async fn a_loopback_name_is_refused_at_delivery_time() {
    let (loose, strict) = loose_and_strict().await;
    let receiver = Receiver::start().await;
    let app = loose
        .register(Some(&format!("http://localhost:{}/hook", receiver.port())))
        .await;
    receiver.set_secrets(&[app.webhook_secret()]);
    loose.gateway.shutdown().await;

    let mailbox = strict.open(&app, 120).await;
    strict
        .deposit(&mailbox, &app.seal(&mailbox, &fake_id_token()))
        .await
        .assert_status(201);
    strict
        .wait_for_metric("a refused attempt", 1.0, |m| m.attempts("connection_error"))
        .await;
    receiver
        .assert_stays(
            0,
            Duration::from_millis(1500),
            "a loopback name was connected to",
        )
        .await;
    strict.poll(&app, &mailbox, 0).await.assert_status(200);
}

/// The same with an IP literal, `http://127.0.0.1:PORT/`: `CheckedResolver` guards the
/// connection only when a name is resolved, and hyper-util's `HttpConnector` connects to an IP
/// literal without asking the resolver, so the stricter instance delivers to loopback anyway.
#[tokio::test]
async fn a_loopback_ip_literal_is_refused_at_delivery_time() {
    let (loose, strict) = loose_and_strict().await;
    let receiver = Receiver::start().await;
    let app = loose.register(Some(&receiver.url())).await;
    receiver.set_secrets(&[app.webhook_secret()]);
    loose.gateway.shutdown().await;

    let mailbox = strict.open(&app, 120).await;
    strict
        .deposit(&mailbox, &app.seal(&mailbox, &fake_id_token()))
        .await
        .assert_status(201);
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
    strict.poll(&app, &mailbox, 0).await.assert_status(200);
}

/// A receiver that always fails, on a mailbox living 4 s: attempts at about 0, 1 and 3 s, then
/// the next would fall after the expiry, so the delivery ends as `expired`.
#[tokio::test]
async fn a_failing_receiver_is_retried_until_the_mailbox_expires() {
    let gw = gateway().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Step::status(500));
    let app = register_with_webhook(&gw, &receiver).await;
    let mailbox = gw.open(&app, 4).await;
    gw.deposit(&mailbox, &app.seal(&mailbox, &fake_id_token()))
        .await
        .assert_status(201);
    gw.wait_for_metric("an expired outcome", 1.0, |m| m.deliveries("expired"))
        .await;
    let received = receiver.received();
    assert_eq!(received.len(), 3, "attempts at 0, 1 and 3 s: {received:#?}");
    assert!(
        received
            .iter()
            .all(|r| r.id == received[0].id && r.verified.is_ok())
    );
    receiver
        .assert_stays(
            3,
            Duration::from_millis(1500),
            "an attempt after the expiry",
        )
        .await;
    let metrics = gw.metrics().await;
    assert_eq!(metrics.attempts("5xx"), 3.0);
    assert_eq!(metrics.deliveries("delivered"), 0.0);
    assert_eq!(metrics.queue_depth(), 0.0);
}

/// With one attempt per endpoint allowed, a second delivery to the same endpoint waits for the
/// first (which hangs until the 10 s attempt timeout). Its envelope must stay leased until its
/// own attempt ends, or a poll and the webhook both get it. Today the lease (15 s) starts
/// before the wait for the endpoint slot, so it runs out while the request is in flight.
#[tokio::test]
async fn an_attempt_queued_behind_a_slow_one_keeps_its_envelope() {
    let mut config = webhook_config();
    config.webhooks.per_endpoint = 1;
    let gw = TestGateway::start(config).await;
    let receiver = Receiver::start().await;
    receiver.script([Step::hang(), Step::ok().after(Duration::from_secs(7))]);
    let app = register_with_webhook(&gw, &receiver).await;
    let first = gw.open(&app, 120).await;
    let second = gw.open(&app, 120).await;
    gw.deposit(&first, &app.seal(&first, &fake_id_token()))
        .await
        .assert_status(201);
    receiver.wait_for(1, EVENTUALLY).await;
    let token = fake_id_token();
    let envelope = app.seal(&second, &token);
    gw.deposit(&second, &envelope).await.assert_status(201);
    let deposited = Instant::now();

    let received = receiver.wait_for(2, EVENTUALLY).await;
    check_delivery(&received[1], &app, &second, &envelope, &token);
    let in_flight_at = received[1].at - deposited;
    tokio::time::sleep_until((deposited + Duration::from_millis(15_500)).into()).await;
    assert!(receiver.count() == 2, "{:#?}", receiver.received());
    let polled = gw.poll(&app, &second, 0).await;
    // Both attempts end with a 2xx: the second's 7 s answer, then the first's retry.
    gw.wait_for_metric("two delivered outcomes", 2.0, |m| m.deliveries("delivered"))
        .await;
    assert_eq!(received[1].step.status, 200);
    assert_eq!(
        polled.status.as_u16(),
        202,
        "the poll got the envelope 15.5 s after the deposit while the webhook attempt that \
         carries it (sent {in_flight_at:?} after the deposit, answered 200 at about 17 s) was \
         still in flight: both the webhook and the poll received it"
    );
}

/// A 410 that arrives after the app rotated its secret must not undo the rotation: the worker
/// writes back the client record it read before the attempt.
#[tokio::test]
async fn a_secret_rotated_during_an_attempt_survives_its_410() {
    let gw = gateway().await;
    let receiver = Receiver::start().await;
    receiver.script([Step::status(410).after(Duration::from_secs(2))]);
    let app = register_with_webhook(&gw, &receiver).await;
    let mailbox = gw.open(&app, 120).await;
    gw.deposit(&mailbox, &app.seal(&mailbox, &fake_id_token()))
        .await
        .assert_status(201);
    receiver.wait_for(1, EVENTUALLY).await;
    let rotated = gw.rotate_secret(&app).await;
    rotated.assert_status(200);
    let new = rotated.json()["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
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
    let mailbox = gw.open(&app, 120).await;
    gw.deposit(&mailbox, &app.seal(&mailbox, &fake_id_token()))
        .await
        .assert_status(201);
    let request = &receiver.wait_for(2, EVENTUALLY).await[1];
    assert!(
        request.verify_with(&[&new]).is_ok(),
        "the secret the gateway returned from POST …/webhook/secret during the attempt does \
         not sign (record after the 410: {record})"
    );
}
