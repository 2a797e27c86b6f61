//! Where a webhook may point: https only (unless allowed), only at globally routable unicast
//! addresses (see [`super::address`]) and only on the allowed ports (unless private targets are
//! allowed) — checked at registration and again on every connection, so that DNS rebinding does
//! not get around it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// The longest webhook URL accepted.
pub(crate) const MAX_URL_LEN: usize = 2048;

/// The ports webhooks may use by default: HTTPS, and its common alternative.
pub(crate) const DEFAULT_ALLOWED_PORTS: [u16; 2] = [443, 8443];

/// What the operator allows webhooks to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Allow `http://` URLs (`--allow-insecure-webhooks`).
    pub allow_insecure: bool,
    /// Allow hosts that resolve to non-public addresses, on any port
    /// (`--allow-private-webhooks`): for development and for webhooks inside one's own network.
    pub allow_private: bool,
    /// The ports webhook URLs may name (`--webhook-ports`); checked unless `allow_private`.
    pub allowed_ports: Arc<[u16]>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_insecure: false,
            allow_private: false,
            allowed_ports: Arc::new(DEFAULT_ALLOWED_PORTS),
        }
    }
}

impl Policy {
    /// Whether a URL may name `port`.
    pub(crate) fn allows_port(&self, port: u16) -> bool {
        self.allow_private || self.allowed_ports.contains(&port)
    }
}

/// Why a webhook URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlError {
    /// Not an absolute http(s) URL with a host.
    #[error(
        "webhook_url must be an absolute https:// URL with a host, at most {MAX_URL_LEN} characters"
    )]
    Malformed,
    /// `http://` while insecure webhooks are not allowed.
    #[error("webhook_url must use https (this gateway does not allow insecure webhooks)")]
    Insecure,
    /// User information in the URL.
    #[error("webhook_url must not carry user information")]
    UserInfo,
    /// The host did not resolve.
    #[error("webhook_url's host does not resolve")]
    Unresolvable,
    /// The host resolves to an address webhooks may not reach.
    #[error(
        "webhook_url's host resolves to a loopback, private, link-local or otherwise non-public address"
    )]
    ForbiddenAddress,
    /// The URL's port is not among the allowed ones.
    #[error("webhook_url's port is not one this gateway delivers to (allowed: {0})")]
    ForbiddenPort(String),
}

/// Checks the form of a webhook URL (not where it resolves to).
pub(crate) fn check_form(url: &str, policy: &Policy) -> Result<http::Uri, UrlError> {
    if url.len() > MAX_URL_LEN {
        return Err(UrlError::Malformed);
    }
    let uri: http::Uri = url.parse().map_err(|_| UrlError::Malformed)?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if policy.allow_insecure => {}
        Some("http") => return Err(UrlError::Insecure),
        _ => return Err(UrlError::Malformed),
    }
    let authority = uri.authority().ok_or(UrlError::Malformed)?;
    if authority.as_str().contains('@') {
        return Err(UrlError::UserInfo);
    }
    if authority.host().is_empty() {
        return Err(UrlError::Malformed);
    }
    Ok(uri)
}

/// Checks the form, then resolves the host and checks every address, then the port.
pub(crate) async fn check(url: &str, policy: &Policy) -> Result<http::Uri, UrlError> {
    let uri = check_form(url, policy)?;
    let host = bare_host(&uri).to_owned();
    let port = port_of(&uri);
    resolve(&host, port, policy).await?;
    check_port(port, policy)?;
    Ok(uri)
}

/// Checks what can be checked of `url` without resolving it, before each attempt: an IP
/// literal host (which the connector never passes to [`CheckedResolver`]) and the port.
pub(crate) fn check_before_send(url: &str, policy: &Policy) -> Result<(), UrlError> {
    let uri: http::Uri = url.parse().map_err(|_| UrlError::Malformed)?;
    if uri.host().is_none() {
        return Err(UrlError::Malformed);
    }
    if !policy.allow_private && bare_host(&uri).parse::<IpAddr>().is_ok_and(is_forbidden) {
        return Err(UrlError::ForbiddenAddress);
    }
    check_port(port_of(&uri), policy)
}

/// The URL's host without the brackets of an IPv6 literal.
fn bare_host(uri: &http::Uri) -> &str {
    uri.host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// The URL's port, or its scheme's default.
fn port_of(uri: &http::Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        })
}

fn check_port(port: u16, policy: &Policy) -> Result<(), UrlError> {
    if policy.allows_port(port) {
        return Ok(());
    }
    let allowed: Vec<String> = policy.allowed_ports.iter().map(u16::to_string).collect();
    Err(UrlError::ForbiddenPort(allowed.join(", ")))
}

/// Resolves `host` and refuses it if any address is forbidden by `policy`.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    policy: &Policy,
) -> Result<Vec<SocketAddr>, UrlError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| UrlError::Unresolvable)?
        .collect();
    if addresses.is_empty() {
        return Err(UrlError::Unresolvable);
    }
    if let Some(refused) = addresses.iter().find(|address| is_forbidden(address.ip()))
        && !policy.allow_private
    {
        let (block, rfc) = super::address::deciding_row(refused.ip())
            .unwrap_or(("outside the global unicast space", "RFC 4291"));
        tracing::debug!(block, rfc, "webhook host resolves to a refused address");
        return Err(UrlError::ForbiddenAddress);
    }
    Ok(addresses)
}

/// Whether `ip` is not globally routable unicast (see [`super::address`]): the one test of the
/// registration check, the connect-time resolver and the IP-literal check before each attempt.
pub(crate) fn is_forbidden(ip: IpAddr) -> bool {
    !super::address::is_global_unicast(ip)
}

/// A DNS resolver for the webhook HTTP client that refuses forbidden addresses at connection
/// time, so a name that resolved to a public address at registration cannot be re-pointed at
/// the gateway's own network.
#[derive(Debug, Clone)]
pub(crate) struct CheckedResolver {
    policy: Policy,
}

impl CheckedResolver {
    /// A resolver enforcing `policy`.
    pub(crate) fn new(policy: Policy) -> Self {
        Self { policy }
    }
}

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name
                .as_str()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            resolve(&host, 0, &policy)
                .await
                .map(Vec::into_iter)
                .map_err(|error| std::io::Error::new(std::io::ErrorKind::PermissionDenied, error))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use hyper_util::client::legacy::connect::dns::Name;
    use tower_service::Service as _;

    use super::*;

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    /// Ports: the default set (443, 8443) without private targets; any port with them; the
    /// scheme's default port when the URL names none. Checked before each attempt too.
    #[test]
    fn ports_follow_the_policy() {
        let strict = Policy {
            allow_insecure: true,
            ..Policy::default()
        };
        let cases = [
            ("https://1.1.1.1/", true),
            ("https://1.1.1.1:443/", true),
            ("https://1.1.1.1:8443/", true),
            ("https://1.1.1.1:22/", false),
            ("https://1.1.1.1:80/", false),
            ("http://1.1.1.1/", false),
            ("https://[2606:4700:4700::1111]:25/", false),
            ("https://[2606:4700:4700::1111]:8443/", true),
        ];
        for (url, allowed) in cases {
            assert_eq!(check_before_send(url, &strict).is_ok(), allowed, "{url}");
        }
        assert!(matches!(
            check_before_send("https://1.1.1.1:22/", &strict),
            Err(UrlError::ForbiddenPort(allowed)) if allowed == "443, 8443"
        ));
        let with_http = Policy {
            allowed_ports: Arc::new([80, 443]),
            ..strict.clone()
        };
        assert!(check_before_send("http://1.1.1.1/", &with_http).is_ok());
        assert!(check_before_send("https://1.1.1.1:8443/", &with_http).is_err());
        let private = Policy {
            allow_private: true,
            ..strict.clone()
        };
        assert!(check_before_send("http://127.0.0.1:9/", &private).is_ok());
        assert_eq!(
            check_before_send("https://[64:ff9b:1::a9fe:a9fe]/", &strict),
            Err(UrlError::ForbiddenAddress)
        );
    }

    /// Registration refuses a public address on a port outside the policy (`1.1.1.1:22`), and
    /// the addresses found by probing before the allowlist.
    #[tokio::test]
    async fn registration_checks_the_port_and_the_allowlist() {
        let strict = Policy::default();
        assert!(matches!(
            check("https://1.1.1.1:22/", &strict).await,
            Err(UrlError::ForbiddenPort(_))
        ));
        assert!(check("https://1.1.1.1/", &strict).await.is_ok());
        for url in [
            "https://[64:ff9b:1::a9fe:a9fe]/",
            "https://[::ffff:0:a9fe:a9fe]/",
            "https://[2001:0:4136:e378:8000:63bf:5601:5601]/",
            "https://[100::1]/",
            "https://[3fff::1]/",
            "https://[5f00::1]/",
            "https://192.88.99.1/",
        ] {
            assert_eq!(
                check(url, &strict).await,
                Err(UrlError::ForbiddenAddress),
                "{url}"
            );
        }
    }

    #[test]
    fn url_form() {
        let strict = Policy::default();
        assert!(check_form("https://hooks.example.com/sealgate", &strict).is_ok());
        assert_eq!(
            check_form("http://hooks.example.com/", &strict),
            Err(UrlError::Insecure)
        );
        assert!(
            check_form(
                "http://hooks.example.com/",
                &Policy {
                    allow_insecure: true,
                    ..strict.clone()
                }
            )
            .is_ok()
        );
        assert_eq!(
            check_form("https://user:pw@hooks.example.com/", &strict),
            Err(UrlError::UserInfo)
        );
        assert_eq!(
            check_form("ftp://hooks.example.com/", &strict),
            Err(UrlError::Malformed)
        );
        assert_eq!(check_form("/relative", &strict), Err(UrlError::Malformed));
    }

    #[tokio::test]
    async fn loopback_names_are_refused_unless_allowed() {
        let strict = Policy {
            allow_insecure: true,
            allow_private: false,
            ..Policy::default()
        };
        for url in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://[::1]:9/",
        ] {
            assert_eq!(
                check(url, &strict).await,
                Err(UrlError::ForbiddenAddress),
                "{url}"
            );
        }
        assert!(
            check(
                "http://127.0.0.1:9/",
                &Policy {
                    allow_insecure: true,
                    allow_private: true,
                    ..Policy::default()
                }
            )
            .await
            .is_ok()
        );
    }

    /// The names /etc/hosts maps to a loopback address (`localhost`, and e.g. the machine's own
    /// name or `ip6-localhost` where it lists them).
    fn loopback_names_in_etc_hosts() -> Vec<String> {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let mut names: Vec<String> = hosts
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default())
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let address: IpAddr = fields.next()?.parse().ok()?;
                address
                    .is_loopback()
                    .then(|| fields.map(str::to_owned).collect::<Vec<_>>())
            })
            .flatten()
            .collect();
        names.push("localhost".to_owned());
        names.sort();
        names.dedup();
        names
    }

    /// `ssrf::check` (registration) and `CheckedResolver` (every connection) refuse 127.0.0.1,
    /// localhost, [::1] and every name that resolves to loopback, unless private targets are
    /// allowed.
    #[tokio::test]
    async fn loopback_targets_are_refused_by_the_checks() {
        let strict = Policy {
            allow_insecure: true,
            allow_private: false,
            ..Policy::default()
        };
        let names = loopback_names_in_etc_hosts();
        eprintln!("names that resolve to loopback here: {names:?}");
        let mut urls = vec![
            "http://127.0.0.1:9/".to_owned(),
            "http://127.1.2.3:9/".to_owned(),
            "http://[::1]:9/".to_owned(),
        ];
        urls.extend(names.iter().map(|name| format!("http://{name}:9/")));
        for url in &urls {
            assert_eq!(
                check(url, &strict).await,
                Err(UrlError::ForbiddenAddress),
                "{url}"
            );
        }

        let mut hosts = vec!["127.0.0.1".to_owned(), "::1".to_owned(), "[::1]".to_owned()];
        hosts.extend(names.iter().cloned());
        for host in &hosts {
            let refused = CheckedResolver::new(strict.clone())
                .call(Name::from_str(host).expect("a name"))
                .await
                .expect_err(&format!("the resolver let {host} through"));
            assert_eq!(
                refused.kind(),
                std::io::ErrorKind::PermissionDenied,
                "{host}"
            );
            let mut allowed = CheckedResolver::new(Policy {
                allow_private: true,
                ..strict.clone()
            })
            .call(Name::from_str(host).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{host} does not resolve when allowed: {e}"));
            assert!(allowed.all(|address| address.ip().is_loopback()), "{host}");
        }
    }
}
