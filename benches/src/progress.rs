//! The live progress line on stderr: elapsed time, flows and requests a second over the last
//! second, and errors so far. Overwritten in place on a terminal, one line a second otherwise.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::stats::Live;

/// A running progress line; [`Progress::finish`] ends it.
pub(crate) struct Progress {
    task: Option<JoinHandle<()>>,
    terminal: bool,
}

impl Progress {
    /// Starts printing every second, unless `quiet`. `label` names the phase; `total` is the
    /// run's expected length, shown beside the elapsed time.
    pub(crate) fn start(
        live: Arc<Live>,
        label: &'static str,
        total: Duration,
        quiet: bool,
    ) -> Self {
        let terminal = std::io::stderr().is_terminal();
        if quiet {
            return Self {
                task: None,
                terminal,
            };
        }
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.tick().await;
            let (mut last_requests, mut last_flows) = (0, 0);
            loop {
                ticker.tick().await;
                let requests = live.requests.load(Ordering::Relaxed);
                let flows = live.flows.load(Ordering::Relaxed);
                let errors = live.errors.load(Ordering::Relaxed);
                let line = format!(
                    "[{label} {:>5.1}s/{:.0}s] {:>8} flows/s {:>8} req/s  {} flows  {} errors",
                    started.elapsed().as_secs_f64(),
                    total.as_secs_f64(),
                    flows - last_flows,
                    requests - last_requests,
                    flows,
                    errors
                );
                (last_requests, last_flows) = (requests, flows);
                let mut stderr = std::io::stderr().lock();
                if terminal {
                    let _ = write!(stderr, "\r{line}\x1b[K");
                } else {
                    let _ = writeln!(stderr, "{line}");
                }
                let _ = stderr.flush();
            }
        });
        Self {
            task: Some(task),
            terminal,
        }
    }

    /// Stops the line.
    pub(crate) fn finish(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            if self.terminal {
                eprintln!();
            }
        }
    }
}
