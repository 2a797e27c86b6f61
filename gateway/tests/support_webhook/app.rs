//! The app's side: a registered app with its key and SDK client, its mailboxes and the
//! envelopes deposited in them.

use serde_json::Value;

use sealgate_crypto::webhook::Delivery;
use sealgate_crypto::{Binding, Envelope, PrivateKey};
use sealgate_testkit::{basic, now_secs, seal_with};

/// A registered app: its credentials, its key, and the webhook secret shown at registration.
pub(crate) struct TestApp {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) key: PrivateKey,
    pub(crate) webhook_secret: Option<String>,
    /// The whole 201 answer.
    pub(crate) registration: Value,
}

impl TestApp {
    /// `Basic base64(id:secret)`.
    pub(crate) fn basic(&self) -> String {
        basic(&self.id, &self.secret)
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
        let binding = Binding::to_mailbox(&self.id, &mailbox.id, mailbox.exp);
        seal_with(&self.key, binding, token.as_bytes())
    }

    /// Opens a verified delivery as an app does: for this client, with its key, bound to this
    /// client and the delivery's mailbox, not expired.
    pub(crate) fn open_delivered(&self, delivery: &Delivery) -> String {
        assert_eq!(delivery.client_id, self.id, "delivered for another client");
        let envelope = Envelope::parse(&delivery.envelope).expect("the delivery's envelope parses");
        let opened = envelope
            .open(&self.key)
            .expect("the app's key opens the envelope");
        opened
            .header
            .check_binding(&self.id, &delivery.mailbox_id, now_secs())
            .expect("bound to this client and mailbox");
        String::from_utf8(opened.plaintext.to_vec()).expect("the token is text")
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
