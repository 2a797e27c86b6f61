//! JWK and JWKS parsers on malformed input: every refusal has its typed `JwkError`, from text
//! that is not JSON to a key set with a foreign, private or repeated key.

#[allow(dead_code)] // this crate uses only the JWK edits, not the fixed RNG
mod common;

use common::{with, without};
use sealgate_crypto::{Algorithm, JwkError, Jwks, MAX_JWKS_KEYS, PrivateKey, PublicKey};
use serde_json::{Value, json};

/// A valid private key, fixed so that failures are reproducible.
fn private_key(seed: u8) -> PrivateKey {
    PrivateKey::from_secret_bytes([seed; 32], Algorithm::Hpke4)
}

fn public_jwk() -> Value {
    private_key(1).public_key().to_jwk()
}

fn private_jwk() -> Value {
    serde_json::from_str(&private_key(1).to_jwk_json()).unwrap()
}

/// `x` values that are not 32 bytes of unpadded base64url.
fn bad_x() -> Vec<Value> {
    let x = public_jwk()["x"].as_str().unwrap().to_owned();
    vec![
        json!(""),
        json!(&x[..42]),
        json!(format!("{x}A")),
        json!(format!("{x}=")),
        json!(format!("+{}", &x[1..])),
        json!(format!("/{}", &x[1..])),
        json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"),
        json!(42),
        json!(null),
        json!([x]),
    ]
}

#[test]
fn public_jwk_refusals_are_typed() {
    let jwk = public_jwk();
    assert_eq!(
        PublicKey::from_jwk(&jwk).unwrap(),
        *private_key(1).public_key()
    );
    let mut cases = vec![
        (json!([]), JwkError::NotAnObject),
        (json!("OKP"), JwkError::NotAnObject),
        (json!(null), JwkError::NotAnObject),
        (without(&jwk, "kty"), JwkError::MissingMember("kty")),
        (
            with(&jwk, "kty", json!("EC")),
            JwkError::UnsupportedKeyType("EC".into()),
        ),
        (
            with(&jwk, "kty", json!("okp")),
            JwkError::UnsupportedKeyType("okp".into()),
        ),
        (with(&jwk, "kty", json!(1)), JwkError::InvalidMember("kty")),
        (without(&jwk, "crv"), JwkError::MissingMember("crv")),
        (
            with(&jwk, "crv", json!("Ed25519")),
            JwkError::UnsupportedCurve("Ed25519".into()),
        ),
        (
            with(&jwk, "crv", json!("X448")),
            JwkError::UnsupportedCurve("X448".into()),
        ),
        (
            with(&jwk, "use", json!("sig")),
            JwkError::WrongUse("sig".into()),
        ),
        (
            with(&jwk, "use", json!(["enc"])),
            JwkError::InvalidMember("use"),
        ),
        (
            with(&jwk, "alg", json!("HPKE-0")),
            JwkError::UnsupportedAlgorithm("HPKE-0".into()),
        ),
        (
            with(&jwk, "alg", json!("ECDH-ES")),
            JwkError::UnsupportedAlgorithm("ECDH-ES".into()),
        ),
        (with(&jwk, "alg", json!(4)), JwkError::InvalidMember("alg")),
        (without(&jwk, "x"), JwkError::MissingMember("x")),
        (
            with(&jwk, "kid", json!("not-the-thumbprint")),
            JwkError::KidNotThumbprint,
        ),
        (with(&jwk, "kid", json!(7)), JwkError::InvalidMember("kid")),
        (with(&jwk, "d", json!("AAAA")), JwkError::PrivateKeyMaterial),
        (with(&jwk, "d", json!(null)), JwkError::PrivateKeyMaterial),
    ];
    for x in bad_x() {
        cases.push((with(&jwk, "x", x), JwkError::InvalidMember("x")));
    }
    for (input, expected) in cases {
        assert_eq!(
            PublicKey::from_jwk(&input),
            Err(expected.clone()),
            "{input}"
        );
        assert_eq!(
            PublicKey::from_jwk_json(&input.to_string()),
            Err(expected),
            "{input}"
        );
    }
}

#[test]
fn private_jwk_refusals_are_typed() {
    let jwk = private_jwk();
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.public_key(), private_key(1).public_key());
    // `x`, `kid`, `use` and `alg` are optional; `alg` defaults to HPKE-4.
    let bare = json!({"kty": "OKP", "crv": "X25519", "d": jwk["d"]});
    let key = PrivateKey::from_jwk(&bare).unwrap();
    assert_eq!(key.public_key().algorithm(), Algorithm::Hpke4);

    let foreign_x = private_key(2).public_key().to_jwk()["x"].clone();
    let mut cases = vec![
        (json!({}), JwkError::MissingMember("kty")),
        (json!([jwk.clone()]), JwkError::NotAnObject),
        (without(&jwk, "d"), JwkError::MissingMember("d")),
        (with(&jwk, "d", json!(1)), JwkError::InvalidMember("d")),
        (with(&jwk, "d", json!("AAAA")), JwkError::InvalidMember("d")),
        (with(&jwk, "d", json!("")), JwkError::InvalidMember("d")),
        (with(&jwk, "x", foreign_x), JwkError::PublicKeyMismatch),
        (with(&jwk, "x", json!(1)), JwkError::InvalidMember("x")),
        (
            with(&jwk, "kid", json!("someone-else")),
            JwkError::KidNotThumbprint,
        ),
        (
            with(&jwk, "crv", json!("P-256")),
            JwkError::UnsupportedCurve("P-256".into()),
        ),
        (
            with(&jwk, "use", json!("sig")),
            JwkError::WrongUse("sig".into()),
        ),
    ];
    for x in bad_x().into_iter().filter(Value::is_string) {
        cases.push((with(&jwk, "x", x), JwkError::PublicKeyMismatch));
    }
    for (input, expected) in cases {
        assert_eq!(
            PrivateKey::from_jwk(&input).map(|_| ()),
            Err(expected.clone()),
            "{input}"
        );
        assert_eq!(
            PrivateKey::from_jwk_json(&input.to_string()).map(|_| ()),
            Err(expected),
            "{input}"
        );
    }
}

/// Text that is not one JSON value, including nesting past serde_json's recursion limit.
fn not_json() -> Vec<String> {
    vec![
        String::new(),
        " ".into(),
        "{".into(),
        "{\"kty\":\"OKP\",}".into(),
        "{'kty':'OKP'}".into(),
        "{} {}".into(),
        "\u{feff}{}".into(),
        "[".repeat(100_000),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!(
            "{{\"a\":{}1{}}}",
            "{\"a\":".repeat(5_000),
            "}".repeat(5_000)
        ),
    ]
}

#[test]
fn text_that_is_not_json_is_not_json() {
    for text in not_json() {
        let shown = &text[..text.len().min(40)];
        assert_eq!(
            PublicKey::from_jwk_json(&text),
            Err(JwkError::NotJson),
            "{shown}"
        );
        assert_eq!(
            PrivateKey::from_jwk_json(&text).map(|_| ()),
            Err(JwkError::NotJson),
            "{shown}"
        );
        assert_eq!(Jwks::from_json(&text), Err(JwkError::NotJson), "{shown}");
    }
}

#[test]
fn jwks_refusals_are_typed() {
    let key = |seed: u8| private_key(seed).public_key().to_jwk();
    let set = |keys: Vec<Value>| json!({ "keys": keys }).to_string();
    assert_eq!(
        Jwks::from_json(&set(vec![key(1), key(2)]))
            .unwrap()
            .keys()
            .len(),
        2
    );
    let full: Vec<Value> = (1..=MAX_JWKS_KEYS as u8).map(key).collect();
    assert_eq!(
        Jwks::from_json(&set(full.clone())).unwrap().keys().len(),
        MAX_JWKS_KEYS
    );

    let in_set = |index: usize, source: JwkError| JwkError::InSet {
        index,
        source: Box::new(source),
    };
    let over: Vec<Value> = (1..=MAX_JWKS_KEYS as u8 + 1).map(key).collect();
    let cases = [
        ("[]".to_owned(), JwkError::MissingMember("keys")),
        ("{}".to_owned(), JwkError::MissingMember("keys")),
        (key(1).to_string(), JwkError::MissingMember("keys")),
        (r#"{"keys":{}}"#.to_owned(), JwkError::MissingMember("keys")),
        (
            r#"{"keys":null}"#.to_owned(),
            JwkError::MissingMember("keys"),
        ),
        (set(vec![]), JwkError::EmptySet),
        (set(over), JwkError::TooManyKeys { max: MAX_JWKS_KEYS }),
        (set(vec![key(1), key(1)]), JwkError::DuplicateKey),
        (
            set(vec![key(1), with(&key(2), "crv", json!("P-256"))]),
            in_set(1, JwkError::UnsupportedCurve("P-256".into())),
        ),
        (
            set(vec![private_jwk()]),
            in_set(0, JwkError::PrivateKeyMaterial),
        ),
        (
            set(vec![key(1), json!("key")]),
            in_set(1, JwkError::NotAnObject),
        ),
        (
            set(vec![with(&key(3), "kid", json!("x"))]),
            in_set(0, JwkError::KidNotThumbprint),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(Jwks::from_json(&input), Err(expected), "{input}");
    }
}

#[test]
fn duplicate_members_in_a_jwk_keep_the_last() {
    // RFC 7517 §4: a parser either refuses repeated member names or keeps the lexically last.
    // serde_json keeps the last: the key is what the last `x` says, and a `kid` must still be its
    // thumbprint.
    let first = public_jwk();
    let second = private_key(2).public_key().to_jwk();
    let text = format!(
        r#"{{"kty":"OKP","crv":"X25519","x":{},"x":{}}}"#,
        first["x"], second["x"]
    );
    assert_eq!(
        PublicKey::from_jwk_json(&text).unwrap(),
        PublicKey::from_bytes(*private_key(2).public_key().as_bytes(), Algorithm::Hpke4)
    );
    let text = format!(
        r#"{{"kty":"OKP","crv":"X25519","x":{},"x":{},"kid":{}}}"#,
        first["x"], second["x"], first["kid"]
    );
    assert_eq!(
        PublicKey::from_jwk_json(&text),
        Err(JwkError::KidNotThumbprint)
    );
}
