//! What the API's hot path costs Redis, read from MONITOR on a Redis of the test's own: one
//! round trip to open, one to deposit, one to take, once the client's record is in the
//! authentication cache; and that cache following client changes made through another
//! instance.

#[allow(unused_macros, unused_imports)]
mod support_redis;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_testkit::{RedisServer, jwks_of};
use support_redis::http::{Node, seal_for};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The commands clients send a Redis, as MONITOR reports them; commands that scripts run
/// (reported from `lua`) are left out, since they cost no round trip.
struct Monitor {
    lines: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Monitor {
    async fn start(port: u16) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(b"MONITOR\r\n").await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut ok = String::new();
        reader.read_line(&mut ok).await.unwrap();
        assert_eq!(ok.trim_end(), "+OK");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = tokio::spawn(async move {
            let mut line = String::new();
            while reader.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push(std::mem::take(&mut line));
            }
        });
        Self { lines, reader }
    }

    /// Round trips by command name since the last call, heartbeats and the webhook sender's
    /// periodic claims left out.
    fn take_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for line in self.lines.lock().unwrap().drain(..) {
            // +1733560000.123456 [0 127.0.0.1:50000] "evalsha" "…" …
            let Some((source, command)) = line.split_once("] \"") else {
                continue;
            };
            if source.ends_with(" lua") {
                continue;
            }
            let name = command.split('"').next().unwrap_or("").to_ascii_lowercase();
            // The webhook sender's periodic claim: its two keys start with the due set.
            let claim = name == "evalsha" && command.contains("\" \"2\" \"rt:deliveries:");
            if !claim && !matches!(name.as_str(), "ping" | "info") {
                *counts.entry(name).or_insert(0) += 1;
            }
        }
        counts
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Runs `future` for at most a second: far less than the cache's 5 s age limit, so only the
/// invalidation message can make it finish in time.
async fn within_a_second(what: &str, future: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(1), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within a second"));
}

/// Waits until MONITOR has had time to report what was sent (it streams as Redis runs them).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_deposit_and_take_are_one_round_trip_each() {
    let redis = RedisServer::start();
    let node = Node::start(&redis.url(), "rt:").await;
    let app = node.register().await;
    let flow = || async {
        let mailbox = node.open(&app).await;
        let deposited = node.deposit(&mailbox, &seal_for(&app, &mailbox)).await;
        assert_eq!(deposited.status, StatusCode::CREATED, "{deposited:?}");
        let taken = node.poll(&app, &mailbox, 0).await;
        assert_eq!(taken.status, StatusCode::OK, "{taken:?}");
    };
    // Loads the scripts and fills the authentication cache.
    flow().await;
    let monitor = Monitor::start(redis.port).await;
    settle().await;
    monitor.take_counts();

    const FLOWS: usize = 20;
    for _ in 0..FLOWS {
        flow().await;
    }
    settle().await;
    let counts = monitor.take_counts();
    eprintln!("Redis round trips over {FLOWS} open-deposit-take flows: {counts:?}");
    assert_eq!(
        counts,
        BTreeMap::from([("evalsha".to_owned(), 3 * FLOWS)]),
        "three scripts a flow, nothing else"
    );

    // The phone's key fetch is one GET.
    let jwks = node.get(&format!("/v1/clients/{}/jwks", app.id)).await;
    assert_eq!(jwks.status, StatusCode::OK);
    settle().await;
    assert_eq!(
        monitor.take_counts(),
        BTreeMap::from([("get".to_owned(), 1)])
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_changes_through_one_instance_reach_the_other_at_once() {
    let redis = RedisServer::start();
    let a = Node::start(&redis.url(), "cc:").await;
    let b = Node::start(&redis.url(), "cc:").await;
    let app = a.register().await;
    // b authenticates the client, so b's cache holds its record.
    let before = b.open(&app).await;
    assert_eq!(before.body["kid"], app.key.public_key().thumbprint());

    let next = PrivateKey::generate(Algorithm::Hpke4);
    let rotated = a.rotate_jwks(&app, &jwks_of(&next)).await;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    within_a_second("b to open with the rotated key", async {
        while b.try_open(&app).await.json()["kid"] != next.public_key().thumbprint() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    let deleted = a.delete_client(&app).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    within_a_second("b to refuse the deleted client", async {
        while b.try_open(&app).await.status != StatusCode::UNAUTHORIZED {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}
