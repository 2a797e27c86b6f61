//! The HTTP client of the OTLP exporter: the gateway's hyper client over rustls, run on the
//! gateway's tokio runtime. The SDK's batch processor exports from a thread of its own, which
//! has no runtime; each export is spawned onto the gateway's and awaited from there.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError};
use tokio::runtime::Handle;

/// One export — connect, TLS, send, answer — must fit in this.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a collector's answer read (a partial-success message is a few bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Sends the exporter's requests on `runtime`.
pub(super) struct OtlpClient {
    runtime: Handle,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for OtlpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpClient").finish_non_exhaustive()
    }
}

impl OtlpClient {
    /// A client for `http://` and `https://` collectors (the system's root certificates),
    /// sending on `runtime`.
    pub(super) fn new(runtime: Handle) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(EXPORT_TIMEOUT));
        let connector = crate::tls::outbound_connector()?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { runtime, client })
    }
}

#[async_trait::async_trait]
impl HttpClient for OtlpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let exchange = async move {
            let response =
                tokio::time::timeout(EXPORT_TIMEOUT, client.request(request.map(Full::new)))
                    .await??;
            let (head, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES).collect().await?;
            Ok::<_, HttpError>(Response::from_parts(head, body.to_bytes()))
        };
        self.runtime.spawn(exchange).await?
    }
}
