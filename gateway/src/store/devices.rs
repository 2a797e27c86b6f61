//! The device registrations of one-click sign-in as a store keeps them: a phone's Web Push
//! subscription for one client, found by its device handle, changed only with the device
//! secret, of which the store keeps a SHA-256.
//!
//! Device secrets are 256 random bits made by the gateway, so comparing digests by equality
//! leaks nothing a caller could use: learning how many leading octets of a digest matched
//! does not help to find a secret with that digest. The memory store still compares in
//! constant time; Redis compares in its script.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use sealgate_crypto::base64url;

/// A phone's Web Push subscription, as `PushSubscription.toJSON()` gave it and the gateway
/// checked it: the endpoint URL (RFC 8030), and the message encryption keys (RFC 8291).
#[derive(Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// The push service's URL for this device; a capability of the push service, never logged.
    pub endpoint: String,
    /// `keys.p256dh`: the phone's P-256 public key, base64url.
    pub p256dh: String,
    /// `keys.auth`: the 16-octet auth secret, base64url.
    pub auth: String,
}

impl fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PushSubscription(<redacted>)")
    }
}

/// SHA-256 of a device secret: what the store keeps instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DeviceSecretHash([u8; 32]);

impl DeviceSecretHash {
    /// The hash of `secret`.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `other` is this hash, in constant time.
    pub fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// The hash as base64url (43 characters), as the Redis backend stores it.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.0)
    }

    /// The hash from its base64url form; `None` when it is not 32 octets.
    pub fn from_base64url(text: &str) -> Option<Self> {
        let bytes = base64url::decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for DeviceSecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceSecretHash(<redacted>)")
    }
}

/// One device registration: which client it belongs to, where to push, who may change it,
/// and when it expires unless used.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device handle (`dh_…`): the name the client notifies the device by. The Redis
    /// backend keeps only a tag derived from it.
    pub handle: String,
    /// The client the device registered with; the handle works for no other.
    pub client_id: String,
    /// Where and how to push.
    pub subscription: PushSubscription,
    /// SHA-256 of the device secret.
    pub secret_hash: DeviceSecretHash,
    /// Idle expiry, milliseconds since the epoch; every notify moves it.
    pub expires_at_ms: u64,
}

impl fmt::Debug for DeviceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("handle", &"<redacted>")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// What registering a device did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// The registration is saved.
    Registered,
    /// The gateway holds as many live registrations as it is configured to.
    LimitReached,
}

/// Which registration a change names, and the secret that allows it.
#[derive(Debug, Clone, Copy)]
pub struct DeviceKey<'a> {
    /// The client in the request's path.
    pub client_id: &'a str,
    /// The device handle in the request's path.
    pub handle: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_compare_and_never_print() {
        let hash = DeviceSecretHash::of("dsec_secret");
        assert!(hash.matches(&DeviceSecretHash::of("dsec_secret")));
        assert!(!hash.matches(&DeviceSecretHash::of("dsec_other")));
        assert_eq!(
            DeviceSecretHash::from_base64url(&hash.to_base64url()),
            Some(hash)
        );
        assert_eq!(DeviceSecretHash::from_base64url("c2hvcnQ"), None);
        assert!(!format!("{hash:?}").contains(&hash.to_base64url()));
        let subscription = PushSubscription {
            endpoint: "https://push.example/abc".into(),
            p256dh: "key".into(),
            auth: "auth".into(),
        };
        assert!(!format!("{subscription:?}").contains("abc"));
    }
}
