//! Criterion benchmarks of the envelope crypto: sealgate's seal and open of a 1 KiB ID token
//! (HPKE-4 and HPKE-3) against an independent HPKE, aws-lc-rs through rustls, measured in the
//! same run; plus the pieces our cost is made of (raw `hpke`, X25519, the AEAD, the JOSE
//! encoding), so that a gap can be explained. BENCHMARKS.md reports the figures.
//!
//! After criterion's report, a paired section runs the same comparisons again with ours and
//! the baseline alternating in ~0.5 ms blocks and prints the median ratio of adjacent blocks:
//! on a shared, noisy machine that ratio holds steady where criterion's back-to-back windows
//! of a few seconds each can drift apart.
//!
//! Run: `cargo bench -p sealgate-bench --bench envelope -- --warm-up-time 1 --measurement-time 3`
//!
//! sealgate's X25519 backend follows this crate's features: aws-lc-rs by default, x25519-dalek
//! with `--no-default-features --features pure-rust`. The paired report names the one measured.
//!
//! Every comparison does the same work on both sides: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! the same AEAD, the same 1 KiB plaintext, an empty `info`, and as `aad` the encoded protected
//! header of a real envelope; each seal makes a fresh ephemeral key, each open a full decap.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hpke::aead::{Aead, AeadCtxS, AesGcm128, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rustls::crypto::aws_lc_rs::hpke::{
    DH_KEM_X25519_HKDF_SHA256_AES_128, DH_KEM_X25519_HKDF_SHA256_CHACHA20_POLY1305,
};
use rustls::crypto::aws_lc_rs::kx_group;
use rustls::crypto::hpke::{EncapsulatedSecret, Hpke, HpkePrivateKey, HpkePublicKey, HpkeSealer};
use sealgate_crypto::{Algorithm, Binding, Envelope, PrivateKey, SealOptions, base64url, seal};

/// The size of the ID token sealed in every benchmark.
const TOKEN_LEN: usize = 1024;

/// HPKE `info`: empty, as in sealgate's Integrated Encryption.
const INFO: &[u8] = b"";

/// Block pairs per paired comparison.
const ROUNDS: usize = 200;

type HpkePk = <X25519HkdfSha256 as Kem>::PublicKey;
type HpkeSk = <X25519HkdfSha256 as Kem>::PrivateKey;
type HpkeEnc = <X25519HkdfSha256 as Kem>::EncappedKey;

/// A fixed recipient secret, so that every implementation uses the same key pair.
fn recipient_secret() -> [u8; 32] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
}

/// A JWT-shaped 1 KiB token: base64url characters with two dots.
fn token() -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut token: Vec<u8> = (0..TOKEN_LEN)
        .map(|i| ALPHABET[(i * 7 + i / 64) % ALPHABET.len()])
        .collect();
    token[36] = b'.';
    token[700] = b'.';
    token
}

/// Everything one algorithm's benchmarks need, made and cross-checked once.
struct Fixture {
    alg: Algorithm,
    token: Vec<u8>,
    options: SealOptions,
    key: PrivateKey,
    /// A real envelope to this key, compact form.
    envelope: String,
    /// Its encoded protected header: the HPKE aad of every implementation here.
    aad: Vec<u8>,
    /// Its encapsulated key and ciphertext, decoded.
    enc: [u8; 32],
    ciphertext: Vec<u8>,
    /// The baseline suite and the same key pair in its types.
    baseline: &'static dyn Hpke,
    baseline_pk: HpkePublicKey,
    baseline_sk: HpkePrivateKey,
    baseline_enc: EncapsulatedSecret,
    baseline_ciphertext: Vec<u8>,
}

impl Fixture {
    fn new(alg: Algorithm) -> Self {
        let secret = recipient_secret();
        let key = PrivateKey::from_secret_bytes(secret, alg);
        let token = token();
        let binding = Binding::to_mailbox(
            &sealgate_crypto::random_token::<16>(),
            &sealgate_crypto::random_token::<16>(),
            1_900_000_000,
        );
        let options = SealOptions::for_token(binding);
        let envelope = seal(key.public_key(), &token, &options)
            .expect("seal")
            .into_string();
        let parts: Vec<&str> = envelope.split('.').collect();
        let [header, enc, "", ciphertext, ""] = parts[..] else {
            panic!("not a compact HPKE JWE: {envelope}");
        };
        let decode = |part: &str| base64url::decode(part).expect("base64url");
        let baseline: &'static dyn Hpke = match alg {
            Algorithm::Hpke4 => DH_KEM_X25519_HKDF_SHA256_CHACHA20_POLY1305,
            Algorithm::Hpke3 => DH_KEM_X25519_HKDF_SHA256_AES_128,
        };
        let baseline_pk = HpkePublicKey(key.public_key().as_bytes().to_vec());
        let baseline_sk = HpkePrivateKey::from(secret.to_vec());
        let aad = header.as_bytes().to_vec();
        let (baseline_enc, baseline_ciphertext) = baseline
            .seal(INFO, &aad, &token, &baseline_pk)
            .expect("baseline seal");
        let fixture = Self {
            alg,
            enc: decode(enc).try_into().expect("32-byte enc"),
            ciphertext: decode(ciphertext),
            aad,
            token,
            options,
            key,
            envelope,
            baseline,
            baseline_pk,
            baseline_sk,
            baseline_enc,
            baseline_ciphertext,
        };
        fixture.cross_check();
        fixture
    }

    /// Proves the three implementations do the same work: each opens what the others sealed.
    fn cross_check(&self) {
        let opened = Envelope::parse(&self.envelope)
            .and_then(|envelope| envelope.open(&self.key))
            .expect("ours opens ours");
        assert_eq!(opened.plaintext.as_slice(), self.token);
        let by_baseline = self
            .baseline
            .open(
                &EncapsulatedSecret(self.enc.to_vec()),
                INFO,
                &self.aad,
                &self.ciphertext,
                &self.baseline_sk,
            )
            .expect("the baseline opens ours");
        assert_eq!(by_baseline, self.token);
        let by_raw = self.raw_open(&self.baseline_enc.0, &self.baseline_ciphertext);
        assert_eq!(by_raw, self.token, "raw hpke opens the baseline's");
        let (enc, ciphertext) = self.raw_seal();
        assert_eq!(self.raw_open(&enc, &ciphertext), self.token);
        assert_eq!(self.ciphertext.len(), TOKEN_LEN + 16);
        assert_eq!(self.baseline_ciphertext.len(), self.ciphertext.len());
    }

    /// `hpke::single_shot_seal` as sealgate calls it, without the JOSE layer.
    fn raw_seal(&self) -> (Vec<u8>, Vec<u8>) {
        match self.alg {
            Algorithm::Hpke4 => raw_seal::<ChaCha20Poly1305>(self),
            Algorithm::Hpke3 => raw_seal::<AesGcm128>(self),
        }
    }

    /// `hpke::single_shot_open` as sealgate calls it, without the JOSE layer.
    fn raw_open(&self, enc: &[u8], ciphertext: &[u8]) -> Vec<u8> {
        match self.alg {
            Algorithm::Hpke4 => raw_open::<ChaCha20Poly1305>(self, enc, ciphertext),
            Algorithm::Hpke3 => raw_open::<AesGcm128>(self, enc, ciphertext),
        }
    }
}

fn raw_seal<A: Aead>(fixture: &Fixture) -> (Vec<u8>, Vec<u8>) {
    let pk = HpkePk::from_bytes(fixture.key.public_key().as_bytes()).expect("public key");
    let (enc, ciphertext) = hpke::single_shot_seal::<A, HkdfSha256, X25519HkdfSha256>(
        &OpModeS::Base,
        &pk,
        INFO,
        &fixture.token,
        &fixture.aad,
    )
    .expect("raw seal");
    (enc.to_bytes().to_vec(), ciphertext)
}

fn raw_open<A: Aead>(fixture: &Fixture, enc: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let sk = HpkeSk::from_bytes(&recipient_secret()).expect("private key");
    let enc = HpkeEnc::from_bytes(enc).expect("encapsulated key");
    hpke::single_shot_open::<A, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &sk,
        &enc,
        INFO,
        ciphertext,
        &fixture.aad,
    )
    .expect("raw open")
}

/// Seal and open, ours against the baseline, one group per operation and algorithm so that
/// the two are measured back to back.
fn seal_and_open(c: &mut Criterion, fixture: &Fixture) {
    let alg = fixture.alg;

    let mut group = c.benchmark_group(format!("seal/{alg}"));
    group.bench_function("sealgate", |b| {
        b.iter(|| {
            seal(
                fixture.key.public_key(),
                black_box(&fixture.token),
                &fixture.options,
            )
            .expect("seal")
        })
    });
    // The raw HPKE layer, for the split of our cost; once (HPKE-4) is enough, the suites
    // differ only in the AEAD, measured on its own below.
    if alg == Algorithm::Hpke4 {
        group.bench_function("hpke-raw", |b| b.iter(|| fixture.raw_seal()));
    }
    group.bench_function("baseline-aws-lc-rs", |b| {
        b.iter(|| {
            fixture
                .baseline
                .seal(
                    INFO,
                    &fixture.aad,
                    black_box(&fixture.token),
                    &fixture.baseline_pk,
                )
                .expect("baseline seal")
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("open/{alg}"));
    group.bench_function("sealgate", |b| {
        b.iter(|| {
            Envelope::parse(black_box(&fixture.envelope))
                .and_then(|envelope| envelope.open(&fixture.key))
                .expect("open")
        })
    });
    if alg == Algorithm::Hpke4 {
        group.bench_function("hpke-raw", |b| {
            b.iter(|| fixture.raw_open(&fixture.enc, black_box(&fixture.ciphertext)))
        });
    }
    group.bench_function("baseline-aws-lc-rs", |b| {
        b.iter(|| {
            fixture
                .baseline
                .open(
                    &fixture.baseline_enc,
                    INFO,
                    &fixture.aad,
                    black_box(&fixture.baseline_ciphertext),
                    &fixture.baseline_sk,
                )
                .expect("baseline open")
        })
    });
    group.finish();
}

/// The X25519 operations of a seal (ephemeral key pair + one DH) and an open (public key of
/// the recipient secret + one DH), in the curve code each side uses.
fn x25519(c: &mut Criterion) {
    let secret = x25519_dalek::StaticSecret::from(recipient_secret());
    let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([7u8; 32]));
    let peer_bytes = peer.to_bytes();

    let mut group = c.benchmark_group("x25519");
    group.bench_function("dalek/base-point-mult", |b| {
        b.iter(|| x25519_dalek::PublicKey::from(black_box(&secret)))
    });
    group.bench_function("dalek/dh", |b| {
        b.iter(|| black_box(&secret).diffie_hellman(&peer))
    });
    group.bench_function("aws-lc-rs/keygen", |b| {
        b.iter(|| kx_group::X25519.start().expect("keygen"))
    });
    group.bench_function("aws-lc-rs/keygen+dh", |b| {
        b.iter(|| {
            kx_group::X25519
                .start()
                .and_then(|kx| kx.complete(black_box(&peer_bytes)))
                .expect("dh")
        })
    });
    group.finish();
}

/// The AEAD on a 1 KiB token with a ~200-byte aad, on an established HPKE context: what
/// remains of a seal once the KEM and key schedule are done.
fn aead(c: &mut Criterion, hpke4: &Fixture, hpke3: &Fixture) {
    fn hpke_ctx<A: Aead>(fixture: &Fixture) -> AeadCtxS<A, HkdfSha256, X25519HkdfSha256> {
        let pk = HpkePk::from_bytes(fixture.key.public_key().as_bytes()).expect("public key");
        hpke::setup_sender::<A, HkdfSha256, X25519HkdfSha256>(&OpModeS::Base, &pk, INFO)
            .expect("setup")
            .1
    }
    fn baseline_ctx(fixture: &Fixture) -> Box<dyn HpkeSealer> {
        fixture
            .baseline
            .setup_sealer(INFO, &fixture.baseline_pk)
            .expect("setup")
            .1
    }

    let mut group = c.benchmark_group("aead-1KiB");
    let mut ctx = hpke_ctx::<ChaCha20Poly1305>(hpke4);
    group.bench_function("hpke/chacha20poly1305", |b| {
        b.iter(|| ctx.seal(black_box(&hpke4.token), &hpke4.aad).expect("seal"))
    });
    let mut ctx = baseline_ctx(hpke4);
    group.bench_function("aws-lc-rs/chacha20poly1305", |b| {
        b.iter(|| ctx.seal(&hpke4.aad, black_box(&hpke4.token)).expect("seal"))
    });
    let mut ctx = hpke_ctx::<AesGcm128>(hpke3);
    group.bench_function("hpke/aes-128-gcm", |b| {
        b.iter(|| ctx.seal(black_box(&hpke3.token), &hpke3.aad).expect("seal"))
    });
    let mut ctx = baseline_ctx(hpke3);
    group.bench_function("aws-lc-rs/aes-128-gcm", |b| {
        b.iter(|| ctx.seal(&hpke3.aad, black_box(&hpke3.token)).expect("seal"))
    });
    group.finish();
}

/// The JOSE layer sealgate adds around HPKE: encoding the header (JSON + base64url) and the
/// compact form on seal, and the strict parse on open; and the OS randomness our ephemeral key
/// comes from.
fn envelope_layer(c: &mut Criterion, fixture: &Fixture) {
    let parsed = Envelope::parse(&fixture.envelope).expect("parse");
    let header = serde_json::to_string(parsed.header()).expect("json");
    assert_eq!(
        base64url::encode(header).as_bytes(),
        fixture.aad,
        "the encoding measured here is the one seal does"
    );
    let mut group = c.benchmark_group("envelope-layer");
    group.bench_function("encode-json+base64url", |b| {
        // What `seal` does besides HPKE: header JSON, base64url of header, enc and ciphertext.
        b.iter(|| {
            let header = serde_json::to_string(black_box(parsed.header())).expect("json");
            let aad = base64url::encode(header);
            format!(
                "{aad}.{}..{}.",
                base64url::encode(fixture.enc),
                base64url::encode(&fixture.ciphertext)
            )
        })
    });
    group.bench_function("parse-base64url+json", |b| {
        b.iter(|| Envelope::parse(black_box(&fixture.envelope)).expect("parse"))
    });
    group.bench_function("getrandom-32", |b| {
        b.iter(sealgate_crypto::random_bytes::<32>)
    });
    group.finish();
}

/// The result of [`paired`].
struct Paired {
    /// Median, 25th and 75th percentile of the per-pair ratios `a / b`.
    ratio: [f64; 3],
    /// Median time per operation of `a` and of `b`.
    a: Duration,
    b: Duration,
}

/// One paired comparison: `a` and `b` run alternately in short blocks, and each adjacent pair
/// of blocks gives one ratio. Load that changes more slowly than a block (about a millisecond)
/// hits both sides of a pair alike, which criterion's one-benchmark-after-another windows of a
/// few seconds cannot promise on a shared machine.
fn paired(mut a: impl FnMut(), mut b: impl FnMut()) -> Paired {
    const BLOCK: Duration = Duration::from_micros(500);
    fn block(f: &mut impl FnMut(), n: u32) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64() / f64::from(n)
    }
    // Calibrate: as many operations per block as fit in BLOCK for the slower side.
    let one = block(&mut a, 20).max(block(&mut b, 20));
    let n = ((BLOCK.as_secs_f64() / one) as u32).max(1);
    let (mut ratios, mut ta, mut tb) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS + 10 {
        // Alternate which side goes first, so that a trend within a round cancels out.
        let (x, y) = if round % 2 == 0 {
            let x = block(&mut a, n);
            (x, block(&mut b, n))
        } else {
            let y = block(&mut b, n);
            (block(&mut a, n), y)
        };
        if round >= 10 {
            ratios.push(x / y);
            ta.push(x);
            tb.push(y);
        }
    }
    let quantile = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    Paired {
        ratio: [
            quantile(&mut ratios, 0.5),
            quantile(&mut ratios, 0.25),
            quantile(&mut ratios, 0.75),
        ],
        a: Duration::from_secs_f64(quantile(&mut ta, 0.5)),
        b: Duration::from_secs_f64(quantile(&mut tb, 0.5)),
    }
}

/// The headline ratios (ours / baseline) and the shares that explain them, each measured as
/// an interleaved pair; printed after criterion's report.
fn paired_report(hpke4: &Fixture, hpke3: &Fixture) {
    fn ours_seal(f: &Fixture) -> impl FnMut() + '_ {
        move || {
            black_box(seal(f.key.public_key(), black_box(&f.token), &f.options).expect("seal"));
        }
    }
    fn ours_open(f: &Fixture) -> impl FnMut() + '_ {
        move || {
            black_box(
                Envelope::parse(black_box(&f.envelope))
                    .and_then(|envelope| envelope.open(&f.key))
                    .expect("open"),
            );
        }
    }
    fn base_seal(f: &Fixture) -> impl FnMut() + '_ {
        move || {
            black_box(
                f.baseline
                    .seal(INFO, &f.aad, black_box(&f.token), &f.baseline_pk)
                    .expect("seal"),
            );
        }
    }
    fn base_open(f: &Fixture) -> impl FnMut() + '_ {
        move || {
            black_box(
                f.baseline
                    .open(
                        &f.baseline_enc,
                        INFO,
                        &f.aad,
                        black_box(&f.baseline_ciphertext),
                        &f.baseline_sk,
                    )
                    .expect("open"),
            );
        }
    }
    let secret = x25519_dalek::StaticSecret::from(recipient_secret());
    let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([7u8; 32]));
    let peer_bytes = peer.to_bytes();
    // hpke's seal computes the ephemeral public key twice (once in `gen_keypair`, again in
    // `encap_with_eph`) and does one DH; its open computes the recipient's public key and
    // does one DH.
    let dalek_seal = || {
        black_box(x25519_dalek::PublicKey::from(black_box(&secret)));
        black_box(x25519_dalek::PublicKey::from(black_box(&secret)));
        black_box(black_box(&secret).diffie_hellman(&peer));
    };
    let dalek_open = || {
        black_box(x25519_dalek::PublicKey::from(black_box(&secret)));
        black_box(black_box(&secret).diffie_hellman(&peer));
    };
    // aws-lc-rs: a key pair and one DH, in seal and (from the private key) in open alike.
    let aws_x25519 = || {
        black_box(
            kx_group::X25519
                .start()
                .and_then(|kx| kx.complete(black_box(&peer_bytes)))
                .expect("dh"),
        );
    };

    let base = "baseline-aws-lc-rs";
    println!(
        "\npaired, interleaved: ratio a / b, median [p25 p75] of {ROUNDS} block pairs; \
         sealgate's X25519: {}",
        sealgate_crypto::X25519_BACKEND
    );
    let row = |name: &str, a: &str, b: &str, p: Paired| {
        println!(
            "{name:<22} {a:<22} / {b:<22} {:.2} [{:.2} {:.2}]   {:>7.1} us / {:>7.1} us",
            p.ratio[0],
            p.ratio[1],
            p.ratio[2],
            p.a.as_secs_f64() * 1e6,
            p.b.as_secs_f64() * 1e6
        );
    };
    for f in [hpke4, hpke3] {
        let alg = f.alg;
        row(
            &format!("seal/{alg}"),
            "sealgate",
            base,
            paired(ours_seal(f), base_seal(f)),
        );
        row(
            &format!("open/{alg}"),
            "sealgate",
            base,
            paired(ours_open(f), base_open(f)),
        );
    }
    let f = hpke4;
    let raw_seal = || {
        black_box(f.raw_seal());
    };
    let raw_open = || {
        black_box(f.raw_open(&f.enc, black_box(&f.ciphertext)));
    };
    row(
        "share/seal/HPKE-4",
        "hpke-raw",
        "sealgate",
        paired(raw_seal, ours_seal(f)),
    );
    row(
        "share/open/HPKE-4",
        "hpke-raw",
        "sealgate",
        paired(raw_open, ours_open(f)),
    );
    row(
        "share/seal/HPKE-4",
        "dalek-x25519(2B+DH)",
        "hpke-raw",
        paired(dalek_seal, raw_seal),
    );
    row(
        "share/open/HPKE-4",
        "dalek-x25519(B+DH)",
        "hpke-raw",
        paired(dalek_open, raw_open),
    );
    row(
        "share/seal/HPKE-4",
        "aws-lc-x25519(KG+DH)",
        "sealgate",
        paired(aws_x25519, ours_seal(f)),
    );
    row(
        "share/seal/HPKE-4",
        "aws-lc-x25519(KG+DH)",
        base,
        paired(aws_x25519, base_seal(f)),
    );
    row(
        "share/open/HPKE-4",
        "aws-lc-x25519(KG+DH)",
        base,
        paired(aws_x25519, base_open(f)),
    );
    row(
        "x25519",
        "dalek-x25519(2B+DH)",
        "aws-lc-x25519(KG+DH)",
        paired(dalek_seal, aws_x25519),
    );
}

fn main() {
    let hpke4 = Fixture::new(Algorithm::Hpke4);
    let hpke3 = Fixture::new(Algorithm::Hpke3);
    // 20k bootstrap resamples instead of 100k keeps one run under two minutes; the command
    // line (`--nresamples`) still overrides it.
    let mut c = Criterion::default()
        .nresamples(20_000)
        .configure_from_args();
    seal_and_open(&mut c, &hpke4);
    seal_and_open(&mut c, &hpke3);
    x25519(&mut c);
    aead(&mut c, &hpke4, &hpke3);
    envelope_layer(&mut c, &hpke4);
    c.final_summary();
    // Only in a real benchmark run: not under `cargo test` (criterion's test mode), `--list`
    // or `--profile-time`.
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--list" || a == "--test" || a == "--profile-time");
    if benching {
        paired_report(&hpke4, &hpke3);
    }
}
