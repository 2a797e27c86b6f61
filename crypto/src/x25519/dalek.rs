//! X25519 in pure Rust: x25519-dalek, for targets where aws-lc does not build.

use zeroize::Zeroizing;

use crate::jwk::KEY_LEN;

/// The backend's name, as [`crate::X25519_BACKEND`] reports it.
pub(super) const NAME: &str = "x25519-dalek";

/// An X25519 private key; x25519-dalek zeroizes it on drop.
#[derive(Clone)]
pub(crate) struct SecretKey(x25519_dalek::StaticSecret);

impl SecretKey {
    /// The key whose scalar is `bytes` (clamped when used, as RFC 7748 says).
    pub(crate) fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self(x25519_dalek::StaticSecret::from(*bytes))
    }

    /// The bytes the key was made from.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key: one base-point multiplication.
    pub(crate) fn public_key(&self) -> [u8; KEY_LEN] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }

    /// X25519 with `peer`; `None` when the result is all zeros (a low-order `peer`, RFC 7748
    /// §6.1).
    pub(crate) fn diffie_hellman(&self, peer: &[u8; KEY_LEN]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        let shared = self.0.diffie_hellman(&x25519_dalek::PublicKey::from(*peer));
        shared
            .was_contributory()
            .then(|| Zeroizing::new(shared.to_bytes()))
    }
}
