//! The webhook delivery queue and envelope leases on Redis. The queue is a sorted set of
//! delivery ids by due time plus a hash of their records, both under the hash tag
//! `{deliveries}` so that each queue script runs on one shard; leases live in the mailbox hash.

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::keys::mailbox_tag;
use super::scripts;
use crate::store::{Delivery, DeliveryQueue, LeaseOutcome, StoreError};

impl RedisStore {
    /// Runs a queue script that takes (id, record, due time).
    pub(super) async fn write_delivery(
        &self,
        script: &redis::Script,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let record =
            serde_json::to_vec(delivery).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let keys = &self.inner.keys;
        let mut conn = self.conn();
        let mut invocation = script.key(keys.delivery_due());
        invocation
            .key(keys.delivery_records())
            .arg(&delivery.id)
            .arg(record)
            .arg(delivery.next_attempt_at_ms);
        self.call(invocation.invoke_async::<i64>(&mut conn))
            .await
            .map(drop)
    }
}

#[async_trait]
impl DeliveryQueue for RedisStore {
    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.write_delivery(&scripts::ENQUEUE_DELIVERY, delivery)
            .await
    }

    async fn reschedule_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.write_delivery(&scripts::RESCHEDULE_DELIVERY, delivery)
            .await
    }

    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let keys = &self.inner.keys;
        let mut conn = self.conn();
        let mut invocation = scripts::CLAIM_DELIVERIES.key(keys.delivery_due());
        invocation
            .key(keys.delivery_records())
            .arg(now_ms)
            .arg(now_ms + lease_ms)
            .arg(limit as u64);
        let records: Vec<Vec<u8>> = self.call(invocation.invoke_async(&mut conn)).await?;
        records
            .iter()
            .map(|record| {
                serde_json::from_slice(record)
                    .map_err(|e| StoreError::Corrupt(format!("delivery record: {e}")))
            })
            .collect()
    }

    async fn complete_delivery(&self, delivery_id: &str) -> Result<(), StoreError> {
        let keys = &self.inner.keys;
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZREM")
            .arg(keys.delivery_due())
            .arg(delivery_id)
            .ignore()
            .cmd("HDEL")
            .arg(keys.delivery_records())
            .arg(delivery_id)
            .ignore();
        self.call(pipe.query_async::<()>(&mut conn)).await
    }

    async fn delivery_queue_depth(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        self.call(
            redis::cmd("ZCARD")
                .arg(self.inner.keys.delivery_due())
                .query_async(&mut conn),
        )
        .await
    }

    async fn lease_envelope(
        &self,
        mailbox_id: &str,
        until_ms: u64,
    ) -> Result<LeaseOutcome, StoreError> {
        let tag = mailbox_tag(mailbox_id);
        let mut conn = self.conn();
        let mut invocation = scripts::LEASE.key(self.inner.keys.mailbox(&tag));
        invocation.arg(self.now()).arg(until_ms);
        let reply: Vec<Value> = self.call(invocation.invoke_async(&mut conn)).await?;
        match reply.as_slice() {
            [Value::Int(0)] => Ok(LeaseOutcome::Gone),
            [Value::Int(2)] => Ok(LeaseOutcome::Busy),
            [Value::Int(1), Value::BulkString(envelope)] => Ok(LeaseOutcome::Leased(
                bytes::Bytes::copy_from_slice(envelope),
            )),
            _ => Err(StoreError::Corrupt("lease script answered nonsense".into())),
        }
    }

    async fn release_envelope(&self, mailbox_id: &str, consumed: bool) -> Result<(), StoreError> {
        let tag = mailbox_tag(mailbox_id);
        let (flag, channel) = self.publish_args(&tag);
        let mut conn = self.conn();
        let mut invocation = scripts::RELEASE.key(self.inner.keys.mailbox(&tag));
        invocation
            .arg(if consumed { "1" } else { "0" })
            .arg(flag)
            .arg(channel)
            .arg(&tag);
        let released: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        if consumed && released == 1 {
            let client: Option<String> = self
                .call(
                    redis::cmd("HGET")
                        .arg(self.inner.keys.mailbox(&tag))
                        .arg("client")
                        .query_async(&mut conn),
                )
                .await?;
            if let Some(client_id) = client {
                self.forget_open(&client_id, &tag).await;
            }
        }
        Ok(())
    }
}
