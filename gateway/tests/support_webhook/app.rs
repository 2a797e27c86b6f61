//! The app's side: a registered app with its key and SDK client, its mailboxes and the
//! envelopes deposited in them, and the gateway's buffered replies.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use sealgate_client::AppClient;
use sealgate_client::webhook::Delivery;
use sealgate_crypto::{Binding, PrivateKey, SealOptions, random_token, seal};

use super::PROBLEM_PREFIX;

/// A buffered HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub(crate) fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "body: {}", self.text());
        self
    }

    /// Asserts an RFC 9457 problem with `status`, type `PREFIX + slug` and, when given, the
    /// OAuth `error` code; returns the body.
    #[track_caller]
    pub(crate) fn assert_problem(&self, status: u16, slug: &str, oauth: Option<&str>) -> Value {
        self.assert_status(status);
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(
            body["type"],
            json!(format!("{PROBLEM_PREFIX}{slug}")),
            "{body}"
        );
        if let Some(code) = oauth {
            assert_eq!(body["error"], json!(code), "{body}");
        }
        body
    }
}

/// A registered app: its credentials, its key, the webhook secret shown at registration, and
/// the SDK's `AppClient` to open what the webhook delivers.
pub(crate) struct TestApp {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) key: PrivateKey,
    pub(crate) webhook_secret: Option<String>,
    pub(crate) sdk: AppClient,
    /// The whole 201 answer.
    pub(crate) registration: Value,
}

impl TestApp {
    /// `Basic base64(id:secret)`.
    pub(crate) fn basic(&self) -> String {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.id, self.secret));
        format!("Basic {encoded}")
    }

    /// `/v1/clients/{id}` followed by `rest`.
    pub(crate) fn path(&self, rest: &str) -> String {
        format!("/v1/clients/{}{rest}", self.id)
    }

    /// The webhook secret shown at registration.
    #[track_caller]
    pub(crate) fn webhook_secret(&self) -> &str {
        self.webhook_secret
            .as_deref()
            .expect("registered with a webhook")
    }

    /// Seals `token` for `mailbox`, as a phone would.
    pub(crate) fn seal(&self, mailbox: &Mailbox, token: &str) -> String {
        seal(
            self.key.public_key(),
            token.as_bytes(),
            &SealOptions::for_token(Binding::to_mailbox(&self.id, &mailbox.id, mailbox.exp)),
        )
        .expect("seal")
        .into_string()
    }

    /// Opens a verified delivery with the SDK's `AppClient::open_delivered`.
    pub(crate) fn open_delivered(&self, delivery: &Delivery) -> String {
        self.sdk
            .open_delivered(delivery)
            .expect("open_delivered opens the envelope")
            .as_str()
            .to_owned()
    }
}

/// An open mailbox.
pub(crate) struct Mailbox {
    pub(crate) id: String,
    pub(crate) exp: u64,
}

/// A stand-in ID token sealed for a mailbox and deposited there.
pub(crate) struct Deposited {
    pub(crate) mailbox: Mailbox,
    /// The token, in the clear.
    pub(crate) token: String,
    /// The sealed envelope, as deposited.
    pub(crate) envelope: String,
}

/// A stand-in ID token: random, so that a test can look for it where it must not be.
pub(crate) fn fake_id_token() -> String {
    format!(
        "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.{}.{}",
        random_token::<48>(),
        random_token::<32>()
    )
}
