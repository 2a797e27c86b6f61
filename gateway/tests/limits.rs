//! The limits of the API table over real HTTP: per-IP deposit rate, per-client mailbox rate,
//! open mailboxes per client and waiting long-polls per client, each a 429 with Retry-After.

use std::sync::Arc;

use http::header;
use sealgate::Config;
use sealgate_testkit::{Reply, TestGateway, assert_problem, fake_id_token, seal_for, test_config};

/// A configuration with the limit under test set, and the others out of the way.
fn config_with(set: impl FnOnce(&mut Config)) -> Config {
    let mut config = test_config();
    set(&mut config);
    config
}

/// Asserts a 429 of the `slug` limit with a positive Retry-After.
#[track_caller]
fn assert_limited(reply: &Reply, slug: &str) {
    assert_problem(reply, 429, slug);
    let retry_after: u64 = reply
        .header(header::RETRY_AFTER)
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1, "Retry-After {retry_after}");
}

/// Sends up to five requests made by `next`; the first two must pass and, as five requests at
/// one a second with a burst of two cannot all pass unless they took over 2 s, a later one
/// must be limited. Returns that reply.
async fn first_limited<F, Fut>(mut next: F) -> Reply
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    for attempt in 0..5 {
        let reply = next(attempt).await;
        if attempt < 2 {
            assert_ne!(
                reply.status.as_u16(),
                429,
                "within the burst: {}",
                reply.text()
            );
        } else if reply.status.as_u16() == 429 {
            return reply;
        }
    }
    panic!("five quick requests at a rate of one a second were never limited");
}

#[tokio::test]
async fn deposits_per_ip_are_rate_limited() {
    let gw = TestGateway::start_with(config_with(|c| {
        c.limits.deposits_per_ip_per_sec = 1;
        c.limits.deposit_burst_per_ip = 2;
    }))
    .await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    let reply = first_limited(|_| gw.deposit(&mailbox.id, &envelope)).await;
    assert_limited(&reply, "rate-limited");
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("sealgate_limited_total{limit=\"deposit_rate\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn mailboxes_per_client_are_rate_limited() {
    let gw = TestGateway::start_with(config_with(|c| {
        c.limits.mailboxes_per_client_per_sec = 1;
        c.limits.mailbox_burst_per_client = 2;
    }))
    .await;
    let client = gw.register().await;
    let other = gw.register().await;
    let auth = client.basic();
    let reply = first_limited(|_| gw.open_raw(Some(&auth), None)).await;
    assert_limited(&reply, "rate-limited");
    // The limit is per client: another client still opens at once.
    gw.open(&other, None).await;
}

#[tokio::test]
async fn open_mailboxes_per_client_are_capped() {
    let gw = TestGateway::start_with(config_with(|c| {
        c.limits.max_open_mailboxes_per_client = 2;
    }))
    .await;
    let client = gw.register().await;
    let first = gw.open(&client, None).await;
    gw.open(&client, None).await;
    let third = gw.open_raw(Some(&client.basic()), None).await;
    assert_limited(&third, "too-many-mailboxes");
    gw.open(&gw.register().await, None).await;

    // A consumed mailbox no longer counts.
    let envelope = seal_for(&client, &first, fake_id_token().as_bytes());
    gw.deposit(&first.id, &envelope).await.assert_status(201);
    gw.poll(&client.basic(), &first.id, 0)
        .await
        .assert_status(200);
    gw.open(&client, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_long_polls_per_client_are_capped() {
    let gw = Arc::new(
        TestGateway::start_with(config_with(|c| {
            c.limits.max_waiters_per_client = 1;
        }))
        .await,
    );
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let sibling = gw.open(&client, None).await;
    let waiting = {
        let (gw, auth, id) = (gw.clone(), client.basic(), mailbox.id.clone());
        tokio::spawn(async move { gw.poll(&auth, &id, 30).await })
    };
    gw.wait_for_waiters(1).await;

    let second = gw.poll(&client.basic(), &sibling.id, 5).await;
    assert_limited(&second, "too-many-waiters");
    // An immediate poll takes no waiting slot.
    gw.poll(&client.basic(), &sibling.id, 0)
        .await
        .assert_status(202);

    // Cancelling the mailbox wakes the waiter, which then finds it gone.
    let path = format!("/v1/mailboxes/{}", mailbox.id);
    gw.delete(&client.basic(), &path).await.assert_status(204);
    let woken = waiting.await.unwrap();
    assert_problem(&woken, 404, "not-found");
    // The slot is free again.
    let envelope = seal_for(&client, &sibling, fake_id_token().as_bytes());
    gw.deposit(&sibling.id, &envelope).await.assert_status(201);
    gw.poll(&client.basic(), &sibling.id, 5)
        .await
        .assert_status(200);
}
