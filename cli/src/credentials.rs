//! Where `sealgate register` keeps an app's credentials and private keys:
//! `$XDG_CONFIG_HOME/sealgate/client.json` (default `~/.config/sealgate/`), mode 0600.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use sealgate_client::credentials::CredentialsError;
use sealgate_client::{AppClient, HttpClient};

/// The directory credentials live in.
pub(crate) fn directory() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("sealgate"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config").join("sealgate"))
}

/// The credentials file.
pub(crate) fn path() -> anyhow::Result<PathBuf> {
    Ok(directory()?.join("client.json"))
}

/// Saves `app`'s credentials and keys (mode 0600), refusing to replace a file unless `force`.
pub(crate) fn save(app: &AppClient, force: bool) -> anyhow::Result<PathBuf> {
    let dir = directory()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let path = dir.join("client.json");
    match sealgate_client::credentials::save(app, &path, force) {
        Err(CredentialsError::Exists(path)) => bail!(
            "{} exists (an app is registered already); pass --force to replace it",
            path.display()
        ),
        other => other?,
    }
    Ok(path)
}

/// Loads the saved app; `gateway` overrides the saved gateway URL.
pub(crate) fn load(gateway: Option<&str>) -> anyhow::Result<AppClient> {
    let path = path()?;
    match sealgate_client::credentials::load(&path, HttpClient::new()?, gateway) {
        Err(error @ CredentialsError::Read { .. }) => {
            Err(anyhow::Error::new(error).context("run `sealgate register` first"))
        }
        other => Ok(other?),
    }
}
