//! `sealgate serve`: configuration from flags, `SEALGATE_*` variables and a TOML file, then the
//! gateway until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use sealgate::Gateway;
use sealgate::config::{Config, Secret};

use crate::logging::LogFormat;

/// Flags of `sealgate serve`. Each can also be set by the environment variable named in its
/// help, and in the TOML file; a flag wins over the variable, the variable over the file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "SEALGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// API listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "SEALGATE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Metrics listen address [default: 127.0.0.1:9090].
    #[arg(long, env = "SEALGATE_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Store: memory, redis://HOST:PORT/DB, rediss://…, redis+cluster://H1:P1,H2:P2 [default: memory].
    // The URL may carry a password: `--help` must not show the variable's value.
    #[arg(
        long,
        env = "SEALGATE_STORE",
        value_name = "STORE",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// Key prefix in Redis [default: sealgate:].
    #[arg(long, env = "SEALGATE_REDIS_PREFIX", value_name = "PREFIX")]
    pub redis_prefix: Option<String>,
    /// Base URL phones reach this gateway at, written into sign-in requests.
    #[arg(long, env = "SEALGATE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// PEM certificate chain for TLS.
    #[arg(long, env = "SEALGATE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long, env = "SEALGATE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Require `Authorization: Bearer TOKEN` to register clients.
    #[arg(
        long,
        env = "SEALGATE_REGISTRATION_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub registration_token: Option<String>,
    /// Let anyone register clients on a non-loopback address without a registration token
    /// (logged as a warning at start).
    #[arg(long, env = "SEALGATE_OPEN_REGISTRATION")]
    pub open_registration: bool,
    /// Registered clients kept at most, 0 for no cap [default: 10000].
    #[arg(long, env = "SEALGATE_MAX_CLIENTS", value_name = "N")]
    pub max_clients: Option<u64>,
    /// Client registrations per minute per IP address, 0 for no limit [default: 10].
    #[arg(long, env = "SEALGATE_REGISTRATIONS_PER_IP", value_name = "N")]
    pub registrations_per_ip: Option<u32>,
    /// Long-polls waiting at once on this instance, all clients together, 0 for no cap
    /// [default: 10000].
    #[arg(long, env = "SEALGATE_MAX_WAITERS", value_name = "N")]
    pub max_waiters: Option<usize>,
    /// Largest mailbox TTL, seconds [default: 600].
    #[arg(long, env = "SEALGATE_MAX_TTL", value_name = "SECS")]
    pub max_ttl: Option<u64>,
    /// Mailbox TTL when a request names none, seconds [default: 120].
    #[arg(long, env = "SEALGATE_DEFAULT_TTL", value_name = "SECS")]
    pub default_ttl: Option<u64>,
    /// Largest request body, bytes [default: 16384].
    #[arg(long, env = "SEALGATE_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Deposits per second per IP address, 0 for no limit [default: 20].
    #[arg(long, env = "SEALGATE_DEPOSITS_PER_IP", value_name = "N")]
    pub deposits_per_ip: Option<u32>,
    /// Mailboxes opened per second per client, 0 for no limit [default: 50].
    #[arg(long, env = "SEALGATE_MAILBOXES_PER_CLIENT", value_name = "N")]
    pub mailboxes_per_client: Option<u32>,
    /// Allow `http://` webhook URLs (for development).
    #[arg(long, env = "SEALGATE_ALLOW_INSECURE_WEBHOOKS")]
    pub allow_insecure_webhooks: bool,
    /// Allow webhook hosts that resolve to loopback, private or link-local addresses.
    #[arg(long, env = "SEALGATE_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Ports webhook URLs may name, comma-separated (not checked with
    /// --allow-private-webhooks) [default: 443,8443].
    #[arg(
        long,
        env = "SEALGATE_WEBHOOK_PORTS",
        value_name = "PORTS",
        value_delimiter = ','
    )]
    pub webhook_ports: Option<Vec<u16>>,
    /// Open connections on the API listener at most, 0 for no cap [default: 10000].
    #[arg(long, env = "SEALGATE_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Open connections per client address (IPv6: per prefix), 0 for no cap [default: 2000].
    #[arg(long, env = "SEALGATE_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Close HTTP/2 connections with no open stream after this long, seconds [default: 30].
    #[arg(long, env = "SEALGATE_HTTP2_IDLE_TIMEOUT", value_name = "SECS")]
    pub http2_idle_timeout: Option<u64>,
    /// Largest request head, bytes (431 past it) [default: 16384].
    #[arg(long, env = "SEALGATE_MAX_HEADER_BYTES", value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,
    /// Leading bits of an IPv6 address that name one client in limits [default: 64].
    #[arg(long, env = "SEALGATE_IPV6_PREFIX", value_name = "BITS")]
    pub ipv6_prefix: Option<u8>,
    /// Proxy address ranges whose Forwarded / X-Forwarded-For (and PROXY v2) client
    /// addresses are believed, comma-separated.
    #[arg(
        long,
        env = "SEALGATE_TRUSTED_PROXIES",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// Connections from trusted proxies start with a PROXY protocol v2 header.
    #[arg(long, env = "SEALGATE_PROXY_PROTOCOL")]
    pub proxy_protocol: bool,
    /// Log filter, e.g. `info` or `sealgate=debug`; `RUST_LOG` when unset [default: info].
    #[arg(long, env = "SEALGATE_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format [default: text when stderr is a terminal, json otherwise].
    #[arg(long, env = "SEALGATE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then variables and flags.
    pub fn into_config(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        let limits = &mut config.limits;
        overlay(&mut limits.max_ttl_secs, self.max_ttl);
        overlay(&mut limits.default_ttl_secs, self.default_ttl);
        overlay(&mut limits.max_body_bytes, self.max_body_bytes);
        overlay(&mut limits.deposits_per_ip_per_sec, self.deposits_per_ip);
        overlay(
            &mut limits.mailboxes_per_client_per_sec,
            self.mailboxes_per_client,
        );
        overlay(&mut limits.max_clients, self.max_clients);
        overlay(
            &mut limits.registrations_per_ip_per_min,
            self.registrations_per_ip,
        );
        overlay(&mut limits.max_waiters, self.max_waiters);
        overlay(&mut limits.max_connections, self.max_connections);
        overlay(
            &mut limits.max_connections_per_ip,
            self.max_connections_per_ip,
        );
        overlay(&mut limits.http2_idle_timeout_secs, self.http2_idle_timeout);
        overlay(&mut limits.max_header_bytes, self.max_header_bytes);
        overlay(&mut limits.ipv6_prefix_len, self.ipv6_prefix);
        overlay(&mut config.trusted_proxies, self.trusted_proxies);
        config.proxy_protocol |= self.proxy_protocol;
        overlay(&mut config.listen, self.listen);
        overlay(&mut config.metrics_listen, self.metrics_listen);
        overlay(&mut config.store, self.store);
        overlay(&mut config.redis_prefix, self.redis_prefix);
        if self.public_url.is_some() {
            config.public_url = self.public_url;
        }
        if self.tls_cert.is_some() {
            config.tls_cert = self.tls_cert;
        }
        if self.tls_key.is_some() {
            config.tls_key = self.tls_key;
        }
        config.webhooks.allow_insecure |= self.allow_insecure_webhooks;
        config.webhooks.allow_private |= self.allow_private_webhooks;
        overlay(&mut config.webhooks.allowed_ports, self.webhook_ports);
        config.open_registration |= self.open_registration;
        if let Some(token) = self.registration_token {
            config.registration_token = Some(Secret::new(token));
        }
        config.validate()?;
        Ok(config)
    }
}

fn overlay<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// Runs the gateway until a signal stops it.
pub(super) fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    crate::logging::init(args.log.take(), args.log_format)?;
    let config = args.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let gateway = Gateway::start(config).await?;
        gateway.run_until_signal().await
    })
}
