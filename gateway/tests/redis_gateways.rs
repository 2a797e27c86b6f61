//! Two gateway instances on one Redis: a deposit on one wakes a long-poll on the other, one of
//! many pollers spread over both gets the envelope, and waiting long-polls hold no Redis
//! connection.

#[allow(unused_macros, unused_imports)]
mod support_redis;

use std::time::{Duration, Instant};

use http::StatusCode;

use sealgate_testkit::{RedisServer, SHARED_REDIS, SharedPrefix, info_field, join_all};
use support_redis::http::{Node, seal_for};

/// Deposit on A, long-poll on B: B answers 200 within a second of the deposit, every time.
/// Prints the median and 90th percentile over 50 rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_on_one_instance_wakes_a_poll_on_the_other() {
    let prefix = SharedPrefix::new();
    let a = Node::start(SHARED_REDIS, &prefix.prefix).await;
    let b = Node::start(SHARED_REDIS, &prefix.prefix).await;
    let app = a.register().await;
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let mailbox = a.open(&app).await;
        let envelope = seal_for(&app, &mailbox);
        let poll = async {
            let reply = b.poll(&app, &mailbox, 10).await;
            (reply, Instant::now())
        };
        let deposit = async {
            wait_for_waiters(&b, 1).await;
            let started = Instant::now();
            assert_eq!(
                a.deposit(&mailbox, &envelope).await.status,
                StatusCode::CREATED
            );
            started
        };
        let ((reply, answered), deposited) = tokio::join!(poll, deposit);
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.body, envelope.as_bytes());
        latencies.push(answered - deposited);
    }
    latencies.sort();
    let (median, p90, max) = (latencies[25], latencies[45], latencies[49]);
    eprintln!("deposit on A -> poll answered on B: median {median:?}, p90 {p90:?}, max {max:?}");
    assert!(max < Duration::from_secs(1), "slowest wake-up {max:?}");
    a.shutdown().await;
    b.shutdown().await;
}

/// 16 long-polls on one mailbox, 8 on each instance: exactly one 200, the others 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_pollers_on_two_instances_one_winner() {
    let prefix = SharedPrefix::new();
    let a = Node::start(SHARED_REDIS, &prefix.prefix).await;
    let b = Node::start(SHARED_REDIS, &prefix.prefix).await;
    let app = a.register().await;
    let mailbox = b.open(&app).await;
    let envelope = seal_for(&app, &mailbox);
    let polls = (0..16).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.poll(&app, &mailbox, 10)
    });
    let deposit = async {
        wait_for_waiters(&a, 8).await;
        wait_for_waiters(&b, 8).await;
        assert_eq!(
            a.deposit(&mailbox, &envelope).await.status,
            StatusCode::CREATED
        );
    };
    let (replies, ()) = tokio::join!(join_all(polls), deposit);
    let ok: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(ok.len(), 1, "{replies:?}");
    assert_eq!(ok[0].body, envelope.as_bytes());
    assert!(
        replies
            .iter()
            .filter(|r| r.status != StatusCode::OK)
            .all(|r| r.status == StatusCode::NOT_FOUND),
        "{replies:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// 1,000 long-polls waiting over two instances on a private Redis: the server's connected
/// clients do not change (each gateway holds one command and one subscription connection),
/// and every poll is answered when its envelope arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_waiters_hold_no_redis_connection() {
    let redis = RedisServer::start();
    let prefix = "sg:";
    let a = Node::start(&redis.url(), prefix).await;
    let b = Node::start(&redis.url(), prefix).await;
    let clients = || -> i64 {
        info_field(redis.port, "clients", "connected_clients")
            .and_then(|n| n.parse().ok())
            .expect("INFO clients")
    };
    let apps = [a.register().await, b.register().await];
    let mut mailboxes = Vec::new();
    for i in 0..1_000 {
        let app = &apps[i % 2];
        mailboxes.push((app, a.open(app).await));
    }
    // Our INFO connection is one client, and each gateway has two.
    let idle = clients();
    assert!(idle <= 5, "{idle} clients before the polls");
    let polls = mailboxes.iter().enumerate().map(|(i, (app, mailbox))| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.poll(app, mailbox, 30)
    });
    let check_and_deposit = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while a.waiting() + b.waiting() < 1_000 {
            assert!(
                Instant::now() < deadline,
                "only {} waiting",
                a.waiting() + b.waiting()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let waiting = clients();
        eprintln!("Redis clients: {idle} idle, {waiting} with 1,000 long-polls waiting");
        assert!(
            (waiting - idle).abs() <= 2,
            "{idle} idle, {waiting} waiting"
        );
        for (i, (app, mailbox)) in mailboxes.iter().enumerate() {
            let node = if i % 2 == 0 { &b } else { &a };
            let reply = node.deposit(mailbox, &seal_for(app, mailbox)).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        }
    };
    let (replies, ()) = tokio::join!(join_all(polls), check_and_deposit);
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let after = clients();
    assert!((after - idle).abs() <= 2, "{idle} idle, {after} after");
    a.shutdown().await;
    b.shutdown().await;
}

async fn wait_for_waiters(node: &Node, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.waiting() < n {
        assert!(Instant::now() < deadline, "{n} long-polls never waited");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Bytes of Redis per open mailbox, measured two ways on a private server: `MEMORY USAGE` of
/// one mailbox key (empty, holding a typical 1.5 KiB envelope, consumed) and the `INFO memory`
/// delta over 10,000 open mailboxes (keys and open-set entries). Printed for docs/operations.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_per_open_mailbox() {
    use sealgate::store::{ClientRecord, ClientStore, MailboxStore, RedisStore, WakeHub};
    use sealgate_crypto::random_token;

    let redis = RedisServer::start();
    let clock = sealgate_testkit::TestClock::new();
    let store = RedisStore::connect(&redis.url(), "sealgate:", WakeHub::default(), clock.clone())
        .await
        .unwrap();
    let used = || -> i64 {
        info_field(redis.port, "memory", "used_memory")
            .and_then(|n| n.parse().ok())
            .expect("INFO memory")
    };
    let clients: Vec<ClientRecord> = (0..10)
        .map(|i| sealgate_testkit::client_record(&format!("app {i}")))
        .collect();
    for client in &clients {
        store.insert_client(client).await.unwrap();
    }
    let open = {
        let clock = clock.clone();
        move |client: &ClientRecord| {
            sealgate_testkit::mailbox_record(client, &*clock, Duration::from_secs(600))
        }
    };
    // One client's open set holds 1,000 entries, as the default cap allows.
    let warm = open(&clients[0]);
    store.open_mailbox(&warm, 100_000).await.unwrap();
    let before = used();
    let mut tasks = Vec::new();
    for client in clients.clone() {
        let (store, open) = (store.clone(), open.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..1_000 {
                store.open_mailbox(&open(&client), 100_000).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let per_mailbox = (used() - before) as f64 / 10_000.0;

    let key = store.mailbox_key(&warm.mailbox_id);
    let usage = || -> i64 {
        sealgate_testkit::query(redis.port, &["MEMORY", "USAGE", &key, "SAMPLES", "0"]).unwrap()
    };
    let empty = usage();
    let envelope = format!(
        "{}.{}..{}.",
        random_token::<96>(),
        random_token::<24>(),
        random_token::<1024>()
    );
    store
        .deposit(sealgate_testkit::deposit_into(
            &warm,
            envelope.clone().into(),
        ))
        .await
        .unwrap();
    let filled = usage();
    store
        .take(&warm.mailbox_id, &clients[0].client_id)
        .await
        .unwrap();
    let consumed = usage();
    eprintln!(
        "Redis bytes per open mailbox: {per_mailbox:.0} (INFO used_memory delta over 10,000, \
         key + open-set entry); MEMORY USAGE of one key: empty {empty}, with a {}-byte \
         envelope {filled}, consumed {consumed}",
        envelope.len()
    );
    assert!(
        per_mailbox < 1_000.0,
        "{per_mailbox} bytes per open mailbox"
    );
    // The envelope is gone; the hash keeps its larger encoding (hashtable) until the TTL.
    assert!(
        consumed < 512 && consumed < filled / 4,
        "{consumed} bytes after consumption"
    );
}
