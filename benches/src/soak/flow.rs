//! One sign-in as real clients do it, with the SDK: the app opens a mailbox (retrying 5xx and
//! connection failures), the phone seals and deposits a unique token (retrying the same way
//! until its own deadline), and the app waits: two replicas long-polling side by side, or the
//! webhook with a long-poll as fallback.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sealgate_client::sealgate_crypto::{SignInRequest, base64url};
use sealgate_client::{AppClient, Error, PendingSignIn, Phone};
use sha2::{Digest as _, Sha256};
use tokio::time::{Instant, sleep};

use super::chaos::Rng;
use super::ledger::{AppEnd, Ledger, PhoneOutcome, SignIn, Via};

/// How long the app keeps trying to open a mailbox.
const OPEN_FOR: Duration = Duration::from_secs(15);
/// How long before the mailbox's expiry the phone stops trying: a deposit lands early enough
/// for a webhook attempt's 15 s envelope lease to end before the expiry, and the fallback
/// poll to take it.
const PHONE_MARGIN_SECS: f64 = 17.0;
/// How long a webhook app waits for the webhook before it also polls.
const WEBHOOK_FALLBACK: Duration = Duration::from_secs(8);
/// The longest long-poll of a webhook app's fallback, seconds. An envelope leased by a webhook
/// attempt on a gateway that was killed is released by the lease's expiry, which wakes no
/// long-poll: the fallback looks again at least this often.
const FALLBACK_CHUNK_SECS: u64 = 5;
/// The context of the gateway's Redis mailbox tag (docs/redis.md, "Key layout").
const TAG_CONTEXT: &[u8] = b"sealgate/redis/mailbox-tag/v1\0";

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An app: its replicas share the credentials, each with its own connections.
pub(crate) struct App {
    /// Whether it registered a webhook.
    pub(crate) webhook: bool,
    /// Two clients with the same credentials.
    pub(crate) replicas: [Arc<AppClient>; 2],
}

/// Everything a sign-in needs.
pub(crate) struct Flows {
    /// The apps.
    pub(crate) apps: Vec<App>,
    /// The phones (each with its own connections).
    pub(crate) phones: Vec<Phone>,
    /// The record.
    pub(crate) ledger: Arc<Ledger>,
    /// The mailbox lifetime asked for.
    pub(crate) ttl: Duration,
    /// `redis-cli`, the Redis port and the gateways' key prefix, to look at a mailbox.
    pub(crate) redis: (String, u16, String),
    /// The run's seed.
    pub(crate) seed: u64,
}

/// Whether a failure is one a client retries: no connection, 5xx, 429.
fn retryable(error: &Error) -> bool {
    match error {
        Error::Transport(_) | Error::RateLimited { .. } => true,
        Error::Gateway { status, .. } => *status >= 500,
        _ => false,
    }
}

/// The wait after `failures` failures in a row: 250 ms doubling, at most 2 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250 << failures.min(3))
}

impl Flows {
    /// Sign-in number `index`, from opening to the app's last word; filed in the ledger.
    pub(crate) async fn sign_in(self: Arc<Self>, index: usize) {
        let app_index = index % self.apps.len();
        let app = &self.apps[app_index];
        let opener = &app.replicas[index / self.apps.len() % 2];
        let Ok(pending) = self.open(opener).await else {
            self.ledger
                .not_opened
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        };
        let mut rng = Rng::new(self.seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let token = format!("soak.{:x}.{index}.{:016x}", self.seed, rng.next_u64());
        let mailbox_id = pending.mailbox_id().to_owned();
        let opened_at = self.ledger.now();
        let expires_at = opened_at + (pending.expires_at() as f64 - unix_now_f64());
        let notify = self.ledger.expect(&mailbox_id);
        let phone = &self.phones[index % self.phones.len()];
        let scan = Duration::from_secs_f64(rng.uniform(0.05, 0.5));
        let request = pending.request().clone();
        let phone_side = self.phone(phone, &request, &token, scan);
        let app_side = async {
            if app.webhook {
                tokio::select! {
                    () = notify.notified() => vec![AppEnd::Webhook],
                    end = async {
                        sleep(WEBHOOK_FALLBACK).await;
                        self.wait(&app.replicas[0], 0, &pending, Some(FALLBACK_CHUNK_SECS)).await
                    } => end.into_iter().collect(),
                }
            } else {
                let (first, second) = tokio::join!(
                    self.wait(&app.replicas[0], 0, &pending, None),
                    self.wait(&app.replicas[1], 1, &pending, None),
                );
                first.into_iter().chain(second).collect()
            }
        };
        let (phone, app_ends) = tokio::join!(phone_side, app_side);
        self.ledger.file(SignIn {
            webhook: app.webhook,
            mailbox_id,
            opened_at,
            expires_at,
            token,
            phone,
            app_ends,
        });
    }

    /// Opens a mailbox, retrying for [`OPEN_FOR`].
    async fn open(&self, app: &AppClient) -> Result<PendingSignIn, String> {
        let give_up = Instant::now() + OPEN_FOR;
        let mut failures = 0;
        loop {
            match app.open_mailbox(Some(self.ttl)).await {
                Ok(pending) => return Ok(pending),
                Err(error) if retryable(&error) && Instant::now() < give_up => {
                    sleep(backoff(failures)).await;
                    failures += 1;
                }
                Err(error) => return Err(error.to_string()),
            }
        }
    }

    /// The phone: after `scan`, sends `token`, retrying until [`PHONE_MARGIN_SECS`] before
    /// the expiry. A retry seals afresh, so a `409` after a retry means an earlier attempt
    /// stored this phone's envelope.
    async fn phone(
        &self,
        phone: &Phone,
        request: &SignInRequest,
        token: &str,
        scan: Duration,
    ) -> PhoneOutcome {
        sleep(scan).await;
        let deadline = request.expires_at() as f64 - PHONE_MARGIN_SECS;
        let mut failures = 0;
        loop {
            let left = Duration::from_secs_f64((deadline - unix_now_f64()).max(0.0));
            let error = match tokio::time::timeout(left, phone.send_to(request, token.as_bytes()))
                .await
            {
                Err(_) => return PhoneOutcome::GaveUp("no acknowledgement by its deadline".into()),
                Ok(Ok(_)) => return self.acked(),
                Ok(Err(Error::MailboxConflict)) if failures > 0 => return self.acked(),
                Ok(Err(error)) => error,
            };
            if !retryable(&error) || unix_now_f64() >= deadline {
                return PhoneOutcome::GaveUp(error.to_string());
            }
            sleep(backoff(failures)).await;
            failures += 1;
        }
    }

    fn acked(&self) -> PhoneOutcome {
        PhoneOutcome::Acked {
            at: self.ledger.now(),
        }
    }

    /// One app replica waiting with the SDK's long-poll, in long-polls of at most `chunk`
    /// seconds when given; `None` when it got the token.
    async fn wait(
        &self,
        app: &AppClient,
        replica: usize,
        pending: &PendingSignIn,
        chunk: Option<u64>,
    ) -> Option<AppEnd> {
        let mailbox_id = pending.mailbox_id();
        let expires_at = pending.expires_at();
        loop {
            let until = chunk.map_or(expires_at, |secs| (unix_now() + secs).min(expires_at));
            return match app.wait_for_mailbox(mailbox_id, until).await {
                Ok(token) => {
                    let token = token.as_str().to_owned();
                    self.ledger.receive(mailbox_id, Via::Poll(replica), token);
                    None
                }
                Err(Error::Expired) if until < expires_at => continue,
                Err(Error::MailboxNotFound) => {
                    let at = self.ledger.now();
                    let redis = if self.ledger.received(mailbox_id) {
                        "received"
                    } else {
                        self.look_up(mailbox_id).await
                    };
                    Some(AppEnd::NotFound { at, redis })
                }
                Err(Error::Expired) => Some(AppEnd::Expired),
                Err(error) => Some(AppEnd::Error(error.to_string())),
            };
        }
    }

    /// What Redis holds for a mailbox: `envelope`, `consumed` (only the digest is left),
    /// `missing`, or `unknown` when Redis does not answer within a few seconds.
    async fn look_up(&self, mailbox_id: &str) -> &'static str {
        let (cli, port, prefix) = &self.redis;
        let mut hash = Sha256::new();
        hash.update(TAG_CONTEXT);
        hash.update(mailbox_id.as_bytes());
        let key = format!(
            "{prefix}mbx:{{{}}}",
            base64url::encode(&hash.finalize()[..16])
        );
        for _ in 0..20 {
            let output = tokio::process::Command::new(cli)
                .args(["-p", &port.to_string(), "--raw", "HKEYS", &key])
                .output()
                .await;
            if let Ok(output) = output
                && output.status.success()
            {
                let text = String::from_utf8_lossy(&output.stdout);
                let fields: Vec<&str> = text.lines().collect();
                if !fields
                    .iter()
                    .any(|f| f.contains("ERR") || f.contains("LOADING"))
                {
                    return if fields.contains(&"env") {
                        "envelope"
                    } else if fields.contains(&"dig") {
                        "consumed"
                    } else {
                        "missing"
                    };
                }
            }
            sleep(Duration::from_millis(250)).await;
        }
        "unknown"
    }
}
