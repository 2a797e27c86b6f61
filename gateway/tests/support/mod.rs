//! Shared helpers of the gateway's integration tests: a gateway on port 0 with the memory store,
//! a small HTTP client over real sockets, and the RFC 9457 problem+json assertion.
//!
//! Each test file is its own crate and uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{MemoryStore, WakeHub};
use sealgate::{Config, Gateway};
use sealgate_crypto::{
    Algorithm, Binding, PrivateKey, SealOptions, SignInRequest, random_token, seal,
};

/// The prefix of every problem `type`.
pub(crate) const PROBLEM_PREFIX: &str = "tag:sealgate,2026:problem:";

/// How long "eventually" conditions may take on a slow, shared CI machine.
pub(crate) const EVENTUALLY: Duration = Duration::from_secs(10);

/// A configuration that binds both listeners to an ephemeral loopback port.
pub(crate) fn test_config() -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    }
}

/// A gateway serving on port 0, with the memory store the test can inspect.
pub(crate) struct TestGateway {
    pub(crate) gateway: Gateway,
    pub(crate) store: MemoryStore,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// A registered client: its id, its secret, and the private half of its one key.
pub(crate) struct TestClient {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) key: PrivateKey,
}

impl TestClient {
    /// The `Authorization: Basic` value for this client.
    pub(crate) fn basic(&self) -> String {
        basic(&self.id, &self.secret)
    }
}

/// An open mailbox, as `POST /v1/mailboxes` described it.
pub(crate) struct TestMailbox {
    pub(crate) id: String,
    /// The expiry the sign-in request carries, seconds since the epoch.
    pub(crate) exp: u64,
    /// The whole 201 body.
    pub(crate) body: Value,
}

/// A buffered HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
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

    /// A header's value as text.
    pub(crate) fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub(crate) fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "body: {}", self.text());
        self
    }
}

/// `Basic base64(id:secret)`; ids and secrets are base64url, so need no form-encoding.
pub(crate) fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A stand-in ID token: random, so that a test can look for it anywhere it must not be.
pub(crate) fn fake_id_token() -> String {
    format!(
        "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.{}.{}",
        random_token::<96>(),
        random_token::<64>()
    )
}

/// The public JWKS of `key`, as registration takes it.
pub(crate) fn jwks_of(key: &PrivateKey) -> Value {
    json!({ "keys": [key.public_key().to_jwk()] })
}

/// Seals `token` to `client`'s key, bound to `mailbox` as the sign-in request says.
pub(crate) fn seal_for(client: &TestClient, mailbox: &TestMailbox, token: &[u8]) -> String {
    seal_with(
        &client.key,
        Binding::to_mailbox(&client.id, &mailbox.id, mailbox.exp),
        token,
    )
}

/// Seals `token` to `key` with any binding (for the mismatch tests).
pub(crate) fn seal_with(key: &PrivateKey, binding: Binding, token: &[u8]) -> String {
    seal(key.public_key(), token, &SealOptions::for_token(binding))
        .expect("seal")
        .into_string()
}

/// Polls `condition` until it holds, or panics after [`EVENTUALLY`].
pub(crate) async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(start.elapsed() < EVENTUALLY, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestGateway {
    /// A gateway with the default limits.
    pub(crate) async fn start() -> Self {
        Self::start_with(test_config()).await
    }

    /// A gateway with `config` (whose listeners should be on port 0).
    pub(crate) async fn start_with(config: Config) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = MemoryStore::new(WakeHub::default(), clock.clone());
        let gateway = Gateway::start_with(config, Arc::new(store.clone()), clock)
            .await
            .expect("the gateway starts");
        let http = Client::builder(TokioExecutor::new()).build_http();
        Self {
            gateway,
            store,
            http,
        }
    }

    /// Where the API listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.gateway.api_addr()
    }

    /// `http://ADDR` + `path`, on the API listener.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// A request builder for `path` on the API listener.
    pub(crate) fn request(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder().method(method).uri(self.url(path))
    }

    /// Sends a request over HTTP/1.1 and buffers the answer.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        send_with(&self.http, request).await
    }

    /// `GET path` on the API listener.
    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(
            self.request(Method::GET, path)
                .body(Full::default())
                .unwrap(),
        )
        .await
    }

    /// `GET /metrics` on the metrics listener.
    pub(crate) async fn metrics(&self) -> String {
        let uri = format!("http://{}/metrics", self.gateway.metrics_addr());
        let reply = self
            .send(Request::get(uri).body(Full::default()).unwrap())
            .await;
        reply.assert_status(200);
        reply.text()
    }

    /// The value of the long-poll waiters gauge.
    pub(crate) async fn waiters(&self) -> i64 {
        let metrics = self.metrics().await;
        metric_value(&metrics, "sealgate_longpoll_waiters").unwrap_or(0.0) as i64
    }

    /// Waits until `n` long-polls are waiting in the gateway.
    pub(crate) async fn wait_for_waiters(&self, n: i64) {
        eventually(&format!("{n} waiting long-polls"), || async {
            self.waiters().await >= n
        })
        .await;
    }

    /// `POST /v1/clients` with `body` as JSON.
    pub(crate) async fn register_raw(&self, body: &Value, auth: Option<&str>) -> Reply {
        let mut request = self
            .request(Method::POST, "/v1/clients")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        self.send(request.body(Full::new(body.to_string().into())).unwrap())
            .await
    }

    /// Registers a client with a fresh key.
    pub(crate) async fn register(&self) -> TestClient {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let reply = self
            .register_raw(&json!({ "name": "test app", "jwks": jwks_of(&key) }), None)
            .await;
        reply.assert_status(201);
        let body = reply.json();
        TestClient {
            id: body["client_id"].as_str().expect("client_id").to_owned(),
            secret: body["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
            key,
        }
    }

    /// `POST /v1/mailboxes` with an optional JSON body and an optional `Authorization`.
    pub(crate) async fn open_raw(&self, auth: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.request(Method::POST, "/v1/mailboxes");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Full::new(body.to_string().into())
            }
            None => Full::default(),
        };
        self.send(request.body(body).unwrap()).await
    }

    /// Opens a mailbox with `ttl` (the server's default when `None`).
    pub(crate) async fn open(&self, client: &TestClient, ttl: Option<u64>) -> TestMailbox {
        let body = ttl.map(|ttl| json!({ "ttl": ttl }));
        let reply = self.open_raw(Some(&client.basic()), body).await;
        reply.assert_status(201);
        let body = reply.json();
        let id = body["mailbox_id"].as_str().expect("mailbox_id").to_owned();
        assert_eq!(
            reply.header(header::LOCATION),
            Some(format!("/v1/mailboxes/{id}").as_str())
        );
        let uri = body["signin_request"].as_str().expect("signin_request");
        let signin = SignInRequest::parse(uri, now_secs()).expect("a valid sign-in request");
        assert_eq!(signin.client_id(), client.id);
        assert_eq!(signin.mailbox_id(), id);
        assert_eq!(
            signin.key_thumbprint(),
            client.key.public_key().thumbprint()
        );
        let expires_at = body["expires_at"].as_str().expect("expires_at");
        let expires_at = humantime::parse_rfc3339(expires_at).expect("RFC 3339 expires_at");
        let expires_at = expires_at.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(
            expires_at,
            signin.expires_at(),
            "expires_at and the sign-in exp"
        );
        TestMailbox {
            id,
            exp: signin.expires_at(),
            body,
        }
    }

    /// `PUT /v1/mailboxes/{id}` with `envelope` as `application/jose`.
    pub(crate) async fn deposit(&self, mailbox_id: &str, envelope: &str) -> Reply {
        self.deposit_as(mailbox_id, "application/jose", envelope.as_bytes().to_vec())
            .await
    }

    /// `PUT /v1/mailboxes/{id}` with any media type and body.
    pub(crate) async fn deposit_as(&self, mailbox_id: &str, media: &str, body: Vec<u8>) -> Reply {
        let request = self
            .request(Method::PUT, &format!("/v1/mailboxes/{mailbox_id}"))
            .header(header::CONTENT_TYPE, media)
            .body(Full::new(body.into()))
            .unwrap();
        self.send(request).await
    }

    /// `GET /v1/mailboxes/{id}?wait=N` as `client`.
    pub(crate) async fn poll(&self, auth: &str, mailbox_id: &str, wait: u64) -> Reply {
        let request = self
            .request(
                Method::GET,
                &format!("/v1/mailboxes/{mailbox_id}?wait={wait}"),
            )
            .header(header::AUTHORIZATION, auth)
            .body(Full::default())
            .unwrap();
        self.send(request).await
    }

    /// `DELETE path` with `Authorization`.
    pub(crate) async fn delete(&self, auth: &str, path: &str) -> Reply {
        let request = self
            .request(Method::DELETE, path)
            .header(header::AUTHORIZATION, auth)
            .body(Full::default())
            .unwrap();
        self.send(request).await
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
        version: parts.version,
        headers: parts.headers,
        body,
    }
}

/// The value of an unlabelled metric in Prometheus text, or of the first sample of `name`.
pub(crate) fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Asserts that `reply` is an RFC 9457 problem with `status` and the type `PREFIX + slug`, and
/// returns its JSON body for further checks.
#[track_caller]
pub(crate) fn assert_problem(reply: &Reply, status: u16, slug: &str) -> Value {
    reply.assert_status(status);
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("application/problem+json"),
        "content type of {}",
        reply.text()
    );
    let body = reply.json();
    let kind = body["type"].as_str().expect("a problem has a type");
    assert!(kind.starts_with(PROBLEM_PREFIX), "type {kind}");
    assert_eq!(kind, format!("{PROBLEM_PREFIX}{slug}"), "body: {body}");
    let title = body["title"].as_str().expect("a problem has a title");
    assert!(!title.is_empty());
    assert_eq!(body["status"], json!(status), "status member");
    let detail = body["detail"].as_str().expect("a problem has a detail");
    assert!(!detail.is_empty());
    body
}

/// Writes `request` on a fresh TCP connection to `addr` and reads until the server closes it
/// (or 10 s pass): for requests a normal client would not send.
pub(crate) async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write the request");
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // A reset after the response (the server did not read the whole body) ends the read too.
    while let Ok(Ok(n @ 1..)) = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
        response.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&response).into_owned()
}
