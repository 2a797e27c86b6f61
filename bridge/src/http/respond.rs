//! Building responses: JSON, HTML pages with the strict security headers, redirects, and
//! OAuth error bodies (RFC 6749 §5.2).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::{Value, json};

/// The response type of every handler.
pub(crate) type Reply = Response<Full<Bytes>>;

/// Nothing from other origins, no inline script, no framing, forms post only to the bridge.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn base(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A JSON body that no cache keeps (token responses must not be cached: RFC 6749 §5.1).
pub(crate) fn json_no_store(status: StatusCode, value: &Value) -> Reply {
    let mut response = base(status, "application/json", value.to_string());
    no_store(&mut response);
    response
}

/// A public JSON document (discovery, JWKS) that caches may keep for five minutes.
pub(crate) fn json_public(value: &Value) -> Reply {
    let mut response = base(StatusCode::OK, "application/json", value.to_string());
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
        .headers_mut()
        .insert("access-control-allow-origin", HeaderValue::from_static("*"));
    response
}

/// An HTML page with the strict policy: no framing, nothing from other origins, not cached.
pub(crate) fn page(status: StatusCode, html: String) -> Reply {
    let mut response = base(status, "text/html; charset=utf-8", html);
    secure_page_headers(&mut response);
    response
}

/// A static asset of the page.
pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Reply {
    let mut response = base(StatusCode::OK, content_type, body);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// `303 See Other` to `location`, not cached.
pub(crate) fn see_other(location: &str) -> Reply {
    let mut response = base(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
    }
    secure_page_headers(&mut response);
    response
}

/// An OAuth error: `{error, error_description}` (RFC 6749 §5.2), `invalid_client` with
/// `WWW-Authenticate` when the status is 401.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Reply {
    let mut response = json_no_store(
        status,
        &json!({ "error": error, "error_description": description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="sealgate-bridge""#),
        );
    }
    response
}

/// `401` for a missing or unknown bearer token at `/userinfo` (RFC 6750 §3).
pub(crate) fn invalid_token() -> Reply {
    let mut response = json_no_store(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "invalid_token", "error_description": "the access token is unknown or expired" }),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    );
    response
}

/// Plain text, for `/healthz` and routing errors.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Reply {
    base(status, "text/plain; charset=utf-8", body)
}

fn no_store(response: &mut Reply) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn secure_page_headers(response: &mut Reply) {
    no_store(response);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}
