//! The log of `sealgate serve` as a log shipper reads it: JSON lines when stderr is not a
//! terminal, text when asked, never colour codes in a file, the filter from `SEALGATE_LOG`
//! then `RUST_LOG`, and one line per request with its route template and request id.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use sealgate_testkit::free_port;

const SEALGATE: &str = env!("CARGO_BIN_EXE_sealgate");

/// A `sealgate serve` that is killed when dropped.
struct Served {
    child: Child,
    api: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sealgate serve` with `args` and `env` (every `SEALGATE_*` log variable and
/// `RUST_LOG` removed first), stderr to `log`, and waits until it answers.
async fn serve(log: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
    let (api, metrics) = (free_port(), free_port());
    let mut command = Command::new(SEALGATE);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{api}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(args)
        .env_remove("SEALGATE_LOG")
        .env_remove("SEALGATE_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut served = Served {
        child: command.spawn().expect("sealgate starts"),
        api,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(api, "/healthz", None).await.is_none() {
        if let Ok(Some(status)) = served.child.try_wait() {
            panic!("exited {status}: {}", std::fs::read_to_string(log).unwrap());
        }
        assert!(Instant::now() < deadline, "not answering");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served
}

/// `GET path` with an optional `x-request-id`: the answer's `x-request-id`, or `None` when the
/// gateway does not answer.
async fn get(api: u16, path: &str, request_id: Option<&str>) -> Option<String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::get(format!("http://127.0.0.1:{api}{path}"));
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let response = client
        .request(request.body(Full::default()).unwrap())
        .await
        .ok()?;
    let id = response
        .headers()
        .get("x-request-id")?
        .to_str()
        .ok()?
        .to_owned();
    response.into_body().collect().await.ok()?;
    Some(id)
}

/// The log once it contains `needle`, or after 5 s whatever it holds.
async fn log_with(log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(log).unwrap();
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_log_file_gets_json_lines_with_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let served = serve(&log, &[], &[]).await;
    let id = "request-from-the-proxy-1";
    assert_eq!(
        get(served.api, "/v1/clients/abcdef123456/jwks", Some(id))
            .await
            .as_deref(),
        Some(id)
    );
    let text = log_with(&log, id).await;
    assert!(!text.contains('\x1b'), "no colour in a file: {text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["fields"]["request_id"] == id)
        .unwrap_or_else(|| panic!("no line for the request: {text}"));
    let fields = &request["fields"];
    assert_eq!(fields["message"], "request");
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["route"], "/v1/clients/{client_id}/jwks");
    assert_eq!(fields["status"], 404);
    assert!(fields["duration_ms"].is_number());
    assert_eq!(request["level"], "INFO");
    assert!(
        !text.contains("abcdef123456"),
        "the path's id is not logged"
    );
    // The readiness probes above were logged once each too, with ids of their own.
    let probes = lines
        .iter()
        .filter(|l| l["fields"]["route"] == "/healthz")
        .count();
    assert!(probes >= 1, "{text}");
}

#[tokio::test]
async fn text_on_request_without_colour_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let served = serve(&log, &["--log-format", "text"], &[]).await;
    let id = get(served.api, "/healthz", None).await.unwrap();
    let text = log_with(&log, &id).await;
    let line = text
        .lines()
        .find(|line| line.contains(&id))
        .unwrap_or_else(|| panic!("no line for the request: {text}"));
    assert!(
        line.contains("INFO") && line.contains("route=\"/healthz\""),
        "{line}"
    );
    assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");
    assert!(!text.contains('\x1b'), "no colour in a file: {text}");

    // The variable chooses the format as the flag does.
    let log = dir.path().join("env.log");
    let served = serve(&log, &[], &[("SEALGATE_LOG_FORMAT", "text")]).await;
    let id = get(served.api, "/healthz", None).await.unwrap();
    let text = log_with(&log, &id).await;
    assert!(text.contains(&id) && !text.starts_with('{'), "{text}");
}

#[tokio::test]
async fn the_filter_is_sealgate_log_then_rust_log() {
    let dir = tempfile::tempdir().unwrap();
    // RUST_LOG alone filters the request lines out.
    let log = dir.path().join("rust_log.log");
    let served = serve(&log, &[], &[("RUST_LOG", "warn")]).await;
    let id = get(served.api, "/healthz", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&id), "RUST_LOG=warn is the filter: {text}");
    drop(served);

    // SEALGATE_LOG wins over it.
    let log = dir.path().join("both.log");
    let served = serve(&log, &[], &[("RUST_LOG", "warn"), ("SEALGATE_LOG", "info")]).await;
    let id = get(served.api, "/healthz", None).await.unwrap();
    assert!(log_with(&log, &id).await.contains(&id));
}
