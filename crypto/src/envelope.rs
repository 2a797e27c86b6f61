//! The envelope: a JWE with HPKE Integrated Encryption (draft-ietf-jose-hpke-encrypt), sealed
//! to an app's X25519 key and opened only by it.
//!
//! Compact form: `BASE64URL(header) "." BASE64URL(enc) "." "." BASE64URL(ciphertext) "."` —
//! the IV and tag are empty; HPKE `info` is empty and HPKE `aad` is the ASCII of the encoded
//! header, so every header member is authenticated.

use hpke::aead::{Aead, AesGcm128, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::{Kem as _, OpModeR, OpModeS};
use rand_core::CryptoRng;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::alg::Algorithm;
use crate::base64url;
use crate::error::{EnvelopeError, Part, SealError};
use crate::header::{Binding, Header};
use crate::jwk::{KEY_LEN, PrivateKey, PublicKey};
use crate::kem::{KemPublicKey, X25519HkdfSha256};
use crate::rng::system_rng;

/// The largest plaintext (an ID token) an envelope carries, in bytes.
pub const MAX_PLAINTEXT_LEN: usize = 8 * 1024;

/// The longest serialized envelope accepted, in bytes.
pub const MAX_ENVELOPE_LEN: usize = 16 * 1024;

/// The HPKE `info` of Integrated Encryption: the draft's default, the empty string.
const INFO: &[u8] = b"";

/// Length of an AEAD tag for both supported AEADs.
const TAG_LEN: usize = 16;

/// What to seal besides the plaintext.
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    /// The `cty` header member; `Some("JWT")` when the plaintext is a JWT.
    pub content_type: Option<String>,
    /// The `aud`, `mbx` and `exp` header members.
    pub binding: Binding,
}

impl SealOptions {
    /// Options for sealing an ID token (`cty: "JWT"`) bound as given.
    pub fn for_token(binding: Binding) -> Self {
        Self {
            content_type: Some("JWT".to_owned()),
            binding,
        }
    }
}

/// A parsed envelope: the header is readable without a key; the rest only with
/// [`Envelope::open`], which consumes the envelope.
#[derive(Debug, Clone)]
pub struct Envelope {
    serialized: String,
    header: Header,
    /// The HPKE aad: the encoded protected header, with `"." aad` in the JSON form.
    aad: String,
    encapsulated_key: [u8; KEY_LEN],
    ciphertext: Vec<u8>,
}

/// An opened envelope: its authenticated header and the plaintext.
pub struct Opened {
    /// The protected header, now authenticated.
    pub header: Header,
    /// The plaintext, zeroized on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("header", &self.header)
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .finish()
    }
}

/// Seals `plaintext` to `recipient` with the operating system's randomness.
pub fn seal(
    recipient: &PublicKey,
    plaintext: &[u8],
    options: &SealOptions,
) -> Result<Envelope, SealError> {
    seal_with_rng(recipient, plaintext, options, &mut system_rng())
}

/// Seals `plaintext` to `recipient`, drawing the ephemeral key from `rng`.
pub fn seal_with_rng(
    recipient: &PublicKey,
    plaintext: &[u8],
    options: &SealOptions,
    rng: &mut impl CryptoRng,
) -> Result<Envelope, SealError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(SealError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    options.binding.validate()?;
    if let Some(cty) = &options.content_type
        && !crate::header::is_plain_identifier(cty)
    {
        return Err(SealError::InvalidBinding("cty"));
    }
    let alg = recipient.algorithm();
    let header = Header::new(
        alg,
        recipient.thumbprint(),
        options.content_type.as_deref(),
        &options.binding,
    );
    let aad = base64url::encode(header.to_json());
    let (encapsulated_key, ciphertext) = match alg {
        Algorithm::Hpke3 => seal_suite::<AesGcm128>(recipient, plaintext, &aad, rng),
        Algorithm::Hpke4 => seal_suite::<ChaCha20Poly1305>(recipient, plaintext, &aad, rng),
    }
    .ok_or(SealError::InvalidRecipientKey)?;
    let serialized = format!(
        "{aad}.{}..{}.",
        base64url::encode(encapsulated_key),
        base64url::encode(&ciphertext)
    );
    Ok(Envelope {
        serialized,
        header,
        aad,
        encapsulated_key,
        ciphertext,
    })
}

fn seal_suite<A: Aead>(
    recipient: &PublicKey,
    plaintext: &[u8],
    aad: &str,
    rng: &mut impl CryptoRng,
) -> Option<([u8; KEY_LEN], Vec<u8>)> {
    let public = KemPublicKey::from(*recipient.as_bytes());
    let (encapped, ciphertext) =
        hpke::single_shot_seal_with_rng::<A, HkdfSha256, X25519HkdfSha256>(
            &OpModeS::Base,
            &public,
            INFO,
            plaintext,
            aad.as_bytes(),
            rng,
        )
        .ok()?;
    Some((*encapped.as_bytes(), ciphertext))
}

fn open_suite<A: Aead>(
    key: &PrivateKey,
    encapsulated_key: &[u8; KEY_LEN],
    ciphertext: &[u8],
    aad: &str,
) -> Option<Vec<u8>> {
    let encapped = KemPublicKey::from(*encapsulated_key);
    hpke::single_shot_open::<A, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        key.kem_key(),
        &encapped,
        INFO,
        ciphertext,
        aad.as_bytes(),
    )
    .ok()
}

impl Envelope {
    /// Parses a compact JWE strictly, without a key. This is what the gateway runs on every
    /// deposit: it learns the header and that the envelope is well formed, nothing more.
    pub fn parse(compact: &str) -> Result<Self, EnvelopeError> {
        check_len(compact.len())?;
        let parts: Vec<&str> = compact.split('.').collect();
        let [header, encapsulated_key, iv, ciphertext, tag] = parts[..] else {
            return Err(EnvelopeError::PartCount(parts.len()));
        };
        Self::from_parts(
            compact.to_owned(),
            header,
            None,
            encapsulated_key,
            iv,
            ciphertext,
            tag,
        )
    }

    /// Parses bytes that should hold a compact JWE (an HTTP body, say).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        check_len(bytes.len())?;
        let text = std::str::from_utf8(bytes).map_err(|_| EnvelopeError::Base64(Part::Header))?;
        Self::parse(text.trim_end_matches(['\r', '\n']))
    }

    /// Parses the flattened JWE JSON Serialization (RFC 7516 §7.2.2), with its optional `aad`.
    pub fn parse_flattened_json(json: &str) -> Result<Self, EnvelopeError> {
        check_len(json.len())?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Flattened<'a> {
            protected: &'a str,
            encrypted_key: &'a str,
            ciphertext: &'a str,
            #[serde(default)]
            aad: Option<&'a str>,
            #[serde(default)]
            iv: &'a str,
            #[serde(default)]
            tag: &'a str,
        }
        if !json.trim_start().starts_with('{') {
            return Err(EnvelopeError::NotFlattenedJson);
        }
        let flat: Flattened<'_> =
            serde_json::from_str(json).map_err(|_| EnvelopeError::NotFlattenedJson)?;
        if let Some(aad) = flat.aad {
            base64url::decode(aad).map_err(|_| EnvelopeError::Base64(Part::Header))?;
        }
        Self::from_parts(
            json.to_owned(),
            flat.protected,
            flat.aad,
            flat.encrypted_key,
            flat.iv,
            flat.ciphertext,
            flat.tag,
        )
    }

    fn from_parts(
        serialized: String,
        header_b64: &str,
        external_aad: Option<&str>,
        encapsulated_key: &str,
        iv: &str,
        ciphertext: &str,
        tag: &str,
    ) -> Result<Self, EnvelopeError> {
        let header_json =
            base64url::decode(header_b64).map_err(|_| EnvelopeError::Base64(Part::Header))?;
        let header = Header::from_json(&header_json)?;
        if !iv.is_empty() {
            return Err(EnvelopeError::NonEmptyIv);
        }
        if !tag.is_empty() {
            return Err(EnvelopeError::NonEmptyTag);
        }
        let encapsulated_key = base64url::decode(encapsulated_key)
            .map_err(|_| EnvelopeError::Base64(Part::EncapsulatedKey))?
            .try_into()
            .map_err(|_| EnvelopeError::EncapsulatedKeyLength)?;
        let ciphertext =
            base64url::decode(ciphertext).map_err(|_| EnvelopeError::Base64(Part::Ciphertext))?;
        if ciphertext.len() > MAX_PLAINTEXT_LEN + TAG_LEN {
            return Err(EnvelopeError::PlaintextTooLarge {
                max: MAX_PLAINTEXT_LEN,
            });
        }
        let aad = match external_aad {
            None => header_b64.to_owned(),
            Some(extra) => format!("{header_b64}.{extra}"),
        };
        Ok(Self {
            serialized,
            header,
            aad,
            encapsulated_key,
            ciphertext,
        })
    }

    /// The protected header, as sent (not yet authenticated).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The envelope as it was serialized.
    pub fn as_str(&self) -> &str {
        &self.serialized
    }

    /// The envelope as it was serialized, by value.
    pub fn into_string(self) -> String {
        self.serialized
    }

    /// Opens the envelope with the recipient's private key. Consumes it: an envelope is opened
    /// once. Every cryptographic failure is the one opaque [`EnvelopeError::Decryption`].
    pub fn open(self, key: &PrivateKey) -> Result<Opened, EnvelopeError> {
        if self.header.kid() != key.public_key().thumbprint() {
            return Err(EnvelopeError::KidMismatch);
        }
        if self.header.alg() != key.public_key().algorithm() {
            return Err(EnvelopeError::AlgorithmMismatch);
        }
        if self.ciphertext.len() < TAG_LEN {
            return Err(EnvelopeError::Decryption);
        }
        let (key_alg, ct, ek, aad) = (
            self.header.alg(),
            &self.ciphertext,
            &self.encapsulated_key,
            &self.aad,
        );
        let plaintext = match key_alg {
            Algorithm::Hpke3 => open_suite::<AesGcm128>(key, ek, ct, aad),
            Algorithm::Hpke4 => open_suite::<ChaCha20Poly1305>(key, ek, ct, aad),
        }
        .ok_or(EnvelopeError::Decryption)?;
        Ok(Opened {
            header: self.header,
            plaintext: Zeroizing::new(plaintext),
        })
    }
}

fn check_len(len: usize) -> Result<(), EnvelopeError> {
    if len > MAX_ENVELOPE_LEN {
        return Err(EnvelopeError::TooLarge {
            len,
            max: MAX_ENVELOPE_LEN,
        });
    }
    Ok(())
}

/// Derives an X25519 key pair from input keying material as RFC 9180 §7.1.3 `DeriveKeyPair`
/// does; used by known-answer tests and by callers that manage their own seeds.
pub fn derive_private_key(ikm: &[u8], alg: Algorithm) -> PrivateKey {
    let (secret, _) = X25519HkdfSha256::derive_keypair(ikm);
    PrivateKey::from_kem_key(secret, alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_options() -> SealOptions {
        SealOptions::for_token(Binding::to_mailbox("client-1", "mailbox-1", 1_900_000_000))
    }

    #[test]
    fn seal_then_open_both_algorithms() {
        for alg in Algorithm::ALL {
            let key = PrivateKey::generate(alg);
            let envelope = seal(key.public_key(), b"header.payload.sig", &token_options()).unwrap();
            let parsed = Envelope::parse(envelope.as_str()).unwrap();
            assert_eq!(parsed.header().alg(), alg);
            assert_eq!(parsed.header().mbx(), Some("mailbox-1"));
            let opened = parsed.open(&key).unwrap();
            assert_eq!(opened.plaintext.as_slice(), b"header.payload.sig");
            assert_eq!(opened.header.cty(), Some("JWT"));
        }
    }

    #[test]
    fn wrong_key_is_refused() {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let envelope = seal(key.public_key(), b"t", &SealOptions::default()).unwrap();
        let other = PrivateKey::generate(Algorithm::Hpke4);
        assert_eq!(
            envelope.open(&other).unwrap_err(),
            EnvelopeError::KidMismatch
        );
    }

    #[test]
    fn oversized_plaintext_is_refused() {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let big = vec![b'a'; MAX_PLAINTEXT_LEN + 1];
        assert!(matches!(
            seal(key.public_key(), &big, &SealOptions::default()),
            Err(SealError::PlaintextTooLarge { .. })
        ));
        let largest = vec![b'a'; MAX_PLAINTEXT_LEN];
        let envelope = seal(key.public_key(), &largest, &token_options()).unwrap();
        assert!(
            Envelope::parse(envelope.as_str()).is_ok(),
            "the largest plaintext must fit"
        );
    }
}
