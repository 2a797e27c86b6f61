//! Sends one Web Push message (RFC 8030 §5) and classifies the push service's answer: the
//! request goes through the same checked connector as webhooks (the SSRF policy at connect
//! time), bounded as a whole by `push.timeout_secs`, with no redirects followed.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};

use crate::webhook::sender::{CheckedClient, checked_client};
use crate::webhook::ssrf::{self, Policy};

/// The most of a push service's answer read; the rest is dropped.
const MAX_ANSWER_BYTES: usize = 4 * 1024;
/// Idle connections kept per push service host: a few push services serve every phone.
const IDLE_PER_HOST: usize = 32;

/// How one push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    /// The push service accepted the message (2xx).
    Sent,
    /// The push service answered 404 or 410: the subscription is gone (RFC 8030 §7.3).
    DeviceGone,
    /// Any other answer, or a connection or TLS failure (a name resolving to a refused
    /// address included).
    Failed,
    /// No answer within the time bound.
    TimedOut,
    /// The endpoint is refused by the address policy before any connection (an IP literal
    /// the policy forbids, or a port it does not allow).
    Refused,
}

impl PushOutcome {
    /// Every outcome, for the metric's labels.
    pub(crate) const ALL: [Self; 5] = [
        Self::Sent,
        Self::DeviceGone,
        Self::Failed,
        Self::TimedOut,
        Self::Refused,
    ];

    /// The outcome for an answer's status.
    pub(crate) fn of_status(status: StatusCode) -> Self {
        match status {
            status if status.is_success() => Self::Sent,
            StatusCode::NOT_FOUND | StatusCode::GONE => Self::DeviceGone,
            _ => Self::Failed,
        }
    }

    /// The bounded label of `sealgate_push_notifications_total`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::DeviceGone => "device_gone",
            Self::Failed => "failed",
            Self::TimedOut => "timeout",
            Self::Refused => "refused",
        }
    }

    /// What the app is told in `notification.status`: `sent`, `device_gone` or `failed`.
    pub(crate) fn status(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::DeviceGone => "device_gone",
            Self::Failed | Self::TimedOut | Self::Refused => "failed",
        }
    }
}

/// One push request, ready to send.
pub(crate) struct PushRequest<'a> {
    /// The subscription's endpoint URL.
    pub endpoint: &'a str,
    /// `Authorization: vapid t=…, k=…`.
    pub authorization: String,
    /// `TTL`: how long the push service may keep the message, seconds.
    pub ttl_secs: u64,
    /// The `aes128gcm` body.
    pub body: Vec<u8>,
}

/// The HTTP side of push notifications.
pub(crate) struct PushSender {
    policy: Policy,
    client: CheckedClient,
    timeout: Duration,
}

impl PushSender {
    /// A sender under `policy`, each push bounded by `timeout`.
    pub(crate) fn new(policy: Policy, timeout: Duration) -> anyhow::Result<Self> {
        let client = checked_client(&policy, IDLE_PER_HOST, timeout)?;
        Ok(Self {
            policy,
            client,
            timeout,
        })
    }

    /// Sends `push` and waits for the push service's answer, at most the time bound.
    pub(crate) async fn send(&self, push: PushRequest<'_>) -> PushOutcome {
        if let Err(error) = ssrf::check_before_send(push.endpoint, &self.policy) {
            tracing::warn!(%error, "push endpoint refused by the address policy; not sent");
            return PushOutcome::Refused;
        }
        let Ok(request) = Request::post(push.endpoint)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_ENCODING, "aes128gcm")
            .header(header::AUTHORIZATION, push.authorization)
            .header("ttl", push.ttl_secs)
            .header("urgency", "high")
            .header(
                header::USER_AGENT,
                concat!("sealgate/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(push.body)))
        else {
            return PushOutcome::Failed;
        };
        let exchange = async {
            let response = self.client.request(request).await.map_err(|error| {
                tracing::debug!(%error, "push request failed");
            })?;
            let status = response.status();
            // Read a little of the answer so the connection can be reused; ignore the rest.
            let _ = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            Ok::<_, ()>(PushOutcome::of_status(status))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(())) => PushOutcome::Failed,
            Err(_) => PushOutcome::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes() {
        let of = |code: u16| PushOutcome::of_status(StatusCode::from_u16(code).unwrap());
        assert_eq!(of(201), PushOutcome::Sent);
        assert_eq!(of(202), PushOutcome::Sent);
        assert_eq!(of(404), PushOutcome::DeviceGone);
        assert_eq!(of(410), PushOutcome::DeviceGone);
        for failed in [301, 400, 401, 403, 413, 429, 500, 503] {
            assert_eq!(of(failed), PushOutcome::Failed, "{failed}");
        }
        assert_eq!(PushOutcome::TimedOut.status(), "failed");
        assert_eq!(PushOutcome::Refused.status(), "failed");
        assert_eq!(PushOutcome::Refused.label(), "refused");
    }

    #[tokio::test]
    async fn a_private_literal_is_refused_before_connecting() {
        let sender = PushSender::new(Policy::default(), Duration::from_secs(1)).unwrap();
        let outcome = sender
            .send(PushRequest {
                endpoint: "https://127.0.0.1/push/abc",
                authorization: "vapid t=x, k=y".into(),
                ttl_secs: 60,
                body: vec![0; 10],
            })
            .await;
        assert_eq!(outcome, PushOutcome::Refused);
    }
}
