//! `/v1/mailboxes`: open, deposit, cancel (the long-poll is in [`super::poll`]).

use std::net::IpAddr;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::clients::short;
use super::notify::{self, Notification};
use super::{HttpResponse, authenticate};
use crate::app::App;
use crate::clock::rfc3339;
use crate::http::body::{parse_json, require_content_type};
use crate::http::error::ApiError;
use crate::http::response::{self, Caching};
use crate::store::{Deposit, DepositOutcome, MailboxRecord, OpenOutcome};
use sealgate_crypto::{Envelope, Jwks, SignInRequest, base64url, random_bytes};

/// The media type of a compact JWE.
pub(crate) const JOSE_MEDIA_TYPE: &str = "application/jose";

/// The answer to a deposit (first or identical retry).
const DEPOSITED: &[u8] = br#"{"status":"deposited"}"#;

/// The answer to `POST /v1/mailboxes`. Members in alphabetical order, as `serde_json::Value`
/// writes them.
#[derive(Serialize)]
struct Opened<'a> {
    expires_at: String,
    expires_in: u64,
    kid: &'a str,
    mailbox_id: &'a str,
    nonce: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification: Option<Notification>,
    poll_url: &'a str,
    signin_request: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OpenRequest {
    #[serde(default, deserialize_with = "whole_seconds")]
    ttl: Option<u64>,
    nonce: Option<String>,
    kid: Option<String>,
    /// A device handle to push the sign-in request to.
    notify: Option<String>,
    /// What the phone shows beside the sign-in, with `notify` only.
    binding_message: Option<String>,
}

/// A number of seconds: a JSON integer, or a number with no fraction (`120.0`), which JSON
/// Schema counts as an integer too.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let number: Option<serde_json::Number> = Deserialize::deserialize(deserializer)?;
    let Some(number) = number else {
        return Ok(None);
    };
    if let Some(whole) = number.as_u64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&float) => {
            Ok(Some(float as u64))
        }
        _ => Err(serde::de::Error::custom(format!(
            "ttl must be a whole number of seconds, not {number}"
        ))),
    }
}

/// `POST /v1/mailboxes`: opens a mailbox and returns its sign-in request.
pub(crate) async fn open(app: &App, parts: &Parts, body: Bytes) -> Result<HttpResponse, ApiError> {
    let client = authenticate(app, &parts.headers, None).await?;
    super::within_rate(
        app,
        app.mailbox_limiter.check(&client.client_id),
        "mailbox_rate",
        "too many mailboxes opened; slow down",
    )?;
    let request: OpenRequest = if body.is_empty() {
        OpenRequest::default()
    } else {
        require_content_type(&parts.headers, "application/json")?;
        parse_json(&body)?
    };
    let limits = &app.config.limits;
    let ttl = request.ttl.unwrap_or(limits.default_ttl_secs);
    if !(1..=limits.max_ttl_secs).contains(&ttl) {
        return Err(ApiError::InvalidRequest(format!(
            "ttl must be between 1 and {} seconds",
            limits.max_ttl_secs
        )));
    }
    let kid = chosen_kid(&client.jwks, request.kid.as_deref())?;
    let notify_target =
        notify::target(app, &client, request.notify, request.binding_message).await?;
    // Both ids from one read of the OS's randomness (one system call, not two): 128 random
    // bits each, base64url, as `random_token::<16>` makes them.
    let random = random_bytes::<32>();
    let mailbox_id = base64url::encode(&random[..16]);
    let nonce = request
        .nonce
        .unwrap_or_else(|| base64url::encode(&random[16..]));
    // Rounded up to a whole second, the precision of `expires_at` and of the sign-in request's
    // `exp`, so that all three agree and none says "expired" before the mailbox is.
    let expires_at_ms = (app.clock.now_ms() + ttl * 1000).div_ceil(1000) * 1000;
    let signin = SignInRequest::new(
        &app.public_url,
        &client.client_id,
        &mailbox_id,
        &kid,
        expires_at_ms / 1000,
        &nonce,
    )
    .map_err(|error| {
        ApiError::InvalidRequest(format!("cannot build the sign-in request: {error}"))
    })?;
    let record = MailboxRecord {
        mailbox_id: mailbox_id.clone(),
        client_id: client.client_id.clone(),
        expires_at_ms,
        kids: MailboxRecord::key_ids(&client.jwks),
        webhook: app.webhooks.is_some() && client.webhook.as_ref().is_some_and(|w| w.is_active()),
    };
    if app
        .store
        .open_mailbox(&record, limits.max_open_mailboxes_per_client)
        .await?
        == OpenOutcome::LimitReached
    {
        app.metrics
            .limited
            .with_label_values(&["open_mailboxes"])
            .inc();
        return Err(ApiError::TooManyRequests {
            limit: "too-many-mailboxes",
            detail: format!(
                "this client has {} mailboxes open, the most allowed; wait for some to be consumed or expire",
                limits.max_open_mailboxes_per_client
            ),
            retry_after: 5,
        });
    }
    app.metrics.mailboxes_opened.inc();
    tracing::debug!(client = %short(&client.client_id), mailbox = %short(&mailbox_id), ttl, "mailbox opened");
    let signin_request = signin.to_uri();
    let notification = match notify_target {
        Some(target) => Some(notify::send(app, &client, target, &signin_request, ttl).await),
        None => None,
    };
    let location = format!("/v1/mailboxes/{mailbox_id}");
    let opened = Opened {
        expires_at: rfc3339(expires_at_ms),
        expires_in: ttl,
        kid: &kid,
        mailbox_id: &mailbox_id,
        nonce: &nonce,
        notification,
        poll_url: &location,
        signin_request,
    };
    let body = serde_json::to_vec(&opened).expect("strings and numbers serialize");
    let mut created = response::json_text(StatusCode::CREATED, Bytes::from(body));
    created.headers_mut().insert(
        header::LOCATION,
        HeaderValue::try_from(location).expect("ids are URL-safe"),
    );
    Ok(created)
}

/// The `kid` the sign-in request names: `requested` if it is one of the client's keys, else
/// the first key. The stored JWKS was validated at registration, so its `kid`s are
/// thumbprints.
fn chosen_kid(jwks: &Jwks, requested: Option<&str>) -> Result<String, ApiError> {
    match requested {
        None => jwks
            .keys()
            .first()
            .map(|key| key.thumbprint().to_owned())
            .ok_or_else(|| ApiError::Internal("stored JWKS has no key".into())),
        Some(kid) if jwks.find(kid).is_some() => Ok(kid.to_owned()),
        Some(_) => Err(ApiError::InvalidRequest(
            "kid names no key of this client".into(),
        )),
    }
}

/// `PUT /v1/mailboxes/{id}`: the phone deposits one envelope. The header is checked against
/// the mailbox without decrypting anything; only the envelope bytes are stored. The binding the
/// mailbox record holds (`aud`, `kid`) is checked by the store in the same step as it stores,
/// so a deposit is one store round trip; the webhook delivery, when the client has one, is
/// enqueued in that step too.
pub(crate) async fn deposit(
    app: &App,
    parts: &Parts,
    mailbox_id: &str,
    peer: IpAddr,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    super::within_rate(
        app,
        app.deposit_limiter.check(&peer),
        "deposit_rate",
        "too many deposits from this address; slow down",
    )?;
    require_content_type(&parts.headers, JOSE_MEDIA_TYPE)?;
    let envelope = Envelope::parse_bytes(&body).map_err(ApiError::MalformedEnvelope)?;
    let aud = match check_header(app, &envelope, mailbox_id) {
        Ok(aud) => aud.to_owned(),
        // Only a failing deposit reads the mailbox: an unknown one is still 404 first.
        Err(problem) => {
            return match app.store.mailbox(mailbox_id).await? {
                None => Err(ApiError::NotFound),
                Some(_) => Err(ApiError::EnvelopeMismatch(problem.into())),
            };
        }
    };
    let kid = envelope.header().kid().to_owned();
    let deposit = Deposit {
        mailbox_id,
        aud: &aud,
        kid: &kid,
        envelope: Bytes::from(envelope.into_string()),
    };
    let mismatch = |detail: &str| Err(ApiError::EnvelopeMismatch(detail.to_owned()));
    match app.store.deposit(deposit).await? {
        DepositOutcome::Stored { webhook } => {
            app.metrics.mailboxes_deposited.inc();
            if let (Some(webhooks), true) = (&app.webhooks, webhook) {
                webhooks.poke();
            }
            tracing::debug!(mailbox = %short(mailbox_id), "envelope deposited");
            Ok(response::json_text(
                StatusCode::CREATED,
                Bytes::from_static(DEPOSITED),
            ))
        }
        DepositOutcome::Identical => Ok(response::json_text(
            StatusCode::OK,
            Bytes::from_static(DEPOSITED),
        )),
        DepositOutcome::Conflict => Err(ApiError::DepositConflict),
        DepositOutcome::NotFound => Err(ApiError::NotFound),
        DepositOutcome::OtherClient => mismatch("the envelope's aud is not this mailbox's client"),
        DepositOutcome::UnknownKid => {
            mismatch("the envelope's kid is not a key of this mailbox's client")
        }
    }
}

/// Checks what the header binds that needs no stored state (`mbx`, `exp`, and that `aud` is
/// present); returns the `aud`, which the store compares with the mailbox's client, or what
/// is wrong.
fn check_header<'e>(
    app: &App,
    envelope: &'e Envelope,
    mailbox_id: &str,
) -> Result<&'e str, &'static str> {
    let header = envelope.header();
    match header.mbx() {
        None => return Err("the envelope header has no mbx; it must be bound to the mailbox"),
        Some(mbx) if mbx != mailbox_id => return Err("the envelope's mbx is not this mailbox"),
        Some(_) => {}
    }
    match header.exp() {
        None => return Err("the envelope header has no exp"),
        Some(exp) if exp <= app.clock.now_secs() => return Err("the envelope's exp has passed"),
        Some(_) => {}
    }
    header
        .aud()
        .ok_or("the envelope header has no aud; it must be bound to the client")
}

/// `DELETE /v1/mailboxes/{id}`: the owning client cancels.
pub(crate) async fn cancel(
    app: &App,
    parts: &Parts,
    mailbox_id: &str,
) -> Result<HttpResponse, ApiError> {
    let client = authenticate(app, &parts.headers, None).await?;
    if !app.store.cancel(mailbox_id, &client.client_id).await? {
        return Err(ApiError::NotFound);
    }
    app.metrics.mailboxes_cancelled.inc();
    Ok(response::empty(StatusCode::NO_CONTENT, Caching::Unstated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The bodies written without a `serde_json::Value` are the bytes a `Value` would write.
    #[test]
    fn prebuilt_bodies_match_json_values() {
        assert_eq!(
            DEPOSITED,
            json!({ "status": "deposited" }).to_string().as_bytes()
        );
        let pending = json!({
            "error": "authorization_pending",
            "error_description": "the mailbox has no envelope yet; poll again",
        });
        assert_eq!(super::super::poll::PENDING, pending.to_string().as_bytes());
        let opened = Opened {
            expires_at: "2026-01-01T00:00:00Z".into(),
            expires_in: 120,
            kid: "k",
            mailbox_id: "m",
            nonce: "n",
            notification: None,
            poll_url: "/v1/mailboxes/m",
            signin_request: "sealgate:signin?v=1".into(),
        };
        let value = json!({
            "mailbox_id": "m",
            "expires_at": "2026-01-01T00:00:00Z",
            "expires_in": 120,
            "kid": "k",
            "nonce": "n",
            "signin_request": "sealgate:signin?v=1",
            "poll_url": "/v1/mailboxes/m",
        });
        assert_eq!(serde_json::to_string(&opened).unwrap(), value.to_string());
        let notified = Opened {
            notification: Some(Notification { status: "sent" }),
            ..opened
        };
        let mut value = value;
        value["notification"] = json!({ "status": "sent" });
        assert_eq!(serde_json::to_string(&notified).unwrap(), value.to_string());
    }
}

#[cfg(test)]
mod open_request_tests {
    use super::OpenRequest;

    fn ttl(body: &str) -> Result<Option<u64>, String> {
        serde_json::from_str::<OpenRequest>(body)
            .map(|r| r.ttl)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn ttl_is_a_whole_number_in_either_json_spelling() {
        assert_eq!(ttl(r#"{"ttl": 120}"#), Ok(Some(120)));
        assert_eq!(ttl(r#"{"ttl": 120.0}"#), Ok(Some(120)));
        assert_eq!(ttl(r#"{"ttl": null}"#), Ok(None));
        assert_eq!(ttl("{}"), Ok(None));
        for refused in [
            r#"{"ttl": 1.5}"#,
            r#"{"ttl": -1}"#,
            r#"{"ttl": "5"}"#,
            r#"{"ttl": 1e300}"#,
        ] {
            assert!(ttl(refused).is_err(), "{refused}");
        }
    }
}
