//! Webhook test helpers: a scripted receiver on loopback that records and verifies every
//! delivery, a gateway (memory or any store) with webhooks allowed to loopback, a small HTTP
//! client over real sockets, and the delivery flows that run against every store.
//!
//! Self-contained on purpose (it copies the little it needs from `support` and
//! `support_redis`), so that the webhook tests do not depend on the other helpers' changes.
//!
//! `receiver`: the scripted hyper receiver; `app`: a registered app, its mailboxes and
//! deposits, the gateway's replies; `gateway`: starting gateways, their API and metrics;
//! `shared_redis`: gateways on the shared Redis; `flows`: the flows run on every store.
#![allow(dead_code)]

mod app;
mod flows;
mod gateway;
mod receiver;
mod shared_redis;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[allow(unused_imports)] // each test binary uses some of these
pub(crate) use self::{
    app::{Deposited, Mailbox, Reply, TestApp, fake_id_token},
    flows::{
        check_delivery, flow_tests, register_with_webhook, scenario_deliver_verify_consume,
        scenario_fail_twice_then_succeed, scenario_failing_receiver_loses_to_poll,
        scenario_slow_receiver_races_poll,
    },
    gateway::{Metrics, TestGateway, send_with, webhook_config},
    receiver::{Received, Receiver, Step, header_text, verify},
    shared_redis::{SHARED_REDIS, SharedPrefix, shared_store},
};

/// How long "eventually" conditions may take on a slow, shared CI machine.
pub(crate) const EVENTUALLY: Duration = Duration::from_secs(15);

/// How long a receiver must get nothing more before a test trusts that nothing more comes.
pub(crate) const QUIET: Duration = Duration::from_millis(1500);

/// The prefix of every problem `type`.
pub(crate) const PROBLEM_PREFIX: &str = "tag:sealgate,2026:problem:";

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Polls `condition` every 20 ms until it holds, or panics after `within`.
pub(crate) async fn eventually<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
