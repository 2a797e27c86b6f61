//! Webhook delivery: each envelope deposited for a client with a webhook URL is POSTed to it,
//! signed as Standard Webhooks says, retried with backoff until the mailbox expires, and
//! recorded in the store so that another instance takes over the deliveries of one that dies.
//!
//! Exactly-once consumption with a poller in the race: an attempt first *leases* the envelope
//! in the store (a poll meanwhile sees it pending); a 2xx consumes it, anything else releases
//! it and wakes the pollers. Whichever of a poll or a webhook gets the envelope first wins.

pub mod schedule;
pub mod sender;
pub mod ssrf;
pub mod worker;

use serde::{Deserialize, Serialize};

/// A signing secret as the store keeps it (`whsec_…`). Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// One signing secret: the current one has no expiry; a rotated-out one signs beside it
/// until `retires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    /// `whsec_…`.
    pub secret: SecretText,
    /// Seconds since the epoch after which it no longer signs; `None` for the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retires_at: Option<u64>,
}

/// A client's webhook settings, kept on its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSettings {
    /// Where deliveries go.
    pub url: String,
    /// Current secret first, then any still signing during an overlap.
    pub secrets: Vec<SigningSecret>,
    /// When the endpoint answered 410 Gone and was disabled, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<u64>,
}

impl WebhookSettings {
    /// Settings for `url` with a fresh secret; returns the secret text to show once.
    pub fn new(url: String) -> (Self, zeroize::Zeroizing<String>) {
        let secret = sealgate_crypto::webhook::WebhookSecret::generate().expose();
        let settings = Self {
            url,
            secrets: vec![SigningSecret {
                secret: SecretText(secret.to_string()),
                retires_at: None,
            }],
            disabled_at: None,
        };
        (settings, secret)
    }

    /// Whether deliveries go out.
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }

    /// The `webhook-signature` header value: one `v1,…` per secret still signing at `now`.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8], now: u64) -> String {
        self.secrets
            .iter()
            .filter(|s| s.retires_at.is_none_or(|at| at > now))
            .filter_map(|s| sealgate_crypto::webhook::WebhookSecret::parse(&s.secret.0).ok())
            .map(|secret| secret.sign(id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Makes a new current secret; the old ones keep signing until `now + overlap`. Returns
    /// the new secret text to show once.
    pub fn rotate(&mut self, now: u64, overlap_secs: u64) -> zeroize::Zeroizing<String> {
        let secret = sealgate_crypto::webhook::WebhookSecret::generate().expose();
        self.secrets
            .retain(|s| s.retires_at.is_none_or(|at| at > now));
        for old in &mut self.secrets {
            old.retires_at = Some(
                old.retires_at
                    .unwrap_or(now + overlap_secs)
                    .min(now + overlap_secs),
            );
        }
        self.secrets.insert(
            0,
            SigningSecret {
                secret: SecretText(secret.to_string()),
                retires_at: None,
            },
        );
        secret
    }
}

/// The `webhook-id` of a mailbox's delivery: derived from the mailbox id, so that every
/// attempt, on every instance, and a re-enqueue after a retried deposit all carry the same id.
pub fn delivery_id(mailbox_id: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("sealgate webhook {mailbox_id}").as_bytes());
    format!("msg_{}", sealgate_crypto::base64url::encode(&digest[..18]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate_crypto::webhook::{WebhookSecret, verify};

    #[test]
    fn rotation_signs_with_both_secrets_until_the_overlap_ends() {
        let (mut settings, first) = WebhookSettings::new("https://example.com/hook".into());
        let second = settings.rotate(1_000, 3_600);
        let secrets = |texts: &[&str]| {
            texts
                .iter()
                .map(|t| WebhookSecret::parse(t).unwrap())
                .collect::<Vec<_>>()
        };
        let header = settings.sign("msg_1", 1_000, b"{}", 1_000);
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&secrets(&[&first]), "msg_1", "1000", &header, b"{}", 1_000).is_ok());
        assert!(verify(&secrets(&[&second]), "msg_1", "1000", &header, b"{}", 1_000).is_ok());
        let later = settings.sign("msg_1", 5_000, b"{}", 5_000);
        assert_eq!(later.split(' ').count(), 1);
        assert!(verify(&secrets(&[&first]), "msg_1", "5000", &later, b"{}", 5_000).is_err());
        assert!(!format!("{settings:?}").contains(&second[6..]));
    }

    #[test]
    fn delivery_ids_are_stable_per_mailbox() {
        assert_eq!(delivery_id("a"), delivery_id("a"));
        assert_ne!(delivery_id("a"), delivery_id("b"));
        assert!(delivery_id("a").starts_with("msg_"));
    }
}
