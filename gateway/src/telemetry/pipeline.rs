//! Whether traces are exported and where to (the `otel.*` settings over the standard `OTEL_*`
//! variables), and the pipeline that exports them: the SDK's tracer provider with a batch
//! processor and the OTLP/HTTP protobuf exporter, and the `tracing` layer that feeds it.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use super::SPAN_TARGET;
use super::otlp_client::OtlpClient;
use crate::config::OtelConfig;

/// The service name when neither `otel.service_name` nor `OTEL_SERVICE_NAME` names one.
const DEFAULT_SERVICE_NAME: &str = "sealgate";

/// The standard variables that name an OTLP endpoint, and so switch export on.
const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Why the trace pipeline could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    /// The OTLP exporter refused its configuration (an endpoint that is not a URL, say).
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// The exporter's HTTP client could not be built (no TLS configuration).
    #[error("OTLP HTTP client: {0:#}")]
    Client(anyhow::Error),
    /// Flushing the spans still queued at shutdown failed or timed out.
    #[error("flushing traces: {0}")]
    Flush(#[from] opentelemetry_sdk::error::OTelSdkError),
}

/// Where and as what the spans are exported, once export is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// The traces URL from `otel.endpoint`; `None` leaves it to the standard variables
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` +
    /// `/v1/traces`, else `http://localhost:4318/v1/traces`), which the exporter reads.
    pub endpoint: Option<String>,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

impl TraceSettings {
    /// The settings when traces are to be exported, reading variables with `var`: `None`
    /// when `OTEL_SDK_DISABLED` is `true` or `OTEL_TRACES_EXPORTER` is `none`, or when neither
    /// `config` nor a standard endpoint variable asks for export.
    pub fn resolve(config: &OtelConfig, var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let is = |name: &str, wanted: &str| {
            var(name).is_some_and(|value| value.trim().eq_ignore_ascii_case(wanted))
        };
        if is("OTEL_SDK_DISABLED", "true") || is("OTEL_TRACES_EXPORTER", "none") {
            return None;
        }
        let asked = config.enabled
            || config.endpoint.is_some()
            || ENDPOINT_VARIABLES.iter().any(|name| var(name).is_some());
        asked.then(|| Self {
            endpoint: config.endpoint.clone(),
            service_name: config
                .service_name
                .clone()
                .or_else(|| var("OTEL_SERVICE_NAME"))
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned()),
        })
    }

    /// [`TraceSettings::resolve`] with the process's environment.
    pub fn from_env(config: &OtelConfig) -> Option<Self> {
        Self::resolve(config, |name| std::env::var(name).ok())
    }
}

/// The running trace pipeline: spans of [`SPAN_TARGET`] go, in batches, to the OTLP
/// endpoint. The sampler is the SDK's, from `OTEL_TRACES_SAMPLER` and
/// `OTEL_TRACES_SAMPLER_ARG` (parent-based, always on, by default).
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts the exporter; its HTTP requests run on `runtime`, which must outlive
    /// [`Traces::shutdown`].
    pub fn start(
        settings: &TraceSettings,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, TracesError> {
        let client = OtlpClient::new(runtime).map_err(TracesError::Client)?;
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_http_client(client);
        if let Some(endpoint) = &settings.endpoint {
            exporter = exporter.with_endpoint(endpoint.clone());
        }
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter.build()?)
            .with_resource(resource)
            .build();
        Ok(Self { provider })
    }

    /// The `tracing` layer that turns the gateway's spans into OpenTelemetry spans; it sees
    /// nothing but spans of [`SPAN_TARGET`].
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let tracer = self.provider.tracer("sealgate");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_context_activation(false)
            .with_location(false)
            .with_threads(false)
            .with_filter(Targets::new().with_target(SPAN_TARGET, tracing::Level::INFO))
    }

    /// Exports the spans still queued and stops the exporter. Blocks until done (or the SDK's
    /// timeout); call it outside the runtime's tasks, before the runtime is dropped.
    pub fn shutdown(self) -> Result<(), TracesError> {
        Ok(self.provider.shutdown()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(config: &OtelConfig, vars: &[(&str, &str)]) -> Option<TraceSettings> {
        TraceSettings::resolve(config, |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn traces_are_off_unless_a_setting_or_an_endpoint_variable_asks() {
        let off = OtelConfig::default();
        assert_eq!(resolve(&off, &[]), None);
        assert_eq!(resolve(&off, &[("OTEL_SERVICE_NAME", "svc")]), None);
        assert_eq!(resolve(&off, &[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), None);
        for name in ENDPOINT_VARIABLES {
            let on = resolve(&off, &[(name, "http://collector:4318")]).unwrap();
            assert_eq!(on.endpoint, None, "{name} is left to the exporter");
            assert_eq!(on.service_name, "sealgate");
        }
        let enabled = OtelConfig {
            enabled: true,
            ..OtelConfig::default()
        };
        assert!(resolve(&enabled, &[]).is_some());
        let endpoint = OtelConfig {
            endpoint: Some("http://c:4318/v1/traces".into()),
            ..OtelConfig::default()
        };
        assert_eq!(
            resolve(&endpoint, &[]).unwrap().endpoint.as_deref(),
            Some("http://c:4318/v1/traces")
        );
    }

    #[test]
    fn the_sdk_switch_and_the_none_exporter_turn_traces_off() {
        let enabled = OtelConfig {
            enabled: true,
            ..OtelConfig::default()
        };
        assert_eq!(resolve(&enabled, &[("OTEL_SDK_DISABLED", "TRUE")]), None);
        assert_eq!(resolve(&enabled, &[("OTEL_TRACES_EXPORTER", "none")]), None);
        assert!(resolve(&enabled, &[("OTEL_SDK_DISABLED", "false")]).is_some());
        assert!(resolve(&enabled, &[("OTEL_TRACES_EXPORTER", "otlp")]).is_some());
    }

    #[test]
    fn the_service_name_is_the_settings_then_the_variables_then_sealgate() {
        let mut config = OtelConfig {
            enabled: true,
            ..OtelConfig::default()
        };
        let named = |config: &OtelConfig, vars: &[(&str, &str)]| {
            resolve(config, vars).unwrap().service_name
        };
        assert_eq!(named(&config, &[]), "sealgate");
        assert_eq!(named(&config, &[("OTEL_SERVICE_NAME", "env")]), "env");
        config.service_name = Some("flag".into());
        assert_eq!(named(&config, &[("OTEL_SERVICE_NAME", "env")]), "flag");
    }
}
