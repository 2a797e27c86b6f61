//! Where the gateway keeps client registrations and mailboxes: one [`Store`] contract, with an
//! in-memory backend for one process and a Redis backend for many.

mod memory;
mod metered;
mod redis;
mod wake;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use memory::MemoryStore;
pub use metered::MeteredStore;
pub use redis::RedisStore;
pub use wake::{Waiter, WakeHub};

/// A registered client as the store keeps it: public keys and a hash of the secret, no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client id.
    pub client_id: String,
    /// The human-readable name given at registration.
    pub name: String,
    /// SHA-256 of the client secret, base64url.
    pub secret_hash: String,
    /// The public JWKS, as JSON.
    pub jwks: serde_json::Value,
    /// Registration time, seconds since the epoch.
    pub created_at: u64,
    /// Changes with every update of the record.
    pub revision: u64,
    /// Webhook delivery settings, when the client has a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::webhook::WebhookSettings>,
}

/// A pending webhook delivery as the store keeps it (never the envelope: that stays in its
/// mailbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The `webhook-id`, derived from the mailbox id.
    pub id: String,
    /// The mailbox whose envelope is delivered.
    pub mailbox_id: String,
    /// Its client.
    pub client_id: String,
    /// Failed attempts so far.
    pub attempt: u32,
    /// When it is due, milliseconds since the epoch; a claim moves it to the end of the lease.
    pub next_attempt_at_ms: u64,
    /// The mailbox's expiry: after it, the delivery is dropped.
    pub expires_at_ms: u64,
    /// When the envelope was deposited.
    pub created_at_ms: u64,
}

/// What leasing a mailbox's envelope for a webhook attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The envelope, now held by this attempt until the lease ends.
    Leased(Bytes),
    /// Another attempt holds it.
    Busy,
    /// Nothing to deliver: consumed, cancelled, expired, or never deposited.
    Gone,
}

/// A mailbox as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRecord {
    /// The mailbox id (the phone's capability).
    pub mailbox_id: String,
    /// The owning client.
    pub client_id: String,
    /// Expiry, milliseconds since the epoch.
    pub expires_at_ms: u64,
}

/// What a client update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The record is replaced.
    Updated,
    /// No such client.
    Missing,
    /// The record changed since the caller read it; read again and retry.
    Conflict,
}

/// What opening a mailbox did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenOutcome {
    /// The mailbox exists now.
    Opened,
    /// The client already has the most mailboxes it may have open.
    LimitReached,
}

/// SHA-256 of a consumed envelope: what a mailbox keeps after consumption, until its TTL, so
/// that an identical retry of the deposit is recognised without keeping the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeDigest([u8; 32]);

impl EnvelopeDigest {
    /// The digest of `envelope`.
    pub fn of(envelope: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(envelope).into())
    }
}

/// What a deposit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositOutcome {
    /// The envelope is stored; it was the first.
    Stored,
    /// The same envelope was already stored (an idempotent retry).
    Identical,
    /// Another envelope was already stored.
    Conflict,
    /// No such mailbox, or it expired or was consumed.
    NotFound,
}

/// What taking a mailbox's envelope did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakeOutcome {
    /// The envelope, now consumed; the mailbox is gone.
    Envelope(Bytes),
    /// The mailbox exists and is still empty.
    Pending,
    /// No such mailbox for this client, or it expired or was consumed.
    NotFound,
}

/// A store failure: the backend is unreachable or answered nonsense.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached now; the request may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend holds data this gateway cannot read.
    #[error("store data corrupt: {0}")]
    Corrupt(String),
}

/// The contract every backend keeps. All operations on one mailbox are atomic, across every
/// gateway instance that shares the backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Saves a new client; the id is fresh, so it never replaces one.
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// Reads a client.
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Replaces an existing client's record, but only if its stored revision is
    /// `client.revision - 1`: the one the caller read before changing it (optimistic
    /// concurrency, so that two concurrent changes cannot silently undo each other).
    async fn update_client(&self, client: &ClientRecord) -> Result<UpdateOutcome, StoreError>;
    /// Removes a client and every mailbox it has open; `false` when it did not exist.
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;

    /// Opens a mailbox, unless its client already has `max_open` open.
    async fn open_mailbox(
        &self,
        mailbox: &MailboxRecord,
        max_open: usize,
    ) -> Result<OpenOutcome, StoreError>;
    /// Reads a mailbox that has not expired (consumed ones included, until their TTL).
    async fn mailbox(&self, mailbox_id: &str) -> Result<Option<MailboxRecord>, StoreError>;
    /// Stores the mailbox's one envelope and wakes its waiters, on every instance.
    async fn deposit(
        &self,
        mailbox_id: &str,
        envelope: Bytes,
    ) -> Result<DepositOutcome, StoreError>;
    /// Takes the envelope out of `client_id`'s mailbox, atomically: of many concurrent
    /// callers, one gets it. Taking deletes the envelope; only its digest stays until the TTL.
    async fn take(&self, mailbox_id: &str, client_id: &str) -> Result<TakeOutcome, StoreError>;
    /// Deletes `client_id`'s mailbox; `false` when there was none (or it was consumed).
    async fn cancel(&self, mailbox_id: &str, client_id: &str) -> Result<bool, StoreError>;

    /// Records a webhook delivery; does nothing if one with the same id exists.
    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError>;
    /// Claims up to `limit` deliveries due at `now_ms`: each is hidden from other claims until
    /// `now_ms + lease_ms`, after which another instance may take it over.
    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Saves a delivery's new attempt count and due time.
    async fn reschedule_delivery(&self, delivery: &Delivery) -> Result<(), StoreError>;
    /// Removes a finished delivery.
    async fn complete_delivery(&self, delivery_id: &str) -> Result<(), StoreError>;
    /// How many deliveries wait, claimed or not.
    async fn delivery_queue_depth(&self) -> Result<u64, StoreError>;
    /// Leases the mailbox's envelope to a webhook attempt until `until_ms`; a poll meanwhile
    /// sees the mailbox pending.
    async fn lease_envelope(
        &self,
        mailbox_id: &str,
        until_ms: u64,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Ends a lease: `consumed` when the endpoint took the envelope (the mailbox is consumed as
    /// by a poll), otherwise the envelope is pollable again and waiters are woken.
    async fn release_envelope(&self, mailbox_id: &str, consumed: bool) -> Result<(), StoreError>;

    /// Registers interest in deposits to `mailbox_id` before the caller checks the store, so
    /// that no wake-up between the check and the wait is lost. It returns once the
    /// registration is in effect (for Redis: once the subscription covers the mailbox).
    async fn watch(&self, mailbox_id: &str) -> Result<Waiter, StoreError>;
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// How many mailboxes this process saw expire unconsumed, since it started.
    fn expired_count(&self) -> u64;
    /// A short name for logs and metrics: `memory`, `redis`, `redis-cluster`.
    fn kind(&self) -> &'static str;
}

/// A store shared by the whole gateway.
pub type SharedStore = Arc<dyn Store>;

/// Connects the store `config.store` names: `memory`, or a Redis URL (`redis://HOST:PORT/DB`,
/// `rediss://…` for TLS, `redis+cluster://H1:P1,H2:P2,…` or `rediss+cluster://…`). The URL may
/// carry a password: errors and logs name its hosts only.
pub async fn connect(
    config: &crate::config::Config,
    hub: WakeHub,
    clock: Arc<dyn crate::clock::Clock>,
) -> anyhow::Result<SharedStore> {
    match config.store.as_str() {
        "memory" => Ok(Arc::new(MemoryStore::new(hub, clock))),
        url if url.contains("://") && !url.starts_with("redis") => anyhow::bail!(
            "unknown store scheme `{}`: use memory, redis://…, rediss://…, redis+cluster://… or rediss+cluster://…",
            url.split("://").next().unwrap_or_default()
        ),
        url if url.contains("://") => Ok(Arc::new(
            RedisStore::connect(url, &config.redis_prefix, hub, clock).await?,
        )),
        other => anyhow::bail!(
            "unknown store `{other}`: use memory, redis://…, rediss://…, redis+cluster://… or rediss+cluster://…"
        ),
    }
}
