//! A clock a test can move forward, so that expiry is tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sealgate::clock::{Clock, SystemClock};

/// A clock that runs with the system's and can be moved forward. (Redis expires keys by its
/// own clock later; the store compares expiry with this one, as every backend does.)
#[derive(Debug, Default)]
pub struct TestClock {
    ahead_ms: AtomicU64,
}

impl TestClock {
    /// A clock on the system's time.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.ahead_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> u64 {
        SystemClock.now_ms() + self.ahead_ms.load(Ordering::SeqCst)
    }
}
