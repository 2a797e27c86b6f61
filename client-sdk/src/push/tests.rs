//! The device's file and its push messages, without a gateway: messages made with
//! `sealgate_crypto::webpush::encrypt` (what the gateway sends) open into checked sign-in
//! requests; tampered, expired, foreign and malformed ones are refused with their own error.

use sealgate_crypto::{SignInRequest, webpush};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::*;
use crate::error::Error;

const GATEWAY: &str = "https://gw.example";
const CLIENT: &str = "c_shop";
const NOW: u64 = 1_800_000_000;
const THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

fn registered() -> PushDevice {
    let mut device = PushDevice::generate();
    device.registration = Some(DeviceRegistration {
        gateway: GATEWAY.into(),
        client_id: CLIENT.into(),
        endpoint: "https://push.example.net/s/1".into(),
        handle: format!("dh_{}", "h".repeat(22)),
        secret: Zeroizing::new(format!("dsec_{}", "s".repeat(43))),
        expires_at: "2027-03-07T13:00:00Z".into(),
        idle_timeout_secs: 7_776_000,
    });
    device
}

fn signin(gateway: &str, client: &str, expires_at: u64) -> String {
    SignInRequest::new(gateway, client, "mbx1", THUMBPRINT, expires_at, "n0nce")
        .unwrap()
        .to_uri()
}

fn payload() -> Value {
    json!({
        "v": 1,
        "signin_request": signin(GATEWAY, CLIENT, NOW + 120),
        "client_name": "Example Shop",
        "binding_message": "K7-42",
    })
}

fn push(device: &PushDevice, payload: &Value) -> Vec<u8> {
    let plaintext = payload.to_string();
    webpush::encrypt(&device.subscription_keys(), plaintext.as_bytes(), None).unwrap()
}

#[test]
fn a_pushed_sign_in_opens_into_its_checked_request() {
    let device = registered();
    let pushed = device
        .open_notification_at(&push(&device, &payload()), NOW)
        .unwrap();
    assert_eq!(pushed.client_name, "Example Shop");
    assert_eq!(pushed.binding_message.as_deref(), Some("K7-42"));
    assert_eq!(pushed.request.gateway(), GATEWAY);
    assert_eq!(pushed.request.client_id(), CLIENT);
    assert_eq!(pushed.request.mailbox_id(), "mbx1");
    assert_eq!(pushed.request.key_thumbprint(), THUMBPRINT);

    // Without a binding message, and padded as a gateway may pad.
    let mut bare = payload();
    bare.as_object_mut().unwrap().remove("binding_message");
    let body = webpush::encrypt(
        &device.subscription_keys(),
        bare.to_string().as_bytes(),
        Some(1024),
    )
    .unwrap();
    let pushed = device.open_notification_at(&body, NOW).unwrap();
    assert_eq!(pushed.binding_message, None);
}

#[test]
fn a_changed_or_misdirected_body_is_refused() {
    let device = registered();
    let body = push(&device, &payload());
    // Salt, idlen, the sender's key, the record, the tag. (Only a larger `rs` goes unnoticed:
    // RFC 8188 does not authenticate it, and docs/web-push.md says so.)
    for at in [0, 20, 21, 86, body.len() / 2, body.len() - 1] {
        let mut tampered = body.clone();
        tampered[at] ^= 0x01;
        assert!(
            matches!(
                device.open_notification_at(&tampered, NOW),
                Err(Error::PushMessage(_))
            ),
            "a flipped bit at {at}"
        );
    }
    for cut in [0, 20, 86, body.len() - 1] {
        assert!(matches!(
            device.open_notification_at(&body[..cut], NOW),
            Err(Error::PushMessage(_))
        ));
    }
    // Sent to another subscription.
    let other = registered();
    assert!(matches!(
        other.open_notification_at(&body, NOW),
        Err(Error::PushMessage(webpush::WebPushError::DecryptionFailed))
    ));
}

#[test]
fn an_expired_request_is_refused_as_a_scanned_one_is() {
    let device = registered();
    let mut expired = payload();
    expired["signin_request"] = json!(signin(GATEWAY, CLIENT, NOW));
    assert!(matches!(
        device.open_notification_at(&push(&device, &expired), NOW),
        Err(Error::Expired)
    ));
    // The same message opened a minute too late.
    let body = push(&device, &payload());
    assert!(matches!(
        device.open_notification_at(&body, NOW + 120),
        Err(Error::Expired)
    ));
}

#[test]
fn a_request_for_another_website_is_refused() {
    let device = registered();
    for (gateway, client) in [
        ("https://evil.example", CLIENT),
        (GATEWAY, "c_other"),
        ("http://gw.example", CLIENT),
    ] {
        let mut foreign = payload();
        foreign["signin_request"] = json!(signin(gateway, client, NOW + 120));
        assert!(
            matches!(
                device.open_notification_at(&push(&device, &foreign), NOW),
                Err(Error::PushFromAnotherWebsite)
            ),
            "{gateway} {client}"
        );
    }
}

#[test]
fn malformed_payloads_are_refused() {
    let device = registered();
    let with = |member: &str, value: Value| {
        let mut changed = payload();
        changed[member] = value;
        changed
    };
    let without = |member: &str| {
        let mut changed = payload();
        changed.as_object_mut().unwrap().remove(member);
        changed
    };
    let cases = [
        with("v", json!(2)),
        with("v", json!("1")),
        with("extra", json!(true)),
        with("client_name", json!("")),
        with("client_name", json!("x".repeat(101))),
        with("client_name", json!("Shop\u{1b}[2J")),
        with("binding_message", json!("x".repeat(65))),
        with("binding_message", json!("K7\n42")),
        with("binding_message", json!("evil\u{202e}42")),
        with("binding_message", json!(7)),
        without("client_name"),
        without("signin_request"),
        without("v"),
    ];
    for case in cases {
        assert!(
            matches!(
                device.open_notification_at(&push(&device, &case), NOW),
                Err(Error::PushPayload(_))
            ),
            "{case}"
        );
    }
    let not_json =
        webpush::encrypt(&device.subscription_keys(), b"sealgate:signin?v=1", None).unwrap();
    assert!(matches!(
        device.open_notification_at(&not_json, NOW),
        Err(Error::PushPayload(_))
    ));
    let not_a_request = with("signin_request", json!("https://gw.example/?v=1"));
    assert!(matches!(
        device.open_notification_at(&push(&device, &not_a_request), NOW),
        Err(Error::SignInRequest(_))
    ));
    // The longest name and binding message pass.
    let mut longest = with("binding_message", json!("é".repeat(64)));
    longest["client_name"] = json!("名".repeat(100));
    assert!(
        device
            .open_notification_at(&push(&device, &longest), NOW)
            .is_ok()
    );
}

#[test]
fn an_unregistered_device_opens_nothing() {
    let device = PushDevice::generate();
    let body = push(&device, &payload());
    assert!(matches!(
        device.open_notification_at(&body, NOW),
        Err(Error::DeviceNotRegistered)
    ));
}

#[test]
fn the_file_round_trips_and_secrets_never_print() {
    let device = registered();
    let json = device.to_json();
    let again = PushDevice::from_json(&json).unwrap();
    assert_eq!(again.p256dh(), device.p256dh());
    assert_eq!(
        again.subscription_keys().auth(),
        device.subscription_keys().auth()
    );
    let registration = again.registration().unwrap();
    assert_eq!(
        registration.handle(),
        device.registration().unwrap().handle()
    );
    assert_eq!(
        registration.secret(),
        device.registration().unwrap().secret()
    );
    assert_eq!(registration.gateway(), GATEWAY);
    assert_eq!(registration.client_id(), CLIENT);
    // A message to the original opens with the copy.
    let body = push(&device, &payload());
    assert!(again.open_notification_at(&body, NOW).is_ok());

    let printed = format!("{device:?}");
    let saved: Value = serde_json::from_str(&json).unwrap();
    for secret in [
        saved["private_key"].as_str().unwrap(),
        saved["auth"].as_str().unwrap(),
        saved["registration"]["device_secret"].as_str().unwrap(),
    ] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(printed.contains(&device.p256dh()));

    let mut other_key = saved.clone();
    other_key["p256dh"] = json!(PushDevice::generate().p256dh());
    let mut short_auth = saved.clone();
    short_auth["auth"] = json!("AAAA");
    let mut extra = saved.clone();
    extra["note"] = json!("x");
    for bad in [other_key, short_auth, extra, json!({"v": 2})] {
        assert!(PushDevice::from_json(&bad.to_string()).is_err(), "{bad}");
    }
}

#[test]
fn the_subscription_json_is_what_a_browser_gives() {
    let device = PushDevice::generate();
    let subscription = device.subscription_json("https://push.example.net/s/1");
    assert_eq!(subscription["endpoint"], "https://push.example.net/s/1");
    assert_eq!(subscription["expirationTime"], Value::Null);
    let keys = webpush::PushSubscriptionKeys::from_base64url(
        subscription["keys"]["p256dh"].as_str().unwrap(),
        subscription["keys"]["auth"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(keys, device.subscription_keys());
}
