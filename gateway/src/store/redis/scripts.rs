//! The Lua scripts that make each mailbox operation one atomic step on the server, and one round
//! trip. On a single node a script also updates the indexes beside the mailbox (the client's
//! open set, the webhook queue); on a cluster those have other slots, so a script is given only
//! keys of one slot and the caller updates the rest with a second call. They take
//! the time as an argument (the gateway's injected clock) and never call TIME, so a mailbox is
//! live only while Redis still holds it and the gateway's clock says it has not expired.
//!
//! `redis::Script` sends EVALSHA and falls back to EVAL on NOSCRIPT, so a restarted Redis, or
//! a replica promoted by a failover, loads them again by itself.

use std::sync::LazyLock;

use redis::Script;

/// Counts a client's open mailboxes against the cap and creates the mailbox hash, with its TTL.
pub(crate) static OPEN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/open.lua")));
/// Checks a deposit's binding, stores the envelope (or recognises an identical retry), enqueues
/// its webhook delivery and publishes the wake-up.
pub(crate) static DEPOSIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/deposit.lua")));
/// Takes the envelope out, leaving its digest, and drops the mailbox from the open set.
pub(crate) static TAKE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/take.lua")));
/// Deletes an unconsumed mailbox and publishes the wake-up.
pub(crate) static CANCEL: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/cancel.lua")));

/// Counts live device registrations against the cap and saves a new one.
pub(crate) static REGISTER_DEVICE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/register_device.lua")));
/// Replaces a device registration's subscription, given its client and secret.
pub(crate) static UPDATE_DEVICE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/update_device.lua")));
/// Deletes a device registration, given its client and secret (or, when gone, without).
pub(crate) static DELETE_DEVICE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/delete_device.lua")));
/// Reads a live device registration and moves its idle expiry.
pub(crate) static USE_DEVICE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/use_device.lua")));

/// Replaces a client's record if its revision is the one the caller read.
pub(crate) static UPDATE_CLIENT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/update_client.lua")));
/// Records a webhook delivery once.
pub(crate) static ENQUEUE_DELIVERY: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/enqueue_delivery.lua")));
/// Claims due deliveries under a lease.
pub(crate) static CLAIM_DELIVERIES: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/claim_deliveries.lua")));
/// Saves a delivery's next attempt.
pub(crate) static RESCHEDULE_DELIVERY: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/reschedule_delivery.lua")));
/// Lends the envelope to a webhook attempt.
pub(crate) static LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/lease.lua")));
/// Ends a webhook attempt's lease, consuming or releasing the envelope.
pub(crate) static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/release.lua")));

/// How the scripts publish a wake-up: `p` PUBLISH (single node), `s` SPUBLISH (cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publish {
    /// PUBLISH to the one wake-up channel.
    Broadcast,
    /// SPUBLISH to the mailbox's own channel, on its shard.
    Sharded,
}

impl Publish {
    /// The flag the scripts take.
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Self::Broadcast => "p",
            Self::Sharded => "s",
        }
    }
}
