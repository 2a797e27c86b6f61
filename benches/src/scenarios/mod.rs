//! The scenarios, and what they share: the run's settings, the timing of a flow's steps,
//! the worker pool, and the CPU time sampled over the measured window.

pub(crate) mod baseline;
pub(crate) mod deposit_poll;
pub(crate) mod fanout;
pub(crate) mod signin;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::pacing::{Pacer, Slot};
use crate::procinfo;
use crate::stats::{Failure, Live, Recorder};
use crate::target::Target;

/// Pause after a failed flow, so that a dead target is not hammered in a tight loop.
const AFTER_FAILURE: Duration = Duration::from_millis(10);

/// Clients registered per worker group: the gateway caps each client's waiting long-polls
/// and open mailboxes (1,000 each by default), so workers share a client in groups.
pub(crate) const WORKERS_PER_CLIENT: usize = 500;

/// What every scenario is told.
pub(crate) struct Settings {
    /// The gateway (absent for `baseline`, which starts its own server).
    pub(crate) target: Option<Arc<Target>>,
    /// The measured window.
    pub(crate) duration: Duration,
    /// The unmeasured start.
    pub(crate) warmup: Duration,
    /// Concurrent workers, each with its own connection (long-poll waiters for the fan-out).
    pub(crate) connections: usize,
    /// Open-loop flows a second.
    pub(crate) rate: Option<f64>,
    /// HTTP/2 with prior knowledge instead of HTTP/1.1.
    pub(crate) http2: bool,
    /// No progress line.
    pub(crate) quiet: bool,
    /// The gateway's process, for its memory and CPU time.
    pub(crate) gateway_pid: Option<u32>,
    /// The size of the ID token sealed.
    pub(crate) token_bytes: usize,
    /// Fan-out: mailboxes opened (at least `connections`).
    pub(crate) mailboxes: usize,
    /// Fan-out: connections that deposit.
    pub(crate) deposit_connections: usize,
    /// Fan-out: the gateway's metrics listener.
    pub(crate) metrics: Option<Arc<Target>>,
    /// Fan-out: the Redis server behind the gateway.
    pub(crate) redis: Option<std::net::SocketAddr>,
    /// Baseline: the bare server's worker threads.
    pub(crate) baseline_threads: usize,
    /// Live counters for the progress line.
    pub(crate) live: Arc<Live>,
}

impl Settings {
    /// The gateway target; the CLI checks that non-baseline scenarios have one.
    pub(crate) fn target(&self) -> Arc<Target> {
        self.target.clone().expect("a target for this scenario")
    }
}

/// What a scenario measured.
pub(crate) struct Outcome {
    /// Latencies, counts and errors.
    pub(crate) recorder: Recorder,
    /// The measured window.
    pub(crate) window: Duration,
    /// Whether flows followed a fixed schedule.
    pub(crate) open_loop: bool,
    /// CPU time over the measured window.
    pub(crate) cpu: CpuUsage,
    /// Scenario-specific members of the report.
    pub(crate) extra: Map<String, Value>,
}

/// One flow's timing: each step's latency counts from the end of the step before, the first
/// from the time the flow was due; the flow's from the time it was due.
pub(crate) struct Flow<'a> {
    recorder: &'a mut Recorder,
    live: &'a Live,
    slot: Slot,
    next_start: Instant,
}

impl<'a> Flow<'a> {
    /// Starts timing a flow of `slot`.
    pub(crate) fn new(recorder: &'a mut Recorder, live: &'a Live, slot: Slot, open: bool) -> Self {
        if open && slot.measured {
            recorder.lag(Instant::now() - slot.intended);
        }
        Self {
            recorder,
            live,
            slot,
            next_start: slot.intended,
        }
    }

    /// Runs one request and records its latency.
    pub(crate) async fn step<T>(
        &mut self,
        request: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let started = self.next_start;
        let result = request.await;
        let now = Instant::now();
        if result.is_ok() {
            self.request_done(Some(now - started));
        }
        self.next_start = now;
        result
    }

    /// Records a request timed by the caller (`None`: counted, but not a latency).
    pub(crate) fn request_done(&mut self, latency: Option<Duration>) {
        self.live.request();
        if self.slot.measured {
            match latency {
                Some(latency) => self.recorder.request(latency),
                None => self.recorder.untimed_request(),
            }
        }
    }

    /// Ends the flow: its latency, or its failure.
    pub(crate) async fn finish(self, result: Result<(), Failure>) {
        match result {
            Ok(()) => {
                self.live.flow();
                if self.slot.measured {
                    self.recorder.flow(Instant::now() - self.slot.intended);
                }
            }
            Err(failure) => {
                self.live.error();
                self.recorder.error(failure);
                tokio::time::sleep(AFTER_FAILURE).await;
            }
        }
    }
}

/// Runs `workers` tasks and merges what they recorded.
pub(crate) async fn run_workers<F, Fut>(workers: usize, make: F) -> Recorder
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Recorder> + Send + 'static,
{
    let handles: Vec<_> = (0..workers)
        .map(|index| tokio::spawn(make(index)))
        .collect();
    let mut merged = Recorder::new();
    for handle in handles {
        if let Ok(recorder) = handle.await {
            merged.merge(&recorder);
        }
    }
    merged
}

/// CPU seconds used over the measured window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuUsage {
    /// By the gateway process, when its pid is known.
    pub(crate) gateway: Option<f64>,
    /// By the bare baseline server's threads (in this process).
    pub(crate) baseline_server: f64,
    /// By the load generator (this process, less the baseline server's threads).
    pub(crate) load_generator: f64,
    /// The gateway's resident memory at the end of the window, MiB.
    pub(crate) gateway_rss_mib: Option<f64>,
    /// Commands the Redis server processed over the window, with `--redis`.
    pub(crate) redis_commands: Option<f64>,
    /// CPU seconds the Redis server used over the window, with `--redis`.
    pub(crate) redis_cpu: Option<f64>,
}

fn cpu_now(gateway_pid: Option<u32>) -> (Option<f64>, f64, f64) {
    let server = procinfo::own_threads_cpu_seconds(baseline::THREAD_PREFIX);
    let own = procinfo::own_cpu_seconds();
    (
        gateway_pid.and_then(procinfo::cpu_seconds),
        server,
        own - server,
    )
}

/// Samples CPU times (and Redis's command count) when `pacer`'s measured window opens and
/// when it closes.
pub(crate) fn sample_cpu(pacer: &Pacer, settings: &Settings) -> JoinHandle<CpuUsage> {
    let (from, to) = (pacer.measure_from(), pacer.end());
    let (gateway_pid, redis) = (settings.gateway_pid, settings.redis);
    // (commands processed, CPU seconds) of the Redis server.
    let redis_now = move || async move {
        let info = procinfo::redis_info(redis?).await?;
        let number = |field: &str| info.get(field)?.parse::<f64>().ok();
        let cpu = number("used_cpu_sys")? + number("used_cpu_user")?;
        Some((number("total_commands_processed")?, cpu))
    };
    tokio::spawn(async move {
        tokio::time::sleep_until(from).await;
        let (gateway_0, server_0, own_0) = cpu_now(gateway_pid);
        let redis_0 = redis_now().await;
        tokio::time::sleep_until(to).await;
        let (gateway_1, server_1, own_1) = cpu_now(gateway_pid);
        let redis_1 = redis_now().await;
        CpuUsage {
            gateway: gateway_0.zip(gateway_1).map(|(a, b)| b - a),
            baseline_server: server_1 - server_0,
            load_generator: own_1 - own_0,
            gateway_rss_mib: gateway_pid.and_then(procinfo::rss_mib),
            // Less the two INFO queries themselves.
            redis_commands: redis_0.zip(redis_1).map(|(a, b)| b.0 - a.0 - 1.0),
            redis_cpu: redis_0.zip(redis_1).map(|(a, b)| b.1 - a.1),
        }
    })
}
