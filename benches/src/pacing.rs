//! When flows start: closed-loop (each worker starts its next flow as soon as the last one
//! ends) or open-loop (a fixed arrival schedule at `--rate`, shared by all workers, so that a
//! stalled server cannot slow the arrivals down and hide its stall: latency is measured from
//! the time a flow was due, not the time a free worker got to it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The run's schedule: a warm-up, then the measured window.
pub(crate) struct Pacer {
    started: Instant,
    measure_from: Instant,
    end: Instant,
    rate: Option<f64>,
    next: AtomicU64,
}

/// A flow the schedule lets start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    /// When the flow was due: its latency counts from here.
    pub(crate) intended: Instant,
    /// Whether it falls in the measured window (after the warm-up).
    pub(crate) measured: bool,
}

impl Pacer {
    /// A schedule starting now: `warmup` unmeasured, then `duration` measured; open-loop at
    /// `rate` flows a second when given.
    pub(crate) fn new(warmup: Duration, duration: Duration, rate: Option<f64>) -> Self {
        let started = Instant::now();
        Self {
            started,
            measure_from: started + warmup,
            end: started + warmup + duration,
            rate: rate.filter(|rate| *rate > 0.0),
            next: AtomicU64::new(0),
        }
    }

    /// The next flow, once it is due; `None` when the run is over.
    pub(crate) async fn next(&self) -> Option<Slot> {
        match self.rate {
            None => {
                let now = Instant::now();
                (now < self.end).then_some(Slot {
                    intended: now,
                    measured: now >= self.measure_from,
                })
            }
            Some(rate) => {
                let index = self.next.fetch_add(1, Ordering::Relaxed);
                let intended = self.started + Duration::from_secs_f64(index as f64 / rate);
                if intended >= self.end {
                    return None;
                }
                tokio::time::sleep_until(intended).await;
                Some(Slot {
                    intended,
                    measured: intended >= self.measure_from,
                })
            }
        }
    }

    /// Whether flows follow a fixed arrival schedule.
    pub(crate) fn open_loop(&self) -> bool {
        self.rate.is_some()
    }

    /// The length of the measured window.
    pub(crate) fn window(&self) -> Duration {
        self.end - self.measure_from
    }

    /// When the measured window starts.
    pub(crate) fn measure_from(&self) -> Instant {
        self.measure_from
    }

    /// When the last flow may start.
    pub(crate) fn end(&self) -> Instant {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn open_loop_keeps_the_schedule() {
        let pacer = Pacer::new(Duration::from_secs(1), Duration::from_secs(1), Some(10.0));
        let start = Instant::now();
        let mut slots = Vec::new();
        while let Some(slot) = pacer.next().await {
            slots.push(slot);
        }
        assert_eq!(slots.len(), 20);
        assert_eq!(slots.iter().filter(|s| s.measured).count(), 10);
        assert_eq!(slots[15].intended - start, Duration::from_millis(1500));
    }
}
