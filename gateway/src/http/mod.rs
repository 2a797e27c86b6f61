//! HTTP plumbing below the handlers: bodies, authentication, the error-to-response mapping,
//! and protocol detection.

pub mod auth;
pub mod body;
pub mod error;
pub mod first_byte;
