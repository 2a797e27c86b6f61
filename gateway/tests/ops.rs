//! Operations over real sockets: health, readiness, the OpenAPI document, metrics on their own
//! listener, TLS (1.2 and 1.3, ALPN h2 and http/1.1), read timeouts against slow clients,
//! graceful shutdown, and a TLS certificate renewed under a running gateway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use sealgate_testkit::{
    TestGateway, assert_problem, fake_id_token, seal_for, send_with, test_config,
};

#[tokio::test]
async fn health_readiness_and_openapi() {
    let gw = TestGateway::start().await;
    gw.get("/healthz").await.assert_status(200);
    let ready = gw.get("/readyz").await;
    assert_eq!(ready.assert_status(200).json()["status"], "ready");

    let openapi = gw.get("/openapi.json").await;
    openapi.assert_status(200);
    assert_eq!(
        openapi.header(header::CONTENT_TYPE),
        Some("application/json")
    );
    let served: serde_json::Value = openapi.json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let mut on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    on_disk["servers"] = serde_json::json!([{ "url": gw.base() }]);
    assert_eq!(
        served, on_disk,
        "the served document is the checked-in file, with this gateway as its server"
    );
}

/// The served document states the configured TTL maximum, and that is the bound enforced.
#[tokio::test]
async fn the_served_openapi_states_the_configured_ttl_maximum() {
    let mut config = test_config();
    config.limits.max_ttl_secs = 300;
    let gw = TestGateway::start_with(config).await;
    let served: serde_json::Value = gw.get("/openapi.json").await.assert_status(200).json();
    assert_eq!(
        served["components"]["schemas"]["OpenMailbox"]["properties"]["ttl"]["maximum"],
        300
    );
    let client = gw.register().await;
    for (ttl, status) in [(300, 201), (301, 400)] {
        let body = serde_json::json!({ "ttl": ttl });
        gw.open_raw(Some(&client.basic()), Some(body))
            .await
            .assert_status(status);
    }
}

#[tokio::test]
async fn metrics_are_on_their_own_listener_with_bounded_labels() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    gw.deposit(&mailbox.id, &envelope).await.assert_status(201);
    gw.poll(&client.basic(), &mailbox.id, 0)
        .await
        .assert_status(200);

    assert_problem(&gw.get("/metrics").await, 404, "not-found");
    let metrics = gw.metrics().await;
    let deposit_line = metrics.lines().find(|line| {
        line.starts_with("sealgate_http_requests_total{")
            && line.contains("route=\"/v1/mailboxes/{mailbox_id}\"")
            && line.contains("method=\"PUT\"")
    });
    assert!(deposit_line.is_some(), "{metrics}");
    assert!(metrics.contains("sealgate_build_info{"), "{metrics}");
    #[cfg(target_os = "linux")]
    for (series, at_least) in [
        ("process_resident_memory_bytes", 1_000_000.0),
        ("process_open_fds", 3.0),
        ("process_max_fds", 64.0),
        ("process_start_time_seconds", 1_700_000_000.0),
    ] {
        let value = sealgate_testkit::metric_value(&metrics, series)
            .unwrap_or_else(|| panic!("{series} missing from {metrics}"));
        assert!(value >= at_least, "{series} = {value}");
    }
    assert!(metrics.contains("process_cpu_seconds_total"), "{metrics}");
    for id in [&client.id, &mailbox.id] {
        assert!(
            !metrics.contains(id.as_str()),
            "an id leaked into the metrics"
        );
    }
    let elsewhere = format!("http://{}/other", gw.gateway.metrics_addr());
    let request = Request::get(elsewhere).body(Full::default()).unwrap();
    let http = Client::builder(TokioExecutor::new()).build_http();
    send_with(&http, request).await.assert_status(404);
}

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM into `dir`.
fn self_signed(
    dir: &std::path::Path,
) -> (
    CertificateDer<'static>,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("a certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (certified.cert.der().clone(), cert, key)
}

/// A TLS client trusting only `root`, offering `alpn`, speaking only `versions`.
fn tls_client(
    root: &CertificateDer<'static>,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// Connects with `connector`, sends `GET /healthz` over the negotiated protocol, and returns
/// (ALPN, TLS version, status).
async fn healthz_over_tls(addr: SocketAddr, connector: &TlsConnector) -> (Vec<u8>, String, u16) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (_, session) = tls.get_ref();
    let alpn = session.alpn_protocol().unwrap_or_default().to_vec();
    let version = format!("{:?}", session.protocol_version().unwrap());
    let request = Request::get(format!("https://localhost:{}/healthz", addr.port()))
        .header(header::HOST, format!("localhost:{}", addr.port()))
        .body(Full::<Bytes>::default())
        .unwrap();
    let io = TokioIo::new(tls);
    let response = if alpn == b"h2" {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    };
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    (alpn, version, status)
}

#[tokio::test]
async fn tls_negotiates_h2_and_http1_over_tls_1_2_and_1_3() {
    let dir = tempfile::tempdir().unwrap();
    let (root, cert, key) = self_signed(dir.path());
    let mut config = test_config();
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
    let gw = TestGateway::start_with(config).await;
    let (tls12, tls13) = (&rustls::version::TLS12, &rustls::version::TLS13);

    for (versions, expected) in [(vec![tls12], "TLSv1_2"), (vec![tls13], "TLSv1_3")] {
        for alpn in [&b"h2"[..], &b"http/1.1"[..]] {
            let connector = tls_client(&root, &versions, &[alpn]);
            let (negotiated, version, status) = healthz_over_tls(gw.addr(), &connector).await;
            assert_eq!(negotiated, alpn);
            assert_eq!(version, expected);
            assert_eq!(status, 200);
        }
    }
    // A client offering both gets h2; plain HTTP on the TLS port gets nowhere.
    let both = tls_client(&root, &[tls13, tls12], &[b"h2", b"http/1.1"]);
    assert_eq!(healthz_over_tls(gw.addr(), &both).await.0, b"h2");
    let plain =
        sealgate_testkit::raw_exchange(gw.addr(), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");
}

/// Connects, writes `prefix`, and returns how long the server took to close the connection
/// (EOF or reset), or `None` if it was still open after `limit`.
async fn time_to_close(addr: SocketAddr, prefix: &[u8], limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(prefix).await.unwrap();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {} // a 408 or similar before the close is fine
        }
    }
}

fn slow_client_config() -> sealgate::Config {
    let mut config = test_config();
    config.limits.header_read_timeout_secs = 1;
    config.limits.body_read_timeout_secs = 1;
    config
}

#[tokio::test]
async fn a_partial_request_line_is_cut_off() {
    let gw = TestGateway::start_with(slow_client_config()).await;
    let closed = time_to_close(gw.addr(), b"GET /healthz HT", Duration::from_secs(4)).await;
    assert!(
        closed.is_some(),
        "a slowloris connection was still open after 4 s"
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_cut_off() {
    // The same attack without a single byte: nothing tells HTTP/1 from HTTP/2 yet.
    let gw = TestGateway::start_with(slow_client_config()).await;
    let closed = time_to_close(gw.addr(), b"", Duration::from_secs(4)).await;
    assert!(
        closed.is_some(),
        "an idle connection was still open after 4 s"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_cut_off() {
    let gw = TestGateway::start_with(slow_client_config()).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let closed = time_to_close(gw.addr(), request, Duration::from_secs(4)).await;
    assert!(
        closed.is_some(),
        "an idle keep-alive connection was still open after 4 s"
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_is_cut_off() {
    let gw = TestGateway::start_with(slow_client_config()).await;
    let head = "PUT /v1/mailboxes/AAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/jose\r\nContent-Length: 100\r\n\r\nabc";
    let started = Instant::now();
    let response = sealgate_testkit::raw_exchange(gw.addr(), head.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_long_polls_and_closes_the_port() {
    let mut config = test_config();
    config.limits.shutdown_grace_secs = 20;
    let gw = TestGateway::start_with(config).await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let (api, metrics) = (gw.addr(), gw.gateway.metrics_addr());

    let poll = gw
        .request(
            http::Method::GET,
            &format!("/v1/mailboxes/{}?wait=30", mailbox.id),
        )
        .header(header::AUTHORIZATION, client.basic())
        .body(Full::default())
        .unwrap();
    let poller = tokio::spawn(async move {
        let http = Client::builder(TokioExecutor::new()).build_http();
        let reply = send_with(&http, poll).await;
        (reply, Instant::now())
    });
    gw.wait_for_waiters(1).await;

    let started = Instant::now();
    let shutdown = tokio::spawn(gw.gateway.shutdown());
    let (reply, answered_at) = poller.await.unwrap();
    reply.assert_status(202);
    assert_eq!(reply.json()["error"], "authorization_pending");
    assert!(reply.header(header::RETRY_AFTER).is_some());
    let answered = answered_at.duration_since(started);
    assert!(
        answered < Duration::from_secs(3),
        "the long-poll was answered after {answered:?}"
    );

    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown returns well within the 20 s grace period")
        .unwrap();
    for addr in [api, metrics] {
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts"
        );
    }
}

/// A self-signed certificate for `localhost` whose subject is `common_name`, as (DER, PEM
/// certificate, PEM key).
fn named_certificate(common_name: &str) -> (CertificateDer<'static>, String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.der().clone(), cert.pem(), key.serialize_pem())
}

/// Writes `contents` beside `path` and renames it over `path`, as a certificate renewal does.
fn replace_file(path: &std::path::Path, contents: &str) {
    let staged = path.with_extension("new");
    std::fs::write(&staged, contents).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

/// Opens a TLS connection offering HTTP/1.1 and returns it with the certificate the server
/// presented.
async fn tls_connect(
    addr: SocketAddr,
    connector: &TlsConnector,
) -> (
    tokio_rustls::client::TlsStream<TcpStream>,
    CertificateDer<'static>,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    (tls, presented)
}

/// The value of `sealgate_tls_reloads_total{outcome="…"}`, 0 before the first.
async fn tls_reloads(gw: &TestGateway, outcome: &str) -> u64 {
    let metrics = gw.metrics().await;
    let prefix = format!("sealgate_tls_reloads_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map_or(0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (first_der, first_cert, first_key) = named_certificate("sealgate first");
    let (second_der, second_cert, second_key) = named_certificate("sealgate second");
    std::fs::write(&cert_path, &first_cert).unwrap();
    std::fs::write(&key_path, &first_key).unwrap();
    let mut config = test_config();
    config.tls_cert = Some(cert_path.clone());
    config.tls_key = Some(key_path.clone());
    config.tls_reload_secs = 1;
    let gw = TestGateway::start_with(config).await;

    let mut roots = RootCertStore::empty();
    roots.add(first_der.clone()).unwrap();
    roots.add(second_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(client));
    let healthz = || {
        Request::get("/healthz")
            .header(header::HOST, "localhost")
            .body(Full::<Bytes>::default())
            .unwrap()
    };

    // A keep-alive connection made with the first certificate.
    let (kept, presented) = tls_connect(gw.addr(), &connector).await;
    assert_eq!(presented, first_der);
    let (mut kept, conn) = hyper::client::conn::http1::handshake(TokioIo::new(kept))
        .await
        .unwrap();
    tokio::spawn(conn);
    let response = kept.send_request(healthz()).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();

    // The renewal: new handshakes soon get the second certificate.
    replace_file(&key_path, &second_key);
    replace_file(&cert_path, &second_cert);
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let (_, presented) = tls_connect(gw.addr(), &connector).await;
        if presented == second_der {
            break;
        }
        assert!(Instant::now() < deadline, "still the first certificate");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tls_reloads(&gw, "ok").await >= 1);

    // The connection made before it still answers.
    let response = kept.send_request(healthz()).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();

    // A broken certificate file is refused and counted; the second certificate stays.
    let errors_before = tls_reloads(&gw, "error").await;
    replace_file(&cert_path, "not a certificate\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while tls_reloads(&gw, "error").await == errors_before {
        assert!(Instant::now() < deadline, "the broken file was not noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, presented) = tls_connect(gw.addr(), &connector).await;
    assert_eq!(presented, second_der);
}
