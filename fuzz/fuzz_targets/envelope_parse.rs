//! Bytes → `Envelope::parse_bytes`; what parses is opened with a fixed key. Neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_crypto::{Algorithm, Envelope, PrivateKey};

/// The fixed key (secret 0x5e × 32), for the envelope's algorithm. The seeds in
/// fuzz/seeds/envelope_parse/ are sealed to it, so that mutations of them reach the HPKE open;
/// crypto/tests/fuzz_regressions.rs runs the same call and checks the seeds.
fn fuzz_key(alg: Algorithm) -> PrivateKey {
    PrivateKey::from_secret_bytes([0x5e; 32], alg)
}

fuzz_target!(|data: &[u8]| {
    let _ = Envelope::parse_bytes(data).and_then(|envelope| {
        let key = fuzz_key(envelope.header().alg());
        envelope.open(&key)
    });
});
