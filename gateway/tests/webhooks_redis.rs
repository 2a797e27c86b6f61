//! Webhook delivery on Redis (the shared 127.0.0.1:6379, under a fresh key prefix per test):
//! the delivery flows of the memory tests, two instances delivering each envelope once, and an
//! instance killed mid-delivery whose delivery the other instance takes over after the claim
//! lease.

mod support_webhook;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate::Gateway;
use sealgate::clock::{Clock, SystemClock};

use sealgate_testkit::redis::redis_store;
use sealgate_testkit::{EVENTUALLY, SHARED_REDIS, SharedPrefix};
use support_webhook::{
    Metrics, QUIET, Receiver, Step, TestGateway, check_delivery, register_with_webhook,
    webhook_config,
};

support_webhook::flow_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    let prefix = SharedPrefix::new();
    start: TestGateway::on_redis(&prefix, webhook_config())
}

/// Two instances on one Redis, both delivering: deposits on either are each delivered exactly
/// once, by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_envelope_once() {
    let prefix = SharedPrefix::new();
    let a = TestGateway::on_redis(&prefix, webhook_config()).await;
    let b = TestGateway::on_redis(&prefix, webhook_config()).await;
    let receiver = Receiver::start().await;
    let app = register_with_webhook(&a, &receiver).await;
    let mut sent = Vec::new();
    for round in 0..8 {
        let (open_on, deposit_on) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let mailbox = open_on.open(&app, 120).await;
        sent.push(deposit_on.deposit_new(&app, mailbox).await);
    }
    let received = receiver.wait_for(8, EVENTUALLY).await;
    receiver
        .assert_stays(8, QUIET, "an envelope delivered twice")
        .await;
    let ids: HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 8, "one request per mailbox");
    for deposited in &sent {
        let request = received
            .iter()
            .find(|r| r.delivery().mailbox_id == deposited.mailbox.id)
            .expect("each mailbox delivered");
        check_delivery(request, &app, deposited);
        a.poll(&app, &deposited.mailbox, 0)
            .await
            .assert_problem(404, "not-found", None);
    }
    let delivered = |metrics: &Metrics| metrics.deliveries("delivered");
    let mut total = 0.0;
    let start = Instant::now();
    while total < 8.0 && start.elapsed() < EVENTUALLY {
        total = delivered(&a.metrics().await) + delivered(&b.metrics().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(total, 8.0, "deliveries counted by A and B together");
}

/// A gateway in a runtime of its own, so that "killing" it (shutting the runtime down without
/// waiting) ends every one of its tasks at once, the webhook attempt in flight included, and
/// closes its sockets and Redis connections, as a dead process would.
struct Doomed {
    runtime: Option<tokio::runtime::Runtime>,
    gateway: Option<TestGateway>,
}

impl Doomed {
    async fn start(prefix: &str) -> Self {
        let prefix = prefix.to_owned();
        let (sender, started) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            let gateway = runtime.block_on(async {
                let clock: Arc<dyn Clock> = Arc::new(SystemClock);
                let store = redis_store(SHARED_REDIS, &prefix, clock.clone()).await;
                Gateway::start_with(webhook_config(), store, clock)
                    .await
                    .expect("the gateway starts")
            });
            let _ = sender.send((runtime, gateway));
        });
        let (runtime, gateway) = started.await.expect("the doomed gateway starts");
        Self {
            runtime: Some(runtime),
            gateway: Some(TestGateway::attach(gateway)),
        }
    }

    fn gw(&self) -> &TestGateway {
        self.gateway.as_ref().expect("alive")
    }

    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        self.gateway = None;
    }
}

impl Drop for Doomed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Instance A claims the delivery and its attempt hangs (the receiver never answers); A is
/// killed. While A's envelope lease (15 s) lasts a poll sees 202; after A's claim lease (30 s)
/// instance B takes the delivery over and delivers it, with the same `webhook-id`, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_delivery_is_taken_over_by_the_other() {
    let prefix = SharedPrefix::new();
    let receiver = Receiver::start().await;
    receiver.script([Step::hang()]);
    let mut a = Doomed::start(&prefix.prefix).await;
    let app = register_with_webhook(a.gw(), &receiver).await;
    let sent = a.gw().open_and_deposit(&app, 300).await;
    let first = receiver.wait_for(1, EVENTUALLY).await.remove(0);
    check_delivery(&first, &app, &sent);

    let b = TestGateway::on_redis(&prefix, webhook_config()).await;
    a.kill();
    let killed = Instant::now();
    b.poll(&app, &sent.mailbox, 0).await.assert_status(202);
    receiver
        .assert_stays(
            1,
            Duration::from_secs(20),
            "B delivered while A's claim lease still held",
        )
        .await;

    let received = receiver.wait_for(2, Duration::from_secs(40)).await;
    let gap = received[1].at - first.at;
    eprintln!(
        "B delivered {gap:?} after A's attempt began ({:?} after A was killed)",
        received[1].at - killed
    );
    assert!(gap >= Duration::from_secs(28), "taken over after {gap:?}");
    check_delivery(&received[1], &app, &sent);
    assert_eq!(received[1].id, first.id, "one webhook-id across instances");
    b.wait_for_metric("a delivered outcome on B", 1.0, |m| {
        m.deliveries("delivered")
    })
    .await;
    b.poll(&app, &sent.mailbox, 0)
        .await
        .assert_problem(404, "not-found", None);
    receiver.assert_stays(2, QUIET, "a third attempt").await;
    assert_eq!(b.metrics().await.consumed(), 1.0);
}
