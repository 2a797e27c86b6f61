//! X25519 on aws-lc-rs: aws-lc's X25519 (s2n-bignum assembly on x86-64 and aarch64, with a
//! run-time choice of MULX/ADX), through `aws_lc_rs::agreement`.

use aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use zeroize::Zeroizing;

use crate::jwk::KEY_LEN;

/// The backend's name, as [`crate::X25519_BACKEND`] reports it.
pub(super) const NAME: &str = "aws-lc-rs";

/// An X25519 private key. aws-lc computes the public key once, when the key is made; the raw
/// bytes are kept (zeroized on drop) to serialize the key. aws-lc frees its copy through
/// `OPENSSL_free`, which clears memory before releasing it.
pub(crate) struct SecretKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    key: agreement::PrivateKey,
}

impl SecretKey {
    /// The key whose scalar is `bytes` (clamped when used, as RFC 7748 says).
    pub(crate) fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let key = agreement::PrivateKey::from_private_key(&X25519, bytes)
            .expect("aws-lc takes any 32 bytes as an X25519 private key");
        Self {
            bytes: Zeroizing::new(*bytes),
            key,
        }
    }

    /// The bytes the key was made from.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        self.bytes.clone()
    }

    /// The matching public key.
    pub(crate) fn public_key(&self) -> [u8; KEY_LEN] {
        let public = self
            .key
            .compute_public_key()
            .expect("aws-lc serializes an X25519 public key");
        public
            .as_ref()
            .try_into()
            .expect("an X25519 public key is 32 bytes")
    }

    /// X25519 with `peer`; `None` when the result is all zeros (a low-order `peer`, RFC 7748
    /// §6.1), which aws-lc refuses.
    pub(crate) fn diffie_hellman(&self, peer: &[u8; KEY_LEN]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        agreement::agree(
            &self.key,
            UnparsedPublicKey::new(&X25519, peer),
            (),
            |shared| {
                let mut out = Zeroizing::new([0u8; KEY_LEN]);
                out.copy_from_slice(shared);
                Ok(out)
            },
        )
        .ok()
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        Self::from_bytes(&self.bytes)
    }
}
