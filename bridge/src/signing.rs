//! The bridge's ID-token signing keys: one RSA (RS256) and one P-256 (ES256) key, kept as
//! PKCS#8 `PRIVATE KEY` blocks in one PEM file (generated on first start), published as a
//! JWKS, and used to sign compact JWS.

use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::config::SigningAlg;

/// Why the signing keys could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    /// The file could not be read or written.
    #[error("signing key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The file holds something other than one RSA and one P-256 PKCS#8 key.
    #[error("signing key file {path}: {reason}")]
    Unusable {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// One key of each algorithm, with its `kid` (RFC 7638 thumbprint) and public JWK.
pub struct SigningKeys {
    rsa: RsaKeyPair,
    rsa_jwk: Value,
    ec: EcdsaKeyPair,
    ec_jwk: Value,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("rs256", &self.rsa_jwk["kid"])
            .field("es256", &self.ec_jwk["kid"])
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Loads the keys from `path`, or makes them and writes the file (mode 0600) when it is
    /// absent.
    pub fn load_or_generate(path: &Path) -> Result<Self, SigningKeyError> {
        let shown = path.display().to_string();
        let file_error = |reason: String| SigningKeyError::File {
            path: shown.clone(),
            reason,
        };
        match std::fs::read(path) {
            Ok(pem) => Self::from_pem(&pem).map_err(|reason| SigningKeyError::Unusable {
                path: shown.clone(),
                reason,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let pem = Self::generate_pem().map_err(file_error)?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(|e| file_error(e.to_string()))?;
                file.write_all(pem.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| file_error(e.to_string()))?;
                Self::from_pem(pem.as_bytes()).map_err(file_error)
            }
            Err(error) => Err(file_error(error.to_string())),
        }
    }

    /// A fresh RSA-2048 and P-256 key pair as PEM text.
    pub fn generate_pem() -> Result<String, String> {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| "RSA key generation")?;
        let rsa_der = rsa.as_der().map_err(|_| "RSA key encoding")?;
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| "P-256 key generation")?;
        let ec_der = ec.to_pkcs8v1().map_err(|_| "P-256 key encoding")?;
        Ok(format!(
            "{}{}",
            pem_block(rsa_der.as_ref()),
            pem_block(ec_der.as_ref())
        ))
    }

    /// Parses PEM text holding one RSA and one P-256 PKCS#8 private key, in any order.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let (mut rsa, mut ec) = (None, None);
        for block in PrivatePkcs8KeyDer::pem_slice_iter(pem) {
            let der = block.map_err(|e| format!("not PEM PKCS#8 (`PRIVATE KEY`): {e:?}"))?;
            let der = der.secret_pkcs8_der();
            if let Ok(key) = RsaKeyPair::from_pkcs8(der) {
                if key.public_modulus_len() < 256 {
                    return Err("the RSA key is shorter than 2048 bits".into());
                }
                rsa = Some(key);
            } else if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            {
                ec = Some(key);
            } else {
                return Err("a key is neither RSA nor P-256".into());
            }
        }
        let (Some(rsa), Some(ec)) = (rsa, ec) else {
            return Err("it needs one RSA and one P-256 key".into());
        };
        let public = rsa.public_key();
        let rsa_jwk = with_thumbprint(
            json!({
                "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            }),
            "RS256",
        );
        let point = ec.public_key().as_ref();
        let ec_jwk = with_thumbprint(
            json!({
                "crv": "P-256",
                "kty": "EC",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            }),
            "ES256",
        );
        Ok(Self {
            rsa,
            rsa_jwk,
            ec,
            ec_jwk,
            rng: SystemRandom::new(),
        })
    }

    /// The public keys as a JWKS.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.rsa_jwk, self.ec_jwk] })
    }

    /// The `kid` of the key for `alg`.
    pub fn kid(&self, alg: SigningAlg) -> &str {
        let jwk = match alg {
            SigningAlg::RS256 => &self.rsa_jwk,
            SigningAlg::ES256 => &self.ec_jwk,
        };
        jwk["kid"].as_str().expect("kid is set")
    }

    /// Signs `claims` as a compact JWS (`typ: JWT`) with the key for `alg`.
    pub fn sign(&self, alg: SigningAlg, claims: &Value) -> String {
        let name = match alg {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
        };
        let header = json!({ "alg": name, "kid": self.kid(alg), "typ": "JWT" });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match alg {
            SigningAlg::RS256 => {
                let mut signature = vec![0; self.rsa.public_modulus_len()];
                self.rsa
                    .sign(
                        &RSA_PKCS1_SHA256,
                        &self.rng,
                        input.as_bytes(),
                        &mut signature,
                    )
                    .expect("RSA signing with a valid key");
                signature
            }
            SigningAlg::ES256 => self
                .ec
                .sign(&self.rng, input.as_bytes())
                .expect("ECDSA signing with a valid key")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// `jwk` (its required members only, in lexicographic order) with `kid` = its RFC 7638
/// thumbprint, `alg` and `use: sig`.
fn with_thumbprint(mut jwk: Value, alg: &str) -> Value {
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.to_string().as_bytes()));
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(alg);
    jwk["use"] = json!("sig");
    jwk
}

/// One PEM `PRIVATE KEY` block.
fn pem_block(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate_client::{Expected, IssuerKeys, verify_id_token};

    fn keys() -> SigningKeys {
        SigningKeys::from_pem(SigningKeys::generate_pem().unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn both_algorithms_verify_with_the_published_jwks() {
        let keys = keys();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "iss": "https://bridge.example", "sub": "u", "aud": "site", "nonce": "n1",
            "iat": now, "exp": now + 60,
        });
        let published = IssuerKeys::from_json(&keys.jwks().to_string()).unwrap();
        let expected = Expected {
            issuer: Some("https://bridge.example".into()),
            audience: "site".into(),
            nonce: "n1".into(),
            leeway: std::time::Duration::ZERO,
        };
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            let token = keys.sign(alg, &claims);
            let verified = verify_id_token(&token, &published, &expected).unwrap();
            assert_eq!(verified.sub, "u");
            let mut forged = token.clone();
            forged.replace_range(forged.len() - 4.., "AAAA");
            assert!(verify_id_token(&forged, &published, &expected).is_err());
        }
    }

    #[test]
    fn kids_are_rfc7638_thumbprints_and_stable_across_reload() {
        let pem = SigningKeys::generate_pem().unwrap();
        let first = SigningKeys::from_pem(pem.as_bytes()).unwrap();
        let again = SigningKeys::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(first.jwks(), again.jwks());
        let jwk = &first.jwks()["keys"][1];
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        assert_eq!(
            jwk["kid"].as_str().unwrap(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
        assert!(first.jwks().to_string().find("\"d\"").is_none());
    }

    #[test]
    fn files_missing_a_key_or_not_pem_are_refused() {
        let pem = SigningKeys::generate_pem().unwrap();
        let rsa_only = &pem[..pem.find("-----END PRIVATE KEY-----").unwrap() + 26];
        assert!(SigningKeys::from_pem(rsa_only.as_bytes()).is_err());
        assert!(SigningKeys::from_pem(b"not a key").is_err());
    }

    #[test]
    fn generated_once_then_reused() {
        let path = std::env::temp_dir().join(format!("sealgate-sign-{}.pem", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let made = SigningKeys::load_or_generate(&path).unwrap();
        let loaded = SigningKeys::load_or_generate(&path).unwrap();
        assert_eq!(made.jwks(), loaded.jwks());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_file(&path).unwrap();
    }
}
