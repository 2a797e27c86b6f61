//! The machine's shared Redis (127.0.0.1:6379): stores and gateways under a fresh key prefix
//! per test, whose keys are deleted at the end, by SCAN and DEL of that prefix only.

use std::sync::Arc;
use std::time::Duration;

use sealgate::Config;
use sealgate::clock::{Clock, SystemClock};
use sealgate::store::{RedisStore, SharedStore, WakeHub};
use sealgate_crypto::random_token;

use super::TestGateway;

/// The machine's shared Redis.
pub(crate) const SHARED_REDIS: &str = "redis://127.0.0.1:6379/";

/// A blocking connection to the shared Redis, given 2 s.
fn connect_shared() -> redis::RedisResult<redis::Connection> {
    redis::Client::open(SHARED_REDIS)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
}

/// A store on the shared Redis under `prefix`.
pub(crate) async fn shared_store(prefix: &str, clock: Arc<dyn Clock>) -> SharedStore {
    Arc::new(
        RedisStore::connect(SHARED_REDIS, prefix, WakeHub::default(), clock)
            .await
            .expect("the shared Redis store connects"),
    )
}

/// A fresh key prefix on the shared Redis whose keys are deleted (SCAN + DEL of that prefix
/// only) when dropped.
pub(crate) struct SharedPrefix {
    pub(crate) prefix: String,
}

impl SharedPrefix {
    /// A fresh prefix; panics with a hint unless the shared Redis answers.
    pub(crate) fn new() -> Self {
        let answered =
            connect_shared().and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
        assert!(
            answered.is_ok(),
            "no Redis answers on 127.0.0.1:6379 ({answered:?}). scripts/test.sh starts one; or \
             run `redis-server --daemonize yes --port 6379 --bind 127.0.0.1 --save '' \
             --appendonly no`"
        );
        Self {
            prefix: format!("sgtest:wh:{}:", random_token::<9>()),
        }
    }

    /// A store on the shared Redis under this prefix.
    pub(crate) async fn store(&self, clock: Arc<dyn Clock>) -> SharedStore {
        shared_store(&self.prefix, clock).await
    }

    /// A gateway with `config` on a store under this prefix.
    pub(crate) async fn gateway(&self, config: Config) -> TestGateway {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = self.store(clock.clone()).await;
        TestGateway::start_on(config, store, clock).await
    }
}

impl Drop for SharedPrefix {
    fn drop(&mut self) {
        crate::support_redis::delete_prefix(6379, &self.prefix);
    }
}
