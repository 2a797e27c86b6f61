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
    /// The policy the webhook settings describe; push endpoints follow it too.
    pub(crate) fn from_config(config: &crate::config::WebhookConfig) -> Self {
        Self {
            allow_insecure: config.allow_insecure,
            allow_private: config.allow_private,
            allowed_ports: config.allowed_ports.clone().into(),
        }
    }

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
#[path = "ssrf_tests.rs"]
mod tests;
