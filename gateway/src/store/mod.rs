//! Where the gateway keeps client registrations, mailboxes, webhook deliveries and the device
//! registrations of one-click sign-in: four narrow contracts ([`ClientStore`],
//! [`MailboxStore`], [`DeliveryQueue`], [`DeviceStore`]) that a [`Store`] keeps together, with
//! an in-memory backend for one process and a Redis backend for many.

mod client_cache;
mod devices;
mod memory;
mod metered;
mod records;
mod redis;
mod wake;
mod webhook_settings;

use std::sync::Arc;

use async_trait::async_trait;

pub use client_cache::CLIENT_CACHE_MAX_AGE;
pub use devices::{DeviceKey, DeviceRecord, DeviceSecretHash, PushSubscription, RegisterOutcome};
pub use memory::MemoryStore;
pub(crate) use metered::MeteredStore;
pub use records::{
    ClientRecord, Delivery, Deposit, DepositOutcome, EnvelopeDigest, LeaseOutcome, MailboxRecord,
    OpenOutcome, TakeOutcome, UpdateOutcome,
};
pub use redis::RedisStore;
pub use wake::{Waiter, WakeHub};
pub use webhook_settings::{SecretText, SigningSecret, WebhookSettings};

/// A store failure: the backend is unreachable or answered nonsense.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached now; the request may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend holds data this gateway cannot read.
    #[error("store data corrupt: {0}")]
    Corrupt(String),
}

/// Client registrations.
#[async_trait]
pub trait ClientStore: Send + Sync + 'static {
    /// Saves a new client; the id is fresh, so it never replaces one.
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// Reads a client, as it is now.
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Reads a client to authenticate a request: the record may come from a short in-process
    /// cache, at most [`CLIENT_CACHE_MAX_AGE`] old, and dropped on every instance as soon as
    /// the client is updated or deleted anywhere (docs/redis.md). A backend without a cache
    /// reads the record.
    async fn client_for_auth(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.client(client_id).await
    }
    /// Replaces an existing client's record, but only if its stored revision is
    /// `client.revision - 1`: the one the caller read before changing it (optimistic
    /// concurrency, so that two concurrent changes cannot silently undo each other).
    async fn update_client(&self, client: &ClientRecord) -> Result<UpdateOutcome, StoreError>;
    /// Removes a client and every mailbox it has open; `false` when it did not exist.
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;
    /// How many clients are registered: exact for memory; on Redis a counter kept beside the
    /// records (incremented on insert, decremented on a delete that removed one), so a crash
    /// between the two writes can leave it one off.
    async fn client_count(&self) -> Result<u64, StoreError>;
}

/// Mailboxes and the long-poll's wake-ups. All operations on one mailbox are atomic, across
/// every gateway instance that shares the backend.
#[async_trait]
pub trait MailboxStore: Send + Sync + 'static {
    /// Opens a mailbox, unless its client already has `max_open` open.
    async fn open_mailbox(
        &self,
        mailbox: &MailboxRecord,
        max_open: usize,
    ) -> Result<OpenOutcome, StoreError>;
    /// Reads a mailbox that has not expired (consumed ones included, until their TTL).
    async fn mailbox(&self, mailbox_id: &str) -> Result<Option<MailboxRecord>, StoreError>;
    /// Checks the deposit's `aud` and `kid` against the mailbox, stores its one envelope,
    /// enqueues the webhook delivery when the mailbox has one (before the envelope becomes
    /// visible, or in the same atomic step) and wakes its waiters, on every instance.
    async fn deposit(&self, deposit: Deposit<'_>) -> Result<DepositOutcome, StoreError>;
    /// Takes the envelope out of `client_id`'s mailbox, atomically: of many concurrent
    /// callers, one gets it. Taking deletes the envelope and stops counting the mailbox among
    /// the client's open ones; only its digest stays until the TTL.
    async fn take(&self, mailbox_id: &str, client_id: &str) -> Result<TakeOutcome, StoreError>;
    /// Deletes `client_id`'s mailbox; `false` when there was none (or it was consumed).
    async fn cancel(&self, mailbox_id: &str, client_id: &str) -> Result<bool, StoreError>;
    /// Registers interest in deposits to `mailbox_id` before the caller checks the store, so
    /// that no wake-up between the check and the wait is lost. It returns once the
    /// registration is in effect (for Redis: once the subscription covers the mailbox).
    async fn watch(&self, mailbox_id: &str) -> Result<Waiter, StoreError>;
    /// How many mailboxes this process saw expire unconsumed, since it started.
    fn expired_count(&self) -> u64;
}

/// Webhook deliveries waiting to be sent, and the envelope leases their attempts hold.
#[async_trait]
pub trait DeliveryQueue: Send + Sync + 'static {
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
}

/// Device registrations for one-click sign-in, and the VAPID key every instance signs with.
/// A registration is live until its idle expiry, by the store's clock; a handle names a
/// registration only together with the client it was made for, and a change needs its
/// secret: a wrong secret, another client's handle and an expired one all answer as unknown.
#[async_trait]
pub trait DeviceStore: Send + Sync + 'static {
    /// Saves a new registration (its handle is fresh), unless `max_devices` live ones exist
    /// (0 turns the cap off). On Redis the count is kept in an index beside the records, so
    /// concurrent registrations may pass the cap by their number.
    async fn register_device(
        &self,
        device: &DeviceRecord,
        max_devices: u64,
    ) -> Result<RegisterOutcome, StoreError>;
    /// Replaces the subscription and the expiry of the live registration `device.handle` of
    /// `device.client_id`, if its secret hash is `device.secret_hash`; `false` otherwise.
    async fn update_device(&self, device: &DeviceRecord) -> Result<bool, StoreError>;
    /// Deletes the live registration `key` if its secret hash is `secret`; `false` otherwise.
    async fn delete_device(
        &self,
        key: DeviceKey<'_>,
        secret: &DeviceSecretHash,
    ) -> Result<bool, StoreError>;
    /// Reads the live registration `key` and moves its expiry to `expires_at_ms` in the same
    /// step: what a notify does. `None` for an unknown, expired or other client's handle.
    async fn use_device(
        &self,
        key: DeviceKey<'_>,
        expires_at_ms: u64,
    ) -> Result<Option<DeviceRecord>, StoreError>;
    /// Deletes the registration `key` without its secret: the push service answered that the
    /// subscription is gone. `false` when there was none.
    async fn forget_device(&self, key: DeviceKey<'_>) -> Result<bool, StoreError>;
    /// How many registrations are live (on Redis, as its index counts them).
    async fn device_count(&self) -> Result<u64, StoreError>;
    /// The VAPID private key (base64url of the 32-octet scalar) every instance on this store
    /// signs with: `candidate` is stored unless a key is already, and the stored one returned.
    async fn shared_vapid_key(
        &self,
        candidate: &str,
    ) -> Result<zeroize::Zeroizing<String>, StoreError>;
}

/// A whole backend: clients, mailboxes, the delivery queue and device registrations, sharing
/// one connection.
#[async_trait]
pub trait Store: ClientStore + MailboxStore + DeliveryQueue + DeviceStore {
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
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
        url => Ok(Arc::new(
            RedisStore::connect(url, &config.redis_prefix, hub, clock).await?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unknown_store_is_named_by_its_scheme_only() {
        let config = crate::config::Config {
            store: "postgres://user:hunter2@db:5432/x".into(),
            ..crate::config::Config::default()
        };
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
        let Err(error) = connect(&config, WakeHub::default(), clock).await else {
            panic!("a postgres URL is not a store");
        };
        let message = format!("{error:#}");
        assert!(message.starts_with("unknown store `postgres`"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
