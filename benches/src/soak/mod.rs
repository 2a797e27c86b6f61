//! `sealgate-soak`: two gateways on one Redis under steady sign-in load, with webhooks and
//! polling, while gateways and Redis are killed and restarted; then every envelope accounted.
//!
//! Modules: `procs` (redis-server and gateway processes), `proxy` (the load balancer in front
//! of the gateways), `receiver` (the webhook endpoint), `load` (registration and the steady
//! rate), `flow` (one sign-in with the SDK),
//! `chaos` (the seeded kills), `ledger` (what happened) and `tally` (the accounting).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use sealgate_client::{HttpClient, Phone};

mod chaos;
mod flow;
mod ledger;
mod load;
mod procs;
mod proxy;
mod receiver;
mod tally;

use chaos::{Cast, Pacing, Rng};
use flow::Flows;
use procs::{Gateway, GatewaySetup, Redis};

/// Runs two gateways on one Redis under steady sign-in load, kills and restarts a gateway or
/// Redis at seeded random moments, and accounts for every envelope. Exits 1 when one was lost
/// or duplicated.
#[derive(Debug, Parser)]
#[command(name = "sealgate-soak", version)]
pub struct Args {
    /// Seconds of load (and chaos); the drain that follows lasts about one mailbox TTL.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub duration: u64,
    /// The seed of the chaos schedule and the phones' delays [default: from the clock].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Sign-ins started per second.
    #[arg(long, value_name = "PER_SEC", default_value_t = 20.0)]
    pub rate: f64,
    /// Registered apps; sign-ins go to them in turn.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub apps: usize,
    /// How many of the apps receive webhooks (the others long-poll with two replicas).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub webhook_apps: usize,
    /// Mailbox lifetime, seconds (at least 25: the phone stops 17 s before the expiry).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub ttl: u64,
    /// The shortest and longest pause between two kills, seconds.
    #[arg(long, value_name = "MIN,MAX", value_delimiter = ',', default_values_t = [5.0, 15.0])]
    pub chaos_every: Vec<f64>,
    /// The shortest and longest time a killed process stays down, seconds.
    #[arg(long, value_name = "MIN,MAX", value_delimiter = ',', default_values_t = [0.5, 3.0])]
    pub down_for: Vec<f64>,
    /// How long the webhook endpoint takes to answer 204 after it has recorded a delivery,
    /// milliseconds: a kill in that window makes the gateway deliver again.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    pub webhook_delay_ms: u64,
    /// The `sealgate` binary [default: the one next to this binary].
    #[arg(long, value_name = "PATH")]
    pub gateway: Option<PathBuf>,
    /// `redis-server` to run.
    #[arg(long, value_name = "PATH", default_value = "redis-server")]
    pub redis_server: PathBuf,
    /// `redis-cli`, to look at a mailbox the app was told is gone.
    #[arg(long, value_name = "PATH", default_value = "redis-cli")]
    pub redis_cli: String,
    /// Where the run's logs and Redis data go (a fresh directory inside; removed after a
    /// passing run unless --keep).
    #[arg(long, value_name = "DIR", default_value = "target/soak")]
    pub out: PathBuf,
    /// Keep the logs and Redis data of a passing run too.
    #[arg(long)]
    pub keep: bool,
    /// Print the counts as one JSON object (the summary goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Parses the command line, runs the soak, prints the summary.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sealgate-soak: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("sealgate-soak: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Stops the chaos thread and waits for it when dropped, so that its processes are killed
/// on every way out, a panic included.
struct ChaosGuard {
    stop: Arc<AtomicBool>,
    /// The chaos thread, until it is joined.
    handle: Option<std::thread::JoinHandle<anyhow::Result<Cast>>>,
}

impl ChaosGuard {
    /// Stops the chaos; the processes, or the error that ended it early.
    fn finish(&mut self) -> anyhow::Result<Cast> {
        self.stop.store(true, Ordering::Relaxed);
        let handle = self.handle.take().context("the chaos already ended")?;
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("the chaos thread panicked"))?
    }
}

impl Drop for ChaosGuard {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.finish();
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    if args.ttl < 25 || args.rate <= 0.0 || args.apps == 0 || args.webhook_apps > args.apps {
        bail!("need --ttl >= 25, --rate > 0, --apps >= 1 and --webhook-apps <= --apps");
    }
    let ordered = |pair: &[f64]| pair.len() == 2 && 0.0 < pair[0] && pair[0] <= pair[1];
    if !ordered(&args.chaos_every) || !ordered(&args.down_for) {
        bail!("--chaos-every and --down-for take MIN,MAX with 0 < MIN <= MAX");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let gateway_bin = match &args.gateway {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("sealgate"),
    };
    let dir = procs::run_dir(&args.out, seed)?;
    let ledger = ledger::Ledger::new();

    let redis = Redis::start(args.redis_server.clone(), &dir)?;
    let gateway_addrs: Vec<SocketAddr> = (0..2)
        .map(|_| Ok(SocketAddr::from(([127, 0, 0, 1], procs::free_port()?))))
        .collect::<anyhow::Result<_>>()?;
    let (proxy_addr, proxy_counts) = proxy::start(gateway_addrs.clone()).await?;
    let public_url = format!("http://{proxy_addr}");
    let prefix = format!("soak{seed:x}:");
    let store = redis.url();
    let setup = GatewaySetup {
        program: &gateway_bin,
        store: &store,
        prefix: &prefix,
        public_url: &public_url,
        dir: &dir,
    };
    let gateways = gateway_addrs
        .iter()
        .enumerate()
        .map(|(index, addr)| Gateway::start(&setup, index + 1, *addr))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let redis_port = redis.port;

    let endpoints: receiver::Endpoints = Arc::new(RwLock::new(Vec::new()));
    let receiver_addr = receiver::start(
        ledger.clone(),
        endpoints.clone(),
        Duration::from_millis(args.webhook_delay_ms),
    )
    .await?;
    let apps = load::register(&args, &public_url, receiver_addr, &endpoints).await?;
    let phones = (0..4)
        .map(|_| Ok(Phone::with_http(HttpClient::new()?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let flows = Arc::new(Flows {
        apps,
        phones,
        ledger: ledger.clone(),
        ttl: Duration::from_secs(args.ttl),
        redis: (args.redis_cli.clone(), redis_port, prefix.clone()),
        seed,
    });

    let header = format!(
        "sealgate soak: {} s at {} sign-ins/s, seed {seed}, 2 gateways behind a TCP balancer, one \
         Redis (AOF, appendfsync always), mailbox TTL {} s, {} of {} apps on webhooks",
        args.duration, args.rate, args.ttl, args.webhook_apps, args.apps
    );
    eprintln!(
        "sealgate-soak: seed {seed}, {} s of load then a drain of up to {} s; logs and Redis \
         data in {}",
        args.duration,
        args.ttl + 5,
        dir.display()
    );
    let events: chaos::Log = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let pacing = Pacing {
        between: (args.chaos_every[0], args.chaos_every[1]),
        down: (args.down_for[0], args.down_for[1]),
        until: args.duration as f64,
    };
    let cast = Cast { redis, gateways };
    let mut guard = ChaosGuard {
        stop: stop.clone(),
        handle: Some(chaos::spawn(
            cast,
            Rng::new(seed),
            pacing,
            ledger.start,
            stop,
            events.clone(),
        )),
    };

    let load = load::drive(&flows, &args, &mut guard);
    let interrupted = tokio::select! {
        result = load => { result?; false }
        _ = tokio::signal::ctrl_c() => true,
    };
    let cast = guard.finish();
    if interrupted {
        bail!("interrupted; logs in {}", dir.display());
    }
    let cast = cast.with_context(|| format!("the chaos failed; logs in {}", dir.display()))?;
    drop(cast);

    let events = events.lock().expect("chaos log").clone();
    let entries = ledger.take_all();
    let (mut counts, problems, cuts) = tally::tally(&entries, &events);
    counts.sign_ins = entries.len() as u64 + ledger.not_opened.load(Ordering::Relaxed);
    counts.not_opened = ledger.not_opened.load(Ordering::Relaxed);
    counts.bad_webhooks =
        ledger.bad_webhooks.load(Ordering::Relaxed) + ledger.stray_webhooks.load(Ordering::Relaxed);
    let per_gateway: Vec<u64> = proxy_counts
        .per_gateway
        .iter()
        .map(|n| n.load(Ordering::Relaxed))
        .collect();
    let mut summary = tally::render(&counts, &events, &header);
    summary += &format!(
        "  connections through the balancer: gateway 1 {}, gateway 2 {}, refused by both {}\n",
        per_gateway[0],
        per_gateway[1],
        proxy_counts.refused.load(Ordering::Relaxed)
    );
    for cut in &cuts {
        summary += &format!("  cut in flight: {cut}\n");
    }
    for problem in &problems {
        summary += &format!("  problem: {problem}\n");
    }
    let passed = counts.passed();
    summary += if passed {
        "PASS: every acknowledged envelope was consumed exactly once or accounted for\n"
    } else {
        "FAIL: an envelope was lost or duplicated (see above)\n"
    };
    eprint!("{summary}");
    if args.json {
        let json = serde_json::json!({
            "seed": seed, "duration_secs": args.duration, "rate": args.rate, "ttl_secs": args.ttl,
            "passed": passed, "counts": counts, "events": events,
            "connections_per_gateway": per_gateway, "problems": problems, "cut_in_flight": cuts,
        });
        println!("{json}");
    }
    if passed && !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("logs and Redis data kept in {}", dir.display());
    }
    Ok(passed)
}
