//! Operator routes: liveness, readiness, the OpenAPI document, Prometheus metrics.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::HttpResponse;
use crate::app::App;
use crate::config::{Config, Limits};
use crate::http::error::ApiError;
use crate::http::response::{self, Caching};

/// The OpenAPI 3.1 description of this API, the same file the tests check. It states the
/// default configuration's bounds; [`served_openapi`] states the running gateway's.
pub(crate) const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// The members of the OpenAPI document that state a configured limit, as JSON pointers, each
/// with its value under `limits`. `openapi.json` holds the values of `Limits::default()` (a
/// test keeps it so), so that the checked-in file and the served document differ only here
/// and in `servers`.
pub(crate) fn configured_bounds(limits: &Limits) -> [(&'static str, u64); 1] {
    [(
        "/components/schemas/OpenMailbox/properties/ttl/maximum",
        limits.max_ttl_secs,
    )]
}

/// The document `GET /openapi.json` serves: `openapi.json` with the bounds of `config`'s
/// limits and, as its one server, the gateway's public URL. Built once, when the gateway starts.
pub(crate) fn served_openapi(config: &Config) -> Bytes {
    let mut document: Value =
        serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON (tested)");
    for (pointer, value) in configured_bounds(&config.limits) {
        *document
            .pointer_mut(pointer)
            .expect("every bound's pointer resolves (tested)") = value.into();
    }
    document["servers"] = json!([{ "url": config.public_base_url() }]);
    Bytes::from(serde_json::to_vec_pretty(&document).expect("a JSON value serializes"))
}

/// How long readiness waits for the store.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /healthz`: the process answers.
pub(crate) fn healthz() -> HttpResponse {
    response::json(StatusCode::OK, &json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers and the gateway is not stopping.
pub(crate) async fn readyz(app: &App) -> Result<HttpResponse, ApiError> {
    if app.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    match tokio::time::timeout(READINESS_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => Ok(response::json(
            StatusCode::OK,
            &json!({ "status": "ready", "store": app.store.kind() }),
        )),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: store unavailable");
            Err(ApiError::StoreUnavailable)
        }
        Err(_) => {
            tracing::warn!("readiness: store did not answer in time");
            Err(ApiError::StoreUnavailable)
        }
    }
}

/// `GET /openapi.json`: the document as [`served_openapi`] built it.
pub(crate) fn openapi(app: &App) -> HttpResponse {
    response::response(
        StatusCode::OK,
        Some("application/json"),
        Caching::Public { max_age_secs: 3600 },
        app.openapi.clone(),
    )
}

/// `GET /metrics` on the metrics listener.
pub(crate) async fn metrics(app: &App) -> HttpResponse {
    app.metrics.sync_expired(app.store.expired_count());
    if let Ok(Ok(depth)) =
        tokio::time::timeout(READINESS_TIMEOUT, app.store.delivery_queue_depth()).await
    {
        app.metrics
            .webhook_queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }
    response::response(
        StatusCode::OK,
        Some("text/plain; version=0.0.4; charset=utf-8"),
        Caching::Unstated,
        Bytes::from(app.metrics.render()),
    )
}
