//! The `otel.*` settings: whether the gateway exports OpenTelemetry traces, to which OTLP/HTTP
//! endpoint, and under which service name. The standard `OTEL_*` variables fill in what these
//! leave unset (`sealgate::telemetry` reads them).

use serde::{Deserialize, Serialize};

/// OpenTelemetry trace export. Off unless `enabled`, `endpoint`, `OTEL_EXPORTER_OTLP_ENDPOINT`
/// or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` says otherwise; `OTEL_SDK_DISABLED=true` turns it
/// off whatever the rest says.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtelConfig {
    /// Export traces even when no endpoint is named (then to `http://localhost:4318`).
    pub enabled: bool,
    /// The OTLP/HTTP traces endpoint, the whole URL (`…/v1/traces`); setting it exports.
    pub endpoint: Option<String>,
    /// The `service.name` resource attribute; `OTEL_SERVICE_NAME`, else `sealgate`.
    pub service_name: Option<String>,
}
