//! Rate limits (token buckets per key) and concurrency caps, in this process.
//!
//! With several instances each enforces its own limits; a load balancer's own limits or a
//! smaller per-instance rate give a global bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most keys a limiter tracks before it drops idle ones.
const MAX_TRACKED_KEYS: usize = 100_000;

/// Token buckets, one per key: `rate` tokens a second, at most `burst` saved up.
pub(crate) struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// A limiter; a `rate` of 0 lets everything through.
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// A limiter of `rate` tokens a minute; a `rate` of 0 lets everything through.
    pub(crate) fn per_minute(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate) / 60.0,
            ..Self::new(rate, burst)
        }
    }

    /// Takes one token for `key`; when none is left, how long until one is.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("limiter lock");
        if buckets.len() >= MAX_TRACKED_KEYS && !buckets.contains_key(key) {
            let full_after = Duration::from_secs_f64(self.burst / self.rate);
            buckets.retain(|_, bucket| now.duration_since(bucket.updated) < full_after);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// Counts concurrent holders per key, up to a cap.
pub(crate) struct ConcurrencyCap<K> {
    max: usize,
    held: Mutex<HashMap<K, usize>>,
}

impl<K: Eq + Hash + Clone> ConcurrencyCap<K> {
    /// A cap of `max` per key.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            held: Mutex::default(),
        }
    }

    /// Takes a slot for `key`, or `None` when the key holds `max` already.
    pub(crate) fn acquire(&self, key: &K) -> Option<CapPermit<'_, K>> {
        let mut held = self.held.lock().expect("cap lock");
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(CapPermit {
            cap: self,
            key: key.clone(),
        })
    }
}

/// A held slot; dropping it frees the slot.
pub(crate) struct CapPermit<'a, K: Eq + Hash + Clone> {
    cap: &'a ConcurrencyCap<K>,
    key: K,
}

impl<K: Eq + Hash + Clone> Drop for CapPermit<'_, K> {
    fn drop(&mut self) {
        let mut held = self.cap.held.lock().expect("cap lock");
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_rate() {
        let limiter = RateLimiter::new(2, 2);
        let start = Instant::now();
        assert!(limiter.check_at(&"ip", start).is_ok());
        assert!(limiter.check_at(&"ip", start).is_ok());
        let wait = limiter.check_at(&"ip", start).unwrap_err();
        assert!(wait <= Duration::from_millis(500) && wait > Duration::ZERO);
        assert!(limiter.check_at(&"other", start).is_ok());
        assert!(
            limiter
                .check_at(&"ip", start + Duration::from_millis(500))
                .is_ok()
        );
    }

    #[test]
    fn per_minute_refills_slowly() {
        let limiter = RateLimiter::per_minute(6, 1);
        let start = Instant::now();
        assert!(limiter.check_at(&"ip", start).is_ok());
        let wait = limiter.check_at(&"ip", start).unwrap_err();
        assert!(wait > Duration::from_secs(9) && wait <= Duration::from_secs(10));
        assert!(
            limiter
                .check_at(&"ip", start + Duration::from_secs(10))
                .is_ok()
        );
        assert!(RateLimiter::per_minute(0, 1).check_at(&"ip", start).is_ok());
    }

    #[test]
    fn cap_frees_on_drop() {
        let cap = ConcurrencyCap::new(1);
        let permit = cap.acquire(&"c").unwrap();
        assert!(cap.acquire(&"c").is_none());
        drop(permit);
        assert!(cap.acquire(&"c").is_some());
    }
}
