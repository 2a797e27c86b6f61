//! Zero knowledge: after whole flows, no token, private key, client secret, envelope or full id
//! appears in the gateway's logs (captured at TRACE, as text and as JSON lines) or metrics, and
//! the store hands back exactly the ciphertext it was given. With one-click sign-in: no device
//! handle or secret, binding message, sign-in request or push payload in the logs or metrics,
//! and none of them, nor a mailbox id, in what Redis holds.

mod support_push;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use sealgate_testkit::{SharedPrefix, TestGateway, fake_id_token, query, seal_for, send_with};
use support_push::{Phone, PushService, open_notifying, push_config, register};

/// Everything the gateway logged while this test binary ran, in both formats `sealgate serve`
/// writes.
struct CapturedLogs {
    /// The text format, without colour.
    text: Arc<Mutex<Vec<u8>>>,
    /// The JSON format, one object per line.
    json: Arc<Mutex<Vec<u8>>>,
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8(self.text.lock().unwrap().clone()).unwrap()
    }
    fn json(&self) -> String {
        String::from_utf8(self.json.lock().unwrap().clone()).unwrap()
    }
}

fn captured_logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs {
            text: Arc::new(Mutex::new(Vec::new())),
            json: Arc::new(Mutex::new(Vec::new())),
        };
        let (text, json) = (logs.text.clone(), logs.json.clone());
        // `try_init` sets the global default and also routes the `log` crate (rustls) here.
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || LogSink(text.clone())),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(move || LogSink(json.clone())),
            )
            .with(LevelFilter::TRACE)
            .try_init()
            .expect("the only global subscriber of this test binary");
        logs
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What must never leave the app or the phone in clear, and what must not be logged.
#[derive(Default)]
struct Secrets(Vec<(&'static str, String)>);

impl Secrets {
    fn add(&mut self, what: &'static str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 16, "{what} is long enough to search for");
        self.0.push((what, value));
    }

    #[track_caller]
    fn assert_absent_from(&self, place: &str, text: &str) {
        for (what, value) in &self.0 {
            assert!(
                !text.contains(value.as_str()),
                "a {what} appears in the {place}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_metrics_or_store() {
    let logs = captured_logs();
    let gw = TestGateway::start().await;
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let mut secrets = Secrets::default();

    for flow in 0..5 {
        let client = gw.register().await;
        let private: Value = serde_json::from_str(&client.key.to_jwk_json()).unwrap();
        secrets.add("private key d", private["d"].as_str().unwrap());
        secrets.add("client secret", client.secret.as_str());
        secrets.add("client id", client.id.as_str());
        secrets.add("Basic credential", client.basic());

        let mailbox = gw.open(&client, None).await;
        secrets.add("mailbox id", mailbox.id.as_str());
        let token = fake_id_token();
        let token_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&token);
        secrets.add("token", token.as_str());
        secrets.add("token (base64url)", token_b64.as_str());
        let envelope = seal_for(&client, &mailbox, token.as_bytes());
        let ciphertext = envelope.rsplit('.').nth(1).unwrap().to_owned();
        secrets.add("envelope ciphertext", ciphertext);

        gw.deposit(&mailbox.id, &envelope).await.assert_status(201);
        gw.deposit(&mailbox.id, &envelope).await.assert_status(200);
        let path = format!("/v1/mailboxes/{}?wait=1", mailbox.id);
        let poll = gw
            .request(Method::GET, &path)
            .header(header::AUTHORIZATION, client.basic())
            .body(Full::default())
            .unwrap();
        // Half the flows over HTTP/2, whose stack logs at TRACE too.
        let stored = if flow % 2 == 0 {
            gw.send(poll).await
        } else {
            send_with(&h2, poll).await
        };
        stored.assert_status(200);
        assert_eq!(
            stored.body,
            envelope.as_bytes(),
            "the store holds the envelope as sent"
        );
        let stored = stored.text();
        assert!(
            !stored.contains(&token) && !stored.contains(&token_b64),
            "token in clear"
        );

        // A failed authentication and a wrong deposit log something too.
        let wrong = sealgate_testkit::basic(&client.id, &client.secret[..20]);
        gw.poll(&wrong, &mailbox.id, 0).await.assert_status(401);
        gw.deposit(&mailbox.id, &seal_for(&client, &mailbox, b"other"))
            .await
            .assert_status(409);
    }

    let metrics = gw.metrics().await;
    secrets.assert_absent_from("metrics", &metrics);
    let text = logs.text();
    assert!(
        text.contains("client registered"),
        "the logs were captured: {text}"
    );
    assert!(text.contains("DEBUG"), "at debug level and below too");
    secrets.assert_absent_from("logs", &text);

    let json = logs.json();
    secrets.assert_absent_from("JSON logs", &json);
    let lines: Vec<Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).expect("every JSON log line is one object"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "client registered")
    );
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"));
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request" && l["fields"]["route"].is_string())
        .collect();
    // Each flow: register, open, two deposits, a poll, a wrong poll, a wrong deposit.
    assert!(requests.len() >= 35, "{} request lines", requests.len());
    for line in &requests {
        let fields = &line["fields"];
        let route = fields["route"].as_str().unwrap();
        assert!(
            route.starts_with('/') || route == "unknown",
            "a route template: {route}"
        );
        assert!(
            fields["method"].is_string() && fields["status"].is_u64(),
            "{line}"
        );
        assert!(fields["duration_ms"].is_number(), "{line}");
        assert!(
            fields["request_id"]
                .as_str()
                .is_some_and(|id| id.len() >= 16),
            "{line}"
        );
    }
    assert!(
        requests
            .iter()
            .any(|l| l["fields"]["route"] == "/v1/mailboxes/{mailbox_id}"
                && l["fields"]["status"] == 409),
        "the route template, not the path"
    );
}

/// Every key under `prefix` on the shared Redis, with its whole value, as text.
fn redis_contents(prefix: &str) -> String {
    let keys: Vec<String> = query(6379, &["KEYS", &format!("{prefix}*")]).unwrap();
    let mut contents = String::new();
    for key in keys {
        let kind: String = query(6379, &["TYPE", &key]).unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "hash" => query(6379, &["HGETALL", &key]).unwrap(),
            "string" => vec![query(6379, &["GET", &key]).unwrap()],
            "zset" => query(6379, &["ZRANGE", &key, "0", "-1", "WITHSCORES"]).unwrap(),
            other => panic!("{key} is a {other}, which this test does not read"),
        };
        contents.push_str(&key);
        for value in values {
            contents.push(' ');
            contents.push_str(&String::from_utf8_lossy(&value));
        }
        contents.push('\n');
    }
    contents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_leaves_no_handle_message_or_request_behind() {
    let logs = captured_logs();
    let service = PushService::start().await;
    let prefix = SharedPrefix::new();
    let gw = prefix.gateway(push_config()).await;
    let mut secrets = Secrets::default();
    let mut kept = Secrets::default();

    for _ in 0..3 {
        let client = gw.register().await;
        let phone = Phone::new(&service);
        let device = register(&gw, &client, &phone).await;
        secrets.add("device handle", device.handle.as_str());
        secrets.add("device secret", device.secret.as_str());
        let binding = format!("check {}", sealgate_crypto::random_token::<12>());
        secrets.add("binding message", binding.as_str());
        let reply = open_notifying(&gw, &client, &device.handle, Some(&binding)).await;
        reply.assert_status(201);
        let opened = reply.json();
        assert_eq!(opened["notification"]["status"], "sent");
        let mailbox_id = opened["mailbox_id"].as_str().unwrap();
        secrets.add("mailbox id", mailbox_id);
        let signin_request = opened["signin_request"].as_str().unwrap();
        secrets.add("sign-in request", signin_request);
        let push = service.next().await;
        let ciphertext = sealgate_crypto::base64url::encode(&push.body[86..]);
        secrets.add("push body", ciphertext);
        let payload = phone.open(&push);
        assert_eq!(payload["binding_message"], binding.as_str());
        // The endpoint and the subscription keys are what a registration must keep.
        kept.add("push endpoint", phone.endpoint.as_str());
        kept.add("p256dh", phone.key.p256dh());
    }

    let metrics = gw.metrics().await;
    secrets.assert_absent_from("metrics", &metrics);
    kept.assert_absent_from("metrics", &metrics);
    for (place, text) in [("logs", logs.text()), ("JSON logs", logs.json())] {
        assert!(
            text.contains("push notification"),
            "the push was logged: {place}"
        );
        secrets.assert_absent_from(place, &text);
        kept.assert_absent_from(place, &text);
    }
    let stored = redis_contents(&prefix.prefix);
    assert!(
        stored.contains(&format!("{}dev:{{", prefix.prefix)),
        "{stored}"
    );
    secrets.assert_absent_from("Redis store", &stored);
    for (what, value) in &kept.0 {
        assert!(
            stored.contains(value.as_str()),
            "the store keeps the {what}"
        );
    }
}
