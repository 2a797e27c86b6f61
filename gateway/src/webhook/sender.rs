//! Sends one webhook attempt: an HTTP POST over rustls, through the checked resolver, with a
//! total deadline, no redirects, at most a few KiB of the answer read. How many attempts are
//! in flight, per endpoint and overall, is the delivery loop's business (`endpoints`).

use std::time::Duration;

use super::endpoints::Slot;
use super::ssrf::{CheckedResolver, Policy};
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The whole attempt — resolve, connect, TLS, send, answer — must fit in this.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer's body read; the rest is dropped.
const MAX_ANSWER_BYTES: usize = 4 * 1024;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The endpoint answered with this status.
    Answered {
        /// The status.
        status: StatusCode,
        /// `Retry-After` in seconds, when given with 429 or 503.
        retry_after: Option<u64>,
    },
    /// No answer within [`ATTEMPT_TIMEOUT`].
    TimedOut,
    /// Connection, TLS or protocol failure (including a refused address).
    Failed,
}

impl Attempt {
    /// Whether the endpoint answered at all (any status): what its breaker counts.
    pub(crate) fn reached(&self) -> bool {
        matches!(self, Attempt::Answered { .. })
    }
}

impl Attempt {
    /// The bounded label for the attempts metric.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Attempt::Answered { status, .. } if status.is_success() => "2xx",
            Attempt::Answered { status, .. } if status.is_redirection() => "3xx",
            Attempt::Answered { status, .. } if status.is_client_error() => "4xx",
            Attempt::Answered { .. } => "5xx",
            Attempt::TimedOut => "timeout",
            Attempt::Failed => "connection_error",
        }
    }
}

/// An HTTP client whose every connection goes through the checked resolver: what webhook
/// deliveries and push notifications are sent with.
pub(crate) type CheckedClient = Client<HttpsConnector<HttpConnector<CheckedResolver>>, Full<Bytes>>;

/// A client for outbound requests under `policy`: rustls (native roots), HTTP/1.1 and HTTP/2,
/// connections bounded by `connect_timeout`, up to `per_host` idle connections kept per host.
pub(crate) fn checked_client(
    policy: &Policy,
    per_host: usize,
    connect_timeout: Duration,
) -> anyhow::Result<CheckedClient> {
    let mut http = HttpConnector::new_with_resolver(CheckedResolver::new(policy.clone()));
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let connector = crate::tls::outbound_connector()?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(per_host)
        .build(connector))
}

/// The HTTP side of webhook delivery.
pub(crate) struct Sender {
    policy: Policy,
    client: CheckedClient,
}

/// One signed delivery to send.
pub(crate) struct Outgoing<'a> {
    /// Target URL.
    pub url: &'a str,
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`.
    pub timestamp: u64,
    /// `webhook-signature`: one or more `v1,…`, space-separated.
    pub signature: &'a str,
    /// The JSON body.
    pub body: Bytes,
    /// The attempt's span, sent as `traceparent` when traces are exported.
    pub trace: &'a tracing::Span,
}

impl Sender {
    /// A sender enforcing `policy`, keeping up to `per_endpoint` idle connections per host.
    pub(crate) fn new(policy: Policy, per_endpoint: usize) -> anyhow::Result<Self> {
        let client = checked_client(&policy, per_endpoint, ATTEMPT_TIMEOUT)?;
        Ok(Self { policy, client })
    }

    /// Sends one attempt in a reserved slot. A URL whose host is an IP literal the policy
    /// forbids, or whose port it does not allow, is refused here: the resolver, which checks
    /// names, never sees literals nor ports.
    pub(crate) async fn send(&self, _slot: &Slot, outgoing: Outgoing<'_>) -> Attempt {
        if let Err(error) = super::ssrf::check_before_send(outgoing.url, &self.policy) {
            tracing::warn!(%error, "webhook URL refused by the policy; not sent");
            return Attempt::Failed;
        }
        let Ok(mut request) = Request::post(outgoing.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("sealgate/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", outgoing.id)
            .header("webhook-timestamp", outgoing.timestamp)
            .header("webhook-signature", outgoing.signature)
            .body(Full::new(outgoing.body))
        else {
            return Attempt::Failed;
        };
        crate::telemetry::spans::inject(outgoing.trace, request.headers_mut());
        let exchange = async {
            let response = self.client.request(request).await.map_err(|error| {
                tracing::debug!(%error, "webhook attempt failed");
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            // Read a little of the answer so the connection can be reused; ignore the rest.
            let _ = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            Ok::<_, ()>(Attempt::Answered {
                status,
                retry_after,
            })
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await {
            Ok(Ok(attempt)) => attempt,
            Ok(Err(())) => Attempt::Failed,
            Err(_) => Attempt::TimedOut,
        }
    }
}
