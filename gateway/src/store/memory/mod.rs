//! The embedded store: one process, nothing to set up. Expired mailboxes and device
//! registrations are swept by a timer, so memory does not grow with what nobody uses.

mod deliveries;
mod devices;
mod mailboxes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;

use self::devices::Devices;
use self::mailboxes::Mailboxes;
use super::{ClientRecord, ClientStore, Delivery, Store, StoreError, UpdateOutcome, WakeHub};
use crate::clock::Clock;

/// How often expired mailboxes are swept.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// The in-memory backend.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    clients: RwLock<HashMap<String, ClientRecord>>,
    /// Locked after `mailboxes` when both are needed (a deposit that enqueues), never before.
    deliveries: Mutex<HashMap<String, Delivery>>,
    mailboxes: Mutex<Mailboxes>,
    /// Never locked together with another lock.
    devices: Mutex<Devices>,
    hub: WakeHub,
    clock: Arc<dyn Clock>,
    expired: AtomicU64,
}

impl MemoryStore {
    /// A store that wakes waiters through `hub` and tells time by `clock`. Must be created inside
    /// a Tokio runtime: it starts the sweeper, which stops when the store is dropped.
    pub fn new(hub: WakeHub, clock: Arc<dyn Clock>) -> Self {
        let inner = Arc::new(Inner {
            clients: RwLock::default(),
            deliveries: Mutex::default(),
            mailboxes: Mutex::default(),
            devices: Mutex::default(),
            hub,
            clock,
            expired: AtomicU64::new(0),
        });
        tokio::spawn(sweep_until_dropped(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// How many mailboxes are held (live, or expired and not yet swept).
    pub fn mailbox_count(&self) -> usize {
        self.lock_mailboxes().len()
    }

    fn lock_mailboxes(&self) -> std::sync::MutexGuard<'_, Mailboxes> {
        self.inner.mailboxes.lock().expect("mailbox lock")
    }

    fn lock_deliveries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Delivery>> {
        self.inner.deliveries.lock().expect("delivery lock")
    }

    fn now(&self) -> u64 {
        self.inner.clock.now_ms()
    }
}

async fn sweep_until_dropped(inner: Weak<Inner>) {
    let mut ticker = tokio::time::interval(SWEEP_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let now = inner.clock.now_ms();
        let expired = inner.mailboxes.lock().expect("mailbox lock").sweep(now);
        inner.expired.fetch_add(expired, Ordering::Relaxed);
        inner.devices.lock().expect("device lock").sweep(now);
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let mut clients = self.inner.clients.write().expect("client lock");
        clients.insert(client.client_id.clone(), client.clone());
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self
            .inner
            .clients
            .read()
            .expect("client lock")
            .get(client_id)
            .cloned())
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<UpdateOutcome, StoreError> {
        let mut clients = self.inner.clients.write().expect("client lock");
        Ok(match clients.get_mut(&client.client_id) {
            None => UpdateOutcome::Missing,
            Some(existing) if existing.revision + 1 != client.revision => UpdateOutcome::Conflict,
            Some(existing) => {
                *existing = client.clone();
                UpdateOutcome::Updated
            }
        })
    }

    async fn client_count(&self) -> Result<u64, StoreError> {
        let clients = self.inner.clients.read().expect("client lock");
        Ok(u64::try_from(clients.len()).unwrap_or(u64::MAX))
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let existed = self
            .inner
            .clients
            .write()
            .expect("client lock")
            .remove(client_id)
            .is_some();
        self.lock_mailboxes().remove_client(client_id);
        Ok(existed)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
