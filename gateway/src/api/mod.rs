//! The HTTP API v1 handlers, one module per resource.

pub(crate) mod clients;
pub(crate) mod devices;
pub(crate) mod mailboxes;
pub(crate) mod notify;
#[cfg(test)]
mod openapi_tests;
pub(crate) mod ops;
pub(crate) mod poll;
pub(crate) mod router;
pub(crate) mod webhooks;

use crate::app::App;
use crate::http::auth::BasicCredentials;
use crate::http::error::ApiError;
use crate::store::{ClientRecord, StoreError, UpdateOutcome};

pub(crate) use crate::http::response::HttpResponse;

/// A store failure, as the API answers it: 503 while the backend is unreachable, 500 (details
/// logged) for data it cannot read.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::StoreUnavailable,
            StoreError::Corrupt(detail) => ApiError::Internal(detail),
        }
    }
}

/// How often a change to a client record is re-applied when another change got in first.
const UPDATE_ATTEMPTS: usize = 5;

/// A rate limit's verdict as the API answers it: `Err(wait)` from a limiter is counted under
/// `label` in `sealgate_limited_total` and becomes a 429 with `detail` and `Retry-After`.
pub(crate) fn within_rate(
    app: &App,
    verdict: Result<(), std::time::Duration>,
    label: &'static str,
    detail: &str,
) -> Result<(), ApiError> {
    verdict.map_err(|wait| {
        app.metrics.limited.with_label_values(&[label]).inc();
        ApiError::TooManyRequests {
            limit: "rate-limited",
            detail: detail.into(),
            retry_after: wait.as_secs().max(1),
        }
    })
}

/// Applies `change` to `record` and saves it with optimistic concurrency: when another
/// request changed the record meanwhile, reads it again and re-applies `change`. Returns the
/// saved record and what `change` returned the last time.
pub(crate) async fn modify_client<T>(
    app: &App,
    mut record: ClientRecord,
    mut change: impl FnMut(&mut ClientRecord) -> Result<T, ApiError>,
) -> Result<(ClientRecord, T), ApiError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let output = change(&mut record)?;
        record.revision += 1;
        match app.store.update_client(&record).await? {
            UpdateOutcome::Updated => return Ok((record, output)),
            UpdateOutcome::Missing => return Err(ApiError::NotFound),
            UpdateOutcome::Conflict => {
                record = app
                    .store
                    .client(&record.client_id)
                    .await?
                    .ok_or(ApiError::NotFound)?;
            }
        }
    }
    Err(ApiError::StoreUnavailable)
}

/// Authenticates the client from `client_secret_basic`; `expected` when the path names one.
pub(crate) async fn authenticate(
    app: &App,
    headers: &http::HeaderMap,
    expected: Option<&str>,
) -> Result<ClientRecord, ApiError> {
    let credentials = BasicCredentials::from_headers(headers)?;
    let record = app.store.client_for_auth(&credentials.client_id).await?;
    let Some(record) = record else {
        credentials.compare_with_nothing();
        return Err(ApiError::InvalidClient);
    };
    if !credentials.matches(&record.secret_hash) {
        return Err(ApiError::InvalidClient);
    }
    if expected.is_some_and(|id| id != record.client_id) {
        return Err(ApiError::NotFound);
    }
    Ok(record)
}
