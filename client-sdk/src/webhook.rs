//! Receiving webhooks: verify a delivery's Standard Webhooks signature and get the envelope.
//!
//! A minimal receiver, with any HTTP server: pass the three `webhook-*` headers and the raw
//! body (before any JSON parsing) to [`verify_delivery`], answer 2xx when it succeeds, and open
//! the envelope as for a poll.
//!
//! ```
//! use sealgate_client::webhook::{Delivery, verify_delivery};
//! use sealgate_client::sealgate_crypto::webhook::WebhookSecret;
//!
//! # let secret = WebhookSecret::generate();
//! # let body = br#"{"type":"envelope.deposited","timestamp":"2026-11-27T12:00:00Z","data":{"client_id":"c","mailbox_id":"m","envelope":"e.k..c."}}"#;
//! # let now = 1_795_000_000;
//! # let signature = secret.sign("msg_1", now, body);
//! # let timestamp = now.to_string();
//! // In the handler: the secret shown at registration, `whsec_…`.
//! let secrets = [WebhookSecret::parse(&secret.expose())?];
//! let delivery: Delivery =
//!     verify_delivery(&secrets, "msg_1", &timestamp, &signature, body, now)?;
//! assert_eq!(delivery.mailbox_id, "m");
//! // app.open_delivered(&delivery) checks the binding and returns the token.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use sealgate_crypto::webhook::{WebhookError, WebhookSecret, verify};
use serde::Deserialize;

/// A verified delivery: which mailbox, and its envelope (still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The `webhook-id`; the same on every attempt of one delivery, for de-duplication.
    pub id: String,
    /// The client the envelope is for.
    pub client_id: String,
    /// The mailbox it was deposited in.
    pub mailbox_id: String,
    /// The compact JWE.
    pub envelope: String,
}

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The signature or timestamp did not verify.
    #[error("{0}")]
    Signature(#[from] WebhookError),
    /// The body is not an `envelope.deposited` event.
    #[error("the body is not an envelope.deposited event")]
    NotAnEnvelopeEvent,
}

#[derive(Deserialize)]
struct Event {
    r#type: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    client_id: String,
    mailbox_id: String,
    envelope: String,
}

/// Verifies a delivery — timestamp within ±5 minutes of `now` (seconds since the epoch), a
/// `v1` signature by one of `secrets` (several during a rotation), compared in constant time —
/// and returns its envelope.
pub fn verify_delivery(
    secrets: &[WebhookSecret],
    webhook_id: &str,
    webhook_timestamp: &str,
    webhook_signature: &str,
    body: &[u8],
    now: u64,
) -> Result<Delivery, DeliveryError> {
    verify(
        secrets,
        webhook_id,
        webhook_timestamp,
        webhook_signature,
        body,
        now,
    )?;
    let event: Event =
        serde_json::from_slice(body).map_err(|_| DeliveryError::NotAnEnvelopeEvent)?;
    if event.r#type != "envelope.deposited" {
        return Err(DeliveryError::NotAnEnvelopeEvent);
    }
    Ok(Delivery {
        id: webhook_id.to_owned(),
        client_id: event.data.client_id,
        mailbox_id: event.data.mailbox_id,
        envelope: event.data.envelope,
    })
}
