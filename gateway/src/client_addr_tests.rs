//! Tests of the trust rule, the forwarding headers and the PROXY v2 parser.

use super::*;

fn trusted(ranges: &[&str]) -> TrustedProxies {
    TrustedProxies::parse(
        &ranges
            .iter()
            .map(|range| (*range).to_owned())
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

/// A header line: name and value.
type Header = (&'static str, &'static str);

fn headers(pairs: &[Header]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, value.parse().unwrap());
    }
    map
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn ranges_parse_or_fail_clearly() {
    let proxies = trusted(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]);
    for inside in [
        "10.1.2.3",
        "::ffff:10.9.9.9",
        "2001:db8:ffff::1",
        "192.0.2.7",
    ] {
        assert!(proxies.trusts(ip(inside)), "{inside}");
    }
    for outside in ["11.0.0.1", "2001:db9::1", "192.0.2.8", "::a00:1"] {
        assert!(!proxies.trusts(ip(outside)), "{outside}");
    }
    for bad in ["10.0.0.0/33", "2001:db8::/129", "ten", "10.0.0.0/x", ""] {
        let error = TrustedProxies::parse(&[bad.to_owned()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("trusted_proxies"), "{bad}: {error}");
    }
    assert!(trusted(&["0.0.0.0/0"]).trusts(ip("203.0.113.1")));
}

/// An untrusted peer's headers are ignored; a trusted peer's nearest untrusted hop is the
/// client, and what a client writes left of it is not believed.
#[test]
fn only_trusted_peers_name_the_client() {
    let proxies = trusted(&["10.0.0.0/8"]);
    let cases: &[(&str, &[Header], &str)] = &[
        (
            "203.0.113.9",
            &[("x-forwarded-for", "198.51.100.1")],
            "203.0.113.9",
        ),
        ("10.0.0.1", &[], "10.0.0.1"),
        (
            "10.0.0.1",
            &[("x-forwarded-for", "198.51.100.1")],
            "198.51.100.1",
        ),
        (
            "10.0.0.1",
            &[("x-forwarded-for", "1.1.1.1, 198.51.100.1, 10.0.0.2")],
            "198.51.100.1",
        ),
        (
            "10.0.0.1",
            &[
                ("x-forwarded-for", "1.1.1.1"),
                ("x-forwarded-for", "198.51.100.2"),
            ],
            "198.51.100.2",
        ),
        (
            "10.0.0.1",
            &[("x-forwarded-for", "1.1.1.1, garbage")],
            "10.0.0.1",
        ),
        (
            "10.0.0.1",
            &[("x-forwarded-for", "10.0.0.3, 10.0.0.2")],
            "10.0.0.3",
        ),
        (
            "10.0.0.1",
            &[("x-forwarded-for", "2001:db8::5")],
            "2001:db8::5",
        ),
        (
            "10.0.0.1",
            &[("x-forwarded-for", "::ffff:198.51.100.3")],
            "198.51.100.3",
        ),
        (
            "10.0.0.1",
            &[("forwarded", "for=198.51.100.4;proto=https")],
            "198.51.100.4",
        ),
        (
            "10.0.0.1",
            &[("forwarded", "for=\"[2001:db8::6]:4711\"")],
            "2001:db8::6",
        ),
        (
            "10.0.0.1",
            &[("forwarded", "for=1.1.1.1, For=198.51.100.5")],
            "198.51.100.5",
        ),
        ("10.0.0.1", &[("forwarded", "for=_hidden")], "10.0.0.1"),
        (
            "10.0.0.1",
            &[
                ("forwarded", "for=198.51.100.6"),
                ("x-forwarded-for", "1.1.1.1"),
            ],
            "198.51.100.6",
        ),
        (
            "10.0.0.1",
            &[("x-forwarded-for", "198.51.100.7:8443")],
            "198.51.100.7",
        ),
    ];
    for (peer, pairs, expected) in cases {
        assert_eq!(
            proxies.client_of(ip(peer), &headers(pairs)),
            ip(expected),
            "{peer} {pairs:?}"
        );
    }
    assert_eq!(
        TrustedProxies::default()
            .client_of(ip("10.0.0.1"), &headers(&[("x-forwarded-for", "1.1.1.1")])),
        ip("10.0.0.1")
    );
}

/// A PROXY v2 header: signature, version 2 and `command`, `family`, the addresses, `extra`
/// bytes of TLVs.
fn proxy_header(command: u8, family: u8, addresses: &[u8], extra: usize) -> Vec<u8> {
    let mut bytes = PROXY_SIGNATURE.to_vec();
    bytes.push(0x20 | command);
    bytes.push(family);
    let len = u16::try_from(addresses.len() + extra).unwrap();
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(addresses);
    bytes.extend(std::iter::repeat_n(0u8, extra));
    bytes
}

fn v4_block() -> Vec<u8> {
    [[198, 51, 100, 1], [10, 0, 0, 1]]
        .concat()
        .into_iter()
        .chain([0x12, 0x34, 0x01, 0xbb])
        .collect()
}

fn v6_block() -> Vec<u8> {
    let source: IpAddr = ip("2001:db8::1");
    let IpAddr::V6(source) = source else {
        unreachable!()
    };
    let mut block = source.octets().to_vec();
    block.extend_from_slice(&[0u8; 16]);
    block.extend_from_slice(&[0x00, 0x50, 0x01, 0xbb]);
    block
}

#[test]
fn proxy_v2_headers_parse() {
    let v4 = proxy_header(1, 0x11, &v4_block(), 0);
    let v4_tlv = proxy_header(1, 0x11, &v4_block(), 7);
    let v6 = proxy_header(1, 0x21, &v6_block(), 0);
    let udp4 = proxy_header(1, 0x12, &v4_block(), 0);
    let local = proxy_header(0, 0x00, &[], 0);
    let unix = proxy_header(1, 0x31, &[0u8; 216], 0);
    let unspec = proxy_header(1, 0x00, &[], 3);
    let source = |text: &str| Some(text.parse::<SocketAddr>().unwrap());
    let cases: &[(&[u8], Result<ProxyHeader, ProxyError>)] = &[
        (
            &v4,
            Ok(ProxyHeader {
                len: 28,
                source: source("198.51.100.1:4660"),
            }),
        ),
        (
            &v4_tlv,
            Ok(ProxyHeader {
                len: 35,
                source: source("198.51.100.1:4660"),
            }),
        ),
        (
            &v6,
            Ok(ProxyHeader {
                len: 52,
                source: source("[2001:db8::1]:80"),
            }),
        ),
        (
            &udp4,
            Ok(ProxyHeader {
                len: 28,
                source: source("198.51.100.1:4660"),
            }),
        ),
        (
            &local,
            Ok(ProxyHeader {
                len: 16,
                source: None,
            }),
        ),
        (
            &unix,
            Ok(ProxyHeader {
                len: 232,
                source: None,
            }),
        ),
        (
            &unspec,
            Ok(ProxyHeader {
                len: 19,
                source: None,
            }),
        ),
        (b"GET / HTTP/1.1\r\n", Err(ProxyError::NoSignature)),
        (b"PRI * HTTP/2.0\r\n", Err(ProxyError::NoSignature)),
        (
            b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n",
            Err(ProxyError::NoSignature),
        ),
        (
            &proxy_header(2, 0x11, &v4_block(), 0),
            Err(ProxyError::Command(2)),
        ),
        (
            &proxy_header(1, 0x11, &v4_block()[..11], 0),
            Err(ProxyError::ShortAddresses),
        ),
        (
            &proxy_header(1, 0x21, &v4_block(), 0),
            Err(ProxyError::ShortAddresses),
        ),
        (
            &proxy_header(1, 0x11, &v4_block(), MAX_PROXY_HEADER_LEN),
            Err(ProxyError::TooLong),
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(&parse_proxy_v2(bytes), expected, "{bytes:?}");
    }
    let mut version_1 = v4.clone();
    version_1[12] = 0x11;
    assert_eq!(parse_proxy_v2(&version_1), Err(ProxyError::Version(1)));
    let mut followed = v4.clone();
    followed.extend_from_slice(b"GET / HTTP/1.1\r\n");
    assert_eq!(parse_proxy_v2(&followed).unwrap().len, 28);
}

/// Every truncation of a valid header asks for more bytes, never misreads.
#[test]
fn proxy_v2_truncations_ask_for_more() {
    for header in [
        proxy_header(1, 0x11, &v4_block(), 5),
        proxy_header(1, 0x21, &v6_block(), 0),
    ] {
        for cut in 0..header.len() {
            let expected = if cut < PROXY_FIXED_LEN {
                PROXY_FIXED_LEN
            } else {
                header.len()
            };
            assert_eq!(
                parse_proxy_v2(&header[..cut]),
                Err(ProxyError::Incomplete(expected)),
                "cut at {cut}"
            );
        }
    }
}
