//! The SDK's HTTP transport: hyper over rustls (TLS 1.2 and 1.3, h2 and http/1.1), the
//! system's trust store plus any extra roots the caller gives, through the environment's
//! proxies (see [`Proxies`]); or a transport of the caller's own ([`Transport`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

use crate::error::{Error, Result};
pub use crate::proxy::Proxies;
use crate::proxy::ProxyConnector;

/// The largest answer read from a gateway.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An HTTP client for one or more gateways; cheap to clone, connections are pooled.
#[derive(Clone)]
pub struct HttpClient {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// Boxed: the pooled client is large and the enum is cloned with every `HttpClient`.
    Hyper(Arc<HyperTransport>),
    Caller(Arc<dyn Transport>),
}

/// The SDK's own transport.
struct HyperTransport {
    client: Client<HttpsConnector<ProxyConnector>, Full<Bytes>>,
    proxies: ProxyConnector,
}

/// What a caller's [`Transport`] answers: the response with its whole body.
pub type TransportResult = std::result::Result<http::Response<Bytes>, String>;

/// An HTTP transport of the caller's own (their `reqwest` client, a test double, a
/// platform's HTTP stack), for [`HttpClient::with_transport`]. It sends one request and
/// returns the response with its body read; the SDK still applies its timeouts and its
/// response size limit, and reads nothing but the status, the headers and the body.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request`; an `Err` is a transport failure (connection refused, TLS, …).
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = TransportResult> + Send + 'static>>;
}

/// A gateway's answer.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl HttpClient {
    /// A client trusting the operating system's root certificates, through the
    /// environment's proxies.
    pub fn new() -> Result<Self> {
        Self::with_options(&[], &Proxies::FromEnvironment)
    }

    /// A client trusting the system's roots and the PEM certificates in `pem`
    /// (a private CA, a test certificate), through the environment's proxies.
    pub fn with_extra_roots(pem: &[u8]) -> Result<Self> {
        Self::with_options(pem, &Proxies::FromEnvironment)
    }

    /// A client trusting the system's roots and the PEM certificates in `extra_roots_pem`,
    /// going through `proxies`.
    pub fn with_options(extra_roots_pem: &[u8], proxies: &Proxies) -> Result<Self> {
        let tls = tls_client_config(extra_roots_pem)?;
        let proxies = ProxyConnector::new(proxies);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(proxies.clone());
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            inner: Inner::Hyper(Arc::new(HyperTransport { client, proxies })),
        })
    }

    /// A client that sends every request through the caller's `transport`.
    pub fn with_transport(transport: impl Transport) -> Self {
        Self {
            inner: Inner::Caller(Arc::new(transport)),
        }
    }

    /// Sends one request and reads the answer, within `timeout`.
    pub(crate) async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Reply> {
        let exchange = async {
            match &self.inner {
                Inner::Hyper(hyper) => {
                    if let Some(auth) = hyper.proxies.absolute_form_auth(request.uri()) {
                        request
                            .headers_mut()
                            .insert(header::PROXY_AUTHORIZATION, auth);
                    }
                    let response = hyper
                        .client
                        .request(request)
                        .await
                        .map_err(|e| Error::Transport(crate::proxy::with_causes(&e)))?;
                    let (parts, body) = response.into_parts();
                    let body = Limited::new(body, MAX_RESPONSE_BYTES)
                        .collect()
                        .await
                        .map_err(|e| Error::Transport(format!("reading the answer: {e}")))?
                        .to_bytes();
                    Ok(Reply {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    })
                }
                Inner::Caller(transport) => {
                    let (parts, body) = request.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map_err(|e| Error::Transport(e.to_string()))?
                        .to_bytes();
                    let response = transport
                        .send(Request::from_parts(parts, body))
                        .await
                        .map_err(Error::Transport)?;
                    let (parts, body) = response.into_parts();
                    if body.len() > MAX_RESPONSE_BYTES {
                        return Err(Error::Transport(format!(
                            "reading the answer: over {MAX_RESPONSE_BYTES} bytes"
                        )));
                    }
                    Ok(Reply {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    })
                }
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Transport(format!("no answer within {timeout:?}")))?
    }
}

/// A rustls client configuration (aws-lc-rs, TLS 1.2 and 1.3) trusting the operating system's
/// root certificates and the PEM certificates in `extra_roots_pem`. The gateway's webhook
/// sender uses the same.
pub fn tls_client_config(extra_roots_pem: &[u8]) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    for certificate in CertificateDer::pem_slice_iter(extra_roots_pem) {
        let certificate =
            certificate.map_err(|e| Error::Transport(format!("extra root certificate: {e}")))?;
        roots
            .add(certificate)
            .map_err(|e| Error::Transport(format!("extra root certificate: {e}")))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Transport(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Builds a request.
pub(crate) fn request(
    method: Method,
    url: &str,
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Request<Full<Bytes>>> {
    let mut builder = Request::builder().method(method).uri(url);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder
        .body(Full::new(body))
        .map_err(|_| Error::InvalidUrl(url.to_owned()))
}

impl Reply {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Protocol(format!("invalid JSON: {e}")))
    }

    /// `Retry-After`, if present and readable, in either form (delta-seconds or HTTP-date).
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::retry::parse_retry_after(v, std::time::SystemTime::now()))
    }

    /// The error for an answer the caller did not expect, mapping the statuses every route
    /// shares.
    pub(crate) fn into_error(self) -> Error {
        let problem = serde_json::from_slice::<Value>(&self.body).ok();
        let problem_type = problem
            .as_ref()
            .and_then(|p| p["type"].as_str())
            .map(str::to_owned);
        let detail = problem
            .as_ref()
            .and_then(|p| p["detail"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(200)
                    .collect()
            });
        match self.status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized,
            StatusCode::NOT_FOUND => Error::MailboxNotFound,
            StatusCode::CONFLICT => Error::MailboxConflict,
            StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
            StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
                retry_after: self.retry_after().unwrap_or(Duration::from_secs(1)),
            },
            status => Error::Gateway {
                status: status.as_u16(),
                problem_type,
                detail,
            },
        }
    }
}

/// A gateway base URL without its trailing slash, checked to be http(s).
pub(crate) fn base_url(url: &str) -> Result<String> {
    let trimmed = url.trim_end_matches('/');
    let ok = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
        && trimmed.parse::<http::Uri>().is_ok()
        && !trimmed.contains(['?', '#']);
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(Error::InvalidUrl(url.to_owned()))
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
