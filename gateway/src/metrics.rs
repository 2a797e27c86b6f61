//! Prometheus metrics. Names are constants; labels are bounded (route template, method,
//! status class, a fixed set of outcomes) so that no id ever becomes a label.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// HTTP requests served, by route template, method and status class.
pub(crate) const HTTP_REQUESTS_TOTAL: &str = "sealgate_http_requests_total";
/// Request latency, by route template, method and status class.
pub(crate) const HTTP_REQUEST_DURATION_SECONDS: &str = "sealgate_http_request_duration_seconds";
/// Mailboxes opened.
pub(crate) const MAILBOXES_OPENED_TOTAL: &str = "sealgate_mailboxes_opened_total";
/// Envelopes deposited (first deposits, not identical retries).
pub(crate) const MAILBOXES_DEPOSITED_TOTAL: &str = "sealgate_mailboxes_deposited_total";
/// Envelopes handed out and consumed.
pub(crate) const MAILBOXES_CONSUMED_TOTAL: &str = "sealgate_mailboxes_consumed_total";
/// Mailboxes that expired unconsumed (as seen by this instance).
pub(crate) const MAILBOXES_EXPIRED_TOTAL: &str = "sealgate_mailboxes_expired_total";
/// Mailboxes cancelled by their client.
pub(crate) const MAILBOXES_CANCELLED_TOTAL: &str = "sealgate_mailboxes_cancelled_total";
/// Long-polls waiting now on this instance.
pub(crate) const LONGPOLL_WAITERS: &str = "sealgate_longpoll_waiters";
/// Store operations that failed, by operation.
pub(crate) const STORE_ERRORS_TOTAL: &str = "sealgate_store_errors_total";
/// Requests refused by a rate or concurrency limit, by limit.
pub(crate) const LIMITED_TOTAL: &str = "sealgate_limited_total";
/// Clients registered.
pub(crate) const CLIENTS_REGISTERED_TOTAL: &str = "sealgate_clients_registered_total";
/// Webhook deliveries finished, by outcome: `delivered`, `endpoint_gone`, `expired`,
/// `superseded` (a poll, a cancel or the expiry got there first), `dropped` (webhook removed).
pub(crate) const WEBHOOK_DELIVERIES_TOTAL: &str = "sealgate_webhook_deliveries_total";
/// Webhook attempts, by result: `2xx`, `3xx`, `4xx`, `5xx`, `timeout`, `connection_error`.
pub(crate) const WEBHOOK_ATTEMPTS_TOTAL: &str = "sealgate_webhook_attempts_total";
/// Deliveries waiting in the store (all instances).
pub(crate) const WEBHOOK_QUEUE_DEPTH: &str = "sealgate_webhook_queue_depth";
/// From deposit to the endpoint's 2xx.
pub(crate) const WEBHOOK_DELIVERY_DURATION_SECONDS: &str =
    "sealgate_webhook_delivery_duration_seconds";
/// Endpoints disabled because they answered 410 Gone.
pub(crate) const WEBHOOK_ENDPOINTS_DISABLED_TOTAL: &str =
    "sealgate_webhook_endpoints_disabled_total";
/// Changes of an endpoint's circuit breaker, by the state entered: `open`, `half_open`,
/// `closed` (never by endpoint: the label set stays bounded).
pub(crate) const WEBHOOK_BREAKER_TRANSITIONS_TOTAL: &str =
    "sealgate_webhook_breaker_transitions_total";
/// Deliveries put back in the queue without an attempt, by reason: `endpoint_busy` (every
/// slot of the endpoint taken, or its turn in this round used), `breaker_open`.
pub(crate) const WEBHOOK_DEFERRED_TOTAL: &str = "sealgate_webhook_deferred_total";
/// Reloads of the API listener's TLS certificate, by outcome: `ok`, `error` (the current
/// certificate kept).
pub(crate) const TLS_RELOADS_TOTAL: &str = "sealgate_tls_reloads_total";
/// Push notifications sent for one-click sign-in, by outcome: `sent`, `device_gone` (the
/// push service answered 404/410 and the registration was deleted), `failed`, `timeout`,
/// `refused` (the endpoint's address is not allowed).
pub(crate) const PUSH_NOTIFICATIONS_TOTAL: &str = "sealgate_push_notifications_total";
/// Device registrations made for one-click sign-in.
pub(crate) const DEVICES_REGISTERED_TOTAL: &str = "sealgate_devices_registered_total";
/// Build information, value 1.
pub(crate) const BUILD_INFO: &str = "sealgate_build_info";

/// Latency buckets, seconds: sub-millisecond to a full long-poll.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The gateway's metrics, registered in their own registry.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    /// See [`HTTP_REQUESTS_TOTAL`].
    pub http_requests: IntCounterVec,
    /// See [`HTTP_REQUEST_DURATION_SECONDS`].
    pub http_duration: HistogramVec,
    /// See [`MAILBOXES_OPENED_TOTAL`].
    pub mailboxes_opened: IntCounter,
    /// See [`MAILBOXES_DEPOSITED_TOTAL`].
    pub mailboxes_deposited: IntCounter,
    /// See [`MAILBOXES_CONSUMED_TOTAL`].
    pub mailboxes_consumed: IntCounter,
    /// See [`MAILBOXES_EXPIRED_TOTAL`].
    pub mailboxes_expired: IntCounter,
    /// See [`MAILBOXES_CANCELLED_TOTAL`].
    pub mailboxes_cancelled: IntCounter,
    /// See [`LONGPOLL_WAITERS`].
    pub longpoll_waiters: IntGauge,
    /// See [`STORE_ERRORS_TOTAL`].
    pub store_errors: IntCounterVec,
    /// See [`LIMITED_TOTAL`].
    pub limited: IntCounterVec,
    /// See [`CLIENTS_REGISTERED_TOTAL`].
    pub clients_registered: IntCounter,
    /// See [`WEBHOOK_DELIVERIES_TOTAL`].
    pub webhook_deliveries: IntCounterVec,
    /// See [`WEBHOOK_ATTEMPTS_TOTAL`].
    pub webhook_attempts: IntCounterVec,
    /// See [`WEBHOOK_QUEUE_DEPTH`].
    pub webhook_queue_depth: IntGauge,
    /// See [`WEBHOOK_DELIVERY_DURATION_SECONDS`].
    pub webhook_duration: Histogram,
    /// See [`WEBHOOK_ENDPOINTS_DISABLED_TOTAL`].
    pub webhook_endpoints_disabled: IntCounter,
    /// See [`WEBHOOK_BREAKER_TRANSITIONS_TOTAL`].
    pub webhook_breaker_transitions: IntCounterVec,
    /// See [`WEBHOOK_DEFERRED_TOTAL`].
    pub webhook_deferred: IntCounterVec,
    /// See [`TLS_RELOADS_TOTAL`].
    pub tls_reloads: IntCounterVec,
    /// See [`PUSH_NOTIFICATIONS_TOTAL`].
    pub push_notifications: IntCounterVec,
    /// See [`DEVICES_REGISTERED_TOTAL`].
    pub devices_registered: IntCounter,
}

impl Metrics {
    /// Creates and registers every metric.
    pub(crate) fn new(store_kind: &str) -> Self {
        let registry = Registry::new();
        let labels = &["route", "method", "status_class"];
        let metrics = Self {
            http_requests: IntCounterVec::new(
                Opts::new(HTTP_REQUESTS_TOTAL, "HTTP requests served"),
                labels,
            )
            .expect("valid metric"),
            http_duration: HistogramVec::new(
                HistogramOpts::new(HTTP_REQUEST_DURATION_SECONDS, "HTTP request latency")
                    .buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .expect("valid metric"),
            mailboxes_opened: counter(MAILBOXES_OPENED_TOTAL, "Mailboxes opened"),
            mailboxes_deposited: counter(MAILBOXES_DEPOSITED_TOTAL, "Envelopes deposited"),
            mailboxes_consumed: counter(MAILBOXES_CONSUMED_TOTAL, "Envelopes consumed"),
            mailboxes_expired: counter(MAILBOXES_EXPIRED_TOTAL, "Mailboxes expired unconsumed"),
            mailboxes_cancelled: counter(MAILBOXES_CANCELLED_TOTAL, "Mailboxes cancelled"),
            longpoll_waiters: IntGauge::new(LONGPOLL_WAITERS, "Long-polls waiting")
                .expect("valid metric"),
            store_errors: IntCounterVec::new(
                Opts::new(STORE_ERRORS_TOTAL, "Store operations that failed"),
                &["operation"],
            )
            .expect("valid metric"),
            limited: IntCounterVec::new(
                Opts::new(LIMITED_TOTAL, "Requests refused by a limit"),
                &["limit"],
            )
            .expect("valid metric"),
            clients_registered: counter(CLIENTS_REGISTERED_TOTAL, "Clients registered"),
            webhook_deliveries: IntCounterVec::new(
                Opts::new(WEBHOOK_DELIVERIES_TOTAL, "Webhook deliveries finished"),
                &["outcome"],
            )
            .expect("valid metric"),
            webhook_attempts: IntCounterVec::new(
                Opts::new(WEBHOOK_ATTEMPTS_TOTAL, "Webhook attempts"),
                &["result"],
            )
            .expect("valid metric"),
            webhook_queue_depth: IntGauge::new(
                WEBHOOK_QUEUE_DEPTH,
                "Webhook deliveries waiting in the shared store: the same value on every instance, so aggregate with max(), not sum()",
            )
            .expect("valid metric"),
            webhook_duration: Histogram::with_opts(
                HistogramOpts::new(
                    WEBHOOK_DELIVERY_DURATION_SECONDS,
                    "From deposit to the endpoint's 2xx",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            webhook_endpoints_disabled: counter(
                WEBHOOK_ENDPOINTS_DISABLED_TOTAL,
                "Webhook endpoints disabled after 410 Gone",
            ),
            webhook_breaker_transitions: IntCounterVec::new(
                Opts::new(
                    WEBHOOK_BREAKER_TRANSITIONS_TOTAL,
                    "Webhook endpoint circuit breaker changes, by state entered",
                ),
                &["to"],
            )
            .expect("valid metric"),
            webhook_deferred: IntCounterVec::new(
                Opts::new(
                    WEBHOOK_DEFERRED_TOTAL,
                    "Webhook deliveries put back without an attempt",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            tls_reloads: IntCounterVec::new(
                Opts::new(TLS_RELOADS_TOTAL, "TLS certificate reloads, by outcome"),
                &["outcome"],
            )
            .expect("valid metric"),
            push_notifications: IntCounterVec::new(
                Opts::new(PUSH_NOTIFICATIONS_TOTAL, "Push notifications, by outcome"),
                &["outcome"],
            )
            .expect("valid metric"),
            devices_registered: counter(DEVICES_REGISTERED_TOTAL, "Device registrations made"),
            registry,
        };
        // Both outcomes exist from the start (at 0), so that `increase()` sees the first one.
        for outcome in ["ok", "error"] {
            metrics.tls_reloads.with_label_values(&[outcome]);
        }
        for outcome in crate::push::PushOutcome::ALL {
            metrics
                .push_notifications
                .with_label_values(&[outcome.label()]);
        }
        let build_info = IntGaugeVec::new(
            Opts::new(BUILD_INFO, "Build information"),
            &["version", "store"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), store_kind])
            .set(1);
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(metrics.http_requests.clone()),
            Box::new(metrics.http_duration.clone()),
            Box::new(metrics.mailboxes_opened.clone()),
            Box::new(metrics.mailboxes_deposited.clone()),
            Box::new(metrics.mailboxes_consumed.clone()),
            Box::new(metrics.mailboxes_expired.clone()),
            Box::new(metrics.mailboxes_cancelled.clone()),
            Box::new(metrics.longpoll_waiters.clone()),
            Box::new(metrics.store_errors.clone()),
            Box::new(metrics.limited.clone()),
            Box::new(metrics.clients_registered.clone()),
            Box::new(metrics.webhook_deliveries.clone()),
            Box::new(metrics.webhook_attempts.clone()),
            Box::new(metrics.webhook_queue_depth.clone()),
            Box::new(metrics.webhook_duration.clone()),
            Box::new(metrics.webhook_endpoints_disabled.clone()),
            Box::new(metrics.webhook_breaker_transitions.clone()),
            Box::new(metrics.webhook_deferred.clone()),
            Box::new(metrics.tls_reloads.clone()),
            Box::new(metrics.push_notifications.clone()),
            Box::new(metrics.devices_registered.clone()),
            Box::new(build_info),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("unique metric names");
        }
        // The standard `process_*` series (resident and virtual memory, CPU seconds, open and
        // maximum file descriptors, start time), read from /proc at each scrape.
        #[cfg(target_os = "linux")]
        metrics
            .registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric names");
        metrics
    }

    /// Records one served request.
    pub(crate) fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let class = status_class(status);
        let labels = [route, method, class];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration
            .with_label_values(&labels)
            .observe(seconds);
    }

    /// Brings the expired-mailbox counter up to the store's own count.
    pub(crate) fn sync_expired(&self, store_expired_total: u64) {
        let seen = self.mailboxes_expired.get();
        if store_expired_total > seen {
            self.mailboxes_expired.inc_by(store_expired_total - seen);
        }
    }

    /// Registers a collector kept by another module (its names are that module's constants).
    pub(crate) fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        self.registry
            .register(collector)
            .expect("unique metric names");
    }

    /// The registry in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid metric")
}

/// `1xx` … `5xx`: the only status label.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
