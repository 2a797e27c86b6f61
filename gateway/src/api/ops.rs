//! Operator routes: liveness, readiness, the OpenAPI document, Prometheus metrics.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use super::HttpResponse;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::response::{self, Caching};

/// The OpenAPI 3.1 description of this API, the same file the tests check.
pub(crate) const OPENAPI_JSON: &str = include_str!("../../openapi.json");

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

/// `GET /openapi.json`.
pub(crate) fn openapi() -> HttpResponse {
    response::response(
        StatusCode::OK,
        Some("application/json"),
        Caching::Public { max_age_secs: 3600 },
        Bytes::from_static(OPENAPI_JSON.as_bytes()),
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
