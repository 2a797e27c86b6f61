//! Retrying a request to the gateway: exponential backoff with jitter, at least what the
//! gateway asked for in `Retry-After`, never past the sign-in's expiry.
//!
//! After `n` failures in a row the next attempt waits `min(first · 2^(n-1), max_step)` plus up
//! to 25 % random jitter (so that many clients do not retry in step), or the `Retry-After` the
//! gateway sent if that is longer. [`delay`] is the pure rule, with the randomness passed in;
//! [`retry`] is the loop the app's long-poll and the phone's deposit share.

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::http::now_secs;

/// The largest jitter, as a fraction of the backoff step.
const MAX_JITTER: f64 = 0.25;

/// How a caller backs off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// The step after the first failure.
    pub(crate) first: Duration,
    /// The longest step (before jitter).
    pub(crate) max_step: Duration,
    /// The most failures in a row before giving up with the last one's error; `None`: keep
    /// trying until the deadline.
    pub(crate) max_failures: Option<u32>,
}

/// What one attempt came to.
pub(crate) enum Attempt<T> {
    /// Finished, successfully or not: stop with this.
    Done(Result<T>),
    /// Not there yet, and nothing failed (a long-poll that ended empty): try again after
    /// `pause`, with the backoff starting afresh.
    Again {
        /// What the gateway asked to wait.
        pause: Duration,
    },
    /// Failed in a way that is safe to retry (a connection failure, 429, 503).
    Failed {
        /// The gateway's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
        /// What the caller gets if no attempt is left.
        error: Error,
    },
}

/// The wait before the next attempt after `failures` (≥ 1) failures in a row, given the
/// gateway's `Retry-After` and a jitter fraction in `[0, 1)`.
pub(crate) fn delay(
    backoff: &Backoff,
    failures: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let step = backoff
        .first
        .saturating_mul(1 << exponent)
        .min(backoff.max_step);
    let step = step + step.mul_f64(MAX_JITTER * jitter.clamp(0.0, 1.0));
    step.max(retry_after.unwrap_or(Duration::ZERO))
}

/// Reads a `Retry-After` value (RFC 9110 §10.2.3) as the wait from `now`: delta-seconds
/// (`120`) or an HTTP-date in any of the three forms a recipient must accept (IMF-fixdate,
/// RFC 850, asctime). A date already past is no wait; anything else unreadable is `None`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate rather than refuse an absurdly long delta; the deadline caps the wait anyway.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A jitter fraction in `[0, 1)` from the OS RNG.
fn random_jitter() -> f64 {
    f64::from(u16::from_le_bytes(sealgate_crypto::random_bytes::<2>())) / 65_536.0
}

/// Runs `attempt` until it is [`Attempt::Done`], waiting between attempts as [`delay`] says,
/// never past `deadline` (seconds since the epoch): at the deadline, [`Error::Expired`].
/// `what` names the request in debug logs.
pub(crate) async fn retry<T, F, Fut>(
    what: &str,
    backoff: &Backoff,
    deadline: u64,
    mut attempt: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut failures = 0;
    loop {
        if now_secs() >= deadline {
            return Err(Error::Expired);
        }
        let pause = match attempt().await {
            Attempt::Done(result) => return result,
            Attempt::Again { pause } => {
                failures = 0;
                pause
            }
            Attempt::Failed { retry_after, error } => {
                failures += 1;
                if backoff.max_failures.is_some_and(|max| failures >= max) {
                    return Err(error);
                }
                let pause = delay(backoff, failures, retry_after, random_jitter());
                tracing::debug!(%error, failures, ?pause, "{what} failed; retrying");
                pause
            }
        };
        let left = Duration::from_secs(deadline.saturating_sub(now_secs()));
        tokio::time::sleep(pause.min(left)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLL: Backoff = Backoff {
        first: Duration::from_millis(250),
        max_step: Duration::from_secs(5),
        max_failures: None,
    };

    #[test]
    fn doubles_caps_jitters_and_honours_retry_after() {
        let ms = Duration::from_millis;
        // (failures, Retry-After, jitter) → delay
        let table = [
            (1, None, 0.0, ms(250)),
            (2, None, 0.0, ms(500)),
            (3, None, 0.0, ms(1000)),
            (5, None, 0.0, ms(4000)),
            (6, None, 0.0, ms(5000)),
            (40, None, 0.0, ms(5000)),
            (1, None, 0.5, ms(281) + Duration::from_micros(250)),
            (6, None, 0.75, ms(5937) + Duration::from_micros(500)),
            (1, None, 7.0, ms(312) + Duration::from_micros(500)),
            (1, Some(Duration::from_secs(1)), 0.0, ms(1000)),
            (6, Some(Duration::from_secs(1)), 0.0, ms(5000)),
            (1, Some(Duration::ZERO), 0.0, ms(250)),
        ];
        for (failures, retry_after, jitter, expected) in table {
            assert_eq!(
                delay(&POLL, failures, retry_after, jitter),
                expected,
                "failures {failures}, Retry-After {retry_after:?}, jitter {jitter}"
            );
        }
    }

    #[test]
    fn retry_after_in_both_forms() {
        // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's own example date.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let secs = |s: u64| Some(Duration::from_secs(s));
        let table = [
            ("0", secs(0)),
            ("120", secs(120)),
            (" 7 ", secs(7)),
            ("99999999999999999999999", secs(u64::MAX)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", secs(0)),
            ("Sun, 06 Nov 1994 08:51:37 GMT", secs(120)),
            ("Mon, 07 Nov 1994 08:49:37 GMT", secs(86_400)),
            ("Sunday, 06-Nov-94 08:50:37 GMT", secs(60)),
            ("Sun Nov  6 08:49:47 1994", secs(10)),
            ("Sat, 05 Nov 1994 08:49:37 GMT", secs(0)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("Sun, 06 Nov 1994 08:49:37 PST", None),
            ("Sun, 31 Feb 1994 08:49:37 GMT", None),
        ];
        for (value, expected) in table {
            assert_eq!(
                parse_retry_after(value, now),
                expected,
                "Retry-After {value:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_failures_until_done_and_gives_up_after_the_most_failures() {
        let deadline = now_secs() + 3600;
        let mut calls = 0;
        let outcome = retry("test", &POLL, deadline, || {
            calls += 1;
            let attempt = match calls {
                1 => Attempt::Again {
                    pause: Duration::from_secs(1),
                },
                2 | 3 => Attempt::Failed {
                    retry_after: None,
                    error: Error::Transport("refused".into()),
                },
                _ => Attempt::Done(Ok(calls)),
            };
            async move { attempt }
        })
        .await;
        assert_eq!(outcome.unwrap(), 4);

        let phone = Backoff {
            max_failures: Some(3),
            ..POLL
        };
        let mut calls = 0;
        let outcome: Result<()> = retry("test", &phone, deadline, || {
            calls += 1;
            let error = Error::Transport(format!("refused {calls}"));
            async move {
                Attempt::Failed {
                    retry_after: Some(Duration::from_secs(2)),
                    error,
                }
            }
        })
        .await;
        assert!(matches!(outcome, Err(Error::Transport(reason)) if reason == "refused 3"));
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_deadline() {
        let outcome: Result<()> = retry("test", &POLL, now_secs(), || async {
            Attempt::Done(Ok(()))
        })
        .await;
        assert!(matches!(outcome, Err(Error::Expired)));
    }

    #[test]
    fn random_jitter_is_a_fraction() {
        for _ in 0..100 {
            assert!((0.0..1.0).contains(&random_jitter()));
        }
    }
}
