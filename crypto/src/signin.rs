//! The sign-in request: what an app shows as a QR code or deep link, and the phone parses.
//!
//! `sealgate:signin?v=1&gw=GATEWAY&cid=CLIENT&mbx=MAILBOX&kid=THUMBPRINT&exp=UNIX&nonce=NONCE`
//!
//! `kid` is the RFC 7638 thumbprint of the key the app vouches for: the phone seals only to a
//! key with that thumbprint, whatever key the gateway serves. The whole URI stays under
//! [`MAX_URI_LEN`] characters so that it fits a small QR code.

use crate::error::SignInRequestError;
use crate::header::is_plain_identifier;

/// The scheme and path every sign-in request starts with.
pub const PREFIX: &str = "sealgate:signin?";

/// The longest sign-in request URI, in characters.
pub const MAX_URI_LEN: usize = 400;

/// The version of the format this library writes and reads.
const VERSION: &str = "1";

/// Length of a base64url SHA-256 thumbprint.
const THUMBPRINT_LEN: usize = 43;

/// A validated sign-in request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRequest {
    gateway: String,
    client_id: String,
    mailbox_id: String,
    key_thumbprint: String,
    expires_at: u64,
    nonce: String,
}

impl SignInRequest {
    /// Builds a request, checking every field and that the URI fits [`MAX_URI_LEN`].
    ///
    /// `gateway` is the base URL (`https://…` or `http://…`, no query); a trailing `/` is dropped.
    pub fn new(
        gateway: &str,
        client_id: &str,
        mailbox_id: &str,
        key_thumbprint: &str,
        expires_at: u64,
        nonce: &str,
    ) -> Result<Self, SignInRequestError> {
        let request = Self {
            gateway: gateway.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            mailbox_id: mailbox_id.to_owned(),
            key_thumbprint: key_thumbprint.to_owned(),
            expires_at,
            nonce: nonce.to_owned(),
        };
        request.validate()?;
        let len = request.to_uri().len();
        if len > MAX_URI_LEN {
            return Err(SignInRequestError::TooLong(MAX_URI_LEN));
        }
        Ok(request)
    }

    fn validate(&self) -> Result<(), SignInRequestError> {
        if !is_gateway_url(&self.gateway) {
            return Err(SignInRequestError::Invalid("gw"));
        }
        for (name, value) in [
            ("cid", &self.client_id),
            ("mbx", &self.mailbox_id),
            ("nonce", &self.nonce),
        ] {
            if !is_plain_identifier(value) {
                return Err(SignInRequestError::Invalid(name));
            }
        }
        if self.key_thumbprint.len() != THUMBPRINT_LEN
            || crate::base64url::decode(&self.key_thumbprint).is_err()
        {
            return Err(SignInRequestError::Invalid("kid"));
        }
        Ok(())
    }

    /// Parses a URI strictly and refuses it if it expired by `now` (seconds since the epoch).
    pub fn parse(uri: &str, now: u64) -> Result<Self, SignInRequestError> {
        if uri.len() > MAX_URI_LEN {
            return Err(SignInRequestError::TooLong(MAX_URI_LEN));
        }
        let query = uri
            .strip_prefix(PREFIX)
            .ok_or(SignInRequestError::NotASignInRequest)?;
        let mut fields: [Option<String>; 7] = Default::default();
        const NAMES: [&str; 7] = ["v", "gw", "cid", "mbx", "kid", "exp", "nonce"];
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let Some(index) = NAMES.iter().position(|known| *known == name) else {
                continue;
            };
            if fields[index].replace(value.into_owned()).is_some() {
                return Err(SignInRequestError::Repeated(name.into_owned()));
            }
        }
        let mut take = |index: usize| {
            fields[index]
                .take()
                .ok_or(SignInRequestError::Missing(NAMES[index]))
        };
        let version = take(0)?;
        if version != VERSION {
            return Err(SignInRequestError::UnsupportedVersion(version));
        }
        let (gateway, client_id, mailbox_id, key_thumbprint) =
            (take(1)?, take(2)?, take(3)?, take(4)?);
        let expires_at = take(5)?;
        let nonce = take(6)?;
        if expires_at.is_empty() || !expires_at.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SignInRequestError::Invalid("exp"));
        }
        let expires_at: u64 = expires_at
            .parse()
            .map_err(|_| SignInRequestError::Invalid("exp"))?;
        let request = Self {
            gateway,
            client_id,
            mailbox_id,
            key_thumbprint,
            expires_at,
            nonce,
        };
        request.validate()?;
        if expires_at <= now {
            return Err(SignInRequestError::Expired {
                expired_at: expires_at,
                now,
            });
        }
        Ok(request)
    }

    /// The request as a URI.
    pub fn to_uri(&self) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("v", VERSION)
            .append_pair("gw", &self.gateway)
            .append_pair("cid", &self.client_id)
            .append_pair("mbx", &self.mailbox_id)
            .append_pair("kid", &self.key_thumbprint)
            .append_pair("exp", &self.expires_at.to_string())
            .append_pair("nonce", &self.nonce)
            .finish();
        format!("{PREFIX}{query}")
    }

    /// The gateway's base URL.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }
    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The mailbox the token goes to.
    pub fn mailbox_id(&self) -> &str {
        &self.mailbox_id
    }
    /// The thumbprint of the only key the phone may seal to.
    pub fn key_thumbprint(&self) -> &str {
        &self.key_thumbprint
    }
    /// When the mailbox expires, seconds since the epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    /// The app's OIDC nonce, for the ID token's `nonce` claim.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
    /// The URL the phone deposits the envelope at.
    pub fn mailbox_url(&self) -> String {
        format!("{}/v1/mailboxes/{}", self.gateway, self.mailbox_id)
    }
    /// The URL of the client's public key set.
    pub fn jwks_url(&self) -> String {
        format!("{}/v1/clients/{}/jwks", self.gateway, self.client_id)
    }
}

fn is_gateway_url(url: &str) -> bool {
    if url.ends_with('/') {
        return false;
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    matches!(rest, Some(rest) if !rest.is_empty()
        && url.len() <= 200
        && !url.contains(['?', '#', ' ', '@'])
        && url.bytes().all(|b| b.is_ascii_graphic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KID: &str = "EMf0FmafX1CDECti7cvCWZddOvzvPf3_nmXI39eiO18";

    fn request() -> SignInRequest {
        SignInRequest::new(
            "https://gw.example.com/",
            "Zm9vYmFyYmF6cXV4cXV1eA",
            "bWFpbGJveC1pZC0xMjM0NQ",
            KID,
            2_000,
            "n-0S6_WzA2Mj",
        )
        .unwrap()
    }

    #[test]
    fn round_trips_and_fits_a_qr_code() {
        let uri = request().to_uri();
        assert!(uri.len() < MAX_URI_LEN, "{uri}");
        assert_eq!(SignInRequest::parse(&uri, 1_000).unwrap(), request());
        assert_eq!(
            request().mailbox_url(),
            "https://gw.example.com/v1/mailboxes/bWFpbGJveC1pZC0xMjM0NQ"
        );
    }

    #[test]
    fn refuses_expired_repeated_and_malformed() {
        let uri = request().to_uri();
        assert!(matches!(
            SignInRequest::parse(&uri, 2_000),
            Err(SignInRequestError::Expired { .. })
        ));
        assert_eq!(
            SignInRequest::parse("https://x", 0),
            Err(SignInRequestError::NotASignInRequest)
        );
        assert_eq!(
            SignInRequest::parse(&format!("{uri}&mbx=other"), 0),
            Err(SignInRequestError::Repeated("mbx".into()))
        );
        let no_kid = uri.replace(&format!("&kid={KID}"), "");
        assert_eq!(
            SignInRequest::parse(&no_kid, 0),
            Err(SignInRequestError::Missing("kid"))
        );
        let bad_gw = uri.replace("https%3A%2F%2F", "ftp%3A%2F%2F");
        assert_eq!(
            SignInRequest::parse(&bad_gw, 0),
            Err(SignInRequestError::Invalid("gw"))
        );
        let v2 = uri.replace("v=1", "v=2");
        assert_eq!(
            SignInRequest::parse(&v2, 0),
            Err(SignInRequestError::UnsupportedVersion("2".into()))
        );
    }
}
