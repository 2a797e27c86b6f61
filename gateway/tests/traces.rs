//! OpenTelemetry traces as an OTLP/HTTP collector receives them: one sign-in (open, deposit,
//! poll) sent with a W3C `traceparent` exports one request span per call under that parent,
//! each with its store calls as children; a webhook delivery exports its attempt span, whose
//! id the POST carried as `traceparent`; and no exported byte carries an id, a secret, an
//! envelope or a token.

use http::{Method, header};
use http_body_util::Full;
use serde_json::json;

use sealgate::config::OtelConfig;
use sealgate::telemetry::{TraceSettings, Traces};
use sealgate_testkit::otlp::TRACES_PATH;
use sealgate_testkit::{
    EVENTUALLY, ExportedSpan, Recorder, TestGateway, eventually, exported_spans, fake_id_token,
    seal_for, test_config,
};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The caller's trace and span, as its `traceparent` names them.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// The spans whose parent is `parent`.
fn children<'a>(spans: &'a [ExportedSpan], parent: &ExportedSpan) -> Vec<&'a ExportedSpan> {
    spans
        .iter()
        .filter(|span| span.parent_span_id == parent.span_id && span.trace_id == parent.trace_id)
        .collect()
}

/// The names of `spans`, sorted.
fn names(spans: &[&ExportedSpan]) -> Vec<String> {
    let mut names: Vec<String> = spans.iter().map(|span| span.name.clone()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signin_exports_its_span_tree_under_the_callers_parent() {
    let collector = Recorder::start().await;
    let config = OtelConfig {
        endpoint: Some(collector.url(TRACES_PATH)),
        ..OtelConfig::default()
    };
    let settings = TraceSettings::resolve(&config, |_| None).expect("an endpoint turns traces on");
    let traces = Traces::start(&settings, tokio::runtime::Handle::current()).unwrap();
    tracing_subscriber::registry()
        .with(traces.layer())
        .try_init()
        .expect("the only subscriber of this test binary");

    let mut config = test_config();
    config.webhooks.allow_insecure = true;
    config.webhooks.allow_private = true;
    let gw = TestGateway::start_with(config).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");

    // The sign-in, each call a child of the caller's span.
    let client = gw.register().await;
    let traced = |method: Method, path: &str, media: Option<&str>, body: String| {
        let mut request = gw
            .request(method, path)
            .header(header::AUTHORIZATION, client.basic())
            .header("traceparent", &traceparent);
        if let Some(media) = media {
            request = request.header(header::CONTENT_TYPE, media);
        }
        gw.send(request.body(Full::new(body.into())).unwrap())
    };
    let open = traced(Method::POST, "/v1/mailboxes", None, String::new()).await;
    open.assert_status(201);
    let body = open.json();
    let mailbox = sealgate_testkit::TestMailbox {
        id: body["mailbox_id"].as_str().unwrap().to_owned(),
        exp: sealgate_testkit::api::expires_at_secs(&body),
        body,
    };
    let token = fake_id_token();
    let envelope = seal_for(&client, &mailbox, token.as_bytes());
    let path = format!("/v1/mailboxes/{}", mailbox.id);
    traced(
        Method::PUT,
        &path,
        Some("application/jose"),
        envelope.clone(),
    )
    .await
    .assert_status(201);
    traced(Method::GET, &format!("{path}?wait=1"), None, String::new())
        .await
        .assert_status(200);

    // A webhook delivery, its attempt the root of a trace of its own.
    let receiver = Recorder::start().await;
    let hooked = gw
        .register_with(json!({ "webhook_url": receiver.url("/hook") }))
        .await;
    let hooked_mailbox = gw.open(&hooked, None).await;
    let hooked_envelope = seal_for(&hooked, &hooked_mailbox, token.as_bytes());
    gw.deposit(&hooked_mailbox.id, &hooked_envelope)
        .await
        .assert_status(201);
    eventually("the webhook POST", EVENTUALLY, || async {
        !receiver.received().is_empty()
    })
    .await;
    let sent = receiver.received()[0]
        .headers
        .get("traceparent")
        .expect("the POST carries a traceparent")
        .to_str()
        .unwrap()
        .to_owned();

    // Shutting down exports what is queued; it blocks, so off the runtime's workers.
    tokio::task::spawn_blocking(move || traces.shutdown())
        .await
        .unwrap()
        .expect("the last spans are exported");
    let spans = exported_spans(&collector.received());
    assert!(spans.iter().all(|span| span.service_name == "sealgate"));

    // Three request spans under the caller's parent, named by route template and method.
    let mut requests: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|span| span.trace_id == TRACE_ID && span.parent_span_id == PARENT_ID)
        .collect();
    requests.sort_by_key(|span| span.name.clone());
    let shown: Vec<(&str, Option<&str>, Option<&str>)> = requests
        .iter()
        .map(|span| {
            (
                span.name.as_str(),
                span.attribute("http.route"),
                span.attribute("http.response.status_code"),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                "GET /v1/mailboxes/{mailbox_id}",
                Some("/v1/mailboxes/{mailbox_id}"),
                Some("200")
            ),
            ("POST /v1/mailboxes", Some("/v1/mailboxes"), Some("201")),
            (
                "PUT /v1/mailboxes/{mailbox_id}",
                Some("/v1/mailboxes/{mailbox_id}"),
                Some("201")
            ),
        ],
        "{spans:#?}"
    );
    // Each with its store calls as children, and nothing else in the trace.
    let (poll, open, deposit) = (requests[0], requests[1], requests[2]);
    assert!(names(&children(&spans, open)).contains(&"open_mailbox".to_owned()));
    assert!(names(&children(&spans, deposit)).contains(&"deposit".to_owned()));
    assert!(names(&children(&spans, poll)).contains(&"take".to_owned()));
    let in_trace = spans
        .iter()
        .filter(|span| span.trace_id == TRACE_ID)
        .count();
    let stored: usize = requests.iter().map(|r| children(&spans, r).len()).sum();
    assert_eq!(in_trace, requests.len() + stored, "{spans:#?}");
    for request in &requests {
        for store in children(&spans, request) {
            assert_eq!(
                store.attribute("db.operation.name"),
                Some(store.name.as_str())
            );
            assert!(children(&spans, store).is_empty());
        }
    }

    // The webhook attempt: the span the POST's traceparent names, its store calls inside it.
    let attempt = spans
        .iter()
        .find(|span| span.name == "webhook attempt")
        .unwrap_or_else(|| panic!("no attempt span: {spans:#?}"));
    assert_eq!(
        sent,
        format!("00-{}-{}-01", attempt.trace_id, attempt.span_id)
    );
    assert_eq!(attempt.parent_span_id, "", "a root span");
    assert_eq!(attempt.attribute("sealgate.webhook.attempt"), Some("1"));
    assert_eq!(attempt.attribute("sealgate.webhook.result"), Some("2xx"));
    assert_eq!(attempt.attribute("http.response.status_code"), Some("200"));
    let attempt_stores = names(&children(&spans, attempt));
    for operation in ["lease_envelope", "release_envelope", "complete_delivery"] {
        assert!(
            attempt_stores.contains(&operation.to_owned()),
            "{attempt_stores:?}"
        );
    }

    // Zero knowledge: the exported bytes name no id, secret, envelope or token.
    let exported: Vec<u8> = collector
        .received()
        .iter()
        .flat_map(|request| request.body.to_vec())
        .collect();
    let ciphertext = envelope.rsplit('.').nth(1).unwrap();
    for (what, value) in [
        ("client id", client.id.as_str()),
        ("client secret", client.secret.as_str()),
        ("webhook client id", hooked.id.as_str()),
        ("mailbox id", mailbox.id.as_str()),
        ("webhook mailbox id", hooked_mailbox.id.as_str()),
        ("envelope ciphertext", ciphertext),
        ("token", token.as_str()),
        ("webhook URL", receiver.url("/hook").as_str()),
    ] {
        assert!(
            !exported.windows(value.len()).any(|w| w == value.as_bytes()),
            "a {what} is exported"
        );
    }
}
