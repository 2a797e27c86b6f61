//! Reading request bodies within a size limit (checked before buffering) and a deadline.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, header};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;

/// Reads the whole body, refusing with 413 as soon as it is known to exceed `limit` (from
/// `Content-Length` before reading, or while streaming), and with 408 if it is not complete
/// within `timeout`.
pub(crate) async fn read_limited<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        let length: u64 = length
            .to_str()
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| ApiError::InvalidRequest("invalid Content-Length".into()))?;
        if length > limit as u64 {
            return Err(ApiError::PayloadTooLarge { limit });
        }
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::RequestTimeout)?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(_) => Err(ApiError::InvalidRequest(
            "the request body could not be read".into(),
        )),
    }
}

/// Checks that the request's media type is `expected` (parameters such as `charset` allowed).
pub(crate) fn require_content_type(
    headers: &HeaderMap,
    expected: &'static str,
) -> Result<(), ApiError> {
    let matches = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected));
    if matches {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType { expected })
    }
}

/// Parses a JSON body into `T`, or explains what is wrong with it.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::InvalidRequest(format!("invalid JSON body: {error}")))
}

/// Parses client metadata (registration, key rotation): a JSON syntax error is
/// `invalid_request`, a missing, unknown or mistyped member `invalid_client_metadata`
/// (RFC 7591 §3.2.2).
pub(crate) fn parse_metadata_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => ApiError::InvalidClientMetadata(error.to_string()),
        _ => ApiError::InvalidRequest(format!("invalid JSON body: {error}")),
    })
}
