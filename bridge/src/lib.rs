//! sealgate-bridge: the OpenID Provider a website runs beside its app (issue 14).
//!
//! This first piece holds the parts without I/O: the configuration file and its validation,
//! `/authorize` validation, token-endpoint client authentication, the namespaced `sub`,
//! and PKCE (RFC 7636, `S256` only). The HTTP server, the gateway mailbox wait and the token
//! endpoint build on these.

pub mod authorize;
pub mod client_auth;
pub mod config;
pub mod pkce;
pub mod subject;
