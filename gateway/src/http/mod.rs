//! HTTP plumbing: routing, bodies, authentication, and the error-to-response mapping.

pub mod auth;
pub mod body;
pub mod error;
pub mod first_byte;
pub mod router;
