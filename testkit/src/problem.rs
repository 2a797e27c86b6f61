//! The RFC 9457 problem+json assertions: every error the gateway answers is one (sent as
//! `application/json` by the registration endpoint, as RFC 7591 says).

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

/// Asserts that `reply` is an error of `POST /v1/clients`: the problem members of
/// [`assert_problem`], as `application/json`.
#[track_caller]
pub fn assert_registration_error(reply: &Reply, status: u16, slug: &str) -> Value {
    reply.assert_registration_error(status, slug, None)
}

impl Reply {
    /// Asserts an RFC 9457 problem with `status`, type `PREFIX + slug`, a non-empty title and
    /// detail and, when given, the OAuth `error` code; returns the body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str, oauth: Option<&str>) -> Value {
        self.assert_error_as("application/problem+json", status, slug, oauth)
    }

    /// Asserts an error of `POST /v1/clients`: the same problem members, sent as
    /// `application/json` (RFC 7591 §3.2.2); with an OAuth code, `error_description` too.
    #[track_caller]
    pub fn assert_registration_error(&self, status: u16, slug: &str, oauth: Option<&str>) -> Value {
        let body = self.assert_error_as("application/json", status, slug, oauth);
        if oauth.is_some() {
            assert_eq!(body["error_description"], body["detail"], "{body}");
        }
        body
    }

    #[track_caller]
    fn assert_error_as(
        &self,
        media_type: &str,
        status: u16,
        slug: &str,
        oauth: Option<&str>,
    ) -> Value {
        self.assert_status(status);
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some(media_type),
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
