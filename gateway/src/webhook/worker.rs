//! The delivery loop of one gateway instance: claims due deliveries from the store (with a
//! lease, so that another instance takes over if this one dies), attempts each, and records
//! the outcome.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore, watch};

use super::schedule::{next_delay, random_jitter};
use super::sender::{ATTEMPT_TIMEOUT, Attempt, Outgoing, Sender};
use super::ssrf::Policy;
use crate::clock::{Clock, rfc3339};
use crate::config::WebhookConfig;
use crate::metrics::Metrics;
use crate::store::{Delivery, LeaseOutcome, SharedStore, StoreError, UpdateOutcome};

/// How often the store is asked for due deliveries when nothing signals one.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a claimed delivery belongs to this instance before another may take it.
pub(crate) const CLAIM_LEASE: Duration = Duration::from_secs(30);
/// How long an attempt holds the envelope; pollers see it pending meanwhile.
const ENVELOPE_LEASE: Duration = Duration::from_secs(ATTEMPT_TIMEOUT.as_secs() + 5);
/// How long an attempt waits for a sending slot before it is put back (well inside the claim
/// lease, with the attempt's own timeout).
const SLOT_WAIT: Duration = Duration::from_secs(10);
/// How soon to look again at a delivery whose envelope another attempt holds.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// The webhook machinery of one instance: the settings, the sender, and what the delivery
/// loop reads and records.
pub(crate) struct Webhooks {
    store: SharedStore,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    sender: Sender,
    policy: Policy,
    wake: Notify,
    in_flight: Arc<Semaphore>,
    overlap_secs: u64,
}

impl Webhooks {
    /// Delivery of what `store` queues, as `config` says: the URL policy, at most
    /// `concurrency` attempts in flight (`per_endpoint` per host), and how long rotated
    /// secrets keep signing.
    pub(crate) fn new(
        (store, metrics, clock): (SharedStore, Metrics, Arc<dyn Clock>),
        config: &WebhookConfig,
    ) -> anyhow::Result<Self> {
        let policy = Policy {
            allow_insecure: config.allow_insecure,
            allow_private: config.allow_private,
            allowed_ports: config.allowed_ports.clone().into(),
        };
        let (concurrency, per_endpoint) = (config.concurrency, config.per_endpoint);
        Ok(Self {
            store,
            metrics,
            clock,
            sender: Sender::new(policy.clone(), concurrency, per_endpoint)?,
            policy,
            wake: Notify::new(),
            in_flight: Arc::new(Semaphore::new(concurrency.max(1))),
            overlap_secs: config.secret_overlap_secs,
        })
    }

    /// The URL policy.
    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// How long a rotated-out secret keeps signing, seconds.
    pub(crate) fn overlap_secs(&self) -> u64 {
        self.overlap_secs
    }

    /// Tells the loop a delivery was enqueued, so it need not wait for its next tick.
    pub(crate) fn poke(&self) {
        self.wake.notify_one();
    }
}

/// Runs the delivery loop until `shutdown` turns `true`.
pub(crate) async fn run(webhooks: Arc<Webhooks>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = webhooks.wake.notified() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        let permits: Vec<_> =
            std::iter::from_fn(|| webhooks.in_flight.clone().try_acquire_owned().ok()).collect();
        if permits.is_empty() {
            continue;
        }
        let now = webhooks.clock.now_ms();
        let lease = CLAIM_LEASE.as_millis() as u64;
        let claimed = match webhooks
            .store
            .claim_deliveries(now, lease, permits.len())
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "cannot claim webhook deliveries");
                continue;
            }
        };
        for (delivery, permit) in claimed.into_iter().zip(permits) {
            let webhooks = webhooks.clone();
            tokio::spawn(async move {
                if let Err(error) = attempt(&webhooks, delivery).await {
                    tracing::warn!(%error, "webhook delivery step failed; the claim lease will retry it");
                }
                drop(permit);
            });
        }
    }
}

/// Marks the client's webhook disabled after a 410, if it still points at `url`: a change
/// made during the attempt (a new URL, a rotated secret) is kept, not overwritten.
async fn disable_endpoint(
    store: &SharedStore,
    client_id: &str,
    url: &str,
    now_secs: u64,
) -> Result<(), StoreError> {
    for _ in 0..5 {
        let Some(mut client) = store.client(client_id).await? else {
            return Ok(());
        };
        match client.webhook.as_mut() {
            Some(webhook) if webhook.url == url && webhook.disabled_at.is_none() => {
                webhook.disabled_at = Some(now_secs);
            }
            _ => return Ok(()),
        }
        client.revision += 1;
        if store.update_client(&client).await? != UpdateOutcome::Conflict {
            return Ok(());
        }
    }
    Ok(())
}

/// One attempt of one delivery, start to finish.
async fn attempt(webhooks: &Webhooks, delivery: Delivery) -> Result<(), StoreError> {
    let Webhooks {
        store,
        metrics,
        clock,
        ..
    } = webhooks;
    let now_ms = clock.now_ms();
    if delivery.expires_at_ms <= now_ms {
        metrics
            .webhook_deliveries
            .with_label_values(&["expired"])
            .inc();
        return store.complete_delivery(&delivery.id).await;
    }
    let client = store.client(&delivery.client_id).await?;
    let Some(settings) = client.and_then(|c| c.webhook).filter(|w| w.is_active()) else {
        metrics
            .webhook_deliveries
            .with_label_values(&["dropped"])
            .inc();
        return store.complete_delivery(&delivery.id).await;
    };
    // The slot comes before the envelope's lease, so that waiting for it never eats into the
    // lease: a poll must not get the envelope while this attempt may still send it.
    let Some(slot) = webhooks.sender.reserve(&settings.url, SLOT_WAIT).await else {
        let retry = Delivery {
            next_attempt_at_ms: clock.now_ms() + BUSY_RETRY.as_millis() as u64,
            ..delivery
        };
        return store.reschedule_delivery(&retry).await;
    };
    let now_ms = clock.now_ms();
    let envelope = match store
        .lease_envelope(
            &delivery.mailbox_id,
            now_ms + ENVELOPE_LEASE.as_millis() as u64,
        )
        .await?
    {
        LeaseOutcome::Leased(envelope) => envelope,
        LeaseOutcome::Busy => {
            let retry = Delivery {
                next_attempt_at_ms: now_ms + BUSY_RETRY.as_millis() as u64,
                ..delivery
            };
            return store.reschedule_delivery(&retry).await;
        }
        LeaseOutcome::Gone => {
            metrics
                .webhook_deliveries
                .with_label_values(&["superseded"])
                .inc();
            return store.complete_delivery(&delivery.id).await;
        }
    };
    let now_secs = clock.now_secs();
    let event = sealgate_crypto::webhook::Delivery {
        id: delivery.id.clone(),
        client_id: delivery.client_id.clone(),
        mailbox_id: delivery.mailbox_id.clone(),
        envelope: String::from_utf8_lossy(&envelope).into_owned(),
    };
    let body = Bytes::from(event.to_body(&rfc3339(now_ms)));
    let signature = settings.sign(&delivery.id, now_secs, &body, now_secs);
    let outcome = webhooks
        .sender
        .send(
            &slot,
            Outgoing {
                url: &settings.url,
                id: &delivery.id,
                timestamp: now_secs,
                signature: &signature,
                body,
            },
        )
        .await;
    metrics
        .webhook_attempts
        .with_label_values(&[outcome.label()])
        .inc();
    match outcome {
        Attempt::Answered { status, .. } if status.is_success() => {
            store.release_envelope(&delivery.mailbox_id, true).await?;
            metrics.mailboxes_consumed.inc();
            metrics
                .webhook_deliveries
                .with_label_values(&["delivered"])
                .inc();
            let elapsed = clock.now_ms().saturating_sub(delivery.created_at_ms);
            metrics.webhook_duration.observe(elapsed as f64 / 1000.0);
            tracing::debug!(attempt = delivery.attempt + 1, "webhook delivered");
            store.complete_delivery(&delivery.id).await
        }
        Attempt::Answered { status, .. } if status == http::StatusCode::GONE => {
            store.release_envelope(&delivery.mailbox_id, false).await?;
            disable_endpoint(store, &delivery.client_id, &settings.url, now_secs).await?;
            metrics.webhook_endpoints_disabled.inc();
            metrics
                .webhook_deliveries
                .with_label_values(&["endpoint_gone"])
                .inc();
            tracing::info!("webhook endpoint answered 410 Gone; disabled");
            store.complete_delivery(&delivery.id).await
        }
        failed => {
            store.release_envelope(&delivery.mailbox_id, false).await?;
            let retry_after = match &failed {
                Attempt::Answered { retry_after, .. } => *retry_after,
                _ => None,
            };
            let failures = delivery.attempt + 1;
            let next = clock.now_ms()
                + next_delay(failures, retry_after, random_jitter()).as_millis() as u64;
            if next >= delivery.expires_at_ms {
                metrics
                    .webhook_deliveries
                    .with_label_values(&["expired"])
                    .inc();
                return store.complete_delivery(&delivery.id).await;
            }
            tracing::debug!(
                attempt = failures,
                result = failed.label(),
                "webhook attempt failed; will retry"
            );
            store
                .reschedule_delivery(&Delivery {
                    attempt: failures,
                    next_attempt_at_ms: next,
                    ..delivery
                })
                .await
        }
    }
}
