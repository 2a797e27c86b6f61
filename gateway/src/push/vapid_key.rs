//! Where the gateway's VAPID key comes from: the configured file, or, without one, a key
//! generated on first start and shared through the store, so that every instance on one
//! store signs with the same key and a phone's subscription works whichever instance pushes.

use std::path::Path;

use anyhow::Context as _;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject as _;
use sealgate_crypto::base64url;
use sealgate_crypto::webpush::VapidKey;
use zeroize::Zeroizing;

use crate::store::SharedStore;

/// The key `file` names, or the store's shared key.
pub(crate) async fn load(file: Option<&Path>, store: &SharedStore) -> anyhow::Result<VapidKey> {
    match file {
        Some(path) => read_file(path),
        None => {
            let candidate = Zeroizing::new(base64url::encode(*VapidKey::generate().to_bytes()));
            let shared = store
                .shared_vapid_key(&candidate)
                .await
                .context("cannot read or store the shared VAPID key")?;
            parse_scalar(&shared).context("the VAPID key in the store is not a P-256 scalar")
        }
    }
}

/// Reads a VAPID key file: PKCS#8 PEM, or the base64url scalar.
fn read_file(path: &Path) -> anyhow::Result<VapidKey> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read push.vapid_key_file {}", path.display()))?,
    );
    parse(&text).with_context(|| format!("push.vapid_key_file {}", path.display()))
}

/// A key from a file's text: a `BEGIN PRIVATE KEY` PEM document (PKCS#8, P-256), or one line of
/// base64url holding the 32-octet scalar.
fn parse(text: &str) -> anyhow::Result<VapidKey> {
    if text.contains("-----BEGIN") {
        let der = PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes()).map_err(|_| {
            anyhow::anyhow!(
                "not a PKCS#8 PEM key (BEGIN PRIVATE KEY); make one with \
                 `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`"
            )
        })?;
        return VapidKey::from_pkcs8_der(der.secret_pkcs8_der())
            .map_err(|_| anyhow::anyhow!("the PKCS#8 key is not a P-256 EC key"));
    }
    parse_scalar(text.trim())
}

fn parse_scalar(text: &str) -> anyhow::Result<VapidKey> {
    let bytes = Zeroizing::new(base64url::decode(text.trim()).map_err(|_| {
        anyhow::anyhow!("neither a PEM document nor base64url of a 32-octet P-256 scalar")
    })?);
    let scalar: &[u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("the base64url key is not 32 octets"))?;
    VapidKey::from_bytes(scalar).map_err(|_| anyhow::anyhow!("not a valid P-256 scalar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_file_forms_load_the_same_key() {
        let key = VapidKey::generate();
        let raw = base64url::encode(*key.to_bytes());
        assert_eq!(
            parse(&format!("{raw}\n")).unwrap().public_key(),
            key.public_key()
        );
        let der = key.to_pkcs8_der();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &*der)
        );
        assert_eq!(parse(&pem).unwrap().public_key(), key.public_key());
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let message = |text: &str| format!("{:#}", parse(text).unwrap_err());
        assert!(
            message("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----")
                .contains("PKCS#8")
        );
        assert!(message("not base64!").contains("base64url"));
        assert!(message("AAAA").contains("32 octets"));
        assert!(message(&base64url::encode([0u8; 32])).contains("scalar"));
    }

    #[tokio::test]
    async fn instances_on_one_store_agree() {
        let clock: std::sync::Arc<dyn crate::clock::Clock> =
            std::sync::Arc::new(crate::clock::SystemClock);
        let store: SharedStore = std::sync::Arc::new(crate::store::MemoryStore::new(
            crate::store::WakeHub::default(),
            clock,
        ));
        let first = load(None, &store).await.unwrap();
        let second = load(None, &store).await.unwrap();
        assert_eq!(first.public_key(), second.public_key());
    }
}
