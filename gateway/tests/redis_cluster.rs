//! A 3-master, 3-replica Redis Cluster started on loopback ports for this test (and killed at
//! its end, panics included): the `Store` contract on it, sharded wake-ups, and a master
//! killed while its replica takes over.

#[allow(unused_macros, unused_imports)]
mod support_redis;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use sealgate::clock::SystemClock;
use sealgate::store::{RedisStore, WakeHub};

use sealgate_testkit::{RedisCluster, query, unique_prefix};
use support_redis::contract::{self, Backend};
use support_redis::http::{Node, seal_for};

/// Every contract clause, then: a mailbox's key and wake-up channel share a slot, and the
/// channels of mailboxes nobody waits for any more are unsubscribed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_on_a_cluster() {
    let started = Instant::now();
    let cluster = RedisCluster::start();
    eprintln!("cluster up in {:?}", started.elapsed());
    let prefix = unique_prefix();
    contract::run_all(&Backend::redis(cluster.url(), prefix.clone())).await;

    let store = RedisStore::connect(
        &cluster.url(),
        &prefix,
        WakeHub::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let key = store.mailbox_key("some mailbox");
    let tag = &key[key.find('{').unwrap()..];
    let channel = format!("{prefix}wake:{tag}");
    let port = cluster.nodes[0].port;
    let slot = |name: &str| query::<i64>(port, &["CLUSTER", "KEYSLOT", name]).unwrap();
    assert_eq!(slot(&key), slot(&channel));

    let waiters: Vec<_> = futures_lite_join(&store, 20).await;
    assert_eq!(store.subscribed_channels(), 20);
    drop(waiters);
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.subscribed_channels() > 0 {
        assert!(Instant::now() < deadline, "channels were not unsubscribed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("cluster contract done in {:?}", started.elapsed());
}

async fn futures_lite_join(store: &RedisStore, n: usize) -> Vec<sealgate::store::Waiter> {
    use sealgate::store::MailboxStore as _;
    let mut waiters = Vec::new();
    for i in 0..n {
        waiters.push(store.watch(&format!("mailbox {i}")).await.unwrap());
    }
    waiters
}

/// A master is killed; its replica takes over; the gateway follows the new topology by
/// itself: a long-poll waiting meanwhile ends (200, 202 or 503, never a hang), and deposits
/// and long-polls on the promoted shard work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_follows_a_failover() {
    let mut cluster = RedisCluster::start();
    let prefix = unique_prefix();
    let node = Node::start(&cluster.url(), &prefix).await;
    let keys = RedisStore::connect(
        &cluster.url(),
        &prefix,
        WakeHub::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let app = node.register().await;
    let mailbox = node.open(&app).await;
    let victim = cluster.master_of(&keys.mailbox_key(&mailbox.id));
    // The mailbox must be on the replica before its master dies (replication is asynchronous).
    cluster.wait_for_replication(victim, Duration::from_secs(5));

    let waiting = {
        let node_poll = async { node.poll(&app, &mailbox, 8).await };
        let started = Instant::now();
        let killer = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cluster.node(victim).kill();
        };
        let (reply, ()) = tokio::join!(node_poll, killer);
        (reply, started.elapsed())
    };
    let (reply, took) = waiting;
    assert!(
        matches!(reply.status.as_u16(), 202 | 503),
        "a long-poll during the failover ends with 202 or 503: {reply:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "the long-poll took {took:?}"
    );

    let failover = Instant::now();
    cluster.wait_for_failover(victim, Duration::from_secs(20));
    eprintln!("failover took {:?}", failover.elapsed());
    assert_ne!(cluster.master_of(&keys.mailbox_key(&mailbox.id)), victim);

    // The gateway recovers by itself: the mailbox (replicated before the kill) takes a deposit.
    let envelope = seal_for(&app, &mailbox);
    let recovered = Instant::now();
    loop {
        let reply = node.deposit(&mailbox, &envelope).await;
        match reply.status {
            StatusCode::CREATED => break,
            StatusCode::SERVICE_UNAVAILABLE => reply.assert_unavailable(),
            other => panic!("deposit after the failover: {other} {reply:?}"),
        }
        assert!(recovered.elapsed() < Duration::from_secs(15), "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "gateway served again {:?} after the cluster",
        recovered.elapsed()
    );
    let reply = node.poll(&app, &mailbox, 1).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, envelope.as_bytes());

    // A new mailbox on the promoted shard: a waiting long-poll is woken by the deposit.
    let promoted = cluster.master_of(&keys.mailbox_key(&mailbox.id));
    let fresh = loop {
        let candidate = node.open(&app).await;
        if cluster.master_of(&keys.mailbox_key(&candidate.id)) == promoted {
            break candidate;
        }
    };
    let envelope = seal_for(&app, &fresh);
    let poll = async { node.poll(&app, &fresh, 10).await };
    let deposit = async {
        let deadline = Instant::now() + Duration::from_secs(5);
        while node.waiting() < 1 {
            assert!(Instant::now() < deadline, "the long-poll never waited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let started = Instant::now();
        assert_eq!(
            node.deposit(&fresh, &envelope).await.status,
            StatusCode::CREATED
        );
        started
    };
    let (reply, deposited) = tokio::join!(poll, deposit);
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(
        deposited.elapsed() < Duration::from_secs(1),
        "{:?}",
        deposited.elapsed()
    );
    assert_eq!(node.get("/readyz").await.status, StatusCode::OK);
    node.shutdown().await;
}
