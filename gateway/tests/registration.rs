//! Registration that is safe by default, over real HTTP: the token's length and emptiness, a
//! non-loopback listener without a token, the per-IP registration rate, the cap on
//! registered clients, and the global cap on waiting long-polls.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header;
use sealgate::config::Secret;
use sealgate::{Config, Gateway};
use sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_testkit::{
    Reply, TestGateway, assert_problem, assert_registration_error, jwks_of, test_config,
};
use serde_json::{Value, json};

/// A token of the least accepted length.
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn registration() -> Value {
    json!({ "name": "app", "jwks": jwks_of(&PrivateKey::generate(Algorithm::Hpke4)) })
}

fn config_with(set: impl FnOnce(&mut Config)) -> Config {
    let mut config = test_config();
    set(&mut config);
    config
}

/// Starts a gateway that must refuse to start, and returns its error, all causes included.
async fn refused_start(config: Config) -> String {
    match Gateway::start(config).await {
        Ok(gateway) => {
            gateway.shutdown().await;
            panic!("the gateway started");
        }
        Err(error) => format!("{error:#}"),
    }
}

#[track_caller]
fn retry_after(reply: &Reply) -> u64 {
    reply
        .header(header::RETRY_AFTER)
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds")
}

/// `Authorization: Bearer ` with nothing (or only spaces) after it never registers a client,
/// nor does a prefix of the token; the token itself does.
#[tokio::test]
async fn an_empty_bearer_token_is_refused() {
    let gw = TestGateway::start_with(config_with(|c| {
        c.registration_token = Some(Secret::new(TOKEN.into()));
    }))
    .await;
    for auth in [
        "Bearer ",
        "Bearer    ",
        "Bearer",
        "bearer  \t",
        "Bearer 0123456789abcdef",
    ] {
        let reply = gw.register_raw(&registration(), Some(auth)).await;
        assert_registration_error(&reply, 401, "invalid-registration-token");
    }
    let reply = gw
        .register_raw(&registration(), Some(&format!("Bearer {TOKEN}")))
        .await;
    reply.assert_status(201);
}

/// A token under 32 characters, or an empty one, stops the gateway at start with a clear
/// error.
#[tokio::test]
async fn a_short_registration_token_is_refused_at_start() {
    for token in ["", "   ", "let-me-in", &TOKEN[1..]] {
        let error = refused_start(config_with(|c| {
            c.registration_token = Some(Secret::new(token.into()));
        }))
        .await;
        assert!(
            error.contains("registration_token must be at least 32 characters"),
            "{token:?}: {error}"
        );
    }
}

/// On a non-loopback address, a gateway without a registration token refuses to start unless
/// open registration is asked for; with a token, or with the flag, it starts.
#[tokio::test]
async fn a_public_listener_needs_a_token_or_open_registration() {
    let public = |c: &mut Config| c.listen = SocketAddr::from(([0, 0, 0, 0], 0));
    let error = refused_start(config_with(public)).await;
    assert!(
        error.contains("without a registration token") && error.contains("--open-registration"),
        "{error}"
    );

    let open = Gateway::start(config_with(|c| {
        public(c);
        c.open_registration = true;
    }))
    .await
    .expect("open registration was asked for");
    open.shutdown().await;

    let closed = Gateway::start(config_with(|c| {
        public(c);
        c.registration_token = Some(Secret::new(TOKEN.into()));
    }))
    .await
    .expect("a token closes registration");
    closed.shutdown().await;

    // Loopback stays open without a token, for development.
    TestGateway::start().await.register().await;
}

/// Registrations from one address past the per-IP rate: 429 `rate-limited` with Retry-After,
/// counted with the `registration_rate` label.
#[tokio::test]
async fn registrations_per_ip_are_rate_limited() {
    let gw = TestGateway::start_with(config_with(|c| {
        c.limits.registrations_per_ip_per_min = 2;
        c.limits.registration_burst_per_ip = 2;
    }))
    .await;
    gw.register().await;
    gw.register().await;
    let refused = gw.register_raw(&registration(), None).await;
    assert_registration_error(&refused, 429, "rate-limited");
    let wait = retry_after(&refused);
    assert!((1..=30).contains(&wait), "Retry-After {wait}");
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("sealgate_limited_total{limit=\"registration_rate\"} 1"),
        "{metrics}"
    );
}

/// Past `max_clients`, registration answers 403 `too-many-clients`, until a client is
/// deleted.
#[tokio::test]
async fn registered_clients_are_capped() {
    let gw = TestGateway::start_with(config_with(|c| c.limits.max_clients = 2)).await;
    let first = gw.register().await;
    gw.register().await;
    let refused = gw.register_raw(&registration(), None).await;
    assert_registration_error(&refused, 403, "too-many-clients");
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("sealgate_limited_total{limit=\"clients\"} 1"),
        "{metrics}"
    );
    let path = format!("/v1/clients/{}", first.id);
    gw.delete(&first.basic(), &path).await.assert_status(204);
    gw.register().await;
}

/// Waiting long-polls of all clients together are capped per instance: 503 `server-busy`
/// with Retry-After; an immediate poll still answers; the slot frees when the waiter ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_long_polls_are_capped_overall() {
    let gw = Arc::new(TestGateway::start_with(config_with(|c| c.limits.max_waiters = 1)).await);
    let (first, second) = (gw.register().await, gw.register().await);
    let (waiting_box, other_box) = (gw.open(&first, None).await, gw.open(&second, None).await);
    let waiting = {
        let (gw, auth, id) = (gw.clone(), first.basic(), waiting_box.id.clone());
        tokio::spawn(async move { gw.poll(&auth, &id, 30).await })
    };
    gw.wait_for_waiters(1).await;

    let busy = gw.poll(&second.basic(), &other_box.id, 5).await;
    let problem = busy.assert_problem(503, "server-busy", Some("temporarily_unavailable"));
    assert!(retry_after(&busy) >= 1, "{problem}");
    gw.poll(&second.basic(), &other_box.id, 0)
        .await
        .assert_status(202);
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("sealgate_limited_total{limit=\"waiters_global\"} 1"),
        "{metrics}"
    );

    let path = format!("/v1/mailboxes/{}", waiting_box.id);
    gw.delete(&first.basic(), &path).await.assert_status(204);
    assert_problem(&waiting.await.unwrap(), 404, "not-found");
    gw.poll(&second.basic(), &other_box.id, 1)
        .await
        .assert_status(202);
}
