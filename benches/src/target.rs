//! Where the load goes: the target URL, refused unless it is on this machine's loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context as _, bail};

/// A loopback HTTP endpoint: the address to connect to, and the authority for `Host`.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The address connections go to.
    pub(crate) addr: SocketAddr,
    /// `host:port` as given, for `Host` and HTTP/2's `:authority`.
    pub(crate) authority: String,
}

impl Target {
    /// Parses `http://HOST:PORT[/]`. HOST must be `localhost`, an address in 127.0.0.0/8 or
    /// `[::1]`: the load generator sends traffic to this machine only.
    pub(crate) fn parse(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("target `{url}`: only http:// URLs are supported (plain HTTP on loopback)");
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            bail!("target `{url}`: give the base URL only, http://HOST:PORT");
        }
        let addr = loopback_addr(authority).with_context(|| format!("target `{url}`"))?;
        Ok(Self {
            addr,
            authority: authority.to_owned(),
        })
    }

    /// The target for a server this process started on `addr`.
    pub(crate) fn local(addr: SocketAddr) -> Self {
        Self {
            addr,
            authority: addr.to_string(),
        }
    }

    /// The base URL, `http://host:port`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.authority)
    }
}

/// Parses `HOST:PORT` and checks that HOST is a loopback address (`localhost` is taken as
/// 127.0.0.1 without asking any resolver).
pub(crate) fn loopback_addr(host_port: &str) -> anyhow::Result<SocketAddr> {
    let (host, port) = host_port
        .rsplit_once(':')
        .context("expected HOST:PORT with an explicit port")?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("invalid port `{port}`"))?;
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        bare.parse()
            .with_context(|| format!("`{host}` is not an IP address or localhost"))?
    };
    if !ip.is_loopback() {
        bail!(
            "refusing {ip}: the load generator only targets loopback (127.0.0.0/8, ::1, localhost)"
        );
    }
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_only() {
        assert!(Target::parse("http://127.0.0.1:8080").is_ok());
        assert!(Target::parse("http://127.9.8.7:1/").is_ok());
        assert!(Target::parse("http://localhost:80").is_ok());
        assert!(Target::parse("http://[::1]:8080").is_ok());
        for refused in [
            "http://10.0.0.1:80",
            "http://192.168.1.1:80",
            "http://example.com:80",
            "http://0.0.0.0:80",
            "https://127.0.0.1:443",
            "http://127.0.0.1",
            "http://127.0.0.1:80/v1",
        ] {
            assert!(Target::parse(refused).is_err(), "{refused}");
        }
    }
}
