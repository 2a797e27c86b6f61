//! The credentials file of a registered app: what `sealgate register` writes and what
//! `sealgate request`, `sealgate wait` and `sealgate bridge` read. JSON, mode 0600:
//! `{gateway, client_id, client_secret, keys: [private JWK, newest first], webhook_secret?}`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sealgate_crypto::PrivateKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{AppClient, HttpClient};

/// The file's contents. Keys are private JWKs, newest first.
#[derive(Serialize, Deserialize)]
struct Saved {
    gateway: String,
    client_id: String,
    client_secret: String,
    keys: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
}

impl Drop for Saved {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.client_secret);
        if let Some(secret) = self.webhook_secret.as_mut() {
            zeroize::Zeroize::zeroize(secret);
        }
    }
}

/// Why a credentials file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read (missing, unreadable).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not in the credentials format or holds an unusable key.
    #[error("{path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file exists and replacing it was not asked for.
    #[error("{0} exists (an app is registered already)")]
    Exists(PathBuf),
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Loads the app saved in `path`, talking through `http`; `gateway` overrides the saved
/// gateway URL.
pub fn load(
    path: &Path,
    http: HttpClient,
    gateway: Option<&str>,
) -> Result<AppClient, CredentialsError> {
    let damaged = |reason: String| CredentialsError::Damaged {
        path: path.to_owned(),
        reason,
    };
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
                path: path.to_owned(),
                source,
            })?,
        );
    let saved: Saved = serde_json::from_str(&text).map_err(|e| damaged(e.to_string()))?;
    let keys = saved
        .keys
        .iter()
        .map(PrivateKey::from_jwk)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| damaged(format!("an unusable key: {e}")))?;
    let app = AppClient::from_credentials(
        http,
        gateway.unwrap_or(&saved.gateway),
        &saved.client_id,
        &saved.client_secret,
        keys,
    )
    .map_err(|e| damaged(e.to_string()))?;
    Ok(app.with_webhook_secret(saved.webhook_secret.clone()))
}

/// Saves `app`'s credentials and keys to `path` (mode 0600, written to a temporary file and
/// renamed), refusing to replace an existing file unless `replace`.
pub fn save(app: &AppClient, path: &Path, replace: bool) -> Result<(), CredentialsError> {
    let keys = app
        .keys()
        .iter()
        .map(|key| serde_json::from_str(&key.to_jwk_json()).expect("a JWK is JSON"))
        .collect();
    let saved = Saved {
        gateway: app.gateway().to_owned(),
        client_id: app.client_id().to_owned(),
        client_secret: app.client_secret().to_owned(),
        keys,
        webhook_secret: app.webhook_secret().map(str::to_owned),
    };
    let text = Zeroizing::new(serde_json::to_string_pretty(&saved).expect("JSON"));
    if path.exists() && !replace {
        return Err(CredentialsError::Exists(path.to_owned()));
    }
    write_private_replacing(path, text.as_bytes())
}

/// Writes `bytes` and a newline to `path`, mode 0600, through a temporary file renamed over
/// it, so that a reader sees the old file or the new one, never half of one.
pub(crate) fn write_private_replacing(path: &Path, bytes: &[u8]) -> Result<(), CredentialsError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let written = write_private(&temporary, bytes).and_then(|()| {
        std::fs::rename(&temporary, path).map_err(|source| CredentialsError::Write {
            path: path.to_owned(),
            source,
        })
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Writes `bytes` and a newline to a new file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CredentialsError> {
    let failed = |source| CredentialsError::Write {
        path: path.to_owned(),
        source,
    };
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    file.write_all(b"\n").map_err(failed)?;
    file.sync_all().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate_crypto::Algorithm;

    fn app(secret: &str) -> AppClient {
        let key = PrivateKey::generate(Algorithm::default());
        AppClient::from_credentials(
            HttpClient::new().unwrap(),
            "http://127.0.0.1:8080",
            "c1",
            secret,
            vec![key],
        )
        .unwrap()
        .with_webhook_secret(Some("whsec_x".into()))
    }

    #[test]
    fn round_trips_and_refuses_to_replace() {
        let dir = std::env::temp_dir().join(format!("sealgate-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("client.json");
        let _ = std::fs::remove_file(&path);
        let saved = app("s3cret");
        save(&saved, &path, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = load(&path, HttpClient::new().unwrap(), None).unwrap();
        assert_eq!(loaded.client_id(), "c1");
        assert_eq!(loaded.client_secret(), "s3cret");
        assert_eq!(loaded.webhook_secret(), Some("whsec_x"));
        assert_eq!(
            loaded.keys()[0].public_key().thumbprint(),
            saved.keys()[0].public_key().thumbprint()
        );
        assert!(matches!(
            save(&app("other"), &path, false),
            Err(CredentialsError::Exists(_))
        ));
        save(&app("other"), &path, true).unwrap();
        let loaded = load(&path, HttpClient::new().unwrap(), Some("http://[::1]:1")).unwrap();
        assert_eq!(loaded.client_secret(), "other");
        assert_eq!(loaded.gateway(), "http://[::1]:1");
        std::fs::write(&path, "{}").unwrap();
        assert!(matches!(
            load(&path, HttpClient::new().unwrap(), None),
            Err(CredentialsError::Damaged { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
