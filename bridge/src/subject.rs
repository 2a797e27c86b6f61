//! The issued `sub`: the phone token's subject namespaced by its issuer (docs/decisions.md).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `base64url(SHA-256(len(iss) as u64 BE || iss || sub))`: 43 ASCII characters, stable for
/// one (issuer, subject) pair, and two issuers cannot produce the same value for their users
/// (the length prefix makes the encoding of the pair unambiguous).
pub fn namespaced_subject(issuer: &str, subject: &str) -> String {
    let mut hash = Sha256::new();
    hash.update((issuer.len() as u64).to_be_bytes());
    hash.update(issuer.as_bytes());
    hash.update(subject.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_fixed_length() {
        let a = namespaced_subject("https://issuer.example", "alice");
        assert_eq!(a, namespaced_subject("https://issuer.example", "alice"));
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn issuers_and_boundaries_do_not_collide() {
        let one = namespaced_subject("https://a.example", "alice");
        assert_ne!(one, namespaced_subject("https://b.example", "alice"));
        // Same concatenation, different split.
        assert_ne!(
            namespaced_subject("https://a.example/x", "y"),
            namespaced_subject("https://a.example/", "xy")
        );
    }
}
