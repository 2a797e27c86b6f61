//! FOR TESTS AND DEMOS ONLY: an issuer that signs ID tokens with a throw-away Ed25519 key.
//! A real phone gets its ID token from a real identity provider.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sealgate_crypto::base64url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::http::now_secs;

/// A test issuer: an Ed25519 key pair and an issuer name. Not for production.
pub struct TestIssuer {
    issuer: String,
    encoding: EncodingKey,
    public_x: String,
    kid: String,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TestIssuer {
    /// A new issuer named `issuer` with a fresh key.
    pub fn generate(issuer: &str) -> Result<Self> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| Error::IdToken("key generation failed".into()))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| Error::IdToken("key generation failed".into()))?;
        let public_x = base64url::encode(pair.public_key().as_ref());
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{public_x}"}}"#);
        let kid = base64url::encode(Sha256::digest(canonical.as_bytes()));
        Ok(Self {
            issuer: issuer.to_owned(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            public_x,
            kid,
        })
    }

    /// The issuer's JWKS (public key only).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": self.public_x, "alg": "EdDSA", "use": "sig", "kid": self.kid }] })
    }

    /// The issuer name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs an ID token for `subject`, for the app `audience`, carrying `nonce`, valid 5 minutes.
    pub fn sign_id_token(&self, subject: &str, audience: &str, nonce: &str) -> Result<String> {
        self.sign_id_token_with(subject, audience, nonce, &serde_json::Map::new())
    }

    /// Like [`sign_id_token`](Self::sign_id_token), with `extra` claims (`name`, `email`, …)
    /// beside the standard ones; an `extra` claim never replaces `iss`, `sub`, `aud`, `nonce`,
    /// `iat` or `exp`.
    pub fn sign_id_token_with(
        &self,
        subject: &str,
        audience: &str,
        nonce: &str,
        extra: &serde_json::Map<String, Value>,
    ) -> Result<String> {
        let now = now_secs();
        let mut claims = extra.clone();
        let standard = json!({
            "iss": self.issuer, "sub": subject, "aud": audience, "nonce": nonce,
            "iat": now, "exp": now + 300,
        });
        if let Value::Object(standard) = standard {
            claims.extend(standard);
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| Error::IdToken(e.to_string()))
    }
}
