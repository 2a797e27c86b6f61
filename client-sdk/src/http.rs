//! The SDK's HTTP transport: hyper over rustls (TLS 1.2 and 1.3, h2 and http/1.1), the
//! system's trust store plus any extra roots the caller gives.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

use crate::error::{Error, Result};

/// The largest answer read from a gateway.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An HTTP client for one or more gateways; cheap to clone, connections are pooled.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A gateway's answer.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl HttpClient {
    /// A client trusting the operating system's root certificates.
    pub fn new() -> Result<Self> {
        Self::with_extra_roots(&[])
    }

    /// A client trusting the system's roots and the PEM certificates in `pem`
    /// (a private CA, a test certificate).
    pub fn with_extra_roots(pem: &[u8]) -> Result<Self> {
        let tls = tls_client_config(pem)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { client })
    }

    /// Sends one request and reads the answer, within `timeout`.
    pub(crate) async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Reply> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Error::Transport(e.to_string()))?;
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
