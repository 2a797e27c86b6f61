//! The one error type of the SDK, with a variant for each thing a caller may handle.

use std::time::Duration;

use sealgate_crypto::webpush::WebPushError;
use sealgate_crypto::{BindingError, EnvelopeError, JwkError, SealError, SignInRequestError};

/// What went wrong talking to a gateway, sealing, or opening.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gateway could not be reached or the connection broke.
    #[error("cannot reach the gateway: {0}")]
    Transport(String),
    /// The gateway answered with an error this SDK has no better variant for.
    #[error("the gateway answered {status}: {detail}")]
    Gateway {
        /// HTTP status.
        status: u16,
        /// The problem `type`, when the answer was problem+json.
        problem_type: Option<String>,
        /// The problem `detail`, or the body.
        detail: String,
    },
    /// The gateway answered something that does not follow the API.
    #[error("unexpected answer from the gateway: {0}")]
    Protocol(String),
    /// The client id or secret was refused.
    #[error("the gateway refused the client credentials")]
    Unauthorized,
    /// No such mailbox: unknown, expired, cancelled, or already consumed.
    #[error("no such mailbox (unknown, expired, cancelled or already consumed)")]
    MailboxNotFound,
    /// The mailbox already holds a different envelope: someone else answered this sign-in
    /// request first. A phone reports it to the user as a possibly hijacked sign-in, to start
    /// over from a fresh request.
    #[error(
        "the mailbox already holds a different envelope: someone else answered this sign-in request first (a possibly hijacked sign-in; start over)"
    )]
    MailboxConflict,
    /// The envelope is larger than the gateway accepts.
    #[error("the envelope is larger than the gateway accepts")]
    PayloadTooLarge,
    /// A limit of the gateway was hit and the deadline left no time to wait it out.
    #[error("the gateway is rate limiting; retry after {retry_after:?}")]
    RateLimited {
        /// How long the gateway asked to wait.
        retry_after: Duration,
    },
    /// The sign-in request expired before a token arrived (app) or was sent (phone).
    #[error("the sign-in request expired")]
    Expired,
    /// The sign-in request URI is malformed.
    #[error("invalid sign-in request: {0}")]
    SignInRequest(#[from] SignInRequestError),
    /// The gateway serves no key with the thumbprint the sign-in request vouches for: it may
    /// be trying to substitute its own key. Nothing was sealed or sent.
    #[error(
        "the gateway serves no key with the thumbprint the sign-in request vouches for; refusing to seal"
    )]
    KeyNotVouched,
    /// The gateway returned a sign-in request that does not match what the app asked for.
    #[error("the gateway's sign-in request does not match this app's key, client or mailbox")]
    SignInRequestMismatch,
    /// The push message does not decrypt with this device's keys, or is not one well-formed
    /// `aes128gcm` record: changed on the way, or sent to another subscription.
    #[error("push message: {0}")]
    PushMessage(#[from] WebPushError),
    /// The push message decrypted, but its payload is not a sign-in notification this phone
    /// reads (not the JSON members, another version, unshowable text).
    #[error("push payload: {0}")]
    PushPayload(String),
    /// The pushed sign-in request names another gateway or website than the one this device
    /// registered with. Nothing was shown or sent.
    #[error(
        "the pushed sign-in request is for another gateway or website than this device registered with; refusing it"
    )]
    PushFromAnotherWebsite,
    /// The device has no registration with a gateway yet (register it first).
    #[error("the device is not registered with a gateway")]
    DeviceNotRegistered,
    /// The gateway knows no such device registration for this website: deleted, expired
    /// after being idle, dropped because the push service said the endpoint is gone, or the
    /// device secret is not its own.
    #[error("the gateway knows no such device registration (deleted, expired or not ours)")]
    RegistrationNotFound,
    /// The gateway knows no such client (website).
    #[error("the gateway knows no such client")]
    UnknownClient,
    /// The envelope could not be parsed or opened.
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The envelope was sealed for another client or mailbox, or expired: it was moved or
    /// replayed.
    #[error("envelope binding: {0}")]
    Binding(#[from] BindingError),
    /// The token could not be sealed.
    #[error("seal: {0}")]
    Seal(#[from] SealError),
    /// A key or key set is unusable.
    #[error("key: {0}")]
    Jwk(#[from] JwkError),
    /// The ID token failed verification.
    #[error("ID token: {0}")]
    IdToken(String),
    /// The opened plaintext is not UTF-8 text.
    #[error("the opened token is not UTF-8 text")]
    NotText,
    /// A URL given to the SDK is not usable.
    #[error("invalid URL `{0}`")]
    InvalidUrl(String),
}

/// A result with the SDK's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
