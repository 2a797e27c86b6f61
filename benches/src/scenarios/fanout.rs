//! `long-poll-fanout`: open `--mailboxes` mailboxes, park `--connections` long-polls on the
//! first ones (each on its own connection), then deposit to each waited-on mailbox (at
//! `--rate` a second, or as fast as `--deposit-connections` go) and time each wake-up: from
//! the deposit's send time (its scheduled time, open-loop) to the waiter holding the envelope.
//! Reports the gateway's memory after each phase and, with `--redis`, Redis's connection count
//! while the waiters wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use http::StatusCode;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::deposit_poll::{Party, register_parties};
use super::{CpuUsage, Outcome, Settings, WORKERS_PER_CLIENT, run_workers};
use crate::api;
use crate::http::Client;
use crate::pacing::Pacer;
use crate::procinfo;
use crate::progress::Progress;
use crate::stats::{Failure, Recorder, round3};

/// How long each waiter's long-poll may wait: the API's most.
const WAIT_SECS: u64 = 60;
/// Connections opened at once while parking waiters (under the listen backlog).
const CONNECTS_AT_ONCE: usize = 256;
/// Connections that open the mailboxes.
const SETUP_CONNECTIONS: usize = 16;
/// How long all waiters may take to be parked.
const PARK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a woken waiter may take to receive its envelope after the last deposit.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Bytes in a MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// Times (nanoseconds after the run's start, 0 for never) of each waiter's deposit and wake-up.
struct Marks {
    base: Instant,
    deposited: Vec<AtomicU64>,
    woken: Vec<AtomicU64>,
}

impl Marks {
    fn mark(&self, slot: &AtomicU64, at: Instant) {
        let nanos = u64::try_from((at - self.base).as_nanos()).unwrap_or(u64::MAX);
        slot.store(nanos.max(1), Ordering::Release);
    }
}

/// Runs the scenario.
pub(crate) async fn run(settings: &Settings) -> anyhow::Result<Outcome> {
    let target = settings.target();
    let waiters = settings.connections;
    let mailboxes = settings.mailboxes.max(waiters);
    if settings.duration > Duration::from_secs(WAIT_SECS - 15) {
        bail!(
            "long-poll-fanout: --duration must be at most {} s",
            WAIT_SECS - 15
        );
    }
    let pid = settings.gateway_pid;
    let mut memory = Map::new();
    let mut redis_clients = Map::new();
    let mut redis_memory = Map::new();
    let note = |memory: &mut Map<String, Value>, phase: &str| {
        if let Some(rss) = pid.and_then(procinfo::rss_mib) {
            memory.insert(phase.into(), round3(rss).into());
        }
    };
    note(&mut memory, "idle");
    if let Some(redis) = settings.redis {
        let count = procinfo::redis_number(redis, "connected_clients").await;
        redis_clients.insert("idle".into(), count.into());
        let used = procinfo::redis_number(redis, "used_memory").await;
        redis_memory.insert("idle".into(), used.map(|b| round3(b / MIB)).into());
    }

    // Clients and mailboxes.
    let parties = Arc::new(register_parties(&target, mailboxes, settings.token_bytes).await?);
    let opening = Instant::now();
    let ids = open_all(settings, &parties, mailboxes).await?;
    let open_secs = opening.elapsed().as_secs_f64();
    note(&mut memory, "mailboxes_open");
    if let Some(redis) = settings.redis {
        let used = procinfo::redis_number(redis, "used_memory").await;
        redis_memory.insert(
            "mailboxes_open".into(),
            used.map(|b| round3(b / MIB)).into(),
        );
    }

    // Park the waiters.
    let base = Instant::now();
    let marks = Arc::new(Marks {
        base,
        deposited: (0..waiters).map(|_| AtomicU64::new(0)).collect(),
        woken: (0..waiters).map(|_| AtomicU64::new(0)).collect(),
    });
    let sent = Arc::new(AtomicUsize::new(0));
    let connects = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let ids = Arc::new(ids);
    let mut handles = Vec::with_capacity(waiters);
    for index in 0..waiters {
        let (target, parties, ids, marks) =
            (target.clone(), parties.clone(), ids.clone(), marks.clone());
        let (sent, connects, http2) = (sent.clone(), connects.clone(), settings.http2);
        handles.push(tokio::spawn(async move {
            let party = &parties[index / WORKERS_PER_CLIENT];
            let mut client = Client::new(target, http2);
            {
                let _permit = connects.acquire().await;
                client.connect().await?;
            }
            sent.fetch_add(1, Ordering::Relaxed);
            let result = api::poll(
                &mut client,
                &party.credentials,
                &ids[index],
                WAIT_SECS,
                StatusCode::OK,
            )
            .await;
            marks.mark(&marks.woken[index], Instant::now());
            result.map(drop)
        }));
    }
    let parked = park(settings, &sent, waiters).await;
    note(&mut memory, "waiters_parked");
    if let Some(redis) = settings.redis {
        let count = procinfo::redis_number(redis, "connected_clients").await;
        redis_clients.insert("waiters_parked".into(), count.into());
        let used = procinfo::redis_number(redis, "used_memory").await;
        redis_memory.insert(
            "waiters_parked".into(),
            used.map(|b| round3(b / MIB)).into(),
        );
    }

    // Deposit, and wait for the wake-ups.
    let pacer = Arc::new(Pacer::new(Duration::ZERO, settings.duration, settings.rate));
    let cpu_start = pid.and_then(procinfo::cpu_seconds);
    let progress = Progress::start(
        settings.live.clone(),
        "fanout",
        settings.duration,
        settings.quiet,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let live = settings.live.clone();
    let mut recorder = run_workers(settings.deposit_connections.max(1), |_| {
        let (pacer, next, marks, live) = (pacer.clone(), next.clone(), marks.clone(), live.clone());
        let (target, parties, ids) = (target.clone(), parties.clone(), ids.clone());
        let http2 = settings.http2;
        async move {
            let mut client = Client::new(target, http2);
            let mut recorder = Recorder::new();
            let _ = client.connect().await;
            while let Some(slot) = pacer.next().await {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= marks.deposited.len() {
                    break;
                }
                let party = &parties[index / WORKERS_PER_CLIENT];
                marks.mark(&marks.deposited[index], slot.intended);
                let envelope = party.template.bind(&ids[index]);
                match api::deposit(&mut client, &ids[index], envelope, StatusCode::CREATED).await {
                    Ok(()) => {
                        live.request();
                        recorder.request(Instant::now() - slot.intended);
                    }
                    Err(failure) => {
                        live.error();
                        recorder.error(failure);
                    }
                }
            }
            recorder
        }
    })
    .await;
    let deposits_done = Instant::now();
    let deposited = next.load(Ordering::Relaxed).min(waiters);
    let mut not_deposited = 0u64;
    for (index, handle) in handles.into_iter().enumerate() {
        if marks.deposited[index].load(Ordering::Acquire) == 0 {
            handle.abort();
            not_deposited += 1;
            continue;
        }
        let result = tokio::time::timeout_at(deposits_done + DRAIN_TIMEOUT, handle).await;
        let failure = match result {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(failure))) => Some(failure),
            Ok(Err(_)) => Some(Failure::Transport),
            Err(_) => Some(Failure::Timeout),
        };
        match failure {
            None => {
                let woken = marks.woken[index].load(Ordering::Acquire);
                let deposited_at = marks.deposited[index].load(Ordering::Acquire);
                recorder.extra(Duration::from_nanos(woken.saturating_sub(deposited_at)));
                recorder.untimed_request();
                settings.live.flow();
            }
            Some(failure) => {
                settings.live.error();
                recorder.error(failure);
            }
        }
    }
    progress.finish();
    let last_wake = marks
        .woken
        .iter()
        .map(|at| at.load(Ordering::Acquire))
        .max()
        .unwrap_or(0);
    let first_deposit = marks
        .deposited
        .iter()
        .map(|at| at.load(Ordering::Acquire))
        .filter(|at| *at > 0)
        .min()
        .unwrap_or(0);
    let window =
        Duration::from_nanos(last_wake.saturating_sub(first_deposit)).max(Duration::from_millis(1));
    note(&mut memory, "end");
    if let Some(hwm) = pid.and_then(procinfo::hwm_mib) {
        memory.insert("peak".into(), round3(hwm).into());
    }
    let per = |a: &str, b: &str, n: usize| match (memory.get(a), memory.get(b)) {
        (Some(Value::Number(a)), Some(Value::Number(b))) if n > 0 => {
            let kib = (a.as_f64().unwrap_or(0.0) - b.as_f64().unwrap_or(0.0)) * 1024.0 / n as f64;
            Value::from(round3(kib))
        }
        _ => Value::Null,
    };
    let mut extra = Map::new();
    extra.insert("waiters".into(), waiters.into());
    extra.insert("mailboxes".into(), mailboxes.into());
    extra.insert("deposited".into(), deposited.into());
    extra.insert("not_deposited".into(), not_deposited.into());
    extra.insert("waiters_parked_seen".into(), parked);
    extra.insert(
        "mailbox_open_per_second".into(),
        round3(mailboxes as f64 / open_secs).into(),
    );
    extra.insert(
        "kib_per_mailbox".into(),
        per("mailboxes_open", "idle", mailboxes),
    );
    extra.insert(
        "kib_per_waiter".into(),
        per("waiters_parked", "mailboxes_open", waiters),
    );
    extra.insert("gateway_rss_mib".into(), Value::Object(memory));
    if settings.redis.is_some() {
        extra.insert(
            "redis_connected_clients".into(),
            Value::Object(redis_clients),
        );
        extra.insert("redis_used_memory_mib".into(), Value::Object(redis_memory));
    }
    let cpu = CpuUsage {
        gateway: cpu_start
            .zip(pid.and_then(procinfo::cpu_seconds))
            .map(|(a, b)| b - a),
        ..CpuUsage::default()
    };
    // Wake-ups are this scenario's flows: their latency is the wake-up latency.
    recorder.flows = recorder.extra.clone();
    extra.insert(
        "wakeup_latency_ms".into(),
        crate::stats::percentiles_ms(&recorder.extra),
    );
    Ok(Outcome {
        recorder,
        window,
        open_loop: pacer.open_loop(),
        cpu,
        extra,
    })
}

/// Opens `count` mailboxes, mailbox `i` for party `i / WORKERS_PER_CLIENT`.
async fn open_all(
    settings: &Settings,
    parties: &Arc<Vec<Party>>,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let next = Arc::new(AtomicUsize::new(0));
    let target = settings.target();
    let mut handles = Vec::new();
    for _ in 0..SETUP_CONNECTIONS.min(count.max(1)) {
        let (next, parties, target) = (next.clone(), parties.clone(), target.clone());
        handles.push(tokio::spawn(async move {
            let mut client = Client::new(target, false);
            let mut opened = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return Ok::<_, Failure>(opened);
                }
                let party = &parties[index / WORKERS_PER_CLIENT];
                let mailbox =
                    api::open_mailbox(&mut client, &party.credentials, StatusCode::CREATED).await?;
                opened.push((index, mailbox.mailbox_id));
            }
        }));
    }
    let mut ids = vec![String::new(); count];
    for handle in handles {
        let opened = handle
            .await
            .context("a mailbox-opening task failed")?
            .map_err(|failure| anyhow::anyhow!("opening mailboxes: {}", failure.label()))?;
        for (index, id) in opened {
            ids[index] = id;
        }
    }
    Ok(ids)
}

/// Waits until the waiters are parked: the gateway's waiter gauge reaches `waiters` (with
/// `--metrics`), or else every request has been sent and a moment has passed. Returns the
/// waiters the gauge showed, when known.
async fn park(settings: &Settings, sent: &AtomicUsize, waiters: usize) -> Value {
    let deadline = Instant::now() + PARK_TIMEOUT;
    while sent.load(Ordering::Relaxed) < waiters && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(metrics) = &settings.metrics else {
        let settle = Duration::from_millis(500 + (waiters as u64) / 10);
        tokio::time::sleep(settle).await;
        return Value::Null;
    };
    let mut client = Client::new(metrics.clone(), false);
    let mut seen = 0;
    while Instant::now() < deadline {
        seen = procinfo::gateway_waiters(&mut client).await.unwrap_or(0);
        if seen >= waiters as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    json!(seen)
}
