//! The app side: register, open a mailbox, show the sign-in request, wait for the token.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use sealgate_crypto::{PrivateKey, SignInRequest, random_token};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::http::{HttpClient, Reply, base_url, now_secs, request};
use crate::qr;

mod receive;
use crate::retry::Backoff;

/// Time allowed for a request that is not a long-poll.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest single long-poll the app asks for.
const MAX_POLL_WAIT: Duration = Duration::from_secs(30);
/// Backoff after failed polls: from 250 ms, doubling up to 5 s, for as long as the mailbox lives.
const POLL_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(250),
    max_step: Duration::from_secs(5),
    max_failures: None,
};
/// How many old keys stay in the set after a rotation, for mailboxes opened before it.
const KEPT_OLD_KEYS: usize = 2;

/// A registered app: its credentials and private keys, and a connection to its gateway.
pub struct AppClient {
    http: HttpClient,
    gateway: String,
    client_id: String,
    client_secret: Zeroizing<String>,
    keys: Vec<PrivateKey>,
    webhook_secret: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for AppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppClient")
            .field("gateway", &self.gateway)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("keys", &self.keys)
            .finish()
    }
}

/// Options for [`AppClient::register_with`].
#[derive(Debug, Default, Clone)]
pub struct Registration {
    /// The operator's registration token, when the gateway requires one.
    pub registration_token: Option<String>,
    /// Where the gateway should POST envelopes, when it delivers webhooks.
    pub webhook_url: Option<String>,
}

/// A mailbox waiting for the phone: the sign-in request to show, and what the token must
/// match. Consumed by [`AppClient::wait_for_token`].
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    request: SignInRequest,
}

/// The token the phone sent, opened and checked against its mailbox.
pub struct ReceivedToken {
    token: Zeroizing<String>,
    /// The envelope's authenticated header.
    pub header: sealgate_crypto::Header,
}

impl std::fmt::Debug for ReceivedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedToken")
            .field("token", &"<redacted>")
            .field("header", &self.header)
            .finish()
    }
}

impl ReceivedToken {
    /// The token (an ID token, a JWS compact string).
    pub fn as_str(&self) -> &str {
        &self.token
    }
}

impl PendingSignIn {
    /// The sign-in request.
    pub fn request(&self) -> &SignInRequest {
        &self.request
    }
    /// The sign-in request as a URI, for a link or QR code.
    pub fn uri(&self) -> String {
        self.request.to_uri()
    }
    /// The mailbox id.
    pub fn mailbox_id(&self) -> &str {
        self.request.mailbox_id()
    }
    /// The OIDC nonce the ID token must carry.
    pub fn nonce(&self) -> &str {
        self.request.nonce()
    }
    /// When the mailbox expires, seconds since the epoch.
    pub fn expires_at(&self) -> u64 {
        self.request.expires_at()
    }
    /// The URI as a QR code PNG image.
    pub fn qr_png(&self) -> Vec<u8> {
        qr::png(&self.uri())
    }
    /// The URI as a QR code drawn with Unicode half blocks, for a terminal.
    pub fn qr_terminal(&self) -> String {
        qr::terminal(&self.uri())
    }
}

impl AppClient {
    /// Registers a new client at `gateway` with `key`'s public half.
    pub async fn register(gateway: &str, name: &str, key: PrivateKey) -> Result<Self> {
        Self::register_with(
            HttpClient::new()?,
            gateway,
            name,
            key,
            &Registration::default(),
        )
        .await
    }

    /// Registers with an explicit HTTP client and options.
    pub async fn register_with(
        http: HttpClient,
        gateway: &str,
        name: &str,
        key: PrivateKey,
        options: &Registration,
    ) -> Result<Self> {
        let gateway = base_url(gateway)?;
        let mut body = json!({
            "client_name": name,
            "jwks": { "keys": [key.public_key().to_jwk()] },
        });
        if let Some(url) = &options.webhook_url {
            body["webhook_url"] = json!(url);
        }
        let mut req = request(
            Method::POST,
            &format!("{gateway}/v1/clients"),
            Some("application/json"),
            Bytes::from(body.to_string()),
        )?;
        if let Some(token) = &options.registration_token {
            let value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| Error::Protocol("invalid registration token".into()))?;
            req.headers_mut().insert(header::AUTHORIZATION, value);
        }
        let reply = http.send(req, REQUEST_TIMEOUT).await?;
        if reply.status != StatusCode::CREATED {
            return Err(reply.into_error());
        }
        let answer = reply.json()?;
        let field = |name: &str| {
            answer[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::Protocol(format!("registration answer has no {name}")))
        };
        let client_id = field("client_id")?;
        let client_secret = Zeroizing::new(field("client_secret")?);
        let webhook_secret = answer["webhook_secret"]
            .as_str()
            .map(|secret| Zeroizing::new(secret.to_owned()));
        Ok(Self {
            http,
            gateway,
            client_id,
            client_secret,
            keys: vec![key],
            webhook_secret,
        })
    }

    /// An app from saved credentials; `keys` newest first.
    pub fn from_credentials(
        http: HttpClient,
        gateway: &str,
        client_id: &str,
        client_secret: &str,
        keys: Vec<PrivateKey>,
    ) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::Jwk(sealgate_crypto::JwkError::EmptySet));
        }
        Ok(Self {
            http,
            gateway: base_url(gateway)?,
            client_id: client_id.to_owned(),
            client_secret: Zeroizing::new(client_secret.to_owned()),
            keys,
            webhook_secret: None,
        })
    }

    /// The gateway's base URL.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }
    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The client secret, to save it; never log it.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }
    /// The webhook signing secret (`whsec_…`) the gateway showed at registration or at the last
    /// [`AppClient::set_webhook`] / [`AppClient::rotate_webhook_secret`] by this value; save it,
    /// the gateway shows it once.
    pub fn webhook_secret(&self) -> Option<&str> {
        self.webhook_secret.as_deref().map(String::as_str)
    }

    /// Sets or changes the webhook URL (re-enabling an endpoint disabled after a 410). When the
    /// client had no webhook, the gateway makes a signing secret: see
    /// [`AppClient::webhook_secret`].
    pub async fn set_webhook(&mut self, url: &str) -> Result<()> {
        let endpoint = format!("{}/v1/clients/{}/webhook", self.gateway, self.client_id);
        let body = json!({ "url": url }).to_string();
        let reply = self
            .authorized(Method::PUT, &endpoint, Some("application/json"), body)
            .await?;
        if reply.status != StatusCode::OK {
            return Err(reply.into_error());
        }
        if let Some(secret) = reply.json()?["webhook_secret"].as_str() {
            self.webhook_secret = Some(Zeroizing::new(secret.to_owned()));
        }
        Ok(())
    }

    /// Makes a new webhook signing secret; the old one keeps signing beside it for the
    /// gateway's overlap period (24 h by default). Returns the new secret.
    pub async fn rotate_webhook_secret(&mut self) -> Result<&str> {
        let endpoint = format!(
            "{}/v1/clients/{}/webhook/secret",
            self.gateway, self.client_id
        );
        let reply = self
            .authorized(Method::POST, &endpoint, None, String::new())
            .await?;
        if reply.status != StatusCode::OK {
            return Err(reply.into_error());
        }
        let secret = reply.json()?["webhook_secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol("no webhook_secret in the answer".into()))?;
        Ok(self.webhook_secret.insert(Zeroizing::new(secret)).as_str())
    }

    /// Restores a saved webhook secret (for [`AppClient::webhook_secret`]).
    pub fn with_webhook_secret(mut self, secret: Option<String>) -> Self {
        self.webhook_secret = secret.map(Zeroizing::new);
        self
    }

    /// The private keys, newest first.
    pub fn keys(&self) -> &[PrivateKey] {
        &self.keys
    }

    /// Rotates to `new_key`: the gateway's set becomes the new key plus the last old ones, so
    /// mailboxes opened before the rotation can still be answered.
    pub async fn rotate_keys(&mut self, new_key: PrivateKey) -> Result<()> {
        let mut keys = vec![new_key];
        keys.extend(self.keys.drain(..).take(KEPT_OLD_KEYS));
        let body =
            json!({ "keys": keys.iter().map(|k| k.public_key().to_jwk()).collect::<Vec<_>>() });
        let url = format!("{}/v1/clients/{}/jwks", self.gateway, self.client_id);
        let reply = self
            .authorized(
                Method::PUT,
                &url,
                Some("application/json"),
                body.to_string(),
            )
            .await;
        self.keys = keys;
        let reply = reply?;
        if reply.status != StatusCode::OK {
            return Err(reply.into_error());
        }
        Ok(())
    }

    /// Removes the client and its mailboxes from the gateway.
    pub async fn delete(self) -> Result<()> {
        let url = format!("{}/v1/clients/{}", self.gateway, self.client_id);
        self.delete_resource(&url).await
    }

    /// Opens a mailbox living `ttl` (the gateway's default when `None`) and returns the
    /// sign-in request. The request is built from this app's own key; the one the gateway
    /// returns must agree with it, or this fails with [`Error::SignInRequestMismatch`].
    pub async fn open_mailbox(&self, ttl: Option<Duration>) -> Result<PendingSignIn> {
        let nonce = random_token::<16>();
        let key = self.keys[0].public_key();
        let mut body = json!({ "nonce": nonce, "kid": key.thumbprint() });
        if let Some(ttl) = ttl {
            body["ttl"] = json!(ttl.as_secs().max(1));
        }
        let url = format!("{}/v1/mailboxes", self.gateway);
        let reply = self
            .authorized(
                Method::POST,
                &url,
                Some("application/json"),
                body.to_string(),
            )
            .await?;
        if reply.status != StatusCode::CREATED {
            return Err(reply.into_error());
        }
        let answer = reply.json()?;
        let offered = answer["signin_request"]
            .as_str()
            .ok_or_else(|| Error::Protocol("no signin_request".into()))?;
        let offered = SignInRequest::parse(offered, now_secs())?;
        let mailbox_id = answer["mailbox_id"]
            .as_str()
            .ok_or_else(|| Error::Protocol("no mailbox_id".into()))?;
        let ours = SignInRequest::new(
            offered.gateway(),
            &self.client_id,
            mailbox_id,
            key.thumbprint(),
            offered.expires_at(),
            &nonce,
        )?;
        if ours != offered {
            return Err(Error::SignInRequestMismatch);
        }
        Ok(PendingSignIn { request: ours })
    }

    /// Cancels a mailbox.
    pub async fn cancel(&self, mailbox_id: &str) -> Result<()> {
        let url = format!("{}/v1/mailboxes/{mailbox_id}", self.gateway);
        self.delete_resource(&url).await
    }

    /// `DELETE url`, expecting `204 No Content`.
    async fn delete_resource(&self, url: &str) -> Result<()> {
        let reply = self
            .authorized(Method::DELETE, url, None, String::new())
            .await?;
        match reply.status {
            StatusCode::NO_CONTENT => Ok(()),
            _ => Err(reply.into_error()),
        }
    }

    async fn authorized(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: String,
    ) -> Result<Reply> {
        let mut req = request(method, url, content_type, Bytes::from(body))?;
        req.headers_mut()
            .insert(header::AUTHORIZATION, self.basic_auth());
        self.http.send(req, REQUEST_TIMEOUT).await
    }

    async fn authorized_with_timeout(
        &self,
        method: Method,
        url: &str,
        timeout: Duration,
    ) -> Result<Reply> {
        let mut req = request(method, url, None, Bytes::new())?;
        req.headers_mut()
            .insert(header::AUTHORIZATION, self.basic_auth());
        self.http.send(req, timeout).await
    }

    fn basic_auth(&self) -> HeaderValue {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = Zeroizing::new(format!(
            "{}:{}",
            encode(&self.client_id),
            encode(&self.client_secret)
        ));
        let mut value =
            HeaderValue::try_from(format!("Basic {}", STANDARD.encode(credentials.as_bytes())))
                .expect("base64 is a valid header value");
        value.set_sensitive(true);
        value
    }
}

/// The JSON value of a JWKS as this app publishes it (used by the CLI).
pub fn public_jwks(keys: &[PrivateKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_key().to_jwk()).collect::<Vec<_>>() })
}
