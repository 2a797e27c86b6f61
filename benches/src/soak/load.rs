//! The load: the apps registered through the balancer, and sign-ins started at a steady rate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sealgate_client::sealgate_crypto::webhook::WebhookSecret;
use sealgate_client::sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_client::{AppClient, HttpClient, Registration};
use tokio::task::JoinSet;

use super::flow::{App, Flows};
use super::{Args, ChaosGuard, receiver};

/// Registers the apps through the balancer; the first `webhook_apps` with a webhook at the
/// receiver. Each app gets two replicas sharing its credentials.
pub(super) async fn register(
    args: &Args,
    gateway: &str,
    receiver: SocketAddr,
    endpoints: &receiver::Endpoints,
) -> anyhow::Result<Vec<App>> {
    let mut apps = Vec::new();
    for index in 0..args.apps {
        let webhook = index < args.webhook_apps;
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let copy = PrivateKey::from_jwk_json(&key.to_jwk_json())?;
        let options = Registration {
            registration_token: None,
            webhook_url: webhook.then(|| format!("http://{receiver}/hook/{index}")),
        };
        let name = format!("soak app {index}");
        let first =
            AppClient::register_with(HttpClient::new()?, gateway, &name, key, &options).await?;
        let second = AppClient::from_credentials(
            HttpClient::new()?,
            gateway,
            first.client_id(),
            first.client_secret(),
            vec![copy],
        )?;
        let secret = first
            .webhook_secret()
            .map(WebhookSecret::parse)
            .transpose()?;
        let first = Arc::new(first);
        endpoints
            .write()
            .expect("endpoints")
            .push(secret.map(|secret| receiver::Endpoint {
                app: first.clone(),
                secret,
            }));
        if webhook && endpoints.read().expect("endpoints")[index].is_none() {
            bail!("the gateway showed no webhook secret at registration");
        }
        apps.push(App {
            webhook,
            replicas: [first, Arc::new(second)],
        });
    }
    Ok(apps)
}

/// Starts sign-ins at the steady rate for the duration, then waits for every one to end
/// (each ends by its mailbox's expiry). Fails early if the chaos failed to restart something.
pub(super) async fn drive(
    flows: &Arc<Flows>,
    args: &Args,
    guard: &mut ChaosGuard,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let total = (args.duration as f64 * args.rate).round() as usize;
    let chaos_failed = |guard: &ChaosGuard| guard.handle.as_ref().is_some_and(|h| h.is_finished());
    for index in 0..total {
        ticks.tick().await;
        if chaos_failed(guard) && flows.ledger.now() < args.duration as f64 - 1.0 {
            // Ended before its time: a process did not come back. `finish` tells why.
            guard.finish()?;
            bail!("the chaos ended early");
        }
        tasks.spawn(flows.clone().sign_in(index));
    }
    let drain = Duration::from_secs(args.ttl + 60);
    tokio::time::timeout(drain, async {
        while let Some(result) = tasks.join_next().await {
            result.context("a sign-in task panicked")?;
        }
        anyhow::Ok(())
    })
    .await
    .context("the sign-ins did not end within the drain")??;
    Ok(())
}
