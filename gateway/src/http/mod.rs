//! HTTP plumbing below the handlers: bodies, authentication, how answers are assembled, the
//! error-to-response mapping, and protocol detection.

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod error;
pub(crate) mod first_byte;
pub(crate) mod response;
