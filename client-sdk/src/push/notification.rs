//! Opening a push message: decrypt it (RFC 8291), parse its JSON payload strictly, and check
//! the sign-in request in it as a scanned QR code is checked, plus that it comes from the
//! website this device registered with.
//!
//! The payload, as the gateway sends it:
//! `{"v": 1, "signin_request": "sealgate:signin?…", "client_name": "…", "binding_message": "…"}`
//! (`binding_message` optional).

use sealgate_crypto::SignInRequest;
use sealgate_crypto::webpush;
use serde::Deserialize;

use super::PushDevice;
use crate::error::{Error, Result};
use crate::http::now_secs;

/// The payload version this SDK reads.
const PAYLOAD_VERSION: u64 = 1;
/// The longest website name the gateway registers, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;
/// The longest binding message the gateway sends, in characters.
pub const MAX_BINDING_MESSAGE_CHARS: usize = 64;

/// A sign-in request that came by push: checked, ready to show and answer with
/// [`crate::Phone::send_to`] or [`crate::Phone::decline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedSignIn {
    /// The sign-in request, parsed strictly and not expired (the key thumbprint is checked
    /// when the phone seals, as for a scanned code).
    pub request: SignInRequest,
    /// The website's display name, as registered at the gateway: show it.
    pub client_name: String,
    /// The short text the website shows beside its sign-in (CIBA's binding message), when it
    /// sent one: show it, so the user can tell this sign-in from another.
    pub binding_message: Option<String>,
}

/// The decrypted payload, exactly these members.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    v: u64,
    signin_request: String,
    client_name: String,
    #[serde(default)]
    binding_message: Option<String>,
}

impl PushDevice {
    /// Opens a push message body (`Content-Encoding: aes128gcm`) sent to this device, at the
    /// current time: see [`PushDevice::open_notification_at`].
    pub fn open_notification(&self, body: &[u8]) -> Result<PushedSignIn> {
        self.open_notification_at(body, now_secs())
    }

    /// Opens a push message body at `now` (seconds since the epoch): decrypts it with this
    /// device's key and auth secret ([`Error::PushMessage`] for any change to the body), reads
    /// the payload strictly ([`Error::PushPayload`]: unknown members, another version, a name
    /// or binding message that is empty, too long, or holds control or bidirectional-override
    /// characters), parses the sign-in request like a scanned one ([`Error::Expired`],
    /// [`Error::SignInRequest`]), and refuses a request for any other gateway or client than
    /// the one this device registered with ([`Error::PushFromAnotherWebsite`]).
    pub fn open_notification_at(&self, body: &[u8], now: u64) -> Result<PushedSignIn> {
        let registration = self
            .registration
            .as_ref()
            .ok_or(Error::DeviceNotRegistered)?;
        let plaintext = webpush::decrypt(&self.key, &self.auth, body)?;
        let payload: Payload = serde_json::from_slice(&plaintext)
            .map_err(|e| Error::PushPayload(format!("not the payload JSON: {e}")))?;
        if payload.v != PAYLOAD_VERSION {
            return Err(Error::PushPayload(format!(
                "version {} (this phone reads {PAYLOAD_VERSION})",
                payload.v
            )));
        }
        check_display_text("client_name", &payload.client_name, MAX_CLIENT_NAME_CHARS)?;
        if let Some(message) = &payload.binding_message {
            check_display_text("binding_message", message, MAX_BINDING_MESSAGE_CHARS)?;
        }
        let request =
            SignInRequest::parse(&payload.signin_request, now).map_err(|error| match error {
                sealgate_crypto::SignInRequestError::Expired { .. } => Error::Expired,
                other => Error::SignInRequest(other),
            })?;
        if request.gateway() != registration.gateway
            || request.client_id() != registration.client_id
        {
            return Err(Error::PushFromAnotherWebsite);
        }
        Ok(PushedSignIn {
            request,
            client_name: payload.client_name,
            binding_message: payload.binding_message,
        })
    }
}

/// Refuses text that a phone could not show faithfully: empty, longer than `max` characters,
/// or with control characters (a terminal's escape sequences among them) or the
/// bidirectional overrides and isolates that make text read other than it is.
fn check_display_text(member: &str, text: &str, max: usize) -> Result<()> {
    let misleading =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if text.trim().is_empty() || text.chars().count() > max || text.chars().any(misleading) {
        return Err(Error::PushPayload(format!(
            "{member} must be 1 to {max} printable characters"
        )));
    }
    Ok(())
}
