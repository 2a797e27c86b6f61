//! Key and sign-in request cases: JWKs, key sets and sign-in URIs this crate refuses.

use sealgate_crypto::base64url;
use sealgate_crypto::{Algorithm, Jwks, PrivateKey, PublicKey, SignInRequest};
use serde_json::{Value, json};

use super::{jwk_error, signin_error};
use crate::common::{with, without};

fn private_key(seed: u8) -> PrivateKey {
    PrivateKey::from_secret_bytes([seed; 32], Algorithm::Hpke4)
}

fn case(name: &str, text: String, error: Value) -> Value {
    json!({ "name": name, "text": text, "error": error })
}

/// What this crate says about a public JWK text.
pub(crate) fn public_refusal(text: &str) -> Value {
    jwk_error(&PublicKey::from_jwk_json(text).expect_err(text))
}

/// What this crate says about a private JWK text.
pub(crate) fn private_refusal(text: &str) -> Value {
    jwk_error(&PrivateKey::from_jwk_json(text).map(|_| ()).expect_err(text))
}

/// What this crate says about a key set text.
pub(crate) fn set_refusal(text: &str) -> Value {
    jwk_error(&Jwks::from_json(text).expect_err(text))
}

/// Public keys whose X25519 u-coordinate has low order, in every encoding X25519 reads.
fn low_order_points() -> Vec<[u8; 32]> {
    let mut order_8 = [[0u8; 32]; 2];
    base64url::decode("4Ot6fDtBuK4WVuP68Z_EatoJjeucMrH9hmIFFl9JuAA")
        .map(|b| order_8[0].copy_from_slice(&b))
        .unwrap();
    base64url::decode("X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc")
        .map(|b| order_8[1].copy_from_slice(&b))
        .unwrap();
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let (mut p_minus_1, mut p_plus_1, mut one) = (p, p, [0u8; 32]);
    p_minus_1[0] = 0xec;
    p_plus_1[0] = 0xee;
    one[0] = 1;
    let mut points = vec![
        [0u8; 32], one, p_minus_1, p, p_plus_1, order_8[0], order_8[1],
    ];
    let high: Vec<[u8; 32]> = points
        .iter()
        .map(|point| {
            let mut set = *point;
            set[31] |= 0x80;
            set
        })
        .collect();
    points.extend(high);
    points
}

/// Public JWK texts with their refusals.
pub(crate) fn public_jwks() -> Vec<Value> {
    let jwk = private_key(1).public_key().to_jwk();
    let x = jwk["x"].as_str().unwrap().to_owned();
    let mut cases: Vec<(String, Value)> = vec![
        ("kty missing".into(), without(&jwk, "kty")),
        ("kty EC".into(), with(&jwk, "kty", json!("EC"))),
        ("kty 1".into(), with(&jwk, "kty", json!(1))),
        ("crv missing".into(), without(&jwk, "crv")),
        ("crv Ed25519".into(), with(&jwk, "crv", json!("Ed25519"))),
        ("use sig".into(), with(&jwk, "use", json!("sig"))),
        ("use [enc]".into(), with(&jwk, "use", json!(["enc"]))),
        ("alg HPKE-0".into(), with(&jwk, "alg", json!("HPKE-0"))),
        ("alg 4".into(), with(&jwk, "alg", json!(4))),
        ("x missing".into(), without(&jwk, "x")),
        (
            "kid not the thumbprint".into(),
            with(&jwk, "kid", json!("someone-else")),
        ),
        ("kid 7".into(), with(&jwk, "kid", json!(7))),
        ("d present".into(), with(&jwk, "d", json!("AAAA"))),
        ("d null".into(), with(&jwk, "d", json!(null))),
        ("an array".into(), json!([])),
        ("a string".into(), json!("OKP")),
        ("null".into(), json!(null)),
    ];
    for (n, bad) in [
        json!(""),
        json!(&x[..42]),
        json!(format!("{x}A")),
        json!(format!("{x}=")),
        json!(format!("+{}", &x[1..])),
        json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"),
        json!(42),
        json!(null),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((format!("bad x {n}"), with(&jwk, "x", bad)));
    }
    for (n, point) in low_order_points().iter().enumerate() {
        let low = json!({"kty": "OKP", "crv": "X25519", "x": base64url::encode(point)});
        cases.push((format!("low-order point {n}"), low));
    }
    let mut out: Vec<Value> = cases
        .into_iter()
        .map(|(name, value)| {
            let text = value.to_string();
            case(&name, text.clone(), public_refusal(&text))
        })
        .collect();
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    for (name, text) in [
        ("empty", String::new()),
        ("an open brace", "{".into()),
        ("a trailing comma", "{\"kty\":\"OKP\",}".into()),
        ("two values", "{} {}".into()),
        ("a byte order mark", "\u{feff}{}".into()),
        ("200 levels", deep),
        ("a lone surrogate", r#"{"kty":"OKP","n":"\ud800"}"#.into()),
        (
            "127 levels",
            format!("{{\"a\":{}1{}}}", "[".repeat(126), "]".repeat(126)),
        ),
        (
            "128 levels",
            format!("{{\"a\":{}1{}}}", "[".repeat(127), "]".repeat(127)),
        ),
        (
            "129 levels",
            format!("{{\"a\":{}1{}}}", "[".repeat(128), "]".repeat(128)),
        ),
    ] {
        out.push(case(name, text.clone(), public_refusal(&text)));
    }
    out
}

/// Private JWK texts with their refusals.
pub(crate) fn private_jwks() -> Vec<Value> {
    let jwk: Value = serde_json::from_str(&private_key(1).to_jwk_json()).unwrap();
    let foreign_x = private_key(2).public_key().to_jwk()["x"].clone();
    let cases = [
        ("empty object", json!({})),
        ("d missing", without(&jwk, "d")),
        ("d 1", with(&jwk, "d", json!(1))),
        ("d short", with(&jwk, "d", json!("AAAA"))),
        ("d empty", with(&jwk, "d", json!(""))),
        ("x of another key", with(&jwk, "x", foreign_x)),
        ("x 1", with(&jwk, "x", json!(1))),
        (
            "x padded",
            with(&jwk, "x", json!(format!("{}=", jwk["x"].as_str().unwrap()))),
        ),
        (
            "kid not the thumbprint",
            with(&jwk, "kid", json!("someone-else")),
        ),
        ("crv P-256", with(&jwk, "crv", json!("P-256"))),
    ];
    cases
        .into_iter()
        .map(|(name, value)| {
            let text = value.to_string();
            case(name, text.clone(), private_refusal(&text))
        })
        .collect()
}

/// Key set texts with their refusals.
pub(crate) fn key_sets() -> Vec<Value> {
    let a = private_key(1).public_key().to_jwk();
    let b = private_key(2).public_key().to_jwk();
    let many: Vec<Value> = (1..=17)
        .map(|seed| private_key(seed).public_key().to_jwk())
        .collect();
    let cases = [
        ("no keys member", json!({})),
        ("keys not an array", json!({"keys": {}})),
        ("empty", json!({"keys": []})),
        ("17 keys", json!({ "keys": many })),
        ("the same key twice", json!({"keys": [a, a]})),
        (
            "a foreign second key",
            json!({"keys": [a, with(&b, "kty", json!("EC"))]}),
        ),
        (
            "a private second key",
            json!({"keys": [a, with(&b, "d", json!("AAAA"))]}),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, value)| {
            let text = value.to_string();
            case(name, text.clone(), set_refusal(&text))
        })
        .collect()
}

/// What this crate says about a sign-in request URI at `now`.
pub(crate) fn signin_refusal(uri: &str, now: u64) -> Value {
    signin_error(&SignInRequest::parse(uri, now).expect_err(uri))
}

/// Sign-in request URIs with their refusals.
pub(crate) fn signin_requests() -> Vec<Value> {
    const KID: &str = "EMf0FmafX1CDECti7cvCWZddOvzvPf3_nmXI39eiO18";
    let uri = SignInRequest::new(
        "https://gw.example.com",
        "Zm9vYmFyYmF6cXV4cXV1eA",
        "bWFpbGJveC1pZC0xMjM0NQ",
        KID,
        2_000,
        "n-0S6_WzA2Mj",
    )
    .unwrap()
    .to_uri();
    let swap = |from: &str, to: &str| uri.replacen(from, to, 1);
    let mut cases: Vec<(String, String, u64)> = vec![
        ("expired".into(), uri.clone(), 2_000),
        ("long expired".into(), uri.clone(), 5_000),
        ("not a sign-in request".into(), "https://x".into(), 0),
        (
            "another scheme".into(),
            uri.replacen("sealgate:", "sealgat:", 1),
            0,
        ),
        ("mbx repeated".into(), format!("{uri}&mbx=other"), 0),
        ("v repeated".into(), format!("{uri}&v=1"), 0),
        ("too long".into(), format!("{uri}&x={}", "a".repeat(400)), 0),
        ("v=2".into(), swap("v=1", "v=2"), 0),
        (
            "ftp gateway".into(),
            swap("https%3A%2F%2F", "ftp%3A%2F%2F"),
            0,
        ),
        (
            "gateway with a trailing slash".into(),
            swap(".com&", ".com%2F&"),
            0,
        ),
        ("gateway with a query".into(), swap(".com&", ".com%3Fa&"), 0),
        (
            "gateway with a user".into(),
            swap("gw.example", "u%40gw.example"),
            0,
        ),
        (
            "gateway with a space".into(),
            swap("gw.example", "gw+example"),
            0,
        ),
        (
            "gateway not ASCII".into(),
            swap("gw.example", "g%C3%A9.example"),
            0,
        ),
        (
            "empty host".into(),
            swap("https%3A%2F%2Fgw.example.com", "https%3A%2F%2F"),
            0,
        ),
        ("cid with a space".into(), swap("cid=Zm9v", "cid=Zm+9v"), 0),
        (
            "cid percent-encoded quote".into(),
            swap("cid=Zm9v", "cid=Zm%229v"),
            0,
        ),
        (
            "nonce of 129".into(),
            swap("nonce=n-0S6_WzA2Mj", &format!("nonce={}", "n".repeat(129))),
            0,
        ),
        ("kid of 42".into(), swap(KID, &KID[..42]), 0),
        ("kid of 44".into(), swap(KID, &format!("{KID}A")), 0),
        (
            "kid with a plus".into(),
            swap(KID, &format!("%2B{}", &KID[1..])),
            0,
        ),
        ("exp empty".into(), swap("exp=2000", "exp="), 0),
        ("exp +1".into(), swap("exp=2000", "exp=%2B2000"), 0),
        ("exp -1".into(), swap("exp=2000", "exp=-1"), 0),
        ("exp 1.0".into(), swap("exp=2000", "exp=2000.0"), 0),
        (
            "exp over u64".into(),
            swap("exp=2000", "exp=18446744073709551616"),
            0,
        ),
    ];
    for name in ["v", "gw", "cid", "mbx", "kid", "exp", "nonce"] {
        let start = uri.find(&format!("{name}=")).unwrap();
        let end = uri[start..]
            .find('&')
            .map_or(uri.len(), |at| start + at + 1);
        let mut without = uri.clone();
        without.replace_range(start..end, "");
        cases.push((
            format!("no {name}"),
            without.trim_end_matches('&').to_owned(),
            0,
        ));
    }
    cases
        .into_iter()
        .map(|(name, uri, now)| {
            let error = signin_refusal(&uri, now);
            json!({ "name": name, "uri": uri, "now": now, "error": error })
        })
        .collect()
}
