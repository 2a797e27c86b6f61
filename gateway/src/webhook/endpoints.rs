//! The endpoints this instance sends to: for each host, its sending slots (at most
//! `per_endpoint` attempts in flight) and its circuit breaker. Nothing here waits: a delivery
//! whose endpoint is full, or whose breaker is open, is told so at once and put back in the
//! queue, so that it never holds a place another client's delivery could use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::breaker::{Breaker, Transition, Verdict};

/// Past this many remembered endpoints, those with nothing in flight and nothing to remember
/// are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// One endpoint host: its slots and its breaker.
struct Endpoint {
    slots: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
}

/// Every endpoint host this instance has sent to lately.
pub(crate) struct Endpoints {
    by_host: Mutex<HashMap<String, Arc<Endpoint>>>,
    per_endpoint: usize,
}

/// Whether a delivery to an endpoint may be attempted now.
pub(crate) enum Admission {
    /// Yes, in this slot.
    Go(Slot),
    /// Every slot of the endpoint is taken; try again shortly.
    Busy {
        /// The endpoint's last attempts did not reach it (its slots may be held until their
        /// timeout): try again a little later.
        failing: bool,
    },
    /// The endpoint's breaker holds attempts back until `until_ms`.
    Held {
        /// When to look again.
        until_ms: u64,
        /// The breaker's change of state, if asking changed it.
        transition: Option<Transition>,
    },
}

/// A place among the endpoint's attempts in flight; dropping it frees it.
pub(crate) struct Slot {
    endpoint: Arc<Endpoint>,
    _permit: OwnedSemaphorePermit,
    probe: bool,
    reported: bool,
    /// The breaker's change of state when this slot was given, if any.
    pub(crate) transition: Option<Transition>,
}

impl Slot {
    /// Records how the attempt in this slot ended (`reached`: the endpoint answered) and
    /// returns the breaker's change of state, if any.
    pub(crate) fn report(&mut self, reached: bool, now_ms: u64) -> Option<Transition> {
        self.reported = true;
        self.endpoint
            .breaker
            .lock()
            .expect("breaker lock")
            .record(reached, now_ms)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            self.endpoint
                .breaker
                .lock()
                .expect("breaker lock")
                .abandon_probe();
        }
    }
}

impl Endpoints {
    /// No endpoint yet; each will have `per_endpoint` slots.
    pub(crate) fn new(per_endpoint: usize) -> Self {
        Self {
            by_host: Mutex::default(),
            per_endpoint: per_endpoint.max(1),
        }
    }

    /// Takes a slot for `url`'s host at `now_ms`, without waiting: an open breaker holds the
    /// delivery back; otherwise a free slot, then the breaker's leave (the half-open probe is
    /// given only with a slot to send it in).
    pub(crate) fn try_admit(&self, url: &str, now_ms: u64) -> Admission {
        let endpoint = self.endpoint(url);
        let mut breaker = endpoint.breaker.lock().expect("breaker lock");
        if let Some(until_ms) = breaker.open_until(now_ms) {
            return Admission::Held {
                until_ms,
                transition: None,
            };
        }
        let Ok(permit) = endpoint.slots.clone().try_acquire_owned() else {
            return Admission::Busy {
                failing: !breaker.is_idle(),
            };
        };
        let (verdict, transition) = breaker.admit(now_ms);
        drop(breaker);
        let probe = match verdict {
            Verdict::Send => false,
            Verdict::Probe => true,
            Verdict::Wait { until_ms } => {
                return Admission::Held {
                    until_ms,
                    transition,
                };
            }
        };
        Admission::Go(Slot {
            endpoint,
            _permit: permit,
            probe,
            reported: false,
            transition,
        })
    }

    fn endpoint(&self, url: &str) -> Arc<Endpoint> {
        let host = url
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let mut by_host = self.by_host.lock().expect("endpoint lock");
        if by_host.len() > PRUNE_ABOVE {
            by_host.retain(|_, endpoint| {
                Arc::strong_count(endpoint) > 1
                    || !endpoint.breaker.lock().expect("breaker lock").is_idle()
            });
        }
        by_host
            .entry(host)
            .or_insert_with(|| {
                Arc::new(Endpoint {
                    slots: Arc::new(Semaphore::new(self.per_endpoint)),
                    breaker: Mutex::default(),
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_endpoint_is_busy_at_once_and_others_are_not() {
        let endpoints = Endpoints::new(2);
        let url = "https://a.example/hook";
        let first = endpoints.try_admit(url, 0);
        let second = endpoints.try_admit("https://a.example/other", 0);
        assert!(matches!(
            (&first, &second),
            (Admission::Go(_), Admission::Go(_))
        ));
        assert!(matches!(
            endpoints.try_admit(url, 0),
            Admission::Busy { failing: false }
        ));
        assert!(matches!(
            endpoints.try_admit("https://b.example/hook", 0),
            Admission::Go(_)
        ));
        drop(first);
        assert!(matches!(endpoints.try_admit(url, 0), Admission::Go(_)));
    }

    #[test]
    fn failures_hold_the_endpoint_back_and_an_unsent_probe_is_given_up() {
        let endpoints = Endpoints::new(1);
        let url = "https://dead.example/hook";
        for now in 0..5 {
            let Admission::Go(mut slot) = endpoints.try_admit(url, now) else {
                panic!("closed: admitted");
            };
            let opened = slot.report(false, now);
            assert_eq!(opened.is_some(), now == 4);
        }
        let Admission::Held { until_ms, .. } = endpoints.try_admit(url, 10) else {
            panic!("open: held back");
        };
        assert_eq!(until_ms, 30_004);
        let Admission::Go(probe) = endpoints.try_admit(url, until_ms) else {
            panic!("half-open: a probe");
        };
        assert_eq!(probe.transition, Some(Transition::HalfOpened));
        drop(probe);
        let Admission::Go(mut probe) = endpoints.try_admit(url, until_ms + 1) else {
            panic!("the unsent probe was given up");
        };
        assert_eq!(probe.report(true, until_ms + 2), Some(Transition::Closed));
    }
}
