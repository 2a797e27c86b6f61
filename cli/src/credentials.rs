//! Where `sealgate register` keeps an app's credentials and private keys:
//! `$XDG_CONFIG_HOME/sealgate/client.json` (default `~/.config/sealgate/`), mode 0600.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sealgate_client::sealgate_crypto::PrivateKey;
use sealgate_client::{AppClient, HttpClient};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

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
    let text = Zeroizing::new(serde_json::to_string_pretty(&saved)?);
    let temporary = dir.join("client.json.new");
    let _ = std::fs::remove_file(&temporary);
    super::offline::write_private(&temporary, text.as_bytes(), false)?;
    if path.exists() && !force {
        let _ = std::fs::remove_file(&temporary);
        bail!(
            "{} exists (an app is registered already); pass --force to replace it",
            path.display()
        );
    }
    std::fs::rename(&temporary, &path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Loads the saved app; `gateway` overrides the saved gateway URL.
pub(crate) fn load(gateway: Option<&str>) -> anyhow::Result<AppClient> {
    let path = path()?;
    load_from(&path, gateway)
}

fn load_from(path: &Path, gateway: Option<&str>) -> anyhow::Result<AppClient> {
    let text = Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}: run `sealgate register` first",
            path.display()
        )
    })?);
    let saved: Saved =
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?;
    let keys = saved
        .keys
        .iter()
        .map(PrivateKey::from_jwk)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} holds an unusable key", path.display()))?;
    let gateway = gateway.unwrap_or(&saved.gateway);
    Ok(AppClient::from_credentials(
        HttpClient::new()?,
        gateway,
        &saved.client_id,
        &saved.client_secret,
        keys,
    )?)
}
