//! The listeners: accept connections (TLS when configured), serve HTTP/1.1 and HTTP/2, and
//! shut down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::app::{App, SharedApp};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::http::first_byte::FirstByteDeadline;
use crate::http::router;
use crate::store::{self, SharedStore};

/// How often an idle HTTP/2 connection is pinged, and how long the answer may take: a peer
/// that has gone away is dropped.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// See [`HTTP2_KEEP_ALIVE_INTERVAL`].
const HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running gateway: its bound addresses, and the handle that stops it.
pub struct Gateway {
    api_addr: SocketAddr,
    metrics_addr: SocketAddr,
    app: SharedApp,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Gateway {
    /// Binds the listeners, connects the store named in `config`, and starts serving.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let hub = store::WakeHub::default();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = store::connect(&config, hub, clock.clone()).await?;
        Self::start_with(config, store, clock).await
    }

    /// Starts serving with a store and clock supplied by the caller.
    pub async fn start_with(
        config: Config,
        store: SharedStore,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        config.validate()?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
            _ => None,
        };
        let api = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let metrics = TcpListener::bind(config.metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {} for metrics", config.metrics_listen))?;
        let (api_addr, metrics_addr) = (api.local_addr()?, metrics.local_addr()?);
        let mut config = config;
        if config.public_url.is_none() {
            // Name the port actually bound (it differs from the configured one for port 0).
            let scheme = if tls.is_some() { "https" } else { "http" };
            config.public_url = Some(format!("{scheme}://{api_addr}"));
        }
        let (stop, stopping) = watch::channel(false);
        let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
        let app = Arc::new(App::new(config, store, clock, stopping.clone())?);
        if let Some(webhooks) = &app.webhooks {
            tokio::spawn(crate::webhook::worker::run(app.clone(), webhooks.clone()));
        }
        let task = tokio::spawn(serve(app.clone(), api, metrics, tls, stopping, grace));
        tracing::info!(%api_addr, %metrics_addr, store = app.store.kind(), "sealgate serving");
        Ok(Self {
            api_addr,
            metrics_addr,
            app,
            stop,
            task,
        })
    }

    /// Where the API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Where metrics are served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The shared state, for tests and embedding.
    pub fn app(&self) -> &SharedApp {
        &self.app
    }

    /// Stops accepting, answers waiting long-polls, lets in-flight requests finish within the
    /// grace period, and returns when everything is closed.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal().await?;
        tracing::info!("signal received, shutting down");
        self.shutdown().await;
        Ok(())
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

async fn serve(
    app: SharedApp,
    api: TcpListener,
    metrics: TcpListener,
    tls: Option<TlsAcceptor>,
    mut stopping: watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let header_timeout = app.config.limits.header_read_timeout();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.config.limits.header_read_timeout());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(HTTP2_KEEP_ALIVE_INTERVAL))
        .keep_alive_timeout(HTTP2_KEEP_ALIVE_TIMEOUT);
    loop {
        tokio::select! {
            accepted = api.accept() => match accepted {
                Ok((stream, peer)) => {
                    let app = app.clone();
                    let service = service_fn(move |request| {
                        let app = app.clone();
                        async move { Ok::<_, std::convert::Infallible>(router::serve_api(&app, request, peer).await) }
                    });
                    spawn_connection(&builder, &graceful, stream, tls.clone(), header_timeout, service);
                }
                Err(error) => accept_error(error).await,
            },
            accepted = metrics.accept() => match accepted {
                Ok((stream, _)) => {
                    let app = app.clone();
                    let service = service_fn(move |request| {
                        let app = app.clone();
                        async move { Ok::<_, std::convert::Infallible>(router::serve_metrics(&app, request).await) }
                    });
                    spawn_connection(&builder, &graceful, stream, None, header_timeout, service);
                }
                Err(error) => accept_error(error).await,
            },
            () = stopped(&mut stopping) => break,
        }
    }
    drop((api, metrics));
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "connections still open after the grace period; closing them"
        );
    }
}

fn spawn_connection<S, B>(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    first_byte_timeout: Duration,
    service: S,
) where
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let _ = stream.set_nodelay(true);
    let builder = builder.clone();
    let watcher = graceful.watcher();
    tokio::spawn(async move {
        let served: std::pin::Pin<Box<dyn Future<Output = _> + Send>> = match tls {
            None => {
                let io = TokioIo::new(FirstByteDeadline::new(stream, first_byte_timeout));
                Box::pin(watcher.watch(builder.serve_connection(io, service).into_owned()))
            }
            Some(acceptor) => {
                let Ok(Ok(stream)) =
                    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                else {
                    return;
                };
                let io = TokioIo::new(FirstByteDeadline::new(stream, first_byte_timeout));
                Box::pin(watcher.watch(builder.serve_connection(io, service).into_owned()))
            }
        };
        if let Err(error) = served.await {
            tracing::debug!(%error, "connection closed with an error");
        }
    });
}

/// Resolves once `stopping` turns true (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Accept errors (out of file descriptors, say) are transient: pause instead of spinning.
async fn accept_error(error: std::io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
