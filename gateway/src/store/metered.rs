//! A [`Store`] decorator that counts failed operations by name, for any backend.

use async_trait::async_trait;
use bytes::Bytes;
use prometheus::IntCounterVec;

use super::{
    ClientRecord, DepositOutcome, MailboxRecord, OpenOutcome, SharedStore, Store, StoreError,
    TakeOutcome, Waiter,
};

/// Wraps a store; every failed call increments `errors{operation}`.
pub struct MeteredStore {
    inner: SharedStore,
    errors: IntCounterVec,
}

impl MeteredStore {
    /// Wraps `inner`, counting into `errors` (one label: `operation`).
    pub fn new(inner: SharedStore, errors: IntCounterVec) -> Self {
        Self { inner, errors }
    }

    fn count<T>(
        &self,
        operation: &'static str,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Err(error) = &result {
            self.errors.with_label_values(&[operation]).inc();
            tracing::warn!(operation, %error, "store operation failed");
        }
        result
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        self.count("insert_client", self.inner.insert_client(client).await)
    }
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.count("client", self.inner.client(client_id).await)
    }
    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        self.count("update_client", self.inner.update_client(client).await)
    }
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.count("delete_client", self.inner.delete_client(client_id).await)
    }
    async fn open_mailbox(
        &self,
        mailbox: &MailboxRecord,
        max_open: usize,
    ) -> Result<OpenOutcome, StoreError> {
        self.count(
            "open_mailbox",
            self.inner.open_mailbox(mailbox, max_open).await,
        )
    }
    async fn mailbox(&self, mailbox_id: &str) -> Result<Option<MailboxRecord>, StoreError> {
        self.count("mailbox", self.inner.mailbox(mailbox_id).await)
    }
    async fn deposit(
        &self,
        mailbox_id: &str,
        envelope: Bytes,
    ) -> Result<DepositOutcome, StoreError> {
        self.count("deposit", self.inner.deposit(mailbox_id, envelope).await)
    }
    async fn take(&self, mailbox_id: &str, client_id: &str) -> Result<TakeOutcome, StoreError> {
        self.count("take", self.inner.take(mailbox_id, client_id).await)
    }
    async fn cancel(&self, mailbox_id: &str, client_id: &str) -> Result<bool, StoreError> {
        self.count("cancel", self.inner.cancel(mailbox_id, client_id).await)
    }
    async fn watch(&self, mailbox_id: &str) -> Result<Waiter, StoreError> {
        self.count("watch", self.inner.watch(mailbox_id).await)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.count("ping", self.inner.ping().await)
    }
    fn expired_count(&self) -> u64 {
        self.inner.expired_count()
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
