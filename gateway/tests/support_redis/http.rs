//! A gateway on a Redis store, driven over real sockets: register, open, deposit, poll.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use sealgate::{Config, Gateway};
use sealgate_crypto::{Algorithm, Binding, PrivateKey, SealOptions, random_token, seal};

/// A gateway instance on a Redis store.
pub struct Node {
    pub gateway: Gateway,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// A buffered answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Asserts an RFC 9457 503 with `Retry-After`.
    #[track_caller]
    pub fn assert_unavailable(&self) {
        assert_eq!(self.status, StatusCode::SERVICE_UNAVAILABLE, "{self:?}");
        assert_eq!(
            self.headers.get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        assert!(self.headers.contains_key(header::RETRY_AFTER), "{self:?}");
        assert_eq!(self.json()["status"], json!(503));
    }
}

/// A registered client.
pub struct App {
    pub id: String,
    pub basic: String,
    pub key: PrivateKey,
}

/// An open mailbox.
pub struct Mailbox {
    pub id: String,
    pub exp: u64,
}

impl Node {
    /// A gateway on `store` (a Redis URL) under `prefix`, listening on loopback port 0, with
    /// the rate limits off (the tests send bursts from one address).
    pub async fn start(store: &str, prefix: &str) -> Self {
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: store.to_owned(),
            redis_prefix: prefix.to_owned(),
            ..Config::default()
        };
        config.limits.deposits_per_ip_per_sec = 0;
        config.limits.mailboxes_per_client_per_sec = 0;
        config.limits.max_waiters_per_client = 10_000;
        config.limits.shutdown_grace_secs = 1;
        let gateway = Gateway::start(config).await.expect("the gateway starts");
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(2_000)
            .build_http();
        Self { gateway, http }
    }

    /// Sends a request and buffers the answer (which must come within 90 s).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.gateway.api_addr()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).expect("a request");
        let response = tokio::time::timeout(Duration::from_secs(90), self.http.request(request))
            .await
            .expect("the gateway answers in time")
            .expect("the request is sent");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("the body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// Registers a client with a fresh key.
    pub async fn register(&self) -> App {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let body = json!({ "name": "redis test", "jwks": { "keys": [key.public_key().to_jwk()] } });
        let reply = self
            .send(
                Method::POST,
                "/v1/clients",
                &[("content-type", "application/json")],
                Bytes::from(body.to_string()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        let body = reply.json();
        let id = body["client_id"].as_str().unwrap().to_owned();
        let secret = body["client_secret"].as_str().unwrap();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        );
        App { id, basic, key }
    }

    /// Opens a mailbox for `app`, answering the raw reply.
    pub async fn try_open(&self, app: &App) -> Reply {
        self.send(
            Method::POST,
            "/v1/mailboxes",
            &[("authorization", &app.basic)],
            Bytes::new(),
        )
        .await
    }

    /// Opens a mailbox for `app`.
    pub async fn open(&self, app: &App) -> Mailbox {
        let reply = self.try_open(app).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        let body = reply.json();
        let expires_at = body["expires_at"].as_str().unwrap();
        let exp = humantime::parse_rfc3339(expires_at)
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Mailbox {
            id: body["mailbox_id"].as_str().unwrap().to_owned(),
            exp,
        }
    }

    /// `PUT /v1/mailboxes/{id}`.
    pub async fn deposit(&self, mailbox: &Mailbox, envelope: &str) -> Reply {
        self.send(
            Method::PUT,
            &format!("/v1/mailboxes/{}", mailbox.id),
            &[("content-type", "application/jose")],
            Bytes::from(envelope.to_owned()),
        )
        .await
    }

    /// `GET /v1/mailboxes/{id}?wait=N`.
    pub async fn poll(&self, app: &App, mailbox: &Mailbox, wait: u64) -> Reply {
        self.send(
            Method::GET,
            &format!("/v1/mailboxes/{}?wait={wait}", mailbox.id),
            &[("authorization", &app.basic)],
            Bytes::new(),
        )
        .await
    }

    /// The number of long-polls waiting in this gateway.
    pub fn waiting(&self) -> i64 {
        self.gateway.app().metrics.longpoll_waiters.get()
    }
}

/// An envelope for `mailbox`, sealed to `app`'s key.
pub fn seal_for(app: &App, mailbox: &Mailbox) -> String {
    let token = format!(
        "eyJhbGciOiJFZERTQSJ9.{}.{}",
        random_token::<64>(),
        random_token::<64>()
    );
    let binding = Binding::to_mailbox(&app.id, &mailbox.id, mailbox.exp);
    seal(
        app.key.public_key(),
        token.as_bytes(),
        &SealOptions::for_token(binding),
    )
    .expect("seal")
    .into_string()
}
