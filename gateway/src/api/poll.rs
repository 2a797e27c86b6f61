//! `GET /v1/mailboxes/{id}?wait=N`: the owning client's long-poll; and `HEAD`, its look at the
//! mailbox that neither waits nor consumes.

use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use super::clients::short;
use super::mailboxes::JOSE_MEDIA_TYPE;
use super::{HttpResponse, authenticate};
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::response::{self, Caching};
use crate::store::TakeOutcome;

/// The answer to a poll that finds no envelope yet.
pub(super) const PENDING: &[u8] = br#"{"error":"authorization_pending","error_description":"the mailbox has no envelope yet; poll again"}"#;

/// `GET /v1/mailboxes/{id}?wait=N`: the owning client long-polls; the envelope is consumed
/// atomically, so of many pollers on any number of instances exactly one receives it.
pub(crate) async fn poll(
    app: &App,
    parts: &Parts,
    mailbox_id: &str,
) -> Result<HttpResponse, ApiError> {
    prepare_poll(app, parts, mailbox_id).await?.run(app).await
}

/// `HEAD /v1/mailboxes/{id}`: the owning client asks whether its mailbox is still open,
/// without waiting and without consuming the envelope: `204` until the mailbox expires (even
/// once its envelope was taken: the store reads no envelope without consuming it), `404` for
/// an unknown, expired or another client's mailbox.
pub(crate) async fn status(
    app: &App,
    parts: &Parts,
    mailbox_id: &str,
) -> Result<HttpResponse, ApiError> {
    let client = authenticate(app, &parts.headers, None).await?;
    match app.store.mailbox(mailbox_id).await? {
        Some(mailbox) if mailbox.client_id == client.client_id => {
            Ok(response::empty(StatusCode::NO_CONTENT, Caching::NoStore))
        }
        _ => Err(ApiError::NotFound),
    }
}

/// A long-poll, checked and authenticated, that owns the little it needs to wait: the router
/// releases the request before [`LongPoll::run`], since the request head pins the
/// connection's read buffer (8 KiB in hyper), and a waiter may hold it for a minute.
pub(crate) struct LongPoll {
    mailbox_id: String,
    client_id: String,
    wait: Duration,
}

/// The first half of [`poll`]: reads `wait` and authenticates the client.
pub(crate) async fn prepare_poll(
    app: &App,
    parts: &Parts,
    mailbox_id: &str,
) -> Result<LongPoll, ApiError> {
    let wait = wait_param(parts.uri.query())?;
    let client = authenticate(app, &parts.headers, None).await?;
    Ok(LongPoll {
        mailbox_id: mailbox_id.to_owned(),
        client_id: client.client_id,
        wait: Duration::from_secs(wait.min(app.config.limits.max_wait_secs)),
    })
}

impl LongPoll {
    /// The second half of [`poll`]: takes the envelope, or waits for it up to `wait`.
    pub(crate) async fn run(self, app: &App) -> Result<HttpResponse, ApiError> {
        let Self {
            mailbox_id,
            client_id,
            wait,
        } = self;
        let mailbox_id = mailbox_id.as_str();
        let _permit = if wait.is_zero() {
            None
        } else {
            let overall = app.global_waiter_cap.acquire(&()).ok_or_else(|| {
                app.metrics
                    .limited
                    .with_label_values(&["waiters_global"])
                    .inc();
                ApiError::Busy { retry_after: 1 }
            })?;
            let permit = app.waiter_cap.acquire(&client_id).ok_or_else(|| {
                app.metrics.limited.with_label_values(&["waiters"]).inc();
                ApiError::TooManyRequests {
                    limit: "too-many-waiters",
                    detail: "this client has too many long-polls waiting".into(),
                    retry_after: 1,
                }
            })?;
            Some((overall, permit))
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut waiter = app.store.watch(mailbox_id).await?;
            match app.store.take(mailbox_id, &client_id).await? {
                TakeOutcome::Envelope(envelope) => {
                    return Ok(delivered(app, mailbox_id, envelope));
                }
                TakeOutcome::NotFound => return Err(ApiError::NotFound),
                TakeOutcome::Pending => {}
            }
            if wait.is_zero() || tokio::time::Instant::now() >= deadline || app.is_shutting_down() {
                return Ok(pending(wait.is_zero()));
            }
            let _gauge = WaiterGauge::enter(app);
            tokio::select! {
                () = waiter.wait() => continue,
                () = tokio::time::sleep_until(deadline) => {}
                () = app.shutting_down() => return Ok(pending(false)),
            }
            // One last look, in case the deposit raced the deadline.
            return match app.store.take(mailbox_id, &client_id).await? {
                TakeOutcome::Envelope(envelope) => Ok(delivered(app, mailbox_id, envelope)),
                TakeOutcome::NotFound => Err(ApiError::NotFound),
                TakeOutcome::Pending => Ok(pending(false)),
            };
        }
    }
}

fn delivered(app: &App, mailbox_id: &str, envelope: Bytes) -> HttpResponse {
    app.metrics.mailboxes_consumed.inc();
    tracing::debug!(mailbox = %short(mailbox_id), "envelope consumed");
    response::response(
        StatusCode::OK,
        Some(JOSE_MEDIA_TYPE),
        Caching::NoStore,
        envelope,
    )
}

/// `202` with the OAuth device-flow code: nothing yet, ask again.
fn pending(was_immediate: bool) -> HttpResponse {
    let mut answer = response::json_text(StatusCode::ACCEPTED, Bytes::from_static(PENDING));
    let retry_after = if was_immediate { 1u64 } else { 0 };
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    answer
}

/// The `wait` query parameter, seconds (0 when absent); other parameters are ignored. Any
/// whole number in decimal digits is accepted, as the API document says: one too large for a
/// `u64` counts as `u64::MAX`, and the caller caps every wait at `limits.max_wait_secs`.
fn wait_param(query: Option<&str>) -> Result<u64, ApiError> {
    let mut wait = 0;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key == "wait" {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::InvalidRequest(
                    "wait must be a whole number of seconds".into(),
                ));
            }
            // Only digits: the one failure left is a number past u64::MAX.
            wait = value.parse().unwrap_or(u64::MAX);
        }
    }
    Ok(wait)
}

/// Counts a long-poll in the waiters gauge while it waits.
struct WaiterGauge<'a> {
    app: &'a App,
}

impl<'a> WaiterGauge<'a> {
    fn enter(app: &'a App) -> Self {
        app.metrics.longpoll_waiters.inc();
        Self { app }
    }
}

impl Drop for WaiterGauge<'_> {
    fn drop(&mut self) {
        self.app.metrics.longpoll_waiters.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::wait_param;

    #[test]
    fn wait_is_any_whole_number_and_saturates() {
        assert_eq!(wait_param(None).ok(), Some(0));
        assert_eq!(wait_param(Some("other=1")).ok(), Some(0));
        assert_eq!(wait_param(Some("wait=30")).ok(), Some(30));
        assert_eq!(
            wait_param(Some("wait=18446744073709551615")).ok(),
            Some(u64::MAX)
        );
        assert_eq!(
            wait_param(Some("wait=9007199254740993000000000000")).ok(),
            Some(u64::MAX)
        );
        for refused in [
            "wait=-1",
            "wait=1.5",
            "wait=soon",
            "wait=",
            "wait=%2B5",
            "wait=+5",
        ] {
            assert!(wait_param(Some(refused)).is_err(), "{refused}");
        }
    }
}
