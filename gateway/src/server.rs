//! The listeners: accept connections (TLS when configured), serve HTTP/1.1 and HTTP/2, and
//! shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::api::router;
use crate::app::{App, SharedApp};
use crate::client_addr::{PROXY_FIXED_LEN, ProxyError, parse_proxy_v2};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::connections::{ConnectionPermit, StreamTracker};
use crate::http::first_byte::FirstByteDeadline;
use crate::server_drive::{AcceptErrors, counted, drive};
use crate::store::{self, SharedStore};
use crate::tls::reload::CertReloader;

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
        let (tls, cert_reloader) = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let interval = config.tls_reload_interval();
                let (certificates, reloader) = CertReloader::load(cert, key, interval)?;
                (Some(crate::tls::acceptor(certificates)?), Some(reloader))
            }
            _ => (None, None),
        };
        let api = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let metrics = TcpListener::bind(config.metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {} for metrics", config.metrics_listen))?;
        let (api_addr, metrics_addr) = (api.local_addr()?, metrics.local_addr()?);
        if config.registration_is_open() && config.open_registration {
            tracing::warn!(
                listen = %api_addr,
                "open registration: anyone who reaches this gateway can register clients \
                 (set a registration token to close it)"
            );
        } else if config.registration_is_open() {
            tracing::info!(listen = %api_addr, "registration is open on this loopback listener");
        }
        let mut config = config;
        if config.public_url.is_none() {
            // Name the port actually bound (it differs from the configured one for port 0).
            let scheme = if tls.is_some() { "https" } else { "http" };
            config.public_url = Some(format!("{scheme}://{api_addr}"));
        }
        let (stop, stopping) = watch::channel(false);
        let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
        let push = crate::push::Push::start(&config, &store, clock.clone()).await?;
        let app = Arc::new(App::new(config, store, clock, stopping.clone())?.with_push(push));
        let open_files = crate::connections::raise_open_files_limit();
        let shown = open_files.map_or(i64::MAX, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
        app.connections.metrics().open_files_limit.set(shown);
        tracing::info!(open_files_limit = ?open_files, "open-files limit");
        if let Some(webhooks) = &app.webhooks {
            tokio::spawn(crate::webhook::worker::run(
                webhooks.clone(),
                stopping.clone(),
            ));
        }
        if let Some(reloader) = cert_reloader {
            tokio::spawn(reloader.run(app.metrics.clone(), stopping.clone()));
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

    /// How many long-polls wait on this instance now (what `sealgate_longpoll_waiters`
    /// reports).
    pub fn waiting_polls(&self) -> i64 {
        self.app.metrics.longpoll_waiters.get()
    }

    /// Stops accepting, answers waiting long-polls, lets in-flight requests finish within the
    /// grace period, and returns when everything is closed.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully. A signal that comes before
    /// this is called kills the process at once: a process that may be stopped in its first
    /// moments takes [`termination_signal`] before it starts the gateway, then calls
    /// [`Gateway::run_until`].
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        let signal = termination_signal()?;
        self.run_until(signal).await;
        Ok(())
    }

    /// Serves until `signal` completes, then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("signal received, shutting down");
        self.shutdown().await;
    }
}

/// Completes at the first SIGTERM or SIGINT from now on: the handlers are installed when this
/// is called (inside a tokio runtime), and from then on neither signal kills the process.
pub fn termination_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
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
    let max_head = app.config.limits.max_header_bytes;
    // Checked by `Config::validate`.
    let max_header_list = u32::try_from(max_head).unwrap_or(u32::MAX);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(max_head)
        .header_read_timeout(app.config.limits.header_read_timeout());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(max_header_list)
        .keep_alive_interval(Some(HTTP2_KEEP_ALIVE_INTERVAL))
        .keep_alive_timeout(HTTP2_KEEP_ALIVE_TIMEOUT);
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .max_buf_size(max_head)
        .header_read_timeout(app.config.limits.header_read_timeout());
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_header_list_size(max_header_list)
        .keep_alive_interval(Some(HTTP2_KEEP_ALIVE_INTERVAL))
        .keep_alive_timeout(HTTP2_KEEP_ALIVE_TIMEOUT);
    let builders = Arc::new(Builders {
        detect: builder,
        http1,
        http2,
        http2_idle_timeout: app.config.limits.http2_idle_timeout(),
        http2_idle_closed: app.connections.metrics().http2_idle_closed.clone(),
    });
    let mut accept_errors = AcceptErrors::default();
    loop {
        tokio::select! {
            accepted = api.accept() => match accepted {
                Ok((stream, peer)) => {
                    let trusted = app.trusted_proxies.trusts(peer.ip());
                    // A trusted proxy carries many clients: only the total counts it.
                    let Ok(permit) = app.connections.admit((!trusted).then_some(peer.ip())) else {
                        drop(stream);
                        continue;
                    };
                    let app = app.clone();
                    let proxied = trusted && app.config.proxy_protocol;
                    let builders = builders.clone();
                    let watcher = graceful.watcher();
                    let stopping = stopping.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let Some((stream, peer, _permit)) =
                            read_proxy_header(&app, stream, peer, permit, proxied, header_timeout).await
                        else {
                            return;
                        };
                        let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let app = app.clone();
                            // A trusted proxy's forwarding headers may name the client.
                            let client = app.trusted_proxies.client_of(peer.ip(), request.headers());
                            let client = SocketAddr::new(client, peer.port());
                            // Boxed: a future keeps what it captures for its whole life, so a
                            // request captured by value (about 270 bytes) would stay in it next
                            // to the copy `serve_api` holds, in every waiting long-poll.
                            let request = Box::new(request);
                            async move {
                                Ok::<_, std::convert::Infallible>(router::serve_api(&app, *request, client).await)
                            }
                        });
                        serve_connection(&builders, watcher, stopping, stream, tls, header_timeout, service).await;
                    });
                }
                Err(error) => accept_errors.handle(error, &app).await,
            },
            accepted = metrics.accept() => match accepted {
                Ok((stream, _)) => {
                    let app = app.clone();
                    let service = service_fn(move |request| {
                        let app = app.clone();
                        async move { Ok::<_, std::convert::Infallible>(router::serve_metrics(&app, request).await) }
                    });
                    let (builders, watcher, stopping) = (builders.clone(), graceful.watcher(), stopping.clone());
                    tokio::spawn(async move {
                        serve_connection(&builders, watcher, stopping, stream, None, header_timeout, service).await;
                    });
                }
                Err(error) => accept_errors.handle(error, &app).await,
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

/// The connection builders, configured alike: one that reads the protocol off the connection
/// (TLS), and hyper's own for each protocol, chosen by peeking at the first bytes (plain TCP):
/// a connection then holds only its protocol's state, not the auto builder's for both.
struct Builders {
    detect: auto::Builder<TokioExecutor>,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    http2_idle_timeout: Duration,
    http2_idle_closed: prometheus::IntCounter,
}

impl Builders {
    /// Drives an HTTP/2 (or negotiated) connection until it ends, has no stream for
    /// `http2_idle_timeout`, or the gateway stops; `_watcher` keeps the graceful shutdown
    /// waiting for it meanwhile.
    async fn drive<C>(
        &self,
        connection: C,
        streams: &StreamTracker,
        stopping: watch::Receiver<bool>,
        _watcher: Watcher,
    ) -> Result<(), BoxError>
    where
        C: hyper_util::server::graceful::GracefulConnection,
        C::Error: Into<BoxError>,
    {
        drive(
            connection,
            streams,
            self.http2_idle_timeout,
            stopping,
            &self.http2_idle_closed,
        )
        .await
    }
}

/// What a connection's future ends with.
use crate::server_drive::BoxError;

/// What a plain-TCP client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// The connection preface a client with prior knowledge of HTTP/2 sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Tells the protocol from the first bytes, leaving them unread, as the auto builder would
/// from reading them. Peeking matters: when the builder reads them itself, it hands them to
/// hyper as a short first read, and hyper's HTTP/1 read buffer then doubles from 8 to 16 KiB
/// on every connection (most of the memory of an idle keep-alive connection or a long-poll).
async fn peek_protocol(stream: &TcpStream) -> std::io::Result<Protocol> {
    let mut first = [0u8; H2_PREFACE.len()];
    loop {
        let read = stream.peek(&mut first).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if first[..read] != H2_PREFACE[..read] {
            return Ok(Protocol::Http1);
        }
        if read == H2_PREFACE.len() {
            return Ok(Protocol::Http2);
        }
        // The start of the preface: the rest is on its way (peeking again at once would spin).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// With `proxied`, reads the PROXY v2 header the trusted proxy sends first and counts the
/// connection against the client it names (closing it past the per-address cap); a
/// connection without a valid header in time is closed.
async fn read_proxy_header(
    app: &App,
    mut stream: TcpStream,
    peer: SocketAddr,
    permit: ConnectionPermit,
    proxied: bool,
    timeout: Duration,
) -> Option<(TcpStream, SocketAddr, ConnectionPermit)> {
    use tokio::io::AsyncReadExt as _;
    if !proxied {
        return Some((stream, peer, permit));
    }
    let read = async {
        let mut header = vec![0u8; PROXY_FIXED_LEN];
        stream.read_exact(&mut header).await.ok()?;
        let parsed = match parse_proxy_v2(&header) {
            Err(ProxyError::Incomplete(len)) => {
                header.resize(len, 0);
                stream
                    .read_exact(&mut header[PROXY_FIXED_LEN..])
                    .await
                    .ok()?;
                parse_proxy_v2(&header)
            }
            parsed => parsed,
        };
        match parsed {
            Ok(parsed) => Some(parsed.source),
            Err(error) => {
                tracing::debug!(%error, %peer, "trusted proxy sent no valid PROXY header");
                None
            }
        }
    };
    let source = tokio::time::timeout(timeout, read).await.ok()??;
    let Some(source) = source else {
        // LOCAL (the proxy's own health check): the proxy is the client.
        return Some((stream, peer, permit));
    };
    drop(permit);
    let permit = app.connections.admit(Some(source.ip())).ok()?;
    Some((stream, source, permit))
}

/// Serves one accepted connection until it ends or the gateway stops.
///
/// Only the plain HTTP/1.1 path is part of this future: the HTTP/2 and TLS paths are boxed.
/// Every connection's task is sized for the largest state its future can be in, so an inline
/// TLS or HTTP/2 connection (several KiB: rustls's state, h2's, the auto builder's for both)
/// would be paid by each HTTP/1.1 keep-alive connection and long-poll too.
async fn serve_connection<S, B>(
    builders: &Builders,
    watcher: Watcher,
    mut stopping: watch::Receiver<bool>,
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    first_byte_timeout: Duration,
    service: S,
) where
    S: ApiService<B>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let _ = stream.set_nodelay(true);
    let served: Result<(), BoxError> = match tls {
        None => {
            // No first byte in time, the client gone, or the gateway stopping: close.
            let protocol = tokio::select! {
                protocol = tokio::time::timeout(first_byte_timeout, peek_protocol(&stream)) => protocol,
                () = stopped(&mut stopping) => return,
            };
            let io = TokioIo::new(FirstByteDeadline::new(stream, first_byte_timeout));
            match protocol {
                Ok(Ok(Protocol::Http1)) => {
                    drop(stopping);
                    let connection = builders.http1.serve_connection(io, service);
                    watcher.watch(connection).await.map_err(Into::into)
                }
                Ok(Ok(Protocol::Http2)) => {
                    Box::pin(serve_http2(builders, watcher, stopping, io, service)).await
                }
                _ => return,
            }
        }
        Some(acceptor) => {
            Box::pin(serve_tls(
                builders,
                watcher,
                stopping,
                stream,
                acceptor,
                first_byte_timeout,
                service,
            ))
            .await
        }
    };
    if let Err(error) = served {
        tracing::debug!(%error, "connection closed with an error");
    }
}

/// What the connection futures serve: the API's or the metrics' `service_fn`.
trait ApiService<B>:
    hyper::service::Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<B>,
        Error = std::convert::Infallible,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> ApiService<B> for S where
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static
{
}

/// A plain-TCP HTTP/2 connection (prior knowledge), its streams counted, closed when idle.
async fn serve_http2<S, B>(
    builders: &Builders,
    watcher: Watcher,
    stopping: watch::Receiver<bool>,
    io: TokioIo<FirstByteDeadline<TcpStream>>,
    service: S,
) -> Result<(), BoxError>
where
    S: ApiService<B>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let streams = Arc::new(StreamTracker::default());
    let service = counted(service, &streams);
    let connection = builders.http2.serve_connection(io, service);
    builders
        .drive(connection, &streams, stopping, watcher)
        .await
}

/// A TLS connection: the handshake, then HTTP/1.1 or HTTP/2 as negotiated (ALPN, or the
/// preface).
async fn serve_tls<S, B>(
    builders: &Builders,
    watcher: Watcher,
    stopping: watch::Receiver<bool>,
    stream: TcpStream,
    acceptor: TlsAcceptor,
    first_byte_timeout: Duration,
    service: S,
) -> Result<(), BoxError>
where
    S: ApiService<B>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Boxed: the handshake's state is large, and would otherwise size the connection's.
    let handshake = Box::pin(acceptor.accept(stream));
    let Ok(Ok(stream)) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await else {
        return Ok(());
    };
    let io = TokioIo::new(FirstByteDeadline::new(stream, first_byte_timeout));
    let streams = Arc::new(StreamTracker::default());
    let service = counted(service, &streams);
    let connection = builders.detect.serve_connection(io, service).into_owned();
    builders
        .drive(connection, &streams, stopping, watcher)
        .await
}

/// Resolves once `stopping` turns true (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection's task holds its `serve_connection` future: a plain HTTP/1.1
    /// connection (a long-poll's) pays for the largest state of it, so the HTTP/2 and TLS
    /// paths stay boxed.
    #[tokio::test]
    async fn a_connection_future_is_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let builders = Builders {
            detect: auto::Builder::new(TokioExecutor::new()),
            http1: http1::Builder::new(),
            http2: http2::Builder::new(TokioExecutor::new()),
            http2_idle_timeout: Duration::from_secs(30),
            http2_idle_closed: prometheus::IntCounter::new("idle_closed", "test").unwrap(),
        };
        let graceful = GracefulShutdown::new();
        let (_stop, stopping) = watch::channel(false);
        let service = service_fn(|_request: http::Request<hyper::body::Incoming>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<
                bytes::Bytes,
            >::new()))
        });
        let future = serve_connection(
            &builders,
            graceful.watcher(),
            stopping,
            stream,
            None,
            Duration::from_secs(1),
            service,
        );
        let size = std::mem::size_of_val(&future);
        assert!(size <= 1536, "serve_connection's future is {size} bytes");
    }
}
