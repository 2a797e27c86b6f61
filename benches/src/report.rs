//! The run's result: one JSON object (`--json`), or a short human summary.

use serde_json::{Map, Value, json};

use crate::scenarios::{Outcome, Settings};
use crate::stats::{percentiles_ms, round3};

/// The machine: logical CPUs and the CPU model.
fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_default();
    json!({ "cpus": cpus, "cpu_model": model })
}

/// The report as one JSON object.
pub(crate) fn to_json(
    scenario: &str,
    target: &str,
    settings: &Settings,
    outcome: &Outcome,
) -> Value {
    let recorder = &outcome.recorder;
    let window = outcome.window.as_secs_f64().max(1e-9);
    let flows = recorder.flows.len();
    let requests = recorder.completed_requests;
    let per_flow_us = |seconds: f64| {
        if flows == 0 {
            Value::Null
        } else {
            round3(seconds * 1e6 / flows as f64).into()
        }
    };
    let cpu = &outcome.cpu;
    let mut cpu_json = Map::new();
    if let Some(gateway) = cpu.gateway {
        cpu_json.insert("gateway_s".into(), round3(gateway).into());
        cpu_json.insert("gateway_us_per_flow".into(), per_flow_us(gateway));
    }
    if scenario == "baseline" {
        cpu_json.insert("server_s".into(), round3(cpu.baseline_server).into());
        cpu_json.insert(
            "server_us_per_flow".into(),
            per_flow_us(cpu.baseline_server),
        );
    }
    if cpu.load_generator > 0.0 {
        cpu_json.insert("load_generator_s".into(), round3(cpu.load_generator).into());
        cpu_json.insert(
            "load_generator_us_per_flow".into(),
            per_flow_us(cpu.load_generator),
        );
    }
    if let Some(redis) = cpu.redis_cpu {
        cpu_json.insert("redis_s".into(), round3(redis).into());
        cpu_json.insert("redis_us_per_flow".into(), per_flow_us(redis));
    }
    let mut report = json!({
        "scenario": scenario,
        "target": target,
        "mode": if outcome.open_loop { "open-loop" } else { "closed-loop" },
        "rate": settings.rate,
        "connections": settings.connections,
        "http2": settings.http2,
        "duration_s": round3(window),
        "requests": requests,
        "flows": flows,
        "requests_per_second": round3(requests as f64 / window),
        "flows_per_second": round3(flows as f64 / window),
        "latency_ms": percentiles_ms(&recorder.requests),
        "flow_latency_ms": percentiles_ms(&recorder.flows),
        "errors": recorder.errors,
        "errors_total": recorder.error_total(),
        "cpu": cpu_json,
        "machine": machine(),
    });
    let object = report.as_object_mut().expect("an object");
    if outcome.open_loop && !recorder.lag.is_empty() {
        object.insert("schedule_lag_ms".into(), percentiles_ms(&recorder.lag));
    }
    if let Some(rss) = cpu.gateway_rss_mib {
        object.insert("gateway_rss_mib".into(), json!({ "end": round3(rss) }));
    }
    if let Some(commands) = cpu.redis_commands {
        object.insert("redis_commands".into(), commands.into());
        let per_flow = if flows == 0 {
            Value::Null
        } else {
            round3(commands / flows as f64).into()
        };
        object.insert("redis_commands_per_flow".into(), per_flow);
    }
    if let Some(pid) = settings.gateway_pid {
        object.insert("gateway_pid".into(), pid.into());
    }
    for (key, value) in &outcome.extra {
        object.insert(key.clone(), value.clone());
    }
    report
}

/// A few lines for people.
pub(crate) fn human(report: &Value) -> String {
    let pct = |value: &Value| {
        if value.get("p50").is_none() {
            return "no samples".to_owned();
        }
        format!(
            "p50 {} p90 {} p99 {} p99.9 {} max {} ms",
            value["p50"], value["p90"], value["p99"], value["p99.9"], value["max"]
        )
    };
    let mut out = format!(
        "{} against {} ({}, {} connections{}), {} s measured\n",
        report["scenario"].as_str().unwrap_or_default(),
        report["target"].as_str().unwrap_or_default(),
        report["mode"].as_str().unwrap_or_default(),
        report["connections"],
        if report["http2"] == true {
            ", HTTP/2"
        } else {
            ""
        },
        report["duration_s"],
    );
    out += &format!(
        "  {} flows/s, {} requests/s ({} flows, {} requests)\n",
        report["flows_per_second"],
        report["requests_per_second"],
        report["flows"],
        report["requests"]
    );
    out += &format!("  request latency: {}\n", pct(&report["latency_ms"]));
    out += &format!("  flow latency:    {}\n", pct(&report["flow_latency_ms"]));
    if let Some(lag) = report.get("schedule_lag_ms") {
        out += &format!("  schedule lag:    {}\n", pct(lag));
    }
    if let Some(wake) = report.get("wakeup_latency_ms") {
        out += &format!("  wake-up latency: {}\n", pct(wake));
    }
    for key in ["gateway_rss_mib", "redis_connected_clients", "cpu"] {
        if let Some(value) = report
            .get(key)
            .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        {
            out += &format!("  {key}: {value}\n");
        }
    }
    out += &format!(
        "  errors: {} {}\n",
        report["errors_total"], report["errors"]
    );
    out
}
