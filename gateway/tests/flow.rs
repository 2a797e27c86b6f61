//! The whole sign-in flow over real HTTP: register, open, seal, deposit, long-poll, open the
//! envelope; consume-once, wake-ups, concurrent pollers, expiry and HTTP/2.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Version, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sealgate_crypto::Envelope;

use sealgate_testkit::{
    EVENTUALLY, TestGateway, eventually, fake_id_token, now_secs, seal_for, send_with,
};

#[tokio::test]
async fn register_open_deposit_poll_and_open() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, Some(120)).await;
    assert_eq!(mailbox.body["expires_in"], 120);
    assert_eq!(
        mailbox.body["kid"].as_str(),
        Some(client.key.public_key().thumbprint())
    );
    let token = fake_id_token();
    let envelope = seal_for(&client, &mailbox, token.as_bytes());

    let first = gw.deposit(&mailbox.id, &envelope).await;
    first.assert_status(201);
    assert_eq!(first.json()["status"], "deposited");
    gw.deposit(&mailbox.id, &envelope).await.assert_status(200);

    let polled = gw.poll(&client.basic(), &mailbox.id, 5).await;
    polled.assert_status(200);
    assert_eq!(
        polled.header(header::CONTENT_TYPE),
        Some("application/jose")
    );
    assert_eq!(polled.header(header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(
        polled.body,
        envelope.as_bytes(),
        "the envelope comes back as deposited"
    );

    let opened = Envelope::parse(&polled.text())
        .expect("a well-formed envelope")
        .open(&client.key)
        .expect("the app opens it");
    assert_eq!(opened.plaintext.as_slice(), token.as_bytes());
    opened
        .header
        .check_binding(&client.id, &mailbox.id, now_secs())
        .expect("bound to this client and mailbox");
}

#[tokio::test]
async fn after_consumption_retries_are_idempotent_and_others_conflict() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    gw.deposit(&mailbox.id, &envelope).await.assert_status(201);
    gw.poll(&client.basic(), &mailbox.id, 0)
        .await
        .assert_status(200);

    let again = gw.poll(&client.basic(), &mailbox.id, 0).await;
    sealgate_testkit::assert_problem(&again, 404, "not-found");
    gw.deposit(&mailbox.id, &envelope).await.assert_status(200);
    let other = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    let conflict = gw.deposit(&mailbox.id, &other).await;
    sealgate_testkit::assert_problem(&conflict, 409, "deposit-conflict");
}

#[tokio::test]
async fn a_different_envelope_before_consumption_conflicts() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let first = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    let second = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    gw.deposit(&mailbox.id, &first).await.assert_status(201);
    sealgate_testkit::assert_problem(
        &gw.deposit(&mailbox.id, &second).await,
        409,
        "deposit-conflict",
    );
    let polled = gw.poll(&client.basic(), &mailbox.id, 0).await;
    assert_eq!(polled.assert_status(200).body, first.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_wakes_a_waiting_long_poll() {
    let gw = Arc::new(TestGateway::start().await);
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());

    let poller = {
        let (gw, auth, id) = (gw.clone(), client.basic(), mailbox.id.clone());
        tokio::spawn(async move {
            let reply = gw.poll(&auth, &id, 10).await;
            (reply, Instant::now())
        })
    };
    gw.wait_for_waiters(1).await;
    let deposited_at = Instant::now();
    gw.deposit(&mailbox.id, &envelope).await.assert_status(201);
    let (reply, answered_at) = poller.await.unwrap();
    reply.assert_status(200);
    assert_eq!(reply.body, envelope.as_bytes());
    let latency = answered_at.duration_since(deposited_at);
    assert!(
        latency < Duration::from_secs(1),
        "the poll answered {latency:?} after the deposit; it should be woken, not time out"
    );
    assert_eq!(gw.waiters().await, 0, "the waiters gauge goes back down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_sixteen_concurrent_pollers_exactly_one_gets_the_envelope() {
    let gw = Arc::new(TestGateway::start().await);
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());

    let pollers: Vec<_> = (0..16)
        .map(|_| {
            let (gw, auth, id) = (gw.clone(), client.basic(), mailbox.id.clone());
            tokio::spawn(async move { gw.poll(&auth, &id, 5).await })
        })
        .collect();
    // Let most of them start waiting, then deposit while they race.
    eventually("pollers waiting", EVENTUALLY, || async {
        gw.waiters().await >= 8
    })
    .await;
    gw.deposit(&mailbox.id, &envelope).await.assert_status(201);

    let mut delivered = 0;
    for poller in pollers {
        let reply = poller.await.unwrap();
        match reply.status.as_u16() {
            200 => {
                delivered += 1;
                assert_eq!(reply.body, envelope.as_bytes());
            }
            202 => assert_eq!(reply.json()["error"], "authorization_pending"),
            404 => {
                sealgate_testkit::assert_problem(&reply, 404, "not-found");
            }
            other => panic!("unexpected status {other}: {}", reply.text()),
        }
    }
    assert_eq!(delivered, 1, "the envelope is handed out exactly once");
}

#[tokio::test]
async fn an_expired_mailbox_is_gone_and_forgotten() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    let mailbox = gw.open(&client, Some(1)).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    assert_eq!(gw.memory_store().mailbox_count(), 1);

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    sealgate_testkit::assert_problem(&gw.deposit(&mailbox.id, &envelope).await, 404, "not-found");
    sealgate_testkit::assert_problem(
        &gw.poll(&client.basic(), &mailbox.id, 0).await,
        404,
        "not-found",
    );
    eventually("the store to forget the mailbox", EVENTUALLY, || async {
        gw.memory_store().mailbox_count() == 0
    })
    .await;
}

#[tokio::test]
async fn an_unpolled_expired_mailbox_is_swept() {
    let gw = TestGateway::start().await;
    let client = gw.register().await;
    // Two seconds, not one: the three opens must all be counted before the first expires,
    // even on a loaded machine.
    for _ in 0..3 {
        gw.open(&client, Some(2)).await;
    }
    assert_eq!(gw.memory_store().mailbox_count(), 3);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    eventually(
        "the sweeper to drop expired mailboxes",
        EVENTUALLY,
        || async { gw.memory_store().mailbox_count() == 0 },
    )
    .await;
}

#[tokio::test]
async fn http2_with_prior_knowledge() {
    let gw = TestGateway::start().await;
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let health = gw
        .request(Method::GET, "/healthz")
        .body(Full::default())
        .unwrap();
    let reply = send_with(&h2, health).await;
    reply.assert_status(200);
    assert_eq!(reply.version, Version::HTTP_2);

    // A whole deposit and poll over the same HTTP/2 connection.
    let client = gw.register().await;
    let mailbox = gw.open(&client, None).await;
    let envelope = seal_for(&client, &mailbox, fake_id_token().as_bytes());
    let put = gw
        .request(Method::PUT, &format!("/v1/mailboxes/{}", mailbox.id))
        .header(header::CONTENT_TYPE, "application/jose")
        .body(Full::new(Bytes::from(envelope.clone())))
        .unwrap();
    send_with(&h2, put).await.assert_status(201);
    let get = gw
        .request(Method::GET, &format!("/v1/mailboxes/{}?wait=1", mailbox.id))
        .header(header::AUTHORIZATION, client.basic())
        .body(Full::default())
        .unwrap();
    let polled = send_with(&h2, get).await;
    assert_eq!(polled.assert_status(200).version, Version::HTTP_2);
    assert_eq!(polled.body, envelope.as_bytes());
}
