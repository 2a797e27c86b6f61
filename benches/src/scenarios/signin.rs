//! `signin`: the whole flow, cryptography included. The app opens a mailbox and long-polls it;
//! meanwhile the phone parses the sign-in request, fetches the app's JWKS, checks the vouched
//! key, seals an ID token bound to the mailbox and deposits it; the woken app checks the
//! binding, opens the envelope and compares the token. Four requests a flow; each worker has
//! an app connection and a phone connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::Map;
use tokio::time::Instant;

use super::deposit_poll::now_secs;
use super::{Flow, Outcome, Settings, WORKERS_PER_CLIENT, run_workers, sample_cpu};
use crate::api::{self, Credentials};
use crate::envelope::id_token;
use crate::http::Client;
use crate::pacing::Pacer;
use crate::progress::Progress;
use crate::stats::{Failure, Recorder};
use sealgate_crypto::{
    Algorithm, Binding, Envelope, Jwks, PrivateKey, SealOptions, SignInRequest, seal,
};

/// How long the app's long-poll waits, seconds.
const POLL_WAIT_SECS: u64 = 10;

/// An app: its credentials and private key.
struct App {
    credentials: Credentials,
    key: PrivateKey,
}

/// Runs the scenario.
pub(crate) async fn run(settings: &Settings) -> anyhow::Result<Outcome> {
    let target = settings.target();
    let mut setup = Client::new(target.clone(), false);
    let mut apps = Vec::new();
    for index in 0..settings.connections.div_ceil(WORKERS_PER_CLIENT).max(1) {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let credentials =
            api::register(&mut setup, key.public_key(), &format!("signin {index}")).await?;
        apps.push(App { credentials, key });
    }
    let apps = Arc::new(apps);
    let pacer = Arc::new(Pacer::new(
        settings.warmup,
        settings.duration,
        settings.rate,
    ));
    let cpu = sample_cpu(&pacer, settings);
    let progress = Progress::start(
        settings.live.clone(),
        "signin",
        settings.warmup + settings.duration,
        settings.quiet,
    );
    let (http2, token_bytes, live) = (settings.http2, settings.token_bytes, settings.live.clone());
    let recorder = run_workers(settings.connections, |index| {
        let (pacer, live, target, apps) =
            (pacer.clone(), live.clone(), target.clone(), apps.clone());
        async move {
            let app = &apps[(index / WORKERS_PER_CLIENT) % apps.len()];
            let mut app_client = Client::new(target.clone(), http2);
            let mut phone_client = Client::new(target, http2);
            let mut recorder = Recorder::new();
            for client in [&mut app_client, &mut phone_client] {
                if let Err(failure) = client.connect().await {
                    recorder.error(failure);
                }
            }
            while let Some(slot) = pacer.next().await {
                let mut flow = Flow::new(&mut recorder, &live, slot, pacer.open_loop());
                let result = one_flow(
                    &mut flow,
                    &mut app_client,
                    &mut phone_client,
                    app,
                    token_bytes,
                )
                .await;
                flow.finish(result).await;
            }
            recorder
        }
    })
    .await;
    progress.finish();
    Ok(Outcome {
        recorder,
        window: pacer.window(),
        open_loop: pacer.open_loop(),
        cpu: cpu.await.unwrap_or_default(),
        extra: Map::new(),
    })
}

async fn one_flow(
    flow: &mut Flow<'_>,
    app_client: &mut Client,
    phone_client: &mut Client,
    app: &App,
    token_bytes: usize,
) -> Result<(), Failure> {
    let credentials = &app.credentials;
    let opened = flow
        .step(api::open_mailbox(
            app_client,
            credentials,
            StatusCode::CREATED,
        ))
        .await?;
    let uri = opened.signin_request.ok_or(Failure::Protocol)?;
    let mailbox_id = opened.mailbox_id;
    let app_side = api::poll(
        app_client,
        credentials,
        &mailbox_id,
        POLL_WAIT_SECS,
        StatusCode::OK,
    );
    let (polled, phone) = tokio::join!(app_side, phone(phone_client, &uri, token_bytes));
    let (token, jwks_latency, deposit_latency) = phone?;
    flow.request_done(Some(jwks_latency));
    flow.request_done(Some(deposit_latency));
    let body = polled?;
    // The long-poll's time is the wait for the phone: part of the flow, not a latency.
    flow.request_done(None);
    let envelope = Envelope::parse_bytes(&body).map_err(|_| Failure::Crypto)?;
    envelope
        .header()
        .check_binding(&credentials.client_id, &mailbox_id, now_secs())
        .map_err(|_| Failure::Crypto)?;
    let opened = envelope.open(&app.key).map_err(|_| Failure::Crypto)?;
    if opened.plaintext.as_slice() != token.as_slice() {
        return Err(Failure::Crypto);
    }
    Ok(())
}

/// The phone: parse, fetch the JWKS, check the key, seal, deposit. Returns the token sent and
/// the latencies of its two requests.
async fn phone(
    client: &mut Client,
    uri: &str,
    token_bytes: usize,
) -> Result<(Vec<u8>, Duration, Duration), Failure> {
    let request = SignInRequest::parse(uri, now_secs()).map_err(|_| Failure::Protocol)?;
    let started = Instant::now();
    let jwks = api::jwks(client, request.client_id()).await?;
    let jwks_latency = started.elapsed();
    let jwks: serde_json::Value = serde_json::from_slice(&jwks).map_err(|_| Failure::Protocol)?;
    let jwks = Jwks::from_value(&jwks).map_err(|_| Failure::Protocol)?;
    let key = jwks.find(request.key_thumbprint()).ok_or(Failure::Crypto)?;
    let token = id_token(request.nonce(), token_bytes);
    let binding = Binding::to_mailbox(
        request.client_id(),
        request.mailbox_id(),
        request.expires_at(),
    );
    let envelope =
        seal(key, &token, &SealOptions::for_token(binding)).map_err(|_| Failure::Crypto)?;
    let started = Instant::now();
    api::deposit(
        client,
        request.mailbox_id(),
        Bytes::from(envelope.into_string()),
        StatusCode::CREATED,
    )
    .await?;
    Ok((token, jwks_latency, started.elapsed()))
}
