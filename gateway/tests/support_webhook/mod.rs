//! Webhook test helpers: a scripted receiver on loopback that records and verifies every
//! delivery, a gateway (memory or any store) with webhooks allowed to loopback, a small HTTP
//! client over real sockets, and the delivery flows that run against every store.
//!
//! The HTTP driver, `Reply`, `eventually`, the shared Redis prefixes and the problem
//! assertions come from the test kit (`sealgate_testkit`).
//!
//! `receiver`: the scripted hyper receiver; `app`: a registered app, its mailboxes and
//! deposits; `gateway`: the kit's gateway with the webhook calls and metrics; `flows`: the
//! flows run on every store.
#![allow(dead_code)]

mod app;
mod flows;
mod gateway;
mod receiver;

use std::time::Duration;

#[allow(unused_imports)] // each test binary uses some of these
pub(crate) use self::{
    app::{Deposited, Mailbox, TestApp},
    flows::{
        check_delivery, flow_tests, register_with_webhook, scenario_deliver_verify_consume,
        scenario_fail_twice_then_succeed, scenario_failing_receiver_loses_to_poll,
        scenario_slow_receiver_races_poll,
    },
    gateway::{Metrics, TestGateway, webhook_config},
    receiver::{Received, Receiver, Step, header_text, verify},
};

/// How long a receiver must get nothing more before a test trusts that nothing more comes.
pub(crate) const QUIET: Duration = Duration::from_millis(1500);
