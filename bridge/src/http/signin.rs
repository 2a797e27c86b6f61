//! The browser's side: `/authorize` starts a sign-in and sends the browser to its page;
//! the page long-polls its status; cancel and try again. Every sign-in route needs the
//! session cookie `/authorize` set, so nobody else can watch or end that sign-in.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use sealgate_client::sealgate_crypto::random_token;
use serde_json::json;

use super::respond::{Reply, json_no_store, page, see_other};
use crate::app::Bridge;
use crate::authorize::{AuthorizeError, AuthorizeRequest, redirect_url, validate};
use crate::flow::{self, StartSignInError, denied_url, now_secs};
use crate::page::{self, SignInPage};
use crate::state::{SignIn, Status};

/// The session cookie's name.
const COOKIE: &str = "sealgate_bridge_session";
/// The longest status long-poll.
const MAX_STATUS_WAIT: Duration = Duration::from_secs(30);

/// `GET` or `POST /authorize` with the request's parameters in `query`.
pub(crate) async fn authorize(bridge: &Arc<Bridge>, query: &[u8], headers: &HeaderMap) -> Reply {
    let params: Vec<(String, String)> = form_urlencoded::parse(query).into_owned().collect();
    let mut seen = std::collections::HashSet::new();
    let repeated = params.iter().any(|(name, _)| !seen.insert(name.as_str()));
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let request = match validate(&bridge.config, get) {
        Ok(request) if repeated => {
            return see_other(&redirect_url(
                &request.redirect_uri,
                &[
                    ("error", "invalid_request"),
                    ("error_description", "a parameter is repeated"),
                ],
                request.state.as_deref(),
                &bridge.config.issuer,
            ));
        }
        Ok(request) => request,
        Err(AuthorizeError::Page(reason)) => {
            return page(
                StatusCode::BAD_REQUEST,
                page::error(&format!("The website's sign-in link is wrong: {reason}.")),
            );
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state,
        }) => {
            return see_other(&redirect_url(
                &redirect_uri,
                &[("error", error), ("error_description", description)],
                state.as_deref(),
                &bridge.config.issuer,
            ));
        }
    };
    let cookie = presented_cookie(headers).unwrap_or_else(random_token::<32>);
    begin(bridge, request, cookie).await
}

/// Starts a sign-in for `request` bound to `cookie` and sends the browser to its page.
async fn begin(bridge: &Arc<Bridge>, request: AuthorizeRequest, cookie: String) -> Reply {
    let redirect_uri = request.redirect_uri.clone();
    let state = request.state.clone();
    match flow::start(bridge, request, cookie.clone()).await {
        Ok(id) => {
            let mut reply = see_other(&format!("/signin/{id}"));
            let secure = if bridge.secure_cookies {
                "; Secure"
            } else {
                ""
            };
            let value = format!("{COOKIE}={cookie}; Path=/signin/; HttpOnly; SameSite=Lax{secure}");
            reply.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&value).expect("a token is a valid cookie"),
            );
            reply
        }
        Err(error) => {
            tracing::warn!(%error, "cannot start a sign-in");
            let description = match error {
                StartSignInError::Full(_) => "too many sign-ins in progress",
                StartSignInError::Gateway(_) => "the sealgate gateway is unavailable",
            };
            see_other(&redirect_url(
                &redirect_uri,
                &[
                    ("error", "temporarily_unavailable"),
                    ("error_description", description),
                ],
                state.as_deref(),
                &bridge.config.issuer,
            ))
        }
    }
}

/// The sign-in `id`, if the request carries its cookie.
fn owned(bridge: &Bridge, id: &str, headers: &HeaderMap) -> Option<Arc<SignIn>> {
    let signin = bridge.state.signin(id)?;
    let cookie = presented_cookie(headers)?;
    signin.cookie_matches(&cookie).then_some(signin)
}

fn not_yours() -> Reply {
    page(
        StatusCode::NOT_FOUND,
        page::error("This sign-in is not known here, or it was started in another browser."),
    )
}

/// `GET /signin/{id}`: the page.
pub(crate) fn show(bridge: &Bridge, id: &str, headers: &HeaderMap) -> Reply {
    let Some(signin) = owned(bridge, id, headers) else {
        return not_yours();
    };
    let client = bridge
        .config
        .client(&signin.request.client_id)
        .expect("a sign-in's client is configured");
    let html = page::signin(&SignInPage {
        client,
        signin_uri: &signin.signin_uri,
        expires_at: signin.expires_at,
        seconds_left: signin.expires_at.saturating_sub(now_secs()),
        id,
    });
    page(StatusCode::OK, html)
}

/// `GET /signin/{id}/status?wait=N`: the status, once it differs from `waiting` or after `N`
/// seconds (at most 30).
pub(crate) async fn status(bridge: &Bridge, id: &str, query: &[u8], headers: &HeaderMap) -> Reply {
    let Some(signin) = owned(bridge, id, headers) else {
        return json_no_store(
            StatusCode::NOT_FOUND,
            &json!({ "error": "unknown sign-in" }),
        );
    };
    let wait = form_urlencoded::parse(query)
        .find(|(name, _)| name == "wait")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
        .min(MAX_STATUS_WAIT)
        .min(Duration::from_secs(
            (signin.expires_at + 1).saturating_sub(now_secs()),
        ));
    let mut watching = signin.status.subscribe();
    let _ = tokio::time::timeout(wait, async {
        let _ = watching.wait_for(|s| *s != Status::Waiting).await;
    })
    .await;
    let status = signin.status.borrow().clone();
    let body = match status {
        Status::Waiting => {
            json!({ "status": "waiting", "expires_at": signin.expires_at })
        }
        Status::Approved(redirect) => json!({ "status": "approved", "redirect": redirect }),
        Status::Expired => json!({
            "status": "expired",
            "redirect": denied_url(bridge, &signin.request, "the sign-in request expired"),
        }),
        Status::Denied => json!({
            "status": "denied",
            "redirect": denied_url(bridge, &signin.request, "the sign-in was refused"),
        }),
    };
    json_no_store(StatusCode::OK, &body)
}

/// `POST /signin/{id}/cancel`: ends the sign-in and tells the website `access_denied`.
pub(crate) fn cancel(bridge: &Bridge, id: &str, headers: &HeaderMap) -> Reply {
    let Some(signin) = owned(bridge, id, headers) else {
        return not_yours();
    };
    signin.finish(Status::Denied);
    match &*signin.status.borrow() {
        Status::Approved(redirect) => see_other(redirect),
        _ => see_other(&denied_url(
            bridge,
            &signin.request,
            "the user cancelled the sign-in",
        )),
    }
}

/// `POST /signin/{id}/retry`: a new sign-in with the same request, when this one has ended
/// without approval.
pub(crate) async fn retry(bridge: &Arc<Bridge>, id: &str, headers: &HeaderMap) -> Reply {
    let Some(signin) = owned(bridge, id, headers) else {
        return not_yours();
    };
    let current = signin.status.borrow().clone();
    match current {
        Status::Approved(redirect) => see_other(&redirect),
        Status::Waiting => see_other(&format!("/signin/{id}")),
        Status::Expired | Status::Denied => {
            begin(bridge, signin.request.clone(), signin.cookie.clone()).await
        }
    }
}

/// The session cookie's value, when the request has one.
fn presented_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| {
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
