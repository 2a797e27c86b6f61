//! The memory store's mailboxes: one map by id, an index by client for the open-mailbox cap,
//! and an expiry heap for the sweeper.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use bytes::Bytes;

use super::MemoryStore;
use crate::store::{
    Delivery, Deposit, DepositOutcome, EnvelopeDigest, LeaseOutcome, MailboxRecord, MailboxStore,
    OpenOutcome, StoreError, TakeOutcome, Waiter,
};

/// Every mailbox of the process.
#[derive(Default)]
pub(super) struct Mailboxes {
    by_id: HashMap<String, Slot>,
    by_client: HashMap<String, HashSet<String>>,
    expiries: BinaryHeap<Reverse<(u64, String)>>,
}

struct Slot {
    record: MailboxRecord,
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
    /// How many mailboxes are held.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Removes a mailbox from every index but the expiry heap (swept lazily).
    fn remove(&mut self, mailbox_id: &str) -> Option<Slot> {
        let slot = self.by_id.remove(mailbox_id)?;
        let client_id = slot.record.client_id.clone();
        self.forget_open(&client_id, mailbox_id);
        Some(slot)
    }

    /// Removes every mailbox of a client.
    pub(super) fn remove_client(&mut self, client_id: &str) {
        if let Some(ids) = self.by_client.remove(client_id) {
            for id in ids {
                self.by_id.remove(&id);
            }
        }
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

    /// Marks the mailbox's envelope consumed and stops counting it as open.
    fn consume(&mut self, mailbox_id: &str, envelope: &[u8]) {
        let Some(slot) = self.by_id.get_mut(mailbox_id) else {
            return;
        };
        slot.contents = Contents::Consumed(EnvelopeDigest::of(envelope));
        let client_id = slot.record.client_id.clone();
        self.forget_open(&client_id, mailbox_id);
    }

    /// The live mailbox `mailbox_id`, dropping it first if it has expired.
    fn live(&mut self, mailbox_id: &str, now_ms: u64) -> Option<&mut Slot> {
        if self.by_id.get(mailbox_id)?.record.expires_at_ms <= now_ms {
            self.remove(mailbox_id);
            return None;
        }
        self.by_id.get_mut(mailbox_id)
    }

    /// Drops every mailbox whose time has come; returns how many were dropped unconsumed.
    pub(super) fn sweep(&mut self, now_ms: u64) -> u64 {
        let mut expired = 0;
        while let Some(Reverse((at, _))) = self.expiries.peek() {
            if *at > now_ms {
                break;
            }
            let Reverse((at, id)) = self.expiries.pop().expect("peeked");
            if self
                .by_id
                .get(&id)
                .is_some_and(|slot| slot.record.expires_at_ms == at)
                && let Some(slot) = self.remove(&id)
                && !matches!(slot.contents, Contents::Consumed(_))
            {
                expired += 1;
            }
        }
        expired
    }

    /// Lends the envelope to a webhook attempt until `until_ms`.
    pub(super) fn lease(&mut self, mailbox_id: &str, now_ms: u64, until_ms: u64) -> LeaseOutcome {
        let Some(slot) = self.live(mailbox_id, now_ms) else {
            return LeaseOutcome::Gone;
        };
        match &mut slot.contents {
            // A delivery is recorded with the deposit, never before it here; look again.
            Contents::Empty => LeaseOutcome::Busy,
            Contents::Consumed(_) => LeaseOutcome::Gone,
            Contents::Envelope {
                leased_until_ms, ..
            } if *leased_until_ms > now_ms => LeaseOutcome::Busy,
            Contents::Envelope {
                envelope,
                leased_until_ms,
            } => {
                *leased_until_ms = until_ms;
                LeaseOutcome::Leased(envelope.clone())
            }
        }
    }

    /// Ends a lease, consuming the envelope or making it pollable again; `false` when there
    /// was no envelope.
    pub(super) fn release(&mut self, mailbox_id: &str, now_ms: u64, consumed: bool) -> bool {
        let Some(slot) = self.live(mailbox_id, now_ms) else {
            return false;
        };
        let Contents::Envelope {
            envelope,
            leased_until_ms,
        } = &mut slot.contents
        else {
            return false;
        };
        if consumed {
            let envelope = envelope.clone();
            self.consume(mailbox_id, &envelope);
        } else {
            *leased_until_ms = 0;
        }
        true
    }
}

#[async_trait]
impl MailboxStore for MemoryStore {
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
                record: mailbox.clone(),
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
        Ok(mailboxes
            .live(mailbox_id, now)
            .map(|slot| slot.record.clone()))
    }

    async fn deposit(&self, deposit: Deposit<'_>) -> Result<DepositOutcome, StoreError> {
        let now = self.now();
        let outcome = {
            let mut mailboxes = self.lock_mailboxes();
            let Some(slot) = mailboxes.live(deposit.mailbox_id, now) else {
                return Ok(DepositOutcome::NotFound);
            };
            if slot.record.client_id != deposit.aud {
                return Ok(DepositOutcome::OtherClient);
            }
            let known_kid = slot.record.kids.iter().any(|kid| kid == deposit.kid);
            match &slot.contents {
                // As on Redis: once an envelope is in, deposits compare with it only.
                Contents::Empty if !known_kid => {
                    return Ok(DepositOutcome::UnknownKid);
                }
                Contents::Empty => {
                    let webhook = slot.record.webhook;
                    if webhook {
                        let delivery = Delivery::first(&slot.record, now);
                        self.lock_deliveries()
                            .entry(delivery.id.clone())
                            .or_insert(delivery);
                    }
                    slot.contents = Contents::Envelope {
                        envelope: deposit.envelope,
                        leased_until_ms: 0,
                    };
                    DepositOutcome::Stored { webhook }
                }
                Contents::Envelope {
                    envelope: existing, ..
                } if *existing == deposit.envelope => DepositOutcome::Identical,
                Contents::Consumed(digest) if *digest == EnvelopeDigest::of(&deposit.envelope) => {
                    DepositOutcome::Identical
                }
                Contents::Envelope { .. } | Contents::Consumed(_) => DepositOutcome::Conflict,
            }
        };
        if matches!(outcome, DepositOutcome::Stored { .. }) {
            self.inner.hub.wake(deposit.mailbox_id);
        }
        Ok(outcome)
    }

    async fn take(&self, mailbox_id: &str, client_id: &str) -> Result<TakeOutcome, StoreError> {
        let now = self.now();
        let mut mailboxes = self.lock_mailboxes();
        let Some(slot) = mailboxes.live(mailbox_id, now) else {
            return Ok(TakeOutcome::NotFound);
        };
        if slot.record.client_id != client_id {
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
        mailboxes.consume(mailbox_id, &envelope);
        Ok(TakeOutcome::Envelope(envelope))
    }

    async fn cancel(&self, mailbox_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let mut mailboxes = self.lock_mailboxes();
        match mailboxes.live(mailbox_id, now) {
            Some(slot)
                if slot.record.client_id == client_id
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

    async fn watch(&self, mailbox_id: &str) -> Result<Waiter, StoreError> {
        Ok(self.inner.hub.watch(mailbox_id))
    }

    fn expired_count(&self) -> u64 {
        self.inner.expired.load(Ordering::Relaxed)
    }
}
