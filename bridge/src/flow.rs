//! One sign-in from start to end: open a gateway mailbox, wait for the phone's envelope,
//! open it, check its binding, verify the token inside against the trusted issuers, and only
//! then issue the website a code. Any failure ends the sign-in as denied, with the reason in
//! the log (never the token).

use std::sync::Arc;

use sealgate_client::sealgate_crypto::random_token;
use sealgate_client::{Error as SdkError, PendingSignIn};

use crate::app::Bridge;
use crate::authorize::{AuthorizeRequest, redirect_url};
use crate::claims::user_claims;
use crate::state::{Full, Grant, SignIn, Status};

/// Why a sign-in could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartSignInError {
    /// The gateway refused or could not be reached.
    #[error("the gateway: {0}")]
    Gateway(#[from] SdkError),
    /// Too many sign-ins in progress.
    #[error(transparent)]
    Full(#[from] Full),
}

/// Opens a mailbox for `request`, keeps the sign-in under a new id bound to `cookie`, and
/// follows it in the background. Returns the new sign-in's id.
pub async fn start(
    bridge: &Arc<Bridge>,
    request: AuthorizeRequest,
    cookie: String,
) -> Result<String, StartSignInError> {
    let pending = bridge
        .gateway
        .open_mailbox(Some(bridge.signin_ttl()))
        .await?;
    let id = random_token::<16>();
    let signin = Arc::new(SignIn::new(
        request,
        cookie,
        pending.uri(),
        pending.expires_at(),
    ));
    if let Err(full) = bridge
        .state
        .add_signin(id.clone(), signin.clone(), now_secs())
    {
        let _ = bridge.gateway.cancel(pending.mailbox_id()).await;
        return Err(full.into());
    }
    tokio::spawn(follow(bridge.clone(), signin, pending));
    Ok(id)
}

/// Waits for the phone, or for the sign-in to end otherwise (the user cancelled).
async fn follow(bridge: Arc<Bridge>, signin: Arc<SignIn>, pending: PendingSignIn) {
    let mailbox_id = pending.mailbox_id().to_owned();
    let nonce = pending.nonce().to_owned();
    let mut status = signin.status.subscribe();
    let received = tokio::select! {
        received = bridge.gateway.wait_for_token(pending) => received,
        () = async { let _ = status.wait_for(|s| *s != Status::Waiting).await; } => {
            if let Err(error) = bridge.gateway.cancel(&mailbox_id).await {
                tracing::debug!(%error, "cancelling the mailbox of an ended sign-in");
            }
            return;
        }
    };
    let outcome = match received {
        Ok(token) => approve(&bridge, &signin, token.as_str(), &nonce).await,
        Err(SdkError::Expired | SdkError::MailboxNotFound) => Status::Expired,
        Err(error) => {
            tracing::warn!(client_id = %signin.request.client_id, reason = %error, "sign-in denied: the envelope was refused");
            Status::Denied
        }
    };
    signin.finish(outcome);
}

/// Verifies the phone's token and issues the code; the status the sign-in ends with.
async fn approve(bridge: &Bridge, signin: &SignIn, token: &str, nonce: &str) -> Status {
    let request = &signin.request;
    let phone = match bridge
        .issuers
        .verify(token, bridge.gateway.client_id(), nonce)
        .await
    {
        Ok(claims) => claims,
        Err(error) => {
            tracing::warn!(client_id = %request.client_id, reason = %error, "sign-in denied: the phone's token was refused");
            return Status::Denied;
        }
    };
    let grant = Grant {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        claims: user_claims(&phone, &request.scope),
        auth_time: now_secs(),
    };
    let code = random_token::<32>();
    if bridge.state.add_code(code.clone(), grant).is_err() {
        tracing::warn!(client_id = %request.client_id, "sign-in denied: too many unredeemed codes");
        return Status::Denied;
    }
    tracing::info!(client_id = %request.client_id, "sign-in approved");
    Status::Approved(redirect_url(
        &request.redirect_uri,
        &[("code", &code)],
        request.state.as_deref(),
        &bridge.config.issuer,
    ))
}

/// The URL that tells the website the sign-in was refused (`access_denied`).
pub fn denied_url(bridge: &Bridge, request: &AuthorizeRequest, description: &str) -> String {
    redirect_url(
        &request.redirect_uri,
        &[
            ("error", "access_denied"),
            ("error_description", description),
        ],
        request.state.as_deref(),
        &bridge.config.issuer,
    )
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
