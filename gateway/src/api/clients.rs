//! `/v1/clients` and `/v1/clients/{id}`: registration, the client's record, the public key
//! set, key rotation, removal.

use std::net::IpAddr;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{HttpResponse, authenticate};
use crate::app::App;
use crate::http::auth::{check_bearer, hash_secret};
use crate::http::body::{parse_metadata_json, require_content_type};
use crate::http::error::ApiError;
use crate::http::response::{self, Caching};
use crate::store::ClientRecord;
use crate::store::WebhookSettings;
use sealgate_crypto::{Jwks, base64url, random_token};

/// The longest client name.
const MAX_NAME_LEN: usize = 100;

/// How long a JWKS may be cached, seconds.
const JWKS_MAX_AGE_SECS: u32 = 60;

/// The registration metadata (RFC 7591 §2). Members the gateway does not understand are
/// ignored, as §2 requires; `name` is the older spelling of `client_name`.
#[derive(Deserialize)]
struct Registration {
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    jwks: Value,
    #[serde(default)]
    webhook_url: Option<String>,
}

impl Registration {
    /// The client's name: `client_name`, or its alias `name` when `client_name` is absent
    /// (RFC 7591 names the member `client_name`; the alias never overrides it).
    fn client_name(&self) -> Result<&str, ApiError> {
        let name = match (&self.client_name, &self.name) {
            (Some(name), _) | (None, Some(name)) => name.trim(),
            (None, None) => {
                return Err(ApiError::InvalidClientMetadata(
                    "missing field `client_name`".into(),
                ));
            }
        };
        if name.is_empty()
            || name.chars().count() > MAX_NAME_LEN
            || name.chars().any(char::is_control)
        {
            return Err(ApiError::InvalidClientMetadata(format!(
                "client_name must be 1 to {MAX_NAME_LEN} printable characters"
            )));
        }
        Ok(name)
    }
}

/// The body of a key rotation: a JWK Set. Members other than `keys` are ignored, as RFC 7517
/// §5 requires of members of a JWK Set an implementation does not understand.
#[derive(Deserialize)]
struct Rotation {
    keys: Value,
}

/// The per-IP registration rate, checked before the body is read.
pub(crate) fn check_registration_rate(app: &App, peer: IpAddr) -> Result<(), ApiError> {
    super::within_rate(
        app,
        app.registration_limiter.check(&peer),
        "registration_rate",
        "too many registrations from this address; slow down",
    )
}

/// Refuses a registration when the gateway keeps as many clients as it may.
async fn check_client_cap(app: &App) -> Result<(), ApiError> {
    let max = app.config.limits.max_clients;
    if max > 0 && app.store.client_count().await? >= max {
        app.metrics.limited.with_label_values(&["clients"]).inc();
        return Err(ApiError::TooManyClients);
    }
    Ok(())
}

/// `POST /v1/clients`: registers a client; the secret is shown this once.
pub(crate) async fn register(
    app: &App,
    parts: &Parts,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &app.config.registration_token {
        check_bearer(&parts.headers, token.expose())?;
    }
    require_content_type(&parts.headers, "application/json")?;
    let registration: Registration = parse_metadata_json(&body)?;
    let name = registration.client_name()?.to_owned();
    let jwks = parse_jwks(&registration.jwks)?;
    check_client_cap(app).await?;
    let webhook = match &registration.webhook_url {
        Some(url) => {
            super::webhooks::check_url(app, url).await?;
            Some(WebhookSettings::new(url.clone()))
        }
        None => None,
    };
    let client_id = random_token::<16>();
    let secret = zeroize::Zeroizing::new(random_token::<32>());
    let created_at = app.clock.now_secs();
    let record = ClientRecord {
        client_id: client_id.clone(),
        name,
        secret_hash: hash_secret(&secret),
        jwks,
        created_at,
        revision: 1,
        webhook: webhook.as_ref().map(|(settings, _)| settings.clone()),
    };
    app.store.insert_client(&record).await?;
    app.metrics.clients_registered.inc();
    tracing::info!(client = %short(&client_id), "client registered");
    // RFC 7591 §3.2.1: the registered metadata comes back with the credentials.
    let mut answer = json!({
        "client_id": client_id,
        "client_secret": secret.as_str(),
        "client_secret_expires_at": 0,
        "client_id_issued_at": created_at,
        "client_name": record.name,
        "name": record.name,
        "jwks": record.jwks.to_value(),
        "token_endpoint_auth_method": "client_secret_basic",
    });
    if let Some((_, webhook_secret)) = &webhook {
        answer["webhook_url"] = json!(registration.webhook_url);
        answer["webhook"] = super::webhooks::public_view(&record.webhook);
        answer["webhook_secret"] = json!(webhook_secret.as_str());
    }
    let mut created = response::json(StatusCode::CREATED, &answer);
    let location = format!("/v1/clients/{client_id}");
    created.headers_mut().insert(
        header::LOCATION,
        HeaderValue::try_from(location).expect("ids are URL-safe"),
    );
    Ok(created)
}

/// `GET /v1/clients/{id}/jwks`: the public key set, cacheable, with `ETag` and 304.
pub(crate) async fn jwks(
    app: &App,
    parts: &Parts,
    client_id: &str,
) -> Result<HttpResponse, ApiError> {
    let record = app
        .store
        .client(client_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let body = record.jwks.to_value().to_string();
    let etag = format!(
        "\"{}\"",
        &base64url::encode(Sha256::digest(body.as_bytes()))[..22]
    );
    let not_modified = parts
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.split(',').any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/") == etag
            })
        });
    let caching = Caching::Public {
        max_age_secs: JWKS_MAX_AGE_SECS,
    };
    let mut answer = if not_modified {
        response::empty(StatusCode::NOT_MODIFIED, caching)
    } else {
        let media_type = Some("application/jwk-set+json");
        response::response(StatusCode::OK, media_type, caching, Bytes::from(body))
    };
    let etag = HeaderValue::try_from(etag).expect("base64url is a valid header value");
    answer.headers_mut().insert(header::ETAG, etag);
    Ok(answer)
}

/// `PUT /v1/clients/{id}/jwks`: replaces the key set (rotation). Keep the old key in the new
/// set until the mailboxes opened with it have expired.
pub(crate) async fn rotate_jwks(
    app: &App,
    parts: &Parts,
    client_id: &str,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let record = authenticate(app, &parts.headers, Some(client_id)).await?;
    let media = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !media.starts_with("application/jwk-set+json") {
        require_content_type(&parts.headers, "application/json")?;
    }
    let rotation: Rotation = parse_metadata_json(&body)?;
    let jwks = parse_jwks(&json!({ "keys": rotation.keys }))?;
    let (record, ()) = super::modify_client(app, record, |record| {
        record.jwks = jwks.clone();
        Ok(())
    })
    .await?;
    tracing::info!(client = %short(client_id), keys = jwks.keys().len(), "keys rotated");
    Ok(response::json(StatusCode::OK, &record.jwks.to_value()))
}

/// `GET /v1/clients/{id}`: the client's record (name, keys, webhook state), for the client.
pub(crate) async fn get_client(
    app: &App,
    parts: &Parts,
    client_id: &str,
) -> Result<HttpResponse, ApiError> {
    let client = authenticate(app, &parts.headers, Some(client_id)).await?;
    Ok(response::json(StatusCode::OK, &record_view(&client)))
}

fn record_view(client: &ClientRecord) -> Value {
    json!({
        "client_id": client.client_id,
        "name": client.name,
        "client_id_issued_at": client.created_at,
        "jwks": client.jwks.to_value(),
        "webhook": super::webhooks::public_view(&client.webhook),
    })
}

/// `DELETE /v1/clients/{id}`: removes the client and its mailboxes.
pub(crate) async fn delete(
    app: &App,
    parts: &Parts,
    client_id: &str,
) -> Result<HttpResponse, ApiError> {
    authenticate(app, &parts.headers, Some(client_id)).await?;
    if !app.store.delete_client(client_id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(client = %short(client_id), "client deleted");
    Ok(response::empty(StatusCode::NO_CONTENT, Caching::Unstated))
}

fn parse_jwks(value: &Value) -> Result<Jwks, ApiError> {
    Jwks::from_value(value)
        .map_err(|error| ApiError::InvalidClientMetadata(format!("jwks: {error}")))
}

/// The first characters of an id: enough to follow one in logs, too few to use it.
pub(crate) fn short(id: &str) -> &str {
    id.get(..6).unwrap_or(id)
}
