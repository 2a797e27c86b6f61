//! The gateway's HTTP API v1 as the load generator calls it: register a client, open a
//! mailbox, deposit, poll, fetch a JWKS. Each call checks the status it expects.

use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::http::{Client, Outgoing};
use crate::stats::Failure;
use sealgate_crypto::PublicKey;

/// Time allowed for a request that does not wait.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `application/jose`, the media type of a deposit.
const JOSE: &str = "application/jose";

/// A registered client: its id, and its `client_secret_basic` header.
#[derive(Clone)]
pub(crate) struct Credentials {
    /// The client id.
    pub(crate) client_id: String,
    /// `Basic base64(id:secret)`.
    pub(crate) authorization: HeaderValue,
}

impl Credentials {
    /// Credentials for a made-up client (the bare baseline server accepts anything).
    pub(crate) fn fake(client_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            authorization: basic(client_id, "s3cret-not-checked-by-the-baseline"),
        }
    }
}

fn basic(id: &str, secret: &str) -> HeaderValue {
    let value = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    HeaderValue::from_str(&value).expect("base64 is a valid header value")
}

/// What opening a mailbox answers (the members the load generator uses).
#[derive(Deserialize)]
pub(crate) struct OpenedMailbox {
    /// The mailbox id.
    pub(crate) mailbox_id: String,
    /// The sign-in request URI the app shows.
    #[serde(default)]
    pub(crate) signin_request: Option<String>,
}

/// `POST /v1/clients`: registers a client whose JWKS holds `key`.
pub(crate) async fn register(
    client: &mut Client,
    key: &PublicKey,
    name: &str,
) -> anyhow::Result<Credentials> {
    let body = json!({ "name": name, "jwks": { "keys": [key.to_jwk()] } }).to_string();
    let outgoing = Outgoing {
        content_type: Some("application/json"),
        body: Bytes::from(body),
        ..Outgoing::default()
    };
    let reply = client
        .send(Method::POST, "/v1/clients", outgoing, REQUEST_TIMEOUT)
        .await
        .map_err(|failure| anyhow::anyhow!("registering a client: {}", failure.label()))?;
    if reply.status != StatusCode::CREATED {
        bail!(
            "registering a client: status {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    #[derive(Deserialize)]
    struct Registered {
        client_id: String,
        client_secret: String,
    }
    let registered: Registered =
        serde_json::from_slice(&reply.body).context("registration answer")?;
    Ok(Credentials {
        authorization: basic(&registered.client_id, &registered.client_secret),
        client_id: registered.client_id,
    })
}

/// `POST /v1/mailboxes` with no body (the default TTL).
pub(crate) async fn open_mailbox(
    client: &mut Client,
    credentials: &Credentials,
    expect: StatusCode,
) -> Result<OpenedMailbox, Failure> {
    let outgoing = Outgoing {
        authorization: Some(&credentials.authorization),
        ..Outgoing::default()
    };
    let reply = client
        .send(Method::POST, "/v1/mailboxes", outgoing, REQUEST_TIMEOUT)
        .await?;
    check(reply.status, expect)?;
    serde_json::from_slice(&reply.body).map_err(|_| Failure::Protocol)
}

/// `PUT /v1/mailboxes/{id}` with the envelope.
pub(crate) async fn deposit(
    client: &mut Client,
    mailbox_id: &str,
    envelope: Bytes,
    expect: StatusCode,
) -> Result<(), Failure> {
    let outgoing = Outgoing {
        content_type: Some(JOSE),
        body: envelope,
        ..Outgoing::default()
    };
    let path = format!("/v1/mailboxes/{mailbox_id}");
    let reply = client
        .send(Method::PUT, &path, outgoing, REQUEST_TIMEOUT)
        .await?;
    check(reply.status, expect)
}

/// `GET /v1/mailboxes/{id}?wait=N`: the body on `expect`; a `202` when `expect` is `200` is
/// [`Failure::NotWoken`].
pub(crate) async fn poll(
    client: &mut Client,
    credentials: &Credentials,
    mailbox_id: &str,
    wait_secs: u64,
    expect: StatusCode,
) -> Result<Bytes, Failure> {
    let outgoing = Outgoing {
        authorization: Some(&credentials.authorization),
        ..Outgoing::default()
    };
    let path = if wait_secs == 0 {
        format!("/v1/mailboxes/{mailbox_id}")
    } else {
        format!("/v1/mailboxes/{mailbox_id}?wait={wait_secs}")
    };
    let timeout = REQUEST_TIMEOUT + Duration::from_secs(wait_secs);
    let reply = client.send(Method::GET, &path, outgoing, timeout).await?;
    if reply.status == StatusCode::ACCEPTED && expect == StatusCode::OK {
        return Err(Failure::NotWoken);
    }
    check(reply.status, expect)?;
    Ok(reply.body)
}

/// `GET /v1/clients/{id}/jwks`.
pub(crate) async fn jwks(client: &mut Client, client_id: &str) -> Result<Bytes, Failure> {
    let path = format!("/v1/clients/{client_id}/jwks");
    let reply = client
        .send(Method::GET, &path, Outgoing::default(), REQUEST_TIMEOUT)
        .await?;
    check(reply.status, StatusCode::OK)?;
    Ok(reply.body)
}

fn check(status: StatusCode, expect: StatusCode) -> Result<(), Failure> {
    if status == expect {
        Ok(())
    } else {
        Err(Failure::Status(status.as_u16()))
    }
}
