//! Receiving webhooks: verify a delivery's Standard Webhooks signature and get the envelope.
//!
//! A minimal receiver, with any HTTP server: pass the three `webhook-*` headers and the raw
//! body (before any JSON parsing) to [`verify_delivery`], answer 2xx when it succeeds, and open
//! the envelope as for a poll. The event and its check live in `sealgate_crypto::webhook`,
//! shared with the gateway that writes them; they are re-exported here.
//!
//! ```
//! use sealgate_client::webhook::{Delivery, WebhookSecret, verify_delivery};
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

pub use sealgate_crypto::webhook::{Delivery, WebhookError, WebhookSecret, verify_delivery};
