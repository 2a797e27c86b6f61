//! When a failed delivery is tried again: exponential backoff with jitter, at least what the
//! endpoint asked for in `Retry-After`, never past the mailbox's expiry.
//!
//! Attempt n (n ≥ 1 failures so far) waits `min(1 s · 2^(n-1), 60 s)`, plus up to 20 % random
//! jitter: 1, 2, 4, 8, 16, 32, 60, 60 … seconds. A `Retry-After` longer than that is honoured,
//! up to 300 s.

use std::time::Duration;

/// The first retry's delay.
const FIRST: Duration = Duration::from_secs(1);
/// The longest backoff step.
const MAX_STEP: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The delay before the next attempt, after `failures` failed attempts, given the endpoint's
/// `Retry-After` (seconds) and a jitter fraction in `[0, 1)`.
pub(crate) fn next_delay(failures: u32, retry_after: Option<u64>, jitter: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let step = FIRST.saturating_mul(1 << exponent).min(MAX_STEP);
    let step = step + step.mul_f64(0.2 * jitter.clamp(0.0, 1.0));
    let asked = Duration::from_secs(retry_after.unwrap_or(0)).min(MAX_RETRY_AFTER);
    step.max(asked)
}

/// A jitter fraction from the OS RNG.
pub(crate) fn random_jitter() -> f64 {
    f64::from(u16::from_le_bytes(sealgate_crypto::random_bytes::<2>())) / 65_536.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_honours_retry_after() {
        let secs = |failures| next_delay(failures, None, 0.0).as_secs();
        assert_eq!(
            [secs(1), secs(2), secs(3), secs(7), secs(20)],
            [1, 2, 4, 60, 60]
        );
        assert!(next_delay(1, None, 0.99) < Duration::from_millis(1200));
        assert_eq!(next_delay(1, Some(30), 0.0), Duration::from_secs(30));
        assert_eq!(next_delay(1, Some(10_000), 0.0), Duration::from_secs(300));
    }
}
