//! Envelopes for the load: a JWT-shaped ID token, and envelopes sealed once and re-bound to
//! each mailbox so that `deposit-poll` keeps the sealing cost out of the measured flows.
//!
//! The gateway reads only an envelope's header (it has no key), so an envelope sealed once
//! with a placeholder mailbox id, whose header is then rewritten with the real id, costs the
//! gateway exactly what a freshly sealed one does. Its ciphertext no longer opens (the header
//! is the HPKE aad): the `signin` scenario seals and opens for real.

use bytes::Bytes;
use sealgate_crypto::{Binding, PublicKey, SealOptions, base64url, seal};

/// Stands for the mailbox id while sealing; as long as a real one (16 random bytes, base64url).
const PLACEHOLDER: &str = "MAILBOXxPLACEHOLDERxxx";

/// The length of a mailbox id, and so of the placeholder.
pub(crate) const MAILBOX_ID_LEN: usize = 22;

/// An envelope sealed once, re-bound to any mailbox of its client.
#[derive(Clone)]
pub(crate) struct Template {
    header_json: String,
    rest: String,
}

impl Template {
    /// Seals `token` once to `key` for `client_id`, expiring at `exp` (seconds since the epoch).
    pub(crate) fn seal(key: &PublicKey, client_id: &str, exp: u64, token: &[u8]) -> Self {
        debug_assert_eq!(PLACEHOLDER.len(), MAILBOX_ID_LEN);
        let binding = Binding::to_mailbox(client_id, PLACEHOLDER, exp);
        let sealed = seal(key, token, &SealOptions::for_token(binding)).expect("sealable");
        let (header, rest) = sealed
            .as_str()
            .split_once('.')
            .expect("a compact JWE has dots");
        let header_json = String::from_utf8(base64url::decode(header).expect("base64url"))
            .expect("the header is JSON");
        Self {
            header_json,
            rest: format!(".{rest}"),
        }
    }

    /// The envelope bound to `mailbox_id`.
    pub(crate) fn bind(&self, mailbox_id: &str) -> Bytes {
        let header = self.header_json.replace(PLACEHOLDER, mailbox_id);
        let mut out = base64url::encode(header);
        out.push_str(&self.rest);
        Bytes::from(out)
    }
}

/// A JWT-shaped ID token of about `len` bytes carrying `nonce`: what a phone seals.
pub(crate) fn id_token(nonce: &str, len: usize) -> Vec<u8> {
    let header = base64url::encode(br#"{"alg":"EdDSA","typ":"JWT","kid":"load"}"#);
    let signature = base64url::encode([7u8; 64]);
    let fixed = format!(
        r#"{{"iss":"https://issuer.load.invalid","sub":"user","aud":"app","nonce":"{nonce}","iat":1,"exp":4000000000,"pad":""}}"#
    );
    let pad_len = (len.saturating_sub(header.len() + signature.len() + 2) * 3 / 4)
        .saturating_sub(fixed.len());
    let claims = fixed.replace(
        r#""pad":"""#,
        &format!(r#""pad":"{}""#, "x".repeat(pad_len)),
    );
    format!(
        "{header}.{}.{signature}",
        base64url::encode(claims.as_bytes())
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate_crypto::{Algorithm, Envelope, PrivateKey};

    #[test]
    fn rebinding_changes_only_the_mailbox() {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let template = Template::seal(key.public_key(), "client", 4_000_000_000, b"token");
        let id = "abcdefghijklmnopqrstuv";
        let bound = template.bind(id);
        let envelope = Envelope::parse_bytes(&bound).expect("a well-formed envelope");
        assert_eq!(envelope.header().mbx(), Some(id));
        assert_eq!(envelope.header().aud(), Some("client"));
        assert_eq!(envelope.header().kid(), key.public_key().thumbprint());
    }

    #[test]
    fn token_is_about_the_asked_length() {
        let token = id_token("n0nce", 1024);
        assert!((1000..=1030).contains(&token.len()), "{}", token.len());
        assert_eq!(token.iter().filter(|b| **b == b'.').count(), 2);
    }
}
