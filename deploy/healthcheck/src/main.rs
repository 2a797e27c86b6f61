//! `sealgate-healthcheck`: the container image's health check.
//!
//! The runtime image is distroless (no shell, no curl), so Docker's `HEALTHCHECK` runs this
//! program. It sends `GET /metrics` to the gateway's metrics listener on loopback and exits 0
//! on `200`, 1 otherwise, within a few seconds. The metrics listener is used, not the API's
//! `/healthz`, because it always speaks plain HTTP, whereas the API listener speaks TLS when
//! the gateway has a certificate; both are served by the same process and runtime, so an
//! answer on either shows that the process is alive.
//!
//! The address is the first argument if given, else `SEALGATE_METRICS_LISTEN` (the variable
//! the gateway itself reads) with an unspecified address (`0.0.0.0`, `[::]`) replaced by
//! loopback, else `127.0.0.1:9090`.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// Connect, write and read each get this long; the whole check stays well under Docker's
/// default 30 s health-check timeout.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The gateway's default metrics address.
const DEFAULT_TARGET: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9090);

fn main() -> ExitCode {
    let configured = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SEALGATE_METRICS_LISTEN").ok());
    let target = match configured.as_deref().map(target_from) {
        None => DEFAULT_TARGET,
        Some(Ok(target)) => target,
        Some(Err(error)) => {
            eprintln!("sealgate-healthcheck: {error}");
            return ExitCode::FAILURE;
        }
    };
    match check(target) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sealgate-healthcheck: {target}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The address to connect to for a listen address: an unspecified IP becomes loopback.
fn target_from(listen: &str) -> Result<SocketAddr, String> {
    let mut addr: SocketAddr = listen
        .trim()
        .parse()
        .map_err(|_| format!("`{listen}` is not an address like 127.0.0.1:9090"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// `GET /metrics`, expecting a `200` status line.
fn check(target: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    // The status line is all that matters; read until it is complete.
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_ok(&head)
}

/// Whether a response starts with an HTTP/1.x `200` status line.
fn status_ok(head: &[u8]) -> Result<(), String> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/1.") => Ok(()),
        _ if line.trim().is_empty() => Err("no answer".into()),
        _ => Err(format!("answered `{}`", line.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_become_loopback() {
        assert_eq!(target_from("0.0.0.0:9090").unwrap(), DEFAULT_TARGET);
        assert_eq!(
            target_from("[::]:9191").unwrap(),
            "[::1]:9191".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            target_from("10.1.2.3:9090").unwrap(),
            "10.1.2.3:9090".parse::<SocketAddr>().unwrap()
        );
        assert!(target_from("localhost:9090").is_err());
        assert!(target_from("").is_err());
    }

    #[test]
    fn only_a_200_status_line_passes() {
        assert!(status_ok(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n").is_ok());
        assert!(status_ok(b"HTTP/1.0 200 OK\r\n").is_ok());
        assert!(status_ok(b"HTTP/1.1 503 Service Unavailable\r\n").is_err());
        assert!(status_ok(b"HTTP/1.1 2000 OK\r\n").is_err());
        assert!(status_ok(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(status_ok(b"").is_err());
    }

    #[test]
    fn a_closed_port_fails_fast() {
        // Bind and drop a listener: the port is then (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let started = std::time::Instant::now();
        assert!(check(port).is_err());
        assert!(started.elapsed() < TIMEOUT * 2);
    }
}
