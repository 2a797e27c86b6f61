//! Client records and their count: `client:{cid}` holds the record, `clients:count` how many
//! records there are, so that the registration cap costs one GET rather than a key scan.
//!
//! The record and the counter live on different slots of a cluster, so they are written by
//! two commands, the record first: a failure between the two leaves the count one too low
//! after an insert, one too high after a delete. Records written before the counter existed
//! are not counted. The cap is a guard against floods, not an exact quota; concurrent
//! registrations may pass it by their number.
//!
//! Authentication reads through the process's [`ClientCache`](crate::store::client_cache);
//! an update or a delete drops the entry here and announces the id on `clients:changed`, which
//! every instance's subscription turns into the same drop.

use async_trait::async_trait;
use redis::Value;

use super::{RedisStore, StoreError, Wake, keys, scripts};
use crate::store::{ClientRecord, ClientStore, UpdateOutcome};

impl RedisStore {
    /// Drops `client_id` from this process's cache and tells the other instances to. A lost
    /// announcement is bounded by the cache's age limit.
    async fn announce_change(&self, client_id: &str) {
        self.inner.client_cache.invalidate(client_id);
        let keys = &self.inner.keys;
        let (command, channel) = match self.inner.wake {
            Wake::Single(_) => ("PUBLISH", keys.client_changes_channel()),
            Wake::Cluster(_) => ("SPUBLISH", keys.shard_client_changes_channel()),
        };
        let mut publish = redis::cmd(command);
        publish.arg(channel).arg(client_id);
        let mut conn = self.conn();
        if let Err(error) = self.call(publish.query_async::<i64>(&mut conn)).await {
            tracing::warn!(%error, "could not announce a client change; other instances may serve the old record from their cache until it ages out");
        }
    }

    async fn read_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let mut conn = self.conn();
        let key = self.inner.keys.client(client_id);
        let json: Option<Vec<u8>> = self
            .call(redis::cmd("GET").arg(key).query_async(&mut conn))
            .await?;
        json.map(|json| {
            serde_json::from_slice(&json)
                .map_err(|e| StoreError::Corrupt(format!("client record: {e}")))
        })
        .transpose()
    }
}

#[async_trait]
impl ClientStore for RedisStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
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

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        if !keys::is_plain_id(client_id) {
            return Ok(None);
        }
        self.read_client(client_id).await
    }

    async fn client_for_auth(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        if !keys::is_plain_id(client_id) {
            return Ok(None);
        }
        let cache = &self.inner.client_cache;
        if let Some(record) = cache.get(client_id) {
            return Ok(Some(record));
        }
        let ticket = cache.ticket();
        let record = self.read_client(client_id).await?;
        if let Some(record) = &record {
            cache.put(ticket, record);
        }
        Ok(record)
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<UpdateOutcome, StoreError> {
        let json = serde_json::to_vec(client).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut conn = self.conn();
        let mut invocation = scripts::UPDATE_CLIENT.key(self.inner.keys.client(&client.client_id));
        invocation.arg(json).arg(client.revision.saturating_sub(1));
        let outcome = match self.call(invocation.invoke_async::<i64>(&mut conn)).await? {
            0 => UpdateOutcome::Missing,
            1 => UpdateOutcome::Updated,
            _ => UpdateOutcome::Conflict,
        };
        if outcome == UpdateOutcome::Updated {
            self.announce_change(&client.client_id).await;
        }
        Ok(outcome)
    }

    async fn client_count(&self) -> Result<u64, StoreError> {
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
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let keys = &self.inner.keys;
        let mut conn = self.conn();
        let existed = self
            .call(async {
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
            .await?;
        self.announce_change(client_id).await;
        Ok(existed)
    }
}
