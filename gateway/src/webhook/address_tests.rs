//! The address allowlist, table-driven: every registry row, and every address an attacker
//! tried.

use super::*;

/// Each registry row's first address is judged as the row says. (For the rows that carry
/// IPv4, the first address carries 0.0.0.0 or, for Teredo, 255.255.255.255: refused.)
#[test]
fn every_registry_row_is_judged_as_it_says() {
    for block in IPV4_BLOCKS {
        assert_eq!(
            is_global_unicast(IpAddr::V4(block.network)),
            block.reach == Reach::Global,
            "{}/{} {} ({})",
            block.network,
            block.prefix,
            block.name,
            block.rfc
        );
    }
    for block in IPV6_BLOCKS {
        assert_eq!(
            is_global_unicast(IpAddr::V6(block.network)),
            block.reach == Reach::Global,
            "{}/{} {} ({})",
            block.network,
            block.prefix,
            block.name,
            block.rfc
        );
    }
}

/// Addresses and whether a webhook may reach them.
const CASES: &[(&str, bool)] = &[
    // The gaps found by probing the old deny-list (issue 12, Why 6).
    ("64:ff9b:1::a9fe:a9fe", false), // RFC 8215 local-use NAT64 with 169.254.169.254
    ("::ffff:0:a9fe:a9fe", false),   // SIIT with 169.254.169.254
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false), // Teredo, client 192.0.2.45
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", false), // Teredo, client 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:5601:5601", false), // Teredo, client 169.254.169.254
    ("100::1", false),               // discard-only 100::/64
    ("3fff::1", false),              // documentation 3fff::/20
    ("5f00::1", false),              // SRv6 SIDs 5f00::/16
    ("192.88.99.1", false),          // deprecated 6to4 relay anycast
    // IPv4 special-purpose blocks, inside and at their edges.
    ("0.1.2.3", false),
    ("10.255.255.255", false),
    ("100.64.0.1", false),
    ("100.127.255.255", false),
    ("100.128.0.1", true),
    ("127.0.0.1", false),
    ("127.1.2.3", false),
    ("169.254.169.254", false),
    ("172.15.255.255", true),
    ("172.16.0.1", false),
    ("172.31.255.255", false),
    ("172.32.0.1", true),
    ("192.0.0.1", false),
    ("192.0.0.9", true),
    ("192.0.0.10", true),
    ("192.0.0.170", false),
    ("192.0.2.1", false),
    ("192.31.196.1", true),
    ("192.52.193.1", true),
    ("192.88.99.2", false),
    ("192.168.1.1", false),
    ("192.175.48.1", true),
    ("198.18.0.1", false),
    ("198.19.255.255", false),
    ("198.20.0.1", true),
    ("198.51.100.1", false),
    ("203.0.113.1", false),
    ("224.0.0.1", false),
    ("239.255.255.255", false),
    ("240.0.0.1", false),
    ("255.255.255.255", false),
    ("1.1.1.1", true),
    ("8.8.8.8", true),
    ("93.184.216.34", true),
    // IPv6 special-purpose blocks.
    ("::", false),
    ("::1", false),
    ("fe80::1", false),
    ("fd00::1", false),
    ("fc00::1", false),
    ("fec0::1", false),
    ("ff02::1", false),
    ("ff0e::1", false),
    ("100:0:0:1::1", false),
    ("2001:2::1", false),
    ("2001:10::1", false),
    ("2001:db8::1", false),
    ("2001:1::1", true),
    ("2001:1::4", false),
    ("2001:3::1", true),
    ("2001:4:112::1", true),
    ("2001:20::1", true),
    ("2001:30::1", true),
    ("2620:4f:8000::1", true),
    ("3fff:fff::1", false),
    ("2606:4700:4700::1111", true),
    ("2a00:1450:4001::200e", true),
    // Outside 2000::/3: not allocated as unicast.
    ("4000::1", false),
    ("1::1", false),
    ("e000::1", false),
    // IPv4 carried in IPv6: judged by the IPv4 address, and by the carrier.
    ("::ffff:127.0.0.1", false),
    ("::ffff:169.254.169.254", false),
    ("::ffff:1.1.1.1", true),
    ("::ffff:0:1.1.1.1", false), // SIIT: not reachable as such
    ("::127.0.0.1", false),
    ("::1.1.1.1", false), // IPv4-compatible: deprecated
    ("64:ff9b::a00:1", false),
    ("64:ff9b::7f00:1", false),
    ("64:ff9b::a9fe:a9fe", false),
    ("64:ff9b::101:101", true),
    ("64:ff9b:1::101:101", false), // local-use NAT64: not globally reachable
    ("2002:7f00:1::", false),
    ("2002:a9fe:a9fe::1", false),
    ("2002:c058:6301::", false),
    ("2002:101:101::1", true),
    ("2001:0:4136:e378:8000:63bf:fefe:fefe", true), // Teredo, client 1.1.1.1
];

#[test]
fn addresses_are_judged_by_the_registries() {
    for (address, allowed) in CASES {
        let ip: IpAddr = address.parse().expect(address);
        assert_eq!(is_global_unicast(ip), *allowed, "{address}");
    }
}

#[test]
fn embedded_ipv4_is_decoded() {
    for (v6, v4) in [
        ("::ffff:a9fe:a9fe", "169.254.169.254"),
        ("::ffff:0:a9fe:a9fe", "169.254.169.254"),
        ("::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b:1::a9fe:a9fe", "169.254.169.254"),
        ("2002:a9fe:a9fe::", "169.254.169.254"),
        ("2001:0:4136:e378:8000:63bf:5601:5601", "169.254.169.254"),
    ] {
        let v6: Ipv6Addr = v6.parse().unwrap();
        assert_eq!(embedded_ipv4(v6), Some(v4.parse().unwrap()), "{v6}");
    }
    assert_eq!(embedded_ipv4("2606:4700::1111".parse().unwrap()), None);
    assert_eq!(embedded_ipv4("::1".parse().unwrap()), None);
}

#[test]
fn the_deciding_row_is_named() {
    let row = |ip: &str| deciding_row(ip.parse().unwrap()).map(|(name, _)| name);
    assert_eq!(row("169.254.169.254"), Some("Link Local"));
    assert_eq!(row("64:ff9b:1::a9fe:a9fe"), Some("Link Local"));
    assert_eq!(
        row("64:ff9b:1::101:101"),
        Some("IPv4-IPv6 Translat. (local use)")
    );
    assert_eq!(row("192.0.0.9"), Some("Port Control Protocol Anycast"));
    assert_eq!(row("1.1.1.1"), None);
}
