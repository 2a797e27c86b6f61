//! The client's address: the TCP peer's, or, when the peer is a trusted proxy, the one its
//! PROXY protocol v2 header or its `Forwarded` / `X-Forwarded-For` header names.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

/// The largest PROXY v2 header read (fixed part, addresses and TLVs); a longer one closes the
/// connection.
pub(crate) const MAX_PROXY_HEADER_LEN: usize = 1024;
/// The fixed part of a PROXY v2 header: signature, version and command, family, length.
pub(crate) const PROXY_FIXED_LEN: usize = 16;
/// The PROXY protocol v2 signature.
const PROXY_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// An address range, `192.0.2.0/24` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.trim().parse().map_err(|_| {
            anyhow::anyhow!("trusted_proxies: {text:?} is not an address or CIDR range")
        })?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= width)
                .ok_or_else(|| {
                    anyhow::anyhow!("trusted_proxies: {text:?} has a prefix length over {width}")
                })?,
        };
        Ok(Self { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The configured `trusted_proxies`: only these peers may name another client address.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses the configured ranges; an entry that is no address or range is an error.
    pub(crate) fn parse(ranges: &[String]) -> anyhow::Result<Self> {
        ranges
            .iter()
            .map(|range| Cidr::parse(range))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `ip` is a trusted proxy.
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client address of a request from `peer`: when the peer is trusted, the nearest
    /// address in its forwarding headers that is not itself a trusted proxy (walking from the
    /// right, the hops nearest to us first: addresses further left are the client's own
    /// claims); otherwise, or when the headers name none, the peer.
    pub(crate) fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => continue,
                Some(ip) => return canonical(*ip),
                // A hop we cannot read (obfuscated, `unknown`): nothing left of it is believed.
                None => return peer,
            }
        }
        hops.first().copied().flatten().map_or(peer, canonical)
    }
}

/// The hops of `Forwarded` (its `for=` parameters) when present, else of `X-Forwarded-For`,
/// left to right, `None` for a hop that is no address. Several header lines join in order.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(value.trim()))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// A node of `Forwarded` (RFC 7239 §6: `192.0.2.1`, `"[2001:db8::1]:4711"`) or of
/// `X-Forwarded-For` (`192.0.2.1`, `2001:db8::1`, sometimes with a port).
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(address) = node.parse::<SocketAddr>() {
        return Some(address.ip());
    }
    let inner = node.strip_prefix('[')?.split(']').next()?;
    inner.parse().ok()
}

/// What a PROXY v2 header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProxyHeader {
    /// The header's length in bytes: what to consume before the client's own bytes.
    pub len: usize,
    /// The client's address; `None` for a `LOCAL` connection (the proxy's own health check)
    /// or an address family other than TCP over IPv4 or IPv6.
    pub source: Option<SocketAddr>,
}

/// Why bytes are not a usable PROXY v2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProxyError {
    /// More bytes are needed: the whole header is this long.
    #[error("incomplete PROXY header: {0} bytes needed")]
    Incomplete(usize),
    /// The bytes do not start with the PROXY v2 signature.
    #[error("no PROXY protocol v2 signature")]
    NoSignature,
    /// A version other than 2.
    #[error("PROXY protocol version {0} is not supported")]
    Version(u8),
    /// A command other than LOCAL (0) and PROXY (1).
    #[error("unknown PROXY command {0}")]
    Command(u8),
    /// The address block is shorter than its family needs.
    #[error("PROXY address block too short for its family")]
    ShortAddresses,
    /// The header is longer than [`MAX_PROXY_HEADER_LEN`].
    #[error("PROXY header over {MAX_PROXY_HEADER_LEN} bytes")]
    TooLong,
}

/// Parses a PROXY protocol v2 header at the start of `bytes` (sans I/O).
pub(crate) fn parse_proxy_v2(bytes: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let known = bytes.len().min(PROXY_SIGNATURE.len());
    if bytes[..known] != PROXY_SIGNATURE[..known] {
        return Err(ProxyError::NoSignature);
    }
    if bytes.len() < PROXY_FIXED_LEN {
        return Err(ProxyError::Incomplete(PROXY_FIXED_LEN));
    }
    let (version, command) = (bytes[12] >> 4, bytes[12] & 0x0f);
    if version != 2 {
        return Err(ProxyError::Version(version));
    }
    let family = bytes[13];
    let len = PROXY_FIXED_LEN + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if len > MAX_PROXY_HEADER_LEN {
        return Err(ProxyError::TooLong);
    }
    if bytes.len() < len {
        return Err(ProxyError::Incomplete(len));
    }
    let addresses = &bytes[PROXY_FIXED_LEN..len];
    let source = match command {
        0 => None,
        1 => match family >> 4 {
            // TCP or UDP over IPv4: source, destination, source port, destination port.
            1 => {
                let block: &[u8; 12] = addresses
                    .get(..12)
                    .and_then(|block| block.try_into().ok())
                    .ok_or(ProxyError::ShortAddresses)?;
                let ip = [block[0], block[1], block[2], block[3]];
                Some(SocketAddr::from((
                    ip,
                    u16::from_be_bytes([block[8], block[9]]),
                )))
            }
            2 => {
                let block: &[u8; 36] = addresses
                    .get(..36)
                    .and_then(|block| block.try_into().ok())
                    .ok_or(ProxyError::ShortAddresses)?;
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&block[..16]);
                Some(SocketAddr::from((
                    ip,
                    u16::from_be_bytes([block[32], block[33]]),
                )))
            }
            // AF_UNSPEC, AF_UNIX: no client address to use.
            _ => None,
        },
        other => return Err(ProxyError::Command(other)),
    };
    Ok(ProxyHeader { len, source })
}

#[cfg(test)]
#[path = "client_addr_tests.rs"]
mod tests;
