//! One-click sign-in at the gateway: device registrations and `notify`, against a stand-in
//! push service on loopback. Each push is checked as a phone and a push service would: the
//! headers, the VAPID JWT's claims and its ES256 signature against the served key, and the
//! payload decrypted with the phone's subscription keys.

mod support_push;

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::json;

use sealgate::store::{MemoryStore, WakeHub};
use sealgate_testkit::{TestClock, TestGateway, metric_value};
use support_push::{
    Answer, Phone, PushService, change, check_push_headers, open_notifying, push_config, register,
    register_raw, served_vapid_key,
};

fn pushes(metrics: &str, outcome: &str) -> f64 {
    let line = format!("sealgate_push_notifications_total{{outcome=\"{outcome}\"}}");
    metric_value(metrics, &line).unwrap_or(0.0)
}

/// The whole path: register, notify, and the push as the phone and push service see it.
#[tokio::test]
async fn a_notify_pushes_the_signin_request_to_the_phone() {
    let service = PushService::start().await;
    let gateway = TestGateway::start_with(push_config()).await;
    let client = gateway.register().await;
    let phone = Phone::new(&service);
    let device = register(&gateway, &client, &phone).await;
    let vapid_key = served_vapid_key(&gateway).await;

    let reply = open_notifying(&gateway, &client, &device.handle, Some("Code 4821")).await;
    reply.assert_status(201);
    let opened = reply.json();
    assert_eq!(opened["notification"], json!({ "status": "sent" }));
    let push = service.next().await;
    assert!(phone.endpoint.ends_with(&push.path));
    check_push_headers(&push, 120, &service.origin(), &vapid_key);
    let payload = phone.open(&push);
    assert_eq!(
        payload,
        json!({
            "v": 1,
            "signin_request": opened["signin_request"],
            "client_name": "test app",
            "binding_message": "Code 4821",
        })
    );
    // Every message is padded to one length, whatever it carries.
    assert!(push.body.len() >= 1024 + 86 + 17, "{}", push.body.len());

    let without_message = open_notifying(&gateway, &client, &device.handle, None).await;
    without_message.assert_status(201);
    let payload = phone.open(&service.next().await);
    assert!(payload.get("binding_message").is_none(), "{payload}");
    assert_eq!(pushes(&gateway.metrics().await, "sent"), 2.0);
}

/// A mailbox opened without `notify` answers as before: no `notification`, no push.
#[tokio::test]
async fn an_open_without_notify_pushes_nothing() {
    let service = PushService::start().await;
    let gateway = TestGateway::start_with(push_config()).await;
    let client = gateway.register().await;
    let mailbox = gateway.open(&client, None).await;
    assert!(mailbox.body.get("notification").is_none());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(service.pending().await, 0);
}

/// PUT and DELETE need the device secret; a wrong one, another client's handle and an
/// unknown one all answer 404; a deleted registration cannot be notified, and no mailbox is
/// opened for it.
#[tokio::test]
async fn registrations_change_only_with_their_secret() {
    let service = PushService::start().await;
    let gateway = TestGateway::start_with(push_config()).await;
    let (client, other) = (gateway.register().await, gateway.register().await);
    let phone = Phone::new(&service);
    let device = register(&gateway, &client, &phone).await;
    let ids = (client.id.as_str(), device.handle.as_str());
    let moved = Phone::new(&service);
    let subscription = moved.subscription();

    let missing = change(&gateway, Method::PUT, ids, None, Some(&subscription)).await;
    missing.assert_problem(401, "missing-device-secret", Some("invalid_token"));
    assert!(
        missing
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let wrong = "dsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for secret in [wrong, "not-a-device-secret"] {
        let reply = change(
            &gateway,
            Method::PUT,
            ids,
            Some(secret),
            Some(&subscription),
        )
        .await;
        reply.assert_problem(404, "not-found", None);
    }
    let elsewhere = (other.id.as_str(), device.handle.as_str());
    let reply = change(
        &gateway,
        Method::PUT,
        elsewhere,
        Some(&device.secret),
        Some(&subscription),
    )
    .await;
    reply.assert_problem(404, "not-found", None);

    let replaced = change(
        &gateway,
        Method::PUT,
        ids,
        Some(&device.secret),
        Some(&subscription),
    )
    .await;
    replaced.assert_status(200);
    assert_eq!(replaced.json()["device_handle"], device.handle.as_str());
    assert!(replaced.json().get("device_secret").is_none());
    open_notifying(&gateway, &client, &device.handle, None)
        .await
        .assert_status(201);
    let push = service.next().await;
    assert!(
        moved.endpoint.ends_with(&push.path),
        "the new endpoint is pushed to"
    );
    moved.open(&push);

    let reply = change(&gateway, Method::DELETE, ids, Some(wrong), None).await;
    reply.assert_problem(404, "not-found", None);
    let reply = change(
        &gateway,
        Method::DELETE,
        elsewhere,
        Some(&device.secret),
        None,
    )
    .await;
    reply.assert_problem(404, "not-found", None);
    change(&gateway, Method::DELETE, ids, Some(&device.secret), None)
        .await
        .assert_status(204);
    let opened_before = gateway.memory_store().mailbox_count();
    let reply = open_notifying(&gateway, &client, &device.handle, None).await;
    reply.assert_problem(404, "unknown-device", Some("unknown_device"));
    assert_eq!(
        gateway.memory_store().mailbox_count(),
        opened_before,
        "no mailbox opened"
    );
    change(&gateway, Method::DELETE, ids, Some(&device.secret), None)
        .await
        .assert_problem(404, "not-found", None);
}

/// A handle works only for the client it was registered with.
#[tokio::test]
async fn another_clients_handle_is_an_unknown_device() {
    let service = PushService::start().await;
    let gateway = TestGateway::start_with(push_config()).await;
    let (client, other) = (gateway.register().await, gateway.register().await);
    let device = register(&gateway, &client, &Phone::new(&service)).await;
    let reply = open_notifying(&gateway, &other, &device.handle, Some("hi")).await;
    reply.assert_problem(404, "unknown-device", Some("unknown_device"));
    assert_eq!(gateway.memory_store().mailbox_count(), 0);
    let unknown = open_notifying(&gateway, &client, "dh_AAAAAAAAAAAAAAAAAAAAAA", None).await;
    unknown.assert_problem(404, "unknown-device", Some("unknown_device"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(service.pending().await, 0);
}

/// A registration expires after `push.device_idle_secs` without a notify; each notify moves
/// the expiry.
#[tokio::test]
async fn registrations_expire_when_idle_and_every_notify_refreshes_them() {
    let service = PushService::start().await;
    let clock = TestClock::new();
    let store = MemoryStore::new(WakeHub::default(), clock.clone());
    let mut config = push_config();
    config.push.device_idle_secs = 60;
    let gateway = TestGateway::start_on(config, Arc::new(store), clock.clone()).await;
    let client = gateway.register().await;
    let phone = Phone::new(&service);
    let device = register(&gateway, &client, &phone).await;
    assert_eq!(device.body["idle_timeout_secs"], 60);
    for _ in 0..3 {
        clock.advance(Duration::from_secs(45));
        let reply = open_notifying(&gateway, &client, &device.handle, None).await;
        reply.assert_status(201);
        phone.open(&service.next().await);
    }
    clock.advance(Duration::from_secs(61));
    let reply = open_notifying(&gateway, &client, &device.handle, None).await;
    reply.assert_problem(404, "unknown-device", Some("unknown_device"));
    let ids = (client.id.as_str(), device.handle.as_str());
    let reply = change(&gateway, Method::DELETE, ids, Some(&device.secret), None).await;
    reply.assert_problem(404, "not-found", None);
}

/// A 404 or 410 from the push service deletes the registration: the app is told
/// `device_gone`, and the next notify finds no device.
#[tokio::test]
async fn a_gone_subscription_deletes_the_registration() {
    for status in [410, 404] {
        let service = PushService::start().await;
        let gateway = TestGateway::start_with(push_config()).await;
        let client = gateway.register().await;
        let device = register(&gateway, &client, &Phone::new(&service)).await;
        service.answer(Answer::Status(status));
        let reply = open_notifying(&gateway, &client, &device.handle, None).await;
        reply.assert_status(201);
        let opened = reply.json();
        assert_eq!(opened["notification"]["status"], "device_gone", "{status}");
        service.next().await;
        // The mailbox stays open: the app can fall back to the QR code.
        let mailbox_id = opened["mailbox_id"].as_str().unwrap();
        gateway
            .poll(&client.basic(), mailbox_id, 0)
            .await
            .assert_status(202);
        let again = open_notifying(&gateway, &client, &device.handle, None).await;
        again.assert_problem(404, "unknown-device", Some("unknown_device"));
        assert_eq!(pushes(&gateway.metrics().await, "device_gone"), 1.0);
    }
}

/// Any other answer, and no answer in time, is `failed`; the registration stays.
#[tokio::test]
async fn failures_and_timeouts_are_reported_and_keep_the_registration() {
    let service = PushService::start().await;
    let mut config = push_config();
    config.push.timeout_secs = 1;
    let gateway = TestGateway::start_with(config).await;
    let client = gateway.register().await;
    let device = register(&gateway, &client, &Phone::new(&service)).await;
    service.answer(Answer::Status(500));
    let reply = open_notifying(&gateway, &client, &device.handle, None).await;
    assert_eq!(reply.json()["notification"]["status"], "failed");
    service.next().await;
    service.answer(Answer::Hang);
    let started = std::time::Instant::now();
    let reply = open_notifying(&gateway, &client, &device.handle, None).await;
    reply.assert_status(201);
    assert_eq!(reply.json()["notification"]["status"], "failed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    service.next().await;
    service.answer(Answer::Status(201));
    let reply = open_notifying(&gateway, &client, &device.handle, None).await;
    assert_eq!(reply.json()["notification"]["status"], "sent");
    let metrics = gateway.metrics().await;
    assert_eq!(pushes(&metrics, "failed"), 1.0);
    assert_eq!(pushes(&metrics, "timeout"), 1.0);
    assert_eq!(pushes(&metrics, "sent"), 1.0);
}

/// Endpoints pass the webhook address policy at registration: https only and public
/// addresses by default.
#[tokio::test]
async fn private_and_insecure_endpoints_are_refused_by_default() {
    let service = PushService::start().await;
    let mut config = push_config();
    config.webhooks.allow_private = false;
    let gateway = TestGateway::start_with(config).await;
    let client = gateway.register().await;
    for endpoint in [
        service.endpoint(),
        "https://127.0.0.1/push/x".to_owned(),
        "https://10.1.2.3/push/x".to_owned(),
        "https://[::1]/push/x".to_owned(),
        "https://localhost/push/x".to_owned(),
    ] {
        let reply = register_raw(
            &gateway,
            &client.id,
            &Phone::at(endpoint.clone()).subscription(),
        )
        .await;
        let problem = reply.assert_problem(400, "invalid-request", Some("invalid_request"));
        assert!(
            problem["detail"].as_str().unwrap().contains("endpoint"),
            "{endpoint}: {problem}"
        );
    }
    let mut config = push_config();
    config.webhooks.allow_insecure = false;
    let strict = TestGateway::start_with(config).await;
    let client = strict.register().await;
    let reply = register_raw(&strict, &client.id, &Phone::new(&service).subscription()).await;
    let problem = reply.assert_problem(400, "invalid-request", Some("invalid_request"));
    assert!(
        problem["detail"].as_str().unwrap().contains("https"),
        "{problem}"
    );
}

/// Bad input gets a clear error.
#[tokio::test]
async fn malformed_registrations_and_notifies_are_refused() {
    let service = PushService::start().await;
    let gateway = TestGateway::start_with(push_config()).await;
    let client = gateway.register().await;
    let phone = Phone::new(&service);
    let mut bad_key = phone.subscription();
    bad_key["keys"]["p256dh"] = json!("AAAA");
    let mut bad_auth = phone.subscription();
    bad_auth["keys"]["auth"] = json!("AAAA");
    let mut upper_case = phone.subscription();
    upper_case["endpoint"] = json!("https://PUSH.example.com/x");
    for body in [
        bad_key,
        bad_auth,
        upper_case,
        json!({ "endpoint": phone.endpoint }),
    ] {
        let reply = register_raw(&gateway, &client.id, &body).await;
        reply.assert_problem(400, "invalid-request", Some("invalid_request"));
    }
    let reply = register_raw(&gateway, "no-such-client", &phone.subscription()).await;
    reply.assert_problem(404, "not-found", None);

    let device = register(&gateway, &client, &phone).await;
    let auth = client.basic();
    for body in [
        json!({ "binding_message": "no notify" }),
        json!({ "notify": device.handle, "binding_message": "x".repeat(65) }),
        json!({ "notify": device.handle, "binding_message": "two\nlines" }),
        json!({ "notify": device.handle, "binding_message": "" }),
        json!({ "notify": "not-a-handle" }),
    ] {
        let reply = gateway.open_raw(Some(&auth), Some(body.clone())).await;
        reply.assert_problem(400, "invalid-request", Some("invalid_request"));
    }
    assert_eq!(gateway.memory_store().mailbox_count(), 0);
    assert_eq!(service.pending().await, 0);
}

/// Device registrations have their own per-address rate limit.
#[tokio::test]
async fn device_registrations_are_rate_limited_per_address() {
    let service = PushService::start().await;
    let mut config = push_config();
    config.push.registrations_per_ip_per_min = 1;
    config.push.registration_burst_per_ip = 2;
    let gateway = TestGateway::start_with(config).await;
    let client = gateway.register().await;
    for _ in 0..2 {
        register(&gateway, &client, &Phone::new(&service)).await;
    }
    let reply = register_raw(&gateway, &client.id, &Phone::new(&service).subscription()).await;
    reply.assert_problem(429, "rate-limited", None);
    assert!(reply.header("retry-after").is_some());
    // Opening mailboxes is not limited by it.
    gateway.open(&client, None).await;
}

/// The global cap on live registrations.
#[tokio::test]
async fn the_device_cap_closes_registration() {
    let service = PushService::start().await;
    let mut config = push_config();
    config.push.max_devices = 1;
    let gateway = TestGateway::start_with(config).await;
    let client = gateway.register().await;
    register(&gateway, &client, &Phone::new(&service)).await;
    let reply = register_raw(&gateway, &client.id, &Phone::new(&service).subscription()).await;
    reply.assert_problem(403, "too-many-devices", None);
}

/// With push off, the push routes say so and `notify` is refused.
#[tokio::test]
async fn push_can_be_turned_off() {
    let service = PushService::start().await;
    let mut config = push_config();
    config.push.enabled = false;
    let gateway = TestGateway::start_with(config).await;
    let client = gateway.register().await;
    gateway
        .get("/v1/push/key")
        .await
        .assert_problem(404, "push-disabled", None);
    let reply = register_raw(&gateway, &client.id, &Phone::new(&service).subscription()).await;
    reply.assert_problem(404, "push-disabled", None);
    let reply = open_notifying(&gateway, &client, "dh_AAAAAAAAAAAAAAAAAAAAAA", None).await;
    reply.assert_problem(404, "push-disabled", None);
}
