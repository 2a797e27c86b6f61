//! The Redis backend: several stateless gateway instances share one Redis, a single node
//! (`redis://`, `rediss://`) or a cluster (`redis+cluster://`, `rediss+cluster://`).
//!
//! ```text
//!  P client:{cid}          STRING  the ClientRecord as JSON, no TTL
//!  P client:{cid}:open     ZSET    tags of the client's unconsumed mailboxes, scored by expiry
//!  P clients:count         STRING  how many clients are registered (INCR/DECR), no TTL
//!  P mbx:{tag}             HASH    client, exp, then env + dig; PEXPIREAT exp, set once
//!  P wake                  channel single node: every deposit/cancel publishes the tag
//!  P wake:{tag}            channel cluster: sharded, on the mailbox's slot
//! ```
//!
//! `tag` is derived from the mailbox id by SHA-256 (see [`keys`]); each mailbox operation is
//! one Lua script on one key (see [`scripts`]); every call is bounded by 500 ms and mapped to
//! [`StoreError::Unavailable`] (503 with Retry-After) when Redis cannot answer. docs/redis.md
//! gives the reasoning.

mod clients;
mod cluster;
mod conn;
mod connect;
mod deliveries;
mod keys;
mod pubsub;
mod scripts;
mod url;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use redis::{RedisResult, Value};

use self::cluster::Shards;
use self::conn::{Breaker, CALL_TIMEOUT, Conn, guarded};
use self::keys::{Keys, mailbox_tag};
use self::pubsub::Subscriber;
use self::scripts::Publish;
use self::url::Target;
use super::{
    ClientRecord, Delivery, DepositOutcome, EnvelopeDigest, LeaseOutcome, MailboxRecord,
    OpenOutcome, Store, StoreError, TakeOutcome, UpdateOutcome, Waiter, WakeHub,
};
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
        let (conn, breaker, wake) = match target {
            Target::Single { url } => connect::connect_single(&url, &keys, &hub).await,
            Target::Cluster { seeds } => connect::connect_cluster(seeds, &keys, &hub).await,
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
            }),
        })
    }

    /// The Redis key of a mailbox, for operators and tests (`MEMORY USAGE`, `PTTL`).
    pub fn mailbox_key(&self, mailbox_id: &str) -> String {
        self.inner.keys.mailbox(&mailbox_tag(mailbox_id))
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
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        self.insert_counted(client).await
    }

    async fn client_count(&self) -> Result<u64, StoreError> {
        self.count_clients().await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        if !keys::is_plain_id(client_id) {
            return Ok(None);
        }
        let mut conn = self.conn();
        let key = self.inner.keys.client(client_id);
        let json: Option<Vec<u8>> = self
            .call(redis::cmd("GET").arg(key).query_async(&mut conn))
            .await?;
        json.map(|json| {
            serde_json::from_slice(&json)
                .map_err(|e| StoreError::Corrupt(format!("client record: {e}")))
        })
        .transpose()
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<UpdateOutcome, StoreError> {
        let json = serde_json::to_vec(client).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut conn = self.conn();
        let mut invocation = scripts::UPDATE_CLIENT.key(self.inner.keys.client(&client.client_id));
        invocation.arg(json).arg(client.revision.saturating_sub(1));
        match self.call(invocation.invoke_async::<i64>(&mut conn)).await? {
            0 => Ok(UpdateOutcome::Missing),
            1 => Ok(UpdateOutcome::Updated),
            _ => Ok(UpdateOutcome::Conflict),
        }
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.delete_counted(client_id).await
    }

    async fn open_mailbox(
        &self,
        mailbox: &MailboxRecord,
        max_open: usize,
    ) -> Result<OpenOutcome, StoreError> {
        let keys = &self.inner.keys;
        let tag = mailbox_tag(&mailbox.mailbox_id);
        let now = self.now();
        let mut conn = self.conn();
        let (opened, created) = self
            .call(async {
                let (opened, pruned): (i64, u64) = scripts::OPEN_INDEX
                    .key(keys.open_set(&mailbox.client_id))
                    .arg(now)
                    .arg(max_open as u64)
                    .arg(&tag)
                    .arg(mailbox.expires_at_ms)
                    .arg(OPEN_SET_GRACE.as_millis() as u64)
                    .invoke_async(&mut conn)
                    .await?;
                self.inner.expired.fetch_add(pruned, Ordering::Relaxed);
                if opened == 0 {
                    return Ok((false, false));
                }
                let created: i64 = scripts::CREATE
                    .key(keys.mailbox(&tag))
                    .arg(&mailbox.client_id)
                    .arg(mailbox.expires_at_ms)
                    .invoke_async(&mut conn)
                    .await?;
                Ok((true, created == 1))
            })
            .await?;
        match (opened, created) {
            (false, _) => Ok(OpenOutcome::LimitReached),
            (true, true) => Ok(OpenOutcome::Opened),
            (true, false) => Err(StoreError::Corrupt(
                "a new mailbox's key already exists".into(),
            )),
        }
    }

    async fn mailbox(&self, mailbox_id: &str) -> Result<Option<MailboxRecord>, StoreError> {
        let key = self.mailbox_key(mailbox_id);
        let now = self.now();
        let mut conn = self.conn();
        let mut hmget = redis::cmd("HMGET");
        hmget.arg(key).arg("client").arg("exp");
        let (client, exp): (Option<String>, Option<u64>) =
            self.call(hmget.query_async(&mut conn)).await?;
        Ok(match (client, exp) {
            (Some(client_id), Some(expires_at_ms)) if expires_at_ms > now => Some(MailboxRecord {
                mailbox_id: mailbox_id.to_owned(),
                client_id,
                expires_at_ms,
            }),
            _ => None,
        })
    }

    async fn deposit(
        &self,
        mailbox_id: &str,
        envelope: Bytes,
    ) -> Result<DepositOutcome, StoreError> {
        let tag = mailbox_tag(mailbox_id);
        let digest = EnvelopeDigest::of(&envelope);
        let (flag, channel) = self.publish_args(&tag);
        let mut conn = self.conn();
        let mut invocation = scripts::DEPOSIT.key(self.inner.keys.mailbox(&tag));
        invocation
            .arg(envelope.as_ref())
            .arg(&digest.as_bytes()[..])
            .arg(self.now())
            .arg(flag)
            .arg(channel)
            .arg(&tag);
        let outcome: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        match outcome {
            0 => Ok(DepositOutcome::NotFound),
            1 => Ok(DepositOutcome::Stored),
            2 => Ok(DepositOutcome::Identical),
            3 => Ok(DepositOutcome::Conflict),
            other => Err(StoreError::Corrupt(format!(
                "deposit script answered {other}"
            ))),
        }
    }

    async fn take(&self, mailbox_id: &str, client_id: &str) -> Result<TakeOutcome, StoreError> {
        let tag = mailbox_tag(mailbox_id);
        let mut conn = self.conn();
        let mut invocation = scripts::TAKE.key(self.inner.keys.mailbox(&tag));
        invocation.arg(client_id).arg(self.now());
        let reply: Vec<Value> = self.call(invocation.invoke_async(&mut conn)).await?;
        match reply.as_slice() {
            [Value::Int(0)] => Ok(TakeOutcome::NotFound),
            [Value::Int(2)] => Ok(TakeOutcome::Pending),
            [Value::Int(1), Value::BulkString(envelope)] => {
                let envelope = Bytes::copy_from_slice(envelope);
                self.forget_open(client_id, &tag).await;
                Ok(TakeOutcome::Envelope(envelope))
            }
            _ => Err(StoreError::Corrupt("take script answered nonsense".into())),
        }
    }

    async fn cancel(&self, mailbox_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let tag = mailbox_tag(mailbox_id);
        let (flag, channel) = self.publish_args(&tag);
        let mut conn = self.conn();
        let mut invocation = scripts::CANCEL.key(self.inner.keys.mailbox(&tag));
        invocation
            .arg(client_id)
            .arg(self.now())
            .arg(flag)
            .arg(channel)
            .arg(&tag);
        let cancelled: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        if cancelled == 1 {
            self.forget_open(client_id, &tag).await;
        }
        Ok(cancelled == 1)
    }

    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.enqueue_delivery_impl(delivery).await
    }

    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.claim_deliveries_impl(now_ms, lease_ms, limit).await
    }

    async fn reschedule_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.reschedule_delivery_impl(delivery).await
    }

    async fn complete_delivery(&self, delivery_id: &str) -> Result<(), StoreError> {
        self.complete_delivery_impl(delivery_id).await
    }

    async fn delivery_queue_depth(&self) -> Result<u64, StoreError> {
        self.delivery_queue_depth_impl().await
    }

    async fn lease_envelope(
        &self,
        mailbox_id: &str,
        until_ms: u64,
    ) -> Result<LeaseOutcome, StoreError> {
        self.lease_envelope_impl(mailbox_id, until_ms).await
    }

    async fn release_envelope(&self, mailbox_id: &str, consumed: bool) -> Result<(), StoreError> {
        self.release_envelope_impl(mailbox_id, consumed).await
    }

    async fn watch(&self, mailbox_id: &str) -> Result<Waiter, StoreError> {
        let tag = mailbox_tag(mailbox_id);
        match &self.inner.wake {
            // The one channel is subscribed for the life of the process.
            Wake::Single(_) => Ok(self.inner.hub.watch(&tag)),
            Wake::Cluster(shards) => shards.watch(&tag).await,
        }
    }

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

    fn expired_count(&self) -> u64 {
        self.inner.expired.load(Ordering::Relaxed)
    }

    fn kind(&self) -> &'static str {
        match self.inner.wake {
            Wake::Single(_) => "redis",
            Wake::Cluster(_) => "redis-cluster",
        }
    }
}
