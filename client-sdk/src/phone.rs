//! The phone side: parse the sign-in request, check the app's key, seal, deposit.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_crypto::{Binding, Jwks, SealOptions, SignInRequest};

use crate::error::{Error, Result};
use crate::http::{HttpClient, now_secs, request};
use crate::retry::{Attempt, Backoff, retry};

/// Time allowed for one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff between deposit attempts: from 250 ms, doubling up to 4 s, six attempts at most.
const DEPOSIT_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(250),
    max_step: Duration::from_secs(4),
    max_failures: Some(6),
};

/// The plaintext a phone seals instead of a token when the user declines a sign-in: sealed and
/// deposited like a token, with the same header, so the gateway cannot read which it is. The
/// envelope is shorter than one holding an ID token, though: envelopes are not padded, so its
/// length tells a refusal from an approval (docs/web-push.md, "What each party learns").
pub const DECLINE_PLAINTEXT: &[u8] = br#"{"declined":true}"#;

/// What a successful deposit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deposited {
    /// The envelope is in the mailbox (201).
    Stored,
    /// It was there already: an earlier attempt had succeeded (200).
    AlreadyStored,
}

/// The phone's side of a sign-in.
#[derive(Clone)]
pub struct Phone {
    pub(crate) http: HttpClient,
}

impl Phone {
    /// A phone trusting the system's root certificates.
    pub fn new() -> Result<Self> {
        Ok(Self {
            http: HttpClient::new()?,
        })
    }

    /// A phone using `http` (for extra trusted roots).
    pub fn with_http(http: HttpClient) -> Self {
        Self { http }
    }

    /// Sends `token` to the app that showed `uri`: parses the request strictly, fetches the
    /// app's JWKS from the gateway, refuses unless a key has the thumbprint the request vouches
    /// for, seals the token bound to the client, mailbox and expiry, and deposits it — retrying
    /// the same envelope (an idempotent retry) on connection failures, 429 and 503.
    pub async fn send(&self, uri: &str, token: &[u8]) -> Result<Deposited> {
        let request = SignInRequest::parse(uri, now_secs()).map_err(|error| match error {
            sealgate_crypto::SignInRequestError::Expired { .. } => Error::Expired,
            other => Error::SignInRequest(other),
        })?;
        self.send_to(&request, token).await
    }

    /// Like [`Phone::send`], for a request already parsed (a pushed one, say).
    pub async fn send_to(&self, signin: &SignInRequest, token: &[u8]) -> Result<Deposited> {
        self.seal_and_deposit(signin, token).await
    }

    /// Answers the sign-in request with a refusal: seals [`DECLINE_PLAINTEXT`] exactly as
    /// [`Phone::send_to`] seals a token (the same key check, binding and retries) and deposits
    /// it. The app's SDK reports it as a declined sign-in.
    pub async fn decline(&self, signin: &SignInRequest) -> Result<Deposited> {
        self.seal_and_deposit(signin, DECLINE_PLAINTEXT).await
    }

    async fn seal_and_deposit(
        &self,
        signin: &SignInRequest,
        plaintext: &[u8],
    ) -> Result<Deposited> {
        let jwks = self.fetch_jwks(signin).await?;
        let key = jwks
            .find(signin.key_thumbprint())
            .ok_or(Error::KeyNotVouched)?;
        let binding =
            Binding::to_mailbox(signin.client_id(), signin.mailbox_id(), signin.expires_at());
        let envelope = sealgate_crypto::seal(key, plaintext, &SealOptions::for_token(binding))?;
        let body = Bytes::from(envelope.into_string());
        let url = signin.mailbox_url();
        retry("deposit", &DEPOSIT_BACKOFF, signin.expires_at(), || {
            self.deposit_once(&url, &body)
        })
        .await
    }

    /// One `PUT` of the sealed envelope to the mailbox.
    async fn deposit_once(&self, url: &str, body: &Bytes) -> Attempt<Deposited> {
        let req = match request(Method::PUT, url, Some("application/jose"), body.clone()) {
            Ok(req) => req,
            Err(error) => return Attempt::Done(Err(error)),
        };
        match self.http.send(req, REQUEST_TIMEOUT).await {
            Ok(reply) => match reply.status {
                StatusCode::CREATED => Attempt::Done(Ok(Deposited::Stored)),
                StatusCode::OK => Attempt::Done(Ok(Deposited::AlreadyStored)),
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    Attempt::Failed {
                        retry_after: reply.retry_after(),
                        error: reply.into_error(),
                    }
                }
                _ => Attempt::Done(Err(reply.into_error())),
            },
            Err(error @ Error::Transport(_)) => Attempt::Failed {
                retry_after: None,
                error,
            },
            Err(error) => Attempt::Done(Err(error)),
        }
    }

    async fn fetch_jwks(&self, signin: &SignInRequest) -> Result<Jwks> {
        let req = request(Method::GET, &signin.jwks_url(), None, Bytes::new())?;
        let reply = self.http.send(req, REQUEST_TIMEOUT).await?;
        if reply.status != StatusCode::OK {
            return Err(match reply.into_error() {
                Error::MailboxNotFound => {
                    Error::Protocol("the gateway knows no such client".into())
                }
                other => other,
            });
        }
        Ok(Jwks::from_value(&reply.json()?)?)
    }
}
