//! Redis goes away under a running gateway, and comes back. Each test runs its own
//! `redis-server` on a free loopback port and kills it; the shared Redis is not touched.

#[allow(unused_macros, unused_imports)]
mod support_redis;

use std::process::Command;
use std::time::{Duration, Instant};

use http::StatusCode;

use sealgate_testkit::Reply;
use sealgate_testkit::{RedisServer, join_all};
use support_redis::http::{Node, seal_for};

/// Redis killed: a waiting long-poll ends (202 or 503) long before its wait; /readyz, deposits
/// and polls answer 503 problem+json with Retry-After within a second. Redis restarted on the
/// same port (with its append-only file, so the data is back): the same gateway serves again
/// within two seconds, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted() {
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let node = Node::start(&redis.url(), "sg:").await;
    let app = node.register().await;
    let mailbox = node.open(&app).await;
    assert_eq!(node.get("/readyz").await.status, StatusCode::OK);

    let waiting = async {
        let started = Instant::now();
        let reply = node.poll(&app, &mailbox, 20).await;
        (reply, started.elapsed())
    };
    let kill = async {
        let deadline = Instant::now() + Duration::from_secs(5);
        while node.waiting() < 1 {
            assert!(Instant::now() < deadline, "the long-poll never waited");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        redis.kill();
        Instant::now()
    };
    let ((reply, waited), killed) = tokio::join!(waiting, kill);
    assert!(
        matches!(reply.status.as_u16(), 202 | 503),
        "a long-poll waiting when Redis died: {reply:?}"
    );
    if reply.status == StatusCode::SERVICE_UNAVAILABLE {
        reply.assert_unavailable();
    }
    eprintln!(
        "the waiting long-poll ended {:?} after the kill",
        killed.elapsed()
    );
    assert!(
        waited < Duration::from_secs(5),
        "it waited {waited:?} of its 20 s"
    );

    let envelope = seal_for(&app, &mailbox);
    for _ in 0..3 {
        assert_unavailable_fast(node.get("/readyz")).await;
        assert_unavailable_fast(node.deposit(&mailbox, &envelope)).await;
        assert_unavailable_fast(node.poll(&app, &mailbox, 5)).await;
        assert_unavailable_fast(node.try_open(&app)).await;
    }

    redis.restart();
    let restarted = Instant::now();
    loop {
        if node.get("/readyz").await.status == StatusCode::OK {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(2),
            "not ready 2 s after Redis"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = restarted.elapsed();
    assert_eq!(
        node.deposit(&mailbox, &envelope).await.status,
        StatusCode::CREATED
    );
    let reply = node.poll(&app, &mailbox, 1).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, envelope.as_bytes());
    eprintln!(
        "ready {ready:?} after Redis restarted; served {:?} after",
        restarted.elapsed()
    );
    assert!(restarted.elapsed() < Duration::from_secs(2));

    // Wake-ups work again too (the subscription was re-established).
    let fresh = node.open(&app).await;
    let envelope = seal_for(&app, &fresh);
    let poll = node.poll(&app, &fresh, 10);
    let deposit = async {
        while node.waiting() < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        assert_eq!(
            node.deposit(&fresh, &envelope).await.status,
            StatusCode::CREATED
        );
        started
    };
    let (reply, deposited) = tokio::join!(poll, deposit);
    assert_eq!(reply.status, StatusCode::OK);
    assert!(deposited.elapsed() < Duration::from_secs(1));
    node.shutdown().await;
}

/// Redis frozen (SIGSTOP: connections open, no answers): requests are answered 503 within a
/// second instead of hanging; thawed (SIGCONT), the gateway serves again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_and_thawed() {
    let redis = RedisServer::start();
    let node = Node::start(&redis.url(), "sg:").await;
    let app = node.register().await;
    let mailbox = node.open(&app).await;
    let envelope = seal_for(&app, &mailbox);

    signal(&redis, "-STOP");
    for _ in 0..3 {
        assert_unavailable_fast(node.deposit(&mailbox, &envelope)).await;
        assert_unavailable_fast(node.get("/readyz")).await;
        assert_unavailable_fast(node.poll(&app, &mailbox, 5)).await;
    }
    // Many requests at once while frozen: each is answered in time, none queues behind another.
    let started = Instant::now();
    let replies = join_all((0..200).map(|_| node.deposit(&mailbox, &envelope))).await;
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    signal(&redis, "-CONT");
    let thawed = Instant::now();
    loop {
        let reply = node.deposit(&mailbox, &envelope).await;
        if reply.status == StatusCode::CREATED {
            break;
        }
        reply.assert_unavailable();
        assert!(
            thawed.elapsed() < Duration::from_secs(2),
            "no recovery in 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("served again {:?} after the thaw", thawed.elapsed());
    assert_eq!(node.poll(&app, &mailbox, 1).await.status, StatusCode::OK);
    node.shutdown().await;
}

async fn assert_unavailable_fast(request: impl std::future::Future<Output = Reply>) {
    let started = Instant::now();
    let reply = request.await;
    let took = started.elapsed();
    reply.assert_unavailable();
    assert!(took < Duration::from_secs(1), "503 after {took:?}");
}

fn signal(redis: &RedisServer, signal: &str) {
    let pid = redis.pid().expect("running").to_string();
    let status = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}
