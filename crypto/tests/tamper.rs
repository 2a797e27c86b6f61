//! Tamper and truncation tests for the envelope, both algorithms: cuts at every field boundary,
//! flipped bits in the header, encapsulated key and ciphertext, swapped headers, and every typed
//! error the strict parser gives. Nothing may panic, and nothing modified may open.

use std::panic::{AssertUnwindSafe, catch_unwind};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sealgate_crypto::{
    Algorithm, Binding, Envelope, EnvelopeError, MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, Part,
    PrivateKey, PublicKey, SealOptions, seal,
};
use serde_json::{Value, json};

const TOKEN: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

fn sealed_to(key: &PrivateKey, mailbox: &str) -> String {
    let binding = Binding::to_mailbox("client-1", mailbox, 1_900_000_000);
    seal(key.public_key(), TOKEN, &SealOptions::for_token(binding))
        .unwrap()
        .into_string()
}

/// A fresh key of `alg` and an envelope sealed to it.
fn sealed(alg: Algorithm) -> (PrivateKey, String) {
    let key = PrivateKey::generate(alg);
    let compact = sealed_to(&key, "mailbox-1");
    (key, compact)
}

fn parts(compact: &str) -> Vec<String> {
    let parts: Vec<String> = compact.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 5, "a sealed envelope has 5 parts");
    parts
}

/// `compact` with part `index` replaced.
fn with_part(compact: &str, index: usize, part: &str) -> String {
    let mut parts = parts(compact);
    parts[index] = part.to_owned();
    parts.join(".")
}

fn decode_part(compact: &str, index: usize) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(&parts(compact)[index]).unwrap()
}

fn with_decoded_part(compact: &str, index: usize, bytes: &[u8]) -> String {
    with_part(compact, index, &URL_SAFE_NO_PAD.encode(bytes))
}

fn header_json(compact: &str) -> Value {
    serde_json::from_slice(&decode_part(compact, 0)).unwrap()
}

/// `compact` with its protected header replaced by `json`, encoded.
fn with_header(compact: &str, json: &str) -> String {
    with_decoded_part(compact, 0, json.as_bytes())
}

/// `compact` with the header member `name` set to `value`.
fn with_member(compact: &str, name: &str, value: Value) -> String {
    let mut header = header_json(compact);
    header[name] = value;
    with_header(compact, &header.to_string())
}

/// What became of a modified envelope.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The key-less parser refused it.
    Parse(EnvelopeError),
    /// It parsed, and opening it failed.
    Open(EnvelopeError),
    /// It opened: a modification must never get here.
    Opened,
}

/// Parses and opens `input`; a panic fails the test and names the input.
fn outcome(input: &str, key: &PrivateKey) -> Outcome {
    catch_unwind(AssertUnwindSafe(|| match Envelope::parse(input) {
        Err(error) => Outcome::Parse(error),
        Ok(envelope) => match envelope.open(key) {
            Err(error) => Outcome::Open(error),
            Ok(_) => Outcome::Opened,
        },
    }))
    .unwrap_or_else(|_| panic!("panicked on {input:?}"))
}

/// A cut envelope must be refused by the parser, or at open with the opaque `Decryption`.
fn assert_cut_refused(input: &str, key: &PrivateKey, what: &str) {
    match outcome(input, key) {
        Outcome::Parse(_) | Outcome::Open(EnvelopeError::Decryption) => {}
        other => panic!("{what}: {other:?} for {input:?}"),
    }
}

fn open_error(input: &str, key: &PrivateKey) -> EnvelopeError {
    match outcome(input, key) {
        Outcome::Open(error) => error,
        other => panic!("expected a parsed envelope that fails to open, got {other:?}"),
    }
}

fn parse_error(input: &str) -> EnvelopeError {
    Envelope::parse(input).expect_err("the parser must refuse this")
}

#[test]
fn the_untampered_envelopes_open() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        assert_eq!(outcome(&compact, &key), Outcome::Opened, "{alg}");
    }
}

#[test]
fn dropping_any_part_is_a_part_count_error() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        for index in 0..5 {
            let mut cut = parts(&compact);
            cut.remove(index);
            let cut = cut.join(".");
            assert_eq!(
                outcome(&cut, &key),
                Outcome::Parse(EnvelopeError::PartCount(4)),
                "{alg}: part {index} dropped"
            );
        }
    }
}

#[test]
fn emptying_any_part_is_refused() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        // The IV (2) and tag (4) are already empty.
        let expected = [
            (0, Outcome::Parse(EnvelopeError::HeaderNotJson)),
            (1, Outcome::Parse(EnvelopeError::EncapsulatedKeyLength)),
            (3, Outcome::Open(EnvelopeError::Decryption)),
        ];
        for (index, expected) in expected {
            let cut = with_part(&compact, index, "");
            assert_eq!(outcome(&cut, &key), expected, "{alg}: part {index} emptied");
        }
    }
}

#[test]
fn shortening_any_part_is_refused() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        for (index, part) in parts(&compact).iter().enumerate() {
            for keep in [part.len().saturating_sub(1), part.len() / 2, 1] {
                if keep >= part.len() {
                    continue;
                }
                let cut = with_part(&compact, index, &part[..keep]);
                assert_cut_refused(&cut, &key, &format!("{alg}: part {index} cut to {keep}"));
            }
        }
    }
}

/// Every proper prefix and suffix: this includes the cut at each `.` and one character before
/// and after it.
#[test]
fn cutting_the_string_anywhere_is_refused() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        let dots: Vec<usize> = compact.match_indices('.').map(|(at, _)| at).collect();
        assert_eq!(dots.len(), 4);
        for at in 0..compact.len() {
            assert_cut_refused(&compact[..at], &key, &format!("{alg}: prefix {at}"));
            assert_cut_refused(&compact[at + 1..], &key, &format!("{alg}: suffix {at}"));
        }
        // A prefix cut at a dot, or one character before or after it, has too few parts.
        for at in dots {
            for end in [at - 1, at, at + 1] {
                let cut = &compact[..end];
                if end == compact.len() {
                    continue; // the last dot ends the envelope: that "cut" is the whole of it
                }
                let count = cut.matches('.').count() + 1;
                assert!(count < 5);
                assert_eq!(
                    parse_error(cut),
                    EnvelopeError::PartCount(count),
                    "{alg}: {cut:?}"
                );
            }
        }
    }
}

#[test]
fn changing_a_bound_header_value_fails_decryption() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        let json = String::from_utf8(decode_part(&compact, 0)).unwrap();
        let mut changed = 0;
        for value in ["\"mailbox-1\"", "\"client-1\"", "\"JWT\"", "1900000000"] {
            let start = json.find(value).expect("the header holds the value");
            // Flip the lowest bit of each character inside the value, staying valid JSON.
            for at in start + 1..start + value.len() - 1 {
                let mut bytes = json.clone().into_bytes();
                bytes[at] ^= 1;
                let tampered = with_decoded_part(&compact, 0, &bytes);
                let parsed = Envelope::parse(&tampered)
                    .unwrap_or_else(|e| panic!("{alg}: {e}: {}", String::from_utf8_lossy(&bytes)));
                assert_ne!(parsed.header(), Envelope::parse(&compact).unwrap().header());
                assert_eq!(
                    parsed.open(&key).unwrap_err(),
                    EnvelopeError::Decryption,
                    "{alg}: {}",
                    String::from_utf8_lossy(&bytes)
                );
                changed += 1;
            }
        }
        assert_eq!(changed, 9 + 8 + 3 + 8);
        // The same header with other bytes (a space) is another aad.
        let spaced = json.replacen(',', ", ", 1);
        let tampered = with_header(&compact, &spaced);
        assert_eq!(open_error(&tampered, &key), EnvelopeError::Decryption);
        // A changed kid names another key.
        let other_kid = with_member(&compact, "kid", json!("AAAA"));
        assert_eq!(open_error(&other_kid, &key), EnvelopeError::KidMismatch);
    }
}

#[test]
fn flipping_any_bit_of_the_encapsulated_key_fails_decryption() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        let encapsulated = decode_part(&compact, 1);
        assert_eq!(encapsulated.len(), 32);
        for bit in 0..encapsulated.len() * 8 {
            let mut flipped = encapsulated.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let tampered = with_decoded_part(&compact, 1, &flipped);
            assert_eq!(
                open_error(&tampered, &key),
                EnvelopeError::Decryption,
                "{alg}: bit {bit}"
            );
        }
        // A low-order point (all zeros) and the recipient's own public key.
        for bytes in [[0u8; 32], *key.public_key().as_bytes()] {
            let tampered = with_decoded_part(&compact, 1, &bytes);
            assert_eq!(open_error(&tampered, &key), EnvelopeError::Decryption);
        }
    }
}

#[test]
fn flipping_any_bit_of_the_ciphertext_fails_decryption() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        let ciphertext = decode_part(&compact, 3);
        assert_eq!(ciphertext.len(), TOKEN.len() + 16);
        for bit in 0..ciphertext.len() * 8 {
            let mut flipped = ciphertext.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let tampered = with_decoded_part(&compact, 3, &flipped);
            assert_eq!(
                open_error(&tampered, &key),
                EnvelopeError::Decryption,
                "{alg}: bit {bit}"
            );
        }
        let longer = [ciphertext.as_slice(), &[0]].concat();
        let shorter = &ciphertext[..ciphertext.len() - 1];
        let tag_only = &ciphertext[..16];
        let too_short = &ciphertext[..15];
        for bytes in [&longer[..], shorter, tag_only, too_short] {
            let tampered = with_decoded_part(&compact, 3, bytes);
            assert_eq!(open_error(&tampered, &key), EnvelopeError::Decryption);
        }
    }
}

/// Flipping any bit of any character of the serialized envelope: never opens, never panics. (Where
/// the flip lands in the encoded header, `open` may refuse with a typed error about the header,
/// such as a `kid` that names another key; flips in the key and ciphertext are pinned to
/// `Decryption` above.)
#[test]
fn flipping_any_bit_of_the_text_is_refused() {
    for alg in Algorithm::ALL {
        let (key, compact) = sealed(alg);
        for at in 0..compact.len() {
            for bit in 0..7 {
                let mut bytes = compact.clone().into_bytes();
                bytes[at] ^= 1 << bit;
                let tampered = String::from_utf8(bytes).expect("ASCII stays ASCII");
                assert_ne!(
                    outcome(&tampered, &key),
                    Outcome::Opened,
                    "{alg}: {tampered:?}"
                );
            }
        }
    }
}

#[test]
fn swapping_parts_between_envelopes_fails_decryption() {
    for alg in Algorithm::ALL {
        let key = PrivateKey::generate(alg);
        let first = sealed_to(&key, "mailbox-1");
        let second = sealed_to(&key, "mailbox-2");
        let same_mailbox = sealed_to(&key, "mailbox-1");
        for (from, to) in [(&first, &second), (&second, &first)] {
            // The protected header moved onto another envelope.
            let swapped = with_part(to, 0, &parts(from)[0]);
            assert_eq!(
                Envelope::parse(&swapped).unwrap().header(),
                Envelope::parse(from).unwrap().header()
            );
            assert_eq!(open_error(&swapped, &key), EnvelopeError::Decryption);
        }
        for (from, to) in [(&first, &second), (&first, &same_mailbox)] {
            for index in [1, 3] {
                let swapped = with_part(to, index, &parts(from)[index]);
                assert_eq!(
                    open_error(&swapped, &key),
                    EnvelopeError::Decryption,
                    "{alg}: part {index}"
                );
            }
        }
    }
}

#[test]
fn integrated_encryption_forbids_an_iv_a_tag_enc_and_ek() {
    for alg in Algorithm::ALL {
        let (_, compact) = sealed(alg);
        let cases = [
            (
                with_part(&compact, 2, "AAAAAAAAAAAAAAAA"),
                EnvelopeError::NonEmptyIv,
            ),
            (with_part(&compact, 2, "!"), EnvelopeError::NonEmptyIv),
            (
                with_part(&compact, 4, "AAAAAAAAAAAAAAAAAAAAAA"),
                EnvelopeError::NonEmptyTag,
            ),
            (with_part(&compact, 4, "!"), EnvelopeError::NonEmptyTag),
            (
                with_member(&compact, "enc", json!("A128GCM")),
                EnvelopeError::EncPresent,
            ),
            (
                with_member(&compact, "ek", json!("AAAA")),
                EnvelopeError::EkPresent,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_error(&input), expected, "{alg}");
        }
    }
}

#[test]
fn algorithms_are_checked() {
    let (_, compact) = sealed(Algorithm::Hpke4);
    for name in [
        "RSA-OAEP-256",
        "dir",
        "ECDH-ES",
        "hpke-4",
        "HPKE-4 ",
        "HPKE-8",
        "",
    ] {
        assert_eq!(
            parse_error(&with_member(&compact, "alg", json!(name))),
            EnvelopeError::UnknownAlgorithm(name.into())
        );
    }
    for name in [
        "HPKE-0",
        "HPKE-1",
        "HPKE-2",
        "HPKE-5",
        "HPKE-7",
        "HPKE-4-KE",
    ] {
        assert_eq!(
            parse_error(&with_member(&compact, "alg", json!(name))),
            EnvelopeError::UnsupportedAlgorithm(name.into())
        );
    }
    assert_eq!(
        parse_error(&with_member(&compact, "alg", json!(4))),
        EnvelopeError::InvalidHeader("alg")
    );
}

#[test]
fn malformed_headers_have_typed_errors() {
    let (_, compact) = sealed(Algorithm::Hpke4);
    let without = |name: &str| {
        let mut header = header_json(&compact);
        header.as_object_mut().unwrap().remove(name);
        with_header(&compact, &header.to_string())
    };
    let duplicated = {
        let json = String::from_utf8(decode_part(&compact, 0)).unwrap();
        with_header(&compact, &json.replacen('{', r#"{"alg":"HPKE-3","#, 1))
    };
    let cases = [
        (without("alg"), EnvelopeError::MissingHeader("alg")),
        (without("kid"), EnvelopeError::MissingHeader("kid")),
        (
            with_member(&compact, "kid", json!(1)),
            EnvelopeError::InvalidHeader("kid"),
        ),
        (
            with_member(&compact, "mbx", json!(["m"])),
            EnvelopeError::InvalidHeader("mbx"),
        ),
        (
            with_member(&compact, "aud", json!({})),
            EnvelopeError::InvalidHeader("aud"),
        ),
        (
            with_member(&compact, "cty", json!(true)),
            EnvelopeError::InvalidHeader("cty"),
        ),
        (
            with_member(&compact, "exp", json!("1")),
            EnvelopeError::InvalidHeader("exp"),
        ),
        (
            with_member(&compact, "exp", json!(1.5)),
            EnvelopeError::InvalidHeader("exp"),
        ),
        (
            with_member(&compact, "exp", json!(-1)),
            EnvelopeError::InvalidHeader("exp"),
        ),
        (
            with_member(&compact, "crit", json!(["mbx"])),
            EnvelopeError::UnsupportedHeader("crit"),
        ),
        (
            with_member(&compact, "zip", json!("DEF")),
            EnvelopeError::UnsupportedHeader("zip"),
        ),
        (
            with_member(&compact, "psk_id", json!("p")),
            EnvelopeError::UnsupportedHeader("psk_id"),
        ),
        (duplicated, EnvelopeError::HeaderNotJson),
        (with_header(&compact, ""), EnvelopeError::HeaderNotJson),
        (with_header(&compact, "{"), EnvelopeError::HeaderNotJson),
        (with_header(&compact, "[]"), EnvelopeError::HeaderNotJson),
        (
            with_header(&compact, "\"HPKE-4\""),
            EnvelopeError::HeaderNotJson,
        ),
        (with_header(&compact, "null"), EnvelopeError::HeaderNotJson),
        (
            with_decoded_part(&compact, 0, &[0xff, 0xfe]),
            EnvelopeError::HeaderNotJson,
        ),
    ];
    for (input, expected) in cases {
        let json = String::from_utf8_lossy(&decode_part(&input, 0)).into_owned();
        assert_eq!(parse_error(&input), expected, "{json}");
    }
}

#[test]
fn oversized_input_is_too_large() {
    let (_, compact) = sealed(Algorithm::Hpke4);
    let too_large = EnvelopeError::TooLarge {
        len: MAX_ENVELOPE_LEN + 1,
        max: MAX_ENVELOPE_LEN,
    };
    let junk = "a".repeat(MAX_ENVELOPE_LEN + 1);
    assert_eq!(parse_error(&junk), too_large);
    assert_eq!(
        Envelope::parse_bytes(junk.as_bytes()).unwrap_err(),
        too_large
    );
    assert_eq!(
        Envelope::parse_flattened_json(&junk).unwrap_err(),
        too_large
    );
    // A well-formed envelope padded with a long ciphertext.
    let ciphertext = &parts(&compact)[3];
    let padding = "A".repeat(MAX_ENVELOPE_LEN + 1 - compact.len());
    let padded = with_part(&compact, 3, &format!("{ciphertext}{padding}"));
    assert_eq!(padded.len(), MAX_ENVELOPE_LEN + 1);
    assert_eq!(parse_error(&padded), too_large);
    // At the limit, the length is no reason to refuse.
    let at_limit = &padded[..MAX_ENVELOPE_LEN];
    assert!(!matches!(
        parse_error(at_limit),
        EnvelopeError::TooLarge { .. }
    ));
    assert!(!matches!(
        Envelope::parse_bytes(at_limit.as_bytes()).unwrap_err(),
        EnvelopeError::TooLarge { .. }
    ));
}

#[test]
fn wrong_number_of_parts_is_a_part_count_error() {
    let (_, compact) = sealed(Algorithm::Hpke4);
    for count in [1, 2, 3, 4, 6, 7, 20] {
        assert_eq!(
            parse_error(&".".repeat(count - 1)),
            EnvelopeError::PartCount(count)
        );
    }
    assert_eq!(parse_error(""), EnvelopeError::PartCount(1));
    assert_eq!(
        parse_error(&format!("{compact}.")),
        EnvelopeError::PartCount(6)
    );
    assert_eq!(
        parse_error(&format!("{compact}..")),
        EnvelopeError::PartCount(7)
    );
    assert_eq!(
        parse_error(&format!(".{compact}")),
        EnvelopeError::PartCount(6)
    );
}

#[test]
fn bad_base64url_is_refused_per_part() {
    let (_, compact) = sealed(Algorithm::Hpke4);
    let [header, encapsulated, _, ciphertext, _] = &parts(&compact)[..] else {
        unreachable!()
    };
    // Another alphabet, padding, a stray character, and non-canonical trailing bits.
    let spoil = |part: &str| -> Vec<String> {
        // In a part whose length is 2 or 3 mod 4, the last character has unused low bits that
        // must be zero; 'B' and 'D' (values 1 and 3) set the lowest.
        let mut last_bit_set = part.to_owned();
        let last = last_bit_set.pop().unwrap();
        last_bit_set.push(if last == 'B' { 'D' } else { 'B' });
        let mut spoiled = vec![
            format!("{part}="),
            format!("{part}=="),
            format!("*{part}"),
            format!("{}+{}", &part[..4], &part[5..]),
            format!("{}/{}", &part[..4], &part[5..]),
            format!("{} {}", &part[..4], &part[5..]),
        ];
        if part.len() % 4 >= 2 {
            spoiled.push(last_bit_set);
        }
        spoiled
    };
    for (index, part, expected) in [
        (0, header, Part::Header),
        (1, encapsulated, Part::EncapsulatedKey),
        (3, ciphertext, Part::Ciphertext),
    ] {
        for bad in spoil(part) {
            assert_eq!(
                parse_error(&with_part(&compact, index, &bad)),
                EnvelopeError::Base64(expected),
                "{bad}"
            );
        }
    }
    // The IV and tag must be empty: whatever they hold is refused before any decoding.
    assert_eq!(
        parse_error(&with_part(&compact, 2, "=")),
        EnvelopeError::NonEmptyIv
    );
    assert_eq!(
        parse_error(&with_part(&compact, 4, "*")),
        EnvelopeError::NonEmptyTag
    );
    // Bytes that are not UTF-8 at all.
    let mut bytes = compact.clone().into_bytes();
    bytes[0] = 0xff;
    assert_eq!(
        Envelope::parse_bytes(&bytes).unwrap_err(),
        EnvelopeError::Base64(Part::Header)
    );
}

#[test]
fn encapsulated_key_must_be_32_bytes() {
    let (_, compact) = sealed(Algorithm::Hpke4);
    for len in [0, 1, 31, 33, 64] {
        let input = with_decoded_part(&compact, 1, &vec![9u8; len]);
        assert_eq!(
            parse_error(&input),
            EnvelopeError::EncapsulatedKeyLength,
            "{len}"
        );
    }
}

#[test]
fn the_wrong_key_is_a_kid_mismatch() {
    for alg in Algorithm::ALL {
        let (_, compact) = sealed(alg);
        for other_alg in Algorithm::ALL {
            let other = PrivateKey::generate(other_alg);
            assert_eq!(open_error(&compact, &other), EnvelopeError::KidMismatch);
        }
    }
}

#[test]
fn the_key_of_another_algorithm_is_an_algorithm_mismatch() {
    for alg in Algorithm::ALL {
        let key = PrivateKey::generate(alg);
        for other_alg in Algorithm::ALL.into_iter().filter(|other| *other != alg) {
            // The same X25519 key, published for the other algorithm: the kid is the same.
            let public = PublicKey::from_bytes(*key.public_key().as_bytes(), other_alg);
            assert_eq!(public.thumbprint(), key.public_key().thumbprint());
            let envelope = seal(&public, TOKEN, &SealOptions::default()).unwrap();
            assert_eq!(envelope.header().alg(), other_alg);
            assert_eq!(
                open_error(envelope.as_str(), &key),
                EnvelopeError::AlgorithmMismatch
            );
        }
    }
}

#[test]
fn a_ciphertext_longer_than_the_largest_plaintext_is_refused() {
    let (key, compact) = sealed(Algorithm::Hpke4);
    let largest = vec![7u8; MAX_PLAINTEXT_LEN + 16];
    let input = with_decoded_part(&compact, 3, &largest);
    assert_eq!(open_error(&input, &key), EnvelopeError::Decryption);
    let longer = vec![7u8; MAX_PLAINTEXT_LEN + 17];
    let input = with_decoded_part(&compact, 3, &longer);
    assert_eq!(
        parse_error(&input),
        EnvelopeError::PlaintextTooLarge {
            max: MAX_PLAINTEXT_LEN
        }
    );
}

#[test]
fn flattened_json_is_parsed_strictly() {
    let (key, compact) = sealed(Algorithm::Hpke4);
    let [protected, encrypted_key, _, ciphertext, _] = &parts(&compact)[..] else {
        unreachable!()
    };
    let flattened = json!({
        "protected": protected,
        "encrypted_key": encrypted_key,
        "ciphertext": ciphertext,
    });
    let opened = Envelope::parse_flattened_json(&flattened.to_string())
        .unwrap()
        .open(&key)
        .unwrap();
    assert_eq!(opened.plaintext.as_slice(), TOKEN);
    let with = |name: &str, value: Value| {
        let mut json = flattened.clone();
        json[name] = value;
        json.to_string()
    };
    let cases = [
        ("[]".to_owned(), EnvelopeError::NotFlattenedJson),
        ("not json".to_owned(), EnvelopeError::NotFlattenedJson),
        ("{}".to_owned(), EnvelopeError::NotFlattenedJson),
        (
            with("header", json!({"kid": "x"})),
            EnvelopeError::NotFlattenedJson,
        ),
        (
            with("ciphertext", json!(1)),
            EnvelopeError::NotFlattenedJson,
        ),
        (with("iv", json!("AAAA")), EnvelopeError::NonEmptyIv),
        (with("tag", json!("AAAA")), EnvelopeError::NonEmptyTag),
        (
            with("aad", json!("a=")),
            EnvelopeError::Base64(Part::Header),
        ),
        (
            with("encrypted_key", json!("AA")),
            EnvelopeError::EncapsulatedKeyLength,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            Envelope::parse_flattened_json(&input).unwrap_err(),
            expected,
            "{input}"
        );
    }
    // An aad the sender did not use.
    let input = with("aad", json!("YWFk"));
    let envelope = Envelope::parse_flattened_json(&input).unwrap();
    assert_eq!(envelope.open(&key).unwrap_err(), EnvelopeError::Decryption);
}
