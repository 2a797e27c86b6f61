//! The RFC 9457 problem+json assertions: every error the gateway answers is one.

use http::{StatusCode, header};
use serde_json::{Value, json};

use crate::http::Reply;

/// The prefix of every problem `type`.
pub const PROBLEM_PREFIX: &str = "tag:sealgate,2026:problem:";

/// Asserts that `reply` is an RFC 9457 problem with `status` and the type `PREFIX + slug`,
/// with a non-empty title and detail, and returns its JSON body for further checks.
#[track_caller]
pub fn assert_problem(reply: &Reply, status: u16, slug: &str) -> Value {
    reply.assert_problem(status, slug, None)
}

impl Reply {
    /// Asserts an RFC 9457 problem with `status`, type `PREFIX + slug`, a non-empty title and
    /// detail and, when given, the OAuth `error` code; returns the body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str, oauth: Option<&str>) -> Value {
        self.assert_status(status);
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("application/problem+json"),
            "content type of {}",
            self.text()
        );
        let body = self.json();
        let kind = body["type"].as_str().expect("a problem has a type");
        assert!(kind.starts_with(PROBLEM_PREFIX), "type {kind}");
        assert_eq!(kind, format!("{PROBLEM_PREFIX}{slug}"), "body: {body}");
        let title = body["title"].as_str().expect("a problem has a title");
        assert!(!title.is_empty());
        assert_eq!(body["status"], json!(status), "status member");
        let detail = body["detail"].as_str().expect("a problem has a detail");
        assert!(!detail.is_empty());
        if let Some(code) = oauth {
            assert_eq!(body["error"], json!(code), "{body}");
        }
        body
    }

    /// Asserts an RFC 9457 503 with `Retry-After`: the store is unavailable.
    #[track_caller]
    pub fn assert_unavailable(&self) {
        assert_eq!(self.status, StatusCode::SERVICE_UNAVAILABLE, "{self:?}");
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("application/problem+json")
        );
        assert!(self.headers.contains_key(header::RETRY_AFTER), "{self:?}");
        assert_eq!(self.json()["status"], json!(503));
    }
}
