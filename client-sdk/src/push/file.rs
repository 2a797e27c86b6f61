//! The device as the JSON a phone keeps: its keys, auth secret and registration, secrets
//! included. [`PushDevice::save`] writes it mode 0600.
//!
//! `{"v": 1, "p256dh", "private_key", "auth", "registration"?: {"gateway", "client_id",
//! "endpoint", "device_handle", "device_secret", "expires_at", "idle_timeout_secs"}}`, the
//! binary values base64url; `p256dh` is there for reading and is checked against the private key.

use std::path::Path;

use sealgate_crypto::base64url;
use sealgate_crypto::webpush::{AUTH_SECRET_LEN, PushPrivateKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use super::{DeviceRegistration, PushDevice};
use crate::credentials::{CredentialsError, write_private_replacing};

/// The file format's version.
const FILE_VERSION: u64 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    v: u64,
    p256dh: String,
    private_key: String,
    auth: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration: Option<SavedRegistration>,
}

impl Drop for Saved {
    fn drop(&mut self) {
        self.private_key.zeroize();
        self.auth.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedRegistration {
    gateway: String,
    client_id: String,
    endpoint: String,
    device_handle: String,
    device_secret: String,
    expires_at: String,
    idle_timeout_secs: u64,
}

impl Drop for SavedRegistration {
    fn drop(&mut self) {
        self.device_secret.zeroize();
    }
}

impl PushDevice {
    /// The device as JSON, secrets included (see the module docs).
    pub fn to_json(&self) -> Zeroizing<String> {
        let saved = Saved {
            v: FILE_VERSION,
            p256dh: self.key.p256dh(),
            private_key: base64url::encode(*self.key.to_bytes()),
            auth: base64url::encode(*self.auth),
            registration: self.registration.as_ref().map(|r| SavedRegistration {
                gateway: r.gateway.clone(),
                client_id: r.client_id.clone(),
                endpoint: r.endpoint.clone(),
                device_handle: r.handle.clone(),
                device_secret: r.secret.to_string(),
                expires_at: r.expires_at.clone(),
                idle_timeout_secs: r.idle_timeout_secs,
            }),
        };
        Zeroizing::new(serde_json::to_string_pretty(&saved).expect("JSON"))
    }

    /// A device from [`PushDevice::to_json`]'s JSON; the error says what is wrong.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let saved: Saved = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if saved.v != FILE_VERSION {
            return Err(format!(
                "version {} (this SDK reads {FILE_VERSION})",
                saved.v
            ));
        }
        let private_key = Zeroizing::new(
            base64url::decode(&saved.private_key)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or("private_key is not 32 bytes of base64url")?,
        );
        let key = PushPrivateKey::from_bytes(&private_key).map_err(|e| e.to_string())?;
        if key.p256dh() != saved.p256dh {
            return Err("p256dh is not the private key's public key".into());
        }
        let auth = Zeroizing::new(
            base64url::decode(&saved.auth)
                .ok()
                .and_then(|bytes| <[u8; AUTH_SECRET_LEN]>::try_from(bytes).ok())
                .ok_or("auth is not 16 bytes of base64url")?,
        );
        let mut device = Self::from_parts(key, *auth);
        device.registration = saved.registration.as_ref().map(|r| DeviceRegistration {
            gateway: r.gateway.clone(),
            client_id: r.client_id.clone(),
            endpoint: r.endpoint.clone(),
            handle: r.device_handle.clone(),
            secret: Zeroizing::new(r.device_secret.clone()),
            expires_at: r.expires_at.clone(),
            idle_timeout_secs: r.idle_timeout_secs,
        });
        Ok(device)
    }

    /// Writes the device to `path`, mode 0600, through a temporary file renamed over it.
    pub fn save(&self, path: &Path) -> Result<(), CredentialsError> {
        write_private_replacing(path, self.to_json().as_bytes())
    }

    /// Reads a device [`PushDevice::save`] wrote.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            CredentialsError::Read {
                path: path.to_owned(),
                source,
            }
        })?);
        Self::from_json(&text).map_err(|reason| CredentialsError::Damaged {
            path: path.to_owned(),
            reason,
        })
    }
}
