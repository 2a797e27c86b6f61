//! X25519 (RFC 7748) for the keys and the envelope's KEM, from the backend chosen at build time:
//! aws-lc-rs (feature `aws-lc`, the default) or x25519-dalek (feature `pure-rust`, for targets
//! where aws-lc does not build). Both give the same bytes; the rest of the crate sees only
//! [`SecretKey`].

#[cfg(not(any(feature = "aws-lc", feature = "pure-rust")))]
compile_error!(
    "sealgate-crypto needs an X25519 backend: enable the feature `aws-lc` (the default) or `pure-rust`"
);

#[cfg(feature = "aws-lc")]
#[path = "x25519/aws_lc.rs"]
mod backend;

#[cfg(all(feature = "pure-rust", not(feature = "aws-lc")))]
#[path = "x25519/dalek.rs"]
mod backend;

pub(crate) use backend::SecretKey;

/// The X25519 implementation this build of sealgate-crypto uses: `"aws-lc-rs"` or
/// `"x25519-dalek"`.
pub const X25519_BACKEND: &str = backend::NAME;

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7748 §6.1: Alice's and Bob's key pairs and their shared secret.
    #[test]
    fn rfc7748_diffie_hellman() {
        let hex = |text: &str| -> [u8; 32] {
            let bytes: Vec<u8> = (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
                .collect();
            bytes.try_into().unwrap()
        };
        let alice = SecretKey::from_bytes(&hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob = SecretKey::from_bytes(&hex(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ));
        let alice_public = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob_public = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(alice.public_key(), alice_public);
        assert_eq!(bob.public_key(), bob_public);
        assert_eq!(*alice.diffie_hellman(&bob_public).unwrap(), shared);
        assert_eq!(*bob.diffie_hellman(&alice_public).unwrap(), shared);
    }

    #[test]
    fn low_order_peer_gives_no_secret() {
        let key = SecretKey::from_bytes(&[0x5a; 32]);
        assert!(key.diffie_hellman(&[0u8; 32]).is_none());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(key.diffie_hellman(&one).is_none());
    }

    #[test]
    fn secret_bytes_round_trip() {
        let bytes = [0x42; 32];
        assert_eq!(*SecretKey::from_bytes(&bytes).to_bytes(), bytes);
    }
}
