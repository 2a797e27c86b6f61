//! The case list of the shared rejection vectors and their replay against this crate.

mod envelopes;
mod keys_and_requests;

use sealgate_crypto::{EnvelopeError, JwkError, SignInRequestError};
use serde_json::{Value, json};

/// A refusal as the file records it: the Rust variant's name and the value it carries.
pub(crate) fn error(kind: &str, detail: Value) -> Value {
    if detail.is_null() {
        json!({ "kind": kind })
    } else {
        json!({ "kind": kind, "detail": detail })
    }
}

/// An envelope error as `{kind, detail}`.
pub(crate) fn envelope_error(e: &EnvelopeError) -> Value {
    use EnvelopeError::*;
    match e {
        TooLarge { len, .. } => error("TooLarge", json!(len)),
        PartCount(n) => error("PartCount", json!(n)),
        Base64(part) => error("Base64", json!(format!("{part:?}"))),
        HeaderNotJson => error("HeaderNotJson", Value::Null),
        MissingHeader(name) => error("MissingHeader", json!(name)),
        InvalidHeader(name) => error("InvalidHeader", json!(name)),
        UnknownAlgorithm(name) => error("UnknownAlgorithm", json!(name)),
        UnsupportedAlgorithm(name) => error("UnsupportedAlgorithm", json!(name)),
        EncPresent => error("EncPresent", Value::Null),
        EkPresent => error("EkPresent", Value::Null),
        UnsupportedHeader(name) => error("UnsupportedHeader", json!(name)),
        NonEmptyIv => error("NonEmptyIv", Value::Null),
        NonEmptyTag => error("NonEmptyTag", Value::Null),
        EncapsulatedKeyLength => error("EncapsulatedKeyLength", Value::Null),
        KidMismatch => error("KidMismatch", Value::Null),
        AlgorithmMismatch => error("AlgorithmMismatch", Value::Null),
        PlaintextTooLarge { max } => error("PlaintextTooLarge", json!(max)),
        Decryption => error("Decryption", Value::Null),
        other => panic!("no vector kind for {other:?}"),
    }
}

/// A key error as `{kind, detail}`; a key refused inside a set records its index.
pub(crate) fn jwk_error(e: &JwkError) -> Value {
    use JwkError::*;
    match e {
        NotJson => error("NotJson", Value::Null),
        NotAnObject => error("NotAnObject", Value::Null),
        MissingMember(name) => error("MissingMember", json!(name)),
        InvalidMember(name) => error("InvalidMember", json!(name)),
        UnsupportedKeyType(name) => error("UnsupportedKeyType", json!(name)),
        UnsupportedCurve(name) => error("UnsupportedCurve", json!(name)),
        WrongUse(name) => error("WrongUse", json!(name)),
        UnsupportedAlgorithm(name) => error("UnsupportedAlgorithm", json!(name)),
        KidNotThumbprint => error("KidNotThumbprint", Value::Null),
        PrivateKeyMaterial => error("PrivateKeyMaterial", Value::Null),
        LowOrderPoint => error("LowOrderPoint", Value::Null),
        PublicKeyMismatch => error("PublicKeyMismatch", Value::Null),
        EmptySet => error("EmptySet", Value::Null),
        TooManyKeys { max } => error("TooManyKeys", json!(max)),
        DuplicateKey => error("DuplicateKey", Value::Null),
        InSet { index, .. } => error("InSet", json!(index)),
        other => panic!("no vector kind for {other:?}"),
    }
}

/// A sign-in request error as `{kind, detail}`.
pub(crate) fn signin_error(e: &SignInRequestError) -> Value {
    use SignInRequestError::*;
    match e {
        NotASignInRequest => error("NotASignInRequest", Value::Null),
        TooLong(max) => error("TooLong", json!(max)),
        UnsupportedVersion(v) => error("UnsupportedVersion", json!(v)),
        Missing(name) => error("Missing", json!(name)),
        Repeated(name) => error("Repeated", json!(name)),
        Invalid(name) => error("Invalid", json!(name)),
        Expired { expired_at, .. } => error("Expired", json!(expired_at)),
        other => panic!("no vector kind for {other:?}"),
    }
}

/// The whole file: keys, then one list of cases per parser.
pub(crate) fn generate() -> Value {
    let (keys, envelope_cases) = envelopes::cases();
    json!({
        "about": "Inputs sealgate refuses, with the error kind (the Rust variant) and its value. \
                  Generated and checked by crypto/tests/rejection_vectors.rs; read by the \
                  JavaScript package's tests. Envelopes are parsed, then opened with keys[key].",
        "keys": keys,
        "envelopes": envelope_cases,
        "public_jwks": keys_and_requests::public_jwks(),
        "private_jwks": keys_and_requests::private_jwks(),
        "jwks": keys_and_requests::key_sets(),
        "signin_requests": keys_and_requests::signin_requests(),
    })
}

/// Replays every stored case against this crate, asserting its recorded error; returns how many.
pub(crate) fn replay(file: &Value) -> usize {
    let mut count = 0;
    for case in file["envelopes"].as_array().unwrap() {
        let key = &file["keys"][case["key"].as_str().unwrap()];
        let got = envelopes::refusal(case["compact"].as_str().unwrap(), key);
        assert_eq!(got, case["error"], "envelope case {}", case["name"]);
        count += 1;
    }
    for (section, refusal) in [
        (
            "public_jwks",
            keys_and_requests::public_refusal as fn(&str) -> Value,
        ),
        ("private_jwks", keys_and_requests::private_refusal),
        ("jwks", keys_and_requests::set_refusal),
    ] {
        for case in file[section].as_array().unwrap() {
            let got = refusal(case["text"].as_str().unwrap());
            assert_eq!(got, case["error"], "{section} case {}", case["name"]);
            count += 1;
        }
    }
    for case in file["signin_requests"].as_array().unwrap() {
        let got = keys_and_requests::signin_refusal(
            case["uri"].as_str().unwrap(),
            case["now"].as_u64().unwrap(),
        );
        assert_eq!(got, case["error"], "sign-in case {}", case["name"]);
        count += 1;
    }
    count
}
