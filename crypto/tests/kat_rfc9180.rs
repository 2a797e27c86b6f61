//! Known-answer tests: the RFC 9180 vectors for DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 with
//! AES-128-GCM and ChaCha20Poly1305, base and psk modes, run through the `hpke` crate sealgate
//! builds on (key derivation, encapsulation, every encryption in sequence, every export) twice:
//! with hpke's own DHKEM(X25519) and with sealgate's (`sealgate_crypto::kem`, on the X25519
//! backend of this build); and through sealgate's own `derive_private_key`.

mod common;

use common::FixedRng;
use hpke::aead::{Aead, AesGcm128, ChaCha20Poly1305};
use hpke::kdf::{HkdfSha256, Kdf as _};
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, PskBundle, Serializable};
use sealgate_crypto::{Algorithm, derive_private_key, kem};
use serde::Deserialize;
use serde_json::Value;

const VECTORS: &str = include_str!("data/rfc9180-x25519.json");

/// What the vendored file holds (see data/README.md): 4 entries of 257 encryptions and 3 exports.
const EXPECTED_ENTRIES: usize = 4;
const EXPECTED_ENCRYPTIONS: usize = 4 * 257;
const EXPECTED_EXPORTS: usize = 4 * 3;

/// One RFC 9180 test vector, the members these tests use; hex strings as in the file.
#[derive(Deserialize)]
struct Entry {
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    info: String,
    #[serde(rename = "ikmR")]
    ikm_r: String,
    #[serde(rename = "ikmE")]
    ikm_e: String,
    #[serde(rename = "skRm")]
    sk_rm: String,
    #[serde(rename = "pkRm")]
    pk_rm: String,
    #[serde(rename = "skEm")]
    sk_em: String,
    #[serde(rename = "pkEm")]
    pk_em: String,
    psk: Option<String>,
    psk_id: Option<String>,
    enc: String,
    encryptions: Vec<Encryption>,
    exports: Vec<Export>,
}

#[derive(Deserialize)]
struct Encryption {
    aad: String,
    ct: String,
    pt: String,
}

#[derive(Deserialize)]
struct Export {
    exporter_context: String,
    #[serde(rename = "L")]
    len: usize,
    exported_value: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Checked {
    entries: usize,
    encryptions: usize,
    exports: usize,
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_else(|e| panic!("bad hex {text:?}: {e}"))
}

/// RFC 9180 §7.1.2: an X25519 `SerializePrivateKey` clamps its output; the vectors' `skRm` and
/// `skEm` are the unclamped derived bytes, so they are compared clamped.
fn clamped(text: &str) -> Vec<u8> {
    let mut key = unhex(text);
    assert_eq!(key.len(), 32, "an X25519 private key is 32 bytes");
    key[0] &= 248;
    key[31] &= 127;
    key[31] |= 64;
    key
}

fn entries() -> Vec<Entry> {
    serde_json::from_str(VECTORS).expect("the vendored RFC 9180 vectors parse")
}

/// Counts straight from the JSON, independently of the typed parse above.
fn counts_in_file() -> Checked {
    let value: Value = serde_json::from_str(VECTORS).unwrap();
    let list = value.as_array().expect("a JSON array of entries");
    let count = |member: &str| {
        list.iter()
            .map(|entry| entry[member].as_array().expect(member).len())
            .sum()
    };
    Checked {
        entries: list.len(),
        encryptions: count("encryptions"),
        exports: count("exports"),
    }
}

/// Runs one entry through both sides of HPKE with the AEAD `A` and the KEM `Suite`; returns
/// what it checked.
fn check_entry<A: Aead, Suite: Kem>(entry: &Entry, label: &str) -> Checked {
    assert_eq!(entry.kem_id, Suite::KEM_ID, "{label}");
    assert_eq!(entry.kdf_id, HkdfSha256::KDF_ID, "{label}");
    assert_eq!(entry.aead_id, A::AEAD_ID, "{label}");

    // DeriveKeyPair(ikmR) and DeriveKeyPair(ikmE).
    let (sk_r, pk_r) = Suite::derive_keypair(&unhex(&entry.ikm_r));
    assert_eq!(
        sk_r.to_bytes().as_slice(),
        clamped(&entry.sk_rm),
        "{label}: skRm"
    );
    assert_eq!(
        pk_r.to_bytes().as_slice(),
        unhex(&entry.pk_rm),
        "{label}: pkRm"
    );
    let ikm_e = unhex(&entry.ikm_e);
    let (sk_e, pk_e) = Suite::derive_keypair(&ikm_e);
    assert_eq!(
        sk_e.to_bytes().as_slice(),
        clamped(&entry.sk_em),
        "{label}: skEm"
    );
    assert_eq!(
        pk_e.to_bytes().as_slice(),
        unhex(&entry.pk_em),
        "{label}: pkEm"
    );

    let info = unhex(&entry.info);
    let (psk, psk_id) = match entry.mode {
        0 => {
            assert!(entry.psk.is_none() && entry.psk_id.is_none(), "{label}");
            (Vec::new(), Vec::new())
        }
        1 => (
            unhex(entry.psk.as_deref().expect("psk mode has psk")),
            unhex(entry.psk_id.as_deref().expect("psk mode has psk_id")),
        ),
        other => panic!("{label}: mode {other} is not vendored"),
    };
    let bundle = PskBundle::new(&psk, &psk_id).unwrap();
    let (mode_s, mode_r) = if entry.mode == 0 {
        (OpModeS::<Suite>::Base, OpModeR::<Suite>::Base)
    } else {
        (OpModeS::Psk(bundle), OpModeR::Psk(bundle))
    };

    // Sender: the ephemeral key comes from an RNG that yields exactly ikmE.
    let mut rng = FixedRng::new(&ikm_e);
    let (enc, mut sender) =
        hpke::setup_sender_with_rng::<A, HkdfSha256, Suite>(&mode_s, &pk_r, &info, &mut rng)
            .unwrap();
    assert_eq!(rng.remaining(), 0, "{label}: the sender drew all of ikmE");
    assert_eq!(enc.to_bytes().as_slice(), unhex(&entry.enc), "{label}: enc");

    // Receiver: from the vector's skRm and enc, not from the sender's values.
    let sk_rm = <Suite as Kem>::PrivateKey::from_bytes(&unhex(&entry.sk_rm)).unwrap();
    let enc = <Suite as Kem>::EncappedKey::from_bytes(&unhex(&entry.enc)).unwrap();
    let mut receiver =
        hpke::setup_receiver::<A, HkdfSha256, Suite>(&mode_r, &sk_rm, &enc, &info).unwrap();

    let mut checked = Checked {
        entries: 1,
        ..Checked::default()
    };
    // Encryptions are listed by sequence number: seal and open each in order.
    for (seq, encryption) in entry.encryptions.iter().enumerate() {
        let (aad, pt, ct) = (
            unhex(&encryption.aad),
            unhex(&encryption.pt),
            unhex(&encryption.ct),
        );
        assert_eq!(sender.seal(&pt, &aad).unwrap(), ct, "{label}: seal #{seq}");
        assert_eq!(
            receiver.open(&ct, &aad).unwrap(),
            pt,
            "{label}: open #{seq}"
        );
        checked.encryptions += 1;
    }
    for (index, export) in entry.exports.iter().enumerate() {
        let context = unhex(&export.exporter_context);
        let expected = unhex(&export.exported_value);
        assert_eq!(expected.len(), export.len, "{label}: export #{index} L");
        let mut from_sender = vec![0u8; export.len];
        let mut from_receiver = vec![0u8; export.len];
        sender.export(&context, &mut from_sender).unwrap();
        receiver.export(&context, &mut from_receiver).unwrap();
        assert_eq!(from_sender, expected, "{label}: sender export #{index}");
        assert_eq!(from_receiver, expected, "{label}: receiver export #{index}");
        checked.exports += 1;
    }
    checked
}

/// Every entry of the file through `check_entry` with the KEM `Suite`, and the totals checked.
fn check_all_entries<Suite: Kem>() {
    let mut total = Checked::default();
    let mut suites_seen = Vec::new();
    for (index, entry) in entries().iter().enumerate() {
        let label = format!(
            "entry {index} (mode {}, aead {})",
            entry.mode, entry.aead_id
        );
        let checked = match entry.aead_id {
            1 => check_entry::<AesGcm128, Suite>(entry, &label),
            3 => check_entry::<ChaCha20Poly1305, Suite>(entry, &label),
            other => panic!("{label}: aead {other} is not vendored"),
        };
        total.entries += checked.entries;
        total.encryptions += checked.encryptions;
        total.exports += checked.exports;
        suites_seen.push((entry.mode, entry.aead_id));
    }
    assert_eq!(
        total,
        counts_in_file(),
        "every entry of the file was checked"
    );
    assert_eq!(
        total,
        Checked {
            entries: EXPECTED_ENTRIES,
            encryptions: EXPECTED_ENCRYPTIONS,
            exports: EXPECTED_EXPORTS,
        },
        "the vendored file holds what data/README.md says"
    );
    suites_seen.sort_unstable();
    assert_eq!(suites_seen, [(0, 1), (0, 3), (1, 1), (1, 3)]);
}

#[test]
fn rfc9180_vectors_through_hpke() {
    check_all_entries::<X25519HkdfSha256>();
}

#[test]
fn rfc9180_vectors_through_sealgate_kem() {
    check_all_entries::<kem::X25519HkdfSha256>();
}

#[test]
fn sealgate_derive_private_key_matches_rfc9180() {
    let mut checked = 0;
    for entry in entries() {
        let alg = match entry.aead_id {
            1 => Algorithm::Hpke3,
            3 => Algorithm::Hpke4,
            other => panic!("aead {other} is not vendored"),
        };
        let key = derive_private_key(&unhex(&entry.ikm_r), alg);
        assert_eq!(
            key.public_key().as_bytes().as_slice(),
            unhex(&entry.pk_rm),
            "pkRm"
        );
        assert_eq!(key.public_key().algorithm(), alg);
        // The private JWK's `d` is skRm, as serialized (clamped).
        let jwk: Value = serde_json::from_str(&key.to_jwk_json()).unwrap();
        let d = jwk["d"].as_str().expect("a private JWK has d");
        let d = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, d)
            .expect("d is base64url");
        assert_eq!(d, clamped(&entry.sk_rm), "skRm");
        checked += 1;
    }
    assert_eq!(checked, EXPECTED_ENTRIES);
}
