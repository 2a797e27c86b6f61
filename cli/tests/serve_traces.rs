//! `sealgate serve` under the standard `OTEL_*` variables: an endpoint variable turns traces
//! on, `OTEL_SERVICE_NAME` names the service, a request's `traceparent` is its span's parent,
//! and SIGTERM exports what is still queued; `OTEL_SDK_DISABLED=true` keeps everything off.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use sealgate_testkit::{Recorder, exported_spans, free_port};

const SEALGATE: &str = env!("CARGO_BIN_EXE_sealgate");

/// The caller's trace and span.
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

/// Starts `sealgate serve` with `env` (the `OTEL_*` and `SEALGATE_OTEL*` variables of the
/// test's own environment removed first) and waits until it answers on its API port.
async fn serve(env: &[(&str, &str)]) -> (Child, u16) {
    let (api, metrics) = (free_port(), free_port());
    let mut command = Command::new(SEALGATE);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{api}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") || name.starts_with("SEALGATE_OTEL") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("sealgate starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(api, "/healthz").await.is_none() {
        assert!(child.try_wait().unwrap().is_none(), "sealgate exited");
        assert!(Instant::now() < deadline, "not answering");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, api)
}

/// `GET path` with the caller's `traceparent`: the status, or `None` when nothing answers.
async fn get(api: u16, path: &str) -> Option<u16> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://127.0.0.1:{api}{path}"))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.ok()?;
    let status = response.status().as_u16();
    response.into_body().collect().await.ok()?;
    Some(status)
}

/// Sends SIGTERM and waits for the exit.
fn stop(mut child: Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("sealgate exits");
    assert!(status.success(), "sealgate exited {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_variable_turns_traces_on_and_sigterm_exports_them() {
    let collector = Recorder::start().await;
    let (child, api) = serve(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url("")),
        ("OTEL_SERVICE_NAME", "sealgate-test"),
    ])
    .await;
    assert_eq!(get(api, "/v1/clients/abcdef123456/jwks").await, Some(404));
    stop(child);
    let spans = exported_spans(&collector.received());
    let request = spans
        .iter()
        .find(|span| span.name == "GET /v1/clients/{client_id}/jwks")
        .unwrap_or_else(|| panic!("no request span: {spans:#?}"));
    assert_eq!(request.trace_id, TRACE_ID);
    assert_eq!(request.parent_span_id, PARENT_ID);
    assert_eq!(request.service_name, "sealgate-test");
    assert_eq!(request.attribute("http.response.status_code"), Some("404"));
    assert!(
        !format!("{spans:?}").contains("abcdef123456"),
        "the path's id is not exported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_sdk_disabled_keeps_traces_off() {
    let collector = Recorder::start().await;
    let (child, api) = serve(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url("")),
        ("OTEL_SDK_DISABLED", "true"),
    ])
    .await;
    assert_eq!(get(api, "/healthz").await, Some(200));
    stop(child);
    assert!(collector.received().is_empty(), "nothing is exported");
}
