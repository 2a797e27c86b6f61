//! Webhook test helpers: a scripted receiver on loopback that records and verifies every
//! delivery, a gateway (memory or any store) with webhooks allowed to loopback, a small HTTP
//! client over real sockets, and the delivery scenarios that run against every store.
//!
//! Self-contained on purpose (it copies the little it needs from `support` and
//! `support_redis`), so that the webhook tests do not depend on the other helpers' changes.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{MemoryStore, RedisStore, SharedStore, WakeHub};
use sealgate::{Config, Gateway};
use sealgate_client::webhook::{Delivery, verify_delivery};
use sealgate_client::{AppClient, HttpClient};
use sealgate_crypto::webhook::WebhookSecret;
use sealgate_crypto::{Algorithm, Binding, PrivateKey, SealOptions, random_token, seal};

/// How long "eventually" conditions may take on a slow, shared CI machine.
pub(crate) const EVENTUALLY: Duration = Duration::from_secs(15);

/// The prefix of every problem `type`.
pub(crate) const PROBLEM_PREFIX: &str = "tag:sealgate,2026:problem:";

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Polls `condition` every 20 ms until it holds, or panics after `within`.
pub(crate) async fn eventually<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------------------------- the receiver

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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
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
    let text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
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

// -------------------------------------------------------------------------------- the gateway

/// A configuration with both listeners on port 0, webhooks allowed to plain-HTTP loopback
/// endpoints, and the per-address rate limits off.
pub(crate) fn webhook_config() -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    config.webhooks.allow_insecure = true;
    config.webhooks.allow_private = true;
    config.limits.deposits_per_ip_per_sec = 0;
    config.limits.mailboxes_per_client_per_sec = 0;
    config.limits.shutdown_grace_secs = 1;
    config
}

/// A buffered HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub(crate) fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "body: {}", self.text());
        self
    }

    /// Asserts an RFC 9457 problem with `status`, type `PREFIX + slug` and, when given, the
    /// OAuth `error` code; returns the body.
    #[track_caller]
    pub(crate) fn assert_problem(&self, status: u16, slug: &str, oauth: Option<&str>) -> Value {
        self.assert_status(status);
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(
            body["type"],
            json!(format!("{PROBLEM_PREFIX}{slug}")),
            "{body}"
        );
        if let Some(code) = oauth {
            assert_eq!(body["error"], json!(code), "{body}");
        }
        body
    }
}

/// Prometheus text, with lookups.
pub(crate) struct Metrics(pub(crate) String);

impl Metrics {
    /// The sample `name{labels}` (`labels` like `outcome="delivered"`, or "" for none); 0 when
    /// absent (a labelled counter appears on first use).
    pub(crate) fn value(&self, name: &str, labels: &str) -> f64 {
        let prefix = if labels.is_empty() {
            format!("{name} ")
        } else {
            format!("{name}{{{labels}}} ")
        };
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map_or(0.0, |value| value.trim().parse().expect("a number"))
    }

    /// `sealgate_webhook_deliveries_total{outcome=…}`.
    pub(crate) fn deliveries(&self, outcome: &str) -> f64 {
        self.value(
            "sealgate_webhook_deliveries_total",
            &format!("outcome=\"{outcome}\""),
        )
    }

    /// `sealgate_webhook_attempts_total{result=…}`.
    pub(crate) fn attempts(&self, result: &str) -> f64 {
        self.value(
            "sealgate_webhook_attempts_total",
            &format!("result=\"{result}\""),
        )
    }

    /// `sealgate_webhook_queue_depth`.
    pub(crate) fn queue_depth(&self) -> f64 {
        self.value("sealgate_webhook_queue_depth", "")
    }

    /// How many deliveries `sealgate_webhook_delivery_duration_seconds` observed.
    pub(crate) fn durations(&self) -> f64 {
        self.value("sealgate_webhook_delivery_duration_seconds_count", "")
    }

    /// `sealgate_webhook_endpoints_disabled_total`.
    pub(crate) fn endpoints_disabled(&self) -> f64 {
        self.value("sealgate_webhook_endpoints_disabled_total", "")
    }

    /// `sealgate_mailboxes_consumed_total`.
    pub(crate) fn consumed(&self) -> f64 {
        self.value("sealgate_mailboxes_consumed_total", "")
    }
}

/// A registered app: its credentials, its key, the webhook secret shown at registration, and
/// the SDK's `AppClient` to open what the webhook delivers.
pub(crate) struct TestApp {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) key: PrivateKey,
    pub(crate) webhook_secret: Option<String>,
    pub(crate) sdk: AppClient,
    /// The whole 201 answer.
    pub(crate) registration: Value,
}

impl TestApp {
    /// `Basic base64(id:secret)`.
    pub(crate) fn basic(&self) -> String {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.id, self.secret));
        format!("Basic {encoded}")
    }

    /// The webhook secret shown at registration.
    #[track_caller]
    pub(crate) fn webhook_secret(&self) -> &str {
        self.webhook_secret
            .as_deref()
            .expect("registered with a webhook")
    }

    /// Seals `token` for `mailbox`, as a phone would.
    pub(crate) fn seal(&self, mailbox: &Mailbox, token: &str) -> String {
        seal(
            self.key.public_key(),
            token.as_bytes(),
            &SealOptions::for_token(Binding::to_mailbox(&self.id, &mailbox.id, mailbox.exp)),
        )
        .expect("seal")
        .into_string()
    }

    /// Opens a verified delivery with the SDK's `AppClient::open_delivered`.
    pub(crate) fn open_delivered(&self, delivery: &Delivery) -> String {
        self.sdk
            .open_delivered(delivery)
            .expect("open_delivered opens the envelope")
            .as_str()
            .to_owned()
    }
}

/// An open mailbox.
pub(crate) struct Mailbox {
    pub(crate) id: String,
    pub(crate) exp: u64,
}

/// A stand-in ID token: random, so that a test can look for it where it must not be.
pub(crate) fn fake_id_token() -> String {
    format!(
        "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.{}.{}",
        random_token::<48>(),
        random_token::<32>()
    )
}

/// A gateway serving on port 0, with a plain HTTP/1.1 client for it.
pub(crate) struct TestGateway {
    pub(crate) gateway: Gateway,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl TestGateway {
    /// A gateway with `config` and the memory store.
    pub(crate) async fn start(config: Config) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = MemoryStore::new(WakeHub::default(), clock.clone());
        Self::start_on(config, Arc::new(store), clock).await
    }

    /// A gateway with `config` on `store`.
    pub(crate) async fn start_on(
        config: Config,
        store: SharedStore,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let gateway = Gateway::start_with(config, store, clock)
            .await
            .expect("the gateway starts");
        Self::attach(gateway)
    }

    /// Wraps a running gateway.
    pub(crate) fn attach(gateway: Gateway) -> Self {
        Self {
            gateway,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `http://ADDR` of the API listener.
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.gateway.api_addr())
    }

    /// Sends one request and buffers the answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base()));
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let body = match body {
            Some((media, bytes)) => {
                request = request.header(header::CONTENT_TYPE, media);
                Full::new(Bytes::from(bytes))
            }
            None => Full::default(),
        };
        send_with(&self.http, request.body(body).unwrap()).await
    }

    /// `POST /v1/clients` with `body`.
    pub(crate) async fn register_raw(&self, body: &Value) -> Reply {
        self.send(
            Method::POST,
            "/v1/clients",
            None,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    /// Registers an app with a fresh key and, when given, a webhook URL.
    pub(crate) async fn register(&self, webhook_url: Option<&str>) -> TestApp {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let mut body =
            json!({ "name": "webhook app", "jwks": { "keys": [key.public_key().to_jwk()] } });
        if let Some(url) = webhook_url {
            body["webhook_url"] = json!(url);
        }
        let reply = self.register_raw(&body).await;
        reply.assert_status(201);
        let registration = reply.json();
        let id = registration["client_id"].as_str().unwrap().to_owned();
        let secret = registration["client_secret"].as_str().unwrap().to_owned();
        let webhook_secret = registration["webhook_secret"].as_str().map(str::to_owned);
        let copy = PrivateKey::from_jwk_json(&key.to_jwk_json()).expect("the key round-trips");
        let sdk = AppClient::from_credentials(
            HttpClient::new().expect("an HTTP client"),
            &self.base(),
            &id,
            &secret,
            vec![copy],
        )
        .expect("an AppClient");
        TestApp {
            id,
            secret,
            key,
            webhook_secret,
            sdk,
            registration,
        }
    }

    /// Opens a mailbox living `ttl` seconds.
    pub(crate) async fn open(&self, app: &TestApp, ttl: u64) -> Mailbox {
        let reply = self
            .send(
                Method::POST,
                "/v1/mailboxes",
                Some(&app.basic()),
                Some((
                    "application/json",
                    json!({ "ttl": ttl }).to_string().into_bytes(),
                )),
            )
            .await;
        reply.assert_status(201);
        let body = reply.json();
        let expires_at = humantime::parse_rfc3339(body["expires_at"].as_str().unwrap())
            .expect("RFC 3339 expires_at");
        Mailbox {
            id: body["mailbox_id"].as_str().unwrap().to_owned(),
            exp: expires_at.duration_since(UNIX_EPOCH).unwrap().as_secs(),
        }
    }

    /// `PUT /v1/mailboxes/{id}` with `envelope`, as the phone does.
    pub(crate) async fn deposit(&self, mailbox: &Mailbox, envelope: &str) -> Reply {
        self.send(
            Method::PUT,
            &format!("/v1/mailboxes/{}", mailbox.id),
            None,
            Some(("application/jose", envelope.as_bytes().to_vec())),
        )
        .await
    }

    /// `GET /v1/mailboxes/{id}?wait=N` as `app`.
    pub(crate) async fn poll(&self, app: &TestApp, mailbox: &Mailbox, wait: u64) -> Reply {
        self.send(
            Method::GET,
            &format!("/v1/mailboxes/{}?wait={wait}", mailbox.id),
            Some(&app.basic()),
            None,
        )
        .await
    }

    /// `GET /v1/clients/{id}`.
    pub(crate) async fn client_record(&self, app: &TestApp) -> Reply {
        self.send(
            Method::GET,
            &format!("/v1/clients/{}", app.id),
            Some(&app.basic()),
            None,
        )
        .await
    }

    /// `PUT /v1/clients/{id}/webhook` with `url`.
    pub(crate) async fn set_webhook(&self, app: &TestApp, url: &str) -> Reply {
        self.send(
            Method::PUT,
            &format!("/v1/clients/{}/webhook", app.id),
            Some(&app.basic()),
            Some((
                "application/json",
                json!({ "url": url }).to_string().into_bytes(),
            )),
        )
        .await
    }

    /// `DELETE /v1/clients/{id}/webhook`.
    pub(crate) async fn remove_webhook(&self, app: &TestApp) -> Reply {
        self.send(
            Method::DELETE,
            &format!("/v1/clients/{}/webhook", app.id),
            Some(&app.basic()),
            None,
        )
        .await
    }

    /// `POST /v1/clients/{id}/webhook/secret`.
    pub(crate) async fn rotate_secret(&self, app: &TestApp) -> Reply {
        self.send(
            Method::POST,
            &format!("/v1/clients/{}/webhook/secret", app.id),
            Some(&app.basic()),
            None,
        )
        .await
    }

    /// `GET /metrics` on the metrics listener.
    pub(crate) async fn metrics(&self) -> Metrics {
        let uri = format!("http://{}/metrics", self.gateway.metrics_addr());
        let reply = send_with(&self.http, Request::get(uri).body(Full::default()).unwrap()).await;
        reply.assert_status(200);
        Metrics(reply.text())
    }

    /// Waits until `metric` (read from a fresh scrape) reaches `at_least`.
    pub(crate) async fn wait_for_metric(
        &self,
        what: &str,
        at_least: f64,
        metric: fn(&Metrics) -> f64,
    ) {
        eventually(what, EVENTUALLY, || async {
            metric(&self.metrics().await) >= at_least
        })
        .await;
    }
}

/// Sends `request` with `client` and buffers the answer.
pub(crate) async fn send_with(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Reply {
    let response = tokio::time::timeout(Duration::from_secs(90), client.request(request))
        .await
        .expect("the gateway answers in time")
        .expect("the request is sent");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the body arrives").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

// ------------------------------------------------------------------------------------ Redis

/// The machine's shared Redis.
pub(crate) const SHARED_REDIS: &str = "redis://127.0.0.1:6379/";

/// A fresh key prefix on the shared Redis whose keys are deleted (SCAN + DEL of that prefix
/// only) when dropped.
pub(crate) struct SharedPrefix {
    pub(crate) prefix: String,
}

impl SharedPrefix {
    /// A fresh prefix; panics with a hint unless the shared Redis answers.
    pub(crate) fn new() -> Self {
        let answered = redis::Client::open(SHARED_REDIS)
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
            .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
        assert!(
            answered.is_ok(),
            "no Redis answers on 127.0.0.1:6379 ({answered:?}). scripts/test.sh starts one; or \
             run `redis-server --daemonize yes --port 6379 --bind 127.0.0.1 --save '' \
             --appendonly no`"
        );
        Self {
            prefix: format!("sgtest:wh:{}:", random_token::<9>()),
        }
    }

    /// A store on the shared Redis under this prefix.
    pub(crate) async fn store(&self, clock: Arc<dyn Clock>) -> SharedStore {
        Arc::new(
            RedisStore::connect(SHARED_REDIS, &self.prefix, WakeHub::default(), clock)
                .await
                .expect("the shared Redis store connects"),
        )
    }

    /// A gateway with `config` on a store under this prefix.
    pub(crate) async fn gateway(&self, config: Config) -> TestGateway {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = self.store(clock.clone()).await;
        TestGateway::start_on(config, store, clock).await
    }
}

impl Drop for SharedPrefix {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(SHARED_REDIS)
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        else {
            return;
        };
        let pattern = format!("{}*", self.prefix);
        let mut cursor = 0u64;
        loop {
            let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
            else {
                return;
            };
            for key in keys.iter().filter(|key| key.starts_with(&self.prefix)) {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(key).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

// -------------------------------------------------------------------------------- scenarios

/// Registers with the receiver's URL and checks the registration answer and the client record
/// (secret shown once, never again); the receiver verifies with the secret from now on.
pub(crate) async fn register_with_webhook(gw: &TestGateway, receiver: &Receiver) -> TestApp {
    let app = gw.register(Some(&receiver.url())).await;
    let secret = app.webhook_secret().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    WebhookSecret::parse(&secret).expect("a valid Standard Webhooks secret");
    assert_eq!(
        app.registration["webhook"],
        json!({ "url": receiver.url(), "disabled": false, "disabled_at": null, "secrets": 1 })
    );
    let record = gw.client_record(&app).await;
    record.assert_status(200);
    assert_eq!(record.json()["webhook"], app.registration["webhook"]);
    let text = record.text();
    assert!(
        !text.contains(&secret[6..]),
        "the record shows the webhook secret"
    );
    assert!(
        !text.contains(&app.secret),
        "the record shows the client secret"
    );
    receiver.set_secrets(&[&secret]);
    app
}

/// Checks everything about one delivered request that does not depend on the attempt.
#[track_caller]
pub(crate) fn check_delivery(
    request: &Received,
    app: &TestApp,
    mailbox: &Mailbox,
    envelope: &str,
    token: &str,
) {
    let delivery = request.delivery();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/hook");
    assert!(request.id.starts_with("msg_"), "webhook-id {}", request.id);
    assert_eq!(delivery.id, request.id);
    assert_eq!(delivery.client_id, app.id);
    assert_eq!(delivery.mailbox_id, mailbox.id);
    assert_eq!(delivery.envelope, envelope, "the envelope, byte for byte");
    let header = |name: header::HeaderName| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header(header::CONTENT_TYPE), "application/json");
    assert!(header(header::USER_AGENT).starts_with("sealgate/"));
    let timestamp: u64 = request.timestamp.parse().expect("an integer timestamp");
    assert!(
        timestamp.abs_diff(now_secs()) <= 30,
        "webhook-timestamp {timestamp} is not now"
    );
    for signature in request.signatures() {
        assert!(signature.starts_with("v1,"), "{signature}");
    }
    let body = request.json();
    assert_eq!(body["type"], "envelope.deposited");
    humantime::parse_rfc3339(body["timestamp"].as_str().expect("a timestamp"))
        .expect("an RFC 3339 timestamp");
    let data = body["data"].as_object().expect("data");
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    assert_eq!(keys, ["client_id", "envelope", "mailbox_id"]);
    assert!(
        !String::from_utf8_lossy(&request.body).contains(token),
        "the token travels in the clear"
    );
    assert_eq!(app.open_delivered(&delivery), token);
}

/// Deposit, one verified delivery that the SDK opens, the mailbox consumed (a poll gets 404),
/// an identical deposit retry delivers nothing more, and the metrics moved.
pub(crate) async fn scenario_deliver_verify_consume(gw: &TestGateway) {
    let receiver = Receiver::start().await;
    let app = register_with_webhook(gw, &receiver).await;
    let mailbox = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&mailbox, &token);
    gw.deposit(&mailbox, &envelope).await.assert_status(201);

    let received = receiver.wait_for(1, EVENTUALLY).await;
    check_delivery(&received[0], &app, &mailbox, &envelope, &token);
    assert_eq!(
        received[0].signatures().len(),
        1,
        "one secret, one signature"
    );
    gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
        .await;
    gw.poll(&app, &mailbox, 0)
        .await
        .assert_problem(404, "not-found", None);

    // A phone's identical retry is answered 200 and delivers nothing more.
    gw.deposit(&mailbox, &envelope).await.assert_status(200);
    receiver
        .assert_stays(
            1,
            Duration::from_millis(1500),
            "a retried deposit was delivered again",
        )
        .await;

    let metrics = gw.metrics().await;
    assert_eq!(metrics.deliveries("delivered"), 1.0);
    assert_eq!(metrics.attempts("2xx"), 1.0);
    assert_eq!(metrics.attempts("5xx"), 0.0);
    assert_eq!(metrics.durations(), 1.0);
    assert_eq!(metrics.consumed(), 1.0);
    assert_eq!(metrics.endpoints_disabled(), 0.0);
    eventually("an empty delivery queue", EVENTUALLY, || async {
        gw.metrics().await.queue_depth() == 0.0
    })
    .await;
}

/// 500, 503, then 200: three attempts with one `webhook-id`, spaced by the backoff (1 s, then
/// 2 s), each verified; one delivery; the mailbox consumed once.
pub(crate) async fn scenario_fail_twice_then_succeed(gw: &TestGateway) {
    let receiver = Receiver::start().await;
    receiver.script([Step::status(500), Step::status(503)]);
    let app = register_with_webhook(gw, &receiver).await;
    let mailbox = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&mailbox, &token);
    gw.deposit(&mailbox, &envelope).await.assert_status(201);

    let received = receiver.wait_for(3, EVENTUALLY).await;
    for request in &received {
        check_delivery(request, &app, &mailbox, &envelope, &token);
        assert_eq!(
            request.id, received[0].id,
            "one webhook-id for every attempt"
        );
    }
    let gaps = [
        received[1].at - received[0].at,
        received[2].at - received[1].at,
    ];
    assert!(
        gaps[0] >= Duration::from_millis(950),
        "first retry after {:?}",
        gaps[0]
    );
    assert!(
        gaps[1] >= Duration::from_millis(1950),
        "second retry after {:?}",
        gaps[1]
    );
    assert!(
        gaps[0] < Duration::from_secs(5) && gaps[1] < Duration::from_secs(6),
        "{gaps:?}"
    );

    gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
        .await;
    receiver
        .assert_stays(3, Duration::from_millis(1500), "an attempt after the 2xx")
        .await;
    gw.poll(&app, &mailbox, 0)
        .await
        .assert_problem(404, "not-found", None);
    let metrics = gw.metrics().await;
    assert_eq!(metrics.attempts("5xx"), 2.0);
    assert_eq!(metrics.attempts("2xx"), 1.0);
    assert_eq!(metrics.deliveries("delivered"), 1.0);
    assert_eq!(metrics.consumed(), 1.0);
    assert_eq!(metrics.durations(), 1.0);
}

/// A receiver that takes 2 s to answer 200 while the app also polls: the poll sees 202 while
/// the attempt holds the envelope, and 404 after the 2xx (a long-poll begun during the attempt
/// too); exactly one of {webhook 2xx, poll 200} got the envelope.
pub(crate) async fn scenario_slow_receiver_races_poll(gw: &TestGateway) {
    let receiver = Receiver::start().await;
    receiver.set_default(Step::ok().after(Duration::from_secs(2)));
    let app = register_with_webhook(gw, &receiver).await;
    let mailbox = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&mailbox, &token);
    gw.deposit(&mailbox, &envelope).await.assert_status(201);

    receiver.wait_for(1, EVENTUALLY).await;
    let pending = gw.poll(&app, &mailbox, 0).await;
    pending.assert_status(202);
    assert_eq!(pending.json()["error"], "authorization_pending");
    let started = Instant::now();
    let (long_poll, ()) = tokio::join!(gw.poll(&app, &mailbox, 4), async {
        gw.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
            .await;
        gw.poll(&app, &mailbox, 0)
            .await
            .assert_problem(404, "not-found", None);
    });
    long_poll.assert_problem(404, "not-found", None);
    eprintln!(
        "a long-poll (wait=4) begun during the attempt answered 404 after {:?}",
        started.elapsed()
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    check_delivery(&received[0], &app, &mailbox, &envelope, &token);
    let metrics = gw.metrics().await;
    assert_eq!(metrics.deliveries("delivered"), 1.0);
    assert_eq!(metrics.consumed(), 1.0, "consumed once, by the webhook");
}

/// A receiver answering 500: the envelope goes back to the mailbox, where a long-poll gets it;
/// the next attempt finds it gone and ends as `superseded`, sending nothing.
pub(crate) async fn scenario_failing_receiver_loses_to_poll(gw: &TestGateway) {
    let receiver = Receiver::start().await;
    receiver.set_default(Step::status(500));
    let app = register_with_webhook(gw, &receiver).await;
    let mailbox = gw.open(&app, 120).await;
    let token = fake_id_token();
    let envelope = app.seal(&mailbox, &token);
    gw.deposit(&mailbox, &envelope).await.assert_status(201);

    receiver.wait_for(1, EVENTUALLY).await;
    let polled = gw.poll(&app, &mailbox, 5).await;
    polled.assert_status(200);
    assert_eq!(polled.body, envelope.as_bytes());
    gw.wait_for_metric("a superseded outcome", 1.0, |m| m.deliveries("superseded"))
        .await;
    receiver
        .assert_stays(
            1,
            Duration::from_millis(1500),
            "an attempt after the poll won",
        )
        .await;
    let metrics = gw.metrics().await;
    assert_eq!(metrics.attempts("5xx"), 1.0);
    assert_eq!(metrics.deliveries("delivered"), 0.0);
    assert_eq!(metrics.consumed(), 1.0, "consumed once, by the poll");
    eventually("an empty delivery queue", EVENTUALLY, || async {
        gw.metrics().await.queue_depth() == 0.0
    })
    .await;
}
