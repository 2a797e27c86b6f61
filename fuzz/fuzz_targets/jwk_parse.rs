//! Bytes as UTF-8 → the public JWK, private JWK and JWKS parsers. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_crypto::{Jwks, PrivateKey, PublicKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = (
            PublicKey::from_jwk_json(text),
            PrivateKey::from_jwk_json(text),
            Jwks::from_json(text),
        );
    }
});
