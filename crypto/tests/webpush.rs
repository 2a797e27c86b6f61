//! Web Push: the RFC 8291 §5 example byte for byte, round trips with random keys, every
//! tamper refused, and VAPID tokens that parse back and verify with p256's own verifier.

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use sealgate_crypto::base64url;
use sealgate_crypto::webpush::{
    self, HEADER_LEN, MAX_PLAINTEXT_LEN, PUSH_SERVICE_PLAINTEXT_LIMIT, PushPrivateKey,
    PushSubscriptionKeys, VapidKey, WebPushError,
};
use serde_json::{Value, json};

/// RFC 8291 §5 and Appendix A, as printed there (base64url).
mod rfc8291 {
    pub(crate) const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
    pub(crate) const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    pub(crate) const AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    pub(crate) const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    pub(crate) const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    pub(crate) const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    pub(crate) const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    /// Appendix A: the header (salt, rs, idlen, keyid) and the ciphertext, encoded apart.
    pub(crate) const HEADER: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    pub(crate) const CIPHERTEXT: &str =
        "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1sqLgVi1VhjVkHsUoEsbI_0LpXMuGvnzQ";
    /// §5: the whole body.
    pub(crate) const BODY: &str = concat!(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    );
}

fn b64<const N: usize>(text: &str) -> [u8; N] {
    base64url::decode_array(text).unwrap()
}

fn rfc_subscription() -> PushSubscriptionKeys {
    PushSubscriptionKeys::from_base64url(rfc8291::UA_PUBLIC, rfc8291::AUTH).unwrap()
}

fn rfc_ua_key() -> PushPrivateKey {
    PushPrivateKey::from_bytes(&b64(rfc8291::UA_PRIVATE)).unwrap()
}

#[test]
fn rfc8291_example_encrypts_byte_for_byte() {
    let body = webpush::encrypt_with(
        &rfc_subscription(),
        rfc8291::PLAINTEXT,
        None,
        &b64(rfc8291::AS_PRIVATE),
        &b64(rfc8291::SALT),
    )
    .unwrap();
    assert_eq!(base64url::encode(&body), rfc8291::BODY);
    // Appendix A's pieces agree with §5's body.
    assert_eq!(
        body[..HEADER_LEN],
        base64url::decode(rfc8291::HEADER).unwrap()
    );
    assert_eq!(
        body[HEADER_LEN..],
        base64url::decode(rfc8291::CIPHERTEXT).unwrap()
    );
    assert_eq!(body[21..HEADER_LEN], b64::<65>(rfc8291::AS_PUBLIC));
    // The keys of the example are the ones printed.
    assert_eq!(rfc_ua_key().p256dh(), rfc8291::UA_PUBLIC);
}

#[test]
fn rfc8291_example_decrypts() {
    let body = base64url::decode(rfc8291::BODY).unwrap();
    let plaintext = webpush::decrypt(&rfc_ua_key(), &b64(rfc8291::AUTH), &body).unwrap();
    assert_eq!(plaintext, rfc8291::PLAINTEXT);
}

fn fresh() -> (PushPrivateKey, [u8; 16], PushSubscriptionKeys) {
    let key = PushPrivateKey::generate();
    let auth = sealgate_crypto::random_bytes::<16>();
    let subscription =
        PushSubscriptionKeys::from_base64url(&key.p256dh(), &base64url::encode(auth)).unwrap();
    (key, auth, subscription)
}

#[test]
fn round_trips_with_random_keys_lengths_and_padding() {
    let (key, auth, subscription) = fresh();
    for len in [
        0,
        1,
        15,
        16,
        17,
        100,
        PUSH_SERVICE_PLAINTEXT_LIMIT,
        MAX_PLAINTEXT_LEN,
    ] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let body = webpush::encrypt(&subscription, &plaintext, None).unwrap();
        assert_eq!(body.len(), HEADER_LEN + len + 1 + 16);
        assert_eq!(body[16..21], [0, 0, 0x10, 0, 65]);
        assert_eq!(webpush::decrypt(&key, &auth, &body).unwrap(), plaintext);
    }
    // Padding hides the length; trailing zeros of the plaintext itself survive.
    for plaintext in [&b""[..], b"a", b"ends in zeros\0\0"] {
        let body = webpush::encrypt(&subscription, plaintext, Some(64)).unwrap();
        assert_eq!(body.len(), HEADER_LEN + 64 + 1 + 16);
        assert_eq!(webpush::decrypt(&key, &auth, &body).unwrap(), plaintext);
    }
    // Fresh salt and ephemeral key every time.
    let a = webpush::encrypt(&subscription, b"same", None).unwrap();
    let b = webpush::encrypt(&subscription, b"same", None).unwrap();
    assert_ne!(a[..16], b[..16]);
    assert_ne!(a[21..86], b[21..86]);
}

#[test]
fn refuses_what_does_not_fit_one_record() {
    let (_, _, subscription) = fresh();
    let too_long = vec![0x41; MAX_PLAINTEXT_LEN + 1];
    assert_eq!(
        webpush::encrypt(&subscription, &too_long, None).unwrap_err(),
        WebPushError::PlaintextTooLong {
            len: MAX_PLAINTEXT_LEN + 1,
            max: MAX_PLAINTEXT_LEN
        }
    );
    assert!(matches!(
        webpush::encrypt(&subscription, b"x", Some(MAX_PLAINTEXT_LEN + 1)),
        Err(WebPushError::PlaintextTooLong { .. })
    ));
    assert_eq!(
        webpush::encrypt(&subscription, b"four", Some(3)).unwrap_err(),
        WebPushError::PaddingTooShort {
            padding_to: 3,
            len: 4
        }
    );
}

/// A changed body must not decrypt, with one exception that RFC 8188 makes: `rs` (octets
/// 16..20) is not an input to the key schedule, so a changed `rs` that still covers the one
/// record decrypts, to the very same plaintext. Nothing else may decrypt.
fn assert_refused_or_rs_only(
    key: &PushPrivateKey,
    auth: &[u8; 16],
    tampered: &[u8],
    index: usize,
    plaintext: &[u8],
) {
    match webpush::decrypt(key, auth, tampered) {
        Err(_) => {}
        Ok(opened) => {
            let rs = u32::from_be_bytes(tampered[16..20].try_into().unwrap()) as usize;
            assert!(
                (16..20).contains(&index),
                "a change at octet {index} decrypted"
            );
            assert!(rs >= tampered.len() - HEADER_LEN);
            assert_eq!(opened, plaintext);
        }
    }
}

#[test]
fn every_flipped_bit_is_refused() {
    let (key, auth, subscription) = fresh();
    let body = webpush::encrypt(&subscription, b"a sign-in request", None).unwrap();
    for index in 0..body.len() {
        for bit in 0..8 {
            let mut tampered = body.clone();
            tampered[index] ^= 1 << bit;
            assert_refused_or_rs_only(&key, &auth, &tampered, index, b"a sign-in request");
        }
    }
}

#[test]
fn the_rfc_body_with_any_flipped_bit_is_refused() {
    let body = base64url::decode(rfc8291::BODY).unwrap();
    let key = rfc_ua_key();
    let auth = b64(rfc8291::AUTH);
    for index in 0..body.len() {
        let mut tampered = body.clone();
        tampered[index] ^= 0x80;
        assert_refused_or_rs_only(&key, &auth, &tampered, index, rfc8291::PLAINTEXT);
    }
}

#[test]
fn wrong_keys_and_secrets_are_refused() {
    let (key, auth, subscription) = fresh();
    let body = webpush::encrypt(&subscription, b"for this phone", None).unwrap();
    let mut other_auth = auth;
    other_auth[0] ^= 1;
    assert_eq!(
        webpush::decrypt(&key, &other_auth, &body).unwrap_err(),
        WebPushError::DecryptionFailed
    );
    assert_eq!(
        webpush::decrypt(&PushPrivateKey::generate(), &auth, &body).unwrap_err(),
        WebPushError::DecryptionFailed
    );
}

#[test]
fn truncation_and_trailing_data_are_refused() {
    let (key, auth, subscription) = fresh();
    let body = webpush::encrypt(&subscription, b"cut me", None).unwrap();
    for len in 0..body.len() {
        assert!(
            webpush::decrypt(&key, &auth, &body[..len]).is_err(),
            "cut at {len}"
        );
    }
    let expected = [
        (
            0,
            WebPushError::MalformedHeader("shorter than salt, rs and idlen"),
        ),
        (
            20,
            WebPushError::MalformedHeader("shorter than salt, rs and idlen"),
        ),
        (21, WebPushError::MalformedHeader("the key id is truncated")),
        (HEADER_LEN, WebPushError::Truncated),
        (HEADER_LEN + 16, WebPushError::Truncated),
        (body.len() - 1, WebPushError::DecryptionFailed),
    ];
    for (len, error) in expected {
        assert_eq!(
            webpush::decrypt(&key, &auth, &body[..len]).unwrap_err(),
            error,
            "{len}"
        );
    }

    // Data after the one record: with rs = 4096 a body may carry at most 4096 octets of record.
    let full = webpush::encrypt(&subscription, &[0x41; MAX_PLAINTEXT_LEN], None).unwrap();
    let mut longer = full.clone();
    longer.push(0);
    assert_eq!(
        webpush::decrypt(&key, &auth, &longer).unwrap_err(),
        WebPushError::MultipleRecords
    );
    // A smaller rs that the record overflows: two records, refused before decrypting.
    let mut small_rs = body.clone();
    small_rs[16..20].copy_from_slice(&18u32.to_be_bytes());
    assert_eq!(
        webpush::decrypt(&key, &auth, &small_rs).unwrap_err(),
        WebPushError::MultipleRecords
    );
}

#[test]
fn bad_header_fields_are_refused() {
    let (key, auth, subscription) = fresh();
    let body = webpush::encrypt(&subscription, b"header", None).unwrap();
    for idlen in [0u8, 33, 64, 66, 255] {
        let mut bad = body.clone();
        bad[20] = idlen;
        assert!(
            matches!(
                webpush::decrypt(&key, &auth, &bad),
                Err(WebPushError::MalformedHeader(_))
            ),
            "idlen {idlen}"
        );
    }
    for rs in [0u32, 1, 17] {
        let mut bad = body.clone();
        bad[16..20].copy_from_slice(&rs.to_be_bytes());
        assert_eq!(
            webpush::decrypt(&key, &auth, &bad).unwrap_err(),
            WebPushError::MalformedHeader("rs is less than 18")
        );
    }
    // A key id that is not on the curve, or compressed.
    let mut bad = body.clone();
    bad[85] ^= 1;
    assert!(matches!(
        webpush::decrypt(&key, &auth, &bad),
        Err(WebPushError::MalformedHeader(_))
    ));
}

/// A body whose record is `content` exactly as given, encrypted under the RFC 8291 schedule
/// written out here (HMAC-SHA-256 and AES-128-GCM from their crates), to test the delimiter.
fn body_with_raw_content(ua_public: &[u8; 65], auth: &[u8; 16], content: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit};
    use hmac::{Hmac, Mac};
    use p256::elliptic_curve::sec1::ToSec1Point;
    fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(key).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    let as_secret = p256::SecretKey::from_slice(&[0x42; 32]).unwrap();
    let as_public = as_secret
        .public_key()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();
    let ua = p256::PublicKey::from_sec1_bytes(ua_public).unwrap();
    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua.as_affine());
    let salt = [9u8; 16];
    let prk_key = mac(auth, &[shared.raw_secret_bytes()]);
    let ikm = mac(&prk_key, &[b"WebPush: info\0", ua_public, &as_public, &[1]]);
    let prk = mac(&salt, &[&ikm]);
    let cek = &mac(&prk, &[b"Content-Encoding: aes128gcm\0\x01"])[..16];
    let nonce: [u8; 12] = mac(&prk, &[b"Content-Encoding: nonce\0\x01"])[..12]
        .try_into()
        .unwrap();
    let record = aes_gcm::Aes128Gcm::new_from_slice(cek)
        .unwrap()
        .encrypt(&nonce.into(), content)
        .unwrap();
    [
        &salt[..],
        &4096u32.to_be_bytes(),
        &[65],
        &as_public,
        &record,
    ]
    .concat()
}

#[test]
fn the_delimiter_must_be_there_and_be_0x02() {
    let (key, auth, _) = fresh();
    let public = key.public_key();
    // The schedule written out in the test agrees with the crate.
    let good = body_with_raw_content(&public, &auth, b"hello\x02\0\0");
    assert_eq!(webpush::decrypt(&key, &auth, &good).unwrap(), b"hello");
    for content in [
        &b"hello"[..],        // no delimiter at all
        b"hello\x01",         // a not-last-record delimiter
        b"hello\x01\0\0",     // the same, padded
        b"hello\x03",         // padding must be zeros after the delimiter
        b"",                  // empty record
        b"\0\0\0",            // zeros only
        b"hello\x02\0\x05\0", // a non-zero octet in the padding
    ] {
        let body = body_with_raw_content(&public, &auth, content);
        assert_eq!(
            webpush::decrypt(&key, &auth, &body).unwrap_err(),
            if content.is_empty() {
                WebPushError::Truncated
            } else {
                WebPushError::BadDelimiter
            },
            "{content:?}"
        );
    }
}

// ------------------------------------------------------------------------------------- VAPID

const NOW: u64 = 1_800_000_000;

fn parse_authorization(header: &str) -> (String, String) {
    let rest = header.strip_prefix("vapid t=").expect("vapid scheme");
    let (token, k) = rest.split_once(", k=").expect("t and k");
    (token.to_owned(), k.to_owned())
}

#[test]
fn vapid_token_parses_back_and_verifies() {
    let key = VapidKey::generate();
    let header = key
        .authorization(
            "https://fcm.googleapis.com",
            "mailto:ops@example.com",
            NOW + 12 * 3600,
            NOW,
        )
        .unwrap();
    let (token, k) = parse_authorization(&header);
    assert_eq!(k, key.public_key_base64url());
    assert_eq!(base64url::decode(&k).unwrap(), key.public_key());

    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let jose: Value = serde_json::from_slice(&base64url::decode(parts[0]).unwrap()).unwrap();
    assert_eq!(jose, json!({"typ": "JWT", "alg": "ES256"}));
    let claims: Value = serde_json::from_slice(&base64url::decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims,
        json!({"aud": "https://fcm.googleapis.com", "exp": NOW + 12 * 3600, "sub": "mailto:ops@example.com"})
    );

    let signature = base64url::decode(parts[2]).unwrap();
    assert_eq!(signature.len(), 64, "JOSE r ‖ s, not DER");
    let verifying = VerifyingKey::from_sec1_bytes(&key.public_key()).unwrap();
    let signature = Signature::from_slice(&signature).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    verifying.verify(signed.as_bytes(), &signature).unwrap();
    assert!(verifying.verify(b"something else", &signature).is_err());
    let other = VerifyingKey::from_sec1_bytes(&VapidKey::generate().public_key()).unwrap();
    assert!(other.verify(signed.as_bytes(), &signature).is_err());

    // The same key from its PKCS#8 and raw forms signs verifiably too.
    for again in [
        VapidKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap(),
        VapidKey::from_bytes(&key.to_bytes()).unwrap(),
    ] {
        let (token, k) = parse_authorization(
            &again
                .authorization(
                    "https://push.example.net:8443",
                    "https://example.com/",
                    NOW + 60,
                    NOW,
                )
                .unwrap(),
        );
        assert_eq!(k, key.public_key_base64url());
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = Signature::from_slice(&base64url::decode(signature).unwrap()).unwrap();
        verifying.verify(signed.as_bytes(), &signature).unwrap();
    }
}

#[test]
fn vapid_refuses_long_lived_tokens_bad_subjects_and_audiences() {
    let key = VapidKey::generate();
    let origin = "https://updates.push.services.mozilla.com";
    let subject = "mailto:ops@example.com";
    assert!(
        key.authorization(origin, subject, NOW + 24 * 3600, NOW)
            .is_ok()
    );
    assert_eq!(
        key.authorization(origin, subject, NOW + 24 * 3600 + 1, NOW)
            .unwrap_err(),
        WebPushError::ExpiryTooFar {
            exp: NOW + 24 * 3600 + 1,
            now: NOW
        }
    );
    assert_eq!(
        key.authorization(origin, subject, NOW, NOW).unwrap_err(),
        WebPushError::Expired { exp: NOW, now: NOW }
    );
    for bad in [
        "http://example.com",
        "ops@example.com",
        "tel:+15550100",
        "mailto:",
        "",
    ] {
        assert_eq!(
            key.authorization(origin, bad, NOW + 60, NOW).unwrap_err(),
            WebPushError::InvalidSubject,
            "{bad}"
        );
    }
    for bad in [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://fcm.googleapis.com/",
        "fcm.googleapis.com",
        "wss://fcm.googleapis.com",
    ] {
        assert_eq!(
            key.authorization(bad, subject, NOW + 60, NOW).unwrap_err(),
            WebPushError::InvalidAudience,
            "{bad}"
        );
    }
    assert_eq!(
        webpush::endpoint_origin("https://fcm.googleapis.com/fcm/send/abc").unwrap(),
        "https://fcm.googleapis.com"
    );
}
