//! Optional verification of the received ID token (a JWS) against the issuer's keys.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::{HttpClient, now_secs, request};

/// The signature algorithms accepted.
const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::EdDSA,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
];

/// The issuer's public keys (its JWKS).
#[derive(Debug, Clone)]
pub struct IssuerKeys {
    set: JwkSet,
}

impl IssuerKeys {
    /// Parses a JWKS.
    pub fn from_json(text: &str) -> Result<Self> {
        let set =
            serde_json::from_str(text).map_err(|e| Error::IdToken(format!("issuer JWKS: {e}")))?;
        Ok(Self { set })
    }

    /// Whether this set holds the key `token`'s header names (for a token without `kid`:
    /// whether the set has exactly one key). A verifier that caches an issuer's keys fetches
    /// them again when it does not: the issuer may have rotated.
    pub fn has_key_for(&self, token: &str) -> bool {
        match jsonwebtoken::decode_header(token).map(|header| header.kid) {
            Ok(Some(kid)) => self.set.find(&kid).is_some(),
            Ok(None) => self.set.keys.len() == 1,
            Err(_) => false,
        }
    }

    /// Fetches a JWKS from `url`.
    pub async fn fetch(http: &HttpClient, url: &str) -> Result<Self> {
        let reply = http
            .send(
                request(Method::GET, url, None, Bytes::new())?,
                Duration::from_secs(10),
            )
            .await?;
        if reply.status != StatusCode::OK {
            return Err(Error::IdToken(format!(
                "issuer JWKS at {url}: HTTP {}",
                reply.status
            )));
        }
        Self::from_json(
            std::str::from_utf8(&reply.body)
                .map_err(|_| Error::IdToken("issuer JWKS is not UTF-8".into()))?,
        )
    }
}

/// What the ID token must say.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The `iss` claim, when it is known.
    pub issuer: Option<String>,
    /// The `aud` claim: the app's client id at the issuer.
    pub audience: String,
    /// The `nonce` claim: the nonce of the sign-in request.
    pub nonce: String,
    /// Clock skew allowed for `exp`, `iat` and `nbf`.
    pub leeway: Duration,
}

/// The standard claims of a verified ID token, and all the others.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user.
    pub sub: String,
    /// Audience (one string or several).
    pub aud: Value,
    /// Expiry.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// The nonce of the sign-in request.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// Verifies `token`'s signature with the issuer's key named by its `kid`, and its `aud`,
/// `nonce`, `exp`, `iat` (not in the future) and `iss` (when expected).
pub fn verify_id_token(
    token: &str,
    keys: &IssuerKeys,
    expected: &Expected,
) -> Result<IdTokenClaims> {
    let fail = |what: String| Error::IdToken(what);
    let header = jsonwebtoken::decode_header(token).map_err(|e| fail(format!("header: {e}")))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(fail(format!("algorithm {:?} is not accepted", header.alg)));
    }
    let jwk = match &header.kid {
        Some(kid) => keys
            .set
            .find(kid)
            .ok_or_else(|| fail(format!("the issuer has no key `{kid}`")))?,
        None if keys.set.keys.len() == 1 => &keys.set.keys[0],
        None => {
            return Err(fail(
                "the token names no key and the issuer has several".into(),
            ));
        }
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| fail(format!("issuer key: {e}")))?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.leeway = expected.leeway.as_secs();
    validation.set_audience(&[&expected.audience]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    if let Some(issuer) = &expected.issuer {
        validation.set_issuer(&[issuer]);
    }
    let claims = jsonwebtoken::decode::<IdTokenClaims>(token, &key, &validation)
        .map_err(|e| fail(e.to_string()))?
        .claims;
    if claims.iat > now_secs() + expected.leeway.as_secs() {
        return Err(fail("iat is in the future".into()));
    }
    if claims.nonce.as_deref() != Some(expected.nonce.as_str()) {
        return Err(fail("the nonce is not the sign-in request's".into()));
    }
    Ok(claims)
}
