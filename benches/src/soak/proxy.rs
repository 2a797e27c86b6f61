//! A loopback TCP load balancer in front of the gateways, as a deployment has one: each new
//! connection goes to the next gateway in turn, or to the other one when it refuses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long connecting to one gateway may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Connections handed to each gateway, and refused by all.
#[derive(Default)]
pub(crate) struct ProxyCounts {
    /// Connections proxied, per gateway.
    pub(crate) per_gateway: Vec<AtomicU64>,
    /// Connections no gateway accepted.
    pub(crate) refused: AtomicU64,
}

/// Listens on a free loopback port and proxies to `backends`; returns its address.
pub(crate) async fn start(
    backends: Vec<SocketAddr>,
) -> anyhow::Result<(SocketAddr, Arc<ProxyCounts>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counts = Arc::new(ProxyCounts {
        per_gateway: backends.iter().map(|_| AtomicU64::new(0)).collect(),
        refused: AtomicU64::new(0),
    });
    let next = Arc::new(AtomicUsize::new(0));
    let backends = Arc::new(backends);
    let shared = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            let (backends, next, counts) = (backends.clone(), next.clone(), shared.clone());
            tokio::spawn(async move {
                let first = next.fetch_add(1, Ordering::Relaxed);
                for offset in 0..backends.len() {
                    let index = (first + offset) % backends.len();
                    let connect = TcpStream::connect(backends[index]);
                    if let Ok(Ok(backend)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                        counts.per_gateway[index].fetch_add(1, Ordering::Relaxed);
                        pipe(client, backend).await;
                        return;
                    }
                }
                counts.refused.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    Ok((addr, counts))
}

/// Copies both ways until either side closes or fails.
async fn pipe(mut client: TcpStream, mut backend: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
}
