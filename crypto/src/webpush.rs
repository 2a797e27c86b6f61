//! Web Push for one-click sign-in: RFC 8291 message encryption over RFC 8188 `aes128gcm`, and
//! RFC 8292 VAPID, so the gateway can wake the phone and the phone can read what woke it.
//!
//! - [`encrypt`]: the application server's side (the gateway). A fresh ephemeral P-256 key
//!   and a random salt per message; the body is one `aes128gcm` record, ready to be the
//!   `POST` body to the subscription's endpoint with `Content-Encoding: aes128gcm`.
//! - [`decrypt`]: the user agent's side (the phone), with its [`PushPrivateKey`] and the
//!   16-byte auth secret it gave out in the subscription.
//! - [`PushSubscriptionKeys`]: the `keys.p256dh` and `keys.auth` of a browser's
//!   `PushSubscription.toJSON()`, checked.
//! - [`VapidKey::authorization`]: the `Authorization: vapid t=<JWT>, k=<key>` header value that
//!   identifies the gateway to the push service.
//!
//! # Sizes
//!
//! One record of [`RECORD_SIZE`] (4096) octets carries at most [`MAX_PLAINTEXT_LEN`] (4079)
//! octets of plaintext: the record holds the plaintext, the `0x02` delimiter, any padding and
//! the 16-octet tag. Push services, though, limit the whole body (header included) to 4096
//! octets (RFC 8030 §7.2 asks for at least that much; FCM's limit is 4 KB), which leaves
//! [`PUSH_SERVICE_PLAINTEXT_LIMIT`] (3993) octets of plaintext in practice: 4096 less the
//! 86-octet header, the delimiter and the tag.
//!
//! ```
//! use sealgate_crypto::webpush::{self, PushPrivateKey, PushSubscriptionKeys, VapidKey};
//!
//! // The phone subscribes: a key pair and an auth secret, handed to the gateway.
//! let phone_key = PushPrivateKey::generate();
//! let auth = sealgate_crypto::random_bytes::<16>();
//! let subscription = PushSubscriptionKeys::new(phone_key.public_key(), auth)?;
//!
//! // The gateway encrypts, and signs a VAPID header for the endpoint's push service.
//! let body = webpush::encrypt(&subscription, b"{\"sign_in\":\"...\"}", None)?;
//! let vapid = VapidKey::generate();
//! let now = 1_800_000_000;
//! let header = vapid.authorization("https://push.example.net", "mailto:ops@example.com", now + 3600, now)?;
//! assert!(header.starts_with("vapid t="));
//!
//! // The phone decrypts.
//! assert_eq!(webpush::decrypt(&phone_key, &auth, &body)?, b"{\"sign_in\":\"...\"}");
//! # Ok::<(), webpush::WebPushError>(())
//! ```

mod ece;
mod keys;
mod vapid;

pub use ece::{
    HEADER_LEN, MAX_PLAINTEXT_LEN, PUSH_SERVICE_PLAINTEXT_LIMIT, RECORD_SIZE, SALT_LEN, TAG_LEN,
    decrypt, encrypt, encrypt_with,
};
pub use keys::{AUTH_SECRET_LEN, PUBLIC_KEY_LEN, PushPrivateKey, PushSubscriptionKeys};
pub use vapid::{MAX_VAPID_LIFETIME_SECS, VapidKey, endpoint_origin};

/// Why a Web Push key, message or VAPID header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebPushError {
    /// A public key is not a 65-octet uncompressed point on P-256.
    #[error("the public key is not an uncompressed P-256 point (65 octets, 0x04 first)")]
    InvalidPublicKey,
    /// A private key is not a P-256 scalar in [1, n-1], or not a P-256 PKCS#8 document.
    #[error("the private key is not a valid P-256 key")]
    InvalidPrivateKey,
    /// The auth secret is not 16 octets of base64url.
    #[error("the auth secret is not 16 octets of base64url")]
    InvalidAuthSecret,
    /// The plaintext (with the requested padding) does not fit one 4096-octet record.
    #[error("the plaintext is {len} octets (with padding); one record holds at most {max}")]
    PlaintextTooLong {
        /// Octets asked for: the plaintext, or the padded length when that is larger.
        len: usize,
        /// [`MAX_PLAINTEXT_LEN`].
        max: usize,
    },
    /// `padding_to` is shorter than the plaintext it should pad.
    #[error("padding_to ({padding_to}) is shorter than the plaintext ({len} octets)")]
    PaddingTooShort {
        /// The padded length asked for.
        padding_to: usize,
        /// The plaintext's length.
        len: usize,
    },
    /// The `aes128gcm` header is truncated or malformed.
    #[error("the aes128gcm header is malformed: {0}")]
    MalformedHeader(&'static str),
    /// The body is shorter than the smallest record (the delimiter and the tag).
    #[error("the body is truncated")]
    Truncated,
    /// The body holds more than one record, or data after its one record.
    #[error("the body holds more than one record (Web Push uses exactly one)")]
    MultipleRecords,
    /// The record does not decrypt: another key or auth secret, or a changed body.
    #[error("the record does not decrypt (wrong key or auth secret, or a modified body)")]
    DecryptionFailed,
    /// The decrypted record does not end in the last-record delimiter `0x02` and zeros.
    #[error("the record's padding delimiter is missing or is not 0x02")]
    BadDelimiter,
    /// The VAPID `aud` is not an origin (`https://host[:port]`, no path).
    #[error("the VAPID audience must be an origin: scheme://host[:port], lower case, no path")]
    InvalidAudience,
    /// The VAPID `sub` is not a `mailto:` or `https:` URI.
    #[error("the VAPID subject must be a mailto: or https: URI")]
    InvalidSubject,
    /// The VAPID `exp` is more than 24 hours after now (RFC 8292 §2).
    #[error("the VAPID expiry {exp} is more than 24 hours after now ({now})")]
    ExpiryTooFar {
        /// The expiry asked for, seconds since the epoch.
        exp: u64,
        /// Now, seconds since the epoch.
        now: u64,
    },
    /// The VAPID `exp` is not after now.
    #[error("the VAPID expiry {exp} is not after now ({now})")]
    Expired {
        /// The expiry asked for, seconds since the epoch.
        exp: u64,
        /// Now, seconds since the epoch.
        now: u64,
    },
}
