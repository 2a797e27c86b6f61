//! `/v1/clients/{id}/webhook`: the client's webhook URL and signing secret.

use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{HttpResponse, authenticate};
use crate::app::App;
use crate::clock::rfc3339;
use crate::http::body::{parse_metadata_json, require_content_type};
use crate::http::error::ApiError;
use crate::http::response::{self, Caching};
use crate::store::WebhookSettings;
use crate::webhook::worker::Webhooks;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetWebhook {
    url: String,
}

/// The webhook machinery, or the error that says this gateway has none.
fn enabled(app: &App) -> Result<&Webhooks, ApiError> {
    app.webhooks.as_deref().ok_or_else(|| {
        ApiError::InvalidClientMetadata("this gateway does not deliver webhooks".into())
    })
}

/// Checks a webhook URL against the operator's policy (form and resolved addresses).
pub(crate) async fn check_url(app: &App, url: &str) -> Result<(), ApiError> {
    let webhooks = enabled(app)?;
    crate::webhook::ssrf::check(url, webhooks.policy())
        .await
        .map(|_| ())
        .map_err(|error| ApiError::InvalidClientMetadata(error.to_string()))
}

/// The client's webhook as shown on its record: never the secret.
pub(crate) fn public_view(settings: &Option<WebhookSettings>) -> Value {
    match settings {
        None => Value::Null,
        Some(webhook) => json!({
            "url": webhook.url,
            "disabled": webhook.disabled_at.is_some(),
            "disabled_at": webhook.disabled_at.map(|at| rfc3339(at * 1000)),
            "secrets": webhook.secrets.len(),
        }),
    }
}

/// `PUT /v1/clients/{id}/webhook`: sets or changes the URL (and re-enables a disabled
/// endpoint). A client without a webhook gets a new secret, shown this once.
pub(crate) async fn set(
    app: &App,
    parts: &Parts,
    client_id: &str,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let client = authenticate(app, &parts.headers, Some(client_id)).await?;
    require_content_type(&parts.headers, "application/json")?;
    let request: SetWebhook = parse_metadata_json(&body)?;
    check_url(app, &request.url).await?;
    let (client, new_secret) = super::modify_client(app, client, |client| {
        Ok(match client.webhook.as_mut() {
            Some(webhook) => {
                webhook.url.clone_from(&request.url);
                webhook.disabled_at = None;
                None
            }
            None => {
                let (settings, secret) = WebhookSettings::new(request.url.clone());
                client.webhook = Some(settings);
                Some(secret)
            }
        })
    })
    .await?;
    let mut answer = json!({ "webhook": public_view(&client.webhook) });
    if let Some(secret) = new_secret {
        answer["webhook_secret"] = json!(secret.as_str());
    }
    Ok(response::json(StatusCode::OK, &answer))
}

/// `DELETE /v1/clients/{id}/webhook`: stops deliveries; envelopes are polled again.
pub(crate) async fn remove(
    app: &App,
    parts: &Parts,
    client_id: &str,
) -> Result<HttpResponse, ApiError> {
    let client = authenticate(app, &parts.headers, Some(client_id)).await?;
    super::modify_client(app, client, |client| {
        client.webhook.take().map(drop).ok_or(ApiError::NotFound)
    })
    .await?;
    Ok(response::empty(StatusCode::NO_CONTENT, Caching::Unstated))
}

/// `POST /v1/clients/{id}/webhook/secret`: a new signing secret, shown this once; the old one
/// keeps signing beside it for the overlap period.
pub(crate) async fn rotate_secret(
    app: &App,
    parts: &Parts,
    client_id: &str,
) -> Result<HttpResponse, ApiError> {
    let overlap = enabled(app)?.overlap_secs();
    let client = authenticate(app, &parts.headers, Some(client_id)).await?;
    let now = app.clock.now_secs();
    let (_, secret) = super::modify_client(app, client, |client| {
        Ok(client
            .webhook
            .as_mut()
            .ok_or(ApiError::NotFound)?
            .rotate(now, overlap))
    })
    .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "webhook_secret": secret.as_str(),
            "previous_secrets_retire_at": rfc3339((now + overlap) * 1000),
        }),
    ))
}
