//! The records a [`Store`](super::Store) keeps, and what its operations answer.

use bytes::Bytes;
use sealgate_crypto::Jwks;
use serde::{Deserialize, Serialize};

use super::WebhookSettings;

/// A registered client as the store keeps it: public keys and a hash of the secret, no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client id.
    pub client_id: String,
    /// The human-readable name given at registration.
    pub name: String,
    /// SHA-256 of the client secret, base64url.
    pub secret_hash: String,
    /// The public key set; stored as its JWKS JSON.
    #[serde(with = "jwks_json")]
    pub jwks: Jwks,
    /// Registration time, seconds since the epoch.
    pub created_at: u64,
    /// Changes with every update of the record.
    pub revision: u64,
    /// Webhook delivery settings, when the client has a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
}

/// A pending webhook delivery as the store keeps it (never the envelope: that stays in its
/// mailbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The `webhook-id`, derived from the mailbox id.
    pub id: String,
    /// The mailbox whose envelope is delivered.
    pub mailbox_id: String,
    /// Its client.
    pub client_id: String,
    /// Failed attempts so far.
    pub attempt: u32,
    /// When it is due, milliseconds since the epoch; a claim moves it to the end of the lease.
    pub next_attempt_at_ms: u64,
    /// The mailbox's expiry: after it, the delivery is dropped.
    pub expires_at_ms: u64,
    /// When the envelope was deposited.
    pub created_at_ms: u64,
}

/// What leasing a mailbox's envelope for a webhook attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The envelope, now held by this attempt until the lease ends.
    Leased(Bytes),
    /// Another attempt holds it.
    Busy,
    /// Nothing to deliver: consumed, cancelled, expired, or never deposited.
    Gone,
}

/// A mailbox as the store keeps it: with what a deposit is checked against, so that the
/// deposit needs no read of the client record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRecord {
    /// The mailbox id (the phone's capability).
    pub mailbox_id: String,
    /// The owning client.
    pub client_id: String,
    /// Expiry, milliseconds since the epoch.
    pub expires_at_ms: u64,
    /// The client's key ids when the mailbox was opened: a deposit's `kid` must be one of
    /// them. Key ids are RFC 7638 thumbprints (base64url, no spaces).
    pub kids: Vec<String>,
    /// Whether a deposit also enqueues a webhook delivery: the client had an active webhook
    /// when the mailbox was opened, and the gateway sends webhooks.
    pub webhook: bool,
}

impl MailboxRecord {
    /// The key ids a mailbox of a client with `jwks` allows: every key's thumbprint.
    pub fn key_ids(jwks: &Jwks) -> Vec<String> {
        jwks.keys()
            .iter()
            .map(|key| key.thumbprint().to_owned())
            .collect()
    }
}

/// A phone's deposit, with the envelope header's binding the store checks in the same atomic
/// step as it stores (the header's `mbx` and `exp` need no stored state and are checked
/// before).
#[derive(Debug, Clone)]
pub struct Deposit<'a> {
    /// The mailbox deposited to.
    pub mailbox_id: &'a str,
    /// The header's `aud`: must be the mailbox's client.
    pub aud: &'a str,
    /// The header's `kid`: must be one of the mailbox's key ids.
    pub kid: &'a str,
    /// The compact JWE, stored as it came.
    pub envelope: Bytes,
}

impl Delivery {
    /// The first attempt's record for a deposit into `mailbox`, due at once.
    pub fn first(mailbox: &MailboxRecord, now_ms: u64) -> Self {
        Self {
            id: crate::webhook::delivery_id(&mailbox.mailbox_id),
            mailbox_id: mailbox.mailbox_id.clone(),
            client_id: mailbox.client_id.clone(),
            attempt: 0,
            next_attempt_at_ms: now_ms,
            expires_at_ms: mailbox.expires_at_ms,
            created_at_ms: now_ms,
        }
    }
}

/// What a client update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The record is replaced.
    Updated,
    /// No such client.
    Missing,
    /// The record changed since the caller read it; read again and retry.
    Conflict,
}

/// What opening a mailbox did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenOutcome {
    /// The mailbox exists now.
    Opened,
    /// The client already has the most mailboxes it may have open.
    LimitReached,
}

/// SHA-256 of a consumed envelope: what a mailbox keeps after consumption, until its TTL, so
/// that an identical retry of the deposit is recognised without keeping the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeDigest([u8; 32]);

impl EnvelopeDigest {
    /// The digest of `envelope`.
    pub fn of(envelope: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(envelope).into())
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What a deposit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositOutcome {
    /// The envelope is stored; it was the first.
    Stored {
        /// Whether a webhook delivery was enqueued in the same step.
        webhook: bool,
    },
    /// The same envelope was already stored (an idempotent retry).
    Identical,
    /// Another envelope was already stored.
    Conflict,
    /// No such mailbox, or it expired or was consumed.
    NotFound,
    /// The header's `aud` is not the mailbox's client.
    OtherClient,
    /// The header's `kid` is not one of the mailbox's key ids.
    UnknownKid,
}

/// What taking a mailbox's envelope did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakeOutcome {
    /// The envelope, now consumed; the mailbox is gone.
    Envelope(Bytes),
    /// The mailbox exists and is still empty.
    Pending,
    /// No such mailbox for this client, or it expired or was consumed.
    NotFound,
}

/// A client's key set in the record: the JWKS JSON (`{"keys": [...]}`) it was registered
/// with. Reading it back rebuilds each key from its `x` and `alg`, which recomputes its `kid`
/// but not the low-order check `Jwks::from_value` makes with one X25519 operation per key: the
/// set was checked when the client registered or rotated it, and that operation on every
/// authenticated request halved the Redis store's throughput.
mod jwks_json {
    use sealgate_crypto::{Algorithm, Jwks, PublicKey, base64url};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    #[derive(Deserialize)]
    struct StoredJwks {
        keys: Vec<StoredKey>,
    }

    #[derive(Deserialize)]
    struct StoredKey {
        x: String,
        alg: String,
    }

    pub(super) fn serialize<S: Serializer>(jwks: &Jwks, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&jwks.to_value(), serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Jwks, D::Error> {
        let stored = StoredJwks::deserialize(deserializer)?;
        let keys = stored
            .keys
            .into_iter()
            .map(|key| {
                let bytes = base64url::decode_array(&key.x).map_err(D::Error::custom)?;
                let alg = Algorithm::from_name(&key.alg)
                    .ok_or_else(|| D::Error::custom(format!("unknown alg {}", key.alg)))?;
                Ok(PublicKey::from_bytes(bytes, alg))
            })
            .collect::<Result<Vec<_>, D::Error>>()?;
        Jwks::new(keys).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use sealgate_crypto::{Algorithm, Jwks, PrivateKey};

    use super::*;

    #[test]
    fn a_client_record_round_trips_through_its_stored_json() {
        let keys = [Algorithm::Hpke4, Algorithm::Hpke3]
            .map(|alg| PrivateKey::generate(alg).public_key().clone());
        let record = ClientRecord {
            client_id: "c".into(),
            name: "n".into(),
            secret_hash: "h".into(),
            jwks: Jwks::new(keys.to_vec()).unwrap(),
            created_at: 1,
            revision: 2,
            webhook: None,
        };
        let json = serde_json::to_string(&record).unwrap();
        let read: ClientRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(read, record);
        let damaged = json.replace(keys[0].thumbprint(), "not-the-thumbprint");
        let reread: ClientRecord = serde_json::from_str(&damaged).unwrap();
        assert_eq!(reread.jwks.keys()[0].thumbprint(), keys[0].thumbprint());
        let empty = json.replace(r#""keys":["#, r#""keys":[],"was":["#);
        assert!(serde_json::from_str::<ClientRecord>(&empty).is_err());
    }
}
