//! Device registrations: `dev:{tag}` holds one (a hash, `PEXPIREAT` its idle expiry, moved by
//! every notify), `devices:{devices}:live` indexes the tags by expiry for the global cap, and
//! `push:vapid` the VAPID key every instance shares. The tag is derived from the handle by
//! SHA-256 ([`device_tag`]), so no handle is ever in Redis.
//!
//! Each operation on a registration is one script on its key. On a single node the
//! registration script also counts and updates the index; on a cluster the index lives on
//! another slot and is read and updated by separate calls, so the cap, like the client cap, is
//! a guard against floods rather than an exact quota. Keeping the index current is best
//! effort: an entry whose registration was deleted only counts until its expiry.

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::keys::device_tag;
use super::{CALL_TIMEOUT, RedisStore, scripts};
use crate::store::{
    DeviceKey, DeviceRecord, DeviceSecretHash, DeviceStore, PushSubscription, RegisterOutcome,
    StoreError,
};

impl RedisStore {
    /// Sets (or, with `score` `None`, removes) `tag` in the device index, best effort.
    async fn index_device(&self, tag: &str, score: Option<u64>) {
        let command = match score {
            Some(expires_at_ms) => {
                let mut zadd = redis::cmd("ZADD");
                zadd.arg(self.inner.keys.device_index())
                    .arg(expires_at_ms)
                    .arg(tag);
                zadd
            }
            None => {
                let mut zrem = redis::cmd("ZREM");
                zrem.arg(self.inner.keys.device_index()).arg(tag);
                zrem
            }
        };
        let mut conn = self.conn();
        let update = command.query_async::<i64>(&mut conn);
        if !matches!(tokio::time::timeout(CALL_TIMEOUT, update).await, Ok(Ok(_))) {
            tracing::debug!("could not update the device index");
        }
    }

    /// On a cluster: the live registrations in the index, after dropping expired entries.
    async fn live_devices_in_index(&self) -> Result<u64, StoreError> {
        let index = self.inner.keys.device_index();
        let mut conn = self.conn();
        let mut prune = redis::cmd("ZREMRANGEBYSCORE");
        prune.arg(&index).arg("-inf").arg(self.now());
        self.call(prune.query_async::<i64>(&mut conn)).await?;
        let mut count = redis::cmd("ZCARD");
        count.arg(&index);
        self.call(count.query_async::<u64>(&mut conn)).await
    }
}

#[async_trait]
impl DeviceStore for RedisStore {
    async fn register_device(
        &self,
        device: &DeviceRecord,
        max_devices: u64,
    ) -> Result<RegisterOutcome, StoreError> {
        let keys = &self.inner.keys;
        let tag = device_tag(&device.handle);
        let single = self.single_node();
        if !single && max_devices > 0 && self.live_devices_in_index().await? >= max_devices {
            return Ok(RegisterOutcome::LimitReached);
        }
        let mut invocation = scripts::REGISTER_DEVICE.key(keys.device(&tag));
        if single {
            invocation.key(keys.device_index());
        }
        let subscription = &device.subscription;
        invocation
            .arg(&device.client_id)
            .arg(&subscription.endpoint)
            .arg(&subscription.p256dh)
            .arg(&subscription.auth)
            .arg(device.secret_hash.to_base64url())
            .arg(device.expires_at_ms)
            .arg(self.now())
            .arg(max_devices)
            .arg(&tag);
        let mut conn = self.conn();
        let registered = self.call(invocation.invoke_async::<i64>(&mut conn)).await?;
        if registered == 0 {
            return Ok(RegisterOutcome::LimitReached);
        }
        if !single {
            self.index_device(&tag, Some(device.expires_at_ms)).await;
        }
        Ok(RegisterOutcome::Registered)
    }

    async fn update_device(&self, device: &DeviceRecord) -> Result<bool, StoreError> {
        let tag = device_tag(&device.handle);
        let subscription = &device.subscription;
        let mut invocation = scripts::UPDATE_DEVICE.key(self.inner.keys.device(&tag));
        invocation
            .arg(&device.client_id)
            .arg(device.secret_hash.to_base64url())
            .arg(self.now())
            .arg(&subscription.endpoint)
            .arg(&subscription.p256dh)
            .arg(&subscription.auth)
            .arg(device.expires_at_ms);
        let mut conn = self.conn();
        let updated = self.call(invocation.invoke_async::<i64>(&mut conn)).await? == 1;
        if updated {
            self.index_device(&tag, Some(device.expires_at_ms)).await;
        }
        Ok(updated)
    }

    async fn delete_device(
        &self,
        key: DeviceKey<'_>,
        secret: &DeviceSecretHash,
    ) -> Result<bool, StoreError> {
        self.delete_with(key, &secret.to_base64url()).await
    }

    async fn use_device(
        &self,
        key: DeviceKey<'_>,
        expires_at_ms: u64,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let tag = device_tag(key.handle);
        let mut invocation = scripts::USE_DEVICE.key(self.inner.keys.device(&tag));
        invocation
            .arg(key.client_id)
            .arg(self.now())
            .arg(expires_at_ms);
        let mut conn = self.conn();
        let found: Option<(String, String, String, String)> =
            self.call(invocation.invoke_async(&mut conn)).await?;
        let Some((endpoint, p256dh, auth, secret)) = found else {
            return Ok(None);
        };
        let secret_hash = DeviceSecretHash::from_base64url(&secret)
            .ok_or_else(|| StoreError::Corrupt("a device's secret hash is malformed".into()))?;
        self.index_device(&tag, Some(expires_at_ms)).await;
        Ok(Some(DeviceRecord {
            handle: key.handle.to_owned(),
            client_id: key.client_id.to_owned(),
            subscription: PushSubscription {
                endpoint,
                p256dh,
                auth,
            },
            secret_hash,
            expires_at_ms,
        }))
    }

    async fn forget_device(&self, key: DeviceKey<'_>) -> Result<bool, StoreError> {
        self.delete_with(key, "").await
    }

    async fn device_count(&self) -> Result<u64, StoreError> {
        self.live_devices_in_index().await
    }

    async fn shared_vapid_key(&self, candidate: &str) -> Result<Zeroizing<String>, StoreError> {
        let key = self.inner.keys.vapid_key();
        let mut conn = self.conn();
        let stored: Option<String> = self
            .call(async {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(candidate)
                    .arg("NX")
                    .query_async::<redis::Value>(&mut conn)
                    .await?;
                redis::cmd("GET").arg(&key).query_async(&mut conn).await
            })
            .await?;
        stored
            .map(Zeroizing::new)
            .ok_or_else(|| StoreError::Corrupt("the shared VAPID key vanished".into()))
    }
}

impl RedisStore {
    /// Deletes the registration `key`: with a secret hash, only if it matches a live one;
    /// with `""`, whatever its secret or expiry.
    async fn delete_with(&self, key: DeviceKey<'_>, secret_hash: &str) -> Result<bool, StoreError> {
        let tag = device_tag(key.handle);
        let mut invocation = scripts::DELETE_DEVICE.key(self.inner.keys.device(&tag));
        invocation
            .arg(key.client_id)
            .arg(secret_hash)
            .arg(self.now());
        let mut conn = self.conn();
        let deleted = self.call(invocation.invoke_async::<i64>(&mut conn)).await? == 1;
        if deleted {
            self.index_device(&tag, None).await;
        }
        Ok(deleted)
    }
}
