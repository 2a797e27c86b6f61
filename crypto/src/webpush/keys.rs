//! The user agent's keys: its P-256 ECDH key pair and the subscription keys it hands out.

use p256::elliptic_curve::Generate as _;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::{PublicKey, SecretKey};
use zeroize::{Zeroize as _, Zeroizing};

use super::WebPushError;
use crate::base64url;

/// Octets of an uncompressed P-256 point: `0x04 ‖ x ‖ y`.
pub const PUBLIC_KEY_LEN: usize = 65;

/// Octets of a subscription's auth secret (RFC 8291 §3.2).
pub const AUTH_SECRET_LEN: usize = 16;

/// Parses a 65-octet uncompressed P-256 point, refusing compressed forms, the identity and
/// points off the curve.
pub(super) fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, WebPushError> {
    if bytes.len() != PUBLIC_KEY_LEN || bytes[0] != 0x04 {
        return Err(WebPushError::InvalidPublicKey);
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| WebPushError::InvalidPublicKey)
}

/// A public key as its 65-octet uncompressed encoding.
pub(super) fn encode_public_key(key: &PublicKey) -> [u8; PUBLIC_KEY_LEN] {
    let point = key.to_sec1_point(false);
    let mut out = [0u8; PUBLIC_KEY_LEN];
    out.copy_from_slice(point.as_bytes());
    out
}

/// Parses a 32-octet big-endian P-256 scalar in [1, n-1].
pub(super) fn parse_secret_key(bytes: &[u8; 32]) -> Result<SecretKey, WebPushError> {
    SecretKey::from_slice(bytes).map_err(|_| WebPushError::InvalidPrivateKey)
}

/// Decodes base64url as a browser gives it: unpadded, or with `=` padding (which is dropped).
fn decode_browser_base64url(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.strip_suffix("==").or_else(|| text.strip_suffix('='));
    base64url::decode(trimmed.unwrap_or(text)).ok()
}

/// The user agent's (the phone's) P-256 key for Web Push: its public half is the
/// subscription's `p256dh`. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct PushPrivateKey {
    secret: SecretKey,
    public: [u8; PUBLIC_KEY_LEN],
}

impl std::fmt::Debug for PushPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushPrivateKey")
            .field("p256dh", &self.p256dh())
            .field("private", &"<redacted>")
            .finish()
    }
}

impl PushPrivateKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::generate_from_rng(&mut crate::rng::system_rng()))
    }

    /// The key whose private scalar is these 32 big-endian octets (`d` of a P-256 JWK).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, WebPushError> {
        parse_secret_key(bytes).map(Self::from_secret)
    }

    /// The private scalar as 32 big-endian octets.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    /// The public key as a 65-octet uncompressed point.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public
    }

    /// The public key as base64url: the subscription's `keys.p256dh`.
    pub fn p256dh(&self) -> String {
        base64url::encode(self.public)
    }

    fn from_secret(secret: SecretKey) -> Self {
        let public = encode_public_key(&secret.public_key());
        Self { secret, public }
    }

    pub(super) fn secret(&self) -> &SecretKey {
        &self.secret
    }
}

/// The keys of a push subscription: the user agent's P-256 public key (`p256dh`, a checked
/// point) and its 16-octet auth secret (`auth`). The auth secret is never printed and is
/// zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct PushSubscriptionKeys {
    public: PublicKey,
    p256dh: [u8; PUBLIC_KEY_LEN],
    auth: [u8; AUTH_SECRET_LEN],
}

impl std::fmt::Debug for PushSubscriptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSubscriptionKeys")
            .field("p256dh", &base64url::encode(self.p256dh))
            .field("auth", &"<redacted>")
            .finish()
    }
}

impl Drop for PushSubscriptionKeys {
    fn drop(&mut self) {
        self.auth.zeroize();
    }
}

impl PushSubscriptionKeys {
    /// The keys from their octets, refusing a `p256dh` that is not an uncompressed P-256 point.
    pub fn new(
        p256dh: [u8; PUBLIC_KEY_LEN],
        auth: [u8; AUTH_SECRET_LEN],
    ) -> Result<Self, WebPushError> {
        let public = parse_public_key(&p256dh)?;
        Ok(Self {
            public,
            p256dh,
            auth,
        })
    }

    /// The keys from the base64url strings of `PushSubscription.toJSON()`: `keys.p256dh` and
    /// `keys.auth`. Trailing `=` padding, which some browsers add, is accepted.
    pub fn from_base64url(p256dh: &str, auth: &str) -> Result<Self, WebPushError> {
        let p256dh: [u8; PUBLIC_KEY_LEN] = decode_browser_base64url(p256dh)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(WebPushError::InvalidPublicKey)?;
        let auth: [u8; AUTH_SECRET_LEN] = decode_browser_base64url(auth)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(WebPushError::InvalidAuthSecret)?;
        Self::new(p256dh, auth)
    }

    /// The user agent's public key, 65 octets uncompressed.
    pub fn p256dh(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.p256dh
    }

    /// The auth secret, 16 octets.
    pub fn auth(&self) -> &[u8; AUTH_SECRET_LEN] {
        &self.auth
    }

    pub(super) fn public(&self) -> &PublicKey {
        &self.public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_never_print_secrets() {
        let key = PushPrivateKey::generate();
        let again = PushPrivateKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(base64url::decode(&key.p256dh()).unwrap(), key.public_key());
        let printed = format!("{key:?}");
        assert!(printed.contains("<redacted>"));
        assert!(!printed.contains(&base64url::encode(*key.to_bytes())));

        let subscription = PushSubscriptionKeys::new(key.public_key(), [7; 16]).unwrap();
        let printed = format!("{subscription:?}");
        assert!(printed.contains("<redacted>") && !printed.contains("BwcH"));
    }

    #[test]
    fn refuses_bad_points_scalars_and_secrets() {
        assert_eq!(
            PushPrivateKey::from_bytes(&[0; 32]).unwrap_err(),
            WebPushError::InvalidPrivateKey
        );
        assert_eq!(
            PushPrivateKey::from_bytes(&[0xff; 32]).unwrap_err(),
            WebPushError::InvalidPrivateKey
        );
        let good = PushPrivateKey::generate().public_key();
        let mut off_curve = good;
        off_curve[64] ^= 1;
        let mut compressed_tag = good;
        compressed_tag[0] = 0x02;
        for bad in [off_curve, compressed_tag, [0; 65]] {
            assert_eq!(
                PushSubscriptionKeys::new(bad, [0; 16]).unwrap_err(),
                WebPushError::InvalidPublicKey
            );
        }
        let p256dh = base64url::encode(good);
        assert_eq!(
            PushSubscriptionKeys::from_base64url(&p256dh, "AAAA").unwrap_err(),
            WebPushError::InvalidAuthSecret
        );
        assert_eq!(
            PushSubscriptionKeys::from_base64url(&p256dh[1..], "AAAAAAAAAAAAAAAAAAAAAA")
                .unwrap_err(),
            WebPushError::InvalidPublicKey
        );
        let padded = PushSubscriptionKeys::from_base64url(&p256dh, "AAAAAAAAAAAAAAAAAAAAAA==");
        assert_eq!(padded.unwrap().auth(), &[0; 16]);
    }
}
