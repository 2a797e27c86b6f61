//! Wake-ups on a cluster: sharded pub/sub. Each mailbox has its own channel, `P wake:{tag}`,
//! on its key's slot, so the deposit script can SPUBLISH it (a script may only touch its own
//! slot) and the message stays on the one shard that owns the mailbox instead of being
//! broadcast to every node.
//!
//! A gateway process subscribes (SSUBSCRIBE) to the channels of the mailboxes it has waiters
//! for, over one cluster connection (one socket per shard) whose pushes come back to a
//! synchronous handler. The first waiter of a mailbox subscribes, and [`Store::watch`] returns
//! only once the subscription is confirmed, so the caller's check of the store comes after it;
//! later waiters share it. A reaper unsubscribes channels nobody waits for any more. The redis
//! crate re-subscribes after a reconnection or a failover, on the node that owns each slot
//! then; such a second confirmation wakes the channel's waiters, which check again, since a
//! wake-up may have been lost meanwhile.
//!
//! The same connection holds one permanent subscription, `P clients:changed:{clients}`, whose
//! messages name changed clients for the client cache; it is emptied when a node connection
//! drops and when that channel is subscribed again.
//!
//! [`Store::watch`]: crate::store::Store::watch

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::task::JoinHandle;

use super::conn::{self, CALL_TIMEOUT};
use super::connect::Listeners;
use super::keys::Keys;
use crate::store::client_cache::ClientCache;
use crate::store::{StoreError, Waiter, WakeHub};

/// How often channels without waiters are unsubscribed.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

/// This process's sharded subscriptions; dropping it stops the reaper.
pub(crate) struct Shards {
    conn: ClusterConnection,
    registry: Arc<Registry>,
    reaper: JoinHandle<()>,
}

/// What the push handler needs: no connection, so that it holds no cycle.
struct Registry {
    keys: Keys,
    hub: WakeHub,
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    client_cache: Arc<ClientCache>,
    /// The client-change channel's name, and how often its subscription was confirmed.
    client_changes: Vec<u8>,
    client_changes_confirmed: AtomicU32,
}

/// One mailbox's channel in this process.
#[derive(Default)]
struct Channel {
    state: tokio::sync::Mutex<State>,
    /// SSUBSCRIBE confirmations seen: the first answers our SSUBSCRIBE, later ones are
    /// re-subscriptions after a reconnection or failover.
    confirmations: AtomicU32,
}

#[derive(Default, PartialEq, Eq)]
enum State {
    /// Not subscribed (yet, or the attempt failed).
    #[default]
    Idle,
    /// The server confirmed the subscription.
    Subscribed,
    /// Unsubscribed and out of the map: look the channel up again.
    Removed,
}

impl Shards {
    /// Connects the subscription side of the cluster: RESP3, pushes to this module.
    pub(crate) async fn start(
        builder: ClusterClientBuilder,
        keys: Keys,
        listeners: Listeners,
    ) -> anyhow::Result<Self> {
        let client_changes = keys.shard_client_changes_channel();
        let registry = Arc::new(Registry {
            client_changes: client_changes.clone().into_bytes(),
            keys,
            hub: listeners.hub,
            channels: Mutex::default(),
            client_cache: listeners.client_cache,
            client_changes_confirmed: AtomicU32::new(0),
        });
        let handler = registry.clone();
        let client = builder
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(move |push: PushInfo| {
                handler.on_push(&push);
                Ok::<(), Infallible>(())
            })
            .build()?;
        let mut conn = client.get_async_connection().await?;
        conn::guarded(None, conn.ssubscribe(&client_changes)).await?;
        let reaper = tokio::spawn(reap(Arc::downgrade(&registry), conn.clone()));
        Ok(Self {
            conn,
            registry,
            reaper,
        })
    }

    /// Registers a waiter for `tag`, subscribed before this returns.
    pub(crate) async fn watch(&self, tag: &str) -> Result<Waiter, StoreError> {
        let waiter = self.registry.hub.watch(tag);
        loop {
            let channel = self.registry.channel(tag);
            let mut state = channel.state.lock().await;
            match *state {
                State::Subscribed => return Ok(waiter),
                State::Removed => continue,
                State::Idle => {
                    let name = self.registry.keys.shard_wake_channel(tag);
                    let mut conn = self.conn.clone();
                    conn::guarded(None, conn.ssubscribe(&name)).await?;
                    *state = State::Subscribed;
                    return Ok(waiter);
                }
            }
        }
    }

    /// How many channels this process is subscribed to (or about to be).
    pub(crate) fn channel_count(&self) -> usize {
        self.registry.channels.lock().expect("channel lock").len()
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        self.reaper.abort();
    }
}

impl Registry {
    /// The channel entry of `tag`, created if missing.
    fn channel(&self, tag: &str) -> Arc<Channel> {
        self.channels
            .lock()
            .expect("channel lock")
            .entry(tag.to_owned())
            .or_default()
            .clone()
    }

    /// Runs in the connection's reader: must not block.
    fn on_push(&self, push: &PushInfo) {
        if let Some(Value::BulkString(name)) = push.data.first()
            && *name == self.client_changes
        {
            self.on_client_change(push);
            return;
        }
        let tag = || match push.data.first() {
            Some(Value::BulkString(name)) => self.keys.tag_of_shard_channel(name),
            _ => None,
        };
        match push.kind {
            PushKind::SMessage => {
                if let Some(tag) = tag() {
                    self.hub.wake(tag);
                }
            }
            PushKind::SSubscribe => {
                let Some(tag) = tag() else { return };
                let channel = self
                    .channels
                    .lock()
                    .expect("channel lock")
                    .get(tag)
                    .cloned();
                let seen = channel.map_or(0, |c| c.confirmations.fetch_add(1, Ordering::AcqRel));
                if seen >= 1 {
                    self.hub.wake(tag);
                }
            }
            PushKind::Disconnection => {
                tracing::warn!("a cluster node connection for wake-ups dropped; waiters re-check");
                self.client_cache.clear();
                self.hub.wake_all();
            }
            _ => {}
        }
    }

    /// A message or a confirmation on the client-change channel.
    fn on_client_change(&self, push: &PushInfo) {
        match push.kind {
            PushKind::SMessage => {
                if let Some(Value::BulkString(id)) = push.data.get(1)
                    && let Ok(id) = std::str::from_utf8(id)
                {
                    self.client_cache.invalidate(id);
                }
            }
            // Subscribed again after a reconnection or failover: changes may have been missed.
            PushKind::SSubscribe
                if self.client_changes_confirmed.fetch_add(1, Ordering::AcqRel) >= 1 =>
            {
                self.client_cache.clear();
            }
            _ => {}
        }
    }
}

/// Unsubscribes, every [`REAP_INTERVAL`], the channels nobody in this process waits on.
async fn reap(registry: Weak<Registry>, conn: ClusterConnection) {
    let mut ticker = tokio::time::interval(REAP_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let idle: Vec<(String, Arc<Channel>)> = registry
            .channels
            .lock()
            .expect("channel lock")
            .iter()
            .filter(|(tag, _)| !registry.hub.is_watched(tag))
            .map(|(tag, channel)| (tag.clone(), channel.clone()))
            .collect();
        for (tag, channel) in idle {
            let mut state = channel.state.lock().await;
            // A waiter registers in the hub before it looks the channel up, so one that came
            // since the scan is seen here and keeps the channel.
            if registry.hub.is_watched(&tag) {
                continue;
            }
            if *state == State::Subscribed {
                let name = registry.keys.shard_wake_channel(&tag);
                let mut conn = conn.clone();
                let _ = tokio::time::timeout(CALL_TIMEOUT, conn.sunsubscribe(&name)).await;
            }
            *state = State::Removed;
            let mut channels = registry.channels.lock().expect("channel lock");
            if channels.get(&tag).is_some_and(|c| Arc::ptr_eq(c, &channel)) {
                channels.remove(&tag);
            }
        }
    }
}
