//! Connection floods, bounded and on loopback: the per-address and global caps (sources from
//! 127.0.0.0/8), an idle HTTP/2 connection closed after the timeout, an oversized head
//! answered 431, and /healthz answering through it all.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sealgate_testkit::gateway::{TestGateway, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Generous: the machine is shared; outcomes are exact.
const DEADLINE: Duration = Duration::from_secs(20);

/// A connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the peer closes (or resets), returning what came; panics past the deadline.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was not closed");
    received
}

/// `GET /healthz` over a fresh HTTP/1.1 connection from `from`: the status line.
async fn healthz_from(from: [u8; 4], to: SocketAddr) -> String {
    let mut stream = connect_from(from, to).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let reply = read_to_close(&mut stream).await;
    String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn per_address_cap_closes_the_next_connection_only_for_that_address() {
    let mut config = test_config();
    config.limits.max_connections_per_ip = 3;
    let gateway = TestGateway::start_with(config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 0, 2], gateway.addr()).await);
    }
    let mut refused = connect_from([127, 0, 0, 2], gateway.addr()).await;
    let started = Instant::now();
    assert!(read_to_close(&mut refused).await.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5), "closed at once");
    assert_eq!(
        healthz_from([127, 0, 0, 3], gateway.addr()).await,
        "HTTP/1.1 200 OK"
    );
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("sealgate_connections_refused_total{reason=\"per_ip_cap\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("sealgate_open_files_limit "), "{metrics}");
    drop(held);
    // The slots are free again once the held connections close.
    let freed = async {
        loop {
            if healthz_from([127, 0, 0, 2], gateway.addr()).await == "HTTP/1.1 200 OK" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(DEADLINE, freed)
        .await
        .expect("slots freed");
}

#[tokio::test]
async fn global_cap_holds_across_addresses() {
    let mut config = test_config();
    config.limits.max_connections = 4;
    let gateway = TestGateway::start_with(config).await;
    let mut held = Vec::new();
    for last in 2..6u8 {
        held.push(connect_from([127, 0, 1, last], gateway.addr()).await);
    }
    let mut refused = connect_from([127, 0, 1, 9], gateway.addr()).await;
    assert!(read_to_close(&mut refused).await.is_empty());
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("sealgate_connections_refused_total{reason=\"global_cap\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("sealgate_open_connections 4"), "{metrics}");
}

#[tokio::test]
async fn an_oversized_head_is_answered_431() {
    let mut config = test_config();
    config.limits.max_header_bytes = 8192;
    let gateway = TestGateway::start_with(config).await;
    let mut stream = connect_from([127, 0, 0, 4], gateway.addr()).await;
    let mut request = b"GET /healthz HTTP/1.1\r\nhost: gw\r\n".to_vec();
    for n in 0..200 {
        request.extend_from_slice(format!("x-filler-{n}: {}\r\n", "a".repeat(100)).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    // The gateway may close before reading it all: a failed write is part of the outcome.
    let _ = stream.write_all(&request).await;
    let reply = read_to_close(&mut stream).await;
    let status = String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    // A head under the cap is served.
    assert_eq!(
        healthz_from([127, 0, 0, 4], gateway.addr()).await,
        "HTTP/1.1 200 OK"
    );
}

/// The client half of an HTTP/2 connection that opens no stream: preface and SETTINGS.
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_timeout() {
    let mut config = test_config();
    config.limits.http2_idle_timeout_secs = 1;
    let gateway = TestGateway::start_with(config).await;
    let mut stream = connect_from([127, 0, 0, 5], gateway.addr()).await;
    let started = Instant::now();
    stream.write_all(H2_PREFACE_AND_SETTINGS).await.unwrap();
    let received = read_to_close(&mut stream).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1),
        "closed after {elapsed:?}"
    );
    // A GOAWAY frame (type 7) came before the close.
    let mut frames = &received[..];
    let mut saw_goaway = false;
    while frames.len() >= 9 {
        let len =
            usize::from(frames[0]) << 16 | usize::from(frames[1]) << 8 | usize::from(frames[2]);
        saw_goaway |= frames[3] == 7;
        frames = &frames[(9 + len).min(frames.len())..];
    }
    assert!(saw_goaway, "{received:?}");
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("sealgate_http2_idle_closed_total 1"),
        "{metrics}"
    );
}

/// 200 idle connections from 20 addresses: /healthz from another address still answers.
#[tokio::test]
async fn healthz_answers_during_a_connection_flood() {
    let gateway = TestGateway::start_with(test_config()).await;
    let mut flood = Vec::new();
    for n in 0..200u8 {
        let mut stream = connect_from([127, 0, 2, 10 + n % 20], gateway.addr()).await;
        stream.write_all(H2_PREFACE_AND_SETTINGS).await.unwrap();
        flood.push(stream);
    }
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(
            healthz_from([127, 0, 3, 1], gateway.addr()).await,
            "HTTP/1.1 200 OK"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    let metrics = gateway.metrics().await;
    let open = sealgate_testkit::gateway::metric_value(&metrics, "sealgate_open_connections");
    assert!(open.is_some_and(|open| open >= 200.0), "{open:?}");
}

/// A PROXY v2 header (TCP over IPv4) naming `source` as the client.
fn proxy_v2_from(source: [u8; 4]) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&source);
    header.extend_from_slice(&[127, 0, 0, 1, 0x30, 0x39, 0x1f, 0x90]);
    header
}

/// Behind a trusted proxy speaking PROXY v2, the per-address cap counts the clients it
/// names, not the proxy; a trusted peer without the header is closed; an untrusted peer is
/// served as it is.
#[tokio::test]
async fn proxy_protocol_names_the_client_for_the_cap() {
    let mut config = test_config();
    config.trusted_proxies = vec!["127.0.0.6/32".to_owned()];
    config.proxy_protocol = true;
    config.limits.max_connections_per_ip = 1;
    let gateway = TestGateway::start_with(config).await;
    let mut first = connect_from([127, 0, 0, 6], gateway.addr()).await;
    first
        .write_all(&proxy_v2_from([198, 51, 100, 1]))
        .await
        .unwrap();
    let mut other_client = connect_from([127, 0, 0, 6], gateway.addr()).await;
    other_client
        .write_all(&proxy_v2_from([198, 51, 100, 2]))
        .await
        .unwrap();
    other_client
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let reply = read_to_close(&mut other_client).await;
    assert!(reply.starts_with(b"HTTP/1.1 200 OK"), "{reply:?}");
    let mut same_client = connect_from([127, 0, 0, 6], gateway.addr()).await;
    same_client
        .write_all(&proxy_v2_from([198, 51, 100, 1]))
        .await
        .unwrap();
    assert!(read_to_close(&mut same_client).await.is_empty());
    let mut no_header = connect_from([127, 0, 0, 6], gateway.addr()).await;
    let _ = no_header
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
        .await;
    assert!(read_to_close(&mut no_header).await.is_empty());
    assert_eq!(
        healthz_from([127, 0, 0, 7], gateway.addr()).await,
        "HTTP/1.1 200 OK"
    );
    drop(first);
}
