//! Shared helpers of the SDK's integration tests: a real gateway on loopback port 0 (memory
//! store, or Redis under a unique key prefix) that can be restarted on the same port with the
//! same store; a test double (a small hyper proxy) in front of it that logs every request and
//! can answer, rewrite or drop chosen ones; the test issuer; and `on_every_backend!`, which
//! runs a scenario once per store. Waiting, timeouts and Redis prefixes come from the test
//! kit (`sealgate_testkit`).
//!
//! Each test file is its own crate and uses a different subset of these helpers.
#![allow(dead_code, unreachable_pub, unused_macros)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{MemoryStore, SharedStore, TakeOutcome, WakeHub};
use sealgate::{Config, Gateway};
use sealgate_client::sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_client::testing::TestIssuer;
use sealgate_client::{AppClient, Expected, IssuerKeys};
use sealgate_testkit::{PATIENCE, SharedPrefix, eventually, test_redis_url, within};

/// The issuer name the test issuer signs with.
pub const ISSUER: &str = "https://issuer.test.invalid";

/// Runs each named `async fn(Backend)` scenario as two tests, `memory::NAME` and `redis::NAME`.
/// The Redis test skips (saying so on stderr) only while this build's `store::connect` takes
/// no Redis URL, and fails then too when `SEALGATE_REQUIRE_REDIS=1`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::Backend::memory()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(backend) = crate::support::Backend::redis().await {
                        super::$name(backend).await;
                    }
                }
            )*
        }
    };
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The kit's configuration (both listeners on an ephemeral loopback port) with a short grace
/// period on shutdown.
pub fn test_config() -> Config {
    let mut config = sealgate_testkit::test_config();
    config.limits.shutdown_grace_secs = 3;
    config
}

/// Where a gateway keeps its data in a test.
#[derive(Clone)]
pub enum Backend {
    /// A fresh `MemoryStore` per gateway.
    Memory,
    /// Redis, under a key prefix of this test's own (its keys deleted when the last clone
    /// goes).
    Redis(Arc<SharedPrefix>),
}

impl Backend {
    /// The memory store.
    pub fn memory() -> Self {
        Self::Memory
    }

    /// Redis at `SEALGATE_TEST_REDIS_URL` (default the shared 127.0.0.1:6379) under a fresh
    /// prefix.
    /// `None`, said on stderr, while this build's `sealgate::store::connect` takes no Redis URL
    /// (unless `SEALGATE_REQUIRE_REDIS=1`, which makes that a failure). A Redis store that
    /// cannot reach Redis is always a failure: these tests never skip silently.
    pub async fn redis() -> Option<Self> {
        let url = test_redis_url();
        let redis = SharedPrefix::at(&url);
        let config = Config {
            store: url.clone(),
            redis_prefix: redis.prefix.clone(),
            ..test_config()
        };
        match sealgate::store::connect(&config, WakeHub::default(), clock()).await {
            Ok(_) => Some(Self::Redis(Arc::new(redis))),
            Err(error) => {
                let error = format!("{error:#}");
                let required = std::env::var("SEALGATE_REQUIRE_REDIS").is_ok_and(|v| v == "1");
                if error.contains("not part of this build") && !required {
                    eprintln!(
                        "SKIPPED: this build's store::connect takes no Redis URL yet ({error}); \
                         set SEALGATE_REQUIRE_REDIS=1 to make this a failure"
                    );
                    return None;
                }
                panic!(
                    "the Redis store at {url} cannot be used: {error}. Start Redis there, or \
                     point SEALGATE_TEST_REDIS_URL at one"
                )
            }
        }
    }

    /// A store for one more gateway instance.
    pub async fn store(&self) -> SharedStore {
        match self {
            Self::Memory => Arc::new(MemoryStore::new(WakeHub::default(), clock())),
            Self::Redis(redis) => {
                let config = Config {
                    store: redis.url.clone(),
                    redis_prefix: redis.prefix.clone(),
                    ..test_config()
                };
                sealgate::store::connect(&config, WakeHub::default(), clock())
                    .await
                    .expect("the Redis store connects")
            }
        }
    }

    /// Whether this is the Redis backend.
    pub fn is_redis(&self) -> bool {
        matches!(self, Self::Redis(_))
    }
}

/// A real gateway on loopback, with the store the test chose.
pub struct Gw {
    gateway: Option<Gateway>,
    /// The store the gateway runs on; a restart reuses this very instance.
    pub store: SharedStore,
    config: Config,
    addr: SocketAddr,
}

impl Gw {
    /// A gateway on port 0 that writes its own address into sign-in requests.
    pub async fn start(backend: &Backend) -> Self {
        Self::start_with(backend, None).await
    }

    /// A gateway on port 0 that writes `public_url` (a test double's, say) into sign-in
    /// requests.
    pub async fn start_with(backend: &Backend, public_url: Option<String>) -> Self {
        let store = backend.store().await;
        let config = Config {
            public_url,
            ..test_config()
        };
        let gateway = Gateway::start_with(config.clone(), store.clone(), clock())
            .await
            .expect("the gateway starts");
        let addr = gateway.api_addr();
        Self {
            gateway: Some(gateway),
            store,
            config,
            addr,
        }
    }

    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The running gateway.
    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("the gateway is running")
    }

    /// Long-polls waiting in this gateway now.
    pub fn waiters(&self) -> i64 {
        self.gateway().waiting_polls()
    }

    /// Waits until at least one long-poll waits in this gateway.
    pub async fn wait_for_a_waiter(&self) {
        eventually("a long-poll waiting in the gateway", PATIENCE, || async {
            self.waiters() >= 1
        })
        .await;
    }

    /// Stops the gateway gracefully (waiting long-polls are answered).
    pub async fn stop(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            within("the gateway's shutdown", gateway.shutdown()).await;
        }
    }

    /// Stops the gateway and starts a new one on the same port with the same store instance.
    pub async fn restart(&mut self) {
        self.stop().await;
        let config = Config {
            listen: self.addr,
            ..self.config.clone()
        };
        let start = Instant::now();
        loop {
            match Gateway::start_with(config.clone(), self.store.clone(), clock()).await {
                Ok(gateway) => {
                    assert_eq!(gateway.api_addr(), self.addr);
                    self.gateway = Some(gateway);
                    return;
                }
                Err(error) => {
                    assert!(
                        start.elapsed() < PATIENCE,
                        "cannot restart on {}: {error:#}",
                        self.addr
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Whether `client_id`'s mailbox is open and still empty (nothing was deposited).
    pub async fn is_empty(&self, mailbox_id: &str, client_id: &str) -> bool {
        let taken = self
            .store
            .take(mailbox_id, client_id)
            .await
            .expect("the store answers");
        match taken {
            TakeOutcome::Pending => true,
            TakeOutcome::Envelope(_) => false,
            TakeOutcome::NotFound => panic!("mailbox {mailbox_id} is gone"),
        }
    }
}

/// Registers an app with a fresh key at `gateway`.
pub async fn register(gateway: &str) -> AppClient {
    within(
        "registration",
        AppClient::register(
            gateway,
            "sdk test app",
            PrivateKey::generate(Algorithm::Hpke4),
        ),
    )
    .await
    .expect("the app registers")
}

/// A throw-away issuer named [`ISSUER`].
pub fn issuer() -> TestIssuer {
    TestIssuer::generate(ISSUER).expect("a test issuer")
}

/// `issuer`'s public keys, as an app would load them.
pub fn issuer_keys(issuer: &TestIssuer) -> IssuerKeys {
    IssuerKeys::from_json(&issuer.jwks().to_string()).expect("the issuer's JWKS parses")
}

/// What an app expects of an ID token from [`ISSUER`] for `audience` with `nonce`.
pub fn expected(audience: &str, nonce: &str) -> Expected {
    Expected {
        issuer: Some(ISSUER.to_owned()),
        audience: audience.to_owned(),
        nonce: nonce.to_owned(),
        leeway: Duration::from_secs(60),
    }
}

/// A request as the test double saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An answer, forwarded or made up.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// An answer with a `Content-Type`.
    pub fn new(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::try_from(content_type).expect("a valid media type"),
        );
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    /// An RFC 9457 problem, as the gateway (or a proxy in front of it) would answer.
    pub fn problem(status: StatusCode, detail: &str) -> Self {
        let body = serde_json::json!({
            "type": "about:blank", "title": status.canonical_reason(),
            "status": status.as_u16(), "detail": detail,
        });
        Self::new(status, "application/problem+json", body.to_string())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON answer")
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        // The body may have been rewritten: hyper frames it anew.
        response.headers_mut().remove(header::CONTENT_LENGTH);
        response.headers_mut().remove(header::TRANSFER_ENCODING);
        response
    }
}

/// What the test double does with one request.
pub enum Hook {
    /// Forward it and pass the answer back unchanged.
    Forward,
    /// Answer this, without forwarding.
    Answer(Answer),
    /// Forward it, then close the connection without answering: the answer is lost.
    ForwardThenDrop,
    /// Forward it and pass the answer back through this rewrite.
    Rewrite(Box<dyn FnOnce(Answer) -> Answer + Send>),
}

type Policy = Box<dyn FnMut(&Seen) -> Hook + Send>;

/// The test double's socket, bound before the gateway starts so that the gateway can write
/// the double's URL into its sign-in requests.
pub struct DoubleListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl DoubleListener {
    /// Binds loopback port 0.
    pub async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        Self { listener, addr }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts forwarding everything to `upstream`, until a policy says otherwise.
    pub fn forward_to(self, upstream: SocketAddr) -> Double {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let policy: Arc<Mutex<Policy>> = Arc::new(Mutex::new(Box::new(|_: &Seen| Hook::Forward)));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let task = tokio::spawn({
            let (seen, policy) = (seen.clone(), policy.clone());
            async move {
                loop {
                    let Ok((stream, _)) = self.listener.accept().await else {
                        continue;
                    };
                    let (seen, policy, client) = (seen.clone(), policy.clone(), client.clone());
                    let service = service_fn(move |request| {
                        relay(
                            request,
                            upstream,
                            client.clone(),
                            seen.clone(),
                            policy.clone(),
                        )
                    });
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Double {
            addr: self.addr,
            seen,
            policy,
            task,
        }
    }
}

/// A test double in front of a real gateway: it logs every request and applies its policy.
pub struct Double {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    policy: Arc<Mutex<Policy>>,
    task: JoinHandle<()>,
}

impl Double {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the policy: it sees every request and says what to do with it.
    pub fn set_policy(&self, policy: impl FnMut(&Seen) -> Hook + Send + 'static) {
        *self.policy.lock().unwrap() = Box::new(policy);
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests seen with `method` on `path`.
    pub fn seen_at(&self, method: &Method, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.method == method && seen.path == path)
            .collect()
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    request: Request<Incoming>,
    upstream: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    policy: Arc<Mutex<Policy>>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let request_seen = Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    let hook = (policy.lock().unwrap())(&request_seen);
    seen.lock().unwrap().push(request_seen);
    if let Hook::Answer(answer) = hook {
        return Ok(answer.into_response());
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forwarded = Request::builder()
        .method(parts.method)
        .uri(format!("http://{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != header::HOST {
            forwarded = forwarded.header(name, value);
        }
    }
    let forwarded = forwarded.body(Full::new(body)).expect("a valid request");
    let response = client
        .request(forwarded)
        .await
        .map_err(std::io::Error::other)?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let answer = Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    };
    match hook {
        Hook::Forward => Ok(answer.into_response()),
        Hook::Rewrite(rewrite) => Ok(rewrite(answer).into_response()),
        // hyper closes the connection without writing anything when the service fails.
        Hook::ForwardThenDrop => Err(std::io::Error::other("the test double drops the answer")),
        Hook::Answer(_) => unreachable!("answered above"),
    }
}

/// A gateway behind a test double: the gateway writes the double's URL into its sign-in
/// requests, so that the app and the phone both talk to the double.
pub struct Behind {
    pub gw: Gw,
    pub double: Double,
}

impl Behind {
    /// Starts the gateway on `backend` behind a double that forwards everything.
    pub async fn start(backend: &Backend) -> Self {
        let listener = DoubleListener::bind().await;
        let gw = Gw::start_with(backend, Some(listener.url())).await;
        let double = listener.forward_to(gw.addr());
        Self { gw, double }
    }
}
