//! `deposit-poll`: open a mailbox, deposit an envelope sealed beforehand, poll it back at
//! once. Three requests a flow, no cryptography in the measured flows: the gateway's own cost.
//! The `baseline` scenario drives its bare server with this same code.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use serde_json::Map;

use super::{Flow, Outcome, Settings, WORKERS_PER_CLIENT, run_workers, sample_cpu};
use crate::api::{self, Credentials};
use crate::envelope::{Template, id_token};
use crate::http::Client;
use crate::pacing::Pacer;
use crate::progress::Progress;
use crate::stats::{Failure, Recorder};
use crate::target::Target;
use sealgate_crypto::{Algorithm, PrivateKey};

/// A client and the envelope template its workers deposit.
pub(crate) struct Party {
    /// The client's credentials.
    pub(crate) credentials: Credentials,
    /// An envelope sealed to the client's key, re-bound per mailbox.
    pub(crate) template: Template,
}

/// The statuses a flow expects, and whether the poll must hand back the deposit.
#[derive(Clone, Copy)]
pub(crate) struct Expect {
    /// Of the open.
    pub(crate) open: StatusCode,
    /// Of the deposit.
    pub(crate) deposit: StatusCode,
    /// Of the poll.
    pub(crate) poll: StatusCode,
    /// Whether the poll's body must be the envelope deposited.
    pub(crate) echo: bool,
}

/// What the gateway answers.
const GATEWAY: Expect = Expect {
    open: StatusCode::CREATED,
    deposit: StatusCode::CREATED,
    poll: StatusCode::OK,
    echo: true,
};

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Registers one client per [`WORKERS_PER_CLIENT`] workers and seals each one's template.
pub(crate) async fn register_parties(
    target: &Arc<Target>,
    workers: usize,
    token_bytes: usize,
) -> anyhow::Result<Vec<Party>> {
    let mut client = Client::new(target.clone(), false);
    let mut parties = Vec::new();
    for index in 0..workers.div_ceil(WORKERS_PER_CLIENT).max(1) {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let credentials =
            api::register(&mut client, key.public_key(), &format!("load {index}")).await?;
        let token = id_token("load-nonce", token_bytes);
        let template = Template::seal(
            key.public_key(),
            &credentials.client_id,
            now_secs() + 3600,
            &token,
        );
        parties.push(Party {
            credentials,
            template,
        });
    }
    Ok(parties)
}

/// The scenario against the gateway.
pub(crate) async fn run(settings: &Settings) -> anyhow::Result<Outcome> {
    let target = settings.target();
    let parties = register_parties(&target, settings.connections, settings.token_bytes).await?;
    Ok(drive(settings, target, Arc::new(parties), GATEWAY, "deposit-poll").await)
}

/// Runs the flows against `target` with `settings.connections` workers.
pub(crate) async fn drive(
    settings: &Settings,
    target: Arc<Target>,
    parties: Arc<Vec<Party>>,
    expect: Expect,
    label: &'static str,
) -> Outcome {
    let pacer = Arc::new(Pacer::new(
        settings.warmup,
        settings.duration,
        settings.rate,
    ));
    let cpu = sample_cpu(&pacer, settings);
    let progress = Progress::start(
        settings.live.clone(),
        label,
        settings.warmup + settings.duration,
        settings.quiet,
    );
    let (http2, live) = (settings.http2, settings.live.clone());
    let recorder = run_workers(settings.connections, |index| {
        let (pacer, live, target) = (pacer.clone(), live.clone(), target.clone());
        let parties = parties.clone();
        async move {
            let party = &parties[(index / WORKERS_PER_CLIENT) % parties.len()];
            let mut client = Client::new(target, http2);
            let mut recorder = Recorder::new();
            if let Err(failure) = client.connect().await {
                recorder.error(failure);
            }
            while let Some(slot) = pacer.next().await {
                let mut flow = Flow::new(&mut recorder, &live, slot, pacer.open_loop());
                let result = one_flow(&mut flow, &mut client, party, expect).await;
                flow.finish(result).await;
            }
            recorder
        }
    })
    .await;
    progress.finish();
    Outcome {
        recorder,
        window: pacer.window(),
        open_loop: pacer.open_loop(),
        cpu: cpu.await.unwrap_or_default(),
        extra: Map::new(),
    }
}

async fn one_flow(
    flow: &mut Flow<'_>,
    client: &mut Client,
    party: &Party,
    expect: Expect,
) -> Result<(), Failure> {
    let credentials = &party.credentials;
    let opened = flow
        .step(api::open_mailbox(client, credentials, expect.open))
        .await?;
    let envelope: Bytes = party.template.bind(&opened.mailbox_id);
    flow.step(api::deposit(
        client,
        &opened.mailbox_id,
        envelope.clone(),
        expect.deposit,
    ))
    .await?;
    let body = flow
        .step(api::poll(
            client,
            credentials,
            &opened.mailbox_id,
            0,
            expect.poll,
        ))
        .await?;
    if expect.echo && body != envelope {
        return Err(Failure::Protocol);
    }
    Ok(())
}
