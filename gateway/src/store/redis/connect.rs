//! Connecting: the command connection, the breaker and the wake-up subscription of a single
//! node, or the command and subscription connections of a cluster.

use std::sync::Arc;

use anyhow::Context as _;
use redis::aio::ConnectionManager;
use redis::cluster::ClusterClientBuilder;
use redis::{Client, IntoConnectionInfo as _};

use super::Wake;
use super::cluster::Shards;
use super::conn::{self, Breaker, CALL_TIMEOUT, CONNECT_TIMEOUT, Conn};
use super::keys::Keys;
use super::pubsub::Subscriber;
use crate::store::WakeHub;
use crate::store::client_cache::ClientCache;

/// What a connected store is made of.
pub(super) type Parts = (Conn, Option<Arc<Breaker>>, Wake);

/// Who hears what the subscription brings: waiters their wake-ups, the client cache its
/// invalidations.
#[derive(Clone)]
pub(crate) struct Listeners {
    /// The long-polls of this process.
    pub(crate) hub: WakeHub,
    /// The records authentication reads.
    pub(crate) client_cache: Arc<ClientCache>,
}

pub(super) async fn connect_single(
    url: &str,
    keys: &Keys,
    listeners: Listeners,
) -> anyhow::Result<Parts> {
    // The redis crate's URL errors never repeat the URL, so they carry no password.
    let info = url
        .into_connection_info()
        .map_err(|error| anyhow::anyhow!("invalid Redis URL: {error}"))?;
    let client = Client::open(info.clone())?;
    let manager = tokio::time::timeout(
        CONNECT_TIMEOUT * 2,
        ConnectionManager::new_with_config(client, conn::manager_config()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer within {:?}", CONNECT_TIMEOUT * 2))??;
    let resp3 = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    let subscriber_client = Client::open(info.set_redis_settings(resp3))?;
    let subscriber = Subscriber::start(subscriber_client, keys, listeners)
        .await
        .context("wake-ups need RESP3 (Redis 6 or newer)")?;
    let conn = Conn::Single(manager);
    let breaker = Breaker::new(conn.clone());
    Ok((conn, Some(breaker), Wake::Single(subscriber)))
}

pub(super) async fn connect_cluster(
    seeds: Vec<String>,
    keys: &Keys,
    listeners: Listeners,
) -> anyhow::Result<Parts> {
    let builder = || {
        ClusterClientBuilder::new(seeds.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(CALL_TIMEOUT)
            .retries(3)
            .min_retry_wait(20)
            .max_retry_wait(200)
    };
    let client = builder().build()?;
    let mut commands = tokio::time::timeout(CONNECT_TIMEOUT * 3, client.get_async_connection())
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {:?}", CONNECT_TIMEOUT * 3))??;
    // Sharded pub/sub is Redis 7: say so now rather than fail every long-poll later.
    redis::cmd("SPUBLISH")
        .arg(keys.shard_wake_channel("probe"))
        .arg("")
        .query_async::<i64>(&mut commands)
        .await
        .context("the cluster does not take SPUBLISH: sharded pub/sub needs Redis 7 or newer")?;
    let shards = tokio::time::timeout(
        CONNECT_TIMEOUT * 3,
        Shards::start(builder(), keys.clone(), listeners),
    )
    .await
    .map_err(|_| anyhow::anyhow!("wake-up connection: no answer in time"))??;
    Ok((Conn::Cluster(commands), None, Wake::Cluster(shards)))
}
