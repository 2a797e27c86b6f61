//! Bytes as UTF-8 → `SignInRequest::parse` at time 0. It may not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_crypto::SignInRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(uri) = std::str::from_utf8(data) {
        let _ = SignInRequest::parse(uri, 0);
    }
});
