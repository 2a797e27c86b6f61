//! OpenTelemetry traces: the spans the gateway makes (one per API request, store call and
//! webhook attempt), the W3C `traceparent` it accepts on requests and sends on webhook POSTs,
//! and the OTLP/HTTP export that the `otel.*` settings and the standard `OTEL_*` variables
//! switch on.
//!
//! Only spans of target [`SPAN_TARGET`] are exported (never the log's events), and each
//! carries attributes chosen in `spans`: a method, a route template, a status, a store
//! operation's name, a webhook attempt's number and result; never a path, an id, a secret, a
//! URL or an envelope. Without an exporter installed the spans are disabled at their call
//! sites (`tracing` decides so once per call site), so nothing is recorded, allocated or
//! propagated.
//!
//! ```no_run
//! # fn main() -> Result<(), sealgate::telemetry::TracesError> {
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracing_subscriber::util::SubscriberInitExt as _;
//!
//! let runtime = tokio::runtime::Runtime::new().expect("a runtime");
//! let config = sealgate::Config::default();
//! let traces = sealgate::telemetry::TraceSettings::from_env(&config.otel)
//!     .map(|settings| sealgate::telemetry::Traces::start(&settings, runtime.handle().clone()))
//!     .transpose()?;
//! tracing_subscriber::registry()
//!     .with(traces.as_ref().map(sealgate::telemetry::Traces::layer))
//!     .init();
//! // ... run the gateway on `runtime`, then flush what is left:
//! if let Some(traces) = traces {
//!     traces.shutdown()?;
//! }
//! # Ok(())
//! # }
//! ```

mod otlp_client;
mod pipeline;
pub(crate) mod spans;

pub use pipeline::{TraceSettings, Traces, TracesError};

/// The `tracing` target of every span the gateway exports: the trace layer sees this target
/// only, and a log layer should leave it out (`sealgate::trace=off`).
pub const SPAN_TARGET: &str = "sealgate::trace";
