//! One-click sign-in, the phone's side: a Web Push subscription the phone generates and keeps
//! ([`PushDevice`]), its registration with one website at the gateway, and opening the push
//! message that carries a sign-in request ([`PushDevice::open_notification`]).
//!
//! A [`PushDevice`] is one subscription for one website (one client at one gateway): a P-256
//! key pair and a 16-byte auth secret (RFC 8291), and — once registered — the device handle and
//! device secret the gateway answered with. A phone keeps one per website, each with its own
//! keys and push endpoint, so that two websites' registrations share nothing the gateway could
//! link. The device serializes to JSON ([`PushDevice::to_json`], [`PushDevice::save`]) with its
//! secrets in it: keep the file private. `Debug` never shows them.
//!
//! ```no_run
//! # async fn demo(uri: &str, body: &[u8], token: &[u8]) -> sealgate_client::Result<()> {
//! use sealgate_client::sealgate_crypto::SignInRequest;
//! use sealgate_client::{Phone, PushDevice};
//!
//! let phone = Phone::new()?;
//! // After a sign-in by QR code: subscribe (with the gateway's VAPID key as the
//! // applicationServerKey) and register the subscription with that website.
//! let signin = SignInRequest::parse(uri, 0)?;
//! let vapid_key = PushDevice::vapid_key(&phone, signin.gateway()).await?;
//! let mut device = PushDevice::generate();
//! let endpoint = "https://push.example.net/send/abc"; // what the push service gave for vapid_key
//! let registration = device.register(&phone, &signin, endpoint).await?;
//! // Put registration.handle() in the ID token as the `sealgate_device` claim.
//!
//! // Later, a push message arrives: show who asks and the binding message, then answer.
//! let pushed = device.open_notification(body)?;
//! println!("{} asks to sign you in: {:?}", pushed.client_name, pushed.binding_message);
//! phone.send_to(&pushed.request, token).await?; // or phone.decline(&pushed.request)
//! # let _ = vapid_key;
//! # Ok(()) }
//! ```

mod file;
mod notification;
mod registration;

use sealgate_crypto::webpush::{AUTH_SECRET_LEN, PushPrivateKey, PushSubscriptionKeys};
use zeroize::Zeroizing;

pub use notification::{MAX_BINDING_MESSAGE_CHARS, MAX_CLIENT_NAME_CHARS, PushedSignIn};
pub use registration::DeviceRegistration;

/// A Web Push subscription generated and kept by the phone, for one website; registered with
/// the gateway or not yet.
pub struct PushDevice {
    key: PushPrivateKey,
    auth: Zeroizing<[u8; AUTH_SECRET_LEN]>,
    registration: Option<DeviceRegistration>,
}

impl std::fmt::Debug for PushDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushDevice")
            .field("p256dh", &self.key.p256dh())
            .field("private_key", &"<redacted>")
            .field("auth", &"<redacted>")
            .field("registration", &self.registration)
            .finish()
    }
}

impl PushDevice {
    /// A fresh subscription key pair and auth secret from the operating system's CSPRNG, not
    /// registered anywhere yet.
    pub fn generate() -> Self {
        Self::from_parts(
            PushPrivateKey::generate(),
            sealgate_crypto::random_bytes::<AUTH_SECRET_LEN>(),
        )
    }

    /// A device with this key and auth secret (for a phone that keeps them its own way, and for
    /// known-answer tests), not registered.
    pub fn from_parts(key: PushPrivateKey, auth: [u8; AUTH_SECRET_LEN]) -> Self {
        Self {
            key,
            auth: Zeroizing::new(auth),
            registration: None,
        }
    }

    /// The subscription's public key, base64url: `keys.p256dh`.
    pub fn p256dh(&self) -> String {
        self.key.p256dh()
    }

    /// The subscription's keys as an application server needs them to encrypt to this device.
    pub fn subscription_keys(&self) -> PushSubscriptionKeys {
        PushSubscriptionKeys::new(self.key.public_key(), *self.auth)
            .expect("a generated key's public half is a valid point")
    }

    /// The W3C `PushSubscription.toJSON()` shape for `endpoint`: `{endpoint, expirationTime,
    /// keys: {p256dh, auth}}`, what the gateway registers (and any Web Push library takes).
    /// It holds the auth secret: hand it only to the gateway.
    pub fn subscription_json(&self, endpoint: &str) -> serde_json::Value {
        serde_json::json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": self.key.p256dh(),
                "auth": sealgate_crypto::base64url::encode(*self.auth),
            },
        })
    }

    /// The registration with the gateway, once [`PushDevice::register`] succeeded.
    pub fn registration(&self) -> Option<&DeviceRegistration> {
        self.registration.as_ref()
    }
}

#[cfg(test)]
mod tests;
