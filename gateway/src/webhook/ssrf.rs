//! Where a webhook may point: https only (unless allowed), and never at loopback, private,
//! link-local, unique-local, multicast or unspecified addresses (unless allowed) — checked at
//! registration and again on every connection, so that DNS rebinding does not get around it.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// The longest webhook URL accepted.
pub(crate) const MAX_URL_LEN: usize = 2048;

/// What the operator allows webhooks to reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Allow `http://` URLs (`--allow-insecure-webhooks`).
    pub allow_insecure: bool,
    /// Allow hosts that resolve to non-public addresses (`--allow-private-webhooks`).
    pub allow_private: bool,
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
}

/// Checks the form of a webhook URL (not where it resolves to).
pub(crate) fn check_form(url: &str, policy: Policy) -> Result<http::Uri, UrlError> {
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

/// Checks the form, then resolves the host and checks every address.
pub(crate) async fn check(url: &str, policy: Policy) -> Result<http::Uri, UrlError> {
    let uri = check_form(url, policy)?;
    let host = uri
        .host()
        .expect("checked")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    resolve(&host, port, policy).await?;
    Ok(uri)
}

/// Resolves `host` and refuses it if any address is forbidden by `policy`.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    policy: Policy,
) -> Result<Vec<SocketAddr>, UrlError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| UrlError::Unresolvable)?
        .collect();
    if addresses.is_empty() {
        return Err(UrlError::Unresolvable);
    }
    if !policy.allow_private && addresses.iter().any(|address| is_forbidden(address.ip())) {
        return Err(UrlError::ForbiddenAddress);
    }
    Ok(addresses)
}

/// Whether `ip` is not a public unicast address. IPv6 forms that embed an IPv4 address
/// (mapped, NAT64, 6to4, compatible) are judged by that address.
pub(crate) fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let v4_at =
                |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
            let embedded = match s {
                [0, 0, 0, 0, 0, 0xffff, high, low] => Some(v4_at(high, low)), // IPv4-mapped
                [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Some(v4_at(high, low)), // NAT64
                [0x2002, high, low, ..] => Some(v4_at(high, low)),            // 6to4
                [0, 0, 0, 0, 0, 0, high, low] if high != 0 => Some(v4_at(high, low)), // compatible
                _ => None,
            };
            if let Some(v4) = embedded {
                return is_forbidden_v4(v4);
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        }
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// A DNS resolver for the webhook HTTP client that refuses forbidden addresses at connection
/// time, so a name that resolved to a public address at registration cannot be re-pointed at
/// the gateway's own network.
#[derive(Debug, Clone, Copy)]
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
        let policy = self.policy;
        Box::pin(async move {
            let host = name
                .as_str()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            resolve(&host, 0, policy)
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

    #[test]
    fn url_form() {
        let strict = Policy::default();
        assert!(check_form("https://hooks.example.com/sealgate", strict).is_ok());
        assert_eq!(
            check_form("http://hooks.example.com/", strict),
            Err(UrlError::Insecure)
        );
        assert!(
            check_form(
                "http://hooks.example.com/",
                Policy {
                    allow_insecure: true,
                    ..strict
                }
            )
            .is_ok()
        );
        assert_eq!(
            check_form("https://user:pw@hooks.example.com/", strict),
            Err(UrlError::UserInfo)
        );
        assert_eq!(
            check_form("ftp://hooks.example.com/", strict),
            Err(UrlError::Malformed)
        );
        assert_eq!(check_form("/relative", strict), Err(UrlError::Malformed));
    }

    #[tokio::test]
    async fn loopback_names_are_refused_unless_allowed() {
        let strict = Policy {
            allow_insecure: true,
            allow_private: false,
        };
        for url in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://[::1]:9/",
        ] {
            assert_eq!(
                check(url, strict).await,
                Err(UrlError::ForbiddenAddress),
                "{url}"
            );
        }
        assert!(
            check(
                "http://127.0.0.1:9/",
                Policy {
                    allow_insecure: true,
                    allow_private: true
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
                check(url, strict).await,
                Err(UrlError::ForbiddenAddress),
                "{url}"
            );
        }

        let mut hosts = vec!["127.0.0.1".to_owned(), "::1".to_owned(), "[::1]".to_owned()];
        hosts.extend(names.iter().cloned());
        for host in &hosts {
            let refused = CheckedResolver::new(strict)
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
                ..strict
            })
            .call(Name::from_str(host).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{host} does not resolve when allowed: {e}"));
            assert!(allowed.all(|address| address.ip().is_loopback()), "{host}");
        }
    }
}
