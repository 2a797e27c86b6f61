//! Every error the API answers, and the one place each becomes an HTTP response:
//! RFC 9457 `application/problem+json` with a stable `type`, and the OAuth `error` code where
//! OAuth has one. The registration endpoint sends the same body as `application/json`
//! (RFC 7591 §3.2.2).

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::response::{Caching, HttpResponse, response};

/// The prefix of every problem `type`: a tag URI (RFC 4151), stable and not dereferenced.
pub(crate) const PROBLEM_TYPE_PREFIX: &str = "tag:sealgate,2026:problem:";

/// The media type of an error body: RFC 9457 problem details.
pub(crate) const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// The media type of an error body of `POST /v1/clients`, as RFC 7591 §3.2.2 says; the body
/// is the same problem, whose `error` and `error_description` are RFC 7591's members.
pub(crate) const REGISTRATION_ERROR_MEDIA_TYPE: &str = "application/json";

/// An API error, typed where it is made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request is malformed (bad JSON, bad parameter).
    #[error("{0}")]
    InvalidRequest(String),
    /// Registration or key rotation metadata is invalid.
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// The deposited body is not a well-formed sealgate envelope.
    #[error("the envelope is malformed: {0}")]
    MalformedEnvelope(sealgate_crypto::EnvelopeError),
    /// The envelope is well formed but does not fit the mailbox it was deposited to.
    #[error("{0}")]
    EnvelopeMismatch(String),
    /// Client authentication failed or is missing.
    #[error("client authentication failed")]
    InvalidClient,
    /// The registration endpoint requires the operator's token.
    #[error("registration requires a valid bearer token")]
    InvalidRegistrationToken,
    /// No such resource (or not this client's: the same answer, on purpose).
    #[error("not found")]
    NotFound,
    /// The route exists, the method does not; carries the route's `Allow` header value.
    #[error("method not allowed")]
    MethodNotAllowed(HeaderValue),
    /// The `notify` handle names no live device registration of this client.
    #[error("notify names no device registered with this client (unknown, expired or deleted)")]
    UnknownDevice,
    /// A device registration's change came without `Authorization: Bearer dsec_…`.
    #[error("changing a device registration needs its device secret as a Bearer token")]
    MissingDeviceSecret,
    /// The gateway holds as many device registrations as it is configured to.
    #[error("this gateway has as many device registrations as it keeps; ask its operator")]
    TooManyDevices,
    /// Push notifications are turned off on this gateway (`push.enabled`).
    #[error("this gateway does not send push notifications")]
    PushDisabled,
    /// A different envelope is already in the mailbox.
    #[error("the mailbox already holds a different envelope")]
    DepositConflict,
    /// The body is larger than allowed.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The body's media type is not the one this route takes.
    #[error("this route takes {expected}")]
    UnsupportedMediaType {
        /// The media type expected.
        expected: &'static str,
    },
    /// A rate or concurrency limit was hit.
    #[error("{detail}")]
    TooManyRequests {
        /// Which limit, for the `type`.
        limit: &'static str,
        /// What happened, for people.
        detail: String,
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// The gateway holds as many registered clients as it is configured to.
    #[error("this gateway has as many registered clients as it keeps; ask its operator")]
    TooManyClients,
    /// This instance holds as many waiting long-polls as it is configured to.
    #[error("this gateway has too many long-polls waiting; retry later or poll without waiting")]
    Busy {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// The body did not arrive in time.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// The store cannot be reached.
    #[error("the store is unavailable")]
    StoreUnavailable,
    /// The gateway is shutting down.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// A bug or corrupt data; details are logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// Status, problem type slug, title, and OAuth error code.
    fn parts(&self) -> (StatusCode, &'static str, &'static str, Option<&'static str>) {
        use ApiError::*;
        match self {
            InvalidRequest(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "Invalid request",
                Some("invalid_request"),
            ),
            InvalidClientMetadata(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-client-metadata",
                "Invalid client metadata",
                Some("invalid_client_metadata"),
            ),
            MalformedEnvelope(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-envelope",
                "Malformed envelope",
                Some("invalid_request"),
            ),
            EnvelopeMismatch(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "envelope-mismatch",
                "Envelope does not fit the mailbox",
                Some("invalid_request"),
            ),
            InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "invalid-client",
                "Client authentication failed",
                Some("invalid_client"),
            ),
            InvalidRegistrationToken => (
                StatusCode::UNAUTHORIZED,
                "invalid-registration-token",
                "Registration token required",
                Some("invalid_token"),
            ),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found", None),
            UnknownDevice => (
                StatusCode::NOT_FOUND,
                "unknown-device",
                "Unknown device",
                Some("unknown_device"),
            ),
            MissingDeviceSecret => (
                StatusCode::UNAUTHORIZED,
                "missing-device-secret",
                "Device secret required",
                Some("invalid_token"),
            ),
            TooManyDevices => (
                StatusCode::FORBIDDEN,
                "too-many-devices",
                "Device registration closed",
                None,
            ),
            PushDisabled => (
                StatusCode::NOT_FOUND,
                "push-disabled",
                "Push notifications are off",
                None,
            ),
            MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                None,
            ),
            DepositConflict => (
                StatusCode::CONFLICT,
                "deposit-conflict",
                "Mailbox already filled",
                None,
            ),
            PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
                None,
            ),
            UnsupportedMediaType { .. } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                None,
            ),
            TooManyRequests { limit, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                limit,
                "Too many requests",
                None,
            ),
            TooManyClients => (
                StatusCode::FORBIDDEN,
                "too-many-clients",
                "Registration closed",
                None,
            ),
            Busy { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server-busy",
                "Too busy",
                Some("temporarily_unavailable"),
            ),
            RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timeout",
                None,
            ),
            StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Store unavailable",
                Some("temporarily_unavailable"),
            ),
            ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "Shutting down",
                Some("temporarily_unavailable"),
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                Some("server_error"),
            ),
        }
    }

    /// The response, an `application/problem+json` body.
    pub(crate) fn into_response(self) -> HttpResponse {
        self.into_response_as(PROBLEM_MEDIA_TYPE)
    }

    /// The response with its body labelled `media_type`: the only place an error's status
    /// and body are chosen. 5xx details are logged here and replaced by a generic text in the
    /// body.
    pub(crate) fn into_response_as(self, media_type: &'static str) -> HttpResponse {
        let (status, slug, title, oauth_error) = self.parts();
        let detail = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "the gateway failed to handle this request".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        });
        if let Some(code) = oauth_error {
            body["error"] = json!(code);
            body["error_description"] = json!(detail);
        }
        let body = Bytes::from(body.to_string());
        let mut answer = response(status, Some(media_type), Caching::NoStore, body);
        let headers = answer.headers_mut();
        match &self {
            ApiError::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="sealgate""#),
                );
            }
            ApiError::InvalidRegistrationToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="sealgate", error="invalid_token""#),
                );
            }
            ApiError::MissingDeviceSecret => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="sealgate""#),
                );
            }
            ApiError::MethodNotAllowed(allow) => {
                headers.insert(header::ALLOW, allow.clone());
            }
            ApiError::TooManyRequests { retry_after, .. } | ApiError::Busy { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::StoreUnavailable | ApiError::ShuttingDown => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            _ => {}
        }
        answer
    }
}
