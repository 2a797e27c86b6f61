//! A [`Store`] decorator for any backend: each call runs in a span named by its operation
//! (exported with traces, see `crate::telemetry`), and failed calls are counted by name.

use async_trait::async_trait;
use prometheus::IntCounterVec;
use tracing::Instrument as _;

use super::{
    ClientRecord, ClientStore, Delivery, DeliveryQueue, Deposit, DepositOutcome, DeviceKey,
    DeviceRecord, DeviceSecretHash, DeviceStore, LeaseOutcome, MailboxRecord, MailboxStore,
    OpenOutcome, RegisterOutcome, SharedStore, Store, StoreError, TakeOutcome, UpdateOutcome,
    Waiter,
};

/// Wraps a store; every call runs in its span, every failed call increments
/// `errors{operation}`.
pub(crate) struct MeteredStore {
    inner: SharedStore,
    errors: IntCounterVec,
}

impl MeteredStore {
    /// Wraps `inner`, counting into `errors` (one label: `operation`).
    pub(crate) fn new(inner: SharedStore, errors: IntCounterVec) -> Self {
        Self { inner, errors }
    }

    /// Runs `call`, the inner store's `operation`, in its span, and counts its failure.
    async fn count<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = crate::telemetry::spans::store(operation);
        let result = call.instrument(span.clone()).await;
        if let Err(error) = &result {
            crate::telemetry::spans::record_failure(&span);
            self.errors.with_label_values(&[operation]).inc();
            tracing::warn!(operation, %error, "store operation failed");
        }
        result
    }
}

#[async_trait]
impl ClientStore for MeteredStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        self.count("insert_client", self.inner.insert_client(client))
            .await
    }
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.count("client", self.inner.client(client_id)).await
    }
    async fn client_for_auth(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.count("client_for_auth", self.inner.client_for_auth(client_id))
            .await
    }
    async fn update_client(&self, client: &ClientRecord) -> Result<UpdateOutcome, StoreError> {
        self.count("update_client", self.inner.update_client(client))
            .await
    }
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.count("delete_client", self.inner.delete_client(client_id))
            .await
    }
    async fn client_count(&self) -> Result<u64, StoreError> {
        self.count("client_count", self.inner.client_count()).await
    }
}

#[async_trait]
impl MailboxStore for MeteredStore {
    async fn open_mailbox(
        &self,
        mailbox: &MailboxRecord,
        max_open: usize,
    ) -> Result<OpenOutcome, StoreError> {
        self.count("open_mailbox", self.inner.open_mailbox(mailbox, max_open))
            .await
    }
    async fn mailbox(&self, mailbox_id: &str) -> Result<Option<MailboxRecord>, StoreError> {
        self.count("mailbox", self.inner.mailbox(mailbox_id)).await
    }
    async fn deposit(&self, deposit: Deposit<'_>) -> Result<DepositOutcome, StoreError> {
        self.count("deposit", self.inner.deposit(deposit)).await
    }
    async fn take(&self, mailbox_id: &str, client_id: &str) -> Result<TakeOutcome, StoreError> {
        self.count("take", self.inner.take(mailbox_id, client_id))
            .await
    }
    async fn cancel(&self, mailbox_id: &str, client_id: &str) -> Result<bool, StoreError> {
        self.count("cancel", self.inner.cancel(mailbox_id, client_id))
            .await
    }
    async fn watch(&self, mailbox_id: &str) -> Result<Waiter, StoreError> {
        self.count("watch", self.inner.watch(mailbox_id)).await
    }
    fn expired_count(&self) -> u64 {
        self.inner.expired_count()
    }
}

#[async_trait]
impl DeliveryQueue for MeteredStore {
    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.count("enqueue_delivery", self.inner.enqueue_delivery(delivery))
            .await
    }
    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.count(
            "claim_deliveries",
            self.inner.claim_deliveries(now_ms, lease_ms, limit),
        )
        .await
    }
    async fn reschedule_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.count(
            "reschedule_delivery",
            self.inner.reschedule_delivery(delivery),
        )
        .await
    }
    async fn complete_delivery(&self, delivery_id: &str) -> Result<(), StoreError> {
        self.count(
            "complete_delivery",
            self.inner.complete_delivery(delivery_id),
        )
        .await
    }
    async fn delivery_queue_depth(&self) -> Result<u64, StoreError> {
        self.count("delivery_queue_depth", self.inner.delivery_queue_depth())
            .await
    }
    async fn lease_envelope(
        &self,
        mailbox_id: &str,
        until_ms: u64,
    ) -> Result<LeaseOutcome, StoreError> {
        self.count(
            "lease_envelope",
            self.inner.lease_envelope(mailbox_id, until_ms),
        )
        .await
    }
    async fn release_envelope(&self, mailbox_id: &str, consumed: bool) -> Result<(), StoreError> {
        self.count(
            "release_envelope",
            self.inner.release_envelope(mailbox_id, consumed),
        )
        .await
    }
}

#[async_trait]
impl DeviceStore for MeteredStore {
    async fn register_device(
        &self,
        device: &DeviceRecord,
        max_devices: u64,
    ) -> Result<RegisterOutcome, StoreError> {
        self.count(
            "register_device",
            self.inner.register_device(device, max_devices),
        )
        .await
    }
    async fn update_device(&self, device: &DeviceRecord) -> Result<bool, StoreError> {
        self.count("update_device", self.inner.update_device(device))
            .await
    }
    async fn delete_device(
        &self,
        key: DeviceKey<'_>,
        secret: &DeviceSecretHash,
    ) -> Result<bool, StoreError> {
        self.count("delete_device", self.inner.delete_device(key, secret))
            .await
    }
    async fn use_device(
        &self,
        key: DeviceKey<'_>,
        expires_at_ms: u64,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        self.count("use_device", self.inner.use_device(key, expires_at_ms))
            .await
    }
    async fn forget_device(&self, key: DeviceKey<'_>) -> Result<bool, StoreError> {
        self.count("forget_device", self.inner.forget_device(key))
            .await
    }
    async fn device_count(&self) -> Result<u64, StoreError> {
        self.count("device_count", self.inner.device_count()).await
    }
    async fn shared_vapid_key(
        &self,
        candidate: &str,
    ) -> Result<zeroize::Zeroizing<String>, StoreError> {
        self.count("shared_vapid_key", self.inner.shared_vapid_key(candidate))
            .await
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.count("ping", self.inner.ping()).await
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
