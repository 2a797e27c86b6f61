//! Which IP addresses a webhook may reach: globally routable unicast, decided by the IANA
//! IPv4 and IPv6 Special-Purpose Address Registries written out below as tables, and by the
//! IPv4 rules for every IPv6 form that carries an IPv4 address.
//!
//! The rule: an address inside one or more registry blocks is judged by the most specific
//! block: allowed when that row says "globally reachable: true", refused when it says false or
//! "N/A". An address inside no block is allowed when it is unicast (IPv4 outside
//! 224.0.0.0/4; IPv6 inside the global unicast space 2000::/3, RFC 4291 §2.4). IPv6 forms that
//! embed an IPv4 address (IPv4-mapped, SIIT, IPv4-compatible, NAT64, 6to4, Teredo) are first
//! judged by the embedded IPv4 address; see [`Reach::Embedded`] for which of them may then
//! be reached at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a block's row says about reaching its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// "Globally reachable: true".
    Global,
    /// "Globally reachable: false", "N/A" for a deprecated block, or not unicast at all.
    Refused,
    /// The block carries an IPv4 address: allowed exactly when that address is. Used for the
    /// IPv4-mapped block (a dual-stack socket connects to the IPv4 address itself), the
    /// well-known NAT64 prefix (registry: true) and 6to4 and Teredo (registry: N/A, their
    /// reachability is the embedded address's).
    Embedded,
}

/// One row of a registry table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block<A> {
    /// The block's first address.
    pub network: A,
    /// The prefix length.
    pub prefix: u8,
    /// The registry's name for it.
    pub name: &'static str,
    /// Where it is defined.
    pub rfc: &'static str,
    /// Whether webhooks may reach it.
    pub reach: Reach,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8, name: &'static str) -> Block<Ipv4Addr> {
    Block {
        network: Ipv4Addr::new(a, b, c, d),
        prefix,
        name,
        rfc: "",
        reach: Reach::Refused,
    }
}

const fn rfc<A: Copy>(block: Block<A>, rfc: &'static str, reach: Reach) -> Block<A> {
    Block {
        rfc,
        reach,
        ..block
    }
}

use Reach::{Embedded, Global, Refused};

/// The IANA IPv4 Special-Purpose Address Registry (RFC 6890), and multicast, which is not
/// unicast at all.
#[rustfmt::skip]
pub(crate) const IPV4_BLOCKS: &[Block<Ipv4Addr>] = &[
    rfc(v4(0, 0, 0, 0, 8, "\"This network\""), "RFC 791", Refused),
    rfc(v4(0, 0, 0, 0, 32, "\"This host on this network\""), "RFC 1122", Refused),
    rfc(v4(10, 0, 0, 0, 8, "Private-Use"), "RFC 1918", Refused),
    rfc(v4(100, 64, 0, 0, 10, "Shared Address Space"), "RFC 6598", Refused),
    rfc(v4(127, 0, 0, 0, 8, "Loopback"), "RFC 1122", Refused),
    rfc(v4(169, 254, 0, 0, 16, "Link Local"), "RFC 3927", Refused),
    rfc(v4(172, 16, 0, 0, 12, "Private-Use"), "RFC 1918", Refused),
    rfc(v4(192, 0, 0, 0, 24, "IETF Protocol Assignments"), "RFC 6890", Refused),
    rfc(v4(192, 0, 0, 0, 29, "IPv4 Service Continuity Prefix"), "RFC 7335", Refused),
    rfc(v4(192, 0, 0, 8, 32, "IPv4 dummy address"), "RFC 7600", Refused),
    rfc(v4(192, 0, 0, 9, 32, "Port Control Protocol Anycast"), "RFC 7723", Global),
    rfc(v4(192, 0, 0, 10, 32, "TURN Anycast"), "RFC 8155", Global),
    rfc(v4(192, 0, 0, 170, 32, "NAT64/DNS64 Discovery"), "RFC 8880", Refused),
    rfc(v4(192, 0, 0, 171, 32, "NAT64/DNS64 Discovery"), "RFC 8880", Refused),
    rfc(v4(192, 0, 2, 0, 24, "Documentation (TEST-NET-1)"), "RFC 5737", Refused),
    rfc(v4(192, 31, 196, 0, 24, "AS112-v4"), "RFC 7535", Global),
    rfc(v4(192, 52, 193, 0, 24, "AMT"), "RFC 7450", Global),
    rfc(v4(192, 88, 99, 0, 24, "Deprecated (6to4 Relay Anycast)"), "RFC 7526", Refused),
    rfc(v4(192, 88, 99, 2, 32, "6a44-relay anycast address"), "RFC 6751", Refused),
    rfc(v4(192, 168, 0, 0, 16, "Private-Use"), "RFC 1918", Refused),
    rfc(v4(192, 175, 48, 0, 24, "Direct Delegation AS112 Service"), "RFC 7534", Global),
    rfc(v4(198, 18, 0, 0, 15, "Benchmarking"), "RFC 2544", Refused),
    rfc(v4(198, 51, 100, 0, 24, "Documentation (TEST-NET-2)"), "RFC 5737", Refused),
    rfc(v4(203, 0, 113, 0, 24, "Documentation (TEST-NET-3)"), "RFC 5737", Refused),
    rfc(v4(224, 0, 0, 0, 4, "Multicast (not unicast)"), "RFC 5771", Refused),
    rfc(v4(240, 0, 0, 0, 4, "Reserved"), "RFC 1112", Refused),
    rfc(v4(255, 255, 255, 255, 32, "Limited Broadcast"), "RFC 919", Refused),
];

const fn v6(segments: [u16; 8], prefix: u8, name: &'static str) -> Block<Ipv6Addr> {
    let [a, b, c, d, e, f, g, h] = segments;
    Block {
        network: Ipv6Addr::new(a, b, c, d, e, f, g, h),
        prefix,
        name,
        rfc: "",
        reach: Refused,
    }
}

/// The IANA IPv6 Special-Purpose Address Registry (RFC 6890), and the blocks outside it that
/// carry IPv4 (SIIT, IPv4-compatible), are deprecated (site-local) or are not unicast.
#[rustfmt::skip]
pub(crate) const IPV6_BLOCKS: &[Block<Ipv6Addr>] = &[
    rfc(v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "Loopback Address"), "RFC 4291", Refused),
    rfc(v6([0; 8], 128, "Unspecified Address"), "RFC 4291", Refused),
    rfc(v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "IPv4-mapped Address"), "RFC 4291", Embedded),
    rfc(v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96, "SIIT IPv4-translated (not in the registry)"), "RFC 7915", Refused),
    rfc(v6([0; 8], 96, "IPv4-compatible (deprecated, not in the registry)"), "RFC 4291", Refused),
    rfc(v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, "IPv4-IPv6 Translat."), "RFC 6052", Embedded),
    rfc(v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "IPv4-IPv6 Translat. (local use)"), "RFC 8215", Refused),
    rfc(v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "Discard-Only Address Block"), "RFC 6666", Refused),
    rfc(v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64, "Dummy IPv6 Prefix"), "RFC 9780", Refused),
    rfc(v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "IETF Protocol Assignments"), "RFC 2928", Refused),
    rfc(v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "TEREDO"), "RFC 4380", Embedded),
    rfc(v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128, "Port Control Protocol Anycast"), "RFC 7723", Global),
    rfc(v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128, "TURN Anycast"), "RFC 8155", Global),
    rfc(v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128, "DNS-SD SRP Anycast"), "RFC 9665", Global),
    rfc(v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "Benchmarking"), "RFC 5180", Refused),
    rfc(v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT"), "RFC 7450", Global),
    rfc(v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48, "AS112-v6"), "RFC 7535", Global),
    rfc(v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "Deprecated (previously ORCHID)"), "RFC 4843", Refused),
    rfc(v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2"), "RFC 7343", Global),
    rfc(v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28, "Drone Remote ID Protocol Entity Tags"), "RFC 9374", Global),
    rfc(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "Documentation"), "RFC 3849", Refused),
    rfc(v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4"), "RFC 3056", Embedded),
    rfc(v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48, "Direct Delegation AS112 Service"), "RFC 7534", Global),
    rfc(v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "Documentation"), "RFC 9637", Refused),
    rfc(v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "Segment Routing (SRv6) SIDs"), "RFC 9602", Refused),
    rfc(v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "Unique-Local"), "RFC 4193", Refused),
    rfc(v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "Link-Local Unicast"), "RFC 4291", Refused),
    rfc(v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "Site-Local (deprecated)"), "RFC 3879", Refused),
    rfc(v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "Multicast (not unicast)"), "RFC 4291", Refused),
];

/// Whether a webhook may reach `ip`: the one test behind the registration check, the
/// connect-time resolver and the IP-literal check before each attempt.
pub(crate) fn is_global_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_unicast_v4(v4),
        IpAddr::V6(v6) => is_global_unicast_v6(v6),
    }
}

fn is_global_unicast_v4(ip: Ipv4Addr) -> bool {
    match block_of_v4(ip) {
        Some(block) => block.reach == Global,
        None => true,
    }
}

/// The most specific IPv4 block holding `ip`.
fn block_of_v4(ip: Ipv4Addr) -> Option<&'static Block<Ipv4Addr>> {
    most_specific(IPV4_BLOCKS, 32, |a: Ipv4Addr| u128::from(u32::from(a)), ip)
}

/// The most specific IPv6 block holding `ip`.
fn block_of_v6(ip: Ipv6Addr) -> Option<&'static Block<Ipv6Addr>> {
    most_specific(IPV6_BLOCKS, 128, u128::from, ip)
}

/// The longest-prefix block of `blocks` holding `ip`, for addresses of `width` bits.
fn most_specific<A: Copy>(
    blocks: &'static [Block<A>],
    width: u32,
    bits_of: fn(A) -> u128,
    ip: A,
) -> Option<&'static Block<A>> {
    // The first `prefix` bits; a shift by the whole width (prefix 0) leaves none.
    let head = |bits: u128, prefix: u8| bits.checked_shr(width - u32::from(prefix)).unwrap_or(0);
    let bits = bits_of(ip);
    blocks
        .iter()
        .filter(|block| head(bits, block.prefix) == head(bits_of(block.network), block.prefix))
        .max_by_key(|block| block.prefix)
}

/// The registry row that decides `ip` (its name and RFC), for logs; for an IPv6 address that
/// carries an IPv4 one, the row of the carried address when that one decides.
pub(crate) fn deciding_row(ip: IpAddr) -> Option<(&'static str, &'static str)> {
    let v4_row = |v4| block_of_v4(v4).map(|b| (b.name, b.rfc));
    match ip {
        IpAddr::V4(v4) => v4_row(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) if !is_global_unicast_v4(v4) => v4_row(v4),
            _ => block_of_v6(v6).map(|b| (b.name, b.rfc)),
        },
    }
}

fn is_global_unicast_v6(ip: Ipv6Addr) -> bool {
    if let Some(embedded) = embedded_ipv4(ip)
        && !is_global_unicast_v4(embedded)
    {
        return false;
    }
    let bits = u128::from(ip);
    let within = |block: &&Block<Ipv6Addr>| {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(block.prefix))
            .unwrap_or(0);
        bits & mask == u128::from(block.network) & mask
    };
    match IPV6_BLOCKS.iter().filter(within).max_by_key(|b| b.prefix) {
        Some(block) => block.reach != Refused,
        // Only 2000::/3 is allocated as global unicast (IANA IPv6 Address Space).
        None => bits >> 125 == 0b001,
    }
}

/// The IPv4 address an IPv6 address carries, if it has one of the forms that do: IPv4-mapped
/// `::ffff:a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d` and `64:ff9b:1::/48` (RFC 6052 /96 placement), 6to4 `2002:AABB:CCDD::`
/// and Teredo `2001:0:server:flags:port:client`, whose client address is stored inverted.
pub(crate) fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let at = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match s {
        [0, 0, 0, 0, 0, 0xffff, high, low] | [0, 0, 0, 0, 0xffff, 0, high, low] => {
            Some(at(high, low))
        }
        [0, 0, 0, 0, 0, 0, high, low] if high != 0 => Some(at(high, low)),
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] | [0x64, 0xff9b, 1, _, _, _, high, low] => {
            Some(at(high, low))
        }
        [0x2002, high, low, ..] => Some(at(high, low)),
        [0x2001, 0, .., high, low] => Some(at(!high, !low)),
        _ => None,
    }
}

#[cfg(test)]
#[path = "address_tests.rs"]
mod tests;
