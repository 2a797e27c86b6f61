//! Client records and their count: `client:{cid}` holds the record, `clients:count` how many
//! records there are, so that the registration cap costs one GET rather than a key scan.
//!
//! The record and the counter live on different slots of a cluster, so they are written by
//! two commands, the record first: a failure between the two leaves the count one too low
//! after an insert, one too high after a delete. Records written before the counter existed
//! are not counted. The cap is a guard against floods, not an exact quota; concurrent
//! registrations may pass it by their number.

use redis::Value;

use super::{RedisStore, StoreError};
use crate::store::ClientRecord;

impl RedisStore {
    /// Writes a client's record; a new one also increments the count.
    pub(super) async fn insert_counted(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(client).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let keys = &self.inner.keys;
        let (key, count) = (keys.client(&client.client_id), keys.client_count());
        let mut conn = self.conn();
        self.call(async {
            let written: Value = redis::cmd("SET")
                .arg(&key)
                .arg(&json)
                .arg("NX")
                .query_async(&mut conn)
                .await?;
            if matches!(written, Value::Nil) {
                // The record exists (never with random ids): replace it, count nothing.
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&json)
                    .query_async::<()>(&mut conn)
                    .await
            } else {
                redis::cmd("INCR")
                    .arg(&count)
                    .query_async::<()>(&mut conn)
                    .await
            }
        })
        .await
    }

    /// How many clients are registered, by the counter.
    pub(super) async fn count_clients(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let count: Option<i64> = self
            .call(
                redis::cmd("GET")
                    .arg(self.inner.keys.client_count())
                    .query_async(&mut conn),
            )
            .await?;
        Ok(u64::try_from(count.unwrap_or(0)).unwrap_or(0))
    }

    /// Deletes a client's record and its mailboxes; a record that existed decrements the count.
    pub(super) async fn delete_counted(&self, client_id: &str) -> Result<bool, StoreError> {
        let keys = &self.inner.keys;
        let mut conn = self.conn();
        self.call(async {
            let existed: i64 = redis::cmd("DEL")
                .arg(keys.client(client_id))
                .query_async(&mut conn)
                .await?;
            let tags: Vec<String> = redis::cmd("ZRANGE")
                .arg(keys.open_set(client_id))
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await?;
            // On a cluster the redis crate splits a multi-key DEL by slot.
            let mut del = redis::cmd("DEL");
            del.arg(keys.open_set(client_id));
            for tag in &tags {
                del.arg(keys.mailbox(tag));
            }
            del.query_async::<i64>(&mut conn).await?;
            if existed > 0 {
                redis::cmd("DECR")
                    .arg(keys.client_count())
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            Ok(existed > 0)
        })
        .await
    }
}
