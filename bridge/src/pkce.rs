//! PKCE (RFC 7636) with the `S256` method only: challenge syntax and verifier check.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a PKCE value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PkceError {
    /// `code_challenge_method` other than `S256` (`plain` is not offered).
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    /// The challenge is not 43 base64url characters (a SHA-256 digest).
    #[error("code_challenge must be 43 base64url characters")]
    MalformedChallenge,
    /// The verifier is not 43..=128 characters of `[A-Za-z0-9-._~]`.
    #[error("code_verifier must be 43 to 128 unreserved characters")]
    MalformedVerifier,
    /// The verifier does not hash to the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

/// Checks an `/authorize` request's challenge and method (absent method means `plain`,
/// which is refused).
pub fn check_challenge(challenge: &str, method: Option<&str>) -> Result<(), PkceError> {
    if method != Some("S256") {
        return Err(PkceError::UnsupportedMethod);
    }
    let decodes_to_digest = URL_SAFE_NO_PAD
        .decode(challenge)
        .is_ok_and(|digest| digest.len() == 32);
    if challenge.len() != 43 || !decodes_to_digest {
        return Err(PkceError::MalformedChallenge);
    }
    Ok(())
}

/// Checks a `/token` request's verifier against the stored `S256` challenge.
pub fn verify(verifier: &str, challenge: &str) -> Result<(), PkceError> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(unreserved) {
        return Err(PkceError::MalformedVerifier);
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
        Ok(())
    } else {
        Err(PkceError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_example_verifies() {
        assert_eq!(check_challenge(CHALLENGE, Some("S256")), Ok(()));
        assert_eq!(verify(VERIFIER, CHALLENGE), Ok(()));
    }

    #[test]
    fn plain_and_absent_methods_are_refused() {
        assert_eq!(
            check_challenge(CHALLENGE, Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            check_challenge(CHALLENGE, None),
            Err(PkceError::UnsupportedMethod)
        );
    }

    #[test]
    fn malformed_challenge_is_refused() {
        assert_eq!(
            check_challenge("short", Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        let bad = format!("{}*", &CHALLENGE[..42]);
        assert_eq!(
            check_challenge(&bad, Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }

    #[test]
    fn wrong_or_malformed_verifier_is_refused() {
        let other = format!("{}A", &VERIFIER[..42]);
        assert_eq!(verify(&other, CHALLENGE), Err(PkceError::Mismatch));
        assert_eq!(
            verify("too-short", CHALLENGE),
            Err(PkceError::MalformedVerifier)
        );
        let spaced = format!("{} ", &VERIFIER[..42]);
        assert_eq!(
            verify(&spaced, CHALLENGE),
            Err(PkceError::MalformedVerifier)
        );
    }
}
