//! `sealgate-load`'s command line, and the run: settings checked, a runtime built, one
//! scenario run within a hard time bound, the report printed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};

use crate::report;
use crate::scenarios::{self, Settings};
use crate::stats::Live;
use crate::target::{Target, loopback_addr};

/// The longest measured window accepted, seconds.
const MAX_DURATION_SECS: f64 = 600.0;
/// Time allowed, on top of warm-up and duration, for set-up (registering clients, opening
/// mailboxes, parking waiters) and for the last flows to finish; past it the process exits.
const SETUP_AND_DRAIN: Duration = Duration::from_secs(180);

/// Drives sealgate's HTTP API (or a bare hyper server, `baseline`) on this machine and reports
/// throughput, latency percentiles and errors.
#[derive(Debug, Parser)]
#[command(name = "sealgate-load", version)]
pub struct Args {
    /// The gateway's base URL, loopback only (127.0.0.0/8, [::1], localhost), e.g.
    /// http://127.0.0.1:8080. `baseline` starts its own server and needs none.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// What to run.
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// Measured seconds (after the warm-up).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured seconds first (not used by long-poll-fanout).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub warmup: f64,
    /// Concurrent workers, each with its own connection (signin: an app and a phone
    /// connection each); for long-poll-fanout, the waiting long-polls.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub connections: usize,
    /// Open-loop: start flows at this fixed rate a second (fan-out: deposits a second).
    /// Without it, closed-loop: each worker starts its next flow when the last ends.
    #[arg(long, value_name = "PER_SEC")]
    pub rate: Option<f64>,
    /// HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Print one JSON object instead of the progress line and summary.
    #[arg(long)]
    pub json: bool,
    /// The gateway's process id: its resident memory and CPU time go into the report.
    #[arg(long, value_name = "PID")]
    pub gateway_pid: Option<u32>,
    /// long-poll-fanout: the gateway's metrics base URL (loopback), to see the waiters parked.
    #[arg(long, value_name = "URL")]
    pub metrics: Option<String>,
    /// long-poll-fanout: HOST:PORT of the gateway's Redis (loopback), to count its clients.
    #[arg(long, value_name = "HOST:PORT")]
    pub redis: Option<String>,
    /// long-poll-fanout: mailboxes to open (at least --connections).
    #[arg(long, value_name = "N")]
    pub mailboxes: Option<usize>,
    /// long-poll-fanout: connections that deposit.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub deposit_connections: usize,
    /// Size of the ID token sealed, bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub token_bytes: usize,
    /// The load generator's worker threads [default: one per CPU].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// baseline: the bare server's worker threads [default: one per CPU, as the gateway].
    #[arg(long, value_name = "N")]
    pub baseline_threads: Option<usize>,
    /// Exit with status 3 when more errors than this were counted.
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Open a mailbox, deposit a pre-sealed envelope, poll it: the gateway's own cost.
    DepositPoll,
    /// Park long-polls, then deposit: wake-up latency and the gateway's memory.
    LongPollFanout,
    /// The whole sign-in, sealing on the phone side and opening on the app side.
    Signin,
    /// A bare in-process hyper server driven like deposit-poll: the machine's HTTP ceiling.
    Baseline,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::DepositPoll => "deposit-poll",
            Scenario::LongPollFanout => "long-poll-fanout",
            Scenario::Signin => "signin",
            Scenario::Baseline => "baseline",
        }
    }
}

fn settings(args: &Args) -> anyhow::Result<Settings> {
    let target = match (&args.target, args.scenario) {
        (_, Scenario::Baseline) => None,
        (Some(url), _) => Some(Arc::new(Target::parse(url)?)),
        (None, scenario) => bail!("--target is required for {}", scenario.name()),
    };
    if !(args.duration > 0.0 && args.duration <= MAX_DURATION_SECS) {
        bail!("--duration must be more than 0 and at most {MAX_DURATION_SECS} seconds");
    }
    if !(0.0..=60.0).contains(&args.warmup) {
        bail!("--warmup must be between 0 and 60 seconds");
    }
    if args.connections == 0 || args.connections > 50_000 {
        bail!("--connections must be between 1 and 50000");
    }
    if args.rate.is_some_and(|rate| !(rate > 0.0 && rate <= 1e6)) {
        bail!("--rate must be more than 0 and at most 1000000");
    }
    let metrics = args
        .metrics
        .as_deref()
        .map(|url| Target::parse(url).map(Arc::new))
        .transpose()
        .context("--metrics")?;
    let redis = args
        .redis
        .as_deref()
        .map(loopback_addr)
        .transpose()
        .context("--redis")?;
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let warmup = match args.scenario {
        Scenario::LongPollFanout => Duration::ZERO,
        _ => Duration::from_secs_f64(args.warmup),
    };
    Ok(Settings {
        target,
        duration: Duration::from_secs_f64(args.duration),
        warmup,
        connections: args.connections,
        rate: args.rate,
        http2: args.http2,
        quiet: args.json,
        gateway_pid: args.gateway_pid,
        token_bytes: args
            .token_bytes
            .clamp(16, sealgate_crypto::MAX_PLAINTEXT_LEN),
        mailboxes: args.mailboxes.unwrap_or(args.connections).min(200_000),
        deposit_connections: args.deposit_connections.clamp(1, 1024),
        metrics,
        redis,
        baseline_threads: args.baseline_threads.unwrap_or(cpus).max(1),
        live: Arc::new(Live::default()),
    })
}

/// Parses the command line, runs the scenario, prints the report.
pub fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sealgate-load: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let settings = settings(args)?;
    // The hard bound: whatever happens, the process ends.
    let bound = settings.warmup + settings.duration + SETUP_AND_DRAIN;
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(bound);
            eprintln!("sealgate-load: still running after {bound:?}; giving up");
            std::process::exit(2);
        })?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.thread_name("load").enable_all().build()?;
    let scenario = args.scenario;
    let outcome = runtime.block_on(async {
        match scenario {
            Scenario::DepositPoll => scenarios::deposit_poll::run(&settings).await,
            Scenario::LongPollFanout => scenarios::fanout::run(&settings).await,
            Scenario::Signin => scenarios::signin::run(&settings).await,
            Scenario::Baseline => scenarios::baseline::run(&settings).await,
        }
    })?;
    let target = settings
        .target
        .as_ref()
        .map_or_else(|| "in-process bare hyper".to_owned(), |t| t.base_url());
    let report = report::to_json(scenario.name(), &target, &settings, &outcome);
    if args.json {
        println!("{report}");
    } else {
        print!("{}", report::human(&report));
    }
    // Connections still open are dropped with the runtime, without waiting for them.
    runtime.shutdown_background();
    let errors = outcome.recorder.error_total();
    Ok(match args.max_errors {
        Some(max) if errors > max => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}
