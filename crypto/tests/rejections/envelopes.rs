//! Envelope cases: the tamper and malformed-header families of tamper.rs, made deterministic.

use sealgate_crypto::base64url;
use sealgate_crypto::{
    Algorithm, Binding, Envelope, MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, PrivateKey, SealOptions,
    derive_private_key, seal_with_rng,
};
use serde_json::{Map, Value, json};

use super::envelope_error;
use crate::common::FixedRng;

const TOKEN: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

fn key(alg: Algorithm, seed: u8) -> PrivateKey {
    derive_private_key(&[seed; 32], alg)
}

fn sealed(key: &PrivateKey, mailbox: &str, randomness: u8) -> String {
    let binding = Binding::to_mailbox("client-1", mailbox, 1_900_000_000);
    let randomness = [randomness; 32];
    let mut rng = FixedRng::new(&randomness);
    seal_with_rng(
        key.public_key(),
        TOKEN,
        &SealOptions::for_token(binding),
        &mut rng,
    )
    .unwrap()
    .into_string()
}

/// What this crate says about `compact` opened with the private JWK `key`.
pub(crate) fn refusal(compact: &str, key: &Value) -> Value {
    let key = PrivateKey::from_jwk(key).unwrap();
    match Envelope::parse(compact).and_then(|envelope| envelope.open(&key)) {
        Err(error) => envelope_error(&error),
        Ok(_) => panic!("a rejection vector opens: {compact}"),
    }
}

fn parts(compact: &str) -> Vec<String> {
    compact.split('.').map(str::to_owned).collect()
}

fn with_part(compact: &str, index: usize, part: &str) -> String {
    let mut parts = parts(compact);
    parts[index] = part.to_owned();
    parts.join(".")
}

fn decoded(compact: &str, index: usize) -> Vec<u8> {
    base64url::decode(&parts(compact)[index]).unwrap()
}

fn with_decoded(compact: &str, index: usize, bytes: &[u8]) -> String {
    with_part(compact, index, &base64url::encode(bytes))
}

fn with_header(compact: &str, json: &str) -> String {
    with_decoded(compact, 0, json.as_bytes())
}

fn header(compact: &str) -> Map<String, Value> {
    serde_json::from_slice(&decoded(compact, 0)).unwrap()
}

fn with_member(compact: &str, name: &str, value: Value) -> String {
    let mut header = header(compact);
    header.insert(name.to_owned(), value);
    with_header(compact, &Value::Object(header).to_string())
}

fn without(compact: &str, name: &str) -> String {
    let mut header = header(compact);
    header.remove(name);
    with_header(compact, &Value::Object(header).to_string())
}

struct Cases(Vec<(String, &'static str, String)>);

impl Cases {
    fn add(&mut self, name: impl Into<String>, key: &'static str, compact: String) {
        self.0.push((name.into(), key, compact));
    }
}

/// The keys (private JWKs by name) and the envelope cases with their errors.
pub(crate) fn cases() -> (Value, Vec<Value>) {
    let hpke4 = key(Algorithm::Hpke4, 0x11);
    let hpke3 = key(Algorithm::Hpke3, 0x11);
    let other = key(Algorithm::Hpke4, 0x33);
    let keys = json!({
        "hpke4": serde_json::from_str::<Value>(&hpke4.to_jwk_json()).unwrap(),
        "hpke3": serde_json::from_str::<Value>(&hpke3.to_jwk_json()).unwrap(),
        "other": serde_json::from_str::<Value>(&other.to_jwk_json()).unwrap(),
    });
    let base = sealed(&hpke4, "mailbox-1", 0x22);
    let second = sealed(&hpke4, "mailbox-2", 0x44);
    let base3 = sealed(&hpke3, "mailbox-1", 0x22);
    let mut c = Cases(Vec::new());
    structure(&mut c, &base);
    tampering(&mut c, &base, &second, &hpke4);
    headers(&mut c, &base);
    c.add("another key", "other", base.clone());
    c.add(
        "the same point for HPKE-3 opens an HPKE-4 envelope",
        "hpke3",
        base.clone(),
    );
    c.add(
        "the same point for HPKE-4 opens an HPKE-3 envelope",
        "hpke4",
        base3.clone(),
    );
    let flipped = with_decoded(&base3, 3, &{
        let mut ct = decoded(&base3, 3);
        ct[0] ^= 1;
        ct
    });
    c.add("HPKE-3 ciphertext bit flip", "hpke3", flipped);
    let cases =
        c.0.into_iter()
            .map(|(name, key, compact)| {
                let error = refusal(&compact, &keys[key]);
                json!({ "name": name, "key": key, "compact": compact, "error": error })
            })
            .collect();
    (keys, cases)
}

fn structure(c: &mut Cases, base: &str) {
    for index in 0..5 {
        let mut cut = parts(base);
        cut.remove(index);
        c.add(format!("part {index} dropped"), "hpke4", cut.join("."));
    }
    for (index, name) in [(0, "header"), (1, "encapsulated key"), (3, "ciphertext")] {
        c.add(
            format!("{name} emptied"),
            "hpke4",
            with_part(base, index, ""),
        );
        let part = &parts(base)[index];
        for keep in [part.len() - 1, part.len() / 2, 1] {
            c.add(
                format!("{name} cut to {keep}"),
                "hpke4",
                with_part(base, index, &part[..keep]),
            );
        }
    }
    for (at, _) in base.match_indices('.').take(3) {
        for end in [at - 1, at, at + 1] {
            c.add(format!("prefix of {end}"), "hpke4", base[..end].to_owned());
        }
    }
    for count in [1, 2, 6, 7] {
        c.add(
            format!("{count} empty parts"),
            "hpke4",
            ".".repeat(count - 1),
        );
    }
    c.add("a trailing dot", "hpke4", format!("{base}."));
    c.add("a leading dot", "hpke4", format!(".{base}"));
    for (index, value) in [
        (2, "AAAAAAAAAAAAAAAA"),
        (2, "!"),
        (4, "AAAAAAAAAAAAAAAAAAAAAA"),
        (4, "*"),
    ] {
        c.add(
            format!("part {index} is {value}"),
            "hpke4",
            with_part(base, index, value),
        );
    }
    for (index, part) in [(0, "Header"), (1, "EncapsulatedKey"), (3, "Ciphertext")] {
        let text = parts(base)[index].clone();
        let mut last = text.clone();
        let end = last.pop().unwrap();
        last.push(if end == 'B' { 'D' } else { 'B' });
        let mut spoiled = vec![
            format!("{text}="),
            format!("*{text}"),
            format!("{}+{}", &text[..4], &text[5..]),
            format!("{}/{}", &text[..4], &text[5..]),
            format!("{} {}", &text[..4], &text[5..]),
        ];
        if text.len() % 4 >= 2 {
            spoiled.push(last);
        }
        for (n, bad) in spoiled.into_iter().enumerate() {
            c.add(
                format!("{part} spoiled {n}"),
                "hpke4",
                with_part(base, index, &bad),
            );
        }
    }
    for len in [1, 31, 33, 64] {
        c.add(
            format!("{len}-byte encapsulated key"),
            "hpke4",
            with_decoded(base, 1, &vec![9u8; len]),
        );
    }
    let largest = vec![7u8; MAX_PLAINTEXT_LEN + 16];
    c.add(
        "largest ciphertext",
        "hpke4",
        with_decoded(base, 3, &largest),
    );
    let longer = vec![7u8; MAX_PLAINTEXT_LEN + 17];
    c.add(
        "ciphertext over the largest plaintext",
        "hpke4",
        with_decoded(base, 3, &longer),
    );
    let ciphertext = &parts(base)[3];
    let padding = "A".repeat(MAX_ENVELOPE_LEN + 1 - base.len());
    c.add(
        "one byte too large",
        "hpke4",
        with_part(base, 3, &format!("{ciphertext}{padding}")),
    );
}

fn tampering(c: &mut Cases, base: &str, second: &str, key: &PrivateKey) {
    let json = String::from_utf8(decoded(base, 0)).unwrap();
    for value in ["\"mailbox-1\"", "\"client-1\"", "\"JWT\"", "1900000000"] {
        let at = json.find(value).unwrap() + 1;
        let mut bytes = json.clone().into_bytes();
        bytes[at] ^= 1;
        c.add(
            format!("bound value {value} changed"),
            "hpke4",
            with_decoded(base, 0, &bytes),
        );
    }
    c.add(
        "header re-spaced",
        "hpke4",
        with_header(base, &json.replacen(',', ", ", 1)),
    );
    c.add(
        "kid changed",
        "hpke4",
        with_member(base, "kid", json!("AAAA")),
    );
    let ek = decoded(base, 1);
    for byte in 0..ek.len() {
        let mut flipped = ek.clone();
        flipped[byte] ^= 1 << (byte % 8);
        c.add(
            format!("encapsulated key byte {byte} flipped"),
            "hpke4",
            with_decoded(base, 1, &flipped),
        );
    }
    c.add(
        "all-zero encapsulated key",
        "hpke4",
        with_decoded(base, 1, &[0; 32]),
    );
    let own = key.public_key().as_bytes();
    c.add(
        "recipient's own key as encapsulated key",
        "hpke4",
        with_decoded(base, 1, own),
    );
    let ct = decoded(base, 3);
    for byte in 0..ct.len() {
        let mut flipped = ct.clone();
        flipped[byte] ^= 1 << (byte % 8);
        c.add(
            format!("ciphertext byte {byte} flipped"),
            "hpke4",
            with_decoded(base, 3, &flipped),
        );
    }
    let longer = [ct.as_slice(), &[0]].concat();
    for (name, bytes) in [
        ("longer", &longer[..]),
        ("shorter", &ct[..ct.len() - 1]),
        ("tag only", &ct[..16]),
        ("15 bytes", &ct[..15]),
    ] {
        c.add(
            format!("ciphertext {name}"),
            "hpke4",
            with_decoded(base, 3, bytes),
        );
    }
    for index in [0, 1, 3] {
        c.add(
            format!("part {index} swapped in"),
            "hpke4",
            with_part(base, index, &parts(second)[index]),
        );
    }
    for at in (0..base.len()).step_by(5) {
        let mut bytes = base.as_bytes().to_vec();
        bytes[at] ^= 1 << (at % 7);
        c.add(
            format!("text byte {at} flipped"),
            "hpke4",
            String::from_utf8(bytes).unwrap(),
        );
    }
}

fn headers(c: &mut Cases, base: &str) {
    for name in [
        "RSA-OAEP-256",
        "dir",
        "hpke-4",
        "HPKE-4 ",
        "HPKE-8",
        "",
        "HPKE-0",
        "HPKE-2",
        "HPKE-7",
        "HPKE-4-KE",
    ] {
        c.add(
            format!("alg {name:?}"),
            "hpke4",
            with_member(base, "alg", json!(name)),
        );
    }
    let json = String::from_utf8(decoded(base, 0)).unwrap();
    let members: [(&str, Value); 18] = [
        ("alg", json!(4)),
        ("kid", json!(1)),
        ("mbx", json!(["m"])),
        ("aud", json!({})),
        ("aud", json!(null)),
        ("cty", json!(true)),
        ("exp", json!("1")),
        ("exp", json!(1.5)),
        ("exp", json!(-1)),
        ("exp", json!(9_007_199_254_740_992u64)),
        ("exp", json!(null)),
        ("crit", json!(["mbx"])),
        ("zip", json!("DEF")),
        ("psk_id", json!("p")),
        ("enc", json!("A128GCM")),
        ("enc", json!(null)),
        ("ek", json!("AAAA")),
        ("x-other", json!(1)),
    ];
    for (name, value) in members {
        c.add(
            format!("{name} = {value}"),
            "hpke4",
            with_member(base, name, value),
        );
    }
    for name in ["alg", "kid"] {
        c.add(format!("no {name}"), "hpke4", without(base, name));
    }
    let raw = [
        ("alg repeated", json.replacen('{', r#"{"alg":"HPKE-3","#, 1)),
        (
            "an unknown member repeated",
            json.replacen('{', r#"{"x":1,"x":2,"#, 1),
        ),
        ("exp 1.0", json.replace("1900000000", "1900000000.0")),
        ("exp 19e8", json.replace("1900000000", "19e8")),
        ("exp -0", json.replace("1900000000", "-0")),
        (
            "a lone surrogate in aud",
            json.replace("client-1", "client\\ud800"),
        ),
        (
            "a lone surrogate in an unknown member",
            json.replacen('{', r#"{"x":"\ud800","#, 1),
        ),
        (
            "126 levels in an unknown member",
            json.replacen(
                '{',
                &format!(r#"{{"x":{}1{},"#, "[".repeat(126), "]".repeat(126)),
                1,
            ),
        ),
        (
            "127 levels in an unknown member",
            json.replacen(
                '{',
                &format!(r#"{{"x":{}1{},"#, "[".repeat(127), "]".repeat(127)),
                1,
            ),
        ),
        (
            "128 levels in an unknown member",
            json.replacen(
                '{',
                &format!(r#"{{"x":{}1{},"#, "[".repeat(128), "]".repeat(128)),
                1,
            ),
        ),
        (
            "a lone surrogate in crit",
            json.replacen('{', r#"{"crit":["\udc00"],"#, 1),
        ),
        (
            "a lone surrogate in a member name",
            json.replacen('{', r#"{"\ud800":1,"#, 1),
        ),
        (
            "a surrogate pair in aud",
            json.replace("client-1", "client\\ud83d\\ude00"),
        ),
        (
            "a __proto__ member",
            json.replacen('{', r#"{"__proto__":{"x":1},"#, 1),
        ),
        ("leading whitespace", format!(" \n{json}")),
        ("a byte order mark", format!("\u{feff}{json}")),
        ("trailing text", format!("{json} {{}}")),
        ("empty", String::new()),
        ("an open brace", "{".into()),
        ("an array", "[]".into()),
        ("a string", "\"HPKE-4\"".into()),
        ("null", "null".into()),
    ];
    for (name, text) in raw {
        c.add(format!("header: {name}"), "hpke4", with_header(base, &text));
    }
    c.add(
        "header: not UTF-8",
        "hpke4",
        with_decoded(base, 0, &[0xff, 0xfe]),
    );
}
