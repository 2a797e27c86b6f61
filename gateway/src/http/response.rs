//! The one way an answer is assembled: status, media type, cache policy and body. Handlers and
//! the error mapping add only the headers particular to them (`ETag`, `Retry-After`, …).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The response type of every handler.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// How long an answer may be kept by clients and caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caching {
    /// `Cache-Control: no-store`: answers that name a client, a mailbox or a secret.
    NoStore,
    /// `Cache-Control: public, max-age=N`: public documents (key sets, the API description).
    Public {
        /// Seconds a cache may serve the answer without asking again.
        max_age_secs: u32,
    },
    /// No `Cache-Control` (the metrics listener, scraped, never cached).
    Unstated,
}

/// An answer with `content_type` (none for an empty body) and `caching`.
pub(crate) fn response(
    status: StatusCode,
    content_type: Option<&'static str>,
    caching: Caching,
    body: Bytes,
) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    match caching {
        Caching::NoStore => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        Caching::Public { max_age_secs } => {
            let value = format!("public, max-age={max_age_secs}");
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::try_from(value).expect("digits are a valid header value"),
            );
        }
        Caching::Unstated => {}
    }
    response
}

/// A JSON answer that must not be cached, from JSON text already serialized (the hot routes
/// write their few members directly instead of building a `serde_json::Value`).
pub(crate) fn json_text(status: StatusCode, body: Bytes) -> HttpResponse {
    response(status, Some("application/json"), Caching::NoStore, body)
}

/// A JSON answer that must not be cached.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    json_text(status, Bytes::from(body.to_string()))
}

/// An answer without a body (`204`, `304`).
pub(crate) fn empty(status: StatusCode, caching: Caching) -> HttpResponse {
    response(status, None, caching, Bytes::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_follow_the_caching_policy() {
        let public = response(
            StatusCode::OK,
            Some("application/json"),
            Caching::Public { max_age_secs: 60 },
            Bytes::from_static(b"{}"),
        );
        assert_eq!(
            public.headers()[header::CACHE_CONTROL],
            "public, max-age=60"
        );
        assert_eq!(public.headers()[header::CONTENT_TYPE], "application/json");
        let stored = json(StatusCode::CREATED, &serde_json::json!({ "a": 1 }));
        assert_eq!(stored.status(), StatusCode::CREATED);
        assert_eq!(stored.headers()[header::CACHE_CONTROL], "no-store");
        let empty = empty(StatusCode::NO_CONTENT, Caching::Unstated);
        assert!(empty.headers().is_empty());
    }
}
