//! The phone's side of one-click sign-in against a real gateway (memory store) behind a test
//! double that answers the device routes of the contract (`GET /v1/push/key`, `POST`, `PUT`,
//! `DELETE …/devices`) the way the gateway does, and forwards everything else: register a
//! subscription after a sign-in, receive a push message made to it as the gateway makes one,
//! approve (the app receives the token) or decline (the app's envelope holds the decline
//! marker), update and delete the registration, and the refusals on the way.

#[macro_use]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use sealgate_client::sealgate_crypto::webpush::{self, PushSubscriptionKeys, VapidKey};
use sealgate_client::sealgate_crypto::{Envelope, random_token};
use sealgate_client::{AppClient, DECLINE_PLAINTEXT, Deposited, Error, Phone, PushDevice};
use sealgate_testkit::{basic, http_client, send_with, within};
use support::{Answer, Backend, Behind, Double, Hook, Seen, issuer};

/// One registration the stand-in keeps: its client, secret and subscription.
struct Registered {
    client_id: String,
    secret: String,
    subscription: Value,
}

/// The device routes of the contract, answered in the test double.
#[derive(Clone, Default)]
struct DeviceRoutes {
    registrations: Arc<Mutex<HashMap<String, Registered>>>,
    vapid_key: Arc<Mutex<Option<String>>>,
}

impl DeviceRoutes {
    fn install(&self, double: &Double, known_client: &str) {
        *self.vapid_key.lock().unwrap() = Some(VapidKey::generate().public_key_base64url());
        let (routes, known_client) = (self.clone(), known_client.to_owned());
        double.set_policy(move |seen| routes.answer(seen, &known_client));
    }

    fn answer(&self, seen: &Seen, known_client: &str) -> Hook {
        if seen.path == "/v1/push/key" {
            let key = self.vapid_key.lock().unwrap().clone();
            let body = json!({ "vapid_public_key": key }).to_string();
            return Hook::Answer(Answer::new(StatusCode::OK, "application/json", body));
        }
        let parts: Vec<&str> = seen.path.trim_start_matches('/').split('/').collect();
        let (client_id, handle) = match parts.as_slice() {
            ["v1", "clients", client, "devices"] => (*client, None),
            ["v1", "clients", client, "devices", handle] => (*client, Some(*handle)),
            _ => return Hook::Forward,
        };
        let not_found = Hook::Answer(Answer::problem(StatusCode::NOT_FOUND, "no such device"));
        let mut registrations = self.registrations.lock().unwrap();
        match (&seen.method, handle) {
            (&Method::POST, None) if client_id == known_client => {
                let subscription: Value = serde_json::from_slice(&seen.body).unwrap();
                let handle = format!("dh_{}", random_token::<16>());
                let secret = format!("dsec_{}", random_token::<32>());
                let body = json!({
                    "device_handle": handle, "device_secret": secret,
                    "expires_at": "2027-03-07T13:00:00Z", "idle_timeout_secs": 7_776_000,
                });
                registrations.insert(
                    handle,
                    Registered {
                        client_id: client_id.to_owned(),
                        secret,
                        subscription,
                    },
                );
                Hook::Answer(Answer::new(
                    StatusCode::CREATED,
                    "application/json",
                    body.to_string(),
                ))
            }
            (&Method::POST, None) => not_found,
            (method, Some(handle)) => {
                let bearer = seen
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                let ours = registrations.get(handle).is_some_and(|registered| {
                    registered.client_id == client_id && Some(registered.secret.as_str()) == bearer
                });
                if !ours {
                    return not_found;
                }
                if method == Method::DELETE {
                    registrations.remove(handle);
                    return Hook::Answer(Answer::new(StatusCode::NO_CONTENT, "text/plain", ""));
                }
                let registered = registrations.get_mut(handle).unwrap();
                registered.subscription = serde_json::from_slice(&seen.body).unwrap();
                let body = json!({
                    "device_handle": handle, "expires_at": "2027-03-08T13:00:00Z",
                    "idle_timeout_secs": 7_776_000,
                });
                Hook::Answer(Answer::new(
                    StatusCode::OK,
                    "application/json",
                    body.to_string(),
                ))
            }
            _ => Hook::Forward,
        }
    }

    /// What the gateway's notify does: the payload of the contract, encrypted to the
    /// registered subscription.
    fn push(&self, handle: &str, signin_request: &str, binding_message: Option<&str>) -> Vec<u8> {
        let registrations = self.registrations.lock().unwrap();
        let subscription = &registrations[handle].subscription;
        let keys = PushSubscriptionKeys::from_base64url(
            subscription["keys"]["p256dh"].as_str().unwrap(),
            subscription["keys"]["auth"].as_str().unwrap(),
        )
        .unwrap();
        let mut payload = json!({
            "v": 1, "signin_request": signin_request, "client_name": "test app",
        });
        if let Some(message) = binding_message {
            payload["binding_message"] = json!(message);
        }
        webpush::encrypt(&keys, payload.to_string().as_bytes(), Some(512)).unwrap()
    }

    fn endpoint_of(&self, handle: &str) -> String {
        self.registrations.lock().unwrap()[handle].subscription["endpoint"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Takes the app's envelope from the mailbox and opens it: the plaintext the phone sealed.
async fn envelope_plaintext(behind: &Behind, app: &AppClient, mailbox_id: &str) -> Vec<u8> {
    let request = http::Request::get(format!(
        "{}/v1/mailboxes/{mailbox_id}?wait=5",
        behind.gw.url()
    ))
    .header(
        header::AUTHORIZATION,
        basic(app.client_id(), app.client_secret()),
    )
    .body(Default::default())
    .unwrap();
    let reply = send_with(&http_client(), request).await;
    reply.assert_status(200);
    let envelope = Envelope::parse(&reply.text()).expect("a compact envelope");
    assert_eq!(envelope.header().aud(), Some(app.client_id()));
    assert_eq!(envelope.header().mbx(), Some(mailbox_id));
    envelope.open(&app.keys()[0]).unwrap().plaintext.to_vec()
}

#[tokio::test]
async fn register_then_approve_and_decline_pushed_sign_ins() {
    let behind = Behind::start(&Backend::memory()).await;
    let app = support::register(&behind.double.url()).await;
    let routes = DeviceRoutes::default();
    routes.install(&behind.double, app.client_id());
    let phone = Phone::new().unwrap();

    // The first sign-in, by QR code; then the phone registers for one-click.
    let first = within("open", app.open_mailbox(Some(Duration::from_secs(60))))
        .await
        .unwrap();
    let vapid_key = PushDevice::vapid_key(&phone, first.request().gateway())
        .await
        .unwrap();
    assert_eq!(vapid_key[0], 0x04);
    let mut device = PushDevice::generate();
    let endpoint = "https://push.example.net/send/one";
    let registration = within(
        "register",
        device.register(&phone, first.request(), endpoint),
    )
    .await
    .unwrap()
    .clone();
    assert!(registration.handle().starts_with("dh_"));
    assert_eq!(registration.client_id(), app.client_id());
    assert_eq!(registration.gateway(), behind.double.url());
    let handle = registration.handle().to_owned();
    assert_eq!(routes.endpoint_of(&handle), endpoint);

    // The next sign-in arrives by push; the phone approves.
    let pending = app
        .open_mailbox(Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let body = routes.push(&handle, &pending.uri(), Some("K7-42"));
    let pushed = device.open_notification(&body).unwrap();
    assert_eq!(pushed.client_name, "test app");
    assert_eq!(pushed.binding_message.as_deref(), Some("K7-42"));
    assert_eq!(&pushed.request, pending.request());
    let token = issuer()
        .sign_id_token("alice", app.client_id(), pending.nonce())
        .unwrap();
    let sent = within("approve", phone.send_to(&pushed.request, token.as_bytes())).await;
    assert_eq!(sent.unwrap(), Deposited::Stored);
    let received = within("wait", app.wait_for_token(pending)).await.unwrap();
    assert_eq!(received.as_str(), token);

    // Another arrives; the phone declines: the envelope is bound like a token's and holds
    // exactly the decline marker.
    let pending = app
        .open_mailbox(Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let pushed = device
        .open_notification(&routes.push(&handle, &pending.uri(), None))
        .unwrap();
    assert_eq!(pushed.binding_message, None);
    let declined = within("decline", phone.decline(&pushed.request)).await;
    assert_eq!(declined.unwrap(), Deposited::Stored);
    let plaintext = envelope_plaintext(&behind, &app, pending.mailbox_id()).await;
    assert_eq!(plaintext, DECLINE_PLAINTEXT);
    assert_eq!(plaintext, br#"{"declined":true}"#);

    // The push service hands out a new endpoint: update keeps the handle.
    let moved = "https://push.example.net/send/two";
    let updated = device.update(&phone, moved).await.unwrap();
    assert_eq!(updated.handle(), handle);
    assert_eq!(updated.expires_at(), "2027-03-08T13:00:00Z");
    assert_eq!(routes.endpoint_of(&handle), moved);

    // Saved and loaded, the device still opens its messages and can delete itself.
    let mut device = PushDevice::from_json(&device.to_json()).unwrap();
    let pending = app
        .open_mailbox(Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(
        device
            .open_notification(&routes.push(&handle, &pending.uri(), None))
            .is_ok()
    );
    device.delete(&phone).await.unwrap();
    assert!(device.registration().is_none());
    assert!(routes.registrations.lock().unwrap().is_empty());
    assert!(matches!(
        device.delete(&phone).await,
        Err(Error::DeviceNotRegistered)
    ));
}

#[tokio::test]
async fn refusals_on_the_way() {
    let behind = Behind::start(&Backend::memory()).await;
    let app = support::register(&behind.double.url()).await;
    let routes = DeviceRoutes::default();
    routes.install(&behind.double, app.client_id());
    let phone = Phone::new().unwrap();
    let pending = app
        .open_mailbox(Some(Duration::from_secs(60)))
        .await
        .unwrap();

    // A client the gateway does not know.
    let mut device = PushDevice::generate();
    let unknown = sealgate_client::sealgate_crypto::SignInRequest::new(
        &behind.double.url(),
        "c_unknown",
        pending.mailbox_id(),
        pending.request().key_thumbprint(),
        pending.expires_at(),
        pending.nonce(),
    )
    .unwrap();
    let endpoint = "https://push.example.net/send/x";
    assert!(matches!(
        device.register(&phone, &unknown, endpoint).await,
        Err(Error::UnknownClient)
    ));
    assert!(matches!(
        device
            .register(&phone, pending.request(), "ftp://push.example.net/")
            .await,
        Err(Error::InvalidUrl(_))
    ));
    assert!(matches!(
        device.update(&phone, endpoint).await,
        Err(Error::DeviceNotRegistered)
    ));

    // A registration the gateway dropped: update and delete say so, and delete forgets it.
    let handle = device
        .register(&phone, pending.request(), endpoint)
        .await
        .unwrap()
        .handle()
        .to_owned();
    routes.registrations.lock().unwrap().remove(&handle);
    assert!(matches!(
        device.update(&phone, endpoint).await,
        Err(Error::RegistrationNotFound)
    ));
    assert!(device.registration().is_some());
    assert!(matches!(
        device.delete(&phone).await,
        Err(Error::RegistrationNotFound)
    ));
    assert!(device.registration().is_none());

    // A push the gateway made for another device opens nowhere else.
    let mut other = PushDevice::generate();
    let other_handle = other
        .register(&phone, pending.request(), endpoint)
        .await
        .unwrap()
        .handle()
        .to_owned();
    let mut device = PushDevice::generate();
    device
        .register(&phone, pending.request(), endpoint)
        .await
        .unwrap();
    let body = routes.push(&other_handle, &pending.uri(), None);
    assert!(other.open_notification(&body).is_ok());
    assert!(matches!(
        device.open_notification(&body),
        Err(Error::PushMessage(_))
    ));
}
