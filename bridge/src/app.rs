//! The running bridge: its configuration, its gateway client (loaded from the credentials
//! file, or registered on first start), its signing keys, its trusted issuers and its state.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sealgate_client::credentials::{self, CredentialsError};
use sealgate_client::sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_client::{AppClient, HttpClient, Registration};

use crate::config::BridgeConfig;
use crate::issuers::{PhoneTokenError, TrustedIssuers};
use crate::signing::{SigningKeyError, SigningKeys};
use crate::state::State;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The gateway credentials file.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// A `key` file.
    #[error("key file {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Registering at the gateway on first start.
    #[error("registering at the gateway {gateway}: {source}")]
    Register {
        /// The gateway.
        gateway: String,
        /// The SDK's error.
        source: sealgate_client::Error,
    },
    /// The signing keys.
    #[error(transparent)]
    SigningKey(#[from] SigningKeyError),
    /// A trusted issuer's `jwks_file`.
    #[error(transparent)]
    Issuer(#[from] PhoneTokenError),
    /// The HTTP client (TLS roots).
    #[error("HTTP client: {0}")]
    Http(sealgate_client::Error),
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Bridge {
    /// The configuration.
    pub config: BridgeConfig,
    /// The website's client at the gateway.
    pub gateway: AppClient,
    /// The ID-token signing keys.
    pub signing: SigningKeys,
    /// The issuers of phone tokens.
    pub issuers: TrustedIssuers,
    /// Sign-ins, codes and access tokens.
    pub state: State,
    /// Whether cookies carry `Secure` (always, except for an `http://` loopback issuer).
    pub secure_cookies: bool,
}

impl Bridge {
    /// Loads (or makes) the credentials and keys `config` names.
    pub async fn start(config: BridgeConfig) -> Result<Arc<Self>, StartError> {
        let http = HttpClient::new().map_err(StartError::Http)?;
        let extra_keys = config
            .key
            .iter()
            .map(|path| read_key(path))
            .collect::<Result<Vec<_>, _>>()?;
        let gateway = match credentials::load(&config.credentials, http.clone(), None) {
            Ok(app) => app,
            Err(CredentialsError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                register(&config, http.clone(), extra_keys.first()).await?
            }
            Err(other) => return Err(other.into()),
        };
        let gateway = with_extra_keys(gateway, http.clone(), extra_keys)?;
        let signing = SigningKeys::load_or_generate(&config.signing_key)?;
        let issuers = TrustedIssuers::load(http, &config.trusted_issuers)?;
        tracing::info!(
            gateway = gateway.gateway(),
            client_id = gateway.client_id(),
            issuer = %config.issuer,
            clients = config.clients.len(),
            trusted_issuers = config.trusted_issuers.len(),
            "bridge ready"
        );
        Ok(Arc::new(Self {
            secure_cookies: !crate::config::is_loopback_http(&config.issuer),
            config,
            gateway,
            signing,
            issuers,
            state: State::default(),
        }))
    }

    /// The issuer URL without a trailing slash, to build endpoint URLs on.
    pub fn base(&self) -> &str {
        self.config.issuer.trim_end_matches('/')
    }

    /// How long one sign-in (the gateway mailbox) lives.
    pub fn signin_ttl(&self) -> Duration {
        Duration::from_secs(self.config.signin_ttl_secs)
    }
}

/// Registers at the gateway with the first `key` file's key, or a new one, and saves the
/// credentials where the configuration says.
async fn register(
    config: &BridgeConfig,
    http: HttpClient,
    key: Option<&PrivateKey>,
) -> Result<AppClient, StartError> {
    let key = match key {
        Some(key) => PrivateKey::from_jwk_json(&key.to_jwk_json()).expect("a key's own JWK"),
        None => PrivateKey::generate(Algorithm::default()),
    };
    let options = Registration {
        registration_token: config.registration_token.as_ref().map(|t| t.0.clone()),
        webhook_url: None,
    };
    let name = format!("sealgate bridge {}", config.issuer);
    let app = AppClient::register_with(http, &config.gateway, &name, key, &options)
        .await
        .map_err(|source| StartError::Register {
            gateway: config.gateway.clone(),
            source,
        })?;
    credentials::save(&app, &config.credentials, false)?;
    tracing::info!(
        credentials = %config.credentials.display(),
        client_id = app.client_id(),
        "registered at the gateway; credentials saved"
    );
    Ok(app)
}

/// `app` able to open envelopes sealed to `extra` keys too (listed after its own).
fn with_extra_keys(
    app: AppClient,
    http: HttpClient,
    extra: Vec<PrivateKey>,
) -> Result<AppClient, StartError> {
    let mut keys: Vec<PrivateKey> = app
        .keys()
        .iter()
        .map(|key| PrivateKey::from_jwk_json(&key.to_jwk_json()).expect("a key's own JWK"))
        .collect();
    for key in extra {
        let thumbprint = key.public_key().thumbprint().to_owned();
        if !keys
            .iter()
            .any(|k| k.public_key().thumbprint() == thumbprint)
        {
            keys.push(key);
        }
    }
    let rebuilt = AppClient::from_credentials(
        http,
        app.gateway(),
        app.client_id(),
        app.client_secret(),
        keys,
    )
    .map_err(StartError::Http)?;
    Ok(rebuilt.with_webhook_secret(app.webhook_secret().map(str::to_owned)))
}

/// A private JWK file from `sealgate keygen`.
fn read_key(path: &Path) -> Result<PrivateKey, StartError> {
    let failed = |reason: String| StartError::Key {
        path: path.display().to_string(),
        reason,
    };
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?);
    PrivateKey::from_jwk_json(&text).map_err(|e| failed(e.to_string()))
}
