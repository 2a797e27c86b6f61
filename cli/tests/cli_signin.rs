//! The app and phone subcommands of the `sealgate` binary against a real gateway on port 0:
//! `register`, then `request --issuer-jwks` (the URI as its first stdout line), `send URI
//! --token-file`, and the verified token as the request's last stdout line; an expired request;
//! `wait` on a mailbox opened earlier; `jwks rotate` while a request is open; a token from the
//! wrong issuer; the exit statuses of an expired request, a refusing gateway and an unreachable
//! one; and the whole flow against `sealgate serve --store redis://…`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use sealgate::Gateway;
use sealgate_client::testing::TestIssuer;
use sealgate_crypto::SignInRequest;
use sealgate_testkit::{SharedPrefix, now_secs, test_config, test_redis_url, within};

const SEALGATE: &str = env!("CARGO_BIN_EXE_sealgate");

const ISSUER: &str = "https://issuer.test.invalid";

/// A gateway on loopback port 0 with the memory store.
async fn gateway() -> Gateway {
    Gateway::start(test_config())
        .await
        .expect("the gateway starts")
}

/// A user of the command line: HOME and XDG_CONFIG_HOME in a directory of its own.
struct User {
    dir: tempfile::TempDir,
}

/// What a finished command printed.
struct Finished {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: String,
}

impl Finished {
    #[track_caller]
    fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "exit {:?}; stdout {:?}; stderr {:?}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The last message on stderr, as a terminal shows it: the text after the last carriage
    /// return of the last line, without the erase-line sequence the countdown uses.
    fn last_message(&self) -> String {
        let line = self.stderr.lines().last().unwrap_or_default();
        let shown = line.rsplit('\r').next().unwrap_or_default();
        shown.replace("\x1b[2K", "")
    }

    /// Asserts a failure whose last stderr message is a `sealgate: error:` line mentioning
    /// `hint`.
    #[track_caller]
    fn assert_failure(&self, hint: &str) -> String {
        assert!(
            !self.status.success(),
            "succeeded; stdout {:?}; stderr {:?}",
            self.stdout,
            self.stderr
        );
        let message = self.last_message();
        assert!(
            message.starts_with("sealgate: error: "),
            "last stderr message {message:?}; stderr {:?}",
            self.stderr
        );
        assert!(
            message.to_lowercase().contains(&hint.to_lowercase()),
            "{message:?} does not mention {hint:?}"
        );
        message
    }
}

/// A command running in the background, its output collected as it comes.
struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr_lines: mpsc::UnboundedReceiver<String>,
    stdout: JoinHandle<Vec<String>>,
    stderr: JoinHandle<String>,
}

impl Running {
    /// The next stdout line.
    async fn next_line(&mut self) -> String {
        within("a line on stdout", self.lines.recv())
            .await
            .expect("the command printed a line before it ended")
    }

    /// The next stderr line, or `None` once the process closed stderr.
    async fn next_stderr_line(&mut self) -> Option<String> {
        within("a line on stderr", self.stderr_lines.recv()).await
    }

    /// Kills the process (a command this test started).
    async fn kill(mut self) {
        self.child.kill().await.expect("kill");
    }

    /// Waits for the process to end.
    async fn finish(mut self) -> Finished {
        let status = within("the command's exit", self.child.wait())
            .await
            .unwrap();
        let stdout = within("stdout", self.stdout).await.unwrap();
        let stderr = within("stderr", self.stderr).await.unwrap();
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl User {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn credentials(&self) -> PathBuf {
        self.path("config/sealgate/client.json")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(SEALGATE);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("NO_COLOR", "1")
            .env_remove("SEALGATE_GATEWAY")
            .env_remove("SEALGATE_REGISTRATION_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Starts `sealgate ARGS`.
    fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .spawn()
            .expect("the sealgate binary runs");
        let (sender, lines) = mpsc::unbounded_channel();
        let out = child.stdout.take().unwrap();
        let stdout = tokio::spawn(async move {
            let mut all = Vec::new();
            let mut reader = BufReader::new(out).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = sender.send(line.clone());
                all.push(line);
            }
            all
        });
        let (sender, stderr_lines) = mpsc::unbounded_channel();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let stderr = tokio::spawn(async move {
            let mut text = Vec::new();
            loop {
                let start = text.len();
                match err.read_until(b'\n', &mut text).await {
                    Ok(1..) => {
                        let _ = sender.send(String::from_utf8_lossy(&text[start..]).into_owned());
                    }
                    _ => break,
                }
            }
            String::from_utf8_lossy(&text).into_owned()
        });
        Running {
            child,
            lines,
            stderr_lines,
            stdout,
            stderr,
        }
    }

    /// Runs `sealgate ARGS` to its end.
    async fn run(&self, args: &[&str]) -> Finished {
        self.spawn(args).finish().await
    }

    /// `sealgate register --gateway URL --name NAME`; returns the client id.
    async fn register(&self, gateway: &str) -> String {
        let finished = self
            .run(&["register", "--gateway", gateway, "--name", "cli test app"])
            .await;
        finished.assert_success();
        assert_eq!(finished.stdout.len(), 1, "{:?}", finished.stdout);
        finished.stdout[0].clone()
    }

    /// Writes `issuer`'s JWKS to a file; returns its path.
    fn issuer_jwks(&self, issuer: &TestIssuer, name: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, issuer.jwks().to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Signs an ID token for the request `uri` and delivers it with `sealgate send`.
    async fn send(&self, issuer: &TestIssuer, uri: &str) -> (String, Finished) {
        let request = SignInRequest::parse(uri, now_secs()).expect("a valid sign-in request");
        let token = issuer
            .sign_id_token("alice", request.client_id(), request.nonce())
            .unwrap();
        let file = self.path(&format!("token-{}", request.mailbox_id()));
        std::fs::write(&file, &token).unwrap();
        let sent = self
            .run(&["send", uri, "--token-file", file.to_str().unwrap()])
            .await;
        (token, sent)
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_request_send_prints_the_verified_token() {
    let gateway = gateway().await;
    let url = format!("http://{}", gateway.api_addr());
    let user = User::new();
    let client_id = user.register(&url).await;
    let credentials = user.credentials();
    assert_eq!(mode(&credentials), 0o600, "the credentials file");
    assert_eq!(mode(credentials.parent().unwrap()), 0o700);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&credentials).unwrap()).unwrap();
    assert_eq!(saved["client_id"], client_id.as_str());
    assert_eq!(saved["gateway"], url.as_str());

    let again = user
        .run(&["register", "--gateway", &url, "--name", "again"])
        .await;
    again.assert_failure("--force");
    assert_eq!(again.stderr.lines().count(), 1, "{:?}", again.stderr);

    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let jwks = user.issuer_jwks(&issuer, "issuer.jwks");
    // With the QR code (on stderr): stdout stays machine-readable.
    let mut request = user.spawn(&[
        "request",
        "--issuer-jwks",
        &jwks,
        "--issuer",
        ISSUER,
        "--ttl",
        "120",
    ]);
    let uri = request.next_line().await;
    let parsed = SignInRequest::parse(&uri, now_secs()).expect("the first line is the URI");
    assert_eq!(parsed.client_id(), client_id);
    assert_eq!(parsed.gateway(), url);

    let (token, sent) = user.send(&issuer, &uri).await;
    sent.assert_success();
    assert!(sent.stdout.is_empty(), "{:?}", sent.stdout);
    assert!(sent.stderr.contains("delivered"), "{:?}", sent.stderr);

    let finished = request.finish().await;
    finished.assert_success();
    assert_eq!(finished.stdout.first(), Some(&uri));
    assert_eq!(
        finished.stdout.last(),
        Some(&token),
        "the token is the last line"
    );
    assert_eq!(finished.stdout.len(), 2, "{:?}", finished.stdout);
    assert!(
        finished.stderr.contains("token verified"),
        "{:?}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains('▀') || finished.stderr.contains('▄'),
        "the QR code is drawn on stderr"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_request_fails_clearly_on_both_sides() {
    let gateway = gateway().await;
    let user = User::new();
    user.register(&format!("http://{}", gateway.api_addr()))
        .await;
    // 2 s, not 1: the gateway floors the request's `exp` to whole seconds, so a 1 s request
    // may already have expired (by that `exp`) when `request` reads the answer.
    let mut request = user.spawn(&["request", "--ttl", "2", "--no-qr"]);
    let uri = request.next_line().await;
    let finished = request.finish().await;
    let message = finished.assert_failure("expired");
    assert_eq!(
        message,
        "sealgate: error: the sign-in request expired before a token arrived"
    );
    assert_eq!(finished.status.code(), Some(3), "expired exits 3");
    assert_eq!(
        finished.stdout,
        std::slice::from_ref(&uri),
        "only the URI on stdout"
    );

    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let token = user.path("token");
    std::fs::write(
        &token,
        issuer.sign_id_token("alice", "whoever", "nonce").unwrap(),
    )
    .unwrap();
    let sent = user
        .run(&["send", &uri, "--token-file", token.to_str().unwrap()])
        .await;
    sent.assert_failure("expired");
    assert_eq!(sent.stderr.lines().count(), 1, "{:?}", sent.stderr);
    assert_eq!(
        sent.status.code(),
        Some(3),
        "expired exits 3 on the phone too"
    );
    gateway.shutdown().await;
}

/// The documented exit statuses: 3 when a wait times out, 4 when the gateway refuses, 5 when
/// it cannot be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_statuses_tell_expired_refused_and_unreachable_apart() {
    let user = User::new();
    let closed = format!("http://127.0.0.1:{}", sealgate_testkit::free_port());
    let unreachable = user
        .run(&["register", "--gateway", &closed, "--name", "nobody home"])
        .await;
    unreachable.assert_failure("cannot reach the gateway");
    assert_eq!(unreachable.status.code(), Some(5), "unreachable exits 5");

    let mut config = test_config();
    config.registration_token = Some(sealgate::config::Secret::new("t".repeat(32)));
    let guarded = Gateway::start(config).await.expect("the gateway starts");
    let refused = user
        .run(&[
            "register",
            "--gateway",
            &format!("http://{}", guarded.api_addr()),
            "--name",
            "no token",
        ])
        .await;
    refused.assert_failure("refused");
    assert_eq!(refused.status.code(), Some(4), "refused exits 4");
    guarded.shutdown().await;

    let gateway = gateway().await;
    user.register(&format!("http://{}", gateway.api_addr()))
        .await;
    let mut request = user.spawn(&["request", "--no-qr"]);
    let uri = request.next_line().await;
    request.kill().await;
    let mailbox_id = SignInRequest::parse(&uri, now_secs())
        .unwrap()
        .mailbox_id()
        .to_owned();
    let waited = user.run(&["wait", &mailbox_id, "--timeout", "1"]).await;
    waited.assert_failure("no token arrived within 1 s");
    assert_eq!(waited.status.code(), Some(3), "a timed-out wait exits 3");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_picks_up_a_mailbox_opened_earlier() {
    let gateway = gateway().await;
    let user = User::new();
    user.register(&format!("http://{}", gateway.api_addr()))
        .await;
    let mut request = user.spawn(&["request", "--no-qr"]);
    let uri = request.next_line().await;
    request.kill().await;
    let mailbox_id = SignInRequest::parse(&uri, now_secs())
        .unwrap()
        .mailbox_id()
        .to_owned();

    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let (token, sent) = user.send(&issuer, &uri).await;
    sent.assert_success();
    let waited = user.run(&["wait", &mailbox_id, "--timeout", "60"]).await;
    waited.assert_success();
    assert_eq!(waited.stdout, [token]);

    // Consumed: a second wait finds nothing.
    let again = user.run(&["wait", &mailbox_id, "--timeout", "60"]).await;
    again.assert_failure("no such mailbox");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_and_credentials_files_keep_apps_apart() {
    let gateway = gateway().await;
    let url = format!("http://{}", gateway.api_addr());
    let user = User::new();
    let other_file = user.path("elsewhere/other.json");
    let other = other_file.to_str().unwrap();
    let mut ids = Vec::new();
    for which in [
        vec![],
        vec!["--profile", "work"],
        vec!["--credentials", other],
    ] {
        let mut args = vec!["register", "--gateway", &url, "--name", "app"];
        args.extend(&which);
        let registered = user.run(&args).await;
        registered.assert_success();
        ids.push(registered.stdout[0].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "three apps: {ids:?}");
    let work = user.path("config/sealgate/profiles/work.json");
    for file in [&user.credentials(), &work, &other_file] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(work.parent().unwrap()), 0o700);
    for (which, id) in [
        (vec![], &ids[0]),
        (vec!["--profile", "work"], &ids[1]),
        (vec!["--credentials", other], &ids[2]),
    ] {
        let mut args = vec!["request", "--no-qr"];
        args.extend(&which);
        let mut request = user.spawn(&args);
        let uri = request.next_line().await;
        request.kill().await;
        let parsed = SignInRequest::parse(&uri, now_secs()).unwrap();
        assert_eq!(parsed.client_id(), id.as_str(), "{which:?}");
    }
    let unknown = user
        .run(&["request", "--no-qr", "--profile", "missing"])
        .await;
    unknown.assert_failure("sealgate register");
    let bad = user.run(&["request", "--profile", "../escape"]).await;
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a bad profile name is a usage error"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_an_open_request_working() {
    let gateway = gateway().await;
    let user = User::new();
    user.register(&format!("http://{}", gateway.api_addr()))
        .await;
    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let jwks = user.issuer_jwks(&issuer, "issuer.jwks");
    let mut before = user.spawn(&["request", "--no-qr", "--issuer-jwks", &jwks]);
    let uri_before = before.next_line().await;
    let old_kid = SignInRequest::parse(&uri_before, now_secs())
        .unwrap()
        .key_thumbprint()
        .to_owned();

    let rotated = user.run(&["jwks", "rotate"]).await;
    rotated.assert_success();
    assert_eq!(rotated.stdout.len(), 1, "{:?}", rotated.stdout);
    let new_kid = rotated.stdout[0].clone();
    assert_ne!(new_kid, old_kid);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(user.credentials()).unwrap()).unwrap();
    let kids: Vec<&str> = saved["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()], "newest first");
    assert_eq!(mode(&user.credentials()), 0o600);

    let (token, sent) = user.send(&issuer, &uri_before).await;
    sent.assert_success();
    let finished = before.finish().await;
    finished.assert_success();
    assert_eq!(finished.stdout.last(), Some(&token));

    let mut after = user.spawn(&["request", "--no-qr", "--issuer-jwks", &jwks]);
    let uri_after = after.next_line().await;
    let parsed = SignInRequest::parse(&uri_after, now_secs()).unwrap();
    assert_eq!(
        parsed.key_thumbprint(),
        new_kid,
        "a new request vouches for the new key"
    );
    let (token, sent) = user.send(&issuer, &uri_after).await;
    sent.assert_success();
    let finished = after.finish().await;
    finished.assert_success();
    assert_eq!(finished.stdout.last(), Some(&token));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_app_cannot_verify_is_refused() {
    let gateway = gateway().await;
    let user = User::new();
    user.register(&format!("http://{}", gateway.api_addr()))
        .await;
    let trusted = TestIssuer::generate(ISSUER).unwrap();
    let jwks = user.issuer_jwks(&trusted, "trusted.jwks");
    let stranger = TestIssuer::generate(ISSUER).unwrap();

    let mut request = user.spawn(&["request", "--no-qr", "--issuer-jwks", &jwks]);
    let uri = request.next_line().await;
    let (token, sent) = user.send(&stranger, &uri).await;
    sent.assert_success();
    let finished = request.finish().await;
    finished.assert_failure("ID token");
    assert!(
        !finished.stdout.contains(&token),
        "an unverified token is not printed"
    );

    let mut request = user.spawn(&[
        "request",
        "--no-qr",
        "--issuer-jwks",
        &jwks,
        "--audience",
        "another-audience",
    ]);
    let uri = request.next_line().await;
    let (_, sent) = user.send(&trusted, &uri).await;
    sent.assert_success();
    request.finish().await.assert_failure("aud");
    gateway.shutdown().await;
}

/// The API address `sealgate serve` logs when it is up, or `None` when it ended first. Its
/// stderr is a pipe, so the log is JSON lines.
async fn listening_address(serve: &mut Running) -> Option<String> {
    while let Some(line) = serve.next_stderr_line().await {
        if !line.contains("sealgate serving") {
            continue;
        }
        let event: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line:?}"));
        let addr = event["fields"]["api_addr"]
            .as_str()
            .unwrap_or_else(|| panic!("no api_addr in {line:?}"));
        return Some(addr.to_owned());
    }
    None
}

/// `sealgate serve --store redis://127.0.0.1:6379/ --redis-prefix UNIQUE` as a process, then
/// register, request and send. Skips (saying so) only while this build's store takes no Redis
/// URL, and fails then too when `SEALGATE_REQUIRE_REDIS=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_flow_on_a_redis_store() {
    let url = test_redis_url();
    let keys = Arc::new(SharedPrefix::at(&url));
    let user = User::new();
    let mut serve = user.spawn(&[
        "serve",
        "--store",
        &url,
        "--redis-prefix",
        &keys.prefix,
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let addr = listening_address(&mut serve).await;
    let Some(addr) = addr else {
        let finished = serve.finish().await;
        let required = std::env::var("SEALGATE_REQUIRE_REDIS").is_ok_and(|v| v == "1");
        let message = finished.last_message();
        if message.contains("not part of this build") && !required {
            eprintln!(
                "SKIPPED: this build's `serve --store redis://…` is not available yet \
                 ({message}); set SEALGATE_REQUIRE_REDIS=1 to make this a failure"
            );
            return;
        }
        panic!(
            "sealgate serve --store {url} did not start: {:?}",
            finished.stderr
        );
    };
    let gateway = format!("http://{addr}");
    user.register(&gateway).await;
    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let jwks = user.issuer_jwks(&issuer, "issuer.jwks");
    let mut request = user.spawn(&["request", "--no-qr", "--issuer-jwks", &jwks]);
    let uri = request.next_line().await;
    assert_eq!(
        SignInRequest::parse(&uri, now_secs()).unwrap().gateway(),
        gateway
    );
    let (token, sent) = user.send(&issuer, &uri).await;
    sent.assert_success();
    let finished = request.finish().await;
    finished.assert_success();
    assert_eq!(finished.stdout.last(), Some(&token));
    serve.kill().await;
    drop(keys);
}
