//! The chaos: at seeded random moments, SIGKILL one gateway or Redis, wait a moment, start it
//! again on the same port, and log when it was down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::procs::{Gateway, Redis};

/// SplitMix64: a small, seedable, reproducible generator (not for cryptography).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `[low, high)`.
    pub(crate) fn uniform(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        low + (high - low) * unit
    }
}

/// What was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Target {
    /// Gateway number n (1-based).
    Gateway(usize),
    /// The Redis server.
    Redis,
}

/// One kill and restart, in seconds since the soak started.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Event {
    /// What was killed.
    pub(crate) target: Target,
    /// When SIGKILL was sent.
    pub(crate) killed_at: f64,
    /// When it answered again (`None`: not yet).
    pub(crate) ready_at: Option<f64>,
}

/// How the chaos is paced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// The shortest and longest pause between events, seconds.
    pub(crate) between: (f64, f64),
    /// The shortest and longest time a killed process stays down, seconds.
    pub(crate) down: (f64, f64),
    /// No event starts after this many seconds.
    pub(crate) until: f64,
}

/// The processes the chaos plays with.
pub(crate) struct Cast {
    /// The Redis server.
    pub(crate) redis: Redis,
    /// The gateways.
    pub(crate) gateways: Vec<Gateway>,
}

/// The events so far, shared with the accounting.
pub(crate) type Log = Arc<Mutex<Vec<Event>>>;

/// Runs the chaos on its own thread until `stop` (no event starts after `pacing.until`);
/// returns the processes, still running, or the error that ended it early.
pub(crate) fn spawn(
    mut cast: Cast,
    mut rng: Rng,
    pacing: Pacing,
    start: Instant,
    stop: Arc<AtomicBool>,
    log: Log,
) -> std::thread::JoinHandle<anyhow::Result<Cast>> {
    std::thread::spawn(move || {
        let now = || start.elapsed().as_secs_f64();
        let sleep_until = |at: f64| {
            while now() < at {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                let left = (at - now()).clamp(0.0, 0.02);
                std::thread::sleep(Duration::from_secs_f64(left));
            }
            !stop.load(Ordering::Relaxed)
        };
        loop {
            let at = now() + rng.uniform(pacing.between.0, pacing.between.1);
            // One event in three kills Redis; the others one gateway or the other.
            let roll = rng.next_u64() % 3;
            let down = rng.uniform(pacing.down.0, pacing.down.1);
            if at >= pacing.until {
                // No more events: hold the processes until the soak is done with them.
                sleep_until(f64::INFINITY);
                return Ok(cast);
            }
            if !sleep_until(at) {
                return Ok(cast);
            }
            let target = match roll {
                0 => Target::Redis,
                n => Target::Gateway(n as usize),
            };
            let index = log.lock().expect("chaos log").len();
            log.lock().expect("chaos log").push(Event {
                target,
                killed_at: now(),
                ready_at: None,
            });
            match target {
                Target::Redis => cast.redis.kill(),
                Target::Gateway(n) => cast.gateways[n - 1].kill(),
            }
            std::thread::sleep(Duration::from_secs_f64(down));
            match target {
                Target::Redis => cast.redis.restart()?,
                Target::Gateway(n) => cast.gateways[n - 1].restart()?,
            }
            let ready_at = now();
            log.lock().expect("chaos log")[index].ready_at = Some(ready_at);
            let killed_at = log.lock().expect("chaos log")[index].killed_at;
            let name = match target {
                Target::Redis => "Redis".to_owned(),
                Target::Gateway(n) => format!("gateway {n}"),
            };
            eprintln!(
                "  {killed_at:6.1} s: {name} killed, answering again after {:.1} s",
                ready_at - killed_at
            );
        }
    })
}

/// Whether `at` falls within `slack` seconds of some event's outage.
pub(crate) fn near_event(events: &[Event], at: f64, slack: f64) -> bool {
    events.iter().any(|event| {
        let ready = event.ready_at.unwrap_or(f64::INFINITY);
        at >= event.killed_at - slack && at <= ready + slack
    })
}
