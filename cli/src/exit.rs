//! The exit statuses of the `sealgate` command, and the one place a failure is given its
//! status, so that a script can tell "the sign-in expired" from "the gateway is down".

use std::fmt;

use sealgate_client::Error as ClientError;

/// How `sealgate` exits. The numbers are part of the command's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the command did what it was asked.
    Success = 0,
    /// 1: any other failure: a bad file, key, envelope, token or configuration.
    Error = 1,
    /// 2: the command line itself is wrong (clap exits with it before anything runs).
    Usage = 2,
    /// 3: the sign-in request expired, or a wait timed out, before a token arrived or was sent.
    Expired = 3,
    /// 4: the gateway refused the request (a 4xx: credentials, an unknown or consumed mailbox,
    /// a conflicting envelope, a limit, an unknown client or device registration).
    Refused = 4,
    /// 5: the gateway could not be reached, or failed (a 5xx or an answer outside the API).
    Unavailable = 5,
}

impl ExitStatus {
    /// The status a failed command exits with: that of the first cause it knows, else
    /// [`ExitStatus::Error`].
    pub fn of(error: &anyhow::Error) -> Self {
        error
            .chain()
            .find_map(|cause| {
                if cause.downcast_ref::<Expired>().is_some() {
                    return Some(Self::Expired);
                }
                cause.downcast_ref::<ClientError>().map(Self::of_client)
            })
            .unwrap_or(Self::Error)
    }

    /// The status of an error of the SDK.
    fn of_client(error: &ClientError) -> Self {
        match error {
            ClientError::Expired => Self::Expired,
            ClientError::Unauthorized
            | ClientError::UnknownClient
            | ClientError::RegistrationNotFound
            | ClientError::MailboxNotFound
            | ClientError::MailboxConflict
            | ClientError::PayloadTooLarge
            | ClientError::RateLimited { .. } => Self::Refused,
            ClientError::Gateway { status, .. } if *status < 500 => Self::Refused,
            ClientError::Gateway { .. } | ClientError::Transport(_) | ClientError::Protocol(_) => {
                Self::Unavailable
            }
            _ => Self::Error,
        }
    }

    /// The process's exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A deadline the command waited for passed: the message says which (exit status 3).
#[derive(Debug)]
pub(crate) struct Expired(pub(crate) String);

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Expired {}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn status(error: ClientError) -> ExitStatus {
        ExitStatus::of(&anyhow::Error::new(error))
    }

    fn gateway(status: u16) -> ClientError {
        ClientError::Gateway {
            status,
            problem_type: None,
            detail: String::new(),
        }
    }

    #[test]
    fn each_failure_has_its_status() {
        assert_eq!(status(ClientError::Expired), ExitStatus::Expired);
        assert_eq!(status(ClientError::Unauthorized), ExitStatus::Refused);
        assert_eq!(status(ClientError::MailboxNotFound), ExitStatus::Refused);
        let limited = ClientError::RateLimited {
            retry_after: Duration::from_secs(1),
        };
        assert_eq!(status(limited), ExitStatus::Refused);
        assert_eq!(status(gateway(403)), ExitStatus::Refused);
        assert_eq!(status(gateway(503)), ExitStatus::Unavailable);
        assert_eq!(
            status(ClientError::Transport("refused".into())),
            ExitStatus::Unavailable
        );
        assert_eq!(status(ClientError::KeyNotVouched), ExitStatus::Error);
        assert_eq!(
            status(ClientError::RegistrationNotFound),
            ExitStatus::Refused
        );
        assert_eq!(status(ClientError::UnknownClient), ExitStatus::Refused);
        assert_eq!(
            status(ClientError::PushFromAnotherWebsite),
            ExitStatus::Error
        );
        assert_eq!(
            status(ClientError::PushPayload("v".into())),
            ExitStatus::Error
        );
        assert_eq!(
            ExitStatus::of(&anyhow::anyhow!("a bad file")),
            ExitStatus::Error
        );
    }

    #[test]
    fn a_cause_under_context_still_decides() {
        let error = anyhow::Error::new(Expired("no token arrived within 1 s".into()));
        assert_eq!(ExitStatus::of(&error), ExitStatus::Expired);
        assert_eq!(error.to_string(), "no token arrived within 1 s");
        let wrapped = anyhow::Error::new(ClientError::Transport("down".into())).context("register");
        assert_eq!(ExitStatus::of(&wrapped), ExitStatus::Unavailable);
        assert_eq!(ExitStatus::Usage.code(), 2);
    }
}
