//! sealgate: the zero-knowledge relay between a phone that seals an ID token and the app that
//! opens it.
//!
//! ```text
//!  phone ──PUT envelope──▶ ┌──────────┐ ◀──GET ?wait=N── app (client_secret_basic)
//!                          │ gateway  │
//!  app ──POST mailbox────▶ │  router  │──▶ Store (memory | Redis) ──▶ WakeHub ──▶ waiters
//!                          └──────────┘
//! ```
//!
//! The gateway checks each envelope's header against the mailbox, stores the opaque bytes for
//! at most the mailbox TTL, and hands them to the owning client once. It never holds a
//! private key and never sees a token.

pub mod clock;
pub mod config;
pub mod store;
pub mod telemetry;

mod api;
mod app;
mod client_addr;
mod connections;
mod http;
mod limits;
mod metrics;
mod push;
mod server;
mod server_drive;
mod tls;
mod webhook;

pub use config::Config;
pub use server::{Gateway, termination_signal};
