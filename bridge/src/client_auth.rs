//! Token-endpoint client authentication: `client_secret_basic`, `client_secret_post`, `none`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ClientConfig;

/// Credentials a `/token` request presented.
#[derive(PartialEq, Eq)]
pub struct PresentedClient {
    /// The `client_id`.
    pub client_id: String,
    /// The secret, if any (`None` = the `none` method).
    pub secret: Option<String>,
}

impl std::fmt::Debug for PresentedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Why client authentication failed (all are `invalid_client` on the wire).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientAuthError {
    /// Malformed `Authorization: Basic` header.
    #[error("malformed Basic credentials")]
    MalformedBasic,
    /// Both the header and body credentials, or none at all.
    #[error("exactly one client authentication method must be used")]
    AmbiguousOrMissing,
    /// The secret is wrong, missing for a confidential client, or given to a public one.
    #[error("client authentication failed")]
    Failed,
}

/// Extracts the client credentials from the `Authorization` header and the form body
/// (RFC 6749 §2.3.1: Basic user and password are form-urlencoded first).
pub fn presented(
    authorization: Option<&str>,
    body_client_id: Option<&str>,
    body_secret: Option<&str>,
) -> Result<PresentedClient, ClientAuthError> {
    match (authorization, body_secret) {
        (Some(header), None) => {
            let encoded = header
                .strip_prefix("Basic ")
                .ok_or(ClientAuthError::MalformedBasic)?;
            let decoded = STANDARD
                .decode(encoded.trim())
                .map_err(|_| ClientAuthError::MalformedBasic)?;
            let text = String::from_utf8(decoded).map_err(|_| ClientAuthError::MalformedBasic)?;
            let (id, secret) = text
                .split_once(':')
                .ok_or(ClientAuthError::MalformedBasic)?;
            let unescape = |s: &str| {
                form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            let client_id = unescape(id).ok_or(ClientAuthError::MalformedBasic)?;
            if body_client_id.is_some_and(|b| b != client_id) {
                return Err(ClientAuthError::AmbiguousOrMissing);
            }
            Ok(PresentedClient {
                client_id,
                secret: unescape(secret),
            })
        }
        (None, secret) => {
            let client_id = body_client_id.ok_or(ClientAuthError::AmbiguousOrMissing)?;
            Ok(PresentedClient {
                client_id: client_id.to_owned(),
                secret: secret.map(str::to_owned),
            })
        }
        (Some(_), Some(_)) => Err(ClientAuthError::AmbiguousOrMissing),
    }
}

/// Checks presented credentials against the configured client, in constant time.
pub fn authenticate(
    client: &ClientConfig,
    presented: &PresentedClient,
) -> Result<(), ClientAuthError> {
    let expected: Option<[u8; 32]> = match (&client.client_secret, &client.client_secret_sha256) {
        (Some(secret), _) => Some(Sha256::digest(secret.0.as_bytes()).into()),
        (None, Some(hex)) => Some(decode_hex(hex).ok_or(ClientAuthError::Failed)?),
        (None, None) => None,
    };
    match (expected, &presented.secret) {
        (None, None) => Ok(()),
        (Some(expected), Some(given)) => {
            let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
            if bool::from(given.ct_eq(&expected)) {
                Ok(())
            } else {
                Err(ClientAuthError::Failed)
            }
        }
        _ => Err(ClientAuthError::Failed),
    }
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, SigningAlg};

    fn client(secret: Option<&str>, sha: Option<String>) -> ClientConfig {
        ClientConfig {
            client_id: "site".into(),
            client_secret: secret.map(|s| Secret(s.into())),
            client_secret_sha256: sha,
            redirect_uris: vec!["https://site.example/cb".into()],
            name: "Site".into(),
            logo_uri: None,
            id_token_signed_response_alg: SigningAlg::RS256,
        }
    }

    #[test]
    fn basic_is_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my+site%3A1:s%26cret"));
        let got = presented(Some(&header), None, None).unwrap();
        assert_eq!(got.client_id, "my site:1");
        assert_eq!(got.secret.as_deref(), Some("s&cret"));
    }

    #[test]
    fn both_methods_at_once_refused() {
        let header = format!("Basic {}", STANDARD.encode("site:x"));
        assert_eq!(
            presented(Some(&header), Some("site"), Some("x")),
            Err(ClientAuthError::AmbiguousOrMissing)
        );
        assert_eq!(
            presented(None, None, None),
            Err(ClientAuthError::AmbiguousOrMissing)
        );
        assert_eq!(
            presented(Some("Bearer x"), None, None),
            Err(ClientAuthError::MalformedBasic)
        );
    }

    #[test]
    fn secret_and_hash_forms_check() {
        let good = PresentedClient {
            client_id: "site".into(),
            secret: Some("a-long-secret".into()),
        };
        let bad = PresentedClient {
            client_id: "site".into(),
            secret: Some("wrong".into()),
        };
        let none = PresentedClient {
            client_id: "site".into(),
            secret: None,
        };
        let clear = client(Some("a-long-secret"), None);
        assert_eq!(authenticate(&clear, &good), Ok(()));
        assert_eq!(authenticate(&clear, &bad), Err(ClientAuthError::Failed));
        assert_eq!(authenticate(&clear, &none), Err(ClientAuthError::Failed));
        let hex: String = Sha256::digest(b"a-long-secret")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hashed = client(None, Some(hex));
        assert_eq!(authenticate(&hashed, &good), Ok(()));
        assert_eq!(authenticate(&hashed, &bad), Err(ClientAuthError::Failed));
        let public = client(None, None);
        assert_eq!(authenticate(&public, &none), Ok(()));
        assert_eq!(authenticate(&public, &good), Err(ClientAuthError::Failed));
    }

    #[test]
    fn debug_hides_secret() {
        let good = PresentedClient {
            client_id: "site".into(),
            secret: Some("a-long-secret".into()),
        };
        assert!(!format!("{good:?}").contains("a-long-secret"));
    }
}
