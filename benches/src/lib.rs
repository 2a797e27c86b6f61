//! sealgate-bench: the library behind `sealgate-load`, the load generator that drives
//! sealgate's real HTTP API on this machine (the criterion benchmarks live in `benches/`).
//!
//! One module per concern: [`cli`] (flags and the run), `target` (loopback-only targets),
//! `http` (one client connection per worker), `api` (the gateway's routes), `envelope`
//! (tokens and pre-sealed envelopes), `pacing` (closed and open loop), `stats` (HdrHistogram
//! latencies and errors), `progress` (the live line), `procinfo` (memory, CPU, Redis clients),
//! `report` (JSON and text), and `scenarios`. [`soak`] is the chaos soak `sealgate-soak`.

pub mod cli;
pub mod soak;

mod api;
mod envelope;
mod http;
mod pacing;
mod procinfo;
mod progress;
mod report;
mod scenarios;
mod stats;
mod target;
