//! The Redis suites' own helpers: the store contract run against every backend, and gateways
//! on a Redis store driven by app and mailbox. Redis processes, prefixes and queries come from
//! the test kit.
#![allow(dead_code, unreachable_pub)]

pub mod contract;
pub mod device_contract;
pub mod http;
