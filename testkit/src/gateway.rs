//! A gateway on free loopback ports (port 0) for a test, on the memory store or any other,
//! driven over real sockets, with its metrics.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;

use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{MemoryStore, SharedStore, WakeHub};
use sealgate::{Config, Gateway};

use crate::http::{HttpClient, Reply, http_client, send_with};
use crate::wait::{EVENTUALLY, eventually};

/// A configuration that binds both listeners to an ephemeral loopback port. Every test
/// registers from 127.0.0.1, so the per-IP registration rate is off; a test of that limit
/// sets it.
pub fn test_config() -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    config.limits.registrations_per_ip_per_min = 0;
    config
}

/// A gateway serving on port 0, with a plain HTTP/1.1 client for it.
pub struct TestGateway {
    /// The running gateway.
    pub gateway: Gateway,
    memory: Option<MemoryStore>,
    http: HttpClient,
}

impl TestGateway {
    /// A gateway with [`test_config`] and the memory store.
    pub async fn start() -> Self {
        Self::start_with(test_config()).await
    }

    /// A gateway with `config` (whose listeners should be on port 0) and the memory store,
    /// which the test can inspect with [`TestGateway::memory_store`].
    pub async fn start_with(config: Config) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = MemoryStore::new(WakeHub::default(), clock.clone());
        let mut gateway = Self::start_on(config, Arc::new(store.clone()), clock).await;
        gateway.memory = Some(store);
        gateway
    }

    /// A gateway with `config` on `store`.
    pub async fn start_on(config: Config, store: SharedStore, clock: Arc<dyn Clock>) -> Self {
        let gateway = Gateway::start_with(config, store, clock)
            .await
            .expect("the gateway starts");
        Self::attach(gateway)
    }

    /// Wraps a running gateway.
    pub fn attach(gateway: Gateway) -> Self {
        Self {
            gateway,
            memory: None,
            http: http_client(),
        }
    }

    /// The memory store this gateway runs on; panics when it runs on another.
    #[track_caller]
    pub fn memory_store(&self) -> &MemoryStore {
        self.memory
            .as_ref()
            .expect("a gateway started on the memory store")
    }

    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.gateway.api_addr()
    }

    /// `http://ADDR` of the API listener.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://ADDR` + `path`, on the API listener.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// A request builder for `path` on the API listener.
    pub fn request(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder().method(method).uri(self.url(path))
    }

    /// Sends a request over HTTP/1.1 and buffers the answer.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        send_with(&self.http, request).await
    }

    /// Sends `method path` with an optional `Authorization` and an optional body with its
    /// media type.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut request = self.request(method, path);
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
        self.send(request.body(body).expect("a valid request"))
            .await
    }

    /// `GET path` on the API listener.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, None).await
    }

    /// `GET /metrics` on the metrics listener, as Prometheus text.
    pub async fn metrics(&self) -> String {
        let uri = format!("http://{}/metrics", self.gateway.metrics_addr());
        let reply = self
            .send(Request::get(uri).body(Full::default()).expect("a request"))
            .await;
        reply.assert_status(200);
        reply.text()
    }

    /// The value of the long-poll waiters gauge, as `/metrics` shows it.
    pub async fn waiters(&self) -> i64 {
        let metrics = self.metrics().await;
        metric_value(&metrics, "sealgate_longpoll_waiters").unwrap_or(0.0) as i64
    }

    /// Waits until `n` long-polls are waiting in the gateway.
    pub async fn wait_for_waiters(&self, n: i64) {
        eventually(&format!("{n} waiting long-polls"), EVENTUALLY, || async {
            self.waiters().await >= n
        })
        .await;
    }
}

/// The value of an unlabelled metric in Prometheus text, or of the first sample of `name`.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}
