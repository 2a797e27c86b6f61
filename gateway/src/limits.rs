//! Rate limits (token buckets per key) and concurrency caps, in this process.
//!
//! With several instances each enforces its own limits; a load balancer's own limits or a
//! smaller per-instance rate give a global bound.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most keys a limiter tracks; past it, idle keys are dropped, then arbitrary ones.
const MAX_TRACKED_KEYS: usize = 100_000;
/// Shards of a limiter's table: a request locks one shard, never the whole table.
const SHARDS: usize = 64;
/// The most keys one shard tracks.
const MAX_KEYS_PER_SHARD: usize = MAX_TRACKED_KEYS / SHARDS;
/// How often a full shard may be swept for idle keys: the sweep's cost (one pass over at most
/// [`MAX_KEYS_PER_SHARD`] keys) is spread over the requests of a second.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The key of a client address in limits: an IPv4 address (IPv4-mapped IPv6 included) as
/// it is, an IPv6 address cut to its first `ipv6_prefix` bits (one subscriber's /64 counts
/// as one client, not 2^64).
pub(crate) fn rate_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
    }
}

/// Token buckets, one per key: `rate` tokens a second, at most `burst` saved up. The table is
/// sharded and bounded: each check locks one shard and does constant work (amortised).
pub(crate) struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    shards: Vec<Mutex<Shard<K>>>,
}

struct Shard<K> {
    buckets: HashMap<K, Bucket>,
    swept: Option<Instant>,
}

impl<K> Default for Shard<K> {
    fn default() -> Self {
        Self {
            buckets: HashMap::new(),
            swept: None,
        }
    }
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
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
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
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let shard = &self.shards[hasher.finish() as usize % SHARDS];
        let mut shard = shard.lock().expect("limiter lock");
        if shard.buckets.len() >= MAX_KEYS_PER_SHARD && !shard.buckets.contains_key(key) {
            self.make_room(&mut shard, now);
        }
        let bucket = shard.buckets.entry(key.clone()).or_insert(Bucket {
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

    /// Frees a place in a full shard: drops the keys whose bucket is full again (at most once
    /// per [`SWEEP_INTERVAL`]), else one arbitrary key (its client starts with a full bucket:
    /// only a flood of fresh keys, each with its own full bucket anyway, makes this happen).
    fn make_room(&self, shard: &mut Shard<K>, now: Instant) {
        if shard
            .swept
            .is_none_or(|swept| now.duration_since(swept) >= SWEEP_INTERVAL)
        {
            let full_after = Duration::from_secs_f64(self.burst / self.rate);
            shard
                .buckets
                .retain(|_, bucket| now.duration_since(bucket.updated) < full_after);
            shard.swept = Some(now);
        }
        if shard.buckets.len() >= MAX_KEYS_PER_SHARD {
            let victim = shard.buckets.keys().next().cloned();
            if let Some(victim) = victim {
                shard.buckets.remove(&victim);
            }
        }
    }

    /// How many keys the limiter tracks now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().expect("limiter lock").buckets.len())
            .sum()
    }
}

/// A [`RateLimiter`] of client addresses, keyed by [`rate_key`].
pub(crate) struct IpRateLimiter {
    limiter: RateLimiter<IpAddr>,
    ipv6_prefix: u8,
}

impl IpRateLimiter {
    /// Wraps `limiter`, cutting IPv6 addresses to `ipv6_prefix` bits.
    pub(crate) fn new(limiter: RateLimiter<IpAddr>, ipv6_prefix: u8) -> Self {
        Self {
            limiter,
            ipv6_prefix,
        }
    }

    /// Takes one token for the address's key; when none is left, how long until one is.
    pub(crate) fn check(&self, ip: &IpAddr) -> Result<(), Duration> {
        self.limiter.check(&rate_key(*ip, self.ipv6_prefix))
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
    fn ipv6_is_keyed_by_its_prefix() {
        let key = |ip: &str, prefix| rate_key(ip.parse().unwrap(), prefix).to_string();
        let cases = [
            ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::"),
            ("2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::"),
            ("2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::"),
            ("2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"),
            ("2001:db8:1:2:3:4:5:6", 0, "::"),
            ("2001:db8:1:2:3:4:5:6", 200, "2001:db8:1:2:3:4:5:6"),
            ("::ffff:192.0.2.7", 64, "192.0.2.7"),
            ("192.0.2.7", 64, "192.0.2.7"),
        ];
        for (ip, prefix, expected) in cases {
            assert_eq!(key(ip, prefix), expected, "{ip}/{prefix}");
        }
        let limiter = IpRateLimiter::new(RateLimiter::new(1, 1), 64);
        assert!(limiter.check(&"2001:db8::1".parse().unwrap()).is_ok());
        assert!(limiter.check(&"2001:db8::2".parse().unwrap()).is_err());
        assert!(limiter.check(&"2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    /// A flood of fresh keys never grows the table past its bound, and keys in use keep
    /// their (emptied) buckets while the idle ones go first.
    #[test]
    fn the_table_stays_bounded() {
        let limiter = RateLimiter::new(1, 1);
        let start = Instant::now();
        for key in 0..(MAX_TRACKED_KEYS as u64 + 20_000) {
            let _ = limiter.check_at(&key, start);
        }
        assert!(limiter.tracked() <= MAX_TRACKED_KEYS);
        assert!(limiter.tracked() >= MAX_TRACKED_KEYS - SHARDS);
        let later = start + Duration::from_secs(5);
        assert!(limiter.check_at(&u64::MAX, later).is_ok());
        assert!(limiter.check_at(&u64::MAX, later).is_err());
        for key in 0..50_000u64 {
            let _ = limiter.check_at(&(key + 1_000_000), later);
        }
        assert!(limiter.tracked() <= MAX_TRACKED_KEYS);
        assert!(
            limiter.check_at(&u64::MAX, later).is_err(),
            "a recent key was dropped"
        );
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
