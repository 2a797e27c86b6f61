//! Push notification settings: the VAPID key, the subject the push service may contact, the
//! push request's time bound, how long a device registration lives unused, and the limits on
//! registering devices.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default idle expiry of a device registration: 90 days.
pub const DEFAULT_DEVICE_IDLE_SECS: u64 = 90 * 24 * 60 * 60;

/// One-click sign-in's Web Push settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Accept device registrations and send push notifications at all.
    pub enabled: bool,
    /// A file holding the VAPID private key: a PKCS#8 PEM document (`BEGIN PRIVATE KEY`), or
    /// the 32-octet P-256 scalar as base64url (what `web-push generate-vapid-keys` prints).
    /// Unset: a key is generated on first start and shared through the store.
    pub vapid_key_file: Option<PathBuf>,
    /// The VAPID `sub`: a `mailto:` or `https:` URI through which a push service can reach the
    /// operator. Unset: the public URL when it is https, else `mailto:postmaster@localhost`
    /// (which some push services refuse; set it in production).
    pub subject: Option<String>,
    /// The longest the push service may take to answer one notification, seconds.
    pub timeout_secs: u64,
    /// How long a device registration lives without a notify, seconds.
    pub device_idle_secs: u64,
    /// Device registrations per minute from one IP address (0 turns the limit off).
    pub registrations_per_ip_per_min: u32,
    /// Device registration burst from one IP address.
    pub registration_burst_per_ip: u32,
    /// Live device registrations the gateway keeps at most (0 turns the cap off).
    pub max_devices: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            vapid_key_file: None,
            subject: None,
            timeout_secs: 5,
            device_idle_secs: DEFAULT_DEVICE_IDLE_SECS,
            registrations_per_ip_per_min: 30,
            registration_burst_per_ip: 30,
            max_devices: 1_000_000,
        }
    }
}

impl PushConfig {
    /// [`PushConfig::timeout_secs`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Checks the values their types do not.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=60).contains(&self.timeout_secs),
            "push.timeout_secs must be between 1 and 60"
        );
        anyhow::ensure!(
            self.device_idle_secs >= 60,
            "push.device_idle_secs must be at least 60"
        );
        if let Some(subject) = &self.subject {
            let ok = subject
                .strip_prefix("mailto:")
                .is_some_and(|address| address.contains('@'))
                || subject
                    .strip_prefix("https://")
                    .is_some_and(|rest| !rest.is_empty());
            anyhow::ensure!(
                ok && !subject.chars().any(|c| c.is_whitespace() || c.is_control()),
                "push.subject must be a mailto: or https: URI (RFC 8292), such as mailto:ops@example.com"
            );
        }
        Ok(())
    }

    /// The VAPID `sub` to sign with, given the gateway's public base URL.
    pub fn subject_for(&self, public_url: &str) -> String {
        match &self.subject {
            Some(subject) => subject.clone(),
            None if public_url.starts_with("https://") => public_url.to_owned(),
            None => "mailto:postmaster@localhost".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let check = |edit: fn(&mut PushConfig)| {
            let mut config = PushConfig::default();
            edit(&mut config);
            config.validate().map_err(|error| error.to_string())
        };
        assert!(check(|_| ()).is_ok());
        assert!(
            check(|c| c.timeout_secs = 0)
                .unwrap_err()
                .contains("timeout_secs")
        );
        assert!(
            check(|c| c.device_idle_secs = 5)
                .unwrap_err()
                .contains("device_idle_secs")
        );
        for bad in [
            "ops@example.com",
            "mailto:nobody",
            "http://example.com",
            "https://",
        ] {
            let config = PushConfig {
                subject: Some(bad.into()),
                ..PushConfig::default()
            };
            assert!(config.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_subject_defaults_to_an_https_public_url() {
        let config = PushConfig::default();
        assert_eq!(
            config.subject_for("https://signin.example.com"),
            "https://signin.example.com"
        );
        assert_eq!(
            config.subject_for("http://127.0.0.1:8080"),
            "mailto:postmaster@localhost"
        );
    }
}
