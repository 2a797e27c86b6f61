//! The app receiving its token: the long-poll with its retries, and opening an envelope that
//! came by poll or by webhook.

use std::time::Duration;

use http::{Method, StatusCode};
use sealgate_crypto::Envelope;
use zeroize::Zeroizing;

use super::{
    AppClient, MAX_POLL_WAIT, POLL_BACKOFF, PendingSignIn, REQUEST_TIMEOUT, ReceivedToken,
};
use crate::error::{Error, Result};
use crate::http::now_secs;
use crate::retry::{Attempt, retry};

impl AppClient {
    /// Waits for the phone's token: long-polls (honouring `202` + `Retry-After`, `429`, `503`,
    /// and riding out connection failures such as a gateway restart) until the token arrives or
    /// the request expires; opens the envelope and checks it was sealed for this client and
    /// mailbox and has not expired.
    pub async fn wait_for_token(&self, pending: PendingSignIn) -> Result<ReceivedToken> {
        self.wait_for_mailbox(pending.mailbox_id(), pending.expires_at())
            .await
    }

    /// Waits on a mailbox known only by its id, until `expires_at` (seconds since the epoch).
    pub async fn wait_for_mailbox(
        &self,
        mailbox_id: &str,
        expires_at: u64,
    ) -> Result<ReceivedToken> {
        retry("poll", &POLL_BACKOFF, expires_at, || {
            self.poll_once(mailbox_id, expires_at)
        })
        .await
    }

    /// One long-poll of the mailbox, for at most what is left of its life.
    async fn poll_once(&self, mailbox_id: &str, expires_at: u64) -> Attempt<ReceivedToken> {
        let wait = Duration::from_secs(expires_at.saturating_sub(now_secs())).min(MAX_POLL_WAIT);
        let url = format!(
            "{}/v1/mailboxes/{mailbox_id}?wait={}",
            self.gateway,
            wait.as_secs()
        );
        let reply = match self
            .authorized_with_timeout(Method::GET, &url, wait + REQUEST_TIMEOUT)
            .await
        {
            Ok(reply) => reply,
            Err(error @ Error::Transport(_)) => {
                return Attempt::Failed {
                    retry_after: None,
                    error,
                };
            }
            Err(other) => return Attempt::Done(Err(other)),
        };
        match reply.status {
            StatusCode::OK => Attempt::Done(self.open_delivery(&reply.body, mailbox_id)),
            StatusCode::ACCEPTED => Attempt::Again {
                pause: reply.retry_after().unwrap_or(Duration::ZERO),
            },
            StatusCode::NOT_FOUND if now_secs() >= expires_at => Attempt::Done(Err(Error::Expired)),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => Attempt::Failed {
                retry_after: reply.retry_after(),
                error: reply.into_error(),
            },
            _ => Attempt::Done(Err(reply.into_error())),
        }
    }

    /// Opens an envelope that arrived by webhook (see [`crate::webhook::verify_delivery`]),
    /// checking it was sealed for this client and that mailbox, and has not expired.
    pub fn open_delivered(&self, delivery: &crate::webhook::Delivery) -> Result<ReceivedToken> {
        if delivery.client_id != self.client_id {
            return Err(Error::Binding(sealgate_crypto::BindingError::WrongClient));
        }
        self.open_delivery(delivery.envelope.as_bytes(), &delivery.mailbox_id)
    }

    fn open_delivery(&self, body: &[u8], mailbox_id: &str) -> Result<ReceivedToken> {
        let envelope = Envelope::parse_bytes(body)?;
        let key = self
            .keys
            .iter()
            .find(|key| key.public_key().thumbprint() == envelope.header().kid())
            .ok_or(Error::Envelope(sealgate_crypto::EnvelopeError::KidMismatch))?;
        let opened = envelope.open(key)?;
        opened
            .header
            .check_binding(&self.client_id, mailbox_id, now_secs())?;
        let token = String::from_utf8(opened.plaintext.to_vec()).map_err(|_| Error::NotText)?;
        Ok(ReceivedToken {
            token: Zeroizing::new(token),
            header: opened.header,
        })
    }
}
