//! X25519 keys as JSON Web Keys (RFC 8037 `OKP`), their RFC 7638 thumbprints, and key sets.

use std::fmt;

use rand_core::CryptoRng;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::alg::Algorithm;
use crate::base64url;
use crate::error::JwkError;
use crate::kem::KemPrivateKey;
use crate::rng::system_rng;
use crate::x25519::SecretKey;

/// Length in bytes of an X25519 key, public or private.
pub const KEY_LEN: usize = 32;

/// The most keys a [`Jwks`] may hold.
pub const MAX_JWKS_KEYS: usize = 16;

/// An X25519 public key that envelopes are sealed to, with its JOSE metadata.
///
/// Its `kid` is always the RFC 7638 thumbprint of the key, so a `kid` names exactly one key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; KEY_LEN],
    alg: Algorithm,
    kid: String,
}

impl PublicKey {
    /// Wraps raw X25519 public key bytes, to be used with `alg`.
    pub fn from_bytes(bytes: [u8; KEY_LEN], alg: Algorithm) -> Self {
        let kid = thumbprint(&bytes);
        Self { bytes, alg, kid }
    }

    /// Parses a public JWK from JSON text.
    pub fn from_jwk_json(text: &str) -> Result<Self, JwkError> {
        let value: Value = serde_json::from_str(text).map_err(|_| JwkError::NotJson)?;
        Self::from_jwk(&value)
    }

    /// Parses a public JWK. A JWK that carries private key material (`d`) is refused, so that a
    /// private key is never accepted where only a public one belongs.
    pub fn from_jwk(value: &Value) -> Result<Self, JwkError> {
        let object = value.as_object().ok_or(JwkError::NotAnObject)?;
        if object.contains_key("d") {
            return Err(JwkError::PrivateKeyMaterial);
        }
        let parsed = parse_okp(object)?;
        Ok(Self::from_bytes(parsed.x, parsed.alg))
    }

    /// The key as a public JWK: `kty`, `crv`, `x`, `use`, `alg` and `kid`.
    pub fn to_jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "X25519",
            "x": base64url::encode(self.bytes),
            "use": "enc",
            "alg": self.alg.as_str(),
            "kid": self.kid,
        })
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url), which is also the key's `kid`.
    pub fn thumbprint(&self) -> &str {
        &self.kid
    }

    /// The algorithm envelopes to this key are sealed with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The raw X25519 public key.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// An X25519 private key: the app's half of the envelope. It zeroizes on drop and never prints.
pub struct PrivateKey {
    secret: KemPrivateKey,
    public: PublicKey,
}

impl PrivateKey {
    /// Generates a key from the operating system's randomness, for `alg`.
    pub fn generate(alg: Algorithm) -> Self {
        Self::generate_with_rng(alg, &mut system_rng())
    }

    /// Generates a key from the given randomness, for `alg`.
    pub fn generate_with_rng(alg: Algorithm, rng: &mut impl CryptoRng) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_secret_bytes(*bytes, alg)
    }

    /// Wraps raw X25519 private key bytes, to be used with `alg`.
    pub fn from_secret_bytes(bytes: [u8; KEY_LEN], alg: Algorithm) -> Self {
        let bytes = Zeroizing::new(bytes);
        Self::from_kem_key(KemPrivateKey::from_secret_bytes(&bytes), alg)
    }

    /// Wraps a key of the envelope's KEM, to be used with `alg`.
    pub(crate) fn from_kem_key(secret: KemPrivateKey, alg: Algorithm) -> Self {
        let public = PublicKey::from_bytes(*secret.public_key().as_bytes(), alg);
        Self { secret, public }
    }

    /// Parses a private JWK (one with `d`) from JSON text.
    pub fn from_jwk_json(text: &str) -> Result<Self, JwkError> {
        let mut value: Value = serde_json::from_str(text).map_err(|_| JwkError::NotJson)?;
        let key = Self::from_jwk(&value);
        if let Some(Value::String(d)) = value.get_mut("d") {
            zeroize::Zeroize::zeroize(d);
        }
        key
    }

    /// Parses a private JWK. When it also carries `x`, `x` must be the public key of `d`.
    pub fn from_jwk(value: &Value) -> Result<Self, JwkError> {
        let object = value.as_object().ok_or(JwkError::NotAnObject)?;
        let parsed = parse_okp_header(object)?;
        let d = object
            .get("d")
            .ok_or(JwkError::MissingMember("d"))?
            .as_str()
            .ok_or(JwkError::InvalidMember("d"))?;
        let secret = Zeroizing::new(
            base64url::decode_array::<KEY_LEN>(d).map_err(|_| JwkError::InvalidMember("d"))?,
        );
        let key = Self::from_secret_bytes(*secret, parsed.alg);
        if let Some(x) = object.get("x") {
            let x = x.as_str().ok_or(JwkError::InvalidMember("x"))?;
            if base64url::decode(x).ok().as_deref() != Some(key.public.as_bytes()) {
                return Err(JwkError::PublicKeyMismatch);
            }
        }
        check_kid(object, &key.public)?;
        Ok(key)
    }

    /// The key as a private JWK (JSON text with `d`), in memory that zeroizes on drop.
    pub fn to_jwk_json(&self) -> Zeroizing<String> {
        let d = Zeroizing::new(base64url::encode(self.secret.secret_bytes().as_ref()));
        let public = &self.public;
        Zeroizing::new(format!(
            r#"{{"kty":"OKP","crv":"X25519","x":"{}","d":"{}","use":"enc","alg":"{}","kid":"{}"}}"#,
            base64url::encode(public.bytes),
            d.as_str(),
            public.alg,
            public.kid
        ))
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key in the envelope KEM's type, for the HPKE layer.
    pub(crate) fn kem_key(&self) -> &KemPrivateKey {
        &self.secret
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kid", &self.public.kid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A JSON Web Key Set of X25519 public keys, as a client registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<PublicKey>,
}

impl Jwks {
    /// A key set of the given keys; refuses an empty set, too many keys or a repeated `kid`.
    pub fn new(keys: Vec<PublicKey>) -> Result<Self, JwkError> {
        if keys.is_empty() {
            return Err(JwkError::EmptySet);
        }
        if keys.len() > MAX_JWKS_KEYS {
            return Err(JwkError::TooManyKeys { max: MAX_JWKS_KEYS });
        }
        for (index, key) in keys.iter().enumerate() {
            if keys[..index].iter().any(|earlier| earlier.kid == key.kid) {
                return Err(JwkError::DuplicateKey);
            }
        }
        Ok(Self { keys })
    }

    /// Parses `{"keys": [...]}` from JSON text.
    pub fn from_json(text: &str) -> Result<Self, JwkError> {
        let value: Value = serde_json::from_str(text).map_err(|_| JwkError::NotJson)?;
        Self::from_value(&value)
    }

    /// Parses `{"keys": [...]}`; every key must be a valid public X25519 JWK.
    pub fn from_value(value: &Value) -> Result<Self, JwkError> {
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwkError::MissingMember("keys"))?;
        if keys.len() > MAX_JWKS_KEYS {
            return Err(JwkError::TooManyKeys { max: MAX_JWKS_KEYS });
        }
        let keys = keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                PublicKey::from_jwk(key).map_err(|source| JwkError::InSet {
                    index,
                    source: Box::new(source),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The set as `{"keys": [...]}`.
    pub fn to_value(&self) -> Value {
        json!({ "keys": self.keys.iter().map(PublicKey::to_jwk).collect::<Vec<_>>() })
    }

    /// The keys, in registration order; the first is the preferred one.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The key whose `kid` (thumbprint) is `kid`.
    pub fn find(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }
}

/// The RFC 7638 thumbprint of an X25519 public key: base64url(SHA-256 of the canonical JWK).
pub fn thumbprint(public_key: &[u8; KEY_LEN]) -> String {
    let canonical = format!(
        r#"{{"crv":"X25519","kty":"OKP","x":"{}"}}"#,
        base64url::encode(public_key)
    );
    base64url::encode(Sha256::digest(canonical.as_bytes()))
}

struct ParsedOkp {
    x: [u8; KEY_LEN],
    alg: Algorithm,
}

struct ParsedHeader {
    alg: Algorithm,
}

/// Checks the members every X25519 JWK shares: `kty`, `crv`, `use`, `alg`.
fn parse_okp_header(object: &Map<String, Value>) -> Result<ParsedHeader, JwkError> {
    let member = |name: &'static str| -> Result<Option<&str>, JwkError> {
        match object.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(JwkError::InvalidMember(name)),
        }
    };
    match member("kty")? {
        Some("OKP") => {}
        Some(other) => return Err(JwkError::UnsupportedKeyType(other.to_owned())),
        None => return Err(JwkError::MissingMember("kty")),
    }
    match member("crv")? {
        Some("X25519") => {}
        Some(other) => return Err(JwkError::UnsupportedCurve(other.to_owned())),
        None => return Err(JwkError::MissingMember("crv")),
    }
    if let Some(key_use) = member("use")?
        && key_use != "enc"
    {
        return Err(JwkError::WrongUse(key_use.to_owned()));
    }
    let alg = match member("alg")? {
        None => Algorithm::default(),
        Some(name) => {
            Algorithm::from_name(name).ok_or_else(|| JwkError::UnsupportedAlgorithm(name.into()))?
        }
    };
    Ok(ParsedHeader { alg })
}

fn parse_okp(object: &Map<String, Value>) -> Result<ParsedOkp, JwkError> {
    let header = parse_okp_header(object)?;
    let x = object
        .get("x")
        .ok_or(JwkError::MissingMember("x"))?
        .as_str()
        .ok_or(JwkError::InvalidMember("x"))?;
    let x = base64url::decode_array::<KEY_LEN>(x).map_err(|_| JwkError::InvalidMember("x"))?;
    if is_low_order(&x) {
        return Err(JwkError::LowOrderPoint);
    }
    let key = PublicKey::from_bytes(x, header.alg);
    check_kid(object, &key)?;
    Ok(ParsedOkp { x, alg: header.alg })
}

/// Whether Diffie-Hellman with `point` gives the all-zero secret (RFC 7748 §6.1): true
/// exactly for the low-order points, to which nothing can be sealed.
fn is_low_order(point: &[u8; KEY_LEN]) -> bool {
    SecretKey::from_bytes(&[0x5a; KEY_LEN])
        .diffie_hellman(point)
        .is_none()
}

/// A `kid`, when present, must be the key's thumbprint.
fn check_kid(object: &Map<String, Value>, key: &PublicKey) -> Result<(), JwkError> {
    match object.get("kid") {
        None => Ok(()),
        Some(Value::String(kid)) if *kid == key.kid => Ok(()),
        Some(Value::String(_)) => Err(JwkError::KidNotThumbprint),
        Some(_) => Err(JwkError::InvalidMember("kid")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_jwk_round_trips_and_hides_its_secret() {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let text = key.to_jwk_json();
        let again = PrivateKey::from_jwk_json(&text).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let d = serde_json::from_str::<Value>(&text).unwrap()["d"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!format!("{key:?}").contains(&d));
        assert!(format!("{key:?}").contains("redacted"));
    }

    #[test]
    fn public_jwk_refuses_private_material_and_wrong_kid() {
        let key = PrivateKey::generate(Algorithm::Hpke3);
        let private: Value = serde_json::from_str(&key.to_jwk_json()).unwrap();
        assert_eq!(
            PublicKey::from_jwk(&private),
            Err(JwkError::PrivateKeyMaterial)
        );
        let mut public = key.public_key().to_jwk();
        assert_eq!(PublicKey::from_jwk(&public).unwrap(), *key.public_key());
        public["kid"] = json!("someone-else");
        assert_eq!(
            PublicKey::from_jwk(&public),
            Err(JwkError::KidNotThumbprint)
        );
    }

    #[test]
    fn private_jwk_with_foreign_x_is_refused() {
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let other = PrivateKey::generate(Algorithm::Hpke4);
        let mut jwk: Value = serde_json::from_str(&key.to_jwk_json()).unwrap();
        jwk["x"] = other.public_key().to_jwk()["x"].clone();
        jwk.as_object_mut().unwrap().remove("kid");
        assert_eq!(
            PrivateKey::from_jwk(&jwk).unwrap_err(),
            JwkError::PublicKeyMismatch
        );
    }

    #[test]
    fn low_order_points_are_refused() {
        let zero = json!({"kty": "OKP", "crv": "X25519", "x": base64url::encode([0u8; KEY_LEN])});
        assert_eq!(PublicKey::from_jwk(&zero), Err(JwkError::LowOrderPoint));
    }

    #[test]
    fn jwks_refuses_empty_duplicate_and_foreign_keys() {
        let key = PrivateKey::generate(Algorithm::Hpke4).public_key().clone();
        assert_eq!(Jwks::new(vec![]), Err(JwkError::EmptySet));
        assert_eq!(
            Jwks::new(vec![key.clone(), key.clone()]),
            Err(JwkError::DuplicateKey)
        );
        let ec = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]});
        assert!(matches!(
            Jwks::from_value(&ec),
            Err(JwkError::InSet { index: 0, .. })
        ));
        let set = Jwks::new(vec![key.clone()]).unwrap();
        assert_eq!(Jwks::from_value(&set.to_value()).unwrap(), set);
        assert_eq!(set.find(key.thumbprint()), Some(&key));
    }
}
