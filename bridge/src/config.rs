//! The bridge's TOML configuration (BRIDGE-SPEC.md) and its validation.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Public base URL; the `iss` of every ID token. `https` unless the host is loopback.
    pub issuer: String,
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The sealgate gateway's base URL.
    pub gateway: String,
    /// Gateway client credentials file (`sealgate register` format).
    pub credentials: PathBuf,
    /// Extra private JWK files of the website.
    #[serde(default)]
    pub key: Vec<PathBuf>,
    /// Registration token for the first-start registration, when the gateway needs one.
    #[serde(default)]
    pub registration_token: Option<Secret>,
    /// Private JWKS file for ID-token signing (generated when absent).
    pub signing_key: PathBuf,
    /// Lifetime of one sign-in (the gateway mailbox), in seconds.
    #[serde(default = "default_signin_ttl")]
    pub signin_ttl_secs: u64,
    /// The websites (OAuth clients) allowed to use the bridge.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Who may sign the ID tokens that phones seal.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuer>,
}

/// A string that never prints (no `Debug` of its value).
#[derive(Deserialize, Clone, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One website (OAuth client).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The OAuth `client_id`.
    pub client_id: String,
    /// The client secret in clear.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Hex SHA-256 of the client secret (instead of `client_secret`).
    #[serde(default)]
    pub client_secret_sha256: Option<String>,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Name shown on the sign-in page.
    pub name: String,
    /// Logo shown on the sign-in page: a `data:image/…` URI, or a path on the bridge's own
    /// origin (the page loads nothing from other origins).
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// Signing algorithm of this client's ID tokens.
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
}

impl ClientConfig {
    /// A client without a secret is public and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.client_secret.is_none() && self.client_secret_sha256.is_none()
    }
}

/// ID-token signing algorithm.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the Discovery-mandated default).
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

/// One trusted issuer of phone tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The issuer's `iss`.
    pub issuer: String,
    /// A local JWKS file.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL fetched with caching.
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

/// A configuration that cannot run, with the key at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// TOML syntax or type error.
    #[error("config: {0}")]
    Parse(String),
    /// A value is present but invalid.
    #[error("config: {key}: {reason}")]
    Invalid {
        /// The offending key.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000))
}

fn default_signin_ttl() -> u64 {
    120
}

fn invalid(key: impl Into<String>, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason,
    }
}

/// Whether `url` is `http://` to a loopback host (where `https` is not required).
pub fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl BridgeConfig {
    /// Parses and validates a configuration file's text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: URLs, uniqueness, one secret form, one JWKS source.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let issuer = &self.issuer;
        if !(issuer.starts_with("https://") || is_loopback_http(issuer)) {
            return Err(invalid(
                "issuer",
                "must be https unless the host is loopback",
            ));
        }
        if issuer.ends_with('/') || issuer.contains(['?', '#']) {
            return Err(invalid(
                "issuer",
                "must have no trailing slash, query or fragment",
            ));
        }
        if !(self.gateway.starts_with("https://") || self.gateway.starts_with("http://")) {
            return Err(invalid("gateway", "must be an http(s) URL"));
        }
        if !(10..=3600).contains(&self.signin_ttl_secs) {
            return Err(invalid("signin_ttl_secs", "must be between 10 and 3600"));
        }
        if self.clients.is_empty() {
            return Err(invalid(
                "clients",
                "at least one [[clients]] entry is needed",
            ));
        }
        for (i, client) in self.clients.iter().enumerate() {
            let key = |field: &str| format!("clients[{i}].{field}");
            if client.client_id.is_empty() {
                return Err(invalid(key("client_id"), "must not be empty"));
            }
            if self.clients[..i]
                .iter()
                .any(|c| c.client_id == client.client_id)
            {
                return Err(invalid(key("client_id"), "duplicate client_id"));
            }
            if client.client_secret.is_some() && client.client_secret_sha256.is_some() {
                return Err(invalid(
                    key("client_secret"),
                    "give client_secret or client_secret_sha256, not both",
                ));
            }
            if let Some(hash) = &client.client_secret_sha256
                && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(invalid(
                    key("client_secret_sha256"),
                    "must be 64 hex digits",
                ));
            }
            if client.redirect_uris.is_empty() {
                return Err(invalid(
                    key("redirect_uris"),
                    "at least one redirect URI is needed",
                ));
            }
            if let Some(logo) = &client.logo_uri
                && !(logo.starts_with("data:image/")
                    || (logo.starts_with('/') && !logo.starts_with("//")))
            {
                return Err(invalid(
                    key("logo_uri"),
                    "must be a data:image/ URI or a path on the bridge's own origin (the page loads nothing from other origins)",
                ));
            }
            for uri in &client.redirect_uris {
                let absolute = uri.starts_with("https://") || uri.starts_with("http://");
                if !absolute || uri.contains('#') {
                    return Err(invalid(
                        key("redirect_uris"),
                        "must be absolute http(s) URIs without fragment",
                    ));
                }
            }
        }
        if self.trusted_issuers.is_empty() {
            return Err(invalid(
                "trusted_issuers",
                "at least one [[trusted_issuers]] entry is needed",
            ));
        }
        for (i, trusted) in self.trusted_issuers.iter().enumerate() {
            if trusted.jwks_file.is_some() == trusted.jwks_uri.is_some() {
                return Err(invalid(
                    format!("trusted_issuers[{i}]"),
                    "give exactly one of jwks_file and jwks_uri",
                ));
            }
        }
        Ok(())
    }

    /// Replaces the top-level settings named by `SEALGATE_BRIDGE_*` variables (`var` reads one:
    /// `std::env::var` in the command, a table in tests): `ISSUER`, `LISTEN`, `GATEWAY`,
    /// `CREDENTIALS`, `KEY` (paths separated by `:`), `REGISTRATION_TOKEN`, `SIGNING_KEY`,
    /// `SIGNIN_TTL_SECS`. Clients and trusted issuers come from the file only.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| var(&format!("SEALGATE_BRIDGE_{name}")).filter(|v| !v.is_empty());
        if let Some(value) = get("ISSUER") {
            self.issuer = value;
        }
        if let Some(value) = get("LISTEN") {
            self.listen = value
                .parse()
                .map_err(|_| invalid("SEALGATE_BRIDGE_LISTEN", "must be an address:port"))?;
        }
        if let Some(value) = get("GATEWAY") {
            self.gateway = value;
        }
        if let Some(value) = get("CREDENTIALS") {
            self.credentials = value.into();
        }
        if let Some(value) = get("KEY") {
            self.key = value.split(':').map(PathBuf::from).collect();
        }
        if let Some(value) = get("REGISTRATION_TOKEN") {
            self.registration_token = Some(Secret(value));
        }
        if let Some(value) = get("SIGNING_KEY") {
            self.signing_key = value.into();
        }
        if let Some(value) = get("SIGNIN_TTL_SECS") {
            self.signin_ttl_secs = value
                .parse()
                .map_err(|_| invalid("SEALGATE_BRIDGE_SIGNIN_TTL_SECS", "must be a number"))?;
        }
        self.validate()
    }

    /// Parses a configuration file's text without validating it (the command applies the
    /// variables and flags first, then validates).
    pub fn parse_unvalidated(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_owned()))
    }

    /// The client with this `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }
}

/// The spec's example configuration, for unit tests here and beside.
#[cfg(test)]
pub(crate) const TEST_CONFIG: &str = r#"
issuer = "http://127.0.0.1:9000"
gateway = "http://127.0.0.1:8080"
credentials = "bridge-credentials.json"
signing_key = "bridge-signing.json"

[[clients]]
client_id = "flask-demo"
client_secret = "a-long-secret"
redirect_uris = ["http://127.0.0.1:5000/callback"]
name = "Flask demo"

[[trusted_issuers]]
issuer = "https://issuer.demo.invalid"
jwks_file = "issuer.jwks"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = TEST_CONFIG;

    fn with(replace: &str, by: &str) -> Result<BridgeConfig, ConfigError> {
        BridgeConfig::parse(&EXAMPLE.replace(replace, by))
    }

    #[test]
    fn example_parses_with_defaults() {
        let config = BridgeConfig::parse(EXAMPLE).unwrap();
        assert_eq!(config.listen, default_listen());
        assert_eq!(config.signin_ttl_secs, 120);
        let client = config.client("flask-demo").unwrap();
        assert!(!client.is_public());
        assert_eq!(client.id_token_signed_response_alg, SigningAlg::RS256);
        assert!(config.client("other").is_none());
    }

    #[test]
    fn secret_does_not_print() {
        let config = BridgeConfig::parse(EXAMPLE).unwrap();
        assert!(!format!("{config:?}").contains("a-long-secret"));
    }

    #[test]
    fn http_issuer_only_on_loopback() {
        let err = with("http://127.0.0.1:9000", "http://bridge.example").unwrap_err();
        assert_eq!(
            err,
            invalid("issuer", "must be https unless the host is loopback")
        );
        assert!(with("http://127.0.0.1:9000", "https://bridge.example").is_ok());
        assert!(with("http://127.0.0.1:9000", "http://localhost:9000").is_ok());
        assert!(with("http://127.0.0.1:9000", "http://[::1]:9000").is_ok());
        assert!(with("http://127.0.0.1:9000", "http://127.0.0.1.evil.example").is_err());
    }

    #[test]
    fn both_secret_forms_refused() {
        let hash = format!("client_secret_sha256 = \"{}\"\nname", "a".repeat(64));
        let err = with("name", &hash).unwrap_err();
        assert_eq!(
            err,
            invalid(
                "clients[0].client_secret",
                "give client_secret or client_secret_sha256, not both"
            )
        );
    }

    #[test]
    fn public_client_and_bad_redirect() {
        let public = with("client_secret = \"a-long-secret\"\n", "").unwrap();
        assert!(public.clients[0].is_public());
        let err = with("http://127.0.0.1:5000/callback", "/callback").unwrap_err();
        assert_eq!(
            err,
            invalid(
                "clients[0].redirect_uris",
                "must be absolute http(s) URIs without fragment"
            )
        );
    }

    #[test]
    fn trusted_issuer_needs_exactly_one_jwks_source() {
        let err = with("jwks_file = \"issuer.jwks\"", "").unwrap_err();
        assert_eq!(
            err,
            invalid(
                "trusted_issuers[0]",
                "give exactly one of jwks_file and jwks_uri"
            )
        );
    }

    #[test]
    fn variables_replace_file_settings() {
        let mut config = BridgeConfig::parse(TEST_CONFIG).unwrap();
        let vars = [
            ("SEALGATE_BRIDGE_LISTEN", "127.0.0.1:9100"),
            ("SEALGATE_BRIDGE_SIGNIN_TTL_SECS", "60"),
            ("SEALGATE_BRIDGE_KEY", "a.jwk:b.jwk"),
            ("SEALGATE_BRIDGE_ISSUER", ""),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        config.apply_env(lookup).unwrap();
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.signin_ttl_secs, 60);
        assert_eq!(config.key.len(), 2);
        assert_eq!(config.issuer, "http://127.0.0.1:9000");
        let bad = |name: &str| (name == "SEALGATE_BRIDGE_SIGNIN_TTL_SECS").then(|| "5".to_owned());
        assert!(config.apply_env(bad).is_err());
    }

    #[test]
    fn logo_must_not_load_from_another_origin() {
        let with_logo = |logo: &str| {
            BridgeConfig::parse(&TEST_CONFIG.replace(
                "name = \"Flask demo\"",
                &format!("name = \"Flask demo\"\nlogo_uri = \"{logo}\""),
            ))
        };
        assert!(with_logo("/static/logo.svg").is_ok());
        assert!(with_logo("data:image/png;base64,AAAA").is_ok());
        assert!(with_logo("https://cdn.example/logo.png").is_err());
        assert!(with_logo("//cdn.example/logo.png").is_err());
    }

    #[test]
    fn unknown_key_is_an_error() {
        assert!(matches!(
            with("signing_key", "signing_kee"),
            Err(ConfigError::Parse(_))
        ));
    }
}
