//! `verify_id_token`: it accepts the test issuer's token, and refuses a wrong nonce, audience or
//! issuer, an expired token or one issued in the future, a tampered signature or payload, an
//! unknown kid, `alg: none` and HS256 key confusion, and tokens missing required claims.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use sealgate_client::testing::TestIssuer;
use sealgate_client::{Error, Expected, IdTokenClaims, IssuerKeys, verify_id_token};

const ISSUER: &str = "https://issuer.test.invalid";
const AUDIENCE: &str = "the-client-id";
const NONCE: &str = "the-nonce-of-the-request";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn expected() -> Expected {
    Expected {
        issuer: Some(ISSUER.into()),
        audience: AUDIENCE.into(),
        nonce: NONCE.into(),
        leeway: Duration::from_secs(60),
    }
}

fn keys_of(issuer: &TestIssuer) -> IssuerKeys {
    IssuerKeys::from_json(&issuer.jwks().to_string()).unwrap()
}

/// An Ed25519 issuer that signs whatever claims and header a test wants.
struct Signer {
    encoding: EncodingKey,
    jwk: Value,
}

impl Signer {
    fn new(kid: Option<&str>) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        });
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        Self {
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk,
        }
    }

    fn kid(&self) -> Option<String> {
        self.jwk["kid"].as_str().map(str::to_owned)
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = self.kid();
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    fn keys(signers: &[&Signer]) -> IssuerKeys {
        let keys: Vec<&Value> = signers.iter().map(|s| &s.jwk).collect();
        IssuerKeys::from_json(&json!({ "keys": keys }).to_string()).unwrap()
    }
}

/// Good claims, with `changes` merged in (`null` removes a claim).
fn claims(changes: Value) -> Value {
    let now = now();
    let mut claims = json!({
        "iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "nonce": NONCE,
        "iat": now, "exp": now + 300,
    });
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[track_caller]
fn assert_refused(result: Result<IdTokenClaims, Error>, hint: &str) {
    match result {
        Err(Error::IdToken(message)) => assert!(
            message.to_lowercase().contains(&hint.to_lowercase()),
            "refused, but the message {message:?} does not mention {hint:?}"
        ),
        other => panic!("expected Error::IdToken mentioning {hint:?}, got {other:?}"),
    }
}

/// Replaces segment `index` of a JWS compact string.
fn with_segment(token: &str, index: usize, segment: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = segment;
    parts.join(".")
}

#[test]
fn accepts_the_test_issuers_token() {
    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let token = issuer.sign_id_token("alice", AUDIENCE, NONCE).unwrap();
    let claims = verify_id_token(&token, &keys_of(&issuer), &expected()).unwrap();
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.aud, json!(AUDIENCE));
    assert_eq!(claims.nonce.as_deref(), Some(NONCE));
    assert!(claims.exp > now());

    // Without an expected issuer, any issuer is fine.
    let any_issuer = Expected {
        issuer: None,
        ..expected()
    };
    verify_id_token(&token, &keys_of(&issuer), &any_issuer).unwrap();
}

#[test]
fn refuses_a_wrong_nonce() {
    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let token = issuer
        .sign_id_token("alice", AUDIENCE, "another-nonce")
        .unwrap();
    assert_refused(
        verify_id_token(&token, &keys_of(&issuer), &expected()),
        "nonce",
    );
    let signer = Signer::new(Some("k1"));
    let token = signer.sign(&claims(json!({ "nonce": null })));
    assert_refused(
        verify_id_token(&token, &Signer::keys(&[&signer]), &expected()),
        "nonce",
    );
}

#[test]
fn refuses_a_wrong_audience() {
    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let token = issuer
        .sign_id_token("alice", "another-client", NONCE)
        .unwrap();
    assert_refused(
        verify_id_token(&token, &keys_of(&issuer), &expected()),
        "aud",
    );
    // An audience list that contains this client is fine; one that does not is refused.
    let signer = Signer::new(Some("k1"));
    let keys = Signer::keys(&[&signer]);
    let listed = signer.sign(&claims(json!({ "aud": ["someone-else", AUDIENCE] })));
    verify_id_token(&listed, &keys, &expected()).unwrap();
    let others = signer.sign(&claims(json!({ "aud": ["someone-else", "and-another"] })));
    assert_refused(verify_id_token(&others, &keys, &expected()), "aud");
}

#[test]
fn refuses_a_wrong_issuer() {
    let issuer = TestIssuer::generate("https://another-issuer.test.invalid").unwrap();
    let token = issuer.sign_id_token("alice", AUDIENCE, NONCE).unwrap();
    assert_refused(
        verify_id_token(&token, &keys_of(&issuer), &expected()),
        "iss",
    );
}

#[test]
fn refuses_an_expired_token() {
    let signer = Signer::new(Some("k1"));
    let keys = Signer::keys(&[&signer]);
    let now = now();
    let expired = signer.sign(&claims(json!({ "iat": now - 3600, "exp": now - 600 })));
    assert_refused(verify_id_token(&expired, &keys, &expected()), "expired");
    // Within the leeway is not expired yet.
    let just = signer.sign(&claims(json!({ "iat": now - 600, "exp": now - 5 })));
    verify_id_token(&just, &keys, &expected()).unwrap();
}

#[test]
fn refuses_a_token_issued_in_the_future() {
    let signer = Signer::new(Some("k1"));
    let now = now();
    let token = signer.sign(&claims(json!({ "iat": now + 3600, "exp": now + 7200 })));
    assert_refused(
        verify_id_token(&token, &Signer::keys(&[&signer]), &expected()),
        "iat",
    );
}

#[test]
fn refuses_a_tampered_signature_or_payload() {
    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let keys = keys_of(&issuer);
    let token = issuer.sign_id_token("alice", AUDIENCE, NONCE).unwrap();
    let signature = token.split('.').nth(2).unwrap();
    // Flip a character well inside the signature (the last one carries padding bits).
    let mut tampered = signature.to_owned();
    let flipped = if &signature[10..11] == "A" { "B" } else { "A" };
    tampered.replace_range(10..11, flipped);
    assert!(verify_id_token(&with_segment(&token, 2, &tampered), &keys, &expected()).is_err());
    assert_refused(
        verify_id_token(&with_segment(&token, 2, &tampered), &keys, &expected()),
        "signature",
    );
    // Another subject with the original signature.
    let payload = token.split('.').nth(1).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"] = json!("mallory");
    let forged = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_refused(
        verify_id_token(&with_segment(&token, 1, &forged), &keys, &expected()),
        "signature",
    );
    // No signature at all.
    assert!(matches!(
        verify_id_token(&with_segment(&token, 2, ""), &keys, &expected()),
        Err(Error::IdToken(_))
    ));
}

#[test]
fn refuses_an_unknown_kid() {
    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let other = TestIssuer::generate(ISSUER).unwrap();
    let token = issuer.sign_id_token("alice", AUDIENCE, NONCE).unwrap();
    assert_refused(
        verify_id_token(&token, &keys_of(&other), &expected()),
        "no key",
    );
    // A kid the set has, on a token signed by another key.
    let real = Signer::new(Some("shared-kid"));
    let impostor = Signer::new(Some("shared-kid"));
    let token = impostor.sign(&claims(json!({})));
    assert_refused(
        verify_id_token(&token, &Signer::keys(&[&real]), &expected()),
        "signature",
    );
}

#[test]
fn a_token_without_kid_needs_a_single_key() {
    let signer = Signer::new(None);
    let token = signer.sign(&claims(json!({})));
    verify_id_token(&token, &Signer::keys(&[&signer]), &expected())
        .expect("the one key of the set");
    let another = Signer::new(Some("k2"));
    assert_refused(
        verify_id_token(&token, &Signer::keys(&[&signer, &another]), &expected()),
        "several",
    );
}

#[test]
fn refuses_alg_none_and_hs256_key_confusion() {
    let signer = Signer::new(Some("k1"));
    let keys = Signer::keys(&[&signer]);
    let claims = claims(json!({}));
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());

    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let result = verify_id_token(&format!("{none}.{payload}."), &keys, &expected());
    assert!(matches!(result, Err(Error::IdToken(_))), "{result:?}");

    // HMAC keyed with the public key's bytes, as a confused verifier might accept.
    let x = signer.jwk["x"].as_str().unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let hs256 =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(x.as_bytes())).unwrap();
    assert_refused(verify_id_token(&hs256, &keys, &expected()), "not accepted");
}

#[test]
fn refuses_missing_required_claims() {
    let signer = Signer::new(Some("k1"));
    let keys = Signer::keys(&[&signer]);
    for claim in ["sub", "exp", "iat", "iss", "aud"] {
        let token = signer.sign(&claims(json!({ claim: null })));
        let result = verify_id_token(&token, &keys, &expected());
        assert!(
            matches!(result, Err(Error::IdToken(_))),
            "a token without {claim}: {result:?}"
        );
    }
}

#[test]
fn refuses_garbage() {
    let keys = keys_of(&TestIssuer::generate(ISSUER).unwrap());
    for token in ["", "a.b", "a.b.c", "not a token", "eyJ.eyJ.sig"] {
        let result = verify_id_token(token, &keys, &expected());
        assert!(
            matches!(result, Err(Error::IdToken(_))),
            "{token:?}: {result:?}"
        );
    }
    assert!(matches!(
        IssuerKeys::from_json("{\"keys\": 5}"),
        Err(Error::IdToken(_))
    ));
}

#[test]
fn a_key_set_knows_whether_it_holds_a_tokens_key() {
    let issuer = TestIssuer::generate(ISSUER).unwrap();
    let rotated = TestIssuer::generate(ISSUER).unwrap();
    let token = issuer.sign_id_token("alice", AUDIENCE, NONCE).unwrap();
    assert!(keys_of(&issuer).has_key_for(&token));
    assert!(
        !keys_of(&rotated).has_key_for(&token),
        "another key set: fetch again"
    );
    assert!(!keys_of(&issuer).has_key_for("not a token"));
}
