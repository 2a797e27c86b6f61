//! The issuers trusted to sign the ID tokens phones seal: their keys (a file, or a URL
//! fetched once, cached, and fetched again when a token names a key the cache lacks, at most
//! once a minute), and verification of a phone's token against them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sealgate_client::{Expected, HttpClient, IdTokenClaims, IssuerKeys, verify_id_token};
use tokio::sync::Mutex;

use crate::config::TrustedIssuer;

/// The shortest time between two fetches of one issuer's keys.
const MIN_REFETCH: Duration = Duration::from_secs(60);
/// Clock skew allowed on the phone token's `exp` and `iat`.
const LEEWAY: Duration = Duration::from_secs(30);

/// Why a phone's token was refused. Shown in the log, never with the token.
#[derive(Debug, thiserror::Error)]
pub enum PhoneTokenError {
    /// The token is not a JWS with a JSON payload naming its issuer.
    #[error("not a signed JWT with an `iss`")]
    Malformed,
    /// Its issuer is not in `trusted_issuers`.
    #[error("issuer `{0}` is not trusted")]
    UntrustedIssuer(String),
    /// The issuer's keys could not be had.
    #[error("keys of `{issuer}`: {reason}")]
    Keys {
        /// The issuer.
        issuer: String,
        /// What failed.
        reason: String,
    },
    /// Signature, audience, nonce or time checks failed.
    #[error("{0}")]
    Invalid(String),
}

/// Where one issuer's keys come from, and what is cached of them.
#[derive(Debug)]
enum Source {
    File(IssuerKeys),
    Url {
        url: String,
        cached: Mutex<Option<(IssuerKeys, Instant)>>,
    },
}

/// The trusted issuers, by `iss`.
pub struct TrustedIssuers {
    http: HttpClient,
    issuers: HashMap<String, Source>,
    min_refetch: Duration,
}

impl std::fmt::Debug for TrustedIssuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedIssuers")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl TrustedIssuers {
    /// Reads the `jwks_file` of each issuer now; `jwks_uri` keys are fetched on first use.
    pub fn load(http: HttpClient, configured: &[TrustedIssuer]) -> Result<Self, PhoneTokenError> {
        let mut issuers = HashMap::new();
        for trusted in configured {
            let keys_error = |reason: String| PhoneTokenError::Keys {
                issuer: trusted.issuer.clone(),
                reason,
            };
            let source = match (&trusted.jwks_file, &trusted.jwks_uri) {
                (Some(file), _) => {
                    let text = std::fs::read_to_string(file)
                        .map_err(|e| keys_error(format!("{}: {e}", file.display())))?;
                    Source::File(
                        IssuerKeys::from_json(&text).map_err(|e| keys_error(e.to_string()))?,
                    )
                }
                (None, Some(url)) => Source::Url {
                    url: url.clone(),
                    cached: Mutex::new(None),
                },
                (None, None) => return Err(keys_error("neither jwks_file nor jwks_uri".into())),
            };
            issuers.insert(trusted.issuer.clone(), source);
        }
        Ok(Self {
            http,
            issuers,
            min_refetch: MIN_REFETCH,
        })
    }

    /// The same issuers, fetching keys again at most once per `interval` (a minute by default).
    pub fn with_min_refetch(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    /// Verifies `token` as an ID token from a trusted issuer for `audience` (the bridge's
    /// gateway client id) carrying `nonce` (the sign-in request's).
    pub async fn verify(
        &self,
        token: &str,
        audience: &str,
        nonce: &str,
    ) -> Result<IdTokenClaims, PhoneTokenError> {
        let issuer = unverified_issuer(token).ok_or(PhoneTokenError::Malformed)?;
        let source = self
            .issuers
            .get(&issuer)
            .ok_or_else(|| PhoneTokenError::UntrustedIssuer(issuer.clone()))?;
        let expected = Expected {
            issuer: Some(issuer.clone()),
            audience: audience.to_owned(),
            nonce: nonce.to_owned(),
            leeway: LEEWAY,
        };
        let check = |keys: &IssuerKeys| {
            verify_id_token(token, keys, &expected)
                .map_err(|e| PhoneTokenError::Invalid(e.to_string()))
        };
        match source {
            Source::File(keys) => check(keys),
            Source::Url { url, cached } => {
                let mut cached = cached.lock().await;
                if let Some((keys, _)) = cached.as_ref()
                    && keys.has_key_for(token)
                {
                    return check(keys);
                }
                let recently = cached
                    .as_ref()
                    .is_some_and(|(_, fetched)| fetched.elapsed() < self.min_refetch);
                if !recently {
                    let keys = IssuerKeys::fetch(&self.http, url).await.map_err(|e| {
                        PhoneTokenError::Keys {
                            issuer: issuer.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    *cached = Some((keys, Instant::now()));
                }
                check(&cached.as_ref().expect("fetched above").0)
            }
        }
    }
}

/// The `iss` of a compact JWS, read without verifying it (to choose the keys to verify with).
fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    claims["iss"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate_client::testing::TestIssuer;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn trusted(issuer: &TestIssuer) -> TrustedIssuers {
        let file = std::env::temp_dir().join(format!(
            "sealgate-issuer-{}-{}.json",
            std::process::id(),
            issuer.issuer().len()
        ));
        std::fs::write(&file, issuer.jwks().to_string()).unwrap();
        let loaded = TrustedIssuers::load(
            HttpClient::new().unwrap(),
            &[TrustedIssuer {
                issuer: issuer.issuer().into(),
                jwks_file: Some(file.clone()),
                jwks_uri: None,
            }],
        )
        .unwrap();
        std::fs::remove_file(file).unwrap();
        loaded
    }

    /// Serves `jwks()` as `GET /jwks` on loopback, counting the fetches.
    async fn serve_jwks(jwks: Arc<std::sync::Mutex<String>>, fetches: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                fetches.fetch_add(1, Ordering::SeqCst);
                let body = jwks.lock().unwrap().clone();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn jwks_uri_is_cached_and_fetched_again_for_an_unknown_kid() {
        let old = TestIssuer::generate("https://id.example").unwrap();
        let new = TestIssuer::generate("https://id.example").unwrap();
        let served = Arc::new(std::sync::Mutex::new(old.jwks().to_string()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let url = serve_jwks(served.clone(), fetches.clone()).await;
        let trusted = [TrustedIssuer {
            issuer: "https://id.example".into(),
            jwks_file: None,
            jwks_uri: Some(url),
        }];
        let issuers = TrustedIssuers::load(HttpClient::new().unwrap(), &trusted)
            .unwrap()
            .with_min_refetch(Duration::ZERO);
        for _ in 0..3 {
            let token = old.sign_id_token("alice", "gw", "n").unwrap();
            issuers.verify(&token, "gw", "n").await.unwrap();
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "cached after the first fetch"
        );

        // The issuer rotates: a token under the new key makes the bridge fetch once more.
        *served.lock().unwrap() = new.jwks().to_string();
        let token = new.sign_id_token("alice", "gw", "n").unwrap();
        issuers.verify(&token, "gw", "n").await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);

        // Within the refetch interval an unknown key is refused without a fetch.
        let limited = TrustedIssuers::load(HttpClient::new().unwrap(), &trusted).unwrap();
        *served.lock().unwrap() = old.jwks().to_string();
        limited
            .verify(&old.sign_id_token("a", "gw", "n").unwrap(), "gw", "n")
            .await
            .unwrap();
        let refused = limited
            .verify(&new.sign_id_token("a", "gw", "n").unwrap(), "gw", "n")
            .await;
        assert!(
            matches!(refused, Err(PhoneTokenError::Invalid(_))),
            "{refused:?}"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn trusted_token_verifies_and_others_are_refused() {
        let phone_issuer = TestIssuer::generate("https://id.example").unwrap();
        let issuers = trusted(&phone_issuer);
        let good = phone_issuer
            .sign_id_token("alice", "gw-client", "n1")
            .unwrap();
        let claims = issuers.verify(&good, "gw-client", "n1").await.unwrap();
        assert_eq!(claims.sub, "alice");

        let wrong_nonce = issuers.verify(&good, "gw-client", "n2").await;
        assert!(
            matches!(wrong_nonce, Err(PhoneTokenError::Invalid(_))),
            "{wrong_nonce:?}"
        );
        let wrong_audience = issuers.verify(&good, "other", "n1").await;
        assert!(matches!(wrong_audience, Err(PhoneTokenError::Invalid(_))));

        let stranger = TestIssuer::generate("https://evil.example").unwrap();
        let foreign = stranger.sign_id_token("alice", "gw-client", "n1").unwrap();
        assert!(matches!(
            issuers.verify(&foreign, "gw-client", "n1").await,
            Err(PhoneTokenError::UntrustedIssuer(_))
        ));

        // A stranger's key under the trusted issuer's name.
        let impostor = TestIssuer::generate("https://id.example").unwrap();
        let forged = impostor.sign_id_token("alice", "gw-client", "n1").unwrap();
        assert!(matches!(
            issuers.verify(&forged, "gw-client", "n1").await,
            Err(PhoneTokenError::Invalid(_))
        ));
        assert!(matches!(
            issuers.verify("a.b", "gw-client", "n1").await,
            Err(PhoneTokenError::Malformed)
        ));
    }
}
