//! The gateway's API as a test drives it: registered clients, open mailboxes, sealed
//! deposits and polls, each checked as far as the happy path promises.

use std::time::UNIX_EPOCH;

use http::{Method, header};
use serde_json::{Value, json};

use sealgate_crypto::{
    Algorithm, Binding, PrivateKey, SealOptions, SignInRequest, random_token, seal,
};

use crate::gateway::TestGateway;
use crate::http::{Reply, basic};
use crate::wait::now_secs;

/// A registered client: its id, its secret, and the private half of its one key.
pub struct TestClient {
    /// `client_id`.
    pub id: String,
    /// `client_secret`, shown once at registration.
    pub secret: String,
    /// The private key whose public half was registered.
    pub key: PrivateKey,
    /// The whole 201 answer to the registration.
    pub registration: Value,
}

impl TestClient {
    /// The `Authorization: Basic` value for this client.
    pub fn basic(&self) -> String {
        basic(&self.id, &self.secret)
    }
}

/// An open mailbox, as `POST /v1/mailboxes` described it.
pub struct TestMailbox {
    /// `mailbox_id`.
    pub id: String,
    /// The expiry the sign-in request carries, seconds since the epoch.
    pub exp: u64,
    /// The whole 201 body.
    pub body: Value,
}

/// A stand-in ID token: random, so that a test can look for it anywhere it must not be.
pub fn fake_id_token() -> String {
    format!(
        "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.{}.{}",
        random_token::<96>(),
        random_token::<64>()
    )
}

/// The public JWKS of `key`, as registration takes it.
pub fn jwks_of(key: &PrivateKey) -> Value {
    json!({ "keys": [key.public_key().to_jwk()] })
}

/// Seals `token` to `client`'s key, bound to `mailbox` as the sign-in request says.
pub fn seal_for(client: &TestClient, mailbox: &TestMailbox, token: &[u8]) -> String {
    seal_with(
        &client.key,
        Binding::to_mailbox(&client.id, &mailbox.id, mailbox.exp),
        token,
    )
}

/// Seals `token` to `key` with any binding (for the mismatch tests).
pub fn seal_with(key: &PrivateKey, binding: Binding, token: &[u8]) -> String {
    seal(key.public_key(), token, &SealOptions::for_token(binding))
        .expect("seal")
        .into_string()
}

/// `expires_at` of a mailbox body (RFC 3339) as seconds since the epoch.
#[track_caller]
pub fn expires_at_secs(body: &Value) -> u64 {
    let expires_at = body["expires_at"].as_str().expect("expires_at");
    humantime::parse_rfc3339(expires_at)
        .expect("RFC 3339 expires_at")
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// `value` as an `application/json` body for [`TestGateway::call`].
pub fn json_body(value: &Value) -> (&'static str, Vec<u8>) {
    ("application/json", value.to_string().into_bytes())
}

impl TestGateway {
    /// `POST /v1/clients` with `body` as JSON.
    pub async fn register_raw(&self, body: &Value, auth: Option<&str>) -> Reply {
        self.call(Method::POST, "/v1/clients", auth, Some(json_body(body)))
            .await
    }

    /// Registers a client with a fresh key and the extra registration members in `extra`
    /// (a JSON object, or `null`).
    pub async fn register_with(&self, extra: Value) -> TestClient {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let mut body = json!({ "name": "test app", "jwks": jwks_of(&key) });
        if let Value::Object(members) = extra {
            body.as_object_mut().expect("an object").extend(members);
        }
        let reply = self.register_raw(&body, None).await;
        reply.assert_status(201);
        let registration = reply.json();
        TestClient {
            id: registration["client_id"]
                .as_str()
                .expect("client_id")
                .to_owned(),
            secret: registration["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
            key,
            registration,
        }
    }

    /// Registers a client with a fresh key.
    pub async fn register(&self) -> TestClient {
        self.register_with(Value::Null).await
    }

    /// `POST /v1/mailboxes` with an optional JSON body and an optional `Authorization`.
    pub async fn open_raw(&self, auth: Option<&str>, body: Option<Value>) -> Reply {
        let body = body.as_ref().map(json_body);
        self.call(Method::POST, "/v1/mailboxes", auth, body).await
    }

    /// Opens a mailbox with `ttl` (the server's default when `None`), checking the 201: its
    /// `Location`, its sign-in request (client, mailbox, key thumbprint) and its expiry.
    pub async fn open(&self, client: &TestClient, ttl: Option<u64>) -> TestMailbox {
        let body = ttl.map(|ttl| json!({ "ttl": ttl }));
        let reply = self.open_raw(Some(&client.basic()), body).await;
        reply.assert_status(201);
        let body = reply.json();
        let id = body["mailbox_id"].as_str().expect("mailbox_id").to_owned();
        assert_eq!(
            reply.header(header::LOCATION),
            Some(format!("/v1/mailboxes/{id}").as_str())
        );
        let uri = body["signin_request"].as_str().expect("signin_request");
        let signin = SignInRequest::parse(uri, now_secs()).expect("a valid sign-in request");
        assert_eq!(signin.client_id(), client.id);
        assert_eq!(signin.mailbox_id(), id);
        assert_eq!(
            signin.key_thumbprint(),
            client.key.public_key().thumbprint()
        );
        assert_eq!(
            expires_at_secs(&body),
            signin.expires_at(),
            "expires_at and the sign-in exp"
        );
        TestMailbox {
            id,
            exp: signin.expires_at(),
            body,
        }
    }

    /// `PUT /v1/mailboxes/{id}` with `envelope` as `application/jose`.
    pub async fn deposit(&self, mailbox_id: &str, envelope: &str) -> Reply {
        self.deposit_as(mailbox_id, "application/jose", envelope.as_bytes().to_vec())
            .await
    }

    /// `PUT /v1/mailboxes/{id}` with any media type and body.
    pub async fn deposit_as(&self, mailbox_id: &str, media: &str, body: Vec<u8>) -> Reply {
        let path = format!("/v1/mailboxes/{mailbox_id}");
        self.call(Method::PUT, &path, None, Some((media, body)))
            .await
    }

    /// `GET /v1/mailboxes/{id}?wait=N` with `auth`.
    pub async fn poll(&self, auth: &str, mailbox_id: &str, wait: u64) -> Reply {
        let path = format!("/v1/mailboxes/{mailbox_id}?wait={wait}");
        self.call(Method::GET, &path, Some(auth), None).await
    }

    /// `DELETE path` with `Authorization`.
    pub async fn delete(&self, auth: &str, path: &str) -> Reply {
        self.call(Method::DELETE, path, Some(auth), None).await
    }
}
