//! Wake-ups on a single node: one connection per gateway process, subscribed to one channel
//! whose messages carry the tag of the mailbox that was filled (or cancelled), and to the one
//! that names changed clients, for the client cache. Deposits publish inside their script, so a
//! wake-up is sent exactly when the envelope becomes visible.
//!
//! The subscription is made once, before any waiter exists, so every waiter is covered from the
//! moment it registers. When the connection drops, every waiter of this process is woken (they
//! check the store again: with Redis down they are answered 503 at once, and the client polls
//! again); the task reconnects with backoff, subscribes, and wakes everyone once more, since a
//! wake-up may have been published while nobody listened. For the same reason the client cache
//! is emptied when the subscription drops and again when it is back.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, PushInfo, PushKind, Value};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::conn::{CALL_TIMEOUT, CONNECT_TIMEOUT};
use super::connect::Listeners;
use super::keys::Keys;

/// How often the subscription connection is checked with a PING.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Reconnection backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// The running subscription; dropping it stops the task.
pub(crate) struct Subscriber {
    up: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Subscriber {
    /// Starts the task, and waits (up to `CONNECT_TIMEOUT` twice) for the first subscription.
    pub(crate) async fn start(
        client: Client,
        keys: &Keys,
        listeners: Listeners,
    ) -> anyhow::Result<Self> {
        let up = Arc::new(AtomicBool::new(false));
        let (first, subscribed) = oneshot::channel();
        let channels = Channels {
            wake: keys.wake_channel(),
            client_changes: keys.client_changes_channel(),
        };
        let task = tokio::spawn(run(client, channels, listeners, up.clone(), first));
        let subscriber = Self { up, task };
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, subscribed).await {
            Ok(Ok(Ok(()))) => Ok(subscriber),
            Ok(Ok(Err(error))) => anyhow::bail!("cannot subscribe to wake-ups: {error}"),
            _ => anyhow::bail!("cannot subscribe to wake-ups: no answer in time"),
        }
    }

    /// Whether the subscription is in effect now.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The two channels subscribed.
struct Channels {
    wake: String,
    client_changes: String,
}

async fn run(
    client: Client,
    channels: Channels,
    listeners: Listeners,
    up: Arc<AtomicBool>,
    first: oneshot::Sender<redis::RedisResult<()>>,
) {
    let mut first = Some(first);
    let mut backoff = BACKOFF_MIN;
    loop {
        let lost = Arc::new(Notify::new());
        let hub = &listeners.hub;
        match subscribe(&client, &channels, &listeners, &lost).await {
            Ok(conn) => {
                up.store(true, Ordering::Release);
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(()));
                } else {
                    tracing::info!("wake-up subscription restored");
                }
                backoff = BACKOFF_MIN;
                // Deposits and client changes made while this process was not subscribed sent
                // messages nobody got.
                listeners.client_cache.clear();
                hub.wake_all();
                watch_connection(conn, &lost).await;
                up.store(false, Ordering::Release);
                tracing::warn!("wake-up subscription lost; reconnecting");
                listeners.client_cache.clear();
                hub.wake_all();
            }
            Err(error) => {
                if let Some(first) = first.take() {
                    let _ = first.send(Err(error));
                    return;
                }
                tracing::debug!(%error, "wake-up subscription: reconnect failed");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Connects and subscribes; messages and the disconnection notice are handled in the
/// connection's own reader, synchronously, so no queue builds up between it and the waiters.
async fn subscribe(
    client: &Client,
    channels: &Channels,
    listeners: &Listeners,
    lost: &Arc<Notify>,
) -> redis::RedisResult<MultiplexedConnection> {
    let listeners = listeners.clone();
    let client_changes = channels.client_changes.clone().into_bytes();
    let lost_signal = lost.clone();
    let on_push = move |push: PushInfo| {
        match push.kind {
            PushKind::Message => {
                if let [Value::BulkString(channel), Value::BulkString(payload), ..] =
                    push.data.as_slice()
                    && let Ok(payload) = std::str::from_utf8(payload)
                {
                    if *channel == client_changes {
                        listeners.client_cache.invalidate(payload);
                    } else {
                        listeners.hub.wake(payload);
                    }
                }
            }
            PushKind::Disconnection => lost_signal.notify_one(),
            _ => {}
        }
        Ok::<(), Infallible>(())
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_push_sender(on_push);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    tokio::time::timeout(
        CALL_TIMEOUT,
        conn.subscribe(&[channels.wake.as_str(), channels.client_changes.as_str()]),
    )
    .await
    .map_err(|_| timed_out())??;
    Ok(conn)
}

/// Returns when the connection is lost, or stops answering PING.
async fn watch_connection(mut conn: MultiplexedConnection, lost: &Notify) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = lost.notified() => return,
            _ = heartbeat.tick() => {
                let ping = redis::cmd("PING");
                let ping = ping.query_async::<()>(&mut conn);
                if !matches!(tokio::time::timeout(CALL_TIMEOUT, ping).await, Ok(Ok(()))) {
                    return;
                }
            }
        }
    }
}

fn timed_out() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no answer in time",
    ))
}
