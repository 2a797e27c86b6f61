//! Webhook delivery on the memory store, over real sockets: a scripted receiver on loopback
//! verifies every delivery with the SDK; retries, a receiver that is down, `Retry-After`,
//! retrying until the mailbox expires, exactly-once against a poller, and the metrics.
//! Registration, the SSRF refusals, secret rotation, 410 and removal are in
//! `webhook_settings.rs`.

mod support_webhook;

use std::time::{Duration, Instant};

use sealgate_testkit::EVENTUALLY;
use support_webhook::{
    QUIET, Receiver, Step, TestGateway, check_delivery, register_with_webhook, webhook_config,
};

support_webhook::flow_tests! {
    #[tokio::test]
    start: TestGateway::memory()
}

/// The receiver is down when the envelope is deposited (connections refused); it is delivered
/// once the receiver is back, well within the mailbox TTL.
#[tokio::test]
async fn a_deposit_while_the_receiver_is_down_arrives_when_it_is_back() {
    let gw = TestGateway::memory().await;
    let mut receiver = Receiver::start().await;
    let app = register_with_webhook(&gw, &receiver).await;
    receiver.stop().await;

    let sent = gw.open_and_deposit(&app, 120).await;
    gw.wait_for_metric("two refused attempts", 2.0, |m| {
        m.attempts("connection_error")
    })
    .await;
    assert_eq!(receiver.count(), 0);
    assert_eq!(gw.metrics().await.queue_depth(), 1.0, "the delivery waits");

    receiver.restart().await;
    let received = receiver.wait_for(1, EVENTUALLY).await;
    check_delivery(&received[0], &app, &sent);
    gw.assert_delivered_and_consumed(&app, &sent.mailbox).await;
    let metrics = gw.metrics().await;
    assert_eq!(metrics.attempts("2xx"), 1.0);
    assert_eq!(metrics.consumed(), 1.0);
}

/// 429 with `Retry-After: 2` delays the next attempt by at least 2 s (the backoff alone would
/// be 1–1.2 s).
#[tokio::test]
async fn retry_after_is_honoured() {
    let gw = TestGateway::memory().await;
    let receiver = Receiver::start().await;
    receiver.script([Step::status(429).retry_after("2")]);
    let app = register_with_webhook(&gw, &receiver).await;
    let sent = gw.open_and_deposit(&app, 120).await;

    let received = receiver.wait_for(2, EVENTUALLY).await;
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(6), "retried after {gap:?}");
    check_delivery(&received[1], &app, &sent);
    gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
        .await;
    assert_eq!(gw.metrics().await.attempts("4xx"), 1.0);
}

/// A receiver that always fails, on a mailbox living 4 s: attempts at about 0, 1 and 3 s, then
/// the next would fall after the expiry, so the delivery ends as `expired`.
#[tokio::test]
async fn a_failing_receiver_is_retried_until_the_mailbox_expires() {
    let gw = TestGateway::memory().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Step::status(500));
    let app = register_with_webhook(&gw, &receiver).await;
    gw.open_and_deposit(&app, 4).await;
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
        .assert_stays(3, QUIET, "an attempt after the expiry")
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
    gw.deposit_new(&app, first).await;
    receiver.wait_for(1, EVENTUALLY).await;
    let second = gw.deposit_new(&app, second).await;
    let deposited = Instant::now();

    let received = receiver.wait_for(2, EVENTUALLY).await;
    check_delivery(&received[1], &app, &second);
    let in_flight_at = received[1].at - deposited;
    tokio::time::sleep_until((deposited + Duration::from_millis(15_500)).into()).await;
    assert!(receiver.count() == 2, "{:#?}", receiver.received());
    let polled = gw.poll(&app, &second.mailbox, 0).await;
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

/// Every metric of the issue, through one failure, one 410, one delivery and one supersession.
#[tokio::test]
async fn the_webhook_metrics_move() {
    let gw = TestGateway::memory().await;
    let before = gw.metrics().await;
    for declared in [
        "# TYPE sealgate_webhook_queue_depth gauge",
        "# TYPE sealgate_webhook_delivery_duration_seconds histogram",
        "# TYPE sealgate_webhook_endpoints_disabled_total counter",
    ] {
        assert!(before.0.contains(declared), "{declared}");
    }
    assert_eq!(before.queue_depth(), 0.0);
    assert_eq!(before.durations(), 0.0);

    let mut receiver = Receiver::start().await;
    let app = register_with_webhook(&gw, &receiver).await;
    receiver.stop().await;
    gw.open_and_deposit(&app, 120).await;
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
    gw.wait_for_empty_queue().await;

    receiver.script([Step::status(410)]);
    gw.open_and_deposit(&app, 120).await;
    gw.wait_for_metric("a disabled endpoint", 1.0, |m| m.endpoints_disabled())
        .await;
    let metrics = gw.metrics().await;
    assert_eq!(metrics.deliveries("endpoint_gone"), 1.0);
    assert_eq!(metrics.attempts("4xx"), 1.0);
    assert_eq!(metrics.deliveries("delivered"), 1.0);
}
