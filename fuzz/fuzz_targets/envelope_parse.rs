//! Bytes → `Envelope::parse_bytes`; what parses is opened with a fixed key. Neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_crypto::{Algorithm, Envelope, PrivateKey};

/// The key the seeds in fuzz/seeds/envelope_parse/ are sealed to, so that mutations of them reach
/// the HPKE open (crypto/tests/fuzz_regressions.rs uses the same key and checks the seeds).
fn fuzz_key() -> PrivateKey {
    PrivateKey::from_secret_bytes([0x5e; 32], Algorithm::Hpke4)
}

fuzz_target!(|data: &[u8]| {
    let _ = Envelope::parse_bytes(data).and_then(|envelope| envelope.open(&fuzz_key()));
});
