//! A gateway, a trusted test issuer and a bridge, all in this process on loopback, and the
//! browser's and the phone's sides of a sign-in, for the bridge's end-to-end tests.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use sealgate_bridge::BridgeConfig;
use sealgate_client::Phone;
use sealgate_client::sealgate_crypto::{SignInRequest, random_token};
use sealgate_client::testing::TestIssuer;
use sealgate_testkit::{HttpClient, Reply, TestGateway, http_client, send_with};
use serde_json::{Map, Value, json};

/// The website's redirect URI in every test configuration.
pub const REDIRECT: &str = "http://127.0.0.1:5999/callback";
/// The confidential website's secret.
pub const SECRET: &str = "site-secret-0123456789abcdef";
/// The trusted issuer's name.
pub const ISSUER: &str = "https://issuer.test.invalid";

/// A running stack.
pub struct Stack {
    pub gateway: TestGateway,
    pub issuer: TestIssuer,
    pub bridge: String,
    pub dir: PathBuf,
    pub http: HttpClient,
    pub phone: Phone,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The configuration file of a test bridge on `port`.
fn config_text(port: u16, gateway: &str, ttl: u64) -> String {
    format!(
        r#"
issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
gateway = "{gateway}"
credentials = "gw-credentials.json"
signing_key = "signing.pem"
signin_ttl_secs = {ttl}

[[clients]]
client_id = "site"
client_secret = "{SECRET}"
redirect_uris = ["{REDIRECT}"]
name = "Test Shop"

[[clients]]
client_id = "public-site"
redirect_uris = ["{REDIRECT}"]
name = "Public Shop"
id_token_signed_response_alg = "ES256"

[[trusted_issuers]]
issuer = "{ISSUER}"
jwks_file = "issuer.jwks"
"#
    )
}

impl Stack {
    /// A gateway, an issuer and a bridge whose sign-ins live `ttl` seconds.
    pub async fn start(ttl: u64) -> Self {
        Self::start_on(TestGateway::start().await, ttl).await
    }

    /// Like [`start`](Self::start), with the gateway's rate limits off (for load).
    pub async fn start_unlimited(ttl: u64) -> Self {
        let mut config = sealgate_testkit::test_config();
        config.limits.deposits_per_ip_per_sec = 0;
        config.limits.mailboxes_per_client_per_sec = 0;
        config.limits.max_open_mailboxes_per_client = 100_000;
        config.limits.max_waiters_per_client = 100_000;
        Self::start_on(TestGateway::start_with(config).await, ttl).await
    }

    async fn start_on(gateway: TestGateway, ttl: u64) -> Self {
        let issuer = TestIssuer::generate(ISSUER).unwrap();
        let dir =
            std::env::temp_dir().join(format!("sealgate-bridge-test-{}", random_token::<8>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("issuer.jwks"), issuer.jwks().to_string()).unwrap();
        let mut stack = Self {
            gateway,
            issuer,
            bridge: String::new(),
            dir,
            http: http_client(),
            phone: Phone::new().unwrap(),
            stop: None,
            task: None,
        };
        stack.start_bridge(ttl).await;
        stack
    }

    /// (Re)starts the bridge on a fresh port with the files in `dir`.
    pub async fn start_bridge(&mut self, ttl: u64) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut config =
            BridgeConfig::parse(&config_text(port, &self.gateway.base(), ttl)).unwrap();
        config.credentials = self.dir.join("gw-credentials.json");
        config.signing_key = self.dir.join("signing.pem");
        config.trusted_issuers[0].jwks_file = Some(self.dir.join("issuer.jwks"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sealgate_bridge::run(config, listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        self.bridge = format!("http://127.0.0.1:{port}");
        self.stop = Some(stop);
        self.task = Some(task);
        for _ in 0..100 {
            if self.get("/healthz", None).await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the bridge did not answer /healthz");
    }

    /// Stops the bridge and waits for it.
    pub async fn stop_bridge(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// `GET path` on the bridge, with a cookie header when given.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::builder().uri(format!("{}{path}", self.bridge));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        send_with(&self.http, request.body(Full::default()).unwrap()).await
    }

    /// `GET path` on the bridge with `Authorization: Bearer token`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        let request = Request::builder()
            .uri(format!("{}{path}", self.bridge))
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        send_with(&self.http, request.body(Full::default()).unwrap()).await
    }

    /// `POST path` on the bridge with a form body and extra headers.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.bridge))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send_with(
            &self.http,
            request.body(Full::new(Bytes::from(body))).unwrap(),
        )
        .await
    }

    /// The confidential site redeems `code` at `/token` with Basic authentication, sending
    /// `extra` form pairs too (a `code_verifier`).
    pub async fn redeem(&self, code: &str, extra: &[(&str, &str)]) -> Reply {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ];
        form.extend_from_slice(extra);
        let authorization = sealgate_testkit::basic("site", SECRET);
        self.post_form("/token", &form, &[("authorization", &authorization)])
            .await
    }

    /// The browser follows `/authorize?query` to the sign-in page: its path, cookie, and the
    /// sign-in request it shows.
    pub async fn open_signin(&self, query: &str) -> Browser {
        let reply = self.get(&format!("/authorize?{query}"), None).await;
        reply.assert_status(303);
        let page = reply.header(header::LOCATION).unwrap().to_owned();
        assert!(page.starts_with("/signin/"), "{page}");
        let set_cookie = reply.header(header::SET_COOKIE).unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let html = self.get(&page, Some(&cookie)).await;
        html.assert_status(200);
        let text = html.text();
        let start = text.find("data-signin-request=\"").unwrap() + "data-signin-request=\"".len();
        let end = start + text[start..].find('"').unwrap();
        let uri = text[start..end].replace("&amp;", "&");
        Browser {
            page,
            cookie,
            uri,
            set_cookie: set_cookie.to_owned(),
            html: text,
        }
    }

    /// The phone: signs a token for the sign-in request `uri` (its nonce, or `nonce`) with
    /// `issuer`, a name and an email, and delivers it. Returns the token.
    pub async fn phone_sends(&self, issuer: &TestIssuer, uri: &str, nonce: Option<&str>) -> String {
        let request = SignInRequest::parse(uri, now()).unwrap();
        let mut claims = Map::new();
        claims.insert("name".into(), json!("Alice Example"));
        claims.insert("email".into(), json!("alice@example.com"));
        let token = issuer
            .sign_id_token_with(
                "alice",
                request.client_id(),
                nonce.unwrap_or(request.nonce()),
                &claims,
            )
            .unwrap();
        Phone::new()
            .unwrap()
            .send(uri, token.as_bytes())
            .await
            .unwrap();
        token
    }

    /// The status of a sign-in, long-polling up to `wait` seconds.
    pub async fn status(&self, browser: &Browser, wait: u64) -> Value {
        let reply = self
            .get(
                &format!("{}/status?wait={wait}", browser.page),
                Some(&browser.cookie),
            )
            .await;
        reply.assert_status(200);
        reply.json()
    }

    /// Waits until the sign-in is no longer `waiting`.
    pub async fn outcome(&self, browser: &Browser) -> Value {
        for _ in 0..10 {
            let status = self.status(browser, 5).await;
            if status["status"] != "waiting" {
                return status;
            }
        }
        panic!("the sign-in stayed waiting");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The browser's view of one sign-in.
pub struct Browser {
    /// `/signin/{id}`.
    pub page: String,
    /// `name=value` of the session cookie.
    pub cookie: String,
    /// The whole `Set-Cookie` header.
    pub set_cookie: String,
    /// The sign-in request URI on the page.
    pub uri: String,
    /// The page's HTML.
    pub html: String,
}

/// A query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// The `/authorize` query of the confidential site, with `extra` pairs.
pub fn authorize_query(state: &str, nonce: &str, extra: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs([
        ("response_type", "code"),
        ("client_id", "site"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile email"),
        ("state", state),
        ("nonce", nonce),
    ]);
    query.extend_pairs(extra);
    query.finish()
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
