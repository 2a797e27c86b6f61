//! The URL policy's tests: forms, addresses, ports, and names that resolve to loopback.

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
