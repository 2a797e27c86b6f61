//! The shared rejection vectors: envelopes, JWKs and sign-in requests that sealgate refuses, each
//! with the error kind (and value) this crate gives, written once to `data/rejections.json` and
//! read by the JavaScript package's tests (client-sdk/js), so the two cannot drift.
//!
//! The test checks that the file is exactly what the case list below generates, and that every
//! case in the file is refused here with the recorded error. After changing a case, regenerate:
//! `SEALGATE_WRITE_VECTORS=1 cargo test -p sealgate-crypto --test rejection_vectors`.

mod common;
mod rejections;

use std::path::PathBuf;

use serde_json::Value;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rejections.json")
}

#[test]
fn the_shared_rejection_file_is_what_this_crate_refuses() {
    let generated = rejections::generate();
    let text = format!("{}\n", serde_json::to_string_pretty(&generated).unwrap());
    if std::env::var_os("SEALGATE_WRITE_VECTORS").is_some() {
        std::fs::write(path(), &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(path()).expect("tests/data/rejections.json exists");
    let stored: Value = serde_json::from_str(&on_disk).unwrap();
    // Every stored case is refused by this crate with the stored error.
    let replayed = rejections::replay(&stored);
    assert!(replayed > 300, "only {replayed} cases replayed");
    assert!(
        on_disk == text,
        "tests/data/rejections.json is stale; regenerate it with SEALGATE_WRITE_VECTORS=1"
    );
}
