//! sealgate-crypto: the sans-IO core of sealgate.
//!
//! It holds what the phone, the app and the gateway must agree on, and nothing that does I/O:
//! it makes no connection, reads no file, and starts no task. Bytes and typed values in,
//! bytes and typed values out.
//!
//! - [`PrivateKey`], [`PublicKey`], [`Jwks`]: X25519 keys as RFC 8037 JWKs, `kid` = RFC 7638
//!   thumbprint; private keys zeroize on drop and never print.
//! - [`seal`] and [`Envelope::open`]: the envelope, a compact JWE with HPKE Integrated
//!   Encryption (`HPKE-4` by default, `HPKE-3`), bound to a client and a mailbox through its
//!   authenticated header.
//! - [`Envelope::parse`]: the strict, key-less reader the gateway uses on every deposit.
//! - [`SignInRequest`]: the URI an app shows as a QR code and a phone parses.
//! - [`webhook`]: Standard Webhooks signatures, for the gateway's deliveries and the app's checks.
//! - [`webpush`]: Web Push for one-click sign-in: RFC 8291 `aes128gcm` message encryption
//!   (P-256, AES-128-GCM) and RFC 8292 VAPID (ES256) headers.
//! - [`base64url`]: the strict unpadded base64url every part of sealgate encodes with.
//! - [`kem`]: DHKEM(X25519, HKDF-SHA256) as an `hpke::Kem`, the KEM under the envelope.
//!
//! # X25519 backend (Cargo features)
//!
//! - `aws-lc` (default): X25519 from aws-lc-rs, whose aws-lc-sys builds aws-lc's C and
//!   assembly (a C compiler for the target is needed); the envelope is then about as fast as
//!   aws-lc's own HPKE (BENCHMARKS.md).
//! - `pure-rust`: X25519 from x25519-dalek, for targets where aws-lc does not build:
//!   `--no-default-features --features pure-rust`.
//!
//! Exactly one is used (`aws-lc` when both are on; the build fails when neither is);
//! [`X25519_BACKEND`] names it. Both produce the same bytes and pass the same known-answer,
//! tamper and interoperability tests. Either way the crate stays sans-IO.
//!
//! ```
//! use sealgate_crypto::{Algorithm, Binding, Envelope, PrivateKey, SealOptions, seal};
//!
//! // The app makes a key and publishes its public half.
//! let app_key = PrivateKey::generate(Algorithm::Hpke4);
//! let public = app_key.public_key().clone();
//!
//! // The phone seals an ID token to it, bound to the app's client id and mailbox.
//! let binding = Binding::to_mailbox("client-id", "mailbox-id", 4_000_000_000);
//! let envelope = seal(&public, b"eyJhbGciOi...", &SealOptions::for_token(binding))?;
//!
//! // The gateway sees only the header.
//! let at_gateway = Envelope::parse(envelope.as_str())?;
//! assert_eq!(at_gateway.header().mbx(), Some("mailbox-id"));
//!
//! // The app opens it.
//! let opened = Envelope::parse(envelope.as_str())?.open(&app_key)?;
//! assert_eq!(opened.plaintext.as_slice(), b"eyJhbGciOi...");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod alg;
pub mod base64url;
mod envelope;
mod error;
mod header;
mod jwk;
pub mod kem;
mod rng;
pub mod signin;
pub mod webhook;
pub mod webpush;
mod x25519;

pub use alg::Algorithm;
pub use envelope::{
    Envelope, MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, Opened, SealOptions, derive_private_key, seal,
    seal_with_rng,
};
pub use error::{BindingError, EnvelopeError, JwkError, Part, SealError, SignInRequestError};
pub use header::{Binding, Header, MAX_BINDING_LEN, MAX_NUMERIC_DATE};
pub use jwk::{Jwks, KEY_LEN, MAX_JWKS_KEYS, PrivateKey, PublicKey, thumbprint};
pub use rng::{random_bytes, random_token};
pub use signin::SignInRequest;
pub use x25519::X25519_BACKEND;

/// Re-export of the RNG traits that [`seal_with_rng`] and [`PrivateKey::generate_with_rng`] take.
pub use rand_core;
