//! The Redis backend: several stateless gateway instances share one Redis, a single node
//! (`redis://`, `rediss://`) or a cluster (`redis+cluster://`, `rediss+cluster://`).
//!
//! ```text
//!  P client:{cid}          STRING  the ClientRecord as JSON, no TTL
//!  P client:{cid}:open     ZSET    tags of the client's unconsumed mailboxes, scored by expiry
//!  P clients:count         STRING  how many clients are registered (INCR/DECR), no TTL
//!  P dev:{dtag}            HASH    client, ep, p256dh, auth, sec, exp; PEXPIREAT exp, moved
//!                                  by every notify
//!  P devices:{devices}:live ZSET   device tags, scored by expiry: the global cap
//!  P push:vapid            STRING  the VAPID key, base64url, set once (SET NX), no TTL
//!  P mbx:{tag}             HASH    client, exp, kids, wh, then env + dig (+ lease); PEXPIREAT
//!                                  exp, set once
//!  P wake                  channel single node: every deposit/cancel publishes the tag
//!  P wake:{tag}            channel cluster: sharded, on the mailbox's slot
//!  P clients:changed       channel single node: a changed or deleted client's id
//!  P clients:changed:{clients}  channel cluster: the same, sharded on one slot
//! ```
//!
//! `tag` is derived from the mailbox id by SHA-256 (see [`keys`]); each mailbox operation is
//! one Lua script, one round trip on a single node (see [`mailboxes`] for a cluster's second
//! calls, and [`scripts`]); authentication reads client records through a short cache
//! ([`ClientCache`]) that `clients:changed` invalidates; every call is bounded by 500 ms and mapped to
//! [`StoreError::Unavailable`] (503 with Retry-After) when Redis cannot answer. docs/redis.md
//! gives the reasoning.

mod clients;
mod cluster;
mod conn;
mod connect;
mod deliveries;
mod devices;
mod keys;
mod mailboxes;
mod pubsub;
mod scripts;
mod url;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use redis::RedisResult;

use self::cluster::Shards;
use self::conn::{Breaker, CALL_TIMEOUT, Conn, guarded};
use self::keys::{Keys, mailbox_tag};
use self::pubsub::Subscriber;
use self::scripts::Publish;
use self::url::Target;
use super::client_cache::ClientCache;
use super::{Store, StoreError, WakeHub};
use crate::clock::Clock;

/// How long a client's open set outlives its last entry, so that entries that expired
/// unconsumed are still there to be counted when the client next opens a mailbox.
const OPEN_SET_GRACE: Duration = Duration::from_secs(3600);

/// The Redis backend. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    breaker: Option<Arc<Breaker>>,
    keys: Keys,
    wake: Wake,
    hub: WakeHub,
    clock: Arc<dyn Clock>,
    expired: AtomicU64,
    /// What authentication reads; see [`ClientCache`] for its bounds.
    client_cache: Arc<ClientCache>,
}

/// How wake-ups reach this process.
enum Wake {
    /// One subscription to one channel.
    Single(Subscriber),
    /// Sharded subscriptions, one channel per watched mailbox.
    Cluster(Shards),
}

impl RedisStore {
    /// Connects to the Redis that `store` names (see the module docs), with every key under
    /// `prefix`. Fails when Redis cannot be reached now, so that a wrong URL shows at start-up;
    /// once connected, the store rides out outages by itself.
    pub async fn connect(
        store: &str,
        prefix: &str,
        hub: WakeHub,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let target = Target::parse(store).with_context(|| {
            let scheme = store.split_once("://").map_or(store, |(scheme, _)| scheme);
            format!(
                "unknown store `{scheme}`: use memory, redis://…, rediss://…, redis+cluster://… or rediss+cluster://…"
            )
        })??;
        let keys = Keys::new(prefix)?;
        let hosts = target.hosts();
        let client_cache = Arc::new(ClientCache::new(clock.clone()));
        let listeners = connect::Listeners {
            hub: hub.clone(),
            client_cache: client_cache.clone(),
        };
        let (conn, breaker, wake) = match target {
            Target::Single { url } => connect::connect_single(&url, &keys, listeners).await,
            Target::Cluster { seeds } => connect::connect_cluster(seeds, &keys, listeners).await,
        }
        .with_context(|| format!("cannot use Redis at {hosts}"))?;
        tracing::info!(%hosts, prefix, "Redis store connected");
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                breaker,
                keys,
                wake,
                hub,
                clock,
                expired: AtomicU64::new(0),
                client_cache,
            }),
        })
    }

    /// The Redis key of a mailbox, for operators and tests (`MEMORY USAGE`, `PTTL`).
    pub fn mailbox_key(&self, mailbox_id: &str) -> String {
        self.inner.keys.mailbox(&mailbox_tag(mailbox_id))
    }

    /// The Redis key of a device registration, for operators and tests.
    pub fn device_key(&self, handle: &str) -> String {
        self.inner.keys.device(&keys::device_tag(handle))
    }

    /// The Redis key of a client's open-mailbox set.
    pub fn open_set_key(&self, client_id: &str) -> String {
        self.inner.keys.open_set(client_id)
    }

    /// How many sharded wake-up channels this process subscribes to (0 on a single node).
    pub fn subscribed_channels(&self) -> usize {
        match &self.inner.wake {
            Wake::Single(_) => 0,
            Wake::Cluster(shards) => shards.channel_count(),
        }
    }

    async fn call<T>(&self, call: impl Future<Output = RedisResult<T>>) -> Result<T, StoreError> {
        guarded(self.inner.breaker.as_ref(), call).await
    }

    fn conn(&self) -> Conn {
        self.inner.conn.clone()
    }

    fn now(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// The script arguments that publish a wake-up for `tag`: flag, channel, message.
    fn publish_args(&self, tag: &str) -> (&'static str, String) {
        match &self.inner.wake {
            Wake::Single(_) => (Publish::Broadcast.flag(), self.inner.keys.wake_channel()),
            Wake::Cluster(_) => (
                Publish::Sharded.flag(),
                self.inner.keys.shard_wake_channel(tag),
            ),
        }
    }

    /// Drops `tag` from the client's open set, best effort: the envelope is already taken
    /// (or the mailbox deleted), and a stale entry only counts against the cap until expiry.
    async fn forget_open(&self, client_id: &str, tag: &str) {
        let mut conn = self.conn();
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(self.inner.keys.open_set(client_id)).arg(tag);
        let zrem = zrem.query_async::<i64>(&mut conn);
        if !matches!(tokio::time::timeout(CALL_TIMEOUT, zrem).await, Ok(Ok(_))) {
            tracing::debug!("could not update a client's open-mailbox set");
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.call(redis::cmd("PING").query_async::<()>(&mut conn))
            .await?;
        match &self.inner.wake {
            Wake::Single(subscriber) if !subscriber.is_up() => Err(StoreError::Unavailable(
                "the wake-up subscription is reconnecting".into(),
            )),
            _ => Ok(()),
        }
    }

    fn kind(&self) -> &'static str {
        match self.inner.wake {
            Wake::Single(_) => "redis",
            Wake::Cluster(_) => "redis-cluster",
        }
    }
}
