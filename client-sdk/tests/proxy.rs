//! The SDK through proxies and through a caller's transport: an `https://` gateway through a
//! `CONNECT` tunnel, an `http://` one in absolute form, both with proxy credentials;
//! `NO_PROXY` reaching a gateway directly; a refused tunnel named in the error; and a
//! transport of the caller's own carrying a registration.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http::Request;
use sealgate::Gateway;
use sealgate_client::sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_client::{
    AppClient, Error, HttpClient, Proxies, Registration, Transport, TransportResult,
};
use sealgate_testkit::test_config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Each proxied connection's request line and its `Proxy-Authorization`.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A forward proxy on loopback: `CONNECT` tunnels and absolute-form requests, each
/// connection's request line and `Proxy-Authorization` recorded. With `refuse`, it answers
/// every `CONNECT` 403.
struct TestProxy {
    addr: SocketAddr,
    seen: Seen,
}

impl TestProxy {
    async fn start(refuse: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = relay(client, log, refuse).await;
                });
            }
        });
        Self { addr, seen }
    }

    fn url(&self, credentials: &str) -> String {
        format!("http://{credentials}{}", self.addr)
    }

    fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn relay(mut client: TcpStream, log: Seen, refuse: bool) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next().unwrap_or("").to_owned();
    let auth = text.lines().find_map(|l| {
        let (name, value) = l.split_once(": ")?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.to_owned())
    });
    log.lock().unwrap().push((line.clone(), auth));
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        if refuse {
            client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await?;
            return Ok(());
        }
        let mut upstream = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    } else {
        let authority = target
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        let mut upstream = TcpStream::connect(authority).await?;
        upstream.write_all(&head).await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    }
    Ok(())
}

fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

async fn register(http: HttpClient, gateway: &str) -> Result<AppClient, Error> {
    let key = PrivateKey::generate(Algorithm::Hpke4);
    AppClient::register_with(http, gateway, "proxied app", key, &Registration::default()).await
}

/// A gateway over TLS for `localhost`; returns it, its URL and the certificate's PEM.
async fn tls_gateway(dir: &std::path::Path) -> (Gateway, String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let mut config = test_config();
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
    let gateway = Gateway::start(config).await.unwrap();
    let url = format!("https://localhost:{}", gateway.api_addr().port());
    (gateway, url, certified.cert.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_gateway_is_reached_through_a_connect_tunnel() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, url, pem) = tls_gateway(dir.path()).await;
    let proxy = TestProxy::start(false).await;
    let proxies = Proxies::Given {
        http: None,
        https: Some(proxy.url("app:s3cret@")),
        no_proxy: String::new(),
    };
    let http = HttpClient::with_options(pem.as_bytes(), &proxies).unwrap();
    let app = register(http, &url)
        .await
        .expect("registered through the tunnel");
    app.open_mailbox(None).await.expect("and opened a mailbox");
    let port = gateway.api_addr().port();
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    for (line, auth) in &seen {
        assert_eq!(line, &format!("CONNECT localhost:{port} HTTP/1.1"));
        assert_eq!(auth.as_deref(), Some(basic("app:s3cret").as_str()));
    }
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_gateway_is_reached_in_absolute_form() {
    let gateway = Gateway::start(test_config()).await.unwrap();
    let url = format!("http://{}", gateway.api_addr());
    let proxy = TestProxy::start(false).await;
    let proxies = Proxies::Given {
        http: Some(proxy.url("app:pw@")),
        https: None,
        no_proxy: String::new(),
    };
    let http = HttpClient::with_options(&[], &proxies).unwrap();
    register(http, &url)
        .await
        .expect("registered through the proxy");
    let seen = proxy.seen();
    let (line, auth) = seen.first().expect("the proxy saw the request");
    assert_eq!(line, &format!("POST {url}/v1/clients HTTP/1.1"));
    assert_eq!(auth.as_deref(), Some(basic("app:pw").as_str()));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_hosts_are_reached_directly_and_a_refused_tunnel_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, url, pem) = tls_gateway(dir.path()).await;
    let proxy = TestProxy::start(true).await;
    let bypassed = Proxies::Given {
        http: Some(proxy.url("")),
        https: Some(proxy.url("")),
        no_proxy: "localhost,127.0.0.1".into(),
    };
    let http = HttpClient::with_options(pem.as_bytes(), &bypassed).unwrap();
    register(http, &url).await.expect("registered directly");
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());

    let refused = Proxies::Given {
        http: None,
        https: Some(proxy.url("")),
        no_proxy: String::new(),
    };
    let http = HttpClient::with_options(pem.as_bytes(), &refused).unwrap();
    let Err(Error::Transport(detail)) = register(http, &url).await else {
        panic!("a refused tunnel is a transport error");
    };
    assert!(
        detail.contains(&format!("through the proxy at {}", proxy.addr)),
        "{detail}"
    );
    let direct = HttpClient::with_options(pem.as_bytes(), &Proxies::Direct).unwrap();
    register(direct, &url)
        .await
        .expect("Direct ignores proxies");
    gateway.shutdown().await;
}

/// A caller's transport: hyper over plain TCP, counting what it carries.
struct CountingTransport {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Transport for CountingTransport {
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> std::pin::Pin<Box<dyn Future<Output = TransportResult> + Send + 'static>> {
        let client = self.client.clone();
        let sent = self.sent.clone();
        Box::pin(async move {
            use http_body_util::BodyExt as _;
            sent.lock()
                .unwrap()
                .push(format!("{} {}", request.method(), request.uri().path()));
            let request = request.map(http_body_util::Full::new);
            let response = client.request(request).await.map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_transport_carries_every_request() {
    let gateway = Gateway::start(test_config()).await.unwrap();
    let url = format!("http://{}", gateway.api_addr());
    let sent = Arc::new(Mutex::new(Vec::new()));
    let transport = CountingTransport {
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        sent: sent.clone(),
    };
    let app = register(HttpClient::with_transport(transport), &url)
        .await
        .expect("registered through the caller's transport");
    app.open_mailbox(None).await.unwrap();
    assert_eq!(
        *sent.lock().unwrap(),
        ["POST /v1/clients", "POST /v1/mailboxes"]
    );

    struct Failing;
    impl Transport for Failing {
        fn send(
            &self,
            _: Request<Bytes>,
        ) -> std::pin::Pin<Box<dyn Future<Output = TransportResult> + Send + 'static>> {
            Box::pin(async { Err("offline".to_owned()) })
        }
    }
    let Err(Error::Transport(detail)) = register(HttpClient::with_transport(Failing), &url).await
    else {
        panic!("a failing transport is a transport error");
    };
    assert_eq!(detail, "offline");
    gateway.shutdown().await;
}
