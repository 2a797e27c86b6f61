//! The memory store's webhook delivery queue: a map by delivery id, scanned for due ones.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{Delivery, DeliveryQueue, LeaseOutcome, StoreError};

#[async_trait]
impl DeliveryQueue for MemoryStore {
    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.lock_deliveries()
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
        let mut deliveries = self.lock_deliveries();
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
        if let Some(existing) = self.lock_deliveries().get_mut(&delivery.id) {
            *existing = delivery.clone();
        }
        Ok(())
    }

    async fn complete_delivery(&self, delivery_id: &str) -> Result<(), StoreError> {
        self.lock_deliveries().remove(delivery_id);
        Ok(())
    }

    async fn delivery_queue_depth(&self) -> Result<u64, StoreError> {
        Ok(self.lock_deliveries().len() as u64)
    }

    async fn lease_envelope(
        &self,
        mailbox_id: &str,
        until_ms: u64,
    ) -> Result<LeaseOutcome, StoreError> {
        let now = self.now();
        Ok(self.lock_mailboxes().lease(mailbox_id, now, until_ms))
    }

    async fn release_envelope(&self, mailbox_id: &str, consumed: bool) -> Result<(), StoreError> {
        let now = self.now();
        if self.lock_mailboxes().release(mailbox_id, now, consumed) {
            // Waiting polls look again: they get the envelope, or learn at once it is gone.
            self.inner.hub.wake(mailbox_id);
        }
        Ok(())
    }
}
