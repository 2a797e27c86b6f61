//! The delivery loop of one gateway instance: claims due deliveries from the store (with a
//! lease, so that another instance takes over if this one dies), attempts each, and records
//! the outcome.
//!
//! Fairness: a global permit bounds the claimed deliveries; a delivery never waits while
//! holding one. Each round gives a client at most `per_endpoint` attempts (the rest of its
//! backlog is put back for a moment), an endpoint whose slots are all taken or whose breaker
//! is open puts its delivery back at once, and a round that claimed all it could is followed
//! by another at once, so one client's backlog cannot keep the others' deliveries unclaimed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore, watch};
use tracing::Instrument as _;

use super::breaker::Transition;
use super::endpoints::{Admission, Endpoints};
use super::schedule::{next_delay, random_jitter};
use super::sender::{ATTEMPT_TIMEOUT, Attempt, Outgoing, Sender};
use super::ssrf::Policy;
use crate::clock::{Clock, rfc3339};
use crate::config::WebhookConfig;
use crate::metrics::Metrics;
use crate::store::{Delivery, LeaseOutcome, SharedStore, StoreError, UpdateOutcome};
use crate::telemetry::spans;

/// How often the store is asked for due deliveries when nothing signals one.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a claimed delivery belongs to this instance before another may take it.
pub(crate) const CLAIM_LEASE: Duration = Duration::from_secs(30);
/// How long an attempt holds the envelope; pollers see it pending meanwhile.
const ENVELOPE_LEASE: Duration = Duration::from_secs(ATTEMPT_TIMEOUT.as_secs() + 5);
/// How soon to look again at a delivery whose envelope another attempt holds.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// How soon to look again at a delivery whose endpoint had no free slot, or whose client had
/// used its turns of the round.
const ENDPOINT_BUSY_RETRY: Duration = Duration::from_millis(250);
/// The same, when the endpoint's last attempts did not reach it: its slots are likely held
/// by attempts that run to their timeout.
const FAILING_ENDPOINT_RETRY: Duration = Duration::from_secs(2);

/// The webhook machinery of one instance: the settings, the sender, and what the delivery
/// loop reads and records.
pub(crate) struct Webhooks {
    store: SharedStore,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    sender: Sender,
    endpoints: Endpoints,
    policy: Policy,
    wake: Notify,
    in_flight: Arc<Semaphore>,
    turns_per_client: usize,
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
        let policy = Policy::from_config(config);
        let (concurrency, per_endpoint) = (config.concurrency, config.per_endpoint);
        Ok(Self {
            store,
            metrics,
            clock,
            sender: Sender::new(policy.clone(), per_endpoint)?,
            endpoints: Endpoints::new(per_endpoint),
            policy,
            wake: Notify::new(),
            in_flight: Arc::new(Semaphore::new(concurrency.max(1))),
            turns_per_client: per_endpoint.max(1),
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

    fn count_transition(&self, transition: Option<Transition>) {
        if let Some(transition) = transition {
            self.metrics
                .webhook_breaker_transitions
                .with_label_values(&[transition.label()])
                .inc();
            tracing::info!(to = transition.label(), "webhook endpoint breaker changed");
        }
    }

    /// Puts `delivery` back in the queue, due in `after`, without an attempt.
    async fn defer(
        &self,
        delivery: Delivery,
        after: Duration,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.metrics
            .webhook_deferred
            .with_label_values(&[reason])
            .inc();
        let retry = Delivery {
            next_attempt_at_ms: self.clock.now_ms() + after.as_millis() as u64,
            ..delivery
        };
        self.store.reschedule_delivery(&retry).await
    }
}

/// Runs the delivery loop until `shutdown` turns `true`.
pub(crate) async fn run(webhooks: Arc<Webhooks>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut claim_again = false;
    loop {
        if claim_again {
            tokio::task::yield_now().await;
            if *shutdown.borrow() {
                return;
            }
        } else {
            tokio::select! {
                _ = ticker.tick() => {}
                () = webhooks.wake.notified() => {}
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            }
        }
        let permits: Vec<_> =
            std::iter::from_fn(|| webhooks.in_flight.clone().try_acquire_owned().ok()).collect();
        claim_again = false;
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
        // All it could: more may be due behind them, another client's among them.
        claim_again = claimed.len() == permits.len();
        let mut turns: HashMap<String, usize> = HashMap::new();
        for (delivery, permit) in claimed.into_iter().zip(permits) {
            let taken = turns.entry(delivery.client_id.clone()).or_default();
            *taken += 1;
            let has_turn = *taken <= webhooks.turns_per_client;
            let webhooks = webhooks.clone();
            tokio::spawn(async move {
                let step = if has_turn {
                    let span = spans::webhook_attempt(delivery.attempt + 1);
                    attempt(&webhooks, delivery, &span)
                        .instrument(span.clone())
                        .await
                } else {
                    webhooks
                        .defer(delivery, ENDPOINT_BUSY_RETRY, "endpoint_busy")
                        .await
                };
                if let Err(error) = step {
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

/// One attempt of one delivery, start to finish, in its span `trace`.
async fn attempt(
    webhooks: &Webhooks,
    delivery: Delivery,
    trace: &tracing::Span,
) -> Result<(), StoreError> {
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
    // lease: a poll must not get the envelope while this attempt may still send it. Nothing
    // waits for a slot: a full or held-back endpoint puts its delivery back at once.
    let mut slot = match webhooks.endpoints.try_admit(&settings.url, clock.now_ms()) {
        Admission::Go(slot) => slot,
        Admission::Busy { failing } => {
            let after = if failing {
                FAILING_ENDPOINT_RETRY
            } else {
                ENDPOINT_BUSY_RETRY
            };
            return webhooks.defer(delivery, after, "endpoint_busy").await;
        }
        Admission::Held {
            until_ms,
            transition,
        } => {
            webhooks.count_transition(transition);
            if until_ms >= delivery.expires_at_ms {
                metrics
                    .webhook_deliveries
                    .with_label_values(&["expired"])
                    .inc();
                return store.complete_delivery(&delivery.id).await;
            }
            let after = Duration::from_millis(until_ms.saturating_sub(clock.now_ms()));
            return webhooks.defer(delivery, after, "breaker_open").await;
        }
    };
    webhooks.count_transition(slot.transition);
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
                trace,
            },
        )
        .await;
    let status = match &outcome {
        Attempt::Answered { status, .. } => Some(status.as_u16()),
        _ => None,
    };
    spans::record_webhook_result(trace, outcome.label(), status);
    metrics
        .webhook_attempts
        .with_label_values(&[outcome.label()])
        .inc();
    webhooks.count_transition(slot.report(outcome.reached(), clock.now_ms()));
    drop(slot);
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
