//! Client authentication (`client_secret_basic`, RFC 6749 §2.3.1) and the registration token.
//!
//! Client secrets are 256 random bits made by the gateway, so the store keeps a SHA-256 of the
//! secret and compares in constant time: a slow password hash would protect nothing more for
//! such a secret and would cost milliseconds on every request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// Client id and secret as presented in `Authorization: Basic`.
pub(crate) struct BasicCredentials {
    /// The client id.
    pub client_id: String,
    secret: zeroize::Zeroizing<String>,
}

impl BasicCredentials {
    /// Reads `Authorization: Basic …`; `InvalidClient` when absent or malformed.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(ApiError::InvalidClient)?;
        let (scheme, encoded) = value.split_once(' ').ok_or(ApiError::InvalidClient)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(ApiError::InvalidClient);
        }
        let decoded = zeroize::Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| ApiError::InvalidClient)?,
        );
        let decoded = std::str::from_utf8(&decoded).map_err(|_| ApiError::InvalidClient)?;
        let (id, secret) = decoded.split_once(':').ok_or(ApiError::InvalidClient)?;
        Ok(Self {
            client_id: percent_decode(id).ok_or(ApiError::InvalidClient)?,
            secret: zeroize::Zeroizing::new(percent_decode(secret).ok_or(ApiError::InvalidClient)?),
        })
    }

    /// Whether the secret matches `stored_hash` (what [`hash_secret`] made of the real one);
    /// constant time in the secret.
    pub(crate) fn matches(&self, stored_hash: &str) -> bool {
        let presented = hash_secret(&self.secret);
        presented.as_bytes().ct_eq(stored_hash.as_bytes()).into()
    }

    /// Burns the same time as a real comparison, for unknown client ids.
    pub(crate) fn compare_with_nothing(&self) {
        let _ = hash_secret(&self.secret);
    }
}

/// The form a client secret is stored in: base64url(SHA-256(secret)).
pub(crate) fn hash_secret(secret: &str) -> String {
    sealgate_crypto::base64url::encode(Sha256::digest(secret.as_bytes()))
}

/// Checks `Authorization: Bearer <token>` against the configured registration token. An empty
/// token (`Bearer ` with nothing, or only spaces, after it) is refused whatever is configured.
pub(crate) fn check_bearer(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let presented = bearer_token(headers)
        .filter(|_| !expected.is_empty())
        .ok_or(ApiError::InvalidRegistrationToken)?;
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    if bool::from(presented.as_slice().ct_eq(expected.as_slice())) {
        Ok(())
    } else {
        Err(ApiError::InvalidRegistrationToken)
    }
}

/// The token of `Authorization: Bearer <token>`, without the spaces around it; `None` when the
/// header is absent, of another scheme, or carries no token.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// `application/x-www-form-urlencoded` decoding of one credential, as RFC 6749 §2.3.1 asks.
fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_basic_credentials() {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode("my%20id:s3cr%3At"));
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        let credentials = BasicCredentials::from_headers(&headers).unwrap();
        assert_eq!(credentials.client_id, "my id");
        assert_eq!(credentials.secret.as_str(), "s3cr:t");
    }

    #[test]
    fn bearer_token_must_match() {
        let mut headers = HeaderMap::new();
        assert!(check_bearer(&headers, "t0ken").is_err());
        headers.insert(header::AUTHORIZATION, "Bearer t0ken".parse().unwrap());
        assert!(check_bearer(&headers, "t0ken").is_ok());
        assert!(check_bearer(&headers, "other").is_err());
    }

    #[test]
    fn an_empty_bearer_token_never_matches() {
        for presented in ["Bearer ", "Bearer  ", "Bearer \t", "bearer"] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, presented.parse().unwrap());
            assert!(check_bearer(&headers, "").is_err(), "{presented:?}");
            assert!(check_bearer(&headers, "t0ken").is_err(), "{presented:?}");
        }
    }
}
