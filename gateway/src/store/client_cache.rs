//! The short in-process cache of client records that authentication reads, so that an
//! authenticated request on a shared store costs no round trip for the client record.
//!
//! Bounded by age ([`CLIENT_CACHE_MAX_AGE`]) and by count ([`CLIENT_CACHE_CAPACITY`]). A change
//! to a client anywhere drops its entry everywhere: the writing instance drops it at once, the
//! others when the store's invalidation message reaches them; when that channel is down, or
//! was, every entry is dropped. So a rotated secret or a deleted client is refused on every
//! instance at most [`CLIENT_CACHE_MAX_AGE`] after the change, and in practice after one
//! pub/sub hop. Unknown client ids are not cached: a flood of made-up ids fills nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ClientRecord;
use crate::clock::Clock;

/// The oldest a cached client record may be when it authenticates a request.
pub const CLIENT_CACHE_MAX_AGE: Duration = Duration::from_secs(5);

/// The most client records cached; past it, expired entries are dropped, and if none had
/// expired the record is served uncached.
pub(crate) const CLIENT_CACHE_CAPACITY: usize = 10_000;

/// Client records by id, each with the time it was read.
pub(crate) struct ClientCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped by every invalidation: a read that started before one is not cached, since the
    /// record it fetched may predate the change.
    generation: AtomicU64,
    clock: Arc<dyn Clock>,
    max_age_ms: u64,
    capacity: usize,
}

struct Entry {
    record: ClientRecord,
    read_at_ms: u64,
}

/// A read in progress: what [`ClientCache::put`] needs to tell whether an invalidation came
/// in between.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadTicket {
    generation: u64,
    started_at_ms: u64,
}

impl ClientCache {
    /// An empty cache with the default bounds.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_bounds(clock, CLIENT_CACHE_MAX_AGE, CLIENT_CACHE_CAPACITY)
    }

    /// An empty cache holding at most `capacity` records, each for at most `max_age`.
    pub(crate) fn with_bounds(clock: Arc<dyn Clock>, max_age: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
            clock,
            max_age_ms: u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX),
            capacity,
        }
    }

    /// The cached record of `client_id`, if it is young enough.
    pub(crate) fn get(&self, client_id: &str) -> Option<ClientRecord> {
        let now = self.clock.now_ms();
        let entries = self.entries.lock().expect("client cache lock");
        let entry = entries.get(client_id)?;
        (now.saturating_sub(entry.read_at_ms) < self.max_age_ms).then(|| entry.record.clone())
    }

    /// Call before reading a record from the store, and hand the ticket to [`Self::put`].
    pub(crate) fn ticket(&self) -> ReadTicket {
        ReadTicket {
            generation: self.generation.load(Ordering::Acquire),
            started_at_ms: self.clock.now_ms(),
        }
    }

    /// Caches `record`, read under `ticket`, unless an invalidation came since the ticket.
    pub(crate) fn put(&self, ticket: ReadTicket, record: &ClientRecord) {
        let mut entries = self.entries.lock().expect("client cache lock");
        // Checked under the lock that `invalidate` takes too, so none slips between.
        if self.generation.load(Ordering::Acquire) != ticket.generation {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&record.client_id) {
            let now = self.clock.now_ms();
            entries.retain(|_, entry| now.saturating_sub(entry.read_at_ms) < self.max_age_ms);
            if entries.len() >= self.capacity {
                return;
            }
        }
        entries.insert(
            record.client_id.clone(),
            Entry {
                record: record.clone(),
                read_at_ms: ticket.started_at_ms,
            },
        );
    }

    /// Drops `client_id`'s entry: it changed, here or on another instance.
    pub(crate) fn invalidate(&self, client_id: &str) {
        let mut entries = self.entries.lock().expect("client cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(client_id);
    }

    /// Drops every entry: invalidations may have been missed.
    pub(crate) fn clear(&self) {
        let mut entries = self.entries.lock().expect("client cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// How many records are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().expect("client cache lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate_crypto::{Algorithm, Jwks, PrivateKey};

    /// A clock the test moves by hand.
    struct ManualClock(AtomicU64);

    impl ManualClock {
        fn new(start_ms: u64) -> Arc<Self> {
            Arc::new(Self(AtomicU64::new(start_ms)))
        }

        fn advance(&self, by: Duration) {
            self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn record(id: &str) -> ClientRecord {
        let key = PrivateKey::generate(Algorithm::Hpke4).public_key().clone();
        ClientRecord {
            client_id: id.into(),
            name: "n".into(),
            secret_hash: "h".into(),
            jwks: Jwks::new(vec![key]).unwrap(),
            created_at: 0,
            revision: 1,
            webhook: None,
        }
    }

    fn cache(clock: &Arc<ManualClock>, capacity: usize) -> ClientCache {
        ClientCache::with_bounds(clock.clone(), Duration::from_secs(5), capacity)
    }

    #[test]
    fn a_record_is_served_until_it_is_too_old() {
        let clock = ManualClock::new(1_000_000);
        let cache = cache(&clock, 10);
        cache.put(cache.ticket(), &record("a"));
        assert_eq!(cache.get("a").unwrap().client_id, "a");
        clock.advance(Duration::from_millis(4_999));
        assert!(cache.get("a").is_some());
        clock.advance(Duration::from_millis(1));
        assert!(cache.get("a").is_none(), "5 s old is too old");
    }

    #[test]
    fn the_age_counts_from_when_the_read_started() {
        let clock = ManualClock::new(1_000_000);
        let cache = cache(&clock, 10);
        let ticket = cache.ticket();
        clock.advance(Duration::from_secs(3));
        cache.put(ticket, &record("a"));
        clock.advance(Duration::from_secs(2));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn an_invalidation_during_a_read_keeps_the_read_out() {
        let clock = ManualClock::new(1_000_000);
        let cache = cache(&clock, 10);
        let ticket = cache.ticket();
        cache.invalidate("a");
        cache.put(ticket, &record("a"));
        assert!(cache.get("a").is_none());
        cache.put(cache.ticket(), &record("a"));
        assert!(cache.get("a").is_some());
        cache.invalidate("a");
        assert!(cache.get("a").is_none());
        cache.put(cache.ticket(), &record("b"));
        cache.clear();
        assert!(cache.get("b").is_none());
    }

    #[test]
    fn a_full_cache_makes_room_from_expired_entries_only() {
        let clock = ManualClock::new(1_000_000);
        let cache = cache(&clock, 2);
        cache.put(cache.ticket(), &record("a"));
        cache.put(cache.ticket(), &record("b"));
        cache.put(cache.ticket(), &record("c"));
        assert!(
            cache.get("c").is_none(),
            "full of live entries: served uncached"
        );
        assert_eq!(cache.len(), 2);
        clock.advance(Duration::from_secs(5));
        cache.put(cache.ticket(), &record("c"));
        assert!(cache.get("c").is_some());
        assert_eq!(cache.len(), 1);
    }
}
