//! Connection limits: a global and a per-address cap on open connections, the idle timeout of
//! HTTP/2 connections without an open stream, and the process's open-files limit.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use tokio::sync::Notify;

use crate::limits::rate_key;

/// Open connections on the API listener now.
pub(crate) const OPEN_CONNECTIONS: &str = "sealgate_open_connections";
/// Connections closed at accept, by reason: `global_cap`, `per_ip_cap`.
pub(crate) const CONNECTIONS_REFUSED_TOTAL: &str = "sealgate_connections_refused_total";
/// HTTP/2 connections closed because no stream was open for the idle timeout.
pub(crate) const HTTP2_IDLE_CLOSED_TOTAL: &str = "sealgate_http2_idle_closed_total";
/// `accept` failures, by kind: `out_of_files` (EMFILE, ENFILE), `other`.
pub(crate) const ACCEPT_ERRORS_TOTAL: &str = "sealgate_accept_errors_total";
/// The process's soft limit on open files (RLIMIT_NOFILE), after raising it at start.
pub(crate) const OPEN_FILES_LIMIT: &str = "sealgate_open_files_limit";

/// Shards of the per-address table: a connection locks one shard, never the whole table.
const SHARDS: usize = 64;

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The gateway holds its most connections.
    GlobalCap,
    /// The client's address (its IPv6 prefix) holds its most connections.
    PerIpCap,
}

impl Refusal {
    /// The bounded metric label.
    fn label(self) -> &'static str {
        match self {
            Self::GlobalCap => "global_cap",
            Self::PerIpCap => "per_ip_cap",
        }
    }
}

/// The metrics of this module.
#[derive(Clone)]
pub(crate) struct ConnectionMetrics {
    /// See [`OPEN_CONNECTIONS`].
    pub open: IntGauge,
    /// See [`CONNECTIONS_REFUSED_TOTAL`].
    pub refused: IntCounterVec,
    /// See [`HTTP2_IDLE_CLOSED_TOTAL`].
    pub http2_idle_closed: IntCounter,
    /// See [`ACCEPT_ERRORS_TOTAL`].
    pub accept_errors: IntCounterVec,
    /// See [`OPEN_FILES_LIMIT`].
    pub open_files_limit: IntGauge,
}

impl ConnectionMetrics {
    /// Creates the metrics (every label value present from the start, at 0).
    pub(crate) fn new() -> Self {
        let refused = IntCounterVec::new(
            Opts::new(
                CONNECTIONS_REFUSED_TOTAL,
                "Connections closed at accept, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for reason in [Refusal::GlobalCap, Refusal::PerIpCap] {
            refused.with_label_values(&[reason.label()]);
        }
        let accept_errors = IntCounterVec::new(
            Opts::new(ACCEPT_ERRORS_TOTAL, "accept failures, by kind"),
            &["kind"],
        )
        .expect("valid metric");
        for kind in ["out_of_files", "other"] {
            accept_errors.with_label_values(&[kind]);
        }
        let gauge = |name, help| IntGauge::new(name, help).expect("valid metric");
        Self {
            open: gauge(OPEN_CONNECTIONS, "Open connections on the API listener"),
            refused,
            http2_idle_closed: IntCounter::new(
                HTTP2_IDLE_CLOSED_TOTAL,
                "HTTP/2 connections closed after the idle timeout",
            )
            .expect("valid metric"),
            accept_errors,
            open_files_limit: gauge(OPEN_FILES_LIMIT, "Soft RLIMIT_NOFILE of the process"),
        }
    }

    /// Every collector, for registration.
    pub(crate) fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.open.clone()),
            Box::new(self.refused.clone()),
            Box::new(self.http2_idle_closed.clone()),
            Box::new(self.accept_errors.clone()),
            Box::new(self.open_files_limit.clone()),
        ]
    }
}

/// Counts open connections, in total and per client address.
pub(crate) struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    ipv6_prefix: u8,
    open: AtomicUsize,
    per_ip: Vec<Mutex<HashMap<IpAddr, usize>>>,
    metrics: ConnectionMetrics,
}

impl ConnectionLimits {
    /// Caps of `max_total` and `max_per_ip` connections (0: no cap); IPv6 addresses counted
    /// by their first `ipv6_prefix` bits.
    pub(crate) fn new(
        max_total: usize,
        max_per_ip: usize,
        ipv6_prefix: u8,
        metrics: ConnectionMetrics,
    ) -> Self {
        let unbounded = |max| if max == 0 { usize::MAX } else { max };
        Self {
            max_total: unbounded(max_total),
            max_per_ip: unbounded(max_per_ip),
            ipv6_prefix,
            open: AtomicUsize::new(0),
            per_ip: (0..SHARDS).map(|_| Mutex::default()).collect(),
            metrics,
        }
    }

    /// The metrics this module keeps.
    pub(crate) fn metrics(&self) -> &ConnectionMetrics {
        &self.metrics
    }

    /// Takes a connection slot for `ip` (`None`: a trusted proxy, counted only in the total),
    /// or says why not; a refusal is counted.
    pub(crate) fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<ConnectionPermit, Refusal> {
        let admitted = self.try_admit(ip);
        if let Err(refusal) = admitted {
            self.metrics
                .refused
                .with_label_values(&[refusal.label()])
                .inc();
        }
        admitted
    }

    fn try_admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<ConnectionPermit, Refusal> {
        let total = self.open.fetch_add(1, Ordering::AcqRel);
        if total >= self.max_total {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::GlobalCap);
        }
        let key = ip.map(|ip| rate_key(ip, self.ipv6_prefix));
        if let Some(key) = key {
            let mut shard = self.shard(&key).lock().expect("connection table lock");
            let held = shard.entry(key).or_insert(0);
            if *held >= self.max_per_ip {
                drop(shard);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::PerIpCap);
            }
            *held += 1;
        }
        self.metrics.open.inc();
        Ok(ConnectionPermit {
            limits: self.clone(),
            key,
        })
    }

    fn shard(&self, key: &IpAddr) -> &Mutex<HashMap<IpAddr, usize>> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        &self.per_ip[hasher.finish() as usize % SHARDS]
    }
}

/// One open connection's slot; dropping it frees the slot.
pub(crate) struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    key: Option<IpAddr>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut shard = self
                .limits
                .shard(&key)
                .lock()
                .expect("connection table lock");
            if let Some(held) = shard.get_mut(&key) {
                *held -= 1;
                if *held == 0 {
                    shard.remove(&key);
                }
            }
        }
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
        self.limits.metrics.open.dec();
    }
}

/// The open streams (requests being answered) of one HTTP/2 connection.
#[derive(Default)]
pub(crate) struct StreamTracker {
    open: AtomicUsize,
    /// Bumped each time the connection turns idle, so a wait can tell it stayed idle.
    idle_epoch: AtomicU64,
    turned_idle: Notify,
}

impl StreamTracker {
    /// Counts a stream as open until the guard is dropped.
    pub(crate) fn stream(self: &Arc<Self>) -> StreamGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        StreamGuard(self.clone())
    }

    /// Resolves once no stream has been open for `timeout`.
    pub(crate) async fn idle_for(&self, timeout: Duration) {
        loop {
            let epoch = self.idle_epoch.load(Ordering::Acquire);
            if self.open.load(Ordering::Acquire) == 0 {
                tokio::time::sleep(timeout).await;
                if self.open.load(Ordering::Acquire) == 0
                    && self.idle_epoch.load(Ordering::Acquire) == epoch
                {
                    return;
                }
            } else {
                // `notify_one` keeps a permit when nobody waits: a stream ending between the
                // check and this line is not missed.
                self.turned_idle.notified().await;
            }
        }
    }
}

/// An open stream; see [`StreamTracker::stream`].
pub(crate) struct StreamGuard(Arc<StreamTracker>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_epoch.fetch_add(1, Ordering::AcqRel);
            self.0.turned_idle.notify_one();
        }
    }
}

/// Raises the soft limit on open files to the hard limit, and returns the soft limit now in
/// force (`None` when unlimited). A failure leaves the limit as it was.
pub(crate) fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, "cannot raise the open-files limit to its hard limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits::new(
            total,
            per_ip,
            64,
            ConnectionMetrics::new(),
        ))
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn per_ip_cap_counts_an_ipv6_prefix_as_one_address() {
        let limits = limits(0, 2);
        let _a = limits.admit(ip("2001:db8::1")).unwrap();
        let _b = limits.admit(ip("2001:db8::2")).unwrap();
        assert_eq!(
            limits.admit(ip("2001:db8::3:4")).err(),
            Some(Refusal::PerIpCap)
        );
        let _other = limits.admit(ip("2001:db8:0:1::1")).unwrap();
        let _v4 = limits.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            limits
                .metrics
                .refused
                .with_label_values(&["per_ip_cap"])
                .get(),
            1
        );
    }

    #[test]
    fn slots_free_on_drop_and_the_global_cap_holds() {
        let limits = limits(2, 1);
        let a = limits.admit(ip("127.0.0.2")).unwrap();
        assert_eq!(limits.admit(ip("127.0.0.2")).err(), Some(Refusal::PerIpCap));
        let _b = limits.admit(None).unwrap();
        assert_eq!(
            limits.admit(ip("127.0.0.3")).err(),
            Some(Refusal::GlobalCap)
        );
        drop(a);
        assert_eq!(limits.metrics.open.get(), 1);
        let _c = limits.admit(ip("127.0.0.2")).unwrap();
        assert_eq!(limits.open.load(Ordering::Acquire), 2);
    }

    #[tokio::test]
    async fn idle_means_no_stream_for_the_whole_timeout() {
        let tracker = Arc::new(StreamTracker::default());
        let timeout = Duration::from_millis(200);
        let stream = tracker.stream();
        let start = std::time::Instant::now();
        let waiting = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.idle_for(timeout).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiting.is_finished(), "a stream is open");
        drop(stream);
        let again = tracker.stream();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(again);
        tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("idle after the last stream")
            .unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(800),
            "{:?}",
            start.elapsed()
        );
    }
}
