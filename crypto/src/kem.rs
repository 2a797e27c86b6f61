//! DHKEM(X25519, HKDF-SHA256) of RFC 9180 §4.1 as an [`hpke::Kem`], on the X25519 backend this
//! build uses (see [`crate::X25519_BACKEND`]). The `hpke` crate runs the key schedule and the
//! AEAD over it.
//!
//! Unlike `hpke::kem::X25519HkdfSha256`, an encapsulation computes the ephemeral public key once,
//! and a private key carries its public key, so a decapsulation is a single X25519. Only the
//! base and PSK modes are supported: the authenticated modes, which sealgate does not use, fail
//! with `EncapError`/`DecapError`.

use hpke::hybrid_array::sizes::U32;
use hpke::kdf::{HkdfSha256, Kdf as _};
use hpke::kem::SharedSecret;
use hpke::rand_core::CryptoRng;
use hpke::{Deserializable, HpkeError, Kem, Serializable};
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::jwk::KEY_LEN;
use crate::x25519::SecretKey;

/// RFC 9180 §4.1: `suite_id = concat("KEM", I2OSP(kem_id, 2))` for KEM id 0x0020.
const SUITE_ID: [u8; 5] = *b"KEM\x00\x20";

/// DHKEM(X25519, HKDF-SHA256), KEM id 0x0020, for `hpke`'s generic functions.
#[derive(Debug, Clone, Copy)]
pub struct X25519HkdfSha256;

/// An X25519 public key, and the encapsulated key (`enc`) of this KEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KemPublicKey([u8; KEY_LEN]);

impl KemPublicKey {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl From<[u8; KEY_LEN]> for KemPublicKey {
    fn from(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }
}

/// An X25519 private key with its public key; zeroized on drop and never printed.
#[derive(Clone)]
pub struct KemPrivateKey {
    secret: SecretKey,
    public: KemPublicKey,
}

impl KemPrivateKey {
    /// The private key whose scalar is `bytes`.
    pub(crate) fn from_secret_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let secret = SecretKey::from_bytes(bytes);
        let public = KemPublicKey(secret.public_key());
        Self { secret, public }
    }

    /// The matching public key.
    pub fn public_key(&self) -> &KemPublicKey {
        &self.public
    }

    /// The bytes the key was made from, as given (not clamped).
    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        self.secret.to_bytes()
    }

    /// X25519 with `peer`; `None` for a low-order `peer`.
    pub(crate) fn diffie_hellman(&self, peer: &[u8; KEY_LEN]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        self.secret.diffie_hellman(peer)
    }
}

impl Serializable for KemPublicKey {
    type OutputSize = U32;

    fn write_exact(&self, buf: &mut [u8]) {
        buf.copy_from_slice(&self.0);
    }
}

impl Deserializable for KemPublicKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let bytes = encoded
            .try_into()
            .map_err(|_| HpkeError::IncorrectInputLength(KEY_LEN, encoded.len()))?;
        Ok(Self(bytes))
    }
}

impl Serializable for KemPrivateKey {
    type OutputSize = U32;

    /// RFC 9180 §7.1.2: an X25519 private key serializes clamped.
    fn write_exact(&self, buf: &mut [u8]) {
        let mut bytes = self.secret.to_bytes();
        clamp(&mut bytes);
        buf.copy_from_slice(bytes.as_ref());
    }
}

impl Deserializable for KemPrivateKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let bytes: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(
            encoded
                .try_into()
                .map_err(|_| HpkeError::IncorrectInputLength(KEY_LEN, encoded.len()))?,
        );
        Ok(Self::from_secret_bytes(&bytes))
    }
}

impl ConstantTimeEq for KemPrivateKey {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.secret
            .to_bytes()
            .ct_eq(other.secret.to_bytes().as_ref())
    }
}

/// RFC 7748 §5 `decodeScalar25519`'s bit clearing and setting, which X25519 applies anyway.
fn clamp(bytes: &mut [u8; KEY_LEN]) {
    bytes[0] &= 248;
    bytes[31] &= 127;
    bytes[31] |= 64;
}

/// RFC 9180 §4.1 `ExtractAndExpand(dh, kem_context)` with `kem_context = enc || pkRm`.
fn shared_secret(
    dh: &[u8; KEY_LEN],
    enc: &KemPublicKey,
    recipient: &KemPublicKey,
) -> SharedSecret<X25519HkdfSha256> {
    let mut kem_context = [0u8; 2 * KEY_LEN];
    kem_context[..KEY_LEN].copy_from_slice(&enc.0);
    kem_context[KEY_LEN..].copy_from_slice(&recipient.0);
    let mut secret = SharedSecret::<X25519HkdfSha256>::default();
    HkdfSha256::extract_and_expand(dh, &SUITE_ID, &kem_context, &mut secret.0)
        .expect("32 bytes are within HKDF-SHA256's output limit");
    secret
}

impl Kem for X25519HkdfSha256 {
    type PublicKey = KemPublicKey;
    type PrivateKey = KemPrivateKey;
    type EncappedKey = KemPublicKey;
    type NSecret = U32;

    const KEM_ID: u16 = 0x0020;

    fn sk_to_pk(sk: &KemPrivateKey) -> KemPublicKey {
        sk.public.clone()
    }

    /// RFC 9180 §7.1.3 `DeriveKeyPair`: one base-point multiplication. The private key is kept
    /// clamped, as it serializes.
    fn derive_keypair(ikm: &[u8]) -> (KemPrivateKey, KemPublicKey) {
        let mut bytes = Zeroizing::new(HkdfSha256::derive_x25519_sk_eph_bytes(&SUITE_ID, ikm));
        clamp(&mut bytes);
        let key = KemPrivateKey::from_secret_bytes(&bytes);
        let public = key.public.clone();
        (key, public)
    }

    fn decap(
        sk_recip: &KemPrivateKey,
        pk_sender_id: Option<&KemPublicKey>,
        encapped_key: &KemPublicKey,
    ) -> Result<SharedSecret<Self>, HpkeError> {
        if pk_sender_id.is_some() {
            return Err(HpkeError::DecapError);
        }
        let dh = sk_recip
            .diffie_hellman(&encapped_key.0)
            .ok_or(HpkeError::DecapError)?;
        Ok(shared_secret(&dh, encapped_key, &sk_recip.public))
    }

    /// RFC 9180 §4.1 `Encap`, the ephemeral key from `DeriveKeyPair(random(32))`: one
    /// base-point multiplication and one X25519.
    fn encap_with_rng(
        pk_recip: &KemPublicKey,
        sender_id_keypair: Option<(&KemPrivateKey, &KemPublicKey)>,
        csprng: &mut impl CryptoRng,
    ) -> Result<(SharedSecret<Self>, KemPublicKey), HpkeError> {
        if sender_id_keypair.is_some() {
            return Err(HpkeError::EncapError);
        }
        let mut ikm = Zeroizing::new([0u8; KEY_LEN]);
        csprng.fill_bytes(ikm.as_mut());
        let (ephemeral, enc) = Self::derive_keypair(ikm.as_ref());
        let dh = ephemeral
            .diffie_hellman(&pk_recip.0)
            .ok_or(HpkeError::EncapError)?;
        Ok((shared_secret(&dh, &enc, pk_recip), enc))
    }
}
