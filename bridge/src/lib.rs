//! sealgate-bridge: the OpenID Provider a website runs beside its app. It speaks standard
//! OpenID Connect (authorization code flow with PKCE) to the website's own OIDC library,
//! shows the browser the sign-in page with the QR code, receives the phone's sealed token
//! from the gateway, opens and verifies it inside the website's trust boundary, and issues the
//! website its own signed ID token. See docs/bridge.md.
//!
//! [`run`] serves a configuration; the modules below are its parts.

pub mod app;
pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod config;
pub mod flow;
mod http;
pub mod issuers;
pub mod page;
pub mod pkce;
pub mod signing;
pub mod state;
pub mod subject;

pub use app::{Bridge, StartError};
pub use config::{BridgeConfig, ConfigError};
pub use http::CONTENT_SECURITY_POLICY;

/// Starts the bridge for `config` (credentials, keys, issuers) and serves it on `listener`
/// until `shutdown` completes.
pub async fn run(
    config: BridgeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let bridge = Bridge::start(config).await?;
    http::serve(bridge, listener, shutdown)
        .await
        .map_err(|e| StartError::Http(sealgate_client::Error::Transport(e.to_string())))
}
