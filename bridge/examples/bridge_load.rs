//! Sign-ins per second through the bridge, and the bridge's added latency, against a baseline
//! measured in the same run: the same sign-ins made by an app on the SDK directly.
//!
//! ```text
//! cargo run --release -p sealgate-bridge --example bridge_load -- [SIGNINS] [CONCURRENCY]
//! ```
//!
//! Everything runs in this process on loopback: a gateway on the memory store (rate limits
//! off), a test issuer, a bridge, and CONCURRENCY workers (default 16) making SIGNINS sign-ins
//! (default 2,000) each way:
//! - **bridge**: `/authorize` → the page → the phone seals and deposits → the page's status
//!   long-poll returns the redirect → `/token` → the ID token verified with `/jwks`;
//! - **direct**: `AppClient::open_mailbox` → the phone deposits → `wait_for_token` →
//!   `verify_id_token` against the issuer (what a website on the SDK does).
//!
//! It prints sign-ins per second for both, their ratio, and for the bridge the time from the
//! phone's deposit returning to the status long-poll answering with the redirect (p50, p99).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate_client::sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_client::{AppClient, Expected, IssuerKeys, verify_id_token};
use support::{ISSUER, Stack, authorize_query, param};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let signins: usize = args.next().map_or(2_000, |a| a.parse().expect("SIGNINS"));
    let concurrency: usize = args.next().map_or(16, |a| a.parse().expect("CONCURRENCY"));
    let stack = Arc::new(Stack::start_unlimited(120).await);
    let bridge_keys = IssuerKeys::from_json(&stack.get("/jwks", None).await.text()).unwrap();
    let issuer_keys = IssuerKeys::from_json(&stack.issuer.jwks().to_string()).unwrap();
    let app = Arc::new(
        AppClient::register(
            &stack.gateway.base(),
            "direct",
            PrivateKey::generate(Algorithm::default()),
        )
        .await
        .unwrap(),
    );

    // Warm both paths (connections, caches) before timing.
    run(&stack, &app, &bridge_keys, &issuer_keys, 50, concurrency).await;
    let (bridge_rate, direct_rate, mut added) = run(
        &stack,
        &app,
        &bridge_keys,
        &issuer_keys,
        signins,
        concurrency,
    )
    .await;
    added.sort();
    let at = |q: f64| added[((added.len() as f64 * q) as usize).min(added.len() - 1)];
    println!("sign-ins: {signins} each way, {concurrency} at a time");
    println!("direct (SDK app):  {direct_rate:8.0} sign-ins/s");
    println!("through the bridge:{bridge_rate:8.0} sign-ins/s");
    println!("ratio bridge/direct: {:.2}", bridge_rate / direct_rate);
    println!(
        "deposit → redirect on the page: p50 {:.2} ms, p99 {:.2} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
}

/// Makes `count` sign-ins each way; returns both rates and the bridge's added latencies.
async fn run(
    stack: &Arc<Stack>,
    app: &Arc<AppClient>,
    bridge_keys: &IssuerKeys,
    issuer_keys: &IssuerKeys,
    count: usize,
    concurrency: usize,
) -> (f64, f64, Vec<Duration>) {
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (stack, keys) = (stack.clone(), bridge_keys.clone());
        let share = count / concurrency + usize::from(worker < count % concurrency);
        workers.push(tokio::spawn(async move {
            let mut added = Vec::with_capacity(share);
            for i in 0..share {
                added.push(through_bridge(&stack, &keys, &format!("{worker}-{i}")).await);
            }
            added
        }));
    }
    let mut added = Vec::new();
    for worker in workers {
        added.extend(worker.await.unwrap());
    }
    let bridge_rate = count as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (stack, app, keys) = (stack.clone(), app.clone(), issuer_keys.clone());
        let share = count / concurrency + usize::from(worker < count % concurrency);
        workers.push(tokio::spawn(async move {
            for _ in 0..share {
                direct(&stack, &app, &keys).await;
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let direct_rate = count as f64 / started.elapsed().as_secs_f64();
    (bridge_rate, direct_rate, added)
}

/// One sign-in through the bridge; the time from deposit to the page learning the redirect.
async fn through_bridge(stack: &Stack, keys: &IssuerKeys, state: &str) -> Duration {
    let browser = stack.open_signin(&authorize_query(state, "n", &[])).await;
    let status = tokio::join!(stack.status(&browser, 10), async {
        stack.phone_sends(&stack.issuer, &browser.uri, None).await;
        Instant::now()
    });
    let (status, deposited) = status;
    let added = deposited.elapsed();
    let redirect = status["redirect"].as_str().unwrap();
    let code = param(redirect, "code").expect("approved");
    let token = stack.redeem(&code, &[]).await.json();
    verify_id_token(
        token["id_token"].as_str().unwrap(),
        keys,
        &Expected {
            issuer: Some(stack.bridge.clone()),
            audience: "site".into(),
            nonce: "n".into(),
            leeway: Duration::from_secs(5),
        },
    )
    .unwrap();
    added
}

/// One sign-in by an SDK app directly.
async fn direct(stack: &Stack, app: &AppClient, keys: &IssuerKeys) {
    let pending = app.open_mailbox(None).await.unwrap();
    let token = stack
        .issuer
        .sign_id_token("alice", app.client_id(), pending.nonce())
        .unwrap();
    stack
        .phone
        .send(&pending.uri(), token.as_bytes())
        .await
        .unwrap();
    let nonce = pending.nonce().to_owned();
    let received = app.wait_for_token(pending).await.unwrap();
    verify_id_token(
        received.as_str(),
        keys,
        &Expected {
            issuer: Some(ISSUER.into()),
            audience: app.client_id().into(),
            nonce,
            leeway: Duration::from_secs(5),
        },
    )
    .unwrap();
}
