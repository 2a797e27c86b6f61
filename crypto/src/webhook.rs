//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): how the gateway signs a
//! delivery and how an app verifies it.
//!
//! The signed content is `webhook-id "." webhook-timestamp "." body`; the signature is
//! `v1,` + base64(HMAC-SHA256(key, content)); the secret is `whsec_` + base64(key). Several
//! signatures, space-separated, may stand in one header (during a secret rotation).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
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
}
