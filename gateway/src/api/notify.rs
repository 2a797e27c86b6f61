//! `notify` on `POST /v1/mailboxes`: the device registration is checked (and its idle expiry
//! moved) before the mailbox is opened, and the phone is pushed the sign-in request once the
//! mailbox exists.

use serde::Serialize;

use super::devices::HANDLE_PREFIX;
use crate::app::App;
use crate::http::error::ApiError;
use crate::push::SignInMessage;
use crate::store::{ClientRecord, DeviceKey, DeviceRecord};

/// The longest binding message, in characters.
pub(crate) const MAX_BINDING_MESSAGE_CHARS: usize = 64;

/// The `notification` member of the answer.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Notification {
    /// `sent`, `device_gone` or `failed`.
    pub status: &'static str,
}

/// What a request asked to notify: the device's live registration, and the binding message.
pub(crate) struct NotifyTarget {
    device: DeviceRecord,
    binding_message: Option<String>,
}

/// Checks `notify` and `binding_message` and finds the device: `None` when nothing is to be
/// notified; `UnknownDevice` unless the handle is a live registration of `client`, whose
/// idle expiry this moves.
pub(crate) async fn target(
    app: &App,
    client: &ClientRecord,
    notify: Option<String>,
    binding_message: Option<String>,
) -> Result<Option<NotifyTarget>, ApiError> {
    let Some(handle) = notify else {
        return match binding_message {
            None => Ok(None),
            Some(_) => Err(ApiError::InvalidRequest(
                "binding_message is only allowed with notify".into(),
            )),
        };
    };
    if let Some(message) = &binding_message {
        check_binding_message(message)?;
    }
    let push = app.push.as_ref().ok_or(ApiError::PushDisabled)?;
    if !handle.starts_with(HANDLE_PREFIX) || handle.len() > 128 {
        return Err(ApiError::InvalidRequest(
            "notify must be a device handle (dh_…)".into(),
        ));
    }
    let key = DeviceKey {
        client_id: &client.client_id,
        handle: &handle,
    };
    let device = app
        .store
        .use_device(key, push.idle_expiry_ms())
        .await?
        .ok_or(ApiError::UnknownDevice)?;
    Ok(Some(NotifyTarget {
        device,
        binding_message,
    }))
}

/// A binding message is 1 to 64 characters, none of them a control character.
fn check_binding_message(message: &str) -> Result<(), ApiError> {
    let chars = message.chars().count();
    if chars == 0 || chars > MAX_BINDING_MESSAGE_CHARS || message.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(format!(
            "binding_message must be 1 to {MAX_BINDING_MESSAGE_CHARS} printable characters"
        )));
    }
    Ok(())
}

/// Pushes the sign-in request to the target's device, waits for the push service, deletes
/// the registration when the push service says it is gone, and counts the outcome.
pub(crate) async fn send(
    app: &App,
    client: &ClientRecord,
    target: NotifyTarget,
    signin_request: &str,
    ttl_secs: u64,
) -> Notification {
    let Some(push) = app.push.as_ref() else {
        return Notification { status: "failed" };
    };
    let message = SignInMessage {
        v: 1,
        signin_request,
        client_name: &client.name,
        binding_message: target.binding_message.as_deref(),
    };
    let outcome = push.send(&target.device, &message, ttl_secs).await;
    app.metrics
        .push_notifications
        .with_label_values(&[outcome.label()])
        .inc();
    if outcome == crate::push::PushOutcome::DeviceGone {
        let key = DeviceKey {
            client_id: &client.client_id,
            handle: &target.device.handle,
        };
        // The mailbox is open and the app is told `device_gone` either way; a failed delete
        // is counted and logged by the store's decorator, and the registration expires.
        let _ = app.store.forget_device(key).await;
    }
    tracing::debug!(outcome = outcome.label(), "push notification");
    Notification {
        status: outcome.status(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_messages_are_short_and_printable() {
        assert!(check_binding_message("Sign in to Example: 4821").is_ok());
        assert!(check_binding_message(&"é".repeat(64)).is_ok());
        for bad in ["", "line\nbreak", "tab\there", "\u{7f}", &"x".repeat(65)] {
            assert!(check_binding_message(bad).is_err(), "{bad:?}");
        }
    }
}
