//! The HTTP API v1 handlers, one module per resource.

pub mod clients;
pub mod mailboxes;
pub mod ops;
pub mod webhooks;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

use crate::app::App;
use crate::http::auth::BasicCredentials;
use crate::http::error::ApiError;
use crate::store::ClientRecord;

/// The response type of every handler.
pub type HttpResponse = Response<Full<Bytes>>;

/// A JSON response that must not be cached.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

/// An empty `204 No Content`.
pub(crate) fn no_content() -> HttpResponse {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Full::default())
        .expect("valid response")
}

/// Authenticates the client from `client_secret_basic`; `expected` when the path names one.
pub(crate) async fn authenticate(
    app: &App,
    headers: &http::HeaderMap,
    expected: Option<&str>,
) -> Result<ClientRecord, ApiError> {
    let credentials = BasicCredentials::from_headers(headers)?;
    let record = app.store.client(&credentials.client_id).await?;
    let Some(record) = record else {
        credentials.compare_with_nothing();
        return Err(ApiError::InvalidClient);
    };
    if !credentials.matches(&record) {
        return Err(ApiError::InvalidClient);
    }
    if expected.is_some_and(|id| id != record.client_id) {
        return Err(ApiError::NotFound);
    }
    Ok(record)
}
