//! Web Push for one-click sign-in: the gateway's VAPID key ([`vapid_key`]), the message a
//! phone is woken with, and the push request and its outcome ([`sender`]).
//!
//! The message is encrypted to the phone's subscription keys (RFC 8291, `aes128gcm`), so the
//! push service learns only that this gateway pushed some bytes to that subscription, when,
//! and how many (every message is padded to one length). The gateway never logs or stores the
//! message, the binding message or the device handle.

pub(crate) mod sender;
mod vapid_key;

use std::sync::Arc;

use sealgate_crypto::webpush::{self, PushSubscriptionKeys, VapidKey};
use serde::Serialize;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::{DeviceRecord, SharedStore};
use crate::webhook::ssrf::Policy;
pub(crate) use sender::PushOutcome;
use sender::{PushRequest, PushSender};

/// Every message is padded to at least this many octets of plaintext, so that the push
/// service cannot tell one website, or one binding message, from another by its length.
const PADDED_LEN: usize = 1024;

/// How long a VAPID token is valid: 12 hours, half of what RFC 8292 allows.
const VAPID_LIFETIME_SECS: u64 = 12 * 60 * 60;

/// What the phone finds in the push message (`v` 1): the sign-in request it would otherwise
/// scan, the website's name and the binding message to show.
#[derive(Serialize)]
pub(crate) struct SignInMessage<'a> {
    /// The message format, 1.
    pub v: u8,
    /// The `sealgate:signin?…` URI.
    pub signin_request: &'a str,
    /// The client's registered name.
    pub client_name: &'a str,
    /// What the website shows beside its "check your phone", for the user to compare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_message: Option<&'a str>,
}

/// The push side of one gateway instance.
pub(crate) struct Push {
    key: VapidKey,
    public_key: String,
    subject: String,
    sender: PushSender,
    clock: Arc<dyn Clock>,
    idle_ms: u64,
}

impl Push {
    /// The push side `config` asks for, or `None` when push is off. The VAPID key is read
    /// from its file, or shared through `store`.
    pub(crate) async fn start(
        config: &Config,
        store: &SharedStore,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Option<Self>> {
        let push = &config.push;
        if !push.enabled {
            return Ok(None);
        }
        let key = vapid_key::load(push.vapid_key_file.as_deref(), store).await?;
        let policy = Policy::from_config(&config.webhooks);
        Ok(Some(Self {
            public_key: key.public_key_base64url(),
            key,
            subject: push.subject_for(&config.public_base_url()),
            sender: PushSender::new(policy, push.timeout())?,
            clock,
            idle_ms: push.device_idle_secs.saturating_mul(1000),
        }))
    }

    /// The VAPID public key, base64url: a phone's `applicationServerKey`.
    pub(crate) fn public_key(&self) -> &str {
        &self.public_key
    }

    /// When a registration used now expires.
    pub(crate) fn idle_expiry_ms(&self) -> u64 {
        self.clock.now_ms().saturating_add(self.idle_ms)
    }

    /// The idle expiry, seconds.
    pub(crate) fn idle_secs(&self) -> u64 {
        self.idle_ms / 1000
    }

    /// Encrypts `message` to `device`'s subscription and pushes it, for the push service to
    /// keep at most `ttl_secs`; waits for the push service's answer.
    pub(crate) async fn send(
        &self,
        device: &DeviceRecord,
        message: &SignInMessage<'_>,
        ttl_secs: u64,
    ) -> PushOutcome {
        let subscription = &device.subscription;
        let Ok(keys) =
            PushSubscriptionKeys::from_base64url(&subscription.p256dh, &subscription.auth)
        else {
            tracing::warn!("a stored push subscription has malformed keys");
            return PushOutcome::Failed;
        };
        let plaintext = zeroize::Zeroizing::new(
            serde_json::to_vec(message).expect("strings and numbers serialize"),
        );
        let padding = plaintext.len().max(PADDED_LEN);
        let body = match webpush::encrypt(&keys, &plaintext, Some(padding)) {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(%error, "cannot encrypt the push message");
                return PushOutcome::Failed;
            }
        };
        let now = self.clock.now_secs();
        let authorization = webpush::endpoint_origin(&subscription.endpoint).and_then(|origin| {
            self.key
                .authorization(&origin, &self.subject, now + VAPID_LIFETIME_SECS, now)
        });
        let authorization = match authorization {
            Ok(authorization) => authorization,
            Err(error) => {
                tracing::warn!(%error, "cannot sign the VAPID header");
                return PushOutcome::Failed;
            }
        };
        let request = PushRequest {
            endpoint: &subscription.endpoint,
            authorization,
            ttl_secs,
            body,
        };
        self.sender.send(request).await
    }
}
