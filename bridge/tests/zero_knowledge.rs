//! Zero knowledge with the bridge in the loop: after a whole sign-in through gateway and
//! bridge, logged at TRACE in both formats, neither the phone's token, nor the ID token the
//! bridge issued, nor the code, access token, client secrets or session cookie appear in any
//! log line or in the gateway's metrics.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::{SECRET, Stack, authorize_query, param};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_token_code_or_secret_reaches_the_logs_or_metrics() {
    let (text, json) = (Sink(Arc::default()), Sink(Arc::default()));
    let (text_out, json_out) = (text.clone(), json.clone());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || text_out.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(move || json_out.clone()),
        )
        .with(LevelFilter::TRACE)
        .init();

    let stack = Stack::start(120).await;
    let browser = stack
        .open_signin(&authorize_query("zk-state", "zk-nonce", &[]))
        .await;
    let phone_token = stack.phone_sends(&stack.issuer, &browser.uri, None).await;
    let status = stack.outcome(&browser).await;
    let code = param(status["redirect"].as_str().unwrap(), "code").unwrap();
    let token = stack.redeem(&code, &[]).await;
    token.assert_status(200);
    let token = token.json();
    let access = token["access_token"].as_str().unwrap();
    stack
        .get_bearer("/userinfo", access)
        .await
        .assert_status(200);
    // A replay and a refused phone token log their reasons; still no secret.
    stack.redeem(&code, &[]).await.assert_status(400);

    let credentials: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack.dir.join("gw-credentials.json")).unwrap(),
    )
    .unwrap();
    let cookie_value = browser.cookie.split_once('=').unwrap().1.to_owned();
    let id_token = token["id_token"].as_str().unwrap();
    let secrets: Vec<(&str, String)> = vec![
        ("phone token", phone_token.clone()),
        (
            "phone token signature",
            phone_token.rsplit('.').next().unwrap().to_owned(),
        ),
        (
            "phone token payload",
            phone_token.split('.').nth(1).unwrap().to_owned(),
        ),
        ("issued ID token", id_token.to_owned()),
        (
            "issued ID token signature",
            id_token.rsplit('.').next().unwrap().to_owned(),
        ),
        ("code", code.clone()),
        ("access token", access.to_owned()),
        ("website secret", SECRET.to_owned()),
        (
            "gateway client secret",
            credentials["client_secret"].as_str().unwrap().to_owned(),
        ),
        (
            "website private key",
            credentials["keys"][0]["d"].as_str().unwrap().to_owned(),
        ),
        ("session cookie", cookie_value),
        ("user's email", "alice@example.com".to_owned()),
    ];
    let metrics = stack.gateway.metrics().await;
    let logs = [
        (
            "text log",
            String::from_utf8(text.0.lock().unwrap().clone()).unwrap(),
        ),
        (
            "JSON log",
            String::from_utf8(json.0.lock().unwrap().clone()).unwrap(),
        ),
        ("gateway metrics", metrics),
    ];
    assert!(
        logs[0].1.contains("sign-in approved"),
        "the bridge logged at all"
    );
    assert!(
        logs[0].1.lines().count() > 10,
        "the gateway logged at TRACE"
    );
    for (place, text) in &logs {
        for (what, secret) in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "the {what} appears in the {place}"
            );
        }
    }
}
