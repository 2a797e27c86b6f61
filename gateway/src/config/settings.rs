//! Every setting of `sealgate serve` in one table: its TOML key, its `SEALGATE_*` variable, its
//! flag, its kind and what it does. The flag parser (cli/src/serve.rs), the layering below and
//! the table in docs/configuration.md are all made from [`SETTINGS`]; each default is written
//! once, in the `Default` impls of [`Config`](super::Config).

use std::path::Path;
use std::sync::LazyLock;

use super::Config;

/// What a setting's value is, as a flag or variable spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Number,
    /// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`); a bare flag means `true`.
    Switch,
    /// Text: an address, a URL, a path, a name.
    Text,
    /// Comma-separated whole numbers.
    Numbers,
    /// Comma-separated text.
    Texts,
}

/// One setting.
#[derive(Debug)]
pub struct Setting {
    /// The TOML key, dotted for tables: `limits.max_ttl_secs`.
    pub key: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The flag, without its `--`.
    pub flag: &'static str,
    /// How the value is spelled.
    pub kind: Kind,
    /// What it does, one line.
    pub help: &'static str,
    /// A valid value that is not the default, for the tests that check every layer reaches it.
    pub example: &'static str,
    /// What of the value may be shown, in `--help` and `--print-config`.
    pub secrecy: Secrecy,
}

/// What of a setting's value may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// All of it.
    Plain,
    /// Nothing: `<redacted>`, and no variable's value in `--help`.
    Secret,
    /// A URL whose password is replaced by `<redacted>`; its default is plain.
    UrlPassword,
}

const fn setting(
    key: &'static str,
    env: &'static str,
    flag: &'static str,
    kind: Kind,
    help: &'static str,
    example: &'static str,
) -> Setting {
    Setting {
        key,
        env,
        flag,
        kind,
        help,
        example,
        secrecy: Secrecy::Plain,
    }
}

const fn secret(mut setting: Setting) -> Setting {
    setting.secrecy = Secrecy::Secret;
    setting
}

const fn url_with_password(mut setting: Setting) -> Setting {
    setting.secrecy = Secrecy::UrlPassword;
    setting
}

use Kind::{Number, Numbers, Switch, Text, Texts};

/// Every setting, in the order docs/configuration.md lists them.
pub static SETTINGS: &[Setting] = &[
    setting(
        "listen",
        "SEALGATE_LISTEN",
        "listen",
        Text,
        "API listen address",
        "127.0.0.1:8081",
    ),
    setting(
        "metrics_listen",
        "SEALGATE_METRICS_LISTEN",
        "metrics-listen",
        Text,
        "metrics listen address",
        "127.0.0.1:9091",
    ),
    url_with_password(setting(
        "store",
        "SEALGATE_STORE",
        "store",
        Text,
        "store: memory, redis://HOST:PORT/DB, rediss://…, redis+cluster://H1:P1,H2:P2 (may carry a password)",
        "redis://127.0.0.1:1/0",
    )),
    setting(
        "redis_prefix",
        "SEALGATE_REDIS_PREFIX",
        "redis-prefix",
        Text,
        "key prefix in Redis, so that deployments can share one",
        "other:",
    ),
    setting(
        "public_url",
        "SEALGATE_PUBLIC_URL",
        "public-url",
        Text,
        "base URL phones reach this gateway at, written into sign-in requests [default: http(s):// + listen]",
        "https://signin.example.com",
    ),
    setting(
        "tls_cert",
        "SEALGATE_TLS_CERT",
        "tls-cert",
        Text,
        "PEM certificate chain for TLS (with tls_key)",
        "/etc/sealgate/tls.crt",
    ),
    setting(
        "tls_key",
        "SEALGATE_TLS_KEY",
        "tls-key",
        Text,
        "PEM private key for TLS (with tls_cert)",
        "/etc/sealgate/tls.key",
    ),
    setting(
        "tls_reload_secs",
        "SEALGATE_TLS_RELOAD",
        "tls-reload",
        Number,
        "how often the TLS files are checked for a change, seconds; 0 = on SIGHUP only",
        "30",
    ),
    secret(setting(
        "registration_token",
        "SEALGATE_REGISTRATION_TOKEN",
        "registration-token",
        Text,
        "require Authorization: Bearer TOKEN to register clients; at least 32 characters",
        "0123456789abcdef0123456789abcdef",
    )),
    setting(
        "open_registration",
        "SEALGATE_OPEN_REGISTRATION",
        "open-registration",
        Switch,
        "let anyone register on a non-loopback listener without a token (logged as a warning)",
        "true",
    ),
    setting(
        "trusted_proxies",
        "SEALGATE_TRUSTED_PROXIES",
        "trusted-proxies",
        Texts,
        "proxy ranges (CIDR) whose Forwarded / X-Forwarded-For / PROXY v2 client address is believed",
        "10.0.0.0/8,192.0.2.7",
    ),
    setting(
        "proxy_protocol",
        "SEALGATE_PROXY_PROTOCOL",
        "proxy-protocol",
        Switch,
        "connections from trusted proxies start with a PROXY protocol v2 header",
        "true",
    ),
    setting(
        "limits.max_body_bytes",
        "SEALGATE_MAX_BODY_BYTES",
        "max-body-bytes",
        Number,
        "largest request body, bytes; at least 16384 (the largest envelope)",
        "32768",
    ),
    setting(
        "limits.default_ttl_secs",
        "SEALGATE_DEFAULT_TTL",
        "default-ttl",
        Number,
        "mailbox TTL when a request names none, seconds",
        "90",
    ),
    setting(
        "limits.max_ttl_secs",
        "SEALGATE_MAX_TTL",
        "max-ttl",
        Number,
        "largest mailbox TTL, seconds",
        "300",
    ),
    setting(
        "limits.max_open_mailboxes_per_client",
        "SEALGATE_MAX_OPEN_MAILBOXES",
        "max-open-mailboxes",
        Number,
        "mailboxes one client may have open at once (429 too-many-mailboxes)",
        "500",
    ),
    setting(
        "limits.max_wait_secs",
        "SEALGATE_MAX_WAIT",
        "max-wait",
        Number,
        "longest long-poll wait, seconds",
        "30",
    ),
    setting(
        "limits.max_waiters_per_client",
        "SEALGATE_MAX_WAITERS_PER_CLIENT",
        "max-waiters-per-client",
        Number,
        "long-polls one client may have waiting on this instance",
        "500",
    ),
    setting(
        "limits.max_waiters",
        "SEALGATE_MAX_WAITERS",
        "max-waiters",
        Number,
        "long-polls all clients together may have waiting on this instance (503 server-busy); 0 = no cap",
        "5000",
    ),
    setting(
        "limits.max_clients",
        "SEALGATE_MAX_CLIENTS",
        "max-clients",
        Number,
        "registered clients kept at most (403 too-many-clients); 0 = no cap",
        "500",
    ),
    setting(
        "limits.registrations_per_ip_per_min",
        "SEALGATE_REGISTRATIONS_PER_IP",
        "registrations-per-ip",
        Number,
        "client registrations per minute per IP address (429 rate-limited); 0 = no limit",
        "5",
    ),
    setting(
        "limits.registration_burst_per_ip",
        "SEALGATE_REGISTRATION_BURST",
        "registration-burst",
        Number,
        "registration burst per IP address",
        "3",
    ),
    setting(
        "limits.deposits_per_ip_per_sec",
        "SEALGATE_DEPOSITS_PER_IP",
        "deposits-per-ip",
        Number,
        "deposits per second per IP address; 0 = no limit",
        "7",
    ),
    setting(
        "limits.deposit_burst_per_ip",
        "SEALGATE_DEPOSIT_BURST",
        "deposit-burst",
        Number,
        "deposit burst per IP address",
        "9",
    ),
    setting(
        "limits.mailboxes_per_client_per_sec",
        "SEALGATE_MAILBOXES_PER_CLIENT",
        "mailboxes-per-client",
        Number,
        "mailboxes opened per second per client; 0 = no limit",
        "11",
    ),
    setting(
        "limits.mailbox_burst_per_client",
        "SEALGATE_MAILBOX_BURST",
        "mailbox-burst",
        Number,
        "mailbox-opening burst per client",
        "13",
    ),
    setting(
        "limits.header_read_timeout_secs",
        "SEALGATE_HEADER_READ_TIMEOUT",
        "header-read-timeout",
        Number,
        "time to receive a request's headers, seconds (then the connection is dropped)",
        "5",
    ),
    setting(
        "limits.body_read_timeout_secs",
        "SEALGATE_BODY_READ_TIMEOUT",
        "body-read-timeout",
        Number,
        "time to receive a request's body, seconds (then 408)",
        "6",
    ),
    setting(
        "limits.shutdown_grace_secs",
        "SEALGATE_SHUTDOWN_GRACE",
        "shutdown-grace",
        Number,
        "time in-flight requests get on SIGTERM/SIGINT, seconds",
        "3",
    ),
    setting(
        "limits.max_connections",
        "SEALGATE_MAX_CONNECTIONS",
        "max-connections",
        Number,
        "open API connections at most; past it a new one is closed at once; 0 = no cap",
        "5000",
    ),
    setting(
        "limits.max_connections_per_ip",
        "SEALGATE_MAX_CONNECTIONS_PER_IP",
        "max-connections-per-ip",
        Number,
        "open connections per client address (IPv6: per prefix); 0 = no cap",
        "1500",
    ),
    setting(
        "limits.http2_idle_timeout_secs",
        "SEALGATE_HTTP2_IDLE_TIMEOUT",
        "http2-idle-timeout",
        Number,
        "an HTTP/2 connection with no open stream this long gets GOAWAY, seconds",
        "20",
    ),
    setting(
        "limits.max_header_bytes",
        "SEALGATE_MAX_HEADER_BYTES",
        "max-header-bytes",
        Number,
        "largest request head, bytes (431 past it); at least 8192",
        "12288",
    ),
    setting(
        "limits.ipv6_prefix_len",
        "SEALGATE_IPV6_PREFIX",
        "ipv6-prefix",
        Number,
        "leading bits of an IPv6 address that name one client in limits",
        "56",
    ),
    setting(
        "webhooks.enabled",
        "SEALGATE_WEBHOOKS",
        "webhooks",
        Switch,
        "deliver webhooks at all",
        "false",
    ),
    setting(
        "webhooks.allow_insecure",
        "SEALGATE_ALLOW_INSECURE_WEBHOOKS",
        "allow-insecure-webhooks",
        Switch,
        "accept http:// webhook URLs (development)",
        "true",
    ),
    setting(
        "webhooks.allow_private",
        "SEALGATE_ALLOW_PRIVATE_WEBHOOKS",
        "allow-private-webhooks",
        Switch,
        "accept webhook hosts on loopback, private or link-local addresses, any port",
        "true",
    ),
    setting(
        "webhooks.allowed_ports",
        "SEALGATE_WEBHOOK_PORTS",
        "webhook-ports",
        Numbers,
        "ports webhook URLs may name, comma-separated (unless allow_private)",
        "443,9443",
    ),
    setting(
        "webhooks.concurrency",
        "SEALGATE_WEBHOOK_CONCURRENCY",
        "webhook-concurrency",
        Number,
        "webhook attempts in flight on this instance",
        "32",
    ),
    setting(
        "webhooks.per_endpoint",
        "SEALGATE_WEBHOOK_PER_ENDPOINT",
        "webhook-per-endpoint",
        Number,
        "webhook attempts in flight per endpoint host on this instance",
        "2",
    ),
    setting(
        "webhooks.secret_overlap_secs",
        "SEALGATE_WEBHOOK_SECRET_OVERLAP",
        "webhook-secret-overlap",
        Number,
        "how long a rotated-out webhook signing secret keeps signing, seconds",
        "3600",
    ),
    setting(
        "otel.enabled",
        "SEALGATE_OTEL",
        "otel",
        Switch,
        "export OpenTelemetry traces over OTLP/HTTP; also on when an endpoint is set here or in OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT",
        "true",
    ),
    url_with_password(setting(
        "otel.endpoint",
        "SEALGATE_OTEL_ENDPOINT",
        "otel-endpoint",
        Text,
        "OTLP/HTTP traces URL [default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else http://localhost:4318/v1/traces]",
        "http://collector.internal:4318/v1/traces",
    )),
    setting(
        "otel.service_name",
        "SEALGATE_OTEL_SERVICE_NAME",
        "otel-service-name",
        Text,
        "service.name of the exported traces [default: OTEL_SERVICE_NAME, else sealgate]",
        "sealgate-eu",
    ),
    setting(
        "push.enabled",
        "SEALGATE_PUSH",
        "push",
        Switch,
        "accept device registrations and send Web Push notifications (one-click sign-in)",
        "false",
    ),
    setting(
        "push.vapid_key_file",
        "SEALGATE_VAPID_KEY_FILE",
        "vapid-key-file",
        Text,
        "VAPID private key file: PKCS#8 PEM or base64url P-256 scalar [default: generated once, shared through the store]",
        "/etc/sealgate/vapid.pem",
    ),
    setting(
        "push.subject",
        "SEALGATE_PUSH_SUBJECT",
        "push-subject",
        Text,
        "VAPID subject, mailto: or https: [default: public_url if https, else mailto:postmaster@localhost]",
        "mailto:ops@example.com",
    ),
    setting(
        "push.timeout_secs",
        "SEALGATE_PUSH_TIMEOUT",
        "push-timeout",
        Number,
        "longest wait for the push service's answer to a notification, seconds",
        "3",
    ),
    setting(
        "push.device_idle_secs",
        "SEALGATE_DEVICE_IDLE",
        "device-idle",
        Number,
        "a device registration expires after this long without a notification, seconds",
        "86400",
    ),
    setting(
        "push.registrations_per_ip_per_min",
        "SEALGATE_DEVICE_REGISTRATIONS_PER_IP",
        "device-registrations-per-ip",
        Number,
        "device registrations per minute from one IP address (0: off)",
        "5",
    ),
    setting(
        "push.registration_burst_per_ip",
        "SEALGATE_DEVICE_REGISTRATION_BURST",
        "device-registration-burst",
        Number,
        "device registration burst from one IP address",
        "5",
    ),
    setting(
        "push.max_devices",
        "SEALGATE_MAX_DEVICES",
        "max-devices",
        Number,
        "live device registrations kept at most (0: no cap)",
        "500",
    ),
];

/// The setting a flag names.
pub fn by_flag(flag: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.flag == flag)
}

impl Kind {
    /// Reads `raw` as this kind spells it; the error says what was expected.
    pub fn parse(self, raw: &str) -> Result<toml::Value, String> {
        let number = |text: &str| {
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(toml::Value::Integer)
                .ok_or_else(|| format!("`{text}` is not a whole number"))
        };
        let list = raw
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty());
        match self {
            Kind::Number => number(raw),
            Kind::Switch => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
                "false" | "0" | "no" | "off" => Ok(toml::Value::Boolean(false)),
                other => Err(format!("`{other}` is not true or false")),
            },
            Kind::Text => Ok(toml::Value::String(raw.to_owned())),
            Kind::Numbers => list
                .map(number)
                .collect::<Result<Vec<_>, _>>()
                .map(toml::Value::Array),
            Kind::Texts => Ok(toml::Value::Array(
                list.map(|item| toml::Value::String(item.to_owned()))
                    .collect(),
            )),
        }
    }
}

impl Config {
    /// The configuration `sealgate serve` runs with: the defaults, then the TOML `file`, then
    /// `overrides` (each a setting and its raw value from a variable or a flag, the flag
    /// having won already), then the checks of [`Config::validate`].
    pub fn layered(
        file: Option<&Path>,
        overrides: &[(&'static Setting, String)],
    ) -> anyhow::Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read config file {}: {e}", path.display())
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    anyhow::anyhow!("config file {}: {}", path.display(), e.message())
                })?
            }
            None => toml::Table::new(),
        };
        for (setting, raw) in overrides {
            let value = setting.kind.parse(raw).map_err(|error| {
                anyhow::anyhow!("--{} / {}: {error}", setting.flag, setting.env)
            })?;
            insert(&mut table, setting.key, value);
        }
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| match file {
                    Some(path) => {
                        anyhow::anyhow!("config file {}: {}", path.display(), e.message())
                    }
                    None => anyhow::anyhow!("configuration: {}", e.message()),
                })?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML, every setting included (unset ones commented out), secrets
    /// and the store URL's password replaced by `<redacted>`: what `--print-config` shows.
    pub fn to_redacted_toml(&self) -> String {
        let table = toml::Table::try_from(self).expect("the configuration serializes");
        let mut out = String::new();
        let mut section = "";
        for setting in SETTINGS {
            let (table_name, name) = setting.key.rsplit_once('.').unwrap_or(("", setting.key));
            if table_name != section {
                out.push_str(&format!("\n[{table_name}]\n"));
                section = table_name;
            }
            match lookup(&table, setting.key) {
                None => out.push_str(&format!("# {name} is not set\n")),
                Some(value) => out.push_str(&format!("{name} = {}\n", setting.shown(value))),
            }
        }
        out
    }
}

impl Setting {
    /// `value` as `--print-config` may show it.
    pub fn shown(&self, value: &toml::Value) -> toml::Value {
        match (self.secrecy, value) {
            (Secrecy::Plain, _) => value.clone(),
            (Secrecy::UrlPassword, toml::Value::String(url)) => {
                toml::Value::String(redact_url_password(url))
            }
            (Secrecy::Secret | Secrecy::UrlPassword, _) => toml::Value::String("<redacted>".into()),
        }
    }
}

/// The defaults, serialized once.
static DEFAULTS: LazyLock<toml::Table> =
    LazyLock::new(|| toml::Table::try_from(Config::default()).expect("the defaults serialize"));

/// The default of `setting` as TOML writes it, or `None` when it is unset by default.
pub fn default_of(setting: &Setting) -> Option<String> {
    lookup(&DEFAULTS, setting.key).map(|value| value.to_string())
}

fn lookup<'t>(table: &'t toml::Table, key: &str) -> Option<&'t toml::Value> {
    match key.split_once('.') {
        None => table.get(key),
        Some((outer, inner)) => table.get(outer)?.as_table()?.get(inner),
    }
}

fn insert(table: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        None => {
            table.insert(key.to_owned(), value);
        }
        Some((outer, inner)) => {
            let inner_table = table
                .entry(outer.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner_table) = inner_table {
                inner_table.insert(inner.to_owned(), value);
            }
        }
    }
}

/// `scheme://user:password@host…` with the password replaced; URLs without one unchanged.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:<redacted>@{hosts}{path}")
        }
        None => url.to_owned(),
    }
}

/// The settings table of docs/configuration.md, as it must read.
pub fn docs_table() -> String {
    let mut out = String::from(
        "| key | variable | flag | default | what |\n| --- | --- | --- | --- | --- |\n",
    );
    for setting in SETTINGS {
        let default = default_of(setting).map_or("—".to_owned(), |d| format!("`{d}`"));
        let help = setting.help.replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | `{}` | `--{}` | {default} | {help} |\n",
            setting.key, setting.env, setting.flag
        ));
    }
    out
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
