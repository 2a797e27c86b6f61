//! What happened to every sign-in: the phone's outcome, each hand-out of its envelope to the
//! app (by poll or by webhook), what the app was told otherwise; shared by the flows and the
//! webhook receiver.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// How an envelope reached the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Via {
    /// A long-poll answered 200, by app replica n.
    Poll(usize),
    /// A webhook delivery, with its `webhook-id`.
    Webhook(String),
}

/// One hand-out of an envelope to the app, opened and checked.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    /// Seconds since the soak started.
    pub(crate) at: f64,
    /// By poll or webhook.
    pub(crate) via: Via,
    /// The token the envelope held.
    pub(crate) token: String,
}

/// What the phone's attempts came to.
#[derive(Debug, Clone, Default)]
pub(crate) enum PhoneOutcome {
    /// Still trying (or never started).
    #[default]
    Pending,
    /// The gateway acknowledged the deposit: 201, 200 (an identical retry), or 409 after a
    /// retry (an earlier attempt of this phone had stored its envelope).
    Acked {
        /// Seconds since the soak started.
        at: f64,
    },
    /// It gave up: the last error.
    GaveUp(String),
}

/// What one app waiter was told when it stopped, other than the token.
#[derive(Debug, Clone)]
pub(crate) enum AppEnd {
    /// `404` before the mailbox's expiry, with what Redis held for the mailbox right then.
    NotFound {
        /// Seconds since the soak started.
        at: f64,
        /// `consumed` (only the digest left), `envelope`, `missing`, or `unknown`.
        redis: &'static str,
    },
    /// The mailbox expired (the SDK's `Expired`).
    Expired,
    /// Stopped by a webhook delivery.
    Webhook,
    /// Any other error.
    Error(String),
}

/// One sign-in, from the opened mailbox on.
#[derive(Debug, Clone)]
pub(crate) struct SignIn {
    /// Whether that app has a webhook.
    pub(crate) webhook: bool,
    /// The mailbox.
    pub(crate) mailbox_id: String,
    /// When it was opened and when it expires, seconds since the soak started.
    pub(crate) opened_at: f64,
    /// Its expiry, seconds since the soak started (approximately: the gateway's is whole).
    pub(crate) expires_at: f64,
    /// The unique token the phone sent.
    pub(crate) token: String,
    /// The phone's outcome.
    pub(crate) phone: PhoneOutcome,
    /// How each app waiter ended, when not with the token.
    pub(crate) app_ends: Vec<AppEnd>,
}

/// The shared record of the run.
pub(crate) struct Ledger {
    /// When the soak started.
    pub(crate) start: Instant,
    receipts: Mutex<HashMap<String, Vec<Receipt>>>,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    sign_ins: Mutex<Vec<SignIn>>,
    /// Sign-ins whose mailbox could not be opened at all.
    pub(crate) not_opened: AtomicU64,
    /// Webhook requests whose signature or envelope did not verify.
    pub(crate) bad_webhooks: AtomicU64,
    /// Webhook deliveries for mailboxes no sign-in opened.
    pub(crate) stray_webhooks: AtomicU64,
}

impl Ledger {
    /// An empty ledger starting now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            receipts: Mutex::default(),
            waiters: Mutex::default(),
            sign_ins: Mutex::default(),
            not_opened: AtomicU64::new(0),
            bad_webhooks: AtomicU64::new(0),
            stray_webhooks: AtomicU64::new(0),
        })
    }

    /// Seconds since the soak started.
    pub(crate) fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Announces a mailbox about to be waited on; the returned `Notify` fires on each webhook
    /// delivery for it.
    pub(crate) fn expect(&self, mailbox_id: &str) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.waiters
            .lock()
            .expect("ledger")
            .insert(mailbox_id.to_owned(), notify.clone());
        notify
    }

    /// Records a hand-out, and wakes the mailbox's waiter.
    pub(crate) fn receive(&self, mailbox_id: &str, via: Via, token: String) {
        let is_webhook = matches!(via, Via::Webhook(_));
        let receipt = Receipt {
            at: self.now(),
            via,
            token,
        };
        self.receipts
            .lock()
            .expect("ledger")
            .entry(mailbox_id.to_owned())
            .or_default()
            .push(receipt);
        let waiter = self
            .waiters
            .lock()
            .expect("ledger")
            .get(mailbox_id)
            .cloned();
        match waiter {
            Some(notify) => notify.notify_one(),
            None if is_webhook => {
                self.stray_webhooks.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
    }

    /// Whether the mailbox's envelope reached the app yet.
    pub(crate) fn received(&self, mailbox_id: &str) -> bool {
        self.receipts
            .lock()
            .expect("ledger")
            .get(mailbox_id)
            .is_some_and(|list| !list.is_empty())
    }

    /// Files a finished sign-in.
    pub(crate) fn file(&self, sign_in: SignIn) {
        self.sign_ins.lock().expect("ledger").push(sign_in);
    }

    /// Every filed sign-in with its hand-outs.
    pub(crate) fn take_all(&self) -> Vec<(SignIn, Vec<Receipt>)> {
        let sign_ins = std::mem::take(&mut *self.sign_ins.lock().expect("ledger"));
        let receipts = self.receipts.lock().expect("ledger");
        sign_ins
            .into_iter()
            .map(|sign_in| {
                let list = receipts
                    .get(&sign_in.mailbox_id)
                    .cloned()
                    .unwrap_or_default();
                (sign_in, list)
            })
            .collect()
    }
}
