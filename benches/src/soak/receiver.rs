//! The apps' webhook endpoint: a loopback HTTP server that verifies each delivery's Standard
//! Webhooks signature with the SDK, opens the envelope, records it, takes a while (as an app
//! storing it would), and only then answers 204.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sealgate_client::AppClient;
use sealgate_client::webhook::{WebhookSecret, verify_delivery};
use tokio::net::TcpListener;

use super::flow::unix_now;
use super::ledger::{Ledger, Via};

/// The largest delivery read.
const MAX_BODY: usize = 64 * 1024;

/// An app as its endpoint knows it: its client (to open envelopes) and its signing secret.
pub(crate) struct Endpoint {
    /// The app.
    pub(crate) app: Arc<AppClient>,
    /// Its `whsec_…` secret.
    pub(crate) secret: WebhookSecret,
}

/// The endpoints, indexed by the app number in the path `/hook/{n}`; filled in after
/// registration (the URL must exist before the secret does).
pub(crate) type Endpoints = Arc<std::sync::RwLock<Vec<Option<Endpoint>>>>;

/// Starts the receiver on a free loopback port; returns its address.
/// Each answer comes `delay` after the delivery is recorded: a gateway killed meanwhile has
/// handed out the envelope without learning it.
pub(crate) async fn start(
    ledger: Arc<Ledger>,
    endpoints: Endpoints,
    delay: Duration,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (ledger, endpoints) = (ledger.clone(), endpoints.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let (ledger, endpoints) = (ledger.clone(), endpoints.clone());
                    async move {
                        let status = receive(&ledger, &endpoints, request).await;
                        tokio::time::sleep(delay).await;
                        let mut response = Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = status;
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Handles one delivery; the status to answer.
async fn receive(ledger: &Ledger, endpoints: &Endpoints, request: Request<Incoming>) -> StatusCode {
    let index = request
        .uri()
        .path()
        .strip_prefix("/hook/")
        .and_then(|n| n.parse::<usize>().ok());
    let (parts, body) = request.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return StatusCode::BAD_REQUEST;
    };
    let body = body.to_bytes();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let opened = {
        let endpoints = endpoints.read().expect("endpoints");
        let Some(Some(endpoint)) = index.and_then(|n| endpoints.get(n)) else {
            return StatusCode::NOT_FOUND;
        };
        verify_delivery(
            std::slice::from_ref(&endpoint.secret),
            &header("webhook-id"),
            &header("webhook-timestamp"),
            &header("webhook-signature"),
            &body,
            unix_now(),
        )
        .map_err(|e| e.to_string())
        .and_then(|delivery| {
            let token = endpoint
                .app
                .open_delivered(&delivery)
                .map_err(|e| e.to_string())?;
            Ok((delivery, token.as_str().to_owned()))
        })
    };
    match opened {
        Ok((delivery, token)) => {
            ledger.receive(&delivery.mailbox_id, Via::Webhook(delivery.id), token);
            StatusCode::NO_CONTENT
        }
        Err(error) => {
            ledger.bad_webhooks.fetch_add(1, Ordering::Relaxed);
            eprintln!("soak: a webhook delivery did not verify: {error}");
            StatusCode::UNAUTHORIZED
        }
    }
}
