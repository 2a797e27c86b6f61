//! What the push suites share: the stand-in push service, a phone's subscription keys, the
//! device API as a phone drives it, and the checks of a received push (headers, the VAPID JWT
//! and its ES256 signature, the decrypted payload).
#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod service;

use http::{Method, header};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::{Value, json};

use sealgate::Config;
use sealgate_crypto::base64url;
use sealgate_crypto::webpush::{self, PushPrivateKey};
use sealgate_testkit::{Reply, TestClient, TestGateway, now_secs, test_config};

pub use service::{Answer, PushService, Received};

/// A gateway configuration for pushes to the loopback stand-in: insecure and private push
/// endpoints allowed, no per-address limit on device registrations.
pub fn push_config() -> Config {
    let mut config = test_config();
    config.webhooks.allow_insecure = true;
    config.webhooks.allow_private = true;
    config.push.registrations_per_ip_per_min = 0;
    config.push.subject = Some("mailto:ops@example.com".into());
    config
}

/// A phone's Web Push subscription: its key pair and auth secret, kept by the phone.
pub struct Phone {
    /// The subscription's private key.
    pub key: PushPrivateKey,
    /// The auth secret.
    pub auth: [u8; 16],
    /// The endpoint at the push service.
    pub endpoint: String,
}

impl Phone {
    /// A fresh subscription at `service`.
    pub fn new(service: &PushService) -> Self {
        Self::at(service.endpoint())
    }

    /// A fresh subscription whose endpoint is `endpoint`.
    pub fn at(endpoint: String) -> Self {
        Self {
            key: PushPrivateKey::generate(),
            auth: sealgate_crypto::random_bytes::<16>(),
            endpoint,
        }
    }

    /// `PushSubscription.toJSON()`.
    pub fn subscription(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": { "p256dh": self.key.p256dh(), "auth": base64url::encode(self.auth) },
        })
    }

    /// Decrypts a received push into its JSON payload.
    pub fn open(&self, push: &Received) -> Value {
        let plaintext = webpush::decrypt(&self.key, &self.auth, &push.body).expect("decrypts");
        serde_json::from_slice(&plaintext).expect("a JSON payload")
    }
}

/// A device registration as the gateway answered it.
pub struct Device {
    /// `device_handle`.
    pub handle: String,
    /// `device_secret`.
    pub secret: String,
    /// The whole 201 body.
    pub body: Value,
}

/// `POST /v1/clients/{client_id}/devices` with `subscription`.
pub async fn register_raw(gateway: &TestGateway, client_id: &str, subscription: &Value) -> Reply {
    let path = format!("/v1/clients/{client_id}/devices");
    let body = ("application/json", subscription.to_string().into_bytes());
    gateway.call(Method::POST, &path, None, Some(body)).await
}

/// Registers `phone` for `client`, checking the 201.
pub async fn register(gateway: &TestGateway, client: &TestClient, phone: &Phone) -> Device {
    let reply = register_raw(gateway, &client.id, &phone.subscription()).await;
    reply.assert_status(201);
    assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
    let body = reply.json();
    let handle = body["device_handle"]
        .as_str()
        .expect("device_handle")
        .to_owned();
    let secret = body["device_secret"]
        .as_str()
        .expect("device_secret")
        .to_owned();
    assert!(handle.starts_with("dh_") && handle.len() == 25, "{handle}");
    assert!(
        secret.starts_with("dsec_") && secret.len() == 48,
        "{secret}"
    );
    assert!(body["expires_at"].is_string(), "{body}");
    assert!(body["idle_timeout_secs"].is_u64(), "{body}");
    Device {
        handle,
        secret,
        body,
    }
}

/// `method /v1/clients/{client_id}/devices/{handle}` with an optional Bearer secret and body.
pub async fn change(
    gateway: &TestGateway,
    method: Method,
    (client_id, handle): (&str, &str),
    secret: Option<&str>,
    subscription: Option<&Value>,
) -> Reply {
    let path = format!("/v1/clients/{client_id}/devices/{handle}");
    let auth = secret.map(|secret| format!("Bearer {secret}"));
    let body = subscription.map(|s| ("application/json", s.to_string().into_bytes()));
    gateway.call(method, &path, auth.as_deref(), body).await
}

/// `POST /v1/mailboxes` with `notify` (and `binding_message` when given).
pub async fn open_notifying(
    gateway: &TestGateway,
    client: &TestClient,
    handle: &str,
    binding_message: Option<&str>,
) -> Reply {
    let mut body = json!({ "ttl": 120, "notify": handle });
    if let Some(message) = binding_message {
        body["binding_message"] = json!(message);
    }
    gateway.open_raw(Some(&client.basic()), Some(body)).await
}

/// The VAPID public key the gateway serves.
pub async fn served_vapid_key(gateway: &TestGateway) -> String {
    let reply = gateway.get("/v1/push/key").await;
    reply.assert_status(200);
    assert_eq!(
        reply.header(header::CACHE_CONTROL),
        Some("public, max-age=3600")
    );
    reply.json()["vapid_public_key"]
        .as_str()
        .expect("vapid_public_key")
        .to_owned()
}

/// Checks a push's headers as RFC 8030, 8291 and 8292 ask, with `ttl` and a VAPID JWT for
/// `origin` signed by `vapid_key` (base64url point); returns the JWT's claims.
#[track_caller]
pub fn check_push_headers(push: &Received, ttl: u64, origin: &str, vapid_key: &str) -> Value {
    assert_eq!(push.header("ttl"), ttl.to_string());
    assert_eq!(push.header("urgency"), "high");
    assert_eq!(push.header("content-encoding"), "aes128gcm");
    assert_eq!(push.header("content-type"), "application/octet-stream");
    let authorization = push.header("authorization");
    let rest = authorization
        .strip_prefix("vapid t=")
        .expect("a vapid authorization");
    let (jwt, k) = rest.split_once(", k=").expect("t and k");
    assert_eq!(k, vapid_key, "k is the served key");
    let mut parts = jwt.split('.');
    let (header, claims, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert!(parts.next().is_none());
    let header_json: Value = serde_json::from_slice(&base64url::decode(header).unwrap()).unwrap();
    assert_eq!(header_json, json!({ "typ": "JWT", "alg": "ES256" }));
    let key = VerifyingKey::from_sec1_bytes(&base64url::decode(vapid_key).unwrap()).unwrap();
    let signature = Signature::from_slice(&base64url::decode(signature).unwrap()).unwrap();
    key.verify(format!("{header}.{claims}").as_bytes(), &signature)
        .expect("the ES256 signature verifies with the served key");
    let claims: Value = serde_json::from_slice(&base64url::decode(claims).unwrap()).unwrap();
    assert_eq!(claims["aud"], origin);
    assert_eq!(claims["sub"], "mailto:ops@example.com");
    let exp = claims["exp"].as_u64().expect("exp");
    let now = now_secs();
    assert!(
        exp > now && exp <= now + 12 * 3600 + 5,
        "exp {exp}, now {now}"
    );
    claims
}
