//! The `Store` contract against the memory store and a Redis single node (the machine's Redis
//! on 127.0.0.1:6379, each test under its own prefix, deleted at the end). The same clauses run
//! against a Redis Cluster in redis_cluster.rs.

mod support_redis;

use std::time::Duration;

use sealgate::store::{
    ClientRecord, ClientStore, MailboxRecord, MailboxStore, RedisStore, WakeHub,
};
use sealgate_testkit::{client_record, deposit_into, mailbox_record};

use sealgate_testkit::{SHARED_REDIS, SharedPrefix, TestClock, query};
use support_redis::contract::{Backend, contract_tests};

mod memory {
    use super::*;

    contract_tests!((Backend::memory(), ()));
}

fn shared_redis() -> (Backend, SharedPrefix) {
    let prefix = SharedPrefix::new();
    (
        Backend::redis(SHARED_REDIS.to_owned(), prefix.prefix.clone()),
        prefix,
    )
}

mod redis_single {
    use super::*;

    contract_tests!(shared_redis());
    contract_tests!(shared shared_redis());
}

async fn redis_store(prefix: &SharedPrefix) -> RedisStore {
    RedisStore::connect(
        SHARED_REDIS,
        &prefix.prefix,
        WakeHub::default(),
        TestClock::new(),
    )
    .await
    .expect("connects")
}

fn records() -> (ClientRecord, MailboxRecord) {
    let client = client_record("layout");
    let mailbox = mailbox_record(&client, TestClock::new().as_ref(), Duration::from_secs(60));
    (client, mailbox)
}

/// The TTL is set once, at creation, to the mailbox's expiry, and no later write moves it;
/// client records have none.
#[tokio::test]
async fn ttl_is_set_once_and_never_extended() {
    let prefix = SharedPrefix::new();
    let store = redis_store(&prefix).await;
    let (client, mailbox) = records();
    store.insert_client(&client).await.unwrap();
    store.open_mailbox(&mailbox, 10).await.unwrap();
    let key = store.mailbox_key(&mailbox.mailbox_id);
    let expire_time = || query::<i64>(6379, &["PEXPIRETIME", &key]).unwrap();
    assert_eq!(expire_time(), mailbox.expires_at_ms as i64);
    tokio::time::sleep(Duration::from_millis(20)).await;
    store
        .deposit(deposit_into(&mailbox, "envelope".into()))
        .await
        .unwrap();
    assert_eq!(expire_time(), mailbox.expires_at_ms as i64);
    store
        .take(&mailbox.mailbox_id, &client.client_id)
        .await
        .unwrap();
    assert_eq!(
        expire_time(),
        mailbox.expires_at_ms as i64,
        "the digest keeps the TTL"
    );
    let client_key = format!("{}client:{{{}}}", prefix.prefix, client.client_id);
    assert_eq!(query::<i64>(6379, &["PTTL", &client_key]).unwrap(), -1);
}

/// Keys carry the hash tag of their mailbox, and no mailbox id; the envelope is deleted on
/// consumption and only the 32-byte digest stays. Beside them, one counter of clients.
#[tokio::test]
async fn key_layout_hides_mailbox_ids() {
    let prefix = SharedPrefix::new();
    let store = redis_store(&prefix).await;
    let (client, mailbox) = records();
    store.insert_client(&client).await.unwrap();
    store.open_mailbox(&mailbox, 10).await.unwrap();
    store
        .deposit(deposit_into(&mailbox, "envelope".into()))
        .await
        .unwrap();
    let keys: Vec<String> = query(6379, &["KEYS", &format!("{}*", prefix.prefix)]).unwrap();
    // The client, its open set, the mailbox, and the count of clients (the registration cap).
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(
        keys.contains(&format!("{}clients:count", prefix.prefix)),
        "{keys:?}"
    );
    assert!(keys.iter().all(|key| !key.contains(&mailbox.mailbox_id)));
    let key = store.mailbox_key(&mailbox.mailbox_id);
    assert!(key.starts_with(&format!("{}mbx:{{", prefix.prefix)) && key.ends_with('}'));
    let fields: Vec<String> = query(6379, &["HKEYS", &key]).unwrap();
    assert_eq!(fields, ["client", "exp", "kids", "wh", "env", "dig"]);
    let open_set = store.open_set_key(&client.client_id);
    assert_eq!(query::<i64>(6379, &["ZCARD", &open_set]).unwrap(), 1);
    store
        .take(&mailbox.mailbox_id, &client.client_id)
        .await
        .unwrap();
    let fields: Vec<String> = query(6379, &["HKEYS", &key]).unwrap();
    assert_eq!(fields, ["client", "exp", "dig"]);
    assert_eq!(
        query::<i64>(6379, &["ZCARD", &open_set]).unwrap(),
        0,
        "the take left the client's open set in the same step"
    );
    let digest: Vec<u8> = query(6379, &["HGET", &key, "dig"]).unwrap();
    assert_eq!(digest.len(), 32);
}

/// Two deployments on one Redis do not see each other.
#[tokio::test]
async fn prefixes_isolate_deployments() {
    let (one, two) = (SharedPrefix::new(), SharedPrefix::new());
    let (a, b) = (redis_store(&one).await, redis_store(&two).await);
    let (client, mailbox) = records();
    a.insert_client(&client).await.unwrap();
    a.open_mailbox(&mailbox, 10).await.unwrap();
    assert_eq!(b.client(&client.client_id).await.unwrap(), None);
    assert_eq!(b.mailbox(&mailbox.mailbox_id).await.unwrap(), None);
}

/// A prefix that would break hash tags, a URL that is not Redis, and an unreachable Redis are
/// refused at start-up, without the password in the message.
#[tokio::test]
async fn bad_configurations_are_refused_clearly() {
    let hub = WakeHub::default;
    let refused =
        |result: anyhow::Result<RedisStore>| format!("{:#}", result.err().expect("refused"));
    let message =
        refused(RedisStore::connect(SHARED_REDIS, "a{b}:", hub(), TestClock::new()).await);
    assert!(message.contains("prefix"), "{message}");
    let port = sealgate_testkit::free_port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/");
    let message = refused(RedisStore::connect(&url, "p:", hub(), TestClock::new()).await);
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    let config = sealgate::Config {
        store: "postgres://h/db".into(),
        ..sealgate::Config::default()
    };
    let message = sealgate::store::connect(&config, hub(), TestClock::new())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(message.contains("redis+cluster://"), "{message}");
}
