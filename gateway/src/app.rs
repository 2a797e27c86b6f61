//! The gateway's shared state: configuration, store, metrics, limits and the shutdown signal.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use crate::client_addr::TrustedProxies;
use crate::clock::Clock;
use crate::config::Config;
use crate::connections::{ConnectionLimits, ConnectionMetrics};
use crate::limits::{ConcurrencyCap, IpRateLimiter, RateLimiter};
use crate::metrics::Metrics;
use crate::push::Push;
use crate::store::{MeteredStore, SharedStore};
use crate::webhook::worker::Webhooks;

/// Everything a request handler may use.
pub(crate) struct App {
    /// The configuration the gateway started with.
    pub config: Config,
    /// Client registrations and mailboxes.
    pub store: SharedStore,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Deposits per IP address.
    pub deposit_limiter: IpRateLimiter,
    /// Mailboxes opened per client.
    pub mailbox_limiter: RateLimiter<String>,
    /// Waiting long-polls per client.
    pub waiter_cap: ConcurrencyCap<String>,
    /// Waiting long-polls of all clients together.
    pub global_waiter_cap: ConcurrencyCap<()>,
    /// Client registrations per IP address.
    pub registration_limiter: IpRateLimiter,
    /// Open connections on the API listener, in total and per address.
    pub connections: Arc<ConnectionLimits>,
    /// The proxies whose client-address claims are believed.
    pub trusted_proxies: TrustedProxies,
    /// The sign-in request base URL.
    pub public_url: String,
    /// Webhook delivery, unless turned off.
    pub webhooks: Option<Arc<Webhooks>>,
    /// The OpenAPI document `GET /openapi.json` serves, with this configuration's bounds.
    pub openapi: Bytes,
    /// Push notifications for one-click sign-in, unless turned off.
    pub push: Option<Push>,
    /// Device registrations per IP address.
    pub device_limiter: IpRateLimiter,
    shutdown: watch::Receiver<bool>,
}

impl App {
    /// Assembles the state; `shutdown` turns `true` when the gateway begins to stop.
    pub(crate) fn new(
        config: Config,
        store: SharedStore,
        clock: Arc<dyn Clock>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let limits = &config.limits;
        let metrics = Metrics::new(store.kind());
        let connection_metrics = ConnectionMetrics::new();
        for collector in connection_metrics.collectors() {
            metrics.register(collector);
        }
        let connections = Arc::new(ConnectionLimits::new(
            limits.max_connections,
            limits.max_connections_per_ip,
            limits.ipv6_prefix_len,
            connection_metrics,
        ));
        let store: SharedStore = Arc::new(MeteredStore::new(store, metrics.store_errors.clone()));
        let webhooks = if config.webhooks.enabled {
            let delivery = (store.clone(), metrics.clone(), clock.clone());
            Some(Arc::new(Webhooks::new(delivery, &config.webhooks)?))
        } else {
            None
        };
        Ok(Self {
            webhooks,
            metrics,
            deposit_limiter: IpRateLimiter::new(
                RateLimiter::new(limits.deposits_per_ip_per_sec, limits.deposit_burst_per_ip),
                limits.ipv6_prefix_len,
            ),
            mailbox_limiter: RateLimiter::new(
                limits.mailboxes_per_client_per_sec,
                limits.mailbox_burst_per_client,
            ),
            waiter_cap: ConcurrencyCap::new(limits.max_waiters_per_client),
            global_waiter_cap: ConcurrencyCap::new(match limits.max_waiters {
                0 => usize::MAX,
                max => max,
            }),
            registration_limiter: IpRateLimiter::new(
                RateLimiter::per_minute(
                    limits.registrations_per_ip_per_min,
                    limits.registration_burst_per_ip,
                ),
                limits.ipv6_prefix_len,
            ),
            push: None,
            device_limiter: IpRateLimiter::new(
                RateLimiter::per_minute(
                    config.push.registrations_per_ip_per_min,
                    config.push.registration_burst_per_ip,
                ),
                limits.ipv6_prefix_len,
            ),
            connections,
            trusted_proxies: TrustedProxies::parse(&config.trusted_proxies)?,
            public_url: config.public_base_url(),
            openapi: crate::api::ops::served_openapi(&config),
            config,
            store,
            clock,
            shutdown,
        })
    }

    /// The state with push notifications sent by `push`.
    pub(crate) fn with_push(mut self, push: Option<Push>) -> Self {
        self.push = push;
        self
    }

    /// Whether the gateway has begun to stop.
    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once the gateway begins to stop.
    pub(crate) async fn shutting_down(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the sender is gone: the gateway is stopping either way.
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    }
}

/// The state shared by every connection.
pub(crate) type SharedApp = Arc<App>;
