//! The kit checks itself: its parsers and assertions on made-up input, and its gateway, API
//! driver and Redis prefixes against the real thing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Version, header};
use serde_json::json;

use sealgate::clock::SystemClock;
use sealgate_testkit::{
    PROBLEM_PREFIX, Reply, SharedPrefix, TestGateway, assert_problem, basic, eventually,
    fake_id_token, metric_value, query, seal_for,
};

fn reply(status: u16, content_type: &str, body: serde_json::Value) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap(),
    );
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        version: Version::HTTP_11,
        headers,
        body: Bytes::from(body.to_string()),
    }
}

#[test]
fn metric_value_reads_plain_and_labelled_samples_and_skips_comments() {
    let text = "# HELP sealgate_x x\nsealgate_x 3\nsealgate_xy 9\nsealgate_y{a=\"b\"} 2.5\n";
    assert_eq!(metric_value(text, "sealgate_x"), Some(3.0));
    assert_eq!(metric_value(text, "sealgate_y"), Some(2.5));
    assert_eq!(metric_value(text, "sealgate_z"), None);
}

#[test]
fn basic_is_base64_of_id_colon_secret() {
    assert_eq!(basic("id", "secret"), "Basic aWQ6c2VjcmV0");
}

#[test]
fn assert_problem_accepts_a_whole_problem_and_returns_it() {
    let problem = json!({
        "type": format!("{PROBLEM_PREFIX}not-found"), "title": "Not Found", "status": 404,
        "detail": "no such mailbox", "error": "invalid_request",
    });
    let reply = reply(404, "application/problem+json", problem.clone());
    assert_eq!(assert_problem(&reply, 404, "not-found"), problem);
    assert_eq!(
        reply.assert_problem(404, "not-found", Some("invalid_request")),
        problem
    );
}

#[test]
#[should_panic(expected = "a problem has a detail")]
fn assert_problem_refuses_a_problem_without_detail() {
    let problem = json!({
        "type": format!("{PROBLEM_PREFIX}not-found"), "title": "Not Found", "status": 404,
    });
    assert_problem(
        &reply(404, "application/problem+json", problem),
        404,
        "not-found",
    );
}

#[tokio::test]
#[should_panic(expected = "waiting for never")]
async fn eventually_gives_up_after_its_timeout() {
    eventually("never", Duration::from_millis(100), || async { false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_driver_runs_a_whole_sign_in() {
    let gw = TestGateway::start().await;
    gw.get("/healthz").await.assert_status(200);
    let client = gw.register().await;
    let mailbox = gw.open(&client, Some(60)).await;
    assert_eq!(gw.memory_store().mailbox_count(), 1);
    let token = fake_id_token();
    let envelope = seal_for(&client, &mailbox, token.as_bytes());
    gw.deposit(&mailbox.id, &envelope).await.assert_status(201);
    let polled = gw.poll(&client.basic(), &mailbox.id, 0).await;
    polled.assert_status(200);
    assert_eq!(polled.body, envelope.as_bytes());
    assert_problem(
        &gw.poll(&client.basic(), &mailbox.id, 0).await,
        404,
        "not-found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_prefix_deletes_its_keys_and_no_others() {
    let other = SharedPrefix::new();
    let other_key = format!("{}kept", other.prefix);
    query::<String>(6379, &["SET", &other_key, "1"]).unwrap();
    let prefix = SharedPrefix::new();
    let gw = prefix.gateway(sealgate_testkit::test_config()).await;
    gw.register().await;
    let store = prefix.store(Arc::new(SystemClock)).await;
    drop(store);
    let pattern = format!("{}*", prefix.prefix);
    let keys = |pattern: &str| -> Vec<String> { query(6379, &["KEYS", pattern]).unwrap() };
    assert!(!keys(&pattern).is_empty(), "the registration wrote keys");
    drop(gw);
    drop(prefix);
    assert!(keys(&pattern).is_empty(), "the prefix's keys are gone");
    assert_eq!(keys(&other_key), vec![other_key]);
}
