//! The typed errors of keys, envelopes and sign-in requests.

use thiserror::Error;

/// Why a JWK or JWKS was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JwkError {
    /// The text is not JSON.
    #[error("the key is not valid JSON")]
    NotJson,
    /// The JWK is not a JSON object.
    #[error("a JWK must be a JSON object")]
    NotAnObject,
    /// A required member is absent.
    #[error("the JWK has no `{0}` member")]
    MissingMember(&'static str),
    /// A member has the wrong type or an invalid value.
    #[error("the JWK member `{0}` is not valid")]
    InvalidMember(&'static str),
    /// `kty` is not `OKP`.
    #[error("key type `{0}` is not supported; use an OKP key")]
    UnsupportedKeyType(String),
    /// `crv` is not `X25519`.
    #[error("curve `{0}` is not supported; use X25519")]
    UnsupportedCurve(String),
    /// `use` is present and not `enc`.
    #[error("key use `{0}` is not `enc`")]
    WrongUse(String),
    /// `alg` is present and neither `HPKE-3` nor `HPKE-4`.
    #[error("key algorithm `{0}` is not supported; use HPKE-4 or HPKE-3")]
    UnsupportedAlgorithm(String),
    /// `kid` is present and is not the key's RFC 7638 thumbprint.
    #[error("the `kid` must be the key's RFC 7638 thumbprint")]
    KidNotThumbprint,
    /// A public key was expected and the JWK carries `d`.
    #[error("the JWK carries private key material (`d`); send only the public key")]
    PrivateKeyMaterial,
    /// `x` is a low-order point: nothing can be sealed to it.
    #[error("the key is a low-order point and cannot be used")]
    LowOrderPoint,
    /// A private JWK's `x` is not the public key of its `d`.
    #[error("the JWK's `x` does not belong to its `d`")]
    PublicKeyMismatch,
    /// A key set with no key.
    #[error("the key set has no key")]
    EmptySet,
    /// A key set with more keys than allowed.
    #[error("the key set has more than {max} keys")]
    TooManyKeys {
        /// The limit.
        max: usize,
    },
    /// The same key twice in one set.
    #[error("the key set has the same key twice")]
    DuplicateKey,
    /// One key of a set was refused.
    #[error("key {index} of the set: {source}")]
    InSet {
        /// Position of the key in `keys`.
        index: usize,
        /// Why that key was refused.
        source: Box<JwkError>,
    },
}

/// The part of a compact JWE a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The BASE64URL(UTF8(JWE Protected Header)).
    Header,
    /// The JWE Encrypted Key: the HPKE encapsulated secret.
    EncapsulatedKey,
    /// The JWE Initialization Vector.
    Iv,
    /// The JWE Ciphertext.
    Ciphertext,
    /// The JWE Authentication Tag.
    Tag,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Header => "protected header",
            Part::EncapsulatedKey => "encapsulated key",
            Part::Iv => "initialization vector",
            Part::Ciphertext => "ciphertext",
            Part::Tag => "authentication tag",
        })
    }
}

/// Why an envelope could not be parsed or opened.
///
/// Every failure of the cryptography itself is the one opaque [`EnvelopeError::Decryption`], so
/// that a caller cannot learn which check failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The envelope is longer than [`crate::MAX_ENVELOPE_LEN`].
    #[error("the envelope is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A compact JWE has five dot-separated parts.
    #[error("a compact JWE has 5 parts, this has {0}")]
    PartCount(usize),
    /// The input is not a flattened JWE JSON object with the members Integrated Encryption uses.
    #[error("not a flattened JWE JSON object (protected, encrypted_key, ciphertext, aad?)")]
    NotFlattenedJson,
    /// A part is not unpadded base64url.
    #[error("the {0} is not valid base64url")]
    Base64(Part),
    /// The protected header is not a JSON object.
    #[error("the protected header is not a JSON object")]
    HeaderNotJson,
    /// A required header member is absent.
    #[error("the protected header has no `{0}`")]
    MissingHeader(&'static str),
    /// A header member has the wrong type or value.
    #[error("the protected header member `{0}` is not valid")]
    InvalidHeader(&'static str),
    /// `alg` names no HPKE algorithm.
    #[error("algorithm `{0}` is not a JOSE-HPKE algorithm")]
    UnknownAlgorithm(String),
    /// `alg` is an HPKE algorithm sealgate does not implement.
    #[error("algorithm `{0}` is not supported; use HPKE-4 or HPKE-3")]
    UnsupportedAlgorithm(String),
    /// Integrated Encryption forbids the `enc` header parameter.
    #[error("the header has `enc`, which Integrated Encryption forbids")]
    EncPresent,
    /// Integrated Encryption forbids the `ek` header parameter.
    #[error("the header has `ek`, which Integrated Encryption forbids")]
    EkPresent,
    /// A header parameter sealgate does not implement (`psk_id`, `crit`, `zip`).
    #[error("the header parameter `{0}` is not supported")]
    UnsupportedHeader(&'static str),
    /// Integrated Encryption requires an empty IV.
    #[error("the initialization vector must be empty")]
    NonEmptyIv,
    /// Integrated Encryption requires an empty authentication tag.
    #[error("the authentication tag must be empty")]
    NonEmptyTag,
    /// The encapsulated key is not a 32-byte X25519 public key.
    #[error("the encapsulated key must be 32 bytes")]
    EncapsulatedKeyLength,
    /// The envelope names another key than the one it is opened with.
    #[error("the envelope's kid does not match the key")]
    KidMismatch,
    /// The envelope's `alg` is not the one the key is for.
    #[error("the envelope's alg is not the key's alg")]
    AlgorithmMismatch,
    /// The ciphertext is longer than the largest plaintext allows.
    #[error("the ciphertext is longer than a {max}-byte plaintext can make")]
    PlaintextTooLarge {
        /// The plaintext limit.
        max: usize,
    },
    /// Decryption failed; deliberately says no more.
    #[error("the envelope could not be decrypted")]
    Decryption,
}

/// Why an envelope could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SealError {
    /// The plaintext is longer than [`crate::MAX_PLAINTEXT_LEN`].
    #[error("the plaintext is {len} bytes, more than the {max} allowed")]
    PlaintextTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A binding value is not a plain identifier (see [`crate::Binding`]), or `exp` is over
    /// 2^53 - 1.
    #[error(
        "the binding member `{0}` is invalid: ids are 1 to 128 URL-safe characters, exp at most 2^53 - 1"
    )]
    InvalidBinding(&'static str),
    /// The recipient key is unusable (a low-order point).
    #[error("the recipient public key is not usable")]
    InvalidRecipientKey,
}

/// Why a sign-in request URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignInRequestError {
    /// It does not start with `sealgate:signin?`.
    #[error("not a sealgate sign-in request (it must start with `sealgate:signin?`)")]
    NotASignInRequest,
    /// The request is longer than [`crate::signin::MAX_URI_LEN`].
    #[error("the sign-in request is longer than {0} characters")]
    TooLong(usize),
    /// The version parameter `v` is not one this library reads.
    #[error("sign-in request version `{0}` is not supported")]
    UnsupportedVersion(String),
    /// A required parameter is absent.
    #[error("the sign-in request has no `{0}`")]
    Missing(&'static str),
    /// A parameter appears twice.
    #[error("the sign-in request has `{0}` twice")]
    Repeated(String),
    /// A parameter's value is malformed.
    #[error("the sign-in request parameter `{0}` is not valid")]
    Invalid(&'static str),
    /// The request expired.
    #[error("the sign-in request expired at {expired_at} (now {now})")]
    Expired {
        /// Its expiry, seconds since the epoch.
        expired_at: u64,
        /// The time it was checked at.
        now: u64,
    },
}

/// Why an envelope's binding does not match what the app expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BindingError {
    /// A binding member is absent, so the envelope could be moved anywhere.
    #[error("the envelope header has no `{0}`, so it is not bound to a mailbox")]
    Missing(&'static str),
    /// `aud` names another client.
    #[error("the envelope was sealed for another client")]
    WrongClient,
    /// `mbx` names another mailbox.
    #[error("the envelope was sealed for another mailbox")]
    WrongMailbox,
    /// `exp` has passed.
    #[error("the envelope expired at {exp} (now {now})")]
    Expired {
        /// Its expiry, seconds since the epoch.
        exp: u64,
        /// The time it was checked at.
        now: u64,
    },
}
