//! The scripted webhook receiver: a hyper HTTP/1.1 server on loopback that answers as told,
//! records every request, and verifies each one with `sealgate_crypto::webhook::verify_delivery`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::AsHeaderName;
use http::{HeaderMap, Method, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use sealgate_crypto::webhook::WebhookSecret;
use sealgate_crypto::webhook::{Delivery, verify_delivery};

use sealgate_testkit::{eventually, now_secs};

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// The status.
    pub(crate) status: u16,
    /// How long to wait before answering.
    pub(crate) delay: Duration,
    /// A `Retry-After` header, when set.
    pub(crate) retry_after: Option<String>,
    /// Never answer (the connection stays open until the receiver stops).
    pub(crate) hang: bool,
}

impl Step {
    /// Answer `status` at once.
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            retry_after: None,
            hang: false,
        }
    }

    /// Answer 200 at once.
    pub(crate) fn ok() -> Self {
        Self::status(200)
    }

    /// Accept the request and never answer.
    pub(crate) fn hang() -> Self {
        Self {
            hang: true,
            ..Self::ok()
        }
    }

    /// The same answer, after `delay`.
    pub(crate) fn after(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }

    /// The same answer, with `Retry-After: value`.
    pub(crate) fn retry_after(self, value: &str) -> Self {
        Self {
            retry_after: Some(value.to_owned()),
            ..self
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// When it arrived (headers and body read).
    pub(crate) at: Instant,
    /// The request's method and path.
    pub(crate) method: Method,
    pub(crate) path: String,
    /// All its headers.
    pub(crate) headers: HeaderMap,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` ("" when missing).
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    /// The raw body.
    pub(crate) body: Bytes,
    /// `verify_delivery` with the receiver's secrets when the request arrived.
    pub(crate) verified: Result<Delivery, String>,
    /// What the script said to answer.
    pub(crate) step: Step,
}

impl Received {
    /// The verified delivery; panics with the reason when it did not verify.
    #[track_caller]
    pub(crate) fn delivery(&self) -> Delivery {
        match &self.verified {
            Ok(delivery) => delivery.clone(),
            Err(error) => panic!("delivery {} did not verify: {error}", self.id),
        }
    }

    /// Verifies this request again with exactly `secrets`.
    pub(crate) fn verify_with(&self, secrets: &[&str]) -> Result<Delivery, String> {
        verify(
            secrets,
            &self.id,
            &self.timestamp,
            &self.signature,
            &self.body,
        )
    }

    /// The `v1,` entries of `webhook-signature`.
    pub(crate) fn signatures(&self) -> Vec<&str> {
        self.signature.split_whitespace().collect()
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the delivery body is JSON")
    }
}

/// `verify_delivery` with the secrets given as `whsec_…` text, at the current time.
pub(crate) fn verify(
    secrets: &[&str],
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
) -> Result<Delivery, String> {
    let secrets: Vec<WebhookSecret> = secrets
        .iter()
        .map(|text| WebhookSecret::parse(text).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    verify_delivery(&secrets, id, timestamp, signature, body, now_secs()).map_err(|e| e.to_string())
}

/// The header `name` as text ("" when missing or not visible ASCII).
pub(crate) fn header_text(headers: &HeaderMap, name: impl AsHeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[derive(Default)]
struct ReceiverState {
    script: Mutex<VecDeque<Step>>,
    default: Mutex<Option<Step>>,
    secrets: Mutex<Vec<String>>,
    received: Mutex<Vec<Received>>,
}

/// A webhook endpoint on `127.0.0.1`: answers as scripted (then with the default step),
/// records every request, and verifies each with the secrets it was given.
pub(crate) struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl Receiver {
    /// A receiver on a free loopback port that answers 200 to everything.
    pub(crate) async fn start() -> Self {
        let mut receiver = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            state: Arc::default(),
            stop: None,
            task: None,
        };
        receiver.listen().await;
        receiver
    }

    async fn listen(&mut self) {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(self.addr).expect("the receiver binds");
        let listener = socket.listen(128).expect("the receiver listens");
        self.addr = listener.local_addr().expect("bound address");
        let (stop, stopping) = watch::channel(false);
        let state = self.state.clone();
        self.task = Some(tokio::spawn(async move {
            let mut stopped = stopping.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            tokio::spawn(serve(stream, state.clone(), stopping.clone()));
                        }
                    }
                    _ = stopped.wait_for(|stop| *stop) => return,
                }
            }
        }));
        self.stop = Some(stop);
    }

    /// Closes the listener and every connection: the endpoint is down.
    pub(crate) async fn stop(&mut self) {
        self.signal_stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Tells the listener and every connection to stop, without waiting.
    fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }

    /// Listens again on the same port.
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        self.listen().await;
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The secrets deliveries are verified with from now on.
    pub(crate) fn set_secrets(&self, secrets: &[&str]) {
        *self.state.secrets.lock().unwrap() = secrets.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Answers the next requests with `steps`, in order.
    pub(crate) fn script(&self, steps: impl IntoIterator<Item = Step>) {
        self.state.script.lock().unwrap().extend(steps);
    }

    /// What to answer once the script is used up (200 unless set).
    pub(crate) fn set_default(&self, step: Step) {
        *self.state.default.lock().unwrap() = Some(step);
    }

    /// Every request so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// How many requests so far.
    pub(crate) fn count(&self) -> usize {
        self.state.received.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived, and returns them all.
    pub(crate) async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        eventually(&format!("{n} webhook request(s)"), within, || async {
            self.count() >= n
        })
        .await;
        self.received()
    }

    /// Asserts that the count stays `n` for `period`.
    pub(crate) async fn assert_stays(&self, n: usize, period: Duration, why: &str) {
        let end = Instant::now() + period;
        while Instant::now() < end {
            assert_eq!(self.count(), n, "{why}: {:#?}", self.received());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(self.count(), n, "{why}");
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

async fn serve(stream: TcpStream, state: Arc<ReceiverState>, mut stopping: watch::Receiver<bool>) {
    let service = service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(answer(state, request).await) }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = stopping.wait_for(|stop| *stop) => {}
    }
}

async fn answer(state: Arc<ReceiverState>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = |name: &str| header_text(&parts.headers, name);
    let (id, timestamp, signature) = (
        text("webhook-id"),
        text("webhook-timestamp"),
        text("webhook-signature"),
    );
    let secrets = state.secrets.lock().unwrap().clone();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let verified = if secrets.is_empty() {
        Err("the receiver was given no secret".to_owned())
    } else {
        verify(&secrets, &id, &timestamp, &signature, &body)
    };
    let step = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| state.default.lock().unwrap().clone())
        .unwrap_or_else(Step::ok);
    state.received.lock().unwrap().push(Received {
        at: Instant::now(),
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        headers: parts.headers.clone(),
        id,
        timestamp,
        signature,
        body,
        verified,
        step: step.clone(),
    });
    if step.hang {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(step.delay).await;
    let mut response = Response::builder().status(step.status);
    if let Some(value) = &step.retry_after {
        response = response.header(header::RETRY_AFTER, value);
    }
    response
        .body(Full::new(Bytes::from_static(b"ok")))
        .expect("a valid response")
}
