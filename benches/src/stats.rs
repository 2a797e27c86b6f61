//! What a run records: latencies in HdrHistograms (per worker, merged at the end), counts,
//! and errors by kind; plus the live counters the progress line reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// The longest latency a histogram holds, microseconds (longer ones are clamped).
const MAX_LATENCY_US: u64 = 300_000_000;

/// Why a request or a flow failed: the `errors` member counts these by [`Failure::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The TCP connection or the HTTP handshake failed.
    Connect,
    /// No complete response within the request's timeout.
    Timeout,
    /// The connection failed mid-request.
    Transport,
    /// An unexpected status code.
    Status(u16),
    /// A response body that is not what the API promises.
    Protocol,
    /// The app could not open the envelope, or its binding or plaintext was wrong.
    Crypto,
    /// A long-poll ended without the envelope (`202` after its wait).
    NotWoken,
}

impl Failure {
    /// The error kind as a JSON member name.
    pub(crate) fn label(self) -> String {
        match self {
            Failure::Connect => "connect".into(),
            Failure::Timeout => "timeout".into(),
            Failure::Transport => "transport".into(),
            Failure::Status(code) => format!("status_{code}"),
            Failure::Protocol => "protocol".into(),
            Failure::Crypto => "crypto".into(),
            Failure::NotWoken => "not_woken".into(),
        }
    }
}

/// Counters shared by every worker, read by the progress line.
#[derive(Default)]
pub(crate) struct Live {
    /// Requests completed (measured or not).
    pub(crate) requests: AtomicU64,
    /// Flows completed.
    pub(crate) flows: AtomicU64,
    /// Errors.
    pub(crate) errors: AtomicU64,
}

impl Live {
    /// Counts one request.
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts one flow.
    pub(crate) fn flow(&self) {
        self.flows.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts one error.
    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// One worker's measurements; merged into one at the end of a run.
pub(crate) struct Recorder {
    /// Request latencies, microseconds.
    pub(crate) requests: Histogram<u64>,
    /// Flow latencies, microseconds.
    pub(crate) flows: Histogram<u64>,
    /// A third latency a scenario names (long-poll wake-ups), microseconds.
    pub(crate) extra: Histogram<u64>,
    /// Open-loop only: how late each flow started against its schedule, microseconds.
    pub(crate) lag: Histogram<u64>,
    /// Measured requests that succeeded (long-polls included, which `requests` leaves out).
    pub(crate) completed_requests: u64,
    /// Errors by kind.
    pub(crate) errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

impl Recorder {
    /// An empty recorder.
    pub(crate) fn new() -> Self {
        Self {
            requests: histogram(),
            flows: histogram(),
            extra: histogram(),
            lag: histogram(),
            completed_requests: 0,
            errors: BTreeMap::new(),
        }
    }

    /// Records a request latency.
    pub(crate) fn request(&mut self, latency: Duration) {
        self.requests.saturating_record(micros(latency));
        self.completed_requests += 1;
    }

    /// Counts a request whose time is not a latency (a long-poll that waits for a deposit).
    pub(crate) fn untimed_request(&mut self) {
        self.completed_requests += 1;
    }

    /// Records how late a flow started against its schedule.
    pub(crate) fn lag(&mut self, lag: Duration) {
        self.lag.saturating_record(micros(lag));
    }

    /// Records a flow latency.
    pub(crate) fn flow(&mut self, latency: Duration) {
        self.flows.saturating_record(micros(latency));
    }

    /// Records a latency in the scenario's extra histogram.
    pub(crate) fn extra(&mut self, latency: Duration) {
        self.extra.saturating_record(micros(latency));
    }

    /// Counts an error.
    pub(crate) fn error(&mut self, failure: Failure) {
        *self.errors.entry(failure.label()).or_default() += 1;
    }

    /// Adds `other`'s measurements to these.
    pub(crate) fn merge(&mut self, other: &Recorder) {
        self.requests.add(&other.requests).expect("same bounds");
        self.flows.add(&other.flows).expect("same bounds");
        self.extra.add(&other.extra).expect("same bounds");
        self.lag.add(&other.lag).expect("same bounds");
        self.completed_requests += other.completed_requests;
        for (kind, count) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += count;
        }
    }

    /// Errors of every kind.
    pub(crate) fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_LATENCY_US)
}

/// The percentiles of a histogram of microseconds, in milliseconds: `p50`, `p90`, `p99`,
/// `p99.9`, `max`, `mean`, and the `count` of samples.
pub(crate) fn percentiles_ms(histogram: &Histogram<u64>) -> Value {
    let ms = |us: u64| round3(us as f64 / 1000.0);
    if histogram.is_empty() {
        return json!({ "count": 0 });
    }
    json!({
        "p50": ms(histogram.value_at_quantile(0.50)),
        "p90": ms(histogram.value_at_quantile(0.90)),
        "p99": ms(histogram.value_at_quantile(0.99)),
        "p99.9": ms(histogram.value_at_quantile(0.999)),
        "max": ms(histogram.max()),
        "mean": round3(histogram.mean() / 1000.0),
        "count": histogram.len(),
    })
}

/// Rounds to three decimals, for readable JSON.
pub(crate) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_reports() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for ms in 1..=100 {
            a.request(Duration::from_millis(ms));
        }
        b.request(Duration::from_secs(2));
        b.error(Failure::Status(503));
        b.error(Failure::Status(503));
        a.merge(&b);
        let p = percentiles_ms(&a.requests);
        assert_eq!(p["count"], 101);
        assert!((p["p50"].as_f64().unwrap() - 51.0).abs() < 0.1);
        assert!((p["max"].as_f64().unwrap() - 2000.0).abs() < 2.0);
        assert_eq!(a.errors["status_503"], 2);
        assert_eq!(a.error_total(), 2);
    }
}
