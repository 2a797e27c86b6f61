//! Starting gateways (on the memory store or any store) with webhooks allowed to loopback,
//! talking to their API over real sockets, and reading their metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{MemoryStore, SharedStore, WakeHub};
use sealgate::{Config, Gateway};
use sealgate_client::{AppClient, HttpClient};
use sealgate_crypto::{Algorithm, PrivateKey};

use super::{Deposited, EVENTUALLY, Mailbox, Reply, TestApp, eventually, fake_id_token};

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

/// A gateway serving on port 0, with a plain HTTP/1.1 client for it.
pub(crate) struct TestGateway {
    pub(crate) gateway: Gateway,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl TestGateway {
    /// A gateway with `webhook_config()` and the memory store.
    pub(crate) async fn memory() -> Self {
        Self::start(webhook_config()).await
    }

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

    /// Sends one request as `app` (HTTP Basic), with `json` as an `application/json` body.
    async fn send_as(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        json: Option<Value>,
    ) -> Reply {
        self.send(
            method,
            path,
            Some(&app.basic()),
            json.as_ref().map(json_body),
        )
        .await
    }

    /// `POST /v1/clients` with `body`.
    pub(crate) async fn register_raw(&self, body: &Value) -> Reply {
        self.send(Method::POST, "/v1/clients", None, Some(json_body(body)))
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
            .send_as(
                app,
                Method::POST,
                "/v1/mailboxes",
                Some(json!({ "ttl": ttl })),
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

    /// Seals a fresh stand-in token for `mailbox` and deposits it (201).
    pub(crate) async fn deposit_new(&self, app: &TestApp, mailbox: Mailbox) -> Deposited {
        let token = fake_id_token();
        let envelope = app.seal(&mailbox, &token);
        self.deposit(&mailbox, &envelope).await.assert_status(201);
        Deposited {
            mailbox,
            token,
            envelope,
        }
    }

    /// Opens a mailbox living `ttl` seconds and deposits a fresh stand-in token in it (201).
    pub(crate) async fn open_and_deposit(&self, app: &TestApp, ttl: u64) -> Deposited {
        let mailbox = self.open(app, ttl).await;
        self.deposit_new(app, mailbox).await
    }

    /// `GET /v1/mailboxes/{id}?wait=N` as `app`.
    pub(crate) async fn poll(&self, app: &TestApp, mailbox: &Mailbox, wait: u64) -> Reply {
        let path = format!("/v1/mailboxes/{}?wait={wait}", mailbox.id);
        self.send_as(app, Method::GET, &path, None).await
    }

    /// `GET /v1/clients/{id}`.
    pub(crate) async fn client_record(&self, app: &TestApp) -> Reply {
        self.send_as(app, Method::GET, &app.path(""), None).await
    }

    /// `PUT /v1/clients/{id}/webhook` with `url`.
    pub(crate) async fn set_webhook(&self, app: &TestApp, url: &str) -> Reply {
        let body = json!({ "url": url });
        self.send_as(app, Method::PUT, &app.path("/webhook"), Some(body))
            .await
    }

    /// `DELETE /v1/clients/{id}/webhook`.
    pub(crate) async fn remove_webhook(&self, app: &TestApp) -> Reply {
        self.send_as(app, Method::DELETE, &app.path("/webhook"), None)
            .await
    }

    /// `POST /v1/clients/{id}/webhook/secret`.
    pub(crate) async fn rotate_secret(&self, app: &TestApp) -> Reply {
        self.send_as(app, Method::POST, &app.path("/webhook/secret"), None)
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

    /// Waits for a `delivered` outcome, then checks that a poll as `app` finds `mailbox`
    /// consumed (404).
    pub(crate) async fn assert_delivered_and_consumed(&self, app: &TestApp, mailbox: &Mailbox) {
        self.wait_for_metric("a delivered outcome", 1.0, |m| m.deliveries("delivered"))
            .await;
        self.poll(app, mailbox, 0)
            .await
            .assert_problem(404, "not-found", None);
    }

    /// Waits until the delivery queue is empty.
    pub(crate) async fn wait_for_empty_queue(&self) {
        eventually("an empty delivery queue", EVENTUALLY, || async {
            self.metrics().await.queue_depth() == 0.0
        })
        .await;
    }
}

/// `value` as an `application/json` body.
fn json_body(value: &Value) -> (&'static str, Vec<u8>) {
    ("application/json", value.to_string().into_bytes())
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
