//! The per-endpoint circuit breaker, as a pure state machine: after repeated timeouts or
//! connection errors an endpoint gets no attempt for a while, then one probe decides.
//!
//! Closed: attempts go out; [`FAILURES_TO_OPEN`] consecutive unreachable attempts open it.
//! Open: no attempt until the period ends (30 s the first time, doubling each time a probe
//! fails, up to [`MAX_OPEN`]). Half-open: one probe goes out, the other deliveries wait; an
//! answer (any status: the endpoint is there) closes it and resets the period, another
//! failure opens it again. Times are milliseconds on the caller's clock.

use std::time::Duration;

/// Consecutive unreachable attempts (timeouts, connection errors) that open the breaker.
pub(crate) const FAILURES_TO_OPEN: u32 = 5;
/// How long the breaker stays open the first time.
pub(crate) const FIRST_OPEN: Duration = Duration::from_secs(30);
/// The longest the breaker stays open.
pub(crate) const MAX_OPEN: Duration = Duration::from_secs(300);
/// How long a probe may stay unreported before another one is let through (an attempt's
/// timeout, with room for the store's work around it).
pub(crate) const PROBE_DEADLINE: Duration = Duration::from_secs(15);
/// How soon a delivery that found a probe in flight looks again.
pub(crate) const PROBE_RETRY: Duration = Duration::from_secs(1);

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Attempts go out; `failures` consecutive unreachable attempts so far.
    Closed {
        /// Consecutive unreachable attempts.
        failures: u32,
    },
    /// No attempt until `until_ms`; `period_ms` is how long this opening lasts.
    Open {
        /// When it half-opens.
        until_ms: u64,
        /// This opening's length, doubled for the next.
        period_ms: u64,
    },
    /// One probe may go out; `probe_until_ms` is set while one is in flight.
    HalfOpen {
        /// When the probe in flight is given up, if one is.
        probe_until_ms: Option<u64>,
        /// The last opening's length.
        period_ms: u64,
    },
}

/// What a delivery to the endpoint may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Send as usual.
    Send,
    /// Send: this attempt is the half-open probe; report its result.
    Probe,
    /// Do not connect; try again at `until_ms`.
    Wait {
        /// When to look again.
        until_ms: u64,
    },
}

/// A change of state, for the transitions metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Closed or half-open to open.
    Opened,
    /// Open to half-open.
    HalfOpened,
    /// Half-open (or open) to closed.
    Closed,
}

impl Transition {
    /// The bounded label for the transitions metric.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Transition::Opened => "open",
            Transition::HalfOpened => "half_open",
            Transition::Closed => "closed",
        }
    }
}

/// One endpoint's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Breaker {
    state: State,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: State::Closed { failures: 0 },
        }
    }
}

impl Breaker {
    /// Closed with no failure counted: nothing worth remembering.
    pub(crate) fn is_idle(&self) -> bool {
        self.state == State::Closed { failures: 0 }
    }

    /// When it half-opens, if it is open at `now_ms`.
    pub(crate) fn open_until(&self, now_ms: u64) -> Option<u64> {
        match self.state {
            State::Open { until_ms, .. } if now_ms < until_ms => Some(until_ms),
            _ => None,
        }
    }

    /// Whether an attempt may go out at `now_ms`, and the change of state that decides it.
    pub(crate) fn admit(&mut self, now_ms: u64) -> (Verdict, Option<Transition>) {
        match self.state {
            State::Closed { .. } => (Verdict::Send, None),
            State::Open { until_ms, .. } if now_ms < until_ms => (Verdict::Wait { until_ms }, None),
            State::Open { period_ms, .. } => {
                self.state = State::HalfOpen {
                    probe_until_ms: Some(now_ms + PROBE_DEADLINE.as_millis() as u64),
                    period_ms,
                };
                (Verdict::Probe, Some(Transition::HalfOpened))
            }
            State::HalfOpen {
                probe_until_ms: Some(probe_until_ms),
                ..
            } if now_ms < probe_until_ms => {
                let until_ms = (now_ms + PROBE_RETRY.as_millis() as u64).min(probe_until_ms);
                (Verdict::Wait { until_ms }, None)
            }
            State::HalfOpen { period_ms, .. } => {
                self.state = State::HalfOpen {
                    probe_until_ms: Some(now_ms + PROBE_DEADLINE.as_millis() as u64),
                    period_ms,
                };
                (Verdict::Probe, None)
            }
        }
    }

    /// Records how an attempt ended: `reached` when the endpoint answered (any status),
    /// not when it timed out or could not be connected to.
    pub(crate) fn record(&mut self, reached: bool, now_ms: u64) -> Option<Transition> {
        match (self.state, reached) {
            (State::Closed { .. }, true) => {
                self.state = State::Closed { failures: 0 };
                None
            }
            (State::Closed { failures }, false) if failures + 1 < FAILURES_TO_OPEN => {
                self.state = State::Closed {
                    failures: failures + 1,
                };
                None
            }
            (State::Closed { .. }, false) => Some(self.open(now_ms, FIRST_OPEN.as_millis() as u64)),
            (State::Open { .. } | State::HalfOpen { .. }, true) => {
                self.state = State::Closed { failures: 0 };
                Some(Transition::Closed)
            }
            // A late failure of an attempt sent before the breaker opened changes nothing.
            (State::Open { .. }, false) => None,
            (State::HalfOpen { period_ms, .. }, false) => {
                let doubled = period_ms.saturating_mul(2);
                Some(self.open(now_ms, doubled.min(MAX_OPEN.as_millis() as u64)))
            }
        }
    }

    /// The probe let through was never sent (its envelope was busy or gone): let the next
    /// delivery probe.
    pub(crate) fn abandon_probe(&mut self) {
        if let State::HalfOpen { period_ms, .. } = self.state {
            self.state = State::HalfOpen {
                probe_until_ms: None,
                period_ms,
            };
        }
    }

    fn open(&mut self, now_ms: u64, period_ms: u64) -> Transition {
        self.state = State::Open {
            until_ms: now_ms + period_ms,
            period_ms,
        };
        Transition::Opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a scenario: at `at_ms`, either ask to send (`None`) or report a result.
    struct Row {
        at_ms: u64,
        report: Option<bool>,
        verdict: Option<Verdict>,
        transition: Option<Transition>,
        then: State,
    }

    const fn ask(at_ms: u64, verdict: Verdict, transition: Option<Transition>, then: State) -> Row {
        Row {
            at_ms,
            report: None,
            verdict: Some(verdict),
            transition,
            then,
        }
    }

    const fn report(at_ms: u64, reached: bool, transition: Option<Transition>, then: State) -> Row {
        Row {
            at_ms,
            report: Some(reached),
            verdict: None,
            transition,
            then,
        }
    }

    const fn closed(failures: u32) -> State {
        State::Closed { failures }
    }

    const fn open(until_ms: u64, period_ms: u64) -> State {
        State::Open {
            until_ms,
            period_ms,
        }
    }

    const fn half_open(probe_until_ms: Option<u64>, period_ms: u64) -> State {
        State::HalfOpen {
            probe_until_ms,
            period_ms,
        }
    }

    /// Five unreachable attempts at `at_ms`, from closed with no failure: the fifth opens it
    /// for the first period.
    fn five_failures(at_ms: u64) -> Vec<Row> {
        let mut rows: Vec<Row> = (1..FAILURES_TO_OPEN)
            .map(|failures| report(at_ms, false, None, closed(failures)))
            .collect();
        rows.push(report(
            at_ms,
            false,
            Some(Opened),
            open(at_ms + 30_000, 30_000),
        ));
        rows
    }

    fn run(rows: &[Row]) {
        let mut breaker = Breaker::default();
        for (index, row) in rows.iter().enumerate() {
            let transition = match row.report {
                Some(reached) => breaker.record(reached, row.at_ms),
                None => {
                    let (verdict, transition) = breaker.admit(row.at_ms);
                    assert_eq!(Some(verdict), row.verdict, "row {index}: verdict");
                    transition
                }
            };
            assert_eq!(transition, row.transition, "row {index}: transition");
            assert_eq!(breaker.state, row.then, "row {index}: state");
        }
    }

    use Transition::{Closed, HalfOpened, Opened};
    use Verdict::{Probe, Send, Wait};

    #[test]
    fn opens_after_five_consecutive_failures_and_an_answer_resets_the_count() {
        run(&[
            ask(0, Send, None, closed(0)),
            report(0, false, None, closed(1)),
            report(0, false, None, closed(2)),
            report(0, true, None, closed(0)),
            report(1, false, None, closed(1)),
            report(2, false, None, closed(2)),
            report(3, false, None, closed(3)),
            report(4, false, None, closed(4)),
            report(5, false, Some(Opened), open(30_005, 30_000)),
            ask(6, Wait { until_ms: 30_005 }, None, open(30_005, 30_000)),
            ask(
                30_004,
                Wait { until_ms: 30_005 },
                None,
                open(30_005, 30_000),
            ),
            // An attempt sent before it opened fails late: nothing changes.
            report(7, false, None, open(30_005, 30_000)),
        ]);
    }

    #[test]
    fn half_opens_for_one_probe_and_doubles_up_to_the_cap_while_probes_fail() {
        let mut rows = five_failures(0);
        rows.extend([
            ask(
                30_000,
                Probe,
                Some(HalfOpened),
                half_open(Some(45_000), 30_000),
            ),
            // Others wait a little while the probe is out, never past its deadline.
            ask(
                30_001,
                Wait { until_ms: 31_001 },
                None,
                half_open(Some(45_000), 30_000),
            ),
            ask(
                44_500,
                Wait { until_ms: 45_000 },
                None,
                half_open(Some(45_000), 30_000),
            ),
            report(40_000, false, Some(Opened), open(100_000, 60_000)),
            ask(
                100_000,
                Probe,
                Some(HalfOpened),
                half_open(Some(115_000), 60_000),
            ),
            report(110_000, false, Some(Opened), open(230_000, 120_000)),
            ask(
                230_000,
                Probe,
                Some(HalfOpened),
                half_open(Some(245_000), 120_000),
            ),
            report(240_000, false, Some(Opened), open(480_000, 240_000)),
            ask(
                480_000,
                Probe,
                Some(HalfOpened),
                half_open(Some(495_000), 240_000),
            ),
            report(490_000, false, Some(Opened), open(790_000, 300_000)),
            ask(
                790_000,
                Probe,
                Some(HalfOpened),
                half_open(Some(805_000), 300_000),
            ),
            // A probe never reported: after its deadline, the next delivery probes.
            ask(805_000, Probe, None, half_open(Some(820_000), 300_000)),
            // Any answer closes it, and the next opening is the first one's length again.
            report(806_000, true, Some(Closed), closed(0)),
            ask(806_001, Send, None, closed(0)),
        ]);
        rows.extend(five_failures(807_000));
        run(&rows);
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_delivery_probe() {
        let mut breaker = Breaker {
            state: open(10, 30_000),
        };
        assert_eq!(breaker.admit(10), (Probe, Some(HalfOpened)));
        assert!(matches!(breaker.admit(11), (Wait { .. }, None)));
        breaker.abandon_probe();
        assert_eq!(breaker.admit(12), (Probe, None));
        assert!(!breaker.is_idle());
        assert!(Breaker::default().is_idle());
        let open_breaker = Breaker {
            state: open(10, 30_000),
        };
        assert_eq!(open_breaker.open_until(9), Some(10));
        assert_eq!(open_breaker.open_until(10), None);
        assert_eq!(Breaker::default().open_until(0), None);
    }
}
