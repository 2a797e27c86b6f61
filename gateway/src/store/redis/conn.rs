//! The command connection (single node or cluster, both reconnecting by themselves), every call
//! bounded in time, failures mapped to [`StoreError`], and a circuit breaker that answers at
//! once while a single node is known to be down.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::store::StoreError;

/// The longest any store call may take before the request is answered 503.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest a connection attempt may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a tripped breaker probes Redis.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);

/// A command connection. Both kinds are cheap to clone (a handle on one multiplexed
/// connection, or one per cluster node) and reconnect in the background.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One node.
    Single(ConnectionManager),
    /// A cluster: commands are routed by key slot, and follow MOVED, ASK and failovers.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// The single-node connection manager's settings: short timeouts and a short reconnect
/// schedule, so that nothing waits long while Redis is away; each failed schedule is started
/// again by the next command (or the breaker's probe).
pub(crate) fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
}

/// Maps a Redis failure: a reply of the wrong shape, or a key of the wrong type, is `Corrupt`
/// (500); anything else (unreachable, loading, out of memory, cluster down) is `Unavailable`
/// (503, retry).
pub(crate) fn store_error(error: &RedisError) -> StoreError {
    let wrong_type = error.code() == Some("WRONGTYPE");
    match error.kind() {
        ErrorKind::UnexpectedReturnType => {
            StoreError::Corrupt(format!("unexpected reply from Redis: {error}"))
        }
        _ if wrong_type => StoreError::Corrupt(format!("unexpected key type in Redis: {error}")),
        _ => StoreError::Unavailable(format!("Redis: {error}")),
    }
}

/// Whether `error` says Redis cannot be reached (as opposed to an answer it gave).
fn is_unreachable(error: &RedisError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound
    )
}

/// Open while a single node is known to be unreachable: calls fail at once instead of each
/// waiting for its timeout, and a background probe closes it as soon as Redis answers.
pub(crate) struct Breaker {
    open: AtomicBool,
    conn: Conn,
}

impl Breaker {
    /// A closed breaker that probes over `conn`.
    pub(crate) fn new(conn: Conn) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicBool::new(false),
            conn,
        })
    }

    /// Whether calls are refused now.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Opens the breaker and, if it was closed, starts the probe.
    fn trip(self: &Arc<Self>) {
        if !self.open.swap(true, Ordering::AcqRel) {
            tracing::warn!("Redis unreachable: answering 503 until it is back");
            tokio::spawn(probe_until_back(Arc::downgrade(self)));
        }
    }
}

async fn probe_until_back(breaker: Weak<Breaker>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let Some(breaker) = breaker.upgrade() else {
            return;
        };
        let mut conn = breaker.conn.clone();
        let ping = redis::cmd("PING");
        let ping = ping.query_async::<()>(&mut conn);
        if let Ok(Ok(())) = tokio::time::timeout(PROBE_TIMEOUT, ping).await {
            breaker.open.store(false, Ordering::Release);
            tracing::info!("Redis reachable again");
            return;
        }
    }
}

/// Runs one store call: refused at once while the breaker is open, bounded by
/// [`CALL_TIMEOUT`], failures mapped (and tripping the breaker when Redis is unreachable).
pub(crate) async fn guarded<T>(
    breaker: Option<&Arc<Breaker>>,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    if breaker.is_some_and(|breaker| breaker.is_open()) {
        return Err(StoreError::Unavailable(
            "Redis is unreachable; reconnecting in the background".into(),
        ));
    }
    let (error, unreachable) = match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(error)) => (store_error(&error), is_unreachable(&error)),
        Err(_) => (
            StoreError::Unavailable(format!(
                "Redis did not answer within {} ms",
                CALL_TIMEOUT.as_millis()
            )),
            true,
        ),
    };
    if let (Some(breaker), true) = (breaker, unreachable) {
        breaker.trip();
    }
    Err(error)
}
