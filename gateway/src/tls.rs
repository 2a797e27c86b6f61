//! TLS with rustls and the aws-lc-rs provider, TLS 1.2 and 1.3: the API listener's acceptor
//! (ALPN `h2` and `http/1.1`; its certificate reloads while it serves, see [`reload`]) and the
//! client side webhook deliveries connect with.

pub(crate) mod reload;

use std::sync::Arc;

use anyhow::Context as _;
use hyper_rustls::HttpsConnectorBuilder;
use hyper_rustls::builderstates::WantsSchemes;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Builds the API listener's acceptor around `certificates`, which hands every handshake the
/// certificate current at that moment (see [`reload`]).
pub(crate) fn acceptor(certificates: Arc<reload::ReloadingCert>) -> anyhow::Result<TlsAcceptor> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The start of an outbound HTTPS connector: the system's trusted root certificates, TLS 1.2
/// and 1.3. With no trusted root on the machine the gateway still starts; every HTTPS
/// delivery then fails its handshake, and a warning says why.
pub(crate) fn outbound_connector() -> anyhow::Result<HttpsConnectorBuilder<WantsSchemes>> {
    match HttpsConnectorBuilder::new().with_provider_and_native_roots(provider()) {
        Ok(builder) => Ok(builder),
        Err(error) => {
            tracing::warn!(%error, "no trusted root certificate: HTTPS webhook deliveries will fail");
            let config = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .context("TLS protocol versions")?
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth();
            Ok(HttpsConnectorBuilder::new().with_tls_config(config))
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
