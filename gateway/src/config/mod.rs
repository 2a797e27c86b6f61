//! The gateway's configuration: defaults, an optional TOML file, `SEALGATE_*` variables and
//! flags, each overriding the one before ([`settings`] lists every setting once).

mod otel;
mod push;
pub mod settings;

pub use otel::OtelConfig;
pub use push::{DEFAULT_DEVICE_IDLE_SECS, PushConfig};

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The shortest registration token accepted: 32 characters (`openssl rand -hex 32` gives 64).
pub const MIN_REGISTRATION_TOKEN_LEN: usize = 32;

/// The smallest `limits.max_header_bytes`: hyper's smallest HTTP/1.1 read buffer.
pub const MIN_HEADER_BYTES: usize = 8192;

/// Everything `sealgate serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the API listener.
    pub listen: SocketAddr,
    /// Address of the Prometheus metrics listener.
    pub metrics_listen: SocketAddr,
    /// `memory`, `redis://…`, `rediss://…` or `redis+cluster://h1:p1,h2:p2,…`.
    pub store: String,
    /// Key prefix in Redis, so that several deployments can share one.
    pub redis_prefix: String,
    /// The base URL phones reach this gateway at, written into sign-in requests. Defaults to
    /// `http(s)://` + the listen address.
    pub public_url: Option<String>,
    /// PEM certificate chain; with `tls_key`, the API listener speaks TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How often the certificate and key files are checked for a change (modification time,
    /// length, inode) and reloaded, seconds; 0 reloads on SIGHUP only.
    pub tls_reload_secs: u64,
    /// When set, `POST /v1/clients` requires `Authorization: Bearer <token>`; at least
    /// [`MIN_REGISTRATION_TOKEN_LEN`] characters.
    pub registration_token: Option<Secret>,
    /// Let anyone register clients on a non-loopback listener without a registration token
    /// (logged as a warning at start). Without it, such a gateway refuses to start.
    pub open_registration: bool,
    /// Limits and timeouts.
    pub limits: Limits,
    /// Webhook delivery.
    pub webhooks: WebhookConfig,
    /// OpenTelemetry trace export.
    pub otel: OtelConfig,
    /// Push notifications for one-click sign-in.
    pub push: PushConfig,
    /// Address ranges (`10.0.0.0/8`, `2001:db8::/32`, a bare address) of load balancers or
    /// proxies whose client-address claims are believed: their `Forwarded` /
    /// `X-Forwarded-For` headers, and with `proxy_protocol` their PROXY v2 header. Empty:
    /// every client is its TCP peer.
    pub trusted_proxies: Vec<String>,
    /// Connections from `trusted_proxies` start with a PROXY protocol v2 header (one without
    /// it is closed); connections from other peers are served as they are.
    pub proxy_protocol: bool,
}

/// Webhook delivery settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Deliver webhooks at all.
    pub enabled: bool,
    /// Allow `http://` webhook URLs.
    pub allow_insecure: bool,
    /// Allow webhook hosts that resolve to loopback, private or link-local addresses, on any
    /// port.
    pub allow_private: bool,
    /// The ports webhook URLs may name while private targets are not allowed.
    pub allowed_ports: Vec<u16>,
    /// Attempts in flight on this instance.
    pub concurrency: usize,
    /// Attempts in flight per endpoint host on this instance.
    pub per_endpoint: usize,
    /// How long a rotated-out signing secret keeps signing, seconds.
    pub secret_overlap_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_insecure: false,
            allow_private: false,
            allowed_ports: crate::webhook::ssrf::DEFAULT_ALLOWED_PORTS.to_vec(),
            concurrency: 64,
            per_endpoint: 4,
            secret_overlap_secs: 24 * 60 * 60,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            store: "memory".to_owned(),
            redis_prefix: "sealgate:".to_owned(),
            public_url: None,
            tls_cert: None,
            tls_key: None,
            tls_reload_secs: 5,
            registration_token: None,
            open_registration: false,
            limits: Limits::default(),
            webhooks: WebhookConfig::default(),
            otel: OtelConfig::default(),
            push: PushConfig::default(),
            trusted_proxies: Vec::new(),
            proxy_protocol: false,
        }
    }
}

/// Limits that keep one client or one address from exhausting the gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, checked before buffering.
    pub max_body_bytes: usize,
    /// Mailbox TTL when the request names none, seconds.
    pub default_ttl_secs: u64,
    /// Largest mailbox TTL, seconds.
    pub max_ttl_secs: u64,
    /// Mailboxes one client may have open at once.
    pub max_open_mailboxes_per_client: usize,
    /// Longest long-poll wait, seconds.
    pub max_wait_secs: u64,
    /// Long-polls one client may have waiting at once on this instance.
    pub max_waiters_per_client: usize,
    /// Long-polls all clients together may have waiting at once on this instance (0 turns
    /// the cap off).
    pub max_waiters: usize,
    /// Registered clients the gateway keeps at most (0 turns the cap off).
    pub max_clients: u64,
    /// Client registrations per minute from one IP address (0 turns the limit off).
    pub registrations_per_ip_per_min: u32,
    /// Registration burst from one IP address.
    pub registration_burst_per_ip: u32,
    /// Deposits per second from one IP address (0 turns the limit off).
    pub deposits_per_ip_per_sec: u32,
    /// Deposit burst from one IP address.
    pub deposit_burst_per_ip: u32,
    /// Mailboxes opened per second by one client (0 turns the limit off).
    pub mailboxes_per_client_per_sec: u32,
    /// Mailbox-opening burst for one client.
    pub mailbox_burst_per_client: u32,
    /// Time allowed to receive a request's headers, seconds.
    pub header_read_timeout_secs: u64,
    /// Time allowed to receive a request's body, seconds.
    pub body_read_timeout_secs: u64,
    /// Time in-flight requests get to finish on shutdown, seconds.
    pub shutdown_grace_secs: u64,
    /// Open connections on the API listener at most (0 turns the cap off); past it a new
    /// connection is closed at once.
    pub max_connections: usize,
    /// Open connections from one client address (one IPv6 prefix) at most (0 turns the cap
    /// off). Enough for an app backend holding its `max_waiters_per_client` long-polls over
    /// HTTP/1.1, one connection each, and its other requests.
    pub max_connections_per_ip: usize,
    /// An HTTP/2 connection with no open stream for this long is closed (GOAWAY), seconds.
    pub http2_idle_timeout_secs: u64,
    /// Largest request head: HTTP/1.1 read buffer (a longer head is answered 431) and
    /// HTTP/2 header list, bytes; at least 8192.
    pub max_header_bytes: usize,
    /// IPv6 clients are counted, in rate limits and connection caps, by this many leading
    /// bits of their address (one subscriber usually holds a /64).
    pub ipv6_prefix_len: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024,
            default_ttl_secs: 120,
            max_ttl_secs: 600,
            max_open_mailboxes_per_client: 1_000,
            max_wait_secs: 60,
            max_waiters_per_client: 1_000,
            max_waiters: 10_000,
            max_clients: 10_000,
            registrations_per_ip_per_min: 10,
            registration_burst_per_ip: 10,
            deposits_per_ip_per_sec: 20,
            deposit_burst_per_ip: 40,
            mailboxes_per_client_per_sec: 50,
            mailbox_burst_per_client: 100,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 10,
            shutdown_grace_secs: 10,
            max_connections: 10_000,
            max_connections_per_ip: 2_000,
            http2_idle_timeout_secs: 30,
            max_header_bytes: 16 * 1024,
            ipv6_prefix_len: 64,
        }
    }
}

impl Limits {
    /// [`Limits::header_read_timeout_secs`] as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }
    /// [`Limits::http2_idle_timeout_secs`] as a duration.
    pub fn http2_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.http2_idle_timeout_secs)
    }
    /// [`Limits::body_read_timeout_secs`] as a duration.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }
}

impl Config {
    /// [`Config::tls_reload_secs`] as a poll interval; `None` when polling is off.
    pub fn tls_reload_interval(&self) -> Option<Duration> {
        (self.tls_reload_secs > 0).then(|| Duration::from_secs(self.tls_reload_secs))
    }

    /// Checks the values that cannot be checked by their type.
    pub fn validate(&self) -> anyhow::Result<()> {
        let limits = &self.limits;
        anyhow::ensure!(
            limits.max_ttl_secs >= 1,
            "limits.max_ttl_secs must be at least 1"
        );
        anyhow::ensure!(
            (1..=limits.max_ttl_secs).contains(&limits.default_ttl_secs),
            "limits.default_ttl_secs must be between 1 and limits.max_ttl_secs"
        );
        anyhow::ensure!(
            limits.max_body_bytes >= sealgate_crypto::MAX_ENVELOPE_LEN,
            "limits.max_body_bytes must be at least {} (the largest envelope)",
            sealgate_crypto::MAX_ENVELOPE_LEN
        );
        anyhow::ensure!(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "tls_cert and tls_key go together"
        );
        self.validate_registration()?;
        self.validate_connections()?;
        anyhow::ensure!(
            !self.webhooks.allowed_ports.is_empty() && !self.webhooks.allowed_ports.contains(&0),
            "webhooks.allowed_ports must name at least one port, and not 0"
        );
        if let Some(endpoint) = &self.otel.endpoint {
            anyhow::ensure!(
                endpoint.starts_with("https://") || endpoint.starts_with("http://"),
                "otel.endpoint must start with https:// or http://"
            );
        }
        self.push.validate()?;
        if let Some(url) = &self.public_url {
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "public_url must start with https:// or http://"
            );
        }
        Ok(())
    }

    /// Registration is safe by default: a token, when set, is long enough, and a listener
    /// others can reach needs a token unless open registration is asked for.
    fn validate_registration(&self) -> anyhow::Result<()> {
        if let Some(token) = &self.registration_token {
            anyhow::ensure!(
                token.expose().trim().chars().count() >= MIN_REGISTRATION_TOKEN_LEN,
                "registration_token must be at least {MIN_REGISTRATION_TOKEN_LEN} characters \
                 (make one with `openssl rand -hex 32`)"
            );
        } else {
            anyhow::ensure!(
                self.listen.ip().is_loopback() || self.open_registration,
                "listening on {} without a registration token would let anyone register \
                 clients: set registration_token (--registration-token, \
                 SEALGATE_REGISTRATION_TOKEN), or allow it explicitly with open_registration \
                 (--open-registration, SEALGATE_OPEN_REGISTRATION)",
                self.listen
            );
        }
        Ok(())
    }

    /// Connection limits and client addresses.
    fn validate_connections(&self) -> anyhow::Result<()> {
        let limits = &self.limits;
        anyhow::ensure!(
            limits.max_header_bytes >= MIN_HEADER_BYTES
                && u32::try_from(limits.max_header_bytes).is_ok(),
            "limits.max_header_bytes must be between {MIN_HEADER_BYTES} and {}",
            u32::MAX
        );
        anyhow::ensure!(
            (1..=128).contains(&limits.ipv6_prefix_len),
            "limits.ipv6_prefix_len must be between 1 and 128"
        );
        anyhow::ensure!(
            limits.http2_idle_timeout_secs >= 1,
            "limits.http2_idle_timeout_secs must be at least 1"
        );
        anyhow::ensure!(
            !self.proxy_protocol || !self.trusted_proxies.is_empty(),
            "proxy_protocol needs trusted_proxies: the ranges whose PROXY headers are believed"
        );
        crate::client_addr::TrustedProxies::parse(&self.trusted_proxies)?;
        Ok(())
    }

    /// Whether anyone may register clients (no registration token is set).
    pub fn registration_is_open(&self) -> bool {
        self.registration_token.is_none()
    }

    /// The base URL written into sign-in requests.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}", self.listen)
            }
        }
    }
}

/// A configured secret: compared, never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The value, for comparison.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening_on(address: &str) -> Config {
        Config {
            listen: address.parse().unwrap(),
            ..Config::default()
        }
    }

    /// Loopback listeners may go without a token; any other needs one or open registration.
    #[test]
    fn registration_needs_a_token_off_loopback() {
        for address in ["127.0.0.1:8080", "127.9.9.9:0", "[::1]:8080"] {
            assert!(listening_on(address).validate().is_ok(), "{address}");
        }
        for address in [
            "0.0.0.0:8080",
            "[::]:8080",
            "10.0.0.5:8080",
            "192.0.2.1:443",
        ] {
            let error = listening_on(address).validate().unwrap_err().to_string();
            assert!(error.contains("--open-registration"), "{address}: {error}");
            let open = Config {
                open_registration: true,
                ..listening_on(address)
            };
            assert!(open.validate().is_ok(), "{address}");
            let closed = Config {
                registration_token: Some(Secret::new("x".repeat(MIN_REGISTRATION_TOKEN_LEN))),
                ..listening_on(address)
            };
            assert!(closed.validate().is_ok(), "{address}");
        }
    }

    /// A token under 32 characters (spaces around it not counted) is refused, wherever the
    /// gateway listens.
    #[test]
    fn short_tokens_are_refused() {
        for token in ["", " ", "let-me-in", &format!(" {} ", "x".repeat(31))] {
            let config = Config {
                registration_token: Some(Secret::new(token.to_owned())),
                ..Config::default()
            };
            let error = config.validate().unwrap_err().to_string();
            assert!(
                error.contains("at least 32 characters"),
                "{token:?}: {error}"
            );
        }
    }

    #[test]
    fn webhook_ports_must_be_named() {
        let mut config = Config::default();
        config.webhooks.allowed_ports.clear();
        assert!(config.validate().is_err());
        config.webhooks.allowed_ports = vec![0];
        assert!(config.validate().is_err());
        config.webhooks.allowed_ports = vec![443];
        assert!(config.validate().is_ok());
    }

    #[test]
    fn connection_settings_are_checked() {
        let check = |edit: fn(&mut Config)| {
            let mut config = Config::default();
            edit(&mut config);
            config.validate().map_err(|error| error.to_string())
        };
        assert!(check(|_| ()).is_ok());
        assert!(
            check(|c| c.limits.max_header_bytes = 8191)
                .unwrap_err()
                .contains("max_header_bytes")
        );
        assert!(
            check(|c| c.limits.ipv6_prefix_len = 0)
                .unwrap_err()
                .contains("ipv6_prefix_len")
        );
        assert!(check(|c| c.limits.ipv6_prefix_len = 129).is_err());
        assert!(check(|c| c.limits.http2_idle_timeout_secs = 0).is_err());
        assert!(
            check(|c| c.proxy_protocol = true)
                .unwrap_err()
                .contains("trusted_proxies")
        );
        assert!(check(|c| c.trusted_proxies = vec!["10.0.0.0/40".into()]).is_err());
        assert!(
            check(|c| {
                c.trusted_proxies = vec!["10.0.0.0/8".into()];
                c.proxy_protocol = true;
            })
            .is_ok()
        );
    }
}
