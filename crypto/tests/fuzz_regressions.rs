//! The fuzz targets' inputs on stable: every file in fuzz/regressions/<target>/ goes through the
//! same parser calls as fuzz/fuzz_targets/<target>.rs and must neither panic nor be accepted;
//! every file in fuzz/seeds/<target>/ must be accepted, so that the fuzzer starts from inputs
//! that reach deep into the parsers.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use sealgate_crypto::{
    Algorithm, Envelope, EnvelopeError, JwkError, Jwks, PrivateKey, PublicKey, SignInRequest,
    SignInRequestError,
};

const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz");

/// The key fuzz/fuzz_targets/envelope_parse.rs opens with, and the seeds are sealed to.
fn fuzz_key(alg: Algorithm) -> PrivateKey {
    PrivateKey::from_secret_bytes([0x5e; 32], alg)
}

/// What fuzz/fuzz_targets/envelope_parse.rs runs.
fn envelope_parse(data: &[u8]) -> Result<(), EnvelopeError> {
    Envelope::parse_bytes(data)
        .and_then(|envelope| {
            let key = fuzz_key(envelope.header().alg());
            envelope.open(&key)
        })
        .map(drop)
}

/// What fuzz/fuzz_targets/jwk_parse.rs runs; `None` for bytes that are not UTF-8.
type JwkResults = (
    Result<PublicKey, JwkError>,
    Result<PrivateKey, JwkError>,
    Result<Jwks, JwkError>,
);
fn jwk_parse(data: &[u8]) -> Option<JwkResults> {
    let text = std::str::from_utf8(data).ok()?;
    Some((
        PublicKey::from_jwk_json(text),
        PrivateKey::from_jwk_json(text),
        Jwks::from_json(text),
    ))
}

/// What fuzz/fuzz_targets/signin_parse.rs runs; `None` for bytes that are not UTF-8.
fn signin_parse(data: &[u8]) -> Option<Result<SignInRequest, SignInRequestError>> {
    let uri = std::str::from_utf8(data).ok()?;
    Some(SignInRequest::parse(uri, 0))
}

/// The files of fuzz/<kind>/<target>/, sorted, with their contents.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(FUZZ_DIR).join(kind).join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no input", dir.display());
    files
}

/// Runs `call` on every input of fuzz/<kind>/<target>/; a panic names the file. Returns how
/// many inputs ran.
fn run_all(kind: &str, target: &str, call: impl Fn(&Path, &[u8])) -> usize {
    let files = inputs(kind, target);
    for (path, bytes) in &files {
        catch_unwind(AssertUnwindSafe(|| call(path, bytes)))
            .unwrap_or_else(|_| panic!("{} panicked", path.display()));
    }
    files.len()
}

#[test]
fn envelope_parse_regressions_are_refused() {
    let ran = run_all("regressions", "envelope_parse", |path, bytes| {
        let result = envelope_parse(bytes);
        assert!(result.is_err(), "{} was accepted", path.display());
    });
    assert!(ran >= 10, "only {ran} envelope regressions");
}

#[test]
fn jwk_parse_regressions_are_refused() {
    let ran = run_all("regressions", "jwk_parse", |path, bytes| {
        if let Some((public, private, set)) = jwk_parse(bytes) {
            assert!(public.is_err(), "{}: public JWK accepted", path.display());
            assert!(private.is_err(), "{}: private JWK accepted", path.display());
            assert!(set.is_err(), "{}: JWKS accepted", path.display());
        }
    });
    assert!(ran >= 10, "only {ran} JWK regressions");
}

#[test]
fn signin_parse_regressions_are_refused() {
    let ran = run_all("regressions", "signin_parse", |path, bytes| {
        if let Some(result) = signin_parse(bytes) {
            assert!(result.is_err(), "{} was accepted", path.display());
        }
    });
    assert!(ran >= 10, "only {ran} sign-in regressions");
}

#[test]
fn envelope_seeds_open_with_the_fuzz_key() {
    let ran = run_all("seeds", "envelope_parse", |path, bytes| {
        assert_eq!(envelope_parse(bytes), Ok(()), "{}", path.display());
    });
    assert!(ran >= 2);
}

#[test]
fn jwk_seeds_parse() {
    let ran = run_all("seeds", "jwk_parse", |path, bytes| {
        let (public, private, set) = jwk_parse(bytes).expect("a seed is UTF-8");
        assert!(
            public.is_ok() || private.is_ok() || set.is_ok(),
            "{} is refused by every parser",
            path.display()
        );
    });
    assert!(ran >= 3);
}

#[test]
fn signin_seeds_parse() {
    let ran = run_all("seeds", "signin_parse", |path, bytes| {
        let request = signin_parse(bytes).expect("a seed is UTF-8");
        assert!(request.is_ok(), "{}: {request:?}", path.display());
    });
    assert!(ran >= 1);
}
