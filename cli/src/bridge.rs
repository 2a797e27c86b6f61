//! `sealgate bridge`: the OpenID Provider a website runs beside its app (docs/bridge.md).
//! Settings from the TOML file, replaced by `SEALGATE_BRIDGE_*` variables, replaced by flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sealgate_bridge::BridgeConfig;

use crate::logging::LogFormat;

/// Flags of `sealgate bridge`.
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// The bridge's TOML configuration file (docs/bridge.md has a complete example).
    #[arg(long, env = "SEALGATE_BRIDGE_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
    /// Listen address (replaces `listen` and SEALGATE_BRIDGE_LISTEN) [default: 127.0.0.1:9000].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Log filter, e.g. `info` or `sealgate_bridge=debug` [default: SEALGATE_LOG, RUST_LOG, info].
    #[arg(long, env = "SEALGATE_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format [default: text on a terminal, json otherwise].
    #[arg(long, env = "SEALGATE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

impl BridgeArgs {
    /// The configuration: the file, then the variables, then the flags; validated.
    pub fn into_config(self) -> anyhow::Result<BridgeConfig> {
        let text = std::fs::read_to_string(&self.config)
            .with_context(|| format!("cannot read {}", self.config.display()))?;
        let mut config = BridgeConfig::parse_unvalidated(&text)
            .with_context(|| format!("in {}", self.config.display()))?;
        // The flag goes in as the variable would, so that it wins over both.
        let flag_listen = self.listen;
        config
            .apply_env(|name| match (name, flag_listen) {
                ("SEALGATE_BRIDGE_LISTEN", Some(listen)) => Some(listen.to_string()),
                _ => std::env::var(name).ok(),
            })
            .with_context(|| format!("in {}", self.config.display()))?;
        // Relative paths in the file are relative to the file.
        let base = self.config.parent().map(PathBuf::from).unwrap_or_default();
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut config.credentials);
        resolve(&mut config.signing_key);
        config.key.iter_mut().for_each(resolve);
        for issuer in &mut config.trusted_issuers {
            if let Some(file) = issuer.jwks_file.as_mut() {
                resolve(file);
            }
        }
        Ok(config)
    }
}

/// Runs the bridge until SIGTERM or SIGINT.
pub(super) fn run(mut args: BridgeArgs) -> anyhow::Result<()> {
    crate::logging::init(args.log.take(), args.log_format, None)?;
    let config = args.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        tracing::info!(listen = %listener.local_addr()?, "sealgate bridge listening");
        sealgate_bridge::run(config, listener, shutdown_signal()).await?;
        tracing::info!("bridge stopped");
        Ok(())
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("signal received, shutting down");
}
