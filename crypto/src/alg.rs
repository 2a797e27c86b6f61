//! The JOSE-HPKE algorithms sealgate speaks.

use std::fmt;

/// A JWE `alg` of draft-ietf-jose-hpke-encrypt, Integrated Encryption, that sealgate supports.
///
/// Both use DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256; they differ in the AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `HPKE-3`: AES-128-GCM.
    Hpke3,
    /// `HPKE-4`: ChaCha20Poly1305, the default.
    #[default]
    Hpke4,
}

impl Algorithm {
    /// Every supported algorithm, default first.
    pub const ALL: [Algorithm; 2] = [Algorithm::Hpke4, Algorithm::Hpke3];

    /// The `alg` string as it appears in a JOSE header or JWK.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hpke3 => "HPKE-3",
            Algorithm::Hpke4 => "HPKE-4",
        }
    }

    /// Looks up a supported `alg` string; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// Whether `name` is an HPKE algorithm the draft defines that sealgate does not implement.
    pub(crate) fn is_known_hpke(name: &str) -> bool {
        const KNOWN: [&str; 8] = [
            "HPKE-0", "HPKE-1", "HPKE-2", "HPKE-3", "HPKE-4", "HPKE-5", "HPKE-6", "HPKE-7",
        ];
        KNOWN.contains(&name) || KNOWN.iter().any(|k| name.strip_suffix("-KE") == Some(k))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
