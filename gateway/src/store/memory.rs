//! The embedded store: one process, nothing to set up. Expired mailboxes are swept by a timer,
//! so memory does not grow with mailboxes nobody polls.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    ClientRecord, Delivery, DepositOutcome, EnvelopeDigest, LeaseOutcome, MailboxRecord,
    OpenOutcome, Store, StoreError, TakeOutcome, UpdateOutcome, Waiter, WakeHub,
};
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
    deliveries: Mutex<HashMap<String, Delivery>>,
    mailboxes: Mutex<Mailboxes>,
    hub: WakeHub,
    clock: Arc<dyn Clock>,
    expired: AtomicU64,
}

#[derive(Default)]
struct Mailboxes {
    by_id: HashMap<String, Slot>,
    by_client: HashMap<String, HashSet<String>>,
    expiries: BinaryHeap<Reverse<(u64, String)>>,
}

struct Slot {
    client_id: String,
    expires_at_ms: u64,
    contents: Contents,
}

/// What a mailbox holds. After consumption only a digest stays, until the TTL, so that a
/// phone's identical retry is still answered 200 (and a different envelope 409).
enum Contents {
    Empty,
    /// The envelope; a webhook attempt holds it until `leased_until_ms`.
    Envelope {
        envelope: Bytes,
        leased_until_ms: u64,
    },
    Consumed(EnvelopeDigest),
}

impl Mailboxes {
    /// Removes a mailbox from every index but the expiry heap (swept lazily).
    fn remove(&mut self, mailbox_id: &str) -> Option<Slot> {
        let slot = self.by_id.remove(mailbox_id)?;
        self.forget_open(&slot.client_id, mailbox_id);
        Some(slot)
    }

    /// Stops counting a mailbox among its client's open ones.
    fn forget_open(&mut self, client_id: &str, mailbox_id: &str) {
        if let Entry::Occupied(mut ids) = self.by_client.entry(client_id.to_owned()) {
            ids.get_mut().remove(mailbox_id);
            if ids.get().is_empty() {
                ids.remove();
            }
        }
    }

    /// The live mailbox `mailbox_id`, dropping it first if it has expired.
    fn live(&mut self, mailbox_id: &str, now_ms: u64) -> Option<&mut Slot> {
        if self.by_id.get(mailbox_id)?.expires_at_ms <= now_ms {
            self.remove(mailbox_id);
            return None;
        }
        self.by_id.get_mut(mailbox_id)
    }

    /// Drops every mailbox whose time has come; returns how many were dropped unconsumed.
    fn sweep(&mut self, now_ms: u64) -> u64 {
        let mut expired = 0;
        while let Some(Reverse((at, _))) = self.expiries.peek() {
            if *at > now_ms {
                break;
            }
            let Reverse((at, id)) = self.expiries.pop().expect("peeked");
            if self
                .by_id
                .get(&id)
                .is_some_and(|slot| slot.expires_at_ms == at)
                && let Some(slot) = self.remove(&id)
                && !matches!(slot.contents, Contents::Consumed(_))
            {
                expired += 1;
            }
        }
        expired
    }
}

impl MemoryStore {
    /// A store that wakes waiters through `hub` and tells time by `clock`. Must be created inside
    /// a Tokio runtime: it starts the sweeper, which stops when the store is dropped.
    pub fn new(hub: WakeHub, clock: Arc<dyn Clock>) -> Self {
        let inner = Arc::new(Inner {
            clients: RwLock::default(),
            deliveries: Mutex::default(),
            mailboxes: Mutex::default(),
            hub,
            clock,
            expired: AtomicU64::new(0),
        });
        tokio::spawn(sweep_until_dropped(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// How many mailboxes are held (live, or expired and not yet swept).
    pub fn mailbox_count(&self) -> usize {
        self.lock_mailboxes().by_id.len()
    }

    fn lock_mailboxes(&self) -> std::sync::MutexGuard<'_, Mailboxes> {
        self.inner.mailboxes.lock().expect("mailbox lock")
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
    }
}

#[async_trait]
impl Store for MemoryStore {
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
        let mut mailboxes = self.lock_mailboxes();
        if let Some(ids) = mailboxes.by_client.remove(client_id) {
            for id in ids {
                mailboxes.by_id.remove(&id);
            }
        }
        Ok(existed)
    }

    async fn open_mailbox(
        &self,
        mailbox: &MailboxRecord,
        max_open: usize,
    ) -> Result<OpenOutcome, StoreError> {
        let now = self.now();
        let mut mailboxes = self.lock_mailboxes();
        let expired = mailboxes.sweep(now);
        self.inner.expired.fetch_add(expired, Ordering::Relaxed);
        let open = mailboxes
            .by_client
            .get(&mailbox.client_id)
            .map_or(0, HashSet::len);
        if open >= max_open {
            return Ok(OpenOutcome::LimitReached);
        }
        mailboxes.by_id.insert(
            mailbox.mailbox_id.clone(),
            Slot {
                client_id: mailbox.client_id.clone(),
                expires_at_ms: mailbox.expires_at_ms,
                contents: Contents::Empty,
            },
        );
        mailboxes
            .by_client
            .entry(mailbox.client_id.clone())
            .or_default()
            .insert(mailbox.mailbox_id.clone());
        mailboxes
            .expiries
            .push(Reverse((mailbox.expires_at_ms, mailbox.mailbox_id.clone())));
        Ok(OpenOutcome::Opened)
    }

    async fn mailbox(&self, mailbox_id: &str) -> Result<Option<MailboxRecord>, StoreError> {
        let now = self.now();
        let mut mailboxes = self.lock_mailboxes();
        Ok(mailboxes.live(mailbox_id, now).map(|slot| MailboxRecord {
            mailbox_id: mailbox_id.to_owned(),
            client_id: slot.client_id.clone(),
            expires_at_ms: slot.expires_at_ms,
        }))
    }

    async fn deposit(
        &self,
        mailbox_id: &str,
        envelope: Bytes,
    ) -> Result<DepositOutcome, StoreError> {
        let now = self.now();
        let outcome = {
            let mut mailboxes = self.lock_mailboxes();
            match mailboxes.live(mailbox_id, now) {
                None => DepositOutcome::NotFound,
                Some(slot) => match &slot.contents {
                    Contents::Empty => {
                        slot.contents = Contents::Envelope {
                            envelope,
                            leased_until_ms: 0,
                        };
                        DepositOutcome::Stored
                    }
                    Contents::Envelope {
                        envelope: existing, ..
                    } if *existing == envelope => DepositOutcome::Identical,
                    Contents::Consumed(digest) if *digest == EnvelopeDigest::of(&envelope) => {
                        DepositOutcome::Identical
                    }
                    Contents::Envelope { .. } | Contents::Consumed(_) => DepositOutcome::Conflict,
                },
            }
        };
        if outcome == DepositOutcome::Stored {
            self.inner.hub.wake(mailbox_id);
        }
        Ok(outcome)
    }

    async fn take(&self, mailbox_id: &str, client_id: &str) -> Result<TakeOutcome, StoreError> {
        let now = self.now();
        let mut mailboxes = self.lock_mailboxes();
        let Some(slot) = mailboxes.live(mailbox_id, now) else {
            return Ok(TakeOutcome::NotFound);
        };
        if slot.client_id != client_id {
            return Ok(TakeOutcome::NotFound);
        }
        let envelope = match &slot.contents {
            Contents::Empty => return Ok(TakeOutcome::Pending),
            Contents::Consumed(_) => return Ok(TakeOutcome::NotFound),
            Contents::Envelope {
                leased_until_ms, ..
            } if *leased_until_ms > now => {
                return Ok(TakeOutcome::Pending);
            }
            Contents::Envelope { envelope, .. } => envelope.clone(),
        };
        slot.contents = Contents::Consumed(EnvelopeDigest::of(&envelope));
        let client_id = slot.client_id.clone();
        mailboxes.forget_open(&client_id, mailbox_id);
        Ok(TakeOutcome::Envelope(envelope))
    }

    async fn cancel(&self, mailbox_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let mut mailboxes = self.lock_mailboxes();
        match mailboxes.live(mailbox_id, now) {
            Some(slot)
                if slot.client_id == client_id
                    && !matches!(slot.contents, Contents::Consumed(_)) =>
            {
                mailboxes.remove(mailbox_id);
                drop(mailboxes);
                self.inner.hub.wake(mailbox_id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let mut deliveries = self.inner.deliveries.lock().expect("delivery lock");
        deliveries
            .entry(delivery.id.clone())
            .or_insert_with(|| delivery.clone());
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut deliveries = self.inner.deliveries.lock().expect("delivery lock");
        let mut due: Vec<&mut Delivery> = deliveries
            .values_mut()
            .filter(|d| d.next_attempt_at_ms <= now_ms)
            .collect();
        due.sort_by_key(|d| d.next_attempt_at_ms);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|delivery| {
                let claimed = delivery.clone();
                delivery.next_attempt_at_ms = now_ms + lease_ms;
                claimed
            })
            .collect())
    }

    async fn reschedule_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let mut deliveries = self.inner.deliveries.lock().expect("delivery lock");
        if let Some(existing) = deliveries.get_mut(&delivery.id) {
            *existing = delivery.clone();
        }
        Ok(())
    }

    async fn complete_delivery(&self, delivery_id: &str) -> Result<(), StoreError> {
        self.inner
            .deliveries
            .lock()
            .expect("delivery lock")
            .remove(delivery_id);
        Ok(())
    }

    async fn delivery_queue_depth(&self) -> Result<u64, StoreError> {
        Ok(self.inner.deliveries.lock().expect("delivery lock").len() as u64)
    }

    async fn lease_envelope(
        &self,
        mailbox_id: &str,
        until_ms: u64,
    ) -> Result<LeaseOutcome, StoreError> {
        let now = self.now();
        let mut mailboxes = self.lock_mailboxes();
        let Some(slot) = mailboxes.live(mailbox_id, now) else {
            return Ok(LeaseOutcome::Gone);
        };
        Ok(match &mut slot.contents {
            // The delivery is recorded before the deposit lands: look again shortly.
            Contents::Empty => LeaseOutcome::Busy,
            Contents::Consumed(_) => LeaseOutcome::Gone,
            Contents::Envelope {
                leased_until_ms, ..
            } if *leased_until_ms > now => LeaseOutcome::Busy,
            Contents::Envelope {
                envelope,
                leased_until_ms,
            } => {
                *leased_until_ms = until_ms;
                LeaseOutcome::Leased(envelope.clone())
            }
        })
    }

    async fn release_envelope(&self, mailbox_id: &str, consumed: bool) -> Result<(), StoreError> {
        let now = self.now();
        let mut mailboxes = self.lock_mailboxes();
        let Some(slot) = mailboxes.live(mailbox_id, now) else {
            return Ok(());
        };
        let Contents::Envelope {
            envelope,
            leased_until_ms,
        } = &mut slot.contents
        else {
            return Ok(());
        };
        if consumed {
            slot.contents = Contents::Consumed(EnvelopeDigest::of(envelope));
            let client_id = slot.client_id.clone();
            mailboxes.forget_open(&client_id, mailbox_id);
        } else {
            *leased_until_ms = 0;
        }
        drop(mailboxes);
        // Waiting polls look again: they get the envelope, or learn at once it is gone.
        self.inner.hub.wake(mailbox_id);
        Ok(())
    }

    async fn watch(&self, mailbox_id: &str) -> Result<Waiter, StoreError> {
        Ok(self.inner.hub.watch(mailbox_id))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    fn expired_count(&self) -> u64 {
        self.inner.expired.load(Ordering::Relaxed)
    }
}
