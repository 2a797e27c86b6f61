//! `/v1/clients/{client_id}/devices` and `/v1/push/key`: a phone registers its Web Push
//! subscription for one client (unauthenticated, rate limited per address), and later
//! replaces or deletes it with the device secret it was given; anyone reads the VAPID key to
//! subscribe with.

use std::net::IpAddr;

use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::HttpResponse;
use crate::app::App;
use crate::clock::rfc3339;
use crate::http::auth::bearer_token;
use crate::http::body::{parse_json, require_content_type};
use crate::http::error::ApiError;
use crate::http::response::{self, Caching};
use crate::push::Push;
use crate::store::{DeviceKey, DeviceRecord, DeviceSecretHash, PushSubscription, RegisterOutcome};
use crate::webhook::ssrf::{self, MAX_URL_LEN, UrlError};
use sealgate_crypto::random_token;
use sealgate_crypto::webpush::{PushSubscriptionKeys, endpoint_origin};

/// How long the VAPID key may be cached, seconds.
const VAPID_KEY_MAX_AGE_SECS: u32 = 3600;

/// The prefix of every device handle.
pub(crate) const HANDLE_PREFIX: &str = "dh_";
/// The prefix of every device secret.
const SECRET_PREFIX: &str = "dsec_";

/// `PushSubscription.toJSON()`: the members the gateway reads (others are ignored).
#[derive(Deserialize)]
struct SubscriptionJson {
    endpoint: String,
    keys: SubscriptionKeysJson,
}

#[derive(Deserialize)]
struct SubscriptionKeysJson {
    p256dh: String,
    auth: String,
}

/// The answer to a registration or a replacement.
#[derive(Serialize)]
struct Registered<'a> {
    device_handle: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_secret: Option<&'a str>,
    expires_at: String,
    idle_timeout_secs: u64,
}

fn push_of(app: &App) -> Result<&Push, ApiError> {
    app.push.as_ref().ok_or(ApiError::PushDisabled)
}

/// `GET /v1/push/key`: the VAPID public key, cacheable.
pub(crate) fn vapid_key(app: &App) -> Result<HttpResponse, ApiError> {
    let push = push_of(app)?;
    let body = json!({ "vapid_public_key": push.public_key() }).to_string();
    Ok(response::response(
        StatusCode::OK,
        Some("application/json"),
        Caching::Public {
            max_age_secs: VAPID_KEY_MAX_AGE_SECS,
        },
        Bytes::from(body),
    ))
}

/// `POST /v1/clients/{client_id}/devices`: registers a subscription; the secret is shown once.
pub(crate) async fn register(
    app: &App,
    parts: &Parts,
    client_id: &str,
    peer: IpAddr,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let push = push_of(app)?;
    super::within_rate(
        app,
        app.device_limiter.check(&peer),
        "device_registration_rate",
        "too many device registrations from this address; slow down",
    )?;
    if app.store.client(client_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let subscription = checked_subscription(app, parts, &body).await?;
    let handle = format!("{HANDLE_PREFIX}{}", random_token::<16>());
    let secret = zeroize::Zeroizing::new(format!("{SECRET_PREFIX}{}", random_token::<32>()));
    let device = DeviceRecord {
        handle,
        client_id: client_id.to_owned(),
        subscription,
        secret_hash: DeviceSecretHash::of(&secret),
        expires_at_ms: push.idle_expiry_ms(),
    };
    let max = app.config.push.max_devices;
    if app.store.register_device(&device, max).await? == RegisterOutcome::LimitReached {
        app.metrics.limited.with_label_values(&["devices"]).inc();
        return Err(ApiError::TooManyDevices);
    }
    app.metrics.devices_registered.inc();
    tracing::debug!("device registered");
    answer(StatusCode::CREATED, push, &device, Some(&secret))
}

/// `PUT /v1/clients/{client_id}/devices/{handle}`: replaces the subscription, with the secret.
pub(crate) async fn update(
    app: &App,
    parts: &Parts,
    (client_id, handle): (&str, &str),
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let push = push_of(app)?;
    let secret = presented_secret(&parts.headers)?;
    let subscription = checked_subscription(app, parts, &body).await?;
    let device = DeviceRecord {
        handle: handle.to_owned(),
        client_id: client_id.to_owned(),
        subscription,
        secret_hash: secret,
        expires_at_ms: push.idle_expiry_ms(),
    };
    if !app.store.update_device(&device).await? {
        return Err(ApiError::NotFound);
    }
    answer(StatusCode::OK, push, &device, None)
}

/// `DELETE /v1/clients/{client_id}/devices/{handle}`: removes the registration, with the secret.
pub(crate) async fn delete(
    app: &App,
    parts: &Parts,
    (client_id, handle): (&str, &str),
) -> Result<HttpResponse, ApiError> {
    push_of(app)?;
    let secret = presented_secret(&parts.headers)?;
    let key = DeviceKey { client_id, handle };
    if !app.store.delete_device(key, &secret).await? {
        return Err(ApiError::NotFound);
    }
    Ok(response::empty(StatusCode::NO_CONTENT, Caching::NoStore))
}

fn answer(
    status: StatusCode,
    push: &Push,
    device: &DeviceRecord,
    secret: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let registered = Registered {
        device_handle: &device.handle,
        device_secret: secret,
        expires_at: rfc3339(device.expires_at_ms),
        idle_timeout_secs: push.idle_secs(),
    };
    let body = zeroize::Zeroizing::new(
        serde_json::to_vec(&registered).expect("strings and numbers serialize"),
    );
    Ok(response::response(
        status,
        Some("application/json"),
        Caching::NoStore,
        Bytes::copy_from_slice(&body),
    ))
}

/// The hash of `Authorization: Bearer dsec_…`. A missing header is 401; a token of another
/// form can match no registration, so it is answered as a wrong secret is (404).
fn presented_secret(headers: &http::HeaderMap) -> Result<DeviceSecretHash, ApiError> {
    let token = bearer_token(headers).ok_or(ApiError::MissingDeviceSecret)?;
    if !token.starts_with(SECRET_PREFIX) {
        return Err(ApiError::NotFound);
    }
    Ok(DeviceSecretHash::of(token))
}

/// Reads and checks a subscription: its keys are a P-256 point and a 16-octet secret, its
/// endpoint an origin the VAPID `aud` can name, allowed by the webhook address policy (form,
/// port, and every address its host resolves to).
async fn checked_subscription(
    app: &App,
    parts: &Parts,
    body: &[u8],
) -> Result<PushSubscription, ApiError> {
    require_content_type(&parts.headers, "application/json")?;
    let json: SubscriptionJson = parse_json(body)?;
    PushSubscriptionKeys::from_base64url(&json.keys.p256dh, &json.keys.auth).map_err(|error| {
        ApiError::InvalidRequest(format!("the subscription's keys are not usable: {error}"))
    })?;
    if json.endpoint.len() > MAX_URL_LEN || endpoint_origin(&json.endpoint).is_err() {
        return Err(ApiError::InvalidRequest(format!(
            "endpoint must be an absolute https:// URL with a lower-case host, at most {MAX_URL_LEN} characters"
        )));
    }
    let policy = ssrf::Policy::from_config(&app.config.webhooks);
    ssrf::check(&json.endpoint, &policy)
        .await
        .map_err(|error| ApiError::InvalidRequest(endpoint_refusal(&error)))?;
    Ok(PushSubscription {
        endpoint: json.endpoint,
        p256dh: json.keys.p256dh,
        auth: json.keys.auth,
    })
}

/// Why an endpoint was refused, in the words of the device API.
fn endpoint_refusal(error: &UrlError) -> String {
    match error {
        UrlError::Malformed | UrlError::UserInfo => {
            "endpoint must be an absolute https:// URL with a host and no user information".into()
        }
        UrlError::Insecure => {
            "endpoint must use https (this gateway does not allow insecure endpoints)".into()
        }
        UrlError::Unresolvable => "endpoint's host does not resolve".into(),
        UrlError::ForbiddenAddress => "endpoint's host resolves to a loopback, private, link-local or otherwise non-public address".into(),
        UrlError::ForbiddenPort(allowed) => {
            format!("endpoint's port is not one this gateway pushes to (allowed: {allowed})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    #[test]
    fn bearer_secrets_are_read_or_refused() {
        let with = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            presented_secret(&headers)
        };
        assert!(matches!(
            presented_secret(&http::HeaderMap::new()),
            Err(ApiError::MissingDeviceSecret)
        ));
        assert!(matches!(
            with("Bearer "),
            Err(ApiError::MissingDeviceSecret)
        ));
        assert!(matches!(
            with("Basic abc"),
            Err(ApiError::MissingDeviceSecret)
        ));
        assert!(matches!(with("Bearer abc"), Err(ApiError::NotFound)));
        let hash = with("bearer dsec_abc").unwrap();
        assert!(hash.matches(&DeviceSecretHash::of("dsec_abc")));
    }
}
