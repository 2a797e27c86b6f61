//! The JWE protected header of a sealgate envelope, and the binding members it carries.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alg::Algorithm;
use crate::error::{BindingError, EnvelopeError, SealError};

/// The longest binding value (`aud`, `mbx`) accepted, in characters.
pub const MAX_BINDING_LEN: usize = 128;

/// The largest `exp` accepted: 2^53 - 1, the largest integer every JSON reader holds exactly.
pub const MAX_NUMERIC_DATE: u64 = (1 << 53) - 1;

/// What an envelope is bound to, carried in its authenticated protected header.
///
/// `aud` is the client id and `mbx` the mailbox id (RFC 7519 §5.3 replication of claims into the
/// header); `exp` is a NumericDate after which the envelope must not be accepted. An app that
/// opens an envelope checks these against what it expects, so that a gateway cannot move an
/// envelope from one mailbox or client into another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    /// The client id the envelope is for.
    pub aud: Option<String>,
    /// The mailbox id the envelope is for.
    pub mbx: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: Option<u64>,
}

impl Binding {
    /// A binding to one mailbox of one client, valid until `exp`.
    pub fn to_mailbox(client_id: &str, mailbox_id: &str, exp: u64) -> Self {
        Self {
            aud: Some(client_id.to_owned()),
            mbx: Some(mailbox_id.to_owned()),
            exp: Some(exp),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SealError> {
        if self.exp.is_some_and(|exp| exp > MAX_NUMERIC_DATE) {
            return Err(SealError::InvalidBinding("exp"));
        }
        for (name, value) in [("aud", &self.aud), ("mbx", &self.mbx)] {
            if let Some(value) = value
                && !is_plain_identifier(value)
            {
                return Err(SealError::InvalidBinding(name));
            }
        }
        Ok(())
    }
}

/// Whether `value` is 1 to [`MAX_BINDING_LEN`] characters of `[A-Za-z0-9_.~-]`.
pub(crate) fn is_plain_identifier(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_BINDING_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// A verified-shape JWE protected header.
///
/// Reading it needs no key: the gateway checks it against the mailbox before it stores an
/// envelope. It is only authenticated once [`crate::Envelope::open`] succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    alg: Algorithm,
    kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mbx: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
}

impl Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Header {
    pub(crate) fn new(alg: Algorithm, kid: &str, cty: Option<&str>, binding: &Binding) -> Self {
        Self {
            alg,
            kid: kid.to_owned(),
            cty: cty.map(str::to_owned),
            aud: binding.aud.clone(),
            mbx: binding.mbx.clone(),
            exp: binding.exp,
        }
    }

    /// The HPKE algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
    /// The recipient key's thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The content type, `JWT` when the plaintext is a JWT.
    pub fn cty(&self) -> Option<&str> {
        self.cty.as_deref()
    }
    /// The client id the envelope is bound to.
    pub fn aud(&self) -> Option<&str> {
        self.aud.as_deref()
    }
    /// The mailbox id the envelope is bound to.
    pub fn mbx(&self) -> Option<&str> {
        self.mbx.as_deref()
    }
    /// The expiry, seconds since the Unix epoch.
    pub fn exp(&self) -> Option<u64> {
        self.exp
    }
    /// The binding members as one value.
    pub fn binding(&self) -> Binding {
        Binding {
            aud: self.aud.clone(),
            mbx: self.mbx.clone(),
            exp: self.exp,
        }
    }

    /// Checks that the envelope was sealed for `client_id`'s mailbox `mailbox_id` and has not
    /// expired at `now` (seconds since the epoch). Apps call this after opening: it is what
    /// stops a gateway from moving an envelope into another mailbox or replaying an old one.
    pub fn check_binding(
        &self,
        client_id: &str,
        mailbox_id: &str,
        now: u64,
    ) -> Result<(), BindingError> {
        match self.aud.as_deref() {
            None => return Err(BindingError::Missing("aud")),
            Some(aud) if aud != client_id => return Err(BindingError::WrongClient),
            Some(_) => {}
        }
        match self.mbx.as_deref() {
            None => return Err(BindingError::Missing("mbx")),
            Some(mbx) if mbx != mailbox_id => return Err(BindingError::WrongMailbox),
            Some(_) => {}
        }
        match self.exp {
            None => Err(BindingError::Missing("exp")),
            Some(exp) if exp <= now => Err(BindingError::Expired { exp, now }),
            Some(_) => Ok(()),
        }
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a header always serializes")
    }

    /// Parses the decoded protected header strictly: a JSON object, no repeated known member,
    /// `alg` and `kid` present, no member that Integrated Encryption forbids or that sealgate
    /// does not implement.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        // JSON text is UTF-8 (RFC 8259 §8.1), also inside members this parser ignores.
        let text = std::str::from_utf8(bytes).map_err(|_| EnvelopeError::HeaderNotJson)?;
        if !text.trim_start().starts_with('{') {
            // serde would fill the struct from an array by position.
            return Err(EnvelopeError::HeaderNotJson);
        }
        let raw: RawHeader =
            serde_json::from_str(text).map_err(|_| EnvelopeError::HeaderNotJson)?;
        if raw.enc.is_some() {
            return Err(EnvelopeError::EncPresent);
        }
        if raw.ek.is_some() {
            return Err(EnvelopeError::EkPresent);
        }
        let alg = match raw.alg {
            None => return Err(EnvelopeError::MissingHeader("alg")),
            Some(Value::String(name)) => Algorithm::from_name(&name).ok_or_else(|| {
                if Algorithm::is_known_hpke(&name) {
                    EnvelopeError::UnsupportedAlgorithm(name)
                } else {
                    EnvelopeError::UnknownAlgorithm(name)
                }
            })?,
            Some(_) => return Err(EnvelopeError::InvalidHeader("alg")),
        };
        for (name, present) in [
            ("psk_id", raw.psk_id.is_some()),
            ("crit", raw.crit.is_some()),
            ("zip", raw.zip.is_some()),
        ] {
            if present {
                return Err(EnvelopeError::UnsupportedHeader(name));
            }
        }
        let kid = string_member(raw.kid, "kid")?.ok_or(EnvelopeError::MissingHeader("kid"))?;
        let exp = match raw.exp {
            None => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .filter(|exp| *exp <= MAX_NUMERIC_DATE)
                    .ok_or(EnvelopeError::InvalidHeader("exp"))?,
            ),
        };
        Ok(Self {
            alg,
            kid,
            cty: string_member(raw.cty, "cty")?,
            aud: string_member(raw.aud, "aud")?,
            mbx: string_member(raw.mbx, "mbx")?,
            exp,
        })
    }
}

fn string_member(
    value: Option<Value>,
    name: &'static str,
) -> Result<Option<String>, EnvelopeError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(EnvelopeError::InvalidHeader(name)),
    }
}

/// The header as sent; serde refuses a repeated known member ("duplicate field"). A member
/// that is present with `null` is kept as `Some(Value::Null)` and refused as invalid.
#[derive(Deserialize)]
struct RawHeader {
    #[serde(default, deserialize_with = "present")]
    alg: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    kid: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    cty: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    aud: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    mbx: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    exp: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    enc: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    ek: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    psk_id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    crit: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    zip: Option<Value>,
}

/// A member that is present, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_header_parsing() {
        let ok = br#"{"alg":"HPKE-4","kid":"k","aud":"c","mbx":"m","exp":5,"x-other":1}"#;
        let header = Header::from_json(ok).unwrap();
        assert_eq!(
            (header.aud(), header.mbx(), header.exp()),
            (Some("c"), Some("m"), Some(5))
        );
        let cases: [(&[u8], EnvelopeError); 15] = [
            (b"[]", EnvelopeError::HeaderNotJson),
            (
                br#"{"alg":"HPKE-4","alg":"HPKE-3","kid":"k"}"#,
                EnvelopeError::HeaderNotJson,
            ),
            (br#"{"kid":"k"}"#, EnvelopeError::MissingHeader("alg")),
            (br#"{"alg":"HPKE-4"}"#, EnvelopeError::MissingHeader("kid")),
            (
                br#"{"alg":"HPKE-0","kid":"k"}"#,
                EnvelopeError::UnsupportedAlgorithm("HPKE-0".into()),
            ),
            (
                br#"{"alg":"RSA1_5","kid":"k"}"#,
                EnvelopeError::UnknownAlgorithm("RSA1_5".into()),
            ),
            (
                br#"{"alg":"HPKE-4","kid":"k","enc":"A128GCM"}"#,
                EnvelopeError::EncPresent,
            ),
            (
                br#"{"alg":"HPKE-4","kid":"k","ek":"AA"}"#,
                EnvelopeError::EkPresent,
            ),
            (
                br#"{"alg":"HPKE-4","kid":"k","psk_id":"x"}"#,
                EnvelopeError::UnsupportedHeader("psk_id"),
            ),
            (
                br#"{"alg":"HPKE-4","kid":"k","exp":-1}"#,
                EnvelopeError::InvalidHeader("exp"),
            ),
            (
                br#"{"alg":"HPKE-4","kid":"k","aud":null}"#,
                EnvelopeError::InvalidHeader("aud"),
            ),
            (
                br#"{"alg":"HPKE-4","kid":"k","enc":null}"#,
                EnvelopeError::EncPresent,
            ),
            (br#"["HPKE-4","k"]"#, EnvelopeError::HeaderNotJson),
            (
                b"{\"alg\":\"HPKE-4\",\"kid\":\"k\",\"x\":\"\xff\"}",
                EnvelopeError::HeaderNotJson,
            ),
            (
                br#"{"alg":"HPKE-4","kid":"k","exp":9007199254740992}"#,
                EnvelopeError::InvalidHeader("exp"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Header::from_json(input),
                Err(expected),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn binding_values_must_be_plain_identifiers() {
        assert!(Binding::to_mailbox("client", "mbx_1", 1).validate().is_ok());
        let bad = Binding {
            mbx: Some("a\"b".into()),
            ..Binding::default()
        };
        assert_eq!(bad.validate(), Err(SealError::InvalidBinding("mbx")));
    }
}
