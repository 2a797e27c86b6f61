//! Device registrations in memory: a map from handle to record, each live until its idle
//! expiry by the store's clock, swept with the mailboxes.

use std::collections::HashMap;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::MemoryStore;
use crate::store::{
    DeviceKey, DeviceRecord, DeviceSecretHash, DeviceStore, RegisterOutcome, StoreError,
};

/// The registrations of one process, and its VAPID key once one is asked for.
#[derive(Default)]
pub(super) struct Devices {
    records: HashMap<String, DeviceRecord>,
    vapid_key: Option<Zeroizing<String>>,
}

impl Devices {
    /// The live registration `key`, if any.
    fn live(&mut self, key: DeviceKey<'_>, now_ms: u64) -> Option<&mut DeviceRecord> {
        self.records
            .get_mut(key.handle)
            .filter(|record| record.client_id == key.client_id && record.expires_at_ms > now_ms)
    }

    /// Drops the registrations that expired by `now_ms`.
    pub(super) fn sweep(&mut self, now_ms: u64) {
        self.records
            .retain(|_, record| record.expires_at_ms > now_ms);
    }

    fn live_count(&self, now_ms: u64) -> usize {
        self.records
            .values()
            .filter(|record| record.expires_at_ms > now_ms)
            .count()
    }
}

impl MemoryStore {
    fn lock_devices(&self) -> std::sync::MutexGuard<'_, Devices> {
        self.inner.devices.lock().expect("device lock")
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn register_device(
        &self,
        device: &DeviceRecord,
        max_devices: u64,
    ) -> Result<RegisterOutcome, StoreError> {
        let now = self.now();
        let mut devices = self.lock_devices();
        let count = u64::try_from(devices.live_count(now)).unwrap_or(u64::MAX);
        if max_devices > 0 && count >= max_devices {
            return Ok(RegisterOutcome::LimitReached);
        }
        devices
            .records
            .insert(device.handle.clone(), device.clone());
        Ok(RegisterOutcome::Registered)
    }

    async fn update_device(&self, device: &DeviceRecord) -> Result<bool, StoreError> {
        let now = self.now();
        let key = DeviceKey {
            client_id: &device.client_id,
            handle: &device.handle,
        };
        let mut devices = self.lock_devices();
        match devices.live(key, now) {
            Some(stored) if stored.secret_hash.matches(&device.secret_hash) => {
                *stored = device.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_device(
        &self,
        key: DeviceKey<'_>,
        secret: &DeviceSecretHash,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let mut devices = self.lock_devices();
        let allowed = devices
            .live(key, now)
            .is_some_and(|stored| stored.secret_hash.matches(secret));
        if allowed {
            devices.records.remove(key.handle);
        }
        Ok(allowed)
    }

    async fn use_device(
        &self,
        key: DeviceKey<'_>,
        expires_at_ms: u64,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let now = self.now();
        let mut devices = self.lock_devices();
        Ok(devices.live(key, now).map(|stored| {
            stored.expires_at_ms = expires_at_ms;
            stored.clone()
        }))
    }

    async fn forget_device(&self, key: DeviceKey<'_>) -> Result<bool, StoreError> {
        let mut devices = self.lock_devices();
        let owned = devices
            .records
            .get(key.handle)
            .is_some_and(|stored| stored.client_id == key.client_id);
        if owned {
            devices.records.remove(key.handle);
        }
        Ok(owned)
    }

    async fn device_count(&self) -> Result<u64, StoreError> {
        let now = self.now();
        Ok(u64::try_from(self.lock_devices().live_count(now)).unwrap_or(u64::MAX))
    }

    async fn shared_vapid_key(&self, candidate: &str) -> Result<Zeroizing<String>, StoreError> {
        let mut devices = self.lock_devices();
        let stored = devices
            .vapid_key
            .get_or_insert_with(|| Zeroizing::new(candidate.to_owned()));
        Ok(stored.clone())
    }
}
