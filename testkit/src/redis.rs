//! Redis for the tests: the machine's shared Redis (127.0.0.1:6379, or
//! `SEALGATE_TEST_REDIS_URL`) used under a unique key prefix per test whose keys are deleted at
//! the end, by SCAN and DEL of that prefix only (never FLUSHALL), and small blocking queries.
//!
//! `redis-server` and `redis-cli` must be installed (scripts/test.sh installs them): a test
//! that needs them fails saying so, it never skips.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sealgate::Config;
use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{RedisStore, SharedStore, WakeHub};
use sealgate_crypto::random_token;

use crate::gateway::TestGateway;

/// The machine's shared Redis, used with a private prefix.
pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379/";

/// The shared Redis the tests use: `SEALGATE_TEST_REDIS_URL`, or [`SHARED_REDIS`].
pub fn test_redis_url() -> String {
    std::env::var("SEALGATE_TEST_REDIS_URL").unwrap_or_else(|_| SHARED_REDIS.to_owned())
}

/// A fresh key prefix for one test.
pub fn unique_prefix() -> String {
    format!("sgtest:{}:", random_token::<9>())
}

/// Panics with the install hint unless `redis-server` and `redis-cli` run.
pub fn require_redis_tools() {
    for tool in ["redis-server", "redis-cli"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            ok,
            "`{tool}` is not installed: these tests need Redis. Run scripts/test.sh, which \
             installs it, or `apt-get install -y redis-server`"
        );
    }
}

/// Panics with a hint unless the shared Redis on 127.0.0.1:6379 answers.
pub fn require_shared_redis() {
    require_redis_tools();
    let answered =
        connect(SHARED_REDIS).and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
    assert!(
        answered.is_ok(),
        "no Redis answers on 127.0.0.1:6379 ({answered:?}). scripts/test.sh starts one; or run \
         `redis-server --daemonize yes --port 6379 --bind 127.0.0.1 --save '' --appendonly no`"
    );
}

/// A free loopback port (free when asked: the server binding it may still lose a race).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// A key prefix of its own on a shared Redis, whose keys are deleted when dropped.
pub struct SharedPrefix {
    /// The Redis URL.
    pub url: String,
    /// The prefix, ending in `:`.
    pub prefix: String,
}

impl SharedPrefix {
    /// A fresh prefix on the shared Redis at [`SHARED_REDIS`] (which must answer).
    pub fn new() -> Self {
        require_shared_redis();
        Self::at(SHARED_REDIS)
    }

    /// A fresh prefix on the Redis at `url`, not checked: for tests that decide themselves
    /// what an unreachable Redis means.
    pub fn at(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: unique_prefix(),
        }
    }

    /// A store on this Redis under this prefix.
    pub async fn store(&self, clock: Arc<dyn Clock>) -> SharedStore {
        redis_store(&self.url, &self.prefix, clock).await
    }

    /// A gateway with `config` on a store under this prefix.
    pub async fn gateway(&self, config: Config) -> TestGateway {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = self.store(clock.clone()).await;
        TestGateway::start_on(config, store, clock).await
    }
}

impl Default for SharedPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SharedPrefix {
    fn drop(&mut self) {
        delete_prefix(&self.url, &self.prefix);
    }
}

/// A Redis store at `url` (one node or `redis+cluster://…`) under `prefix`.
pub async fn redis_store(url: &str, prefix: &str, clock: Arc<dyn Clock>) -> SharedStore {
    Arc::new(
        RedisStore::connect(url, prefix, WakeHub::default(), clock)
            .await
            .unwrap_or_else(|error| panic!("the Redis store at {url} connects: {error}")),
    )
}

/// SCAN MATCH `prefix*` and DEL what it finds, on the node at `url`; quiet when it cannot.
pub fn delete_prefix(url: &str, prefix: &str) {
    let Ok(mut conn) = connect(url) else {
        eprintln!("note: could not connect to {url} to delete the keys under {prefix}");
        return;
    };
    let pattern = format!("{prefix}*");
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
        else {
            return;
        };
        for key in keys.iter().filter(|key| key.starts_with(prefix)) {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(key).query(&mut conn);
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// A blocking connection to the node at `url`, given 2 s.
fn connect(url: &str) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))
}

/// The URL of the loopback node on `port`.
pub fn loopback_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// Runs a command on a loopback node and returns its reply.
pub fn query<T: redis::FromRedisValue>(port: u16, args: &[&str]) -> redis::RedisResult<T> {
    let mut conn = connect(&loopback_url(port))?;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(&mut conn)
}

/// A field of `INFO`, as text.
pub fn info_field(port: u16, section: &str, field: &str) -> Option<String> {
    let info: String = query(port, &["INFO", section]).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map(|value| value.trim().to_owned())
}
