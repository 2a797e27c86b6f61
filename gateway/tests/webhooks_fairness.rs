//! Fair webhooks, on loopback: a client whose endpoint never answers, with a backlog larger
//! than the instance's attempts in flight, does not delay another client's deliveries; an
//! endpoint that refuses connections opens its circuit breaker and is left alone; its
//! deliveries still end as documented (the envelope stays for a poll). The tarpit runs on
//! the memory store and on Redis (the shared 127.0.0.1:6379, under a fresh key prefix).

mod support_webhook;

use std::time::{Duration, Instant};

use sealgate_testkit::{EVENTUALLY, SharedPrefix, eventually};
use support_webhook::{
    Metrics, QUIET, Receiver, Step, TestGateway, check_delivery, register_with_webhook,
};

/// More deliveries for the tarpit than the instance has attempts in flight (64).
const TARPIT_BACKLOG: usize = 100;
/// How late another client's delivery may arrive on a loaded machine: "not starved", not a
/// benchmark (waiting for a slot of the tarpit used to cost 10 s and more).
const PROMPT: Duration = Duration::from_secs(5);

fn breaker_transitions(metrics: &Metrics, to: &str) -> f64 {
    metrics.value(
        "sealgate_webhook_breaker_transitions_total",
        &format!("to=\"{to}\""),
    )
}

fn deferred(metrics: &Metrics, reason: &str) -> f64 {
    metrics.value(
        "sealgate_webhook_deferred_total",
        &format!("reason=\"{reason}\""),
    )
}

/// Client A's endpoint accepts connections and never answers; A has 100 deliveries pending.
/// Client B's deliveries, deposited after, each arrive within a few seconds, and none of A's
/// is lost meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_starve_another_client() {
    hanging_endpoint_leaves_others_prompt(TestGateway::memory().await).await;
}

/// The same on Redis, where claims and reschedules are scripts on the shared queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_starve_another_client_on_redis() {
    let prefix = SharedPrefix::new();
    hanging_endpoint_leaves_others_prompt(
        TestGateway::on_redis(&prefix, support_webhook::webhook_config()).await,
    )
    .await;
}

async fn hanging_endpoint_leaves_others_prompt(gw: TestGateway) {
    let tarpit = Receiver::start().await;
    tarpit.set_default(Step::hang());
    let a = register_with_webhook(&gw, &tarpit).await;
    for _ in 0..TARPIT_BACKLOG {
        gw.open_and_deposit(&a, 120).await;
    }
    tarpit.wait_for(4, EVENTUALLY).await;

    let receiver = Receiver::start().await;
    let b = register_with_webhook(&gw, &receiver).await;
    for n in 1..=5 {
        let sent = gw.open_and_deposit(&b, 120).await;
        let deposited = Instant::now();
        let received = receiver.wait_for(n, PROMPT).await;
        let took = received[n - 1].at.saturating_duration_since(deposited);
        assert!(took < PROMPT, "B's delivery {n} took {took:?}");
        check_delivery(&received[n - 1], &b, &sent);
        eventually("B's 2xx recorded", EVENTUALLY, || async {
            gw.metrics().await.deliveries("delivered") >= n as f64
        })
        .await;
        gw.assert_delivered_and_consumed(&b, &sent.mailbox).await;
    }

    let metrics = gw.metrics().await;
    assert_eq!(metrics.deliveries("delivered"), 5.0);
    assert_eq!(
        metrics.queue_depth(),
        TARPIT_BACKLOG as f64,
        "every delivery of A still waits"
    );
    assert!(deferred(&metrics, "endpoint_busy") > 0.0);
    assert!(
        tarpit.count() <= 8,
        "A never had more than its per-endpoint attempts in flight: {}",
        tarpit.count()
    );
}

/// A's endpoint refuses connections: after 5 failed attempts in a row its breaker opens and
/// no connection is tried meanwhile. Its deliveries, whose mailboxes expire before the
/// breaker half-opens, end as `expired` without an attempt; the envelopes stay for a poll.
/// B, on another endpoint, is served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_endpoint_opens_its_breaker_and_is_left_alone() {
    let gw = TestGateway::memory().await;
    let mut refusing = Receiver::start().await;
    let a = register_with_webhook(&gw, &refusing).await;
    refusing.stop().await;
    let mut deposits = Vec::new();
    for _ in 0..6 {
        deposits.push(gw.open_and_deposit(&a, 20).await);
    }
    eventually("A's breaker opens", EVENTUALLY, || async {
        breaker_transitions(&gw.metrics().await, "open") >= 1.0
    })
    .await;
    let tried = gw.metrics().await.attempts("connection_error");
    assert!(
        (5.0..=9.0).contains(&tried),
        "{tried} attempts before opening"
    );

    let receiver = Receiver::start().await;
    let b = register_with_webhook(&gw, &receiver).await;
    let sent = gw.open_and_deposit(&b, 120).await;
    let received = receiver.wait_for(1, PROMPT).await;
    check_delivery(&received[0], &b, &sent);

    gw.wait_for_metric("A's deliveries expired", 6.0, |m| m.deliveries("expired"))
        .await;
    tokio::time::sleep(QUIET).await;
    let metrics = gw.metrics().await;
    assert_eq!(
        metrics.attempts("connection_error"),
        tried,
        "no connection while the breaker is open"
    );
    assert_eq!(breaker_transitions(&metrics, "open"), 1.0);
    assert_eq!(metrics.deliveries("delivered"), 1.0);
    for deposit in &deposits {
        let polled = gw.poll(&a, &deposit.mailbox, 0).await;
        polled.assert_status(200);
        assert_eq!(
            polled.body,
            deposit.envelope.as_bytes(),
            "the envelope waits for a poll"
        );
    }
}
