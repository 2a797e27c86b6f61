#![doc = include_str!("../README.md")]

mod app;
pub mod credentials;
mod error;
mod http;
mod idtoken;
mod phone;
mod proxy;
pub mod push;
pub mod qr;
mod retry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;

pub use app::{AppClient, PendingSignIn, ReceivedToken, Registration, public_jwks};
pub use error::{Error, Result};
pub use http::{HttpClient, Proxies, Transport, TransportResult, tls_client_config};
pub use idtoken::{Expected, IdTokenClaims, IssuerKeys, verify_id_token};
pub use phone::{DECLINE_PLAINTEXT, Deposited, Phone};
pub use push::{
    DeviceRegistration, MAX_BINDING_MESSAGE_CHARS, MAX_CLIENT_NAME_CHARS, PushDevice, PushedSignIn,
};
pub use sealgate_crypto;
