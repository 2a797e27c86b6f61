//! The `Store` contract, one async function per clause, run against every backend: memory,
//! Redis single node, Redis Cluster. The memory store is the reference; a backend passes when
//! it answers every clause as memory does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use sealgate::clock::Clock;
use sealgate::store::{
    ClientRecord, Delivery, Deposit, DepositOutcome, MailboxRecord, MemoryStore, OpenOutcome,
    SharedStore, StoreError, TakeOutcome, UpdateOutcome, WakeHub,
};
use sealgate_crypto::random_token;
use sealgate_testkit::{client_record, deposit_into, mailbox_record};

use sealgate_testkit::TestClock;

pub use super::device_contract::*;

type Connect =
    Arc<dyn Fn(Arc<dyn Clock>) -> Pin<Box<dyn Future<Output = SharedStore> + Send>> + Send + Sync>;

/// A backend under test: how to connect one more store (one more "gateway instance") to it.
#[derive(Clone)]
pub struct Backend {
    connect: Connect,
}

impl Backend {
    /// The memory store: every `store()` is a new, empty store.
    pub fn memory() -> Self {
        Self {
            connect: Arc::new(|clock| {
                Box::pin(async move {
                    Arc::new(MemoryStore::new(WakeHub::default(), clock)) as SharedStore
                })
            }),
        }
    }

    /// A Redis store: every `store()` is another instance on the same keys.
    pub fn redis(url: String, prefix: String) -> Self {
        Self {
            connect: Arc::new(move |clock| {
                let (url, prefix) = (url.clone(), prefix.clone());
                Box::pin(async move {
                    Arc::new(
                        sealgate::store::RedisStore::connect(
                            &url,
                            &prefix,
                            WakeHub::default(),
                            clock,
                        )
                        .await
                        .expect("the Redis store connects"),
                    ) as SharedStore
                })
            }),
        }
    }

    /// Connects a store (with its own wake-up hub, as a gateway process has).
    pub async fn store(&self, clock: Arc<dyn Clock>) -> SharedStore {
        (self.connect)(clock).await
    }
}

/// Generates one `#[tokio::test]` per contract clause; `$make` evaluates to
/// `(Backend, guard)`, the guard living until the test ends. Unused by test files that take
/// only the Redis helpers, as the module's other items are (`dead_code` is allowed there).
#[allow(unused_macros)]
macro_rules! contract_tests {
    ($make:expr) => {
        contract_tests!(@cases $make;
            clients, mailbox_reads, deposit_outcomes, take_consumes_once,
            take_by_another_client, cancel_outcomes, expiry, open_cap,
            delete_client_removes_mailboxes, expired_count, watch_wakes,
            concurrent_takes, large_binary_envelope, client_count, deposit_binding,
            deposit_enqueues_its_webhook, devices_change_with_their_secret,
            devices_belong_to_their_client, devices_expire_when_idle,
            devices_forgotten_when_gone, device_cap, vapid_key_is_stored_once);
    };
    (shared $make:expr) => {
        contract_tests!(@cases $make;
            cross_instance_wake, cross_instance_consume_once, cross_instance_client_changes,
            cross_instance_vapid_key);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (backend, _guard) = $make;
                $crate::support_redis::contract::$case(&backend).await;
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use contract_tests;

/// Every clause in turn (for a backend that is costly to set up, like a cluster).
pub async fn run_all(backend: &Backend) {
    clients(backend).await;
    mailbox_reads(backend).await;
    deposit_outcomes(backend).await;
    take_consumes_once(backend).await;
    take_by_another_client(backend).await;
    cancel_outcomes(backend).await;
    expiry(backend).await;
    open_cap(backend).await;
    delete_client_removes_mailboxes(backend).await;
    expired_count(backend).await;
    watch_wakes(backend).await;
    concurrent_takes(backend).await;
    large_binary_envelope(backend).await;
    client_count(backend).await;
    cross_instance_wake(backend).await;
    cross_instance_consume_once(backend).await;
    cross_instance_client_changes(backend).await;
    deposit_binding(backend).await;
    deposit_enqueues_its_webhook(backend).await;
    devices_change_with_their_secret(backend).await;
    devices_belong_to_their_client(backend).await;
    devices_expire_when_idle(backend).await;
    devices_forgotten_when_gone(backend).await;
    device_cap(backend).await;
    vapid_key_is_stored_once(backend).await;
    cross_instance_vapid_key(backend).await;
}

/// Deposits `envelope` into the mailbox `mailbox_id` as its phone would (bound to its client
/// and first key); a mailbox the store does not know gets a deposit bound to nothing real.
async fn put(
    store: &SharedStore,
    mailbox_id: &str,
    envelope: Bytes,
) -> Result<DepositOutcome, StoreError> {
    match store.mailbox(mailbox_id).await? {
        Some(mailbox) => store.deposit(deposit_into(&mailbox, envelope)).await,
        None => {
            let unknown = Deposit {
                mailbox_id,
                aud: "nobody",
                kid: "no-key",
                envelope,
            };
            store.deposit(unknown).await
        }
    }
}

fn envelope() -> Bytes {
    Bytes::from(format!(
        "eyJhbGciOiJIUEtFLTQifQ.{}..{}.",
        random_token::<32>(),
        random_token::<200>()
    ))
}

const TTL: Duration = Duration::from_secs(120);
const CAP: usize = 1_000;

/// A store with one client and one open mailbox.
async fn fixture(backend: &Backend) -> (SharedStore, Arc<TestClock>, ClientRecord, MailboxRecord) {
    let clock = TestClock::new();
    let store = backend.store(clock.clone()).await;
    let client = client_record("app");
    store.insert_client(&client).await.unwrap();
    let mailbox = mailbox_record(&client, &*clock, TTL);
    assert_eq!(
        store.open_mailbox(&mailbox, CAP).await.unwrap(),
        OpenOutcome::Opened
    );
    (store, clock, client, mailbox)
}

/// Clients are saved, read, replaced only when present, deleted once.
pub async fn clients(backend: &Backend) {
    let store = backend.store(TestClock::new()).await;
    let mut client = client_record("first");
    assert_eq!(store.client(&client.client_id).await.unwrap(), None);
    store.insert_client(&client).await.unwrap();
    assert_eq!(
        store.client(&client.client_id).await.unwrap(),
        Some(client.clone())
    );
    client.name = "renamed".into();
    client.revision = 2;
    assert_eq!(
        store.update_client(&client).await.unwrap(),
        UpdateOutcome::Updated
    );
    assert_eq!(
        store.client(&client.client_id).await.unwrap(),
        Some(client.clone())
    );
    // A change made from a stale read (revision 1 again) is refused, not applied.
    let mut stale = client.clone();
    stale.name = "stale".into();
    assert_eq!(
        store.update_client(&stale).await.unwrap(),
        UpdateOutcome::Conflict
    );
    assert_eq!(
        store.client(&client.client_id).await.unwrap().unwrap().name,
        "renamed"
    );
    let stranger = client_record("never inserted");
    assert_eq!(
        store.update_client(&stranger).await.unwrap(),
        UpdateOutcome::Missing
    );
    assert_eq!(store.client(&stranger.client_id).await.unwrap(), None);
    assert!(store.delete_client(&client.client_id).await.unwrap());
    assert!(!store.delete_client(&client.client_id).await.unwrap());
    assert_eq!(store.client(&client.client_id).await.unwrap(), None);
}

/// The client count follows inserts and deletes (the registration cap reads it); replacing a
/// record, deleting an unknown client and opening mailboxes leave it alone.
pub async fn client_count(backend: &Backend) {
    let clock = TestClock::new();
    let store = backend.store(clock.clone()).await;
    // Other clauses may have left clients under the same prefix (a cluster runs them all on
    // one): count from what is there.
    let before = store.client_count().await.unwrap();
    let first = client_record("first");
    let second = client_record("second");
    store.insert_client(&first).await.unwrap();
    store.insert_client(&second).await.unwrap();
    assert_eq!(store.client_count().await.unwrap(), before + 2);
    let mut renamed = first.clone();
    renamed.name = "renamed".into();
    renamed.revision = 2;
    store.update_client(&renamed).await.unwrap();
    let mailbox = mailbox_record(&first, clock.as_ref(), Duration::from_secs(60));
    store.open_mailbox(&mailbox, 10).await.unwrap();
    assert_eq!(store.client_count().await.unwrap(), before + 2);
    assert!(store.delete_client(&first.client_id).await.unwrap());
    assert!(!store.delete_client(&first.client_id).await.unwrap());
    assert!(
        !store
            .delete_client(&client_record("stranger").client_id)
            .await
            .unwrap()
    );
    assert_eq!(store.client_count().await.unwrap(), before + 1);
    assert!(store.delete_client(&second.client_id).await.unwrap());
    assert_eq!(store.client_count().await.unwrap(), before);
}

/// An open mailbox reads back as it was opened; an unknown one reads as nothing.
pub async fn mailbox_reads(backend: &Backend) {
    let (store, _clock, _client, mailbox) = fixture(backend).await;
    assert_eq!(
        store.mailbox(&mailbox.mailbox_id).await.unwrap(),
        Some(mailbox.clone())
    );
    assert_eq!(store.mailbox(&random_token::<16>()).await.unwrap(), None);
}

/// The store checks a deposit's binding in the same step as it stores: another client's `aud`
/// or a `kid` the mailbox was not opened with is refused and stores nothing; once the envelope
/// is taken, an identical retry is still recognised.
pub async fn deposit_binding(backend: &Backend) {
    let (store, _clock, client, mailbox) = fixture(backend).await;
    let sealed = envelope();
    let bound = |aud: &'static str, kid: &'static str| Deposit {
        mailbox_id: &mailbox.mailbox_id,
        aud,
        kid,
        envelope: sealed.clone(),
    };
    assert_eq!(
        store.deposit(bound("another-client", "")).await.unwrap(),
        DepositOutcome::OtherClient
    );
    let mut wrong_kid = deposit_into(&mailbox, sealed.clone());
    wrong_kid.kid = "not-a-kid-of-this-mailbox";
    assert_eq!(
        store.deposit(wrong_kid).await.unwrap(),
        DepositOutcome::UnknownKid
    );
    let mut part_of_a_kid = deposit_into(&mailbox, sealed.clone());
    let kid = mailbox.kids[0].clone();
    part_of_a_kid.kid = &kid[..kid.len() - 1];
    assert_eq!(
        store.deposit(part_of_a_kid).await.unwrap(),
        DepositOutcome::UnknownKid
    );
    assert_eq!(
        store
            .take(&mailbox.mailbox_id, &client.client_id)
            .await
            .unwrap(),
        TakeOutcome::Pending,
        "refused deposits store nothing"
    );
    assert_eq!(
        store
            .deposit(deposit_into(&mailbox, sealed.clone()))
            .await
            .unwrap(),
        DepositOutcome::Stored { webhook: false }
    );
    assert!(matches!(
        store
            .take(&mailbox.mailbox_id, &client.client_id)
            .await
            .unwrap(),
        TakeOutcome::Envelope(_)
    ));
    assert_eq!(
        store.deposit(deposit_into(&mailbox, sealed)).await.unwrap(),
        DepositOutcome::Identical
    );
    assert_eq!(store.delivery_queue_depth().await.unwrap(), 0);
}

/// A mailbox opened with a webhook enqueues its delivery with the deposit, once, carrying the
/// mailbox's expiry; one without enqueues nothing.
pub async fn deposit_enqueues_its_webhook(backend: &Backend) {
    let (store, clock, client, plain) = fixture(backend).await;
    let mut hooked = mailbox_record(&client, &*clock, TTL);
    hooked.webhook = true;
    store.open_mailbox(&hooked, CAP).await.unwrap();
    assert_eq!(
        store.mailbox(&hooked.mailbox_id).await.unwrap(),
        Some(hooked.clone())
    );
    put(&store, &plain.mailbox_id, envelope()).await.unwrap();
    assert_eq!(store.delivery_queue_depth().await.unwrap(), 0);
    let sealed = envelope();
    assert_eq!(
        store
            .deposit(deposit_into(&hooked, sealed.clone()))
            .await
            .unwrap(),
        DepositOutcome::Stored { webhook: true }
    );
    assert_eq!(
        store.deposit(deposit_into(&hooked, sealed)).await.unwrap(),
        DepositOutcome::Identical
    );
    assert_eq!(store.delivery_queue_depth().await.unwrap(), 1);
    let now = clock.now_ms();
    let claimed = store.claim_deliveries(now, 30_000, 10).await.unwrap();
    let [delivery] = claimed.as_slice() else {
        panic!("one delivery, not {claimed:?}");
    };
    let created_at_ms = delivery.created_at_ms;
    assert!(
        created_at_ms <= now && now - created_at_ms < 5_000,
        "{delivery:?}"
    );
    let mut expected = Delivery::first(&hooked, created_at_ms);
    expected.next_attempt_at_ms = delivery.next_attempt_at_ms;
    assert_eq!(*delivery, expected);
}

/// First deposit stored, identical retry recognised, a different one refused, unknown 404.
pub async fn deposit_outcomes(backend: &Backend) {
    let (store, _clock, _client, mailbox) = fixture(backend).await;
    let id = &mailbox.mailbox_id;
    let sealed = envelope();
    assert_eq!(
        put(&store, id, sealed.clone()).await.unwrap(),
        DepositOutcome::Stored { webhook: false }
    );
    assert_eq!(
        put(&store, id, sealed.clone()).await.unwrap(),
        DepositOutcome::Identical
    );
    assert_eq!(
        put(&store, id, envelope()).await.unwrap(),
        DepositOutcome::Conflict
    );
    assert_eq!(
        put(&store, &random_token::<16>(), sealed).await.unwrap(),
        DepositOutcome::NotFound
    );
}

/// Pending before the deposit; the envelope once; then gone, while the digest still
/// answers retries (identical 200, different 409) and the mailbox still reads until its TTL.
pub async fn take_consumes_once(backend: &Backend) {
    let (store, _clock, client, mailbox) = fixture(backend).await;
    let (id, owner) = (&mailbox.mailbox_id, &client.client_id);
    assert_eq!(store.take(id, owner).await.unwrap(), TakeOutcome::Pending);
    let sealed = envelope();
    put(&store, id, sealed.clone()).await.unwrap();
    assert_eq!(
        store.take(id, owner).await.unwrap(),
        TakeOutcome::Envelope(sealed.clone())
    );
    assert_eq!(store.take(id, owner).await.unwrap(), TakeOutcome::NotFound);
    assert_eq!(
        put(&store, id, sealed).await.unwrap(),
        DepositOutcome::Identical
    );
    assert_eq!(
        put(&store, id, envelope()).await.unwrap(),
        DepositOutcome::Conflict
    );
    assert_eq!(store.take(id, owner).await.unwrap(), TakeOutcome::NotFound);
    assert!(
        store.mailbox(id).await.unwrap().is_some(),
        "consumed, not expired"
    );
    assert!(
        !store.cancel(id, owner).await.unwrap(),
        "a consumed mailbox is not cancelled"
    );
}

/// Another client's poll sees nothing, and takes nothing.
pub async fn take_by_another_client(backend: &Backend) {
    let (store, _clock, client, mailbox) = fixture(backend).await;
    let id = &mailbox.mailbox_id;
    let other = client_record("other");
    store.insert_client(&other).await.unwrap();
    assert_eq!(
        store.take(id, &other.client_id).await.unwrap(),
        TakeOutcome::NotFound
    );
    let sealed = envelope();
    put(&store, id, sealed.clone()).await.unwrap();
    assert_eq!(
        store.take(id, &other.client_id).await.unwrap(),
        TakeOutcome::NotFound
    );
    assert!(!store.cancel(id, &other.client_id).await.unwrap());
    assert_eq!(
        store.take(id, &client.client_id).await.unwrap(),
        TakeOutcome::Envelope(sealed)
    );
}

/// The owner cancels once, empty or filled; afterwards the mailbox is gone for everyone.
pub async fn cancel_outcomes(backend: &Backend) {
    let (store, clock, client, mailbox) = fixture(backend).await;
    let (id, owner) = (&mailbox.mailbox_id, &client.client_id);
    assert!(store.cancel(id, owner).await.unwrap());
    assert!(!store.cancel(id, owner).await.unwrap());
    assert_eq!(store.mailbox(id).await.unwrap(), None);
    assert_eq!(
        put(&store, id, envelope()).await.unwrap(),
        DepositOutcome::NotFound
    );
    assert_eq!(store.take(id, owner).await.unwrap(), TakeOutcome::NotFound);

    let filled = mailbox_record(&client, &*clock, TTL);
    store.open_mailbox(&filled, CAP).await.unwrap();
    put(&store, &filled.mailbox_id, envelope()).await.unwrap();
    assert!(store.cancel(&filled.mailbox_id, owner).await.unwrap());
    assert_eq!(
        store.take(&filled.mailbox_id, owner).await.unwrap(),
        TakeOutcome::NotFound
    );
}

/// Past its expiry a mailbox is gone: unread, undepositable, untakeable, uncancellable,
/// whether it was empty or filled.
pub async fn expiry(backend: &Backend) {
    let (store, clock, client, empty) = fixture(backend).await;
    let owner = &client.client_id;
    let filled = mailbox_record(&client, &*clock, Duration::from_secs(30));
    store.open_mailbox(&filled, CAP).await.unwrap();
    put(&store, &filled.mailbox_id, envelope()).await.unwrap();
    clock.advance(TTL + Duration::from_secs(1));
    for id in [&empty.mailbox_id, &filled.mailbox_id] {
        assert_eq!(store.mailbox(id).await.unwrap(), None);
        assert_eq!(
            put(&store, id, envelope()).await.unwrap(),
            DepositOutcome::NotFound
        );
        assert_eq!(store.take(id, owner).await.unwrap(), TakeOutcome::NotFound);
        assert!(!store.cancel(id, owner).await.unwrap());
    }
}

/// The cap counts the client's unconsumed, live mailboxes: consuming, cancelling or expiry
/// frees a place; another client's mailboxes do not count.
pub async fn open_cap(backend: &Backend) {
    let clock = TestClock::new();
    let store = backend.store(clock.clone()).await;
    let client = client_record("capped");
    store.insert_client(&client).await.unwrap();
    let cap = 3;
    let mut open = Vec::new();
    for _ in 0..cap {
        let mailbox = mailbox_record(&client, &*clock, Duration::from_secs(10));
        assert_eq!(
            store.open_mailbox(&mailbox, cap).await.unwrap(),
            OpenOutcome::Opened
        );
        open.push(mailbox);
    }
    let one_more = || mailbox_record(&client, &*clock, TTL);
    assert_eq!(
        store.open_mailbox(&one_more(), cap).await.unwrap(),
        OpenOutcome::LimitReached
    );

    let other = client_record("other");
    let theirs = mailbox_record(&other, &*clock, TTL);
    assert_eq!(
        store.open_mailbox(&theirs, cap).await.unwrap(),
        OpenOutcome::Opened
    );

    let consumed = &open[0].mailbox_id;
    put(&store, consumed, envelope()).await.unwrap();
    assert!(matches!(
        store.take(consumed, &client.client_id).await.unwrap(),
        TakeOutcome::Envelope(_)
    ));
    assert_eq!(
        store.open_mailbox(&one_more(), cap).await.unwrap(),
        OpenOutcome::Opened
    );
    assert_eq!(
        store.open_mailbox(&one_more(), cap).await.unwrap(),
        OpenOutcome::LimitReached
    );

    assert!(
        store
            .cancel(&open[1].mailbox_id, &client.client_id)
            .await
            .unwrap()
    );
    assert_eq!(
        store.open_mailbox(&one_more(), cap).await.unwrap(),
        OpenOutcome::Opened
    );
    assert_eq!(
        store.open_mailbox(&one_more(), cap).await.unwrap(),
        OpenOutcome::LimitReached
    );

    clock.advance(Duration::from_secs(11));
    assert_eq!(
        store.open_mailbox(&one_more(), cap).await.unwrap(),
        OpenOutcome::Opened
    );
}

/// Deleting a client deletes its open mailboxes.
pub async fn delete_client_removes_mailboxes(backend: &Backend) {
    let (store, clock, client, empty) = fixture(backend).await;
    let filled = mailbox_record(&client, &*clock, TTL);
    store.open_mailbox(&filled, CAP).await.unwrap();
    put(&store, &filled.mailbox_id, envelope()).await.unwrap();
    assert!(store.delete_client(&client.client_id).await.unwrap());
    for id in [&empty.mailbox_id, &filled.mailbox_id] {
        assert_eq!(store.mailbox(id).await.unwrap(), None);
        assert_eq!(
            store.take(id, &client.client_id).await.unwrap(),
            TakeOutcome::NotFound
        );
        assert_eq!(
            put(&store, id, envelope()).await.unwrap(),
            DepositOutcome::NotFound
        );
    }
}

/// A mailbox that expires unconsumed is counted (by the time its client opens another);
/// a consumed one is not.
pub async fn expired_count(backend: &Backend) {
    let (store, clock, client, unconsumed) = fixture(backend).await;
    let consumed = mailbox_record(&client, &*clock, TTL);
    store.open_mailbox(&consumed, CAP).await.unwrap();
    put(&store, &consumed.mailbox_id, envelope()).await.unwrap();
    store
        .take(&consumed.mailbox_id, &client.client_id)
        .await
        .unwrap();
    let before = store.expired_count();
    clock.advance(TTL + Duration::from_secs(1));
    let next = mailbox_record(&client, &*clock, TTL);
    store.open_mailbox(&next, CAP).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while store.expired_count() < before + 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.expired_count(),
        before + 1,
        "{}",
        unconsumed.mailbox_id
    );
}

/// A waiter registered before a deposit (or a cancel) is woken by it, even when the deposit
/// comes before the wait begins.
pub async fn watch_wakes(backend: &Backend) {
    let (store, clock, client, mailbox) = fixture(backend).await;
    let id = mailbox.mailbox_id.clone();
    let mut early = store.watch(&id).await.unwrap();
    put(&store, &id, envelope()).await.unwrap();
    within("a wake-up sent before the wait", early.wait()).await;

    let other = mailbox_record(&client, &*clock, TTL);
    store.open_mailbox(&other, CAP).await.unwrap();
    let mut waiter = store.watch(&other.mailbox_id).await.unwrap();
    let depositor = {
        let (store, id) = (store.clone(), other.mailbox_id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            put(&store, &id, envelope()).await.unwrap()
        })
    };
    within("a wake-up on deposit", waiter.wait()).await;
    assert_eq!(
        depositor.await.unwrap(),
        DepositOutcome::Stored { webhook: false }
    );

    let cancelled = mailbox_record(&client, &*clock, TTL);
    store.open_mailbox(&cancelled, CAP).await.unwrap();
    let mut waiter = store.watch(&cancelled.mailbox_id).await.unwrap();
    assert!(
        store
            .cancel(&cancelled.mailbox_id, &client.client_id)
            .await
            .unwrap()
    );
    within("a wake-up on cancel", waiter.wait()).await;
}

/// Of 16 concurrent takes, exactly one gets the envelope.
pub async fn concurrent_takes(backend: &Backend) {
    let (store, _clock, client, mailbox) = fixture(backend).await;
    let sealed = envelope();
    put(&store, &mailbox.mailbox_id, sealed.clone())
        .await
        .unwrap();
    let takes: Vec<_> = (0..16)
        .map(|_| {
            let (store, id, owner) = (
                store.clone(),
                mailbox.mailbox_id.clone(),
                client.client_id.clone(),
            );
            tokio::spawn(async move { store.take(&id, &owner).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for take in takes {
        match take.await.unwrap() {
            TakeOutcome::Envelope(got) => {
                assert_eq!(got, sealed);
                winners += 1;
            }
            TakeOutcome::NotFound => {}
            TakeOutcome::Pending => panic!("a filled mailbox is not pending"),
        }
    }
    assert_eq!(winners, 1);
}

/// The largest envelope (16 KiB), with every byte value, comes back byte for byte.
pub async fn large_binary_envelope(backend: &Backend) {
    let (store, _clock, client, mailbox) = fixture(backend).await;
    let sealed: Bytes = (0..16 * 1024)
        .map(|i| (i % 256) as u8)
        .collect::<Vec<u8>>()
        .into();
    put(&store, &mailbox.mailbox_id, sealed.clone())
        .await
        .unwrap();
    assert_eq!(
        put(&store, &mailbox.mailbox_id, sealed.clone())
            .await
            .unwrap(),
        DepositOutcome::Identical
    );
    assert_eq!(
        store
            .take(&mailbox.mailbox_id, &client.client_id)
            .await
            .unwrap(),
        TakeOutcome::Envelope(sealed)
    );
}

/// A waiter on one instance is woken by a deposit on another, within a second.
pub async fn cross_instance_wake(backend: &Backend) {
    let (a, clock, client, mailbox) = fixture(backend).await;
    let b = backend.store(clock.clone()).await;
    assert_eq!(
        b.client(&client.client_id).await.unwrap(),
        Some(client.clone())
    );
    let mut waiter = b.watch(&mailbox.mailbox_id).await.unwrap();
    assert_eq!(
        b.take(&mailbox.mailbox_id, &client.client_id)
            .await
            .unwrap(),
        TakeOutcome::Pending
    );
    let sealed = envelope();
    let started = tokio::time::Instant::now();
    put(&a, &mailbox.mailbox_id, sealed.clone()).await.unwrap();
    within("a wake-up from another instance", waiter.wait()).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        b.take(&mailbox.mailbox_id, &client.client_id)
            .await
            .unwrap(),
        TakeOutcome::Envelope(sealed)
    );
    assert_eq!(
        a.take(&mailbox.mailbox_id, &client.client_id)
            .await
            .unwrap(),
        TakeOutcome::NotFound
    );
}

/// A client changed or deleted through one instance is read anew by every other instance's
/// authentication at once: well within the cache's age limit, which alone would take 5 s.
pub async fn cross_instance_client_changes(backend: &Backend) {
    let clock = TestClock::new();
    let a = backend.store(clock.clone()).await;
    let b = backend.store(clock.clone()).await;
    let client = client_record("app");
    a.insert_client(&client).await.unwrap();
    assert_eq!(
        b.client_for_auth(&client.client_id).await.unwrap(),
        Some(client.clone())
    );
    let mut rotated = client.clone();
    rotated.secret_hash = random_token::<32>();
    rotated.revision += 1;
    assert_eq!(
        a.update_client(&rotated).await.unwrap(),
        UpdateOutcome::Updated
    );
    let id = client.client_id.clone();
    let seen_by_b = |expected: Option<ClientRecord>| {
        let (b, id) = (b.clone(), id.clone());
        async move {
            while b.client_for_auth(&id).await.unwrap() != expected {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    within(
        "the rotated record on the other instance",
        seen_by_b(Some(rotated)),
    )
    .await;
    assert!(a.delete_client(&id).await.unwrap());
    within("the deletion on the other instance", seen_by_b(None)).await;
}

/// Concurrent takes spread over two instances: exactly one winner.
pub async fn cross_instance_consume_once(backend: &Backend) {
    let (a, clock, client, mailbox) = fixture(backend).await;
    let b = backend.store(clock).await;
    put(&a, &mailbox.mailbox_id, envelope()).await.unwrap();
    let takes: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (id, owner) = (mailbox.mailbox_id.clone(), client.client_id.clone());
            tokio::spawn(async move { store.take(&id, &owner).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for take in takes {
        if matches!(take.await.unwrap(), TakeOutcome::Envelope(_)) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn within(what: &str, future: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(2), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}
