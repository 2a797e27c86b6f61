//! Proxies, as curl reads them from the environment: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`
//! and `NO_PROXY` (lower-case names too), or given by the caller. An `https://` gateway is
//! reached through an HTTP `CONNECT` tunnel, so the proxy sees only the host name and the TLS
//! bytes; an `http://` one by sending each request to the proxy in absolute form.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

/// Which proxies an [`HttpClient`](crate::HttpClient) goes through.
#[derive(Debug, Clone, Default)]
pub enum Proxies {
    /// The environment's `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY`, read when
    /// the client is made.
    #[default]
    FromEnvironment,
    /// None: every connection is direct.
    Direct,
    /// These: proxy URLs (`http://[user:password@]host:port`) for `http://` and `https://`
    /// gateways, and a `NO_PROXY`-style list of hosts, domains and networks to reach directly.
    Given {
        /// The proxy for `http://` gateways.
        http: Option<String>,
        /// The proxy for `https://` gateways.
        https: Option<String>,
        /// Hosts reached directly: `localhost,.internal,10.0.0.0/8`.
        no_proxy: String,
    },
}

impl Proxies {
    fn matcher(&self) -> Matcher {
        match self {
            Proxies::FromEnvironment => Matcher::from_env(),
            Proxies::Direct => Matcher::builder().build(),
            Proxies::Given {
                http,
                https,
                no_proxy,
            } => {
                let mut builder = Matcher::builder().no(no_proxy.clone());
                if let Some(http) = http {
                    builder = builder.http(http.clone());
                }
                if let Some(https) = https {
                    builder = builder.https(https.clone());
                }
                builder.build()
            }
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connector under the TLS layer: direct, tunnelled, or to the proxy in absolute form.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    matcher: Arc<Matcher>,
}

impl ProxyConnector {
    /// A connector for `proxies`.
    pub(crate) fn new(proxies: &Proxies) -> Self {
        let mut http = HttpConnector::new();
        // The TLS layer above takes https:// URIs to this connector.
        http.enforce_http(false);
        Self {
            http,
            matcher: Arc::new(proxies.matcher()),
        }
    }

    /// The `Proxy-Authorization` an absolute-form request to `uri` carries, if its proxy has
    /// credentials (a tunnel carries them in its `CONNECT` instead).
    pub(crate) fn absolute_form_auth(&self, uri: &Uri) -> Option<HeaderValue> {
        if uri.scheme_str() != Some("http") {
            return None;
        }
        self.matcher.intercept(uri)?.basic_auth().cloned()
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxiedIo;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<ProxiedIo, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let intercept = self.matcher.intercept(&dst);
        Box::pin(async move {
            let (io, absolute_form) = match intercept {
                None => (http.call(dst).await?, false),
                Some(proxy) if dst.scheme_str() == Some("https") => {
                    let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
                    if let Some(auth) = proxy.basic_auth() {
                        tunnel = tunnel.with_auth(auth.clone());
                    }
                    let tunnelled = tunnel.call(dst).await;
                    (tunnelled.map_err(|e| through(proxy.uri(), &e))?, false)
                }
                Some(proxy) => {
                    let connected = http.call(proxy.uri().clone()).await;
                    (connected.map_err(|e| through(proxy.uri(), &e))?, true)
                }
            };
            Ok(ProxiedIo { io, absolute_form })
        })
    }
}

/// An error on the way through the proxy at `proxy`, named by its host and port only (its
/// URL may carry credentials).
fn through(proxy: &Uri, error: &dyn std::error::Error) -> BoxError {
    let at = proxy.authority().map_or("?", |a| a.as_str());
    let at = at.rsplit_once('@').map_or(at, |(_, host)| host);
    format!("through the proxy at {at}: {}", with_causes(error)).into()
}

/// An error followed by each of its causes, `: `-separated.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A connection, telling hyper whether its requests go to a proxy in absolute form.
pub(crate) struct ProxiedIo {
    io: TokioIo<TcpStream>,
    absolute_form: bool,
}

impl Connection for ProxiedIo {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.absolute_form)
    }
}

impl Read for ProxiedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for ProxiedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
