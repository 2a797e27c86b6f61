//! The delivery flows that run on every store (memory and Redis), the checks they share, and
//! `flow_tests!`, which declares them as tests.

use std::time::{Duration, Instant};

use http::{Method, header};
use serde_json::json;

use sealgate_crypto::webhook::WebhookSecret;

use sealgate_testkit::{EVENTUALLY, now_secs};

use super::{Deposited, QUIET, Received, Receiver, Step, TestApp, TestGateway, header_text};

/// Registers with the receiver's URL and checks the registration answer and the client record
/// (secret shown once, never again); the receiver verifies with the secret from now on.
pub(crate) async fn register_with_webhook(gw: &TestGateway, receiver: &Receiver) -> TestApp {
    let app = gw.register(Some(&receiver.url())).await;
    let secret = app.webhook_secret().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    WebhookSecret::parse(&secret).expect("a valid Standard Webhooks secret");
    assert_eq!(
        app.registration["webhook"],
        json!({ "url": receiver.url(), "disabled": false, "disabled_at": null, "secrets": 1 })
    );
    let record = gw.client_record(&app).await;
    record.assert_status(200);
    assert_eq!(record.json()["webhook"], app.registration["webhook"]);
    let text = record.text();
    assert!(
        !text.contains(&secret[6..]),
        "the record shows the webhook secret"
    );
    assert!(
        !text.contains(&app.secret),
        "the record shows the client secret"
    );
    receiver.set_secrets(&[&secret]);
    app
}

/// Checks everything about one delivered request that does not depend on the attempt.
#[track_caller]
pub(crate) fn check_delivery(request: &Received, app: &TestApp, deposited: &Deposited) {
    let (mailbox, envelope, token) = (&deposited.mailbox, &*deposited.envelope, &*deposited.token);
    let delivery = request.delivery();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/hook");
    assert!(request.id.starts_with("msg_"), "webhook-id {}", request.id);
    assert_eq!(delivery.id, request.id);
    assert_eq!(delivery.client_id, app.id);
    assert_eq!(delivery.mailbox_id, mailbox.id);
    assert_eq!(delivery.envelope, envelope, "the envelope, byte for byte");
    let header = |name: header::HeaderName| header_text(&request.headers, name);
    assert_eq!(header(header::CONTENT_TYPE), "application/json");
    assert!(header(header::USER_AGENT).starts_with("sealgate/"));
    assert!(
        !request.headers.contains_key("traceparent"),
        "no traceparent while traces are off"
    );
    let timestamp: u64 = request.timestamp.parse().expect("an integer timestamp");
    assert!(
        timestamp.abs_diff(now_secs()) <= 30,
        "webhook-timestamp {timestamp} is not now"
    );
    for signature in request.signatures() {
        assert!(signature.starts_with("v1,"), "{signature}");
    }
    let body = request.json();
    assert_eq!(body["type"], "envelope.deposited");
    humantime::parse_rfc3339(body["timestamp"].as_str().expect("a timestamp"))
        .expect("an RFC 3339 timestamp");
    let data = body["data"].as_object().expect("data");
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    assert_eq!(keys, ["client_id", "envelope", "mailbox_id"]);
    assert!(
        !String::from_utf8_lossy(&request.body).contains(token),
        "the token travels in the clear"
    );
    assert_eq!(app.open_delivered(&delivery), token);
}

/// Deposit, one verified delivery that the SDK opens, the mailbox consumed (a poll gets 404),
/// an identical deposit retry delivers nothing more, and the metrics moved.
pub(crate) async fn scenario_deliver_verify_consume(gw: &TestGateway) {
    let receiver = Receiver::start().await;
    let app = register_with_webhook(gw, &receiver).await;
    let sent = gw.open_and_deposit(&app, 120).await;

    let received = receiver.wait_for(1, EVENTUALLY).await;
    check_delivery(&received[0], &app, &sent);
    assert_eq!(
        received[0].signatures().len(),
        1,
        "one secret, one signature"
    );
    gw.assert_delivered_and_consumed(&app, &sent.mailbox).await;

    // A phone's identical retry is answered 200 and delivers nothing more.
    gw.deposit(&sent.mailbox, &sent.envelope)
        .await
        .assert_status(200);
    receiver
        .assert_stays(1, QUIET, "a retried deposit was delivered again")
        .await;

    let metrics = gw.metrics().await;
    assert_eq!(metrics.deliveries("delivered"), 1.0);
    assert_eq!(metrics.attempts("2xx"), 1.0);
    assert_eq!(metrics.attempts("5xx"), 0.0);
    assert_eq!(metrics.durations(), 1.0);
    assert_eq!(metrics.consumed(), 1.0);
    assert_eq!(metrics.endpoints_disabled(), 0.0);
    gw.wait_for_empty_queue().await;
}

/// 500, 503, then 200: three attempts with one `webhook-id`, spaced by the backoff (1 s, then
/// 2 s), each verified; one delivery; the mailbox consumed once.
pub(crate) async fn scenario_fail_twice_then_succeed(gw: &TestGateway) {
    let receiver = Receiver::start().await;
    receiver.script([Step::status(500), Step::status(503)]);
    let app = register_with_webhook(gw, &receiver).await;
    let sent = gw.open_and_deposit(&app, 120).await;

    let received = receiver.wait_for(3, EVENTUALLY).await;
    for request in &received {
        check_delivery(request, &app, &sent);
        assert_eq!(
            request.id, received[0].id,
            "one webhook-id for every attempt"
        );
    }
    let gaps = [
        received[1].at - received[0].at,
        received[2].at - received[1].at,
    ];
    assert!(
        gaps[0] >= Duration::from_millis(950),
        "first retry after {:?}",
        gaps[0]
    );
    assert!(
        gaps[1] >= Duration::from_millis(1950),
        "second retry after {:?}",
        gaps[1]
    );
    assert!(
        gaps[0] < Duration::from_secs(5) && gaps[1] < Duration::from_secs(6),
        "{gaps:?}"
    );

    gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
        .await;
    receiver
        .assert_stays(3, QUIET, "an attempt after the 2xx")
        .await;
    gw.poll(&app, &sent.mailbox, 0)
        .await
        .assert_problem(404, "not-found", None);
    let metrics = gw.metrics().await;
    assert_eq!(metrics.attempts("5xx"), 2.0);
    assert_eq!(metrics.attempts("2xx"), 1.0);
    assert_eq!(metrics.deliveries("delivered"), 1.0);
    assert_eq!(metrics.consumed(), 1.0);
    assert_eq!(metrics.durations(), 1.0);
}

/// A receiver that takes 2 s to answer 200 while the app also polls: the poll sees 202 while
/// the attempt holds the envelope, and 404 after the 2xx (a long-poll begun during the attempt
/// too); exactly one of {webhook 2xx, poll 200} got the envelope.
pub(crate) async fn scenario_slow_receiver_races_poll(gw: &TestGateway) {
    let receiver = Receiver::start().await;
    receiver.set_default(Step::ok().after(Duration::from_secs(2)));
    let app = register_with_webhook(gw, &receiver).await;
    let sent = gw.open_and_deposit(&app, 120).await;

    receiver.wait_for(1, EVENTUALLY).await;
    let pending = gw.poll(&app, &sent.mailbox, 0).await;
    pending.assert_status(202);
    assert_eq!(pending.json()["error"], "authorization_pending");
    let started = Instant::now();
    let (long_poll, ()) = tokio::join!(
        gw.poll(&app, &sent.mailbox, 4),
        gw.assert_delivered_and_consumed(&app, &sent.mailbox)
    );
    long_poll.assert_problem(404, "not-found", None);
    eprintln!(
        "a long-poll (wait=4) begun during the attempt answered 404 after {:?}",
        started.elapsed()
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    check_delivery(&received[0], &app, &sent);
    let metrics = gw.metrics().await;
    assert_eq!(metrics.deliveries("delivered"), 1.0);
    assert_eq!(metrics.consumed(), 1.0, "consumed once, by the webhook");
}

/// A receiver answering 500: the envelope goes back to the mailbox, where a long-poll gets it;
/// the next attempt finds it gone and ends as `superseded`, sending nothing.
pub(crate) async fn scenario_failing_receiver_loses_to_poll(gw: &TestGateway) {
    let receiver = Receiver::start().await;
    receiver.set_default(Step::status(500));
    let app = register_with_webhook(gw, &receiver).await;
    let sent = gw.open_and_deposit(&app, 120).await;

    receiver.wait_for(1, EVENTUALLY).await;
    let polled = gw.poll(&app, &sent.mailbox, 5).await;
    polled.assert_status(200);
    assert_eq!(polled.body, sent.envelope.as_bytes());
    gw.wait_for_metric("a superseded outcome", 1.0, |m| m.deliveries("superseded"))
        .await;
    receiver
        .assert_stays(1, QUIET, "an attempt after the poll won")
        .await;
    let metrics = gw.metrics().await;
    assert_eq!(metrics.attempts("5xx"), 1.0);
    assert_eq!(metrics.deliveries("delivered"), 0.0);
    assert_eq!(metrics.consumed(), 1.0, "consumed once, by the poll");
    gw.wait_for_empty_queue().await;
}

/// Declares the four flows above as tests, each on a fresh gateway from `start:` (evaluated in
/// the test, after the optional `let`, whose binding lives to the end of the test):
///
/// ```ignore
/// support_webhook::flow_tests! {
///     #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
///     let prefix = SharedPrefix::new();
///     start: prefix.gateway(webhook_config())
/// }
/// ```
#[allow(unused_macros)] // not every test binary runs the shared flows
macro_rules! flow_tests {
    (#[$test:meta] $(let $guard:ident = $init:expr;)? start: $gateway:expr) => {
        $crate::support_webhook::flow_tests! {
            @each #[$test] { $(let $guard = $init;)? } ($gateway)
            a_deposit_is_delivered_verified_and_consumes_the_mailbox = scenario_deliver_verify_consume;
            failing_twice_then_succeeding_is_one_delivery_with_one_id = scenario_fail_twice_then_succeed;
            a_slow_receiver_and_a_poll_never_both_get_the_envelope = scenario_slow_receiver_races_poll;
            a_failing_receiver_leaves_the_envelope_to_the_poll = scenario_failing_receiver_loses_to_poll;
        }
    };
    (@each #[$test:meta] { $($setup:tt)* } ($gateway:expr) $name:ident = $flow:ident; $($rest:tt)*) => {
        #[$test]
        async fn $name() {
            $($setup)*
            $crate::support_webhook::$flow(&$gateway.await).await;
        }
        $crate::support_webhook::flow_tests! { @each #[$test] { $($setup)* } ($gateway) $($rest)* }
    };
    (@each #[$test:meta] $setup:tt $gateway:tt) => {};
}
pub(crate) use flow_tests;
