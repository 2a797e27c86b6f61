//! Starting gateways (on the memory store or any store) with webhooks allowed to loopback,
//! talking to their API over real sockets, and reading their metrics.

use std::ops::Deref;
use std::sync::Arc;

use http::Method;
use serde_json::{Value, json};

use sealgate::clock::Clock;
use sealgate::store::SharedStore;
use sealgate::{Config, Gateway};
use sealgate_testkit::api::{expires_at_secs, json_body};
use sealgate_testkit::{
    EVENTUALLY, Reply, SharedPrefix, eventually, fake_id_token, metric_value, test_config,
};

use super::{Deposited, Mailbox, TestApp};

/// A configuration with both listeners on port 0, webhooks allowed to plain-HTTP loopback
/// endpoints, and the per-address rate limits off.
pub(crate) fn webhook_config() -> Config {
    let mut config = test_config();
    config.webhooks.allow_insecure = true;
    config.webhooks.allow_private = true;
    config.limits.deposits_per_ip_per_sec = 0;
    config.limits.mailboxes_per_client_per_sec = 0;
    config.limits.shutdown_grace_secs = 1;
    config
}

/// The kit's gateway (any store, port 0) with the webhook suite's calls, which speak of a
/// [`TestApp`] and its [`Mailbox`]; everything else is the kit's, through `Deref`.
pub(crate) struct TestGateway(pub(crate) sealgate_testkit::TestGateway);

impl Deref for TestGateway {
    type Target = sealgate_testkit::TestGateway;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestGateway {
    /// A gateway with `webhook_config()` and the memory store.
    pub(crate) async fn memory() -> Self {
        Self::start(webhook_config()).await
    }

    /// A gateway with `config` and the memory store.
    pub(crate) async fn start(config: Config) -> Self {
        Self(sealgate_testkit::TestGateway::start_with(config).await)
    }

    /// A gateway with `config` on `store`.
    pub(crate) async fn start_on(
        config: Config,
        store: SharedStore,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self(sealgate_testkit::TestGateway::start_on(config, store, clock).await)
    }

    /// A gateway with `config` on the shared Redis under `prefix`.
    pub(crate) async fn on_redis(prefix: &SharedPrefix, config: Config) -> Self {
        Self(prefix.gateway(config).await)
    }

    /// Wraps a running gateway.
    pub(crate) fn attach(gateway: Gateway) -> Self {
        Self(sealgate_testkit::TestGateway::attach(gateway))
    }

    /// Stops the gateway gracefully.
    pub(crate) async fn shutdown(self) {
        self.0.gateway.shutdown().await;
    }

    /// Sends one request as `app` (HTTP Basic), with `json` as an `application/json` body.
    async fn send_as(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        json: Option<Value>,
    ) -> Reply {
        let body = json.as_ref().map(json_body);
        self.call(method, path, Some(&app.basic()), body).await
    }

    /// Registers an app with a fresh key and, when given, a webhook URL.
    pub(crate) async fn register(&self, webhook_url: Option<&str>) -> TestApp {
        let extra = webhook_url.map_or(Value::Null, |url| json!({ "webhook_url": url }));
        let client = self.register_with(extra).await;
        let webhook_secret = client.registration["webhook_secret"]
            .as_str()
            .map(str::to_owned);
        TestApp {
            id: client.id,
            secret: client.secret,
            key: client.key,
            webhook_secret,
            registration: client.registration,
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
        Mailbox {
            id: body["mailbox_id"].as_str().unwrap().to_owned(),
            exp: expires_at_secs(&body),
        }
    }

    /// `PUT /v1/mailboxes/{id}` with `envelope`, as the phone does.
    pub(crate) async fn deposit(&self, mailbox: &Mailbox, envelope: &str) -> Reply {
        self.0.deposit(&mailbox.id, envelope).await
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
        self.0.poll(&app.basic(), &mailbox.id, wait).await
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

    /// `GET /metrics` on the metrics listener, with the webhook lookups.
    pub(crate) async fn metrics(&self) -> Metrics {
        Metrics(self.0.metrics().await)
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

/// Prometheus text, with lookups.
pub(crate) struct Metrics(pub(crate) String);

impl Metrics {
    /// The sample `name{labels}` (`labels` like `outcome="delivered"`, or "" for none); 0 when
    /// absent (a labelled counter appears on first use).
    pub(crate) fn value(&self, name: &str, labels: &str) -> f64 {
        let sample = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{labels}}}")
        };
        metric_value(&self.0, &sample).unwrap_or(0.0)
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
