//! Where the app subcommands keep an app's credentials and private keys: by default
//! `$XDG_CONFIG_HOME/sealgate/client.json` (`~/.config/sealgate/` without it), a named profile
//! `$XDG_CONFIG_HOME/sealgate/profiles/NAME.json` with `--profile NAME`, or any file with
//! `--credentials FILE`; always mode 0600.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use sealgate_client::credentials::CredentialsError;
use sealgate_client::{AppClient, HttpClient};

/// Which saved app a command uses.
#[derive(Debug, Clone, Default, Args)]
pub struct CredentialsArgs {
    /// The credentials file [default: $XDG_CONFIG_HOME/sealgate/client.json].
    #[arg(
        long,
        env = "SEALGATE_CREDENTIALS",
        value_name = "FILE",
        conflicts_with = "profile"
    )]
    pub credentials: Option<PathBuf>,
    /// A named profile: $XDG_CONFIG_HOME/sealgate/profiles/NAME.json (letters, digits, `-`,
    /// `_`; at most 64).
    #[arg(long, env = "SEALGATE_PROFILE", value_name = "NAME", value_parser = profile_name)]
    pub profile: Option<String>,
}

impl CredentialsArgs {
    /// The file these flags name.
    pub(crate) fn path(&self) -> anyhow::Result<PathBuf> {
        match (&self.credentials, &self.profile) {
            (Some(file), _) => Ok(file.clone()),
            (None, Some(name)) => Ok(directory()?.join("profiles").join(format!("{name}.json"))),
            (None, None) => Ok(directory()?.join("client.json")),
        }
    }
}

/// Checks a profile name: it becomes a file name, so no separators, dots or spaces.
fn profile_name(name: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err("a profile name is 1 to 64 letters, digits, `-` or `_`".into());
    }
    Ok(name.to_owned())
}

/// The directory credentials live in by default.
pub(crate) fn directory() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("sealgate"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config").join("sealgate"))
}

/// Saves `app`'s credentials and keys (mode 0600) where `which` says, refusing to replace a
/// file unless `force`. Directories it creates are mode 0700.
pub(crate) fn save(
    app: &AppClient,
    which: &CredentialsArgs,
    force: bool,
) -> anyhow::Result<PathBuf> {
    let path = which.path()?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    }
    match sealgate_client::credentials::save(app, &path, force) {
        Err(CredentialsError::Exists(path)) => bail!(
            "{} exists (an app is registered already); pass --force to replace it",
            path.display()
        ),
        other => other?,
    }
    Ok(path)
}

/// Loads the saved app `which` names; `gateway` overrides the saved gateway URL.
pub(crate) fn load(which: &CredentialsArgs, gateway: Option<&str>) -> anyhow::Result<AppClient> {
    let path = which.path()?;
    match sealgate_client::credentials::load(&path, HttpClient::new()?, gateway) {
        Err(error @ CredentialsError::Read { .. }) => Err(anyhow::Error::new(error)
            .context("run `sealgate register` first (with the same --credentials or --profile)")),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_cannot_leave_the_directory() {
        for bad in ["", "../x", "a/b", "a.b", "a b", &"x".repeat(65)] {
            assert!(profile_name(bad).is_err(), "{bad:?}");
        }
        for good in ["work", "staging-2", "A_b"] {
            assert_eq!(profile_name(good).unwrap(), good);
        }
    }

    #[test]
    fn an_explicit_file_wins() {
        let which = CredentialsArgs {
            credentials: Some("/tmp/app.json".into()),
            profile: None,
        };
        assert_eq!(which.path().unwrap(), PathBuf::from("/tmp/app.json"));
    }
}
