//! RFC 8292 VAPID: the application server's ES256 key and the `vapid` Authorization header.

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use serde::Serialize;
use zeroize::Zeroizing;

use super::WebPushError;
use super::keys::{PUBLIC_KEY_LEN, encode_public_key};
use crate::base64url;

/// The longest a VAPID token may live: 24 hours (RFC 8292 §2).
pub const MAX_VAPID_LIFETIME_SECS: u64 = 24 * 60 * 60;

/// The JWS header of every VAPID token, as sent.
const JWT_HEADER: &str = r#"{"typ":"JWT","alg":"ES256"}"#;

/// The application server's VAPID key: a P-256 ECDSA signing key. Its public half is the
/// `k` parameter and the `applicationServerKey` a browser subscribes with. Zeroized on drop,
/// never printed.
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("k", &self.public_key_base64url())
            .field("private", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: u64,
    sub: &'a str,
}

impl VapidKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::generate_from_rng(&mut crate::rng::system_rng()),
        }
    }

    /// The key whose private scalar is these 32 big-endian octets (the raw form `web-push`
    /// and `py_vapid` keep).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, WebPushError> {
        SigningKey::from_slice(bytes)
            .map(|signing| Self { signing })
            .map_err(|_| WebPushError::InvalidPrivateKey)
    }

    /// The private scalar as 32 big-endian octets.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes().into())
    }

    /// The key from a PKCS#8 DER document (RFC 5208/5958) holding a P-256 EC private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, WebPushError> {
        SigningKey::from_pkcs8_der(der)
            .map(|signing| Self { signing })
            .map_err(|_| WebPushError::InvalidPrivateKey)
    }

    /// The key as a PKCS#8 DER document.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let document = self
            .signing
            .to_pkcs8_der()
            .expect("a P-256 key always encodes as PKCS#8");
        Zeroizing::new(document.as_bytes().to_vec())
    }

    /// The public key as a 65-octet uncompressed point.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        encode_public_key(&p256::PublicKey::from(self.signing.verifying_key()))
    }

    /// The public key as base64url: the header's `k` and the browser's `applicationServerKey`.
    pub fn public_key_base64url(&self) -> String {
        base64url::encode(self.public_key())
    }

    /// The `Authorization` header value for a push to an endpoint of `endpoint_origin`:
    /// `vapid t=<JWT>, k=<public key>` (RFC 8292 §3).
    ///
    /// The JWT is ES256 with the claims `aud` = `endpoint_origin` (an origin,
    /// `https://host[:port]`; [`endpoint_origin`] derives it from a subscription's endpoint),
    /// `exp` = `expires_at_secs`, and `sub` = `subject` (a `mailto:` or `https:` URI through which
    /// the push service can reach the operator). The crate reads no clock: `now_secs` is the
    /// caller's, and `exp` must be after it and at most 24 hours later.
    pub fn authorization(
        &self,
        endpoint_origin: &str,
        subject: &str,
        expires_at_secs: u64,
        now_secs: u64,
    ) -> Result<String, WebPushError> {
        if !is_origin(endpoint_origin) {
            return Err(WebPushError::InvalidAudience);
        }
        if !is_subject(subject) {
            return Err(WebPushError::InvalidSubject);
        }
        if expires_at_secs <= now_secs {
            return Err(WebPushError::Expired {
                exp: expires_at_secs,
                now: now_secs,
            });
        }
        if expires_at_secs - now_secs > MAX_VAPID_LIFETIME_SECS {
            return Err(WebPushError::ExpiryTooFar {
                exp: expires_at_secs,
                now: now_secs,
            });
        }
        let claims = serde_json::to_string(&Claims {
            aud: endpoint_origin,
            exp: expires_at_secs,
            sub: subject,
        })
        .expect("the claims serialize");
        let signing_input = format!(
            "{}.{}",
            base64url::encode(JWT_HEADER),
            base64url::encode(claims)
        );
        // JOSE form: r ‖ s, 32 octets each (RFC 7518 §3.4), not DER.
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        Ok(format!(
            "vapid t={signing_input}.{}, k={}",
            base64url::encode(signature.to_bytes()),
            self.public_key_base64url()
        ))
    }
}

/// The origin of a push endpoint URL, `scheme://host[:port]`: the VAPID `aud` for it.
pub fn endpoint_origin(endpoint: &str) -> Result<String, WebPushError> {
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or(WebPushError::InvalidAudience)?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if is_origin(&origin) {
        Ok(origin)
    } else {
        Err(WebPushError::InvalidAudience)
    }
}

/// `https://host[:port]` or `http://host[:port]`, lower case, no user info, path, query or
/// fragment; the host a DNS name, an IPv4 address, or a bracketed IPv6 address.
fn is_origin(origin: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => (inside, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (inside, Some(port)),
                None => return false,
            },
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !host_ok {
            return false;
        }
        (host, port)
    };
    let port_ok = port.is_none_or(|port| {
        !port.is_empty()
            && port.len() <= 5
            && port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    !host.is_empty() && port_ok
}

/// A `mailto:` URI with an address, or an `https:` URI with a host; no whitespace or control
/// characters.
fn is_subject(subject: &str) -> bool {
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if let Some(address) = subject.strip_prefix("mailto:") {
        return address.contains('@') && !address.starts_with('@') && !address.ends_with('@');
    }
    if let Some(rest) = subject.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        return !host.is_empty();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for good in [
            "https://fcm.googleapis.com",
            "https://updates.push.services.mozilla.com",
            "https://push.example.net:8443",
            "http://127.0.0.1:9000",
            "https://[::1]:443",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "fcm.googleapis.com",
            "https://fcm.googleapis.com/",
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://FCM.googleapis.com",
            "https://user@host",
            "https://host:",
            "https://host:99999",
            "https://host?x",
            "https://",
            "ftp://host",
            "https://ho st",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
        assert_eq!(
            endpoint_origin("https://fcm.googleapis.com/fcm/send/abc:def").unwrap(),
            "https://fcm.googleapis.com"
        );
        assert_eq!(
            endpoint_origin("https://push.example.net:8443/x?y").unwrap(),
            "https://push.example.net:8443"
        );
        assert!(endpoint_origin("push.example.net/x").is_err());
    }

    #[test]
    fn subjects() {
        for good in ["mailto:ops@example.com", "https://example.com/contact"] {
            assert!(is_subject(good), "{good}");
        }
        for bad in [
            "ops@example.com",
            "mailto:",
            "mailto:@example.com",
            "http://example.com",
            "https://",
            "tel:+1555",
            "mailto:a@b\n",
            "mailto:a b@c",
        ] {
            assert!(!is_subject(bad), "{bad}");
        }
    }

    #[test]
    fn keys_round_trip_and_never_print() {
        let key = VapidKey::generate();
        let raw = VapidKey::from_bytes(&key.to_bytes()).unwrap();
        let der = VapidKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        assert_eq!(raw.public_key(), key.public_key());
        assert_eq!(der.public_key(), key.public_key());
        assert!(format!("{key:?}").contains("<redacted>"));
        assert!(!format!("{key:?}").contains(&base64url::encode(*key.to_bytes())));
        assert_eq!(
            VapidKey::from_pkcs8_der(b"not der").unwrap_err(),
            WebPushError::InvalidPrivateKey
        );
        assert_eq!(
            VapidKey::from_bytes(&[0; 32]).unwrap_err(),
            WebPushError::InvalidPrivateKey
        );
    }
}
