//! The device-registration clauses of the `Store` contract (see [`super::contract`]): every
//! backend answers them as the memory store does.

use std::time::Duration;

use sealgate::store::{
    DeviceKey, DeviceRecord, DeviceSecretHash, PushSubscription, RegisterOutcome, SharedStore,
};
use sealgate_crypto::random_token;
use sealgate_testkit::TestClock;

use super::contract::Backend;

const IDLE: Duration = Duration::from_secs(60);
const CAP: u64 = 1_000_000;

fn subscription() -> PushSubscription {
    PushSubscription {
        endpoint: format!("https://push.example.net/send/{}", random_token::<16>()),
        p256dh: random_token::<65>(),
        auth: random_token::<16>(),
    }
}

/// A fresh registration of `client_id`, expiring [`IDLE`] after `clock`'s now; its secret.
fn device(client_id: &str, clock: &TestClock) -> (DeviceRecord, String) {
    use sealgate::clock::Clock as _;
    let secret = format!("dsec_{}", random_token::<32>());
    let record = DeviceRecord {
        handle: format!("dh_{}", random_token::<16>()),
        client_id: client_id.to_owned(),
        subscription: subscription(),
        secret_hash: DeviceSecretHash::of(&secret),
        expires_at_ms: clock.now_ms() + IDLE.as_millis() as u64,
    };
    (record, secret)
}

fn key(device: &DeviceRecord) -> DeviceKey<'_> {
    DeviceKey {
        client_id: &device.client_id,
        handle: &device.handle,
    }
}

fn later(clock: &TestClock) -> u64 {
    use sealgate::clock::Clock as _;
    clock.now_ms() + IDLE.as_millis() as u64
}

async fn registered(
    backend: &Backend,
) -> (SharedStore, std::sync::Arc<TestClock>, DeviceRecord, String) {
    let clock = TestClock::new();
    let store = backend.store(clock.clone()).await;
    let (device, secret) = device(&random_token::<16>(), &clock);
    assert_eq!(
        store.register_device(&device, CAP).await.unwrap(),
        RegisterOutcome::Registered
    );
    (store, clock, device, secret)
}

/// A registration is read back as saved, replaced and deleted only with its secret.
pub async fn devices_change_with_their_secret(backend: &Backend) {
    let (store, clock, device, secret) = registered(backend).await;
    let found = store.use_device(key(&device), later(&clock)).await.unwrap();
    assert_eq!(
        found.as_ref().map(|d| &d.subscription),
        Some(&device.subscription)
    );
    assert_eq!(found.map(|d| d.secret_hash), Some(device.secret_hash));

    let mut replacement = device.clone();
    replacement.subscription = subscription();
    replacement.secret_hash = DeviceSecretHash::of("dsec_wrong");
    assert!(
        !store.update_device(&replacement).await.unwrap(),
        "wrong secret"
    );
    replacement.secret_hash = DeviceSecretHash::of(&secret);
    assert!(store.update_device(&replacement).await.unwrap());
    let found = store.use_device(key(&device), later(&clock)).await.unwrap();
    assert_eq!(
        found.map(|d| d.subscription),
        Some(replacement.subscription.clone())
    );

    let wrong = DeviceSecretHash::of("dsec_wrong");
    assert!(!store.delete_device(key(&device), &wrong).await.unwrap());
    assert!(
        store
            .use_device(key(&device), later(&clock))
            .await
            .unwrap()
            .is_some()
    );
    let right = DeviceSecretHash::of(&secret);
    assert!(store.delete_device(key(&device), &right).await.unwrap());
    assert_eq!(
        store.use_device(key(&device), later(&clock)).await.unwrap(),
        None
    );
    assert!(!store.delete_device(key(&device), &right).await.unwrap());
    assert!(!store.update_device(&replacement).await.unwrap(), "deleted");
}

/// A handle names nothing for another client: not found, not changed, not deleted.
pub async fn devices_belong_to_their_client(backend: &Backend) {
    let (store, clock, device, secret) = registered(backend).await;
    let stranger = DeviceKey {
        client_id: "another-client",
        handle: &device.handle,
    };
    assert_eq!(
        store.use_device(stranger, later(&clock)).await.unwrap(),
        None
    );
    let mut theirs = device.clone();
    theirs.client_id = "another-client".into();
    theirs.secret_hash = DeviceSecretHash::of(&secret);
    assert!(!store.update_device(&theirs).await.unwrap());
    let right = DeviceSecretHash::of(&secret);
    assert!(!store.delete_device(stranger, &right).await.unwrap());
    assert!(!store.forget_device(stranger).await.unwrap());
    let found = store.use_device(key(&device), later(&clock)).await.unwrap();
    assert_eq!(found.map(|d| d.subscription), Some(device.subscription));
}

/// A registration expires after its idle time, by the store's clock, and every use moves the
/// expiry; an expired one can be neither changed nor deleted with its secret.
pub async fn devices_expire_when_idle(backend: &Backend) {
    let (store, clock, device, secret) = registered(backend).await;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(45));
        let used = store.use_device(key(&device), later(&clock)).await.unwrap();
        assert!(used.is_some(), "used within its idle time");
    }
    clock.advance(IDLE + Duration::from_secs(1));
    assert_eq!(
        store.use_device(key(&device), later(&clock)).await.unwrap(),
        None
    );
    let mut replacement = device.clone();
    replacement.expires_at_ms = later(&clock);
    assert!(!store.update_device(&replacement).await.unwrap());
    let right = DeviceSecretHash::of(&secret);
    assert!(!store.delete_device(key(&device), &right).await.unwrap());
}

/// A subscription the push service calls gone is deleted without its secret.
pub async fn devices_forgotten_when_gone(backend: &Backend) {
    let (store, clock, device, _) = registered(backend).await;
    assert!(store.forget_device(key(&device)).await.unwrap());
    assert_eq!(
        store.use_device(key(&device), later(&clock)).await.unwrap(),
        None
    );
    assert!(!store.forget_device(key(&device)).await.unwrap());
}

/// Live registrations are counted, and the cap refuses one more.
pub async fn device_cap(backend: &Backend) {
    let clock = TestClock::new();
    let store = backend.store(clock.clone()).await;
    let before = store.device_count().await.unwrap();
    let client = random_token::<16>();
    for _ in 0..2 {
        let (device, _) = device(&client, &clock);
        let outcome = store.register_device(&device, before + 2).await.unwrap();
        assert_eq!(outcome, RegisterOutcome::Registered);
    }
    assert_eq!(store.device_count().await.unwrap(), before + 2);
    let (one_more, _) = device(&client, &clock);
    assert_eq!(
        store.register_device(&one_more, before + 2).await.unwrap(),
        RegisterOutcome::LimitReached
    );
    assert_eq!(
        store
            .use_device(key(&one_more), later(&clock))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.register_device(&one_more, 0).await.unwrap(),
        RegisterOutcome::Registered,
        "0 turns the cap off"
    );
}

/// Every instance on one backend signs with the VAPID key the first one stored.
pub async fn cross_instance_vapid_key(backend: &Backend) {
    let (one, two) = (
        backend.store(TestClock::new()).await,
        backend.store(TestClock::new()).await,
    );
    let first = one.shared_vapid_key("first-candidate").await.unwrap();
    let second = two.shared_vapid_key("second-candidate").await.unwrap();
    assert_eq!(*second, *first);
    assert_eq!(*one.shared_vapid_key("third").await.unwrap(), *first);
}

/// The same key for one instance asked twice (every backend, memory included).
pub async fn vapid_key_is_stored_once(backend: &Backend) {
    let store = backend.store(TestClock::new()).await;
    let first = store.shared_vapid_key(&random_token::<32>()).await.unwrap();
    assert_eq!(*store.shared_vapid_key("other").await.unwrap(), *first);
}
