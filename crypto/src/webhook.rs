//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): how the gateway signs a
//! delivery and how an app verifies it.
//!
//! The signed content is `webhook-id "." webhook-timestamp "." body`; the signature is
//! `v1,` + base64(HMAC-SHA256(key, content)); the secret is `whsec_` + base64(key). Several
//! signatures, space-separated, may stand in one header (during a secret rotation).
//!
//! Every delivery's body is one `envelope.deposited` event ([`Delivery`]): the gateway writes
//! it with [`Delivery::to_body`], a receiver checks and reads it with [`verify_delivery`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The prefix of a webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// How far a delivery's timestamp may be from the verifier's clock, seconds.
pub const TIMESTAMP_TOLERANCE_SECS: u64 = 5 * 60;

/// Bytes of key in a secret the gateway makes (the spec allows 24 to 64).
const SECRET_KEY_LEN: usize = 32;

/// Why a webhook secret or delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The secret is not `whsec_` + base64 of 24 to 64 bytes.
    #[error("a webhook secret is whsec_ followed by base64 of 24 to 64 bytes")]
    InvalidSecret,
    /// A required header is missing or malformed.
    #[error("the webhook-{0} header is missing or malformed")]
    MissingHeader(&'static str),
    /// The timestamp is more than the tolerance away from now.
    #[error("the webhook timestamp is too far from now")]
    StaleTimestamp,
    /// No `v1` signature matches any of the secrets.
    #[error("no webhook signature matches")]
    BadSignature,
    /// The signed body is not an `envelope.deposited` event.
    #[error("the body is not an envelope.deposited event")]
    NotAnEnvelopeEvent,
}

/// A webhook signing secret. Never printed.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// A fresh random secret of 32 bytes.
    pub fn generate() -> Self {
        Self {
            key: Zeroizing::new(crate::random_bytes::<SECRET_KEY_LEN>().to_vec()),
        }
    }

    /// Parses `whsec_…`.
    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(WebhookError::InvalidSecret)?;
        let key = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| WebhookError::InvalidSecret)?,
        );
        if !(24..=64).contains(&key.len()) {
            return Err(WebhookError::InvalidSecret);
        }
        Ok(Self { key })
    }

    /// The secret as text, `whsec_…`; handle with care.
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{SECRET_PREFIX}{}",
            STANDARD.encode(self.key.as_slice())
        ))
    }

    /// The `v1,…` signature of one delivery.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: u64, body: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

/// Verifies a delivery: the timestamp within [`TIMESTAMP_TOLERANCE_SECS`] of `now`, and at
/// least one `v1` signature of the header made with one of `secrets` (several are accepted
/// during a rotation). Comparisons are constant time.
pub fn verify(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: u64,
) -> Result<(), WebhookError> {
    if id.is_empty() {
        return Err(WebhookError::MissingHeader("id"));
    }
    let timestamp: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::MissingHeader("timestamp"))?;
    if timestamp.abs_diff(now) > TIMESTAMP_TOLERANCE_SECS {
        return Err(WebhookError::StaleTimestamp);
    }
    let presented: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|signature| signature.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .collect();
    if presented.is_empty() {
        return Err(WebhookError::MissingHeader("signature"));
    }
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let expected = secret.mac(id, timestamp, body);
        for candidate in &presented {
            matched |= candidate.as_slice().ct_eq(&expected);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// The event type of a delivery.
pub const ENVELOPE_DEPOSITED: &str = "envelope.deposited";

/// One delivery: which mailbox of which client, and its envelope (still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The `webhook-id`; the same on every attempt of one delivery, for de-duplication.
    pub id: String,
    /// The client the envelope is for.
    pub client_id: String,
    /// The mailbox it was deposited in.
    pub mailbox_id: String,
    /// The compact JWE.
    pub envelope: String,
}

#[derive(Serialize, Deserialize)]
struct Event<'a> {
    r#type: &'a str,
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a str>,
    data: EventData,
}

#[derive(Serialize, Deserialize)]
struct EventData {
    client_id: String,
    mailbox_id: String,
    envelope: String,
}

impl Delivery {
    /// The JSON body the gateway signs and POSTs: `{"type": "envelope.deposited",
    /// "timestamp": RFC 3339, "data": {"client_id", "mailbox_id", "envelope"}}`.
    pub fn to_body(&self, timestamp_rfc3339: &str) -> Vec<u8> {
        let event = Event {
            r#type: ENVELOPE_DEPOSITED,
            timestamp: Some(timestamp_rfc3339),
            data: EventData {
                client_id: self.client_id.clone(),
                mailbox_id: self.mailbox_id.clone(),
                envelope: self.envelope.clone(),
            },
        };
        serde_json::to_vec(&event).expect("an event serializes")
    }
}

/// Verifies a delivery as [`verify`] does (timestamp, then a `v1` signature by one of
/// `secrets`, constant time), then reads its `envelope.deposited` event. Pass the raw body,
/// before any JSON parsing.
pub fn verify_delivery(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: u64,
) -> Result<Delivery, WebhookError> {
    verify(secrets, id, timestamp, signatures, body, now)?;
    let event: Event<'_> =
        serde_json::from_slice(body).map_err(|_| WebhookError::NotAnEnvelopeEvent)?;
    if event.r#type != ENVELOPE_DEPOSITED {
        return Err(WebhookError::NotAnEnvelopeEvent);
    }
    Ok(Delivery {
        id: id.to_owned(),
        client_id: event.data.client_id,
        mailbox_id: event.data.mailbox_id,
        envelope: event.data.envelope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn matches_the_specification_example() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let header = format!("v1,bm90LXRoaXMtb25l {signature}");
        assert!(
            verify(
                std::slice::from_ref(&secret),
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                &header,
                body,
                1614265400
            )
            .is_ok()
        );
        assert_eq!(
            verify(
                &[secret],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                &header,
                body,
                1614265330 + 301
            ),
            Err(WebhookError::StaleTimestamp)
        );
    }

    #[test]
    fn any_of_several_secrets_verifies_and_tampering_fails() {
        let (old, new) = (WebhookSecret::generate(), WebhookSecret::generate());
        let signature = old.sign("msg_1", 100, b"body");
        assert!(
            verify(
                &[new.clone(), old.clone()],
                "msg_1",
                "100",
                &signature,
                b"body",
                100
            )
            .is_ok()
        );
        assert_eq!(
            verify(&[new], "msg_1", "100", &signature, b"body", 100),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&old),
                "msg_1",
                "100",
                &signature,
                b"bodz",
                100
            ),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            WebhookSecret::parse(&old.expose())
                .unwrap()
                .sign("msg_1", 100, b"body"),
            signature
        );
        assert!(!format!("{old:?}").contains(&old.expose()[6..]));
    }

    #[test]
    fn a_delivery_round_trips_and_other_events_are_refused() {
        let secret = WebhookSecret::generate();
        let delivery = Delivery {
            id: "msg_1".into(),
            client_id: "c".into(),
            mailbox_id: "m".into(),
            envelope: "e.k..c.".into(),
        };
        let body = delivery.to_body("2026-12-01T12:00:00Z");
        let text = std::str::from_utf8(&body).unwrap();
        assert!(
            text.contains(r#""timestamp":"2026-12-01T12:00:00Z""#),
            "{text}"
        );
        let signature = secret.sign("msg_1", 100, &body);
        let secrets = std::slice::from_ref(&secret);
        assert_eq!(
            verify_delivery(secrets, "msg_1", "100", &signature, &body, 100),
            Ok(delivery)
        );
        let other = br#"{"type":"other","data":{"client_id":"c","mailbox_id":"m","envelope":"e"}}"#;
        let signature = secret.sign("msg_1", 100, other);
        assert_eq!(
            verify_delivery(secrets, "msg_1", "100", &signature, other, 100),
            Err(WebhookError::NotAnEnvelopeEvent)
        );
        let signature = secret.sign("msg_1", 100, b"not json");
        assert_eq!(
            verify_delivery(secrets, "msg_1", "100", &signature, b"not json", 100),
            Err(WebhookError::NotAnEnvelopeEvent)
        );
    }
}
