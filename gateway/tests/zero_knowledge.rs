//! Zero knowledge: after whole flows, no token, private key, client secret, envelope or full id
//! appears in the gateway's logs (captured at TRACE) or metrics, and the store hands back exactly
//! the ciphertext it was given.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tracing_subscriber::util::SubscriberInitExt as _;

use sealgate_testkit::{TestGateway, fake_id_token, seal_for, send_with};

/// Everything the gateway logged while this test binary ran.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        // `try_init` sets the global default and also routes the `log` crate (rustls) here.
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .finish()
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
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("client registered"),
        "the logs were captured: {logs}"
    );
    assert!(logs.contains("DEBUG"), "at debug level and below too");
    secrets.assert_absent_from("logs", &logs);
}
