//! The device's registration with one website at the gateway: `POST`, `PUT` and `DELETE` on
//! `/v1/clients/{client_id}/devices`, and `GET /v1/push/key` for the VAPID key a phone
//! subscribes with.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use sealgate_crypto::SignInRequest;
use sealgate_crypto::webpush::{PUBLIC_KEY_LEN, PushSubscriptionKeys};
use serde::Deserialize;
use zeroize::{Zeroize as _, Zeroizing};

use super::PushDevice;
use crate::Phone;
use crate::error::{Error, Result};
use crate::http::{Reply, base_url, request};

/// Time allowed for one registration request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters of a device handle after `dh_`: 128 bits of base64url.
const HANDLE_CHARS: usize = 22;
/// Characters of a device secret after `dsec_`: 256 bits of base64url.
const SECRET_CHARS: usize = 43;

/// A device's registration with one website: where it was made, the handle the website may
/// learn (in the ID token's `sealgate_device` claim), and the secret that alone can update or
/// delete it. `Debug` never shows the secret.
#[derive(Clone)]
pub struct DeviceRegistration {
    pub(super) gateway: String,
    pub(super) client_id: String,
    pub(super) endpoint: String,
    pub(super) handle: String,
    pub(super) secret: Zeroizing<String>,
    pub(super) expires_at: String,
    pub(super) idle_timeout_secs: u64,
}

impl std::fmt::Debug for DeviceRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRegistration")
            .field("gateway", &self.gateway)
            .field("client_id", &self.client_id)
            .field("endpoint", &self.endpoint)
            .field("handle", &self.handle)
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .finish()
    }
}

impl DeviceRegistration {
    /// The gateway's base URL.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }
    /// The website (client) this registration is for.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The push endpoint the gateway sends to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
    /// The device handle, `dh_…`: the phone puts it in the ID token for this website only.
    pub fn handle(&self) -> &str {
        &self.handle
    }
    /// The device secret, `dsec_…`, for [`PushDevice::update`] and [`PushDevice::delete`].
    pub fn secret(&self) -> &str {
        &self.secret
    }
    /// When the registration expires unless used, RFC 3339, as the gateway last said.
    pub fn expires_at(&self) -> &str {
        &self.expires_at
    }
    /// How long the registration lives unused, in seconds; every notification renews it.
    pub fn idle_timeout_secs(&self) -> u64 {
        self.idle_timeout_secs
    }

    fn url(&self) -> String {
        format!(
            "{}/v1/clients/{}/devices/{}",
            self.gateway, self.client_id, self.handle
        )
    }
}

/// The gateway's answer to `POST` (all members) and `PUT` (no secret).
#[derive(Deserialize)]
struct Answer {
    device_handle: String,
    device_secret: Option<String>,
    expires_at: String,
    idle_timeout_secs: u64,
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(secret) = self.device_secret.as_mut() {
            secret.zeroize();
        }
    }
}

impl PushDevice {
    /// The gateway's VAPID public key (65 bytes, an uncompressed P-256 point), from
    /// `GET /v1/push/key`: a phone hands it to its push service as the `applicationServerKey`
    /// when it subscribes, so that only this gateway can push to the subscription.
    pub async fn vapid_key(phone: &Phone, gateway: &str) -> Result<[u8; PUBLIC_KEY_LEN]> {
        let url = format!("{}/v1/push/key", base_url(gateway)?);
        let reply = send(phone, Method::GET, &url, None, Bytes::new()).await?;
        if reply.status != StatusCode::OK {
            return Err(reply.into_error());
        }
        let key = reply.json()?["vapid_public_key"]
            .as_str()
            .and_then(|text| sealgate_crypto::base64url::decode(text).ok())
            .and_then(|bytes| <[u8; PUBLIC_KEY_LEN]>::try_from(bytes).ok())
            // A valid point, checked the way a subscription's p256dh is.
            .filter(|point| PushSubscriptionKeys::new(*point, [0; 16]).is_ok())
            .ok_or_else(|| Error::Protocol("vapid_public_key is not a P-256 point".into()))?;
        Ok(key)
    }

    /// Registers this subscription, with the push service's `endpoint`, for the website that
    /// showed `signin` (its gateway and client): `POST /v1/clients/{client_id}/devices`.
    /// Keeps and returns the registration; a registration made before is replaced (the old one
    /// stays at the gateway until it expires or is deleted: [`PushDevice::delete`] it first).
    pub async fn register(
        &mut self,
        phone: &Phone,
        signin: &SignInRequest,
        endpoint: &str,
    ) -> Result<&DeviceRegistration> {
        let endpoint = push_endpoint(endpoint)?;
        let url = format!(
            "{}/v1/clients/{}/devices",
            signin.gateway(),
            signin.client_id()
        );
        let body = self.subscription_body(&endpoint);
        let reply = send(phone, Method::POST, &url, None, body).await?;
        match reply.status {
            StatusCode::CREATED => {}
            StatusCode::NOT_FOUND => return Err(Error::UnknownClient),
            _ => return Err(reply.into_error()),
        }
        let answer = parse_answer(&reply)?;
        let secret = answer
            .device_secret
            .as_deref()
            .filter(|secret| has_form(secret, "dsec_", SECRET_CHARS))
            .map(|secret| Zeroizing::new(secret.to_owned()))
            .ok_or_else(|| Error::Protocol("device_secret is missing or malformed".into()))?;
        Ok(self.registration.insert(DeviceRegistration {
            gateway: signin.gateway().to_owned(),
            client_id: signin.client_id().to_owned(),
            endpoint,
            handle: answer.device_handle.clone(),
            secret,
            expires_at: answer.expires_at.clone(),
            idle_timeout_secs: answer.idle_timeout_secs,
        }))
    }

    /// Replaces the registered subscription's endpoint (and sends the keys again):
    /// `PUT /v1/clients/{client_id}/devices/{handle}` with the device secret. A push service
    /// that hands out a new endpoint needs this; the handle stays the same.
    pub async fn update(&mut self, phone: &Phone, endpoint: &str) -> Result<&DeviceRegistration> {
        let endpoint = push_endpoint(endpoint)?;
        let body = self.subscription_body(&endpoint);
        let registration = self
            .registration
            .as_mut()
            .ok_or(Error::DeviceNotRegistered)?;
        let url = registration.url();
        let bearer = Some(registration.secret.as_str());
        let reply = send(phone, Method::PUT, &url, bearer, body).await?;
        match reply.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(Error::RegistrationNotFound),
            _ => return Err(reply.into_error()),
        }
        let answer = parse_answer(&reply)?;
        if answer.device_handle != registration.handle {
            return Err(Error::Protocol(
                "the gateway changed the device handle".into(),
            ));
        }
        registration.endpoint = endpoint;
        registration.expires_at = answer.expires_at.clone();
        registration.idle_timeout_secs = answer.idle_timeout_secs;
        Ok(registration)
    }

    /// Deletes the registration at the gateway (`DELETE …/devices/{handle}` with the device
    /// secret) and forgets it; the key pair stays. A registration the gateway no longer knows
    /// (expired, deleted, or the push service reported the endpoint gone) is forgotten too,
    /// with [`Error::RegistrationNotFound`].
    pub async fn delete(&mut self, phone: &Phone) -> Result<()> {
        let registration = self
            .registration
            .as_ref()
            .ok_or(Error::DeviceNotRegistered)?;
        let url = registration.url();
        let bearer = Some(registration.secret.as_str());
        let reply = send(phone, Method::DELETE, &url, bearer, Bytes::new()).await?;
        match reply.status {
            StatusCode::NO_CONTENT | StatusCode::OK => {
                self.registration = None;
                Ok(())
            }
            StatusCode::NOT_FOUND => {
                self.registration = None;
                Err(Error::RegistrationNotFound)
            }
            _ => Err(reply.into_error()),
        }
    }

    fn subscription_body(&self, endpoint: &str) -> Bytes {
        Bytes::from(self.subscription_json(endpoint).to_string())
    }
}

/// Sends one registration request, JSON when it has a body, with the device secret as a
/// Bearer token when given.
async fn send(
    phone: &Phone,
    method: Method,
    url: &str,
    bearer: Option<&str>,
    body: Bytes,
) -> Result<Reply> {
    let content_type = (!body.is_empty()).then_some("application/json");
    let mut req = request(method, url, content_type, body)?;
    if let Some(secret) = bearer {
        let mut value = HeaderValue::from_str(&format!("Bearer {secret}"))
            .map_err(|_| Error::Protocol("the device secret is not a header value".into()))?;
        value.set_sensitive(true);
        req.headers_mut().insert(header::AUTHORIZATION, value);
    }
    phone.http.send(req, REQUEST_TIMEOUT).await
}

fn parse_answer(reply: &Reply) -> Result<Answer> {
    let answer: Answer = serde_json::from_slice(&reply.body)
        .map_err(|e| Error::Protocol(format!("device registration answer: {e}")))?;
    if !has_form(&answer.device_handle, "dh_", HANDLE_CHARS) {
        return Err(Error::Protocol("device_handle is malformed".into()));
    }
    Ok(answer)
}

/// Whether `value` is `prefix` followed by exactly `chars` base64url characters.
fn has_form(value: &str, prefix: &str, chars: usize) -> bool {
    value.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == chars
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A push endpoint: an absolute `https://` (or, for loopback stand-ins, `http://`) URL with a
/// host. Whether the gateway accepts it is the gateway's policy (its SSRF settings).
fn push_endpoint(endpoint: &str) -> Result<String> {
    let invalid = || Error::InvalidUrl(endpoint.to_owned());
    let uri: http::Uri = endpoint.parse().map_err(|_| invalid())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("https" | "http"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) || endpoint.len() > 1024 {
        return Err(invalid());
    }
    Ok(endpoint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_secrets_and_endpoints_are_checked() {
        let handle = format!("dh_{}", "A".repeat(HANDLE_CHARS));
        assert!(has_form(&handle, "dh_", HANDLE_CHARS));
        assert!(!has_form(&handle[..handle.len() - 1], "dh_", HANDLE_CHARS));
        assert!(!has_form(&handle.replace('A', "+"), "dh_", HANDLE_CHARS));
        assert!(!has_form(
            &handle.replace("dh_", "dx_"),
            "dh_",
            HANDLE_CHARS
        ));
        for good in ["https://push.example.net/s/1", "http://127.0.0.1:9/push"] {
            assert_eq!(push_endpoint(good).unwrap(), good);
        }
        for bad in ["ftp://push.example.net/", "/push", "https://", "not a url"] {
            assert!(
                matches!(push_endpoint(bad), Err(Error::InvalidUrl(_))),
                "{bad}"
            );
        }
    }
}
