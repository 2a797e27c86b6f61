//! The log of `sealgate serve`: its filter (`--log`, `SEALGATE_LOG`, then `RUST_LOG`), its
//! format (text for a person at a terminal, JSON lines for a log shipper) and colour only on a
//! terminal; beside it, when traces are exported, the layer that turns the gateway's spans into
//! OpenTelemetry spans.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::ValueEnum;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use sealgate::telemetry::{SPAN_TARGET, Traces};

/// The filter when neither `--log`, `SEALGATE_LOG` nor `RUST_LOG` names one.
const DEFAULT_FILTER: &str = "info";

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` and the spans.
    Json,
}

/// Where the log goes and what it looks like, as decided from the flags, the environment and
/// whether stderr is a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogSettings {
    /// The `EnvFilter` directives.
    pub filter: String,
    /// The line format.
    pub format: LogFormat,
    /// Whether ANSI colour codes are written.
    pub ansi: bool,
}

impl LogSettings {
    /// The settings for the given flag values: the filter from `filter` (the flag or
    /// `SEALGATE_LOG`), else `rust_log`, else `info`; the format from `format`, else text on a
    /// terminal and JSON otherwise; colour only in text on a terminal.
    pub(crate) fn decide(
        filter: Option<String>,
        rust_log: Option<String>,
        format: Option<LogFormat>,
        stderr_is_terminal: bool,
    ) -> Self {
        let filter = filter
            .or(rust_log.filter(|value| !value.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_FILTER.to_owned());
        let format = format.unwrap_or(if stderr_is_terminal {
            LogFormat::Text
        } else {
            LogFormat::Json
        });
        let ansi = stderr_is_terminal && format == LogFormat::Text;
        Self {
            filter,
            format,
            ansi,
        }
    }
}

/// Installs the process's subscriber: the log, writing to stderr, and the trace layer of
/// `traces` when traces are exported. The log never shows the exported spans, so without
/// `traces` no layer wants them and they cost nothing.
pub(crate) fn init(
    filter: Option<String>,
    format: Option<LogFormat>,
    traces: Option<&Traces>,
) -> anyhow::Result<()> {
    let settings = LogSettings::decide(
        filter,
        std::env::var("RUST_LOG").ok(),
        format,
        std::io::stderr().is_terminal(),
    );
    let env_filter = tracing_subscriber::EnvFilter::try_new(&settings.filter)
        .with_context(|| format!("invalid log filter `{}`", settings.filter))?
        .add_directive(
            format!("{SPAN_TARGET}=off")
                .parse()
                .expect("a valid directive"),
        );
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(settings.ansi);
    let log = match settings.format {
        LogFormat::Text => log.boxed(),
        LogFormat::Json => log.json().boxed(),
    };
    tracing_subscriber::registry()
        .with(log.with_filter(env_filter))
        .with(traces.map(Traces::layer))
        .try_init()
        .context("installing the log")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_comes_from_the_flag_then_rust_log_then_info() {
        let filter = |flag: Option<&str>, rust_log: Option<&str>| {
            LogSettings::decide(
                flag.map(str::to_owned),
                rust_log.map(str::to_owned),
                None,
                true,
            )
            .filter
        };
        assert_eq!(
            filter(Some("sealgate=debug"), Some("warn")),
            "sealgate=debug"
        );
        assert_eq!(filter(None, Some("warn")), "warn");
        assert_eq!(filter(None, Some(" ")), "info");
        assert_eq!(filter(None, None), "info");
    }

    #[test]
    fn text_and_colour_on_a_terminal_json_and_no_colour_elsewhere() {
        let decide = |format, terminal| {
            let settings = LogSettings::decide(None, None, format, terminal);
            (settings.format, settings.ansi)
        };
        assert_eq!(decide(None, true), (LogFormat::Text, true));
        assert_eq!(decide(None, false), (LogFormat::Json, false));
        assert_eq!(
            decide(Some(LogFormat::Text), false),
            (LogFormat::Text, false)
        );
        assert_eq!(
            decide(Some(LogFormat::Json), true),
            (LogFormat::Json, false)
        );
    }
}
