"""Interoperability of sealgate's envelope with independent implementations.

The envelope is a JWE in Compact Serialization with HPKE Integrated Encryption
(draft-ietf-jose-hpke-encrypt): `B64(header) "." B64(enc) ".." B64(ciphertext) "."`, base mode,
HPKE info empty, HPKE aad the ASCII of B64(header); `HPKE-4` is DHKEM(X25519, HKDF-SHA256),
HKDF-SHA256, ChaCha20Poly1305 and `HPKE-3` the same with AES-128-GCM. For both algorithms this
checks, against the `sealgate` binary's offline `keygen`, `seal` and `open`:

1. envelopes that Python builds itself (its own header JSON, its own RFC 7638 `kid`) and seals
   with pyhpke to a `sealgate keygen` key are opened by `sealgate open` to the exact plaintext;
2. `sealgate seal` output parses in Python (five parts, empty IV and tag, header members and
   `kid` recomputed independently) and opens with pyhpke and the private JWK sealgate wrote;
3. a Python-sealed envelope whose header is changed and re-encoded, or whose `enc` or
   ciphertext has a flipped bit, is refused by `sealgate open` (non-zero exit, nothing on
   stdout, one line on stderr), while the untouched envelope opens;
4. a second, from-scratch RFC 9180 base-mode implementation written here on the `cryptography`
   package's public primitives (X25519, HKDF, HMAC, ChaCha20Poly1305, AESGCM), checked against
   the RFC 9180 Appendix A vectors, opens sealgate envelopes and seals envelopes sealgate opens.
   (`cryptography.hazmat.primitives.hpke.Suite` itself has no public `aad` parameter, so it
   cannot open these envelopes; see README.md);
5. keys made in Python (a JWK without `kid`) and a JWKS with `--kid` work with `sealgate seal`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

ALGS = ["HPKE-4", "HPKE-3"]

#: The pyhpke AEAD of each JOSE `alg`.
PYHPKE_AEAD = {"HPKE-4": AEADId.CHACHA20_POLY1305, "HPKE-3": AEADId.AES128_GCM}

AUD = "client-1_interop"
MBX = "mbx.7~Qz-42"
EXP = 1_900_000_123


# --------------------------------------------------------------------------- encoding helpers


def b64e(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 `BASE64URL`)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Strict unpadded base64url: refuses padding, other alphabets and non-canonical text."""
    assert re.fullmatch(r"[A-Za-z0-9_-]*", text), f"not unpadded base64url: {text!r}"
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert b64e(data) == text, f"non-canonical base64url: {text!r}"
    return data


def thumbprint(x: str) -> str:
    """RFC 7638 thumbprint of an X25519 JWK with public key `x`, computed here independently."""
    canonical = json.dumps({"crv": "X25519", "kty": "OKP", "x": x}, separators=(",", ":"),
                           sort_keys=True)
    return b64e(hashlib.sha256(canonical.encode("ascii")).digest())


def no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """`json.loads` hook that refuses a repeated member name."""
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"repeated member in {names}"
    return dict(pairs)


def jwt_like_token(size: int, seed: int) -> bytes:
    """A random-ish JWS-shaped ASCII token of exactly `size` bytes (three base64url parts)."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_"
    header = b64e(json.dumps({"alg": "RS256", "kid": f"k{seed}", "typ": "JWT"}).encode())
    signature = "".join(rng.choice(alphabet) for _ in range(342))
    payload = "".join(rng.choice(alphabet) for _ in range(size - len(header) - 342 - 2))
    token = f"{header}.{payload}.{signature}".encode("ascii")
    assert len(token) == size
    return token


def text_blob(size: int, seed: int) -> bytes:
    """Random printable ASCII with spaces, dots and newlines, ending in a newline: not a JWT."""
    rng = random.Random(seed)
    alphabet = string.printable.replace("\r", "").replace("\x0b", "").replace("\x0c", "")
    body = "".join(rng.choice(alphabet) for _ in range(size - 2))
    return ("\n" + body + "\n").encode("ascii")


PLAINTEXTS = {
    "jwt-1KiB": jwt_like_token(1024, 1),
    "jwt-8KiB": jwt_like_token(8 * 1024, 8),
    "text-1KiB-newlines": text_blob(1024, 3),
}


def looks_like_jwt(data: bytes) -> bool:
    return re.fullmatch(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", data) is not None


# --------------------------------------------------------------------------- envelope helpers


def pyhpke_suite(alg: str) -> CipherSuite:
    return CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, PYHPKE_AEAD[alg])


def encode_header(header: dict) -> str:
    return b64e(json.dumps(header, separators=(",", ":")).encode("utf-8"))


def pyhpke_seal(public_jwk: dict, header_b64: str, plaintext: bytes) -> str:
    """Seals with pyhpke under an already encoded protected header; returns the compact JWE."""
    alg = json.loads(b64d(header_b64))["alg"]
    pkr = KEMKey.from_jwk({k: public_jwk[k] for k in ("kty", "crv", "x")})
    enc, ctx = pyhpke_suite(alg).create_sender_context(pkr, info=b"")
    ciphertext = ctx.seal(plaintext, aad=header_b64.encode("ascii"))
    return f"{header_b64}.{b64e(enc)}..{b64e(ciphertext)}."


def python_envelope(public_jwk: dict, plaintext: bytes, alg: str, **extra) -> tuple[str, dict]:
    """An envelope whose header Python builds (kid computed here), sealed by pyhpke."""
    header = {"alg": alg, "kid": thumbprint(public_jwk["x"])}
    if looks_like_jwt(plaintext):
        header["cty"] = "JWT"
    header.update({"aud": AUD, "mbx": MBX, "exp": EXP}, **extra)
    return pyhpke_seal(public_jwk, encode_header(header), plaintext), header


def parse_compact(compact: str) -> tuple[str, dict, bytes, bytes]:
    """Splits and checks a compact JWE: returns (B64 header, header, enc, ciphertext)."""
    parts = compact.split(".")
    assert len(parts) == 5, f"{len(parts)} parts"
    header_b64, enc_b64, iv, ct_b64, tag = parts
    assert iv == "", "the IV must be empty"
    assert tag == "", "the tag must be empty"
    header = json.loads(b64d(header_b64).decode("utf-8"), object_pairs_hook=no_duplicates)
    return header_b64, header, b64d(enc_b64), b64d(ct_b64)


def pyhpke_open(private_jwk: dict, compact: str) -> bytes:
    header_b64, header, enc, ciphertext = parse_compact(compact)
    skr = KEMKey.from_jwk({k: private_jwk[k] for k in ("kty", "crv", "x", "d")})
    ctx = pyhpke_suite(header["alg"]).create_recipient_context(enc, skr, info=b"")
    return ctx.open(ciphertext, aad=header_b64.encode("ascii"))


def assert_refused(proc) -> None:
    """`sealgate open` failed as documented: non-zero, no plaintext, one line on stderr."""
    assert proc.returncode != 0, f"sealgate open accepted it and printed {proc.stdout[:80]!r}"
    assert proc.stdout == b"", "a refused envelope must not leak any plaintext"
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines}"


# --------------------------------------------------------------------------- 1. Python seals


@pytest.mark.parametrize("name", list(PLAINTEXTS))
@pytest.mark.parametrize("alg", ALGS)
def test_python_seals_sealgate_opens(sealgate, tmp_path, alg, name):
    plaintext = PLAINTEXTS[name]
    public, private, key_file = sealgate.keygen(tmp_path, alg)
    assert public["alg"] == alg and private["alg"] == alg
    assert public["kid"] == thumbprint(public["x"]), "keygen's kid is not the RFC 7638 thumbprint"

    compact, header = python_envelope(public, plaintext, alg)
    assert set(header) >= {"alg", "kid", "aud", "mbx", "exp"}

    proc = sealgate.open(key_file, compact)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout == plaintext


# --------------------------------------------------------------------------- 2. sealgate seals


@pytest.mark.parametrize("name", list(PLAINTEXTS))
@pytest.mark.parametrize("alg", ALGS)
def test_sealgate_seals_python_opens(sealgate, tmp_path, alg, name):
    plaintext = PLAINTEXTS[name]
    public, private, _ = sealgate.keygen(tmp_path, alg)
    public_file = tmp_path / "public.jwk"
    public_file.write_text(json.dumps(public))

    compact = sealgate.seal(
        public_file, plaintext, "--aud", AUD, "--mbx", MBX, "--exp", str(EXP)
    )
    _, header, enc, ciphertext = parse_compact(compact)
    expected = {"alg": alg, "kid": thumbprint(public["x"]), "aud": AUD, "mbx": MBX, "exp": EXP}
    if looks_like_jwt(plaintext):
        expected["cty"] = "JWT"
    assert header == expected
    assert type(header["exp"]) is int
    assert len(enc) == 32
    assert len(ciphertext) == len(plaintext) + 16

    assert pyhpke_open(private, compact) == plaintext


@pytest.mark.parametrize("alg", ALGS)
def test_sealgate_seals_without_binding(sealgate, tmp_path, alg):
    """Without --aud/--mbx/--exp the header is only alg and kid (and cty for a JWT)."""
    public, private, _ = sealgate.keygen(tmp_path, alg)
    public_file = tmp_path / "public.jwk"
    public_file.write_text(json.dumps(public))
    plaintext = b"not a jwt, just bytes"
    compact = sealgate.seal(public_file, plaintext)
    _, header, _, _ = parse_compact(compact)
    assert header == {"alg": alg, "kid": thumbprint(public["x"])}
    assert pyhpke_open(private, compact) == plaintext


# --------------------------------------------------------------------------- 3. tampering


def _reheader(compact: str, change) -> str:
    header_b64, header, _, _ = parse_compact(compact)
    rest = compact[len(header_b64):]
    new = change(dict(header), json.loads(b64d(header_b64)))
    new_b64 = new if isinstance(new, str) else encode_header(new)
    assert new_b64 != header_b64
    return new_b64 + rest


def _flip(compact: str, part: int, byte_index: int) -> str:
    parts = compact.split(".")
    data = bytearray(b64d(parts[part]))
    data[byte_index] ^= 0x01
    parts[part] = b64e(bytes(data))
    return ".".join(parts)


def _other_alg(header: dict, _original: dict) -> dict:
    header["alg"] = "HPKE-3" if header["alg"] == "HPKE-4" else "HPKE-4"
    return header


TAMPERINGS = {
    # A changed header byte, re-encoded: the aad changes, so the AEAD must refuse.
    "header-aud-byte": lambda c: _reheader(c, lambda h, _: {**h, "aud": h["aud"][:-1] + "X"}),
    "header-mbx-byte": lambda c: _reheader(c, lambda h, _: {**h, "mbx": "M" + h["mbx"][1:]}),
    "header-exp": lambda c: _reheader(c, lambda h, _: {**h, "exp": h["exp"] + 1}),
    "header-alg-swapped": lambda c: _reheader(c, _other_alg),
    # Same JSON meaning, other bytes: the aad is the encoded header as sent, not a re-encoding.
    "header-whitespace": lambda c: _reheader(
        c, lambda _, h: b64e(json.dumps(h, separators=(", ", ": ")).encode())
    ),
    "header-member-order": lambda c: _reheader(
        c, lambda _, h: encode_header(dict(reversed(list(h.items()))))
    ),
    "enc-bit": lambda c: _flip(c, 1, 5),
    "ciphertext-first-bit": lambda c: _flip(c, 3, 0),
    "ciphertext-middle-bit": lambda c: _flip(c, 3, 300),
    "ciphertext-tag-bit": lambda c: _flip(c, 3, -1),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
@pytest.mark.parametrize("alg", ALGS)
def test_tampered_envelope_is_refused(sealgate, tmp_path, alg, tampering):
    public, _, key_file = sealgate.keygen(tmp_path, alg)
    plaintext = PLAINTEXTS["jwt-1KiB"]
    compact, _ = python_envelope(public, plaintext, alg)

    control = sealgate.open(key_file, compact)
    assert control.returncode == 0 and control.stdout == plaintext, "the untouched one must open"

    tampered = TAMPERINGS[tampering](compact)
    assert tampered != compact
    assert_refused(sealgate.open(key_file, tampered))


# --------------------------------------------------------------------------- 4. cryptography


class Rfc9180:
    """RFC 9180 base mode for DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and one AEAD, written
    from the RFC on the `cryptography` package's public primitives (independent of pyhpke's
    key schedule and of the Rust `hpke` crate)."""

    KEM_ID = 0x0020
    KDF_ID = 0x0001
    AEADS = {"HPKE-3": (0x0001, AESGCM, 16), "HPKE-4": (0x0003, ChaCha20Poly1305, 32)}

    def __init__(self, alg: str):
        self.aead_id, self.aead, self.nk = self.AEADS[alg]
        self.kem_suite = b"KEM" + self.KEM_ID.to_bytes(2, "big")
        self.hpke_suite = (
            b"HPKE"
            + self.KEM_ID.to_bytes(2, "big")
            + self.KDF_ID.to_bytes(2, "big")
            + self.aead_id.to_bytes(2, "big")
        )

    @staticmethod
    def _extract(salt: bytes, ikm: bytes) -> bytes:
        mac = hmac.HMAC(salt or b"\0" * 32, hashes.SHA256())
        mac.update(ikm)
        return mac.finalize()

    def _labeled_extract(self, suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
        return self._extract(salt, b"HPKE-v1" + suite + label + ikm)

    @staticmethod
    def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, n: int) -> bytes:
        labeled = n.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info
        return HKDFExpand(algorithm=hashes.SHA256(), length=n, info=labeled).derive(prk)

    def _shared_secret(self, dh: bytes, enc: bytes, pk_rm: bytes) -> bytes:
        prk = self._labeled_extract(self.kem_suite, b"", b"eae_prk", dh)
        return self._labeled_expand(self.kem_suite, prk, b"shared_secret", enc + pk_rm, 32)

    def _key_schedule(self, shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
        s = self.hpke_suite
        psk_id_hash = self._labeled_extract(s, b"", b"psk_id_hash", b"")
        info_hash = self._labeled_extract(s, b"", b"info_hash", info)
        context = b"\x00" + psk_id_hash + info_hash
        secret = self._labeled_extract(s, shared_secret, b"secret", b"")
        key = self._labeled_expand(s, secret, b"key", context, self.nk)
        nonce = self._labeled_expand(s, secret, b"base_nonce", context, 12)
        return key, nonce

    @staticmethod
    def _raw(public: X25519PublicKey) -> bytes:
        return public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def seal(self, pk_rm: bytes, info: bytes, aad: bytes, pt: bytes,
             sk_e: X25519PrivateKey | None = None) -> tuple[bytes, bytes]:
        sk_e = sk_e or X25519PrivateKey.generate()
        enc = self._raw(sk_e.public_key())
        dh = sk_e.exchange(X25519PublicKey.from_public_bytes(pk_rm))
        key, nonce = self._key_schedule(self._shared_secret(dh, enc, pk_rm), info)
        return enc, self.aead(key).encrypt(nonce, pt, aad)

    def open(self, sk_r: X25519PrivateKey, enc: bytes, info: bytes, aad: bytes,
             ct: bytes) -> bytes:
        dh = sk_r.exchange(X25519PublicKey.from_public_bytes(enc))
        shared = self._shared_secret(dh, enc, self._raw(sk_r.public_key()))
        key, nonce = self._key_schedule(shared, info)
        return self.aead(key).decrypt(nonce, ct, aad)


#: RFC 9180 Appendix A.2.1 (HPKE-4's suite) and A.1.1 (HPKE-3's suite), base mode: the keys,
#: `enc` and the first encryption (sequence number 0).
RFC9180_BASE = {
    "HPKE-4": {
        "info": "4f6465206f6e2061204772656369616e2055726e",
        "skRm": "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
        "pkRm": "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
        "skEm": "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
        "enc": "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
        "aad": "436f756e742d30",
        "pt": "4265617574792069732074727574682c20747275746820626561757479",
        "ct": "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db"
              "21993c62ce81883d2dd1b51a28",
    },
    "HPKE-3": {
        "info": "4f6465206f6e2061204772656369616e2055726e",
        "skRm": "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
        "pkRm": "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
        "skEm": "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
        "enc": "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
        "aad": "436f756e742d30",
        "pt": "4265617574792069732074727574682c20747275746820626561757479",
        "ct": "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a9"
              "6d8770ac83d07bea87e13c512a",
    },
}


@pytest.mark.parametrize("alg", ALGS)
def test_cryptography_rfc9180_matches_the_rfc_vectors(alg):
    """The hand-written HPKE reproduces RFC 9180's base-mode vector for the suite, both ways."""
    v = {k: bytes.fromhex(val) for k, val in RFC9180_BASE[alg].items()}
    hpke = Rfc9180(alg)
    sk_e = X25519PrivateKey.from_private_bytes(v["skEm"])
    enc, ct = hpke.seal(v["pkRm"], v["info"], v["aad"], v["pt"], sk_e=sk_e)
    assert (enc, ct) == (v["enc"], v["ct"])
    sk_r = X25519PrivateKey.from_private_bytes(v["skRm"])
    assert hpke.open(sk_r, v["enc"], v["info"], v["aad"], v["ct"]) == v["pt"]


@pytest.mark.parametrize("alg", ALGS)
def test_cryptography_opens_sealgate_envelope(sealgate, tmp_path, alg):
    public, private, _ = sealgate.keygen(tmp_path, alg)
    public_file = tmp_path / "public.jwk"
    public_file.write_text(json.dumps(public))
    plaintext = PLAINTEXTS["jwt-8KiB"]
    compact = sealgate.seal(public_file, plaintext, "--aud", AUD, "--mbx", MBX, "--exp", str(EXP))

    header_b64, header, enc, ciphertext = parse_compact(compact)
    assert header["alg"] == alg
    sk_r = X25519PrivateKey.from_private_bytes(b64d(private["d"]))
    assert Rfc9180(alg).open(sk_r, enc, b"", header_b64.encode("ascii"), ciphertext) == plaintext


@pytest.mark.parametrize("alg", ALGS)
def test_cryptography_seals_sealgate_opens(sealgate, tmp_path, alg):
    public, _, key_file = sealgate.keygen(tmp_path, alg)
    plaintext = PLAINTEXTS["jwt-1KiB"]
    header = {"alg": alg, "kid": thumbprint(public["x"]), "cty": "JWT",
              "aud": AUD, "mbx": MBX, "exp": EXP}
    header_b64 = encode_header(header)
    enc, ct = Rfc9180(alg).seal(b64d(public["x"]), b"", header_b64.encode("ascii"), plaintext)
    proc = sealgate.open(key_file, f"{header_b64}.{b64e(enc)}..{b64e(ct)}.")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout == plaintext


# --------------------------------------------------------------------------- 5. foreign keys


@pytest.mark.parametrize("alg", ALGS)
def test_python_made_key_both_directions(sealgate, tmp_path, alg):
    """A key pair made with `cryptography`, as minimal JWKs without `kid` or `use`."""
    secret = X25519PrivateKey.generate()
    x = b64e(Rfc9180._raw(secret.public_key()))
    public = {"kty": "OKP", "crv": "X25519", "x": x, "alg": alg}
    private = {**public, "d": b64e(secret.private_bytes_raw())}
    public_file, private_file = tmp_path / "py.public.jwk", tmp_path / "py.private.jwk"
    public_file.write_text(json.dumps(public))
    private_file.write_text(json.dumps(private))
    plaintext = PLAINTEXTS["jwt-1KiB"]

    compact = sealgate.seal(public_file, plaintext, "--mbx", MBX)
    _, header, _, _ = parse_compact(compact)
    assert header == {"alg": alg, "kid": thumbprint(x), "cty": "JWT", "mbx": MBX}
    assert pyhpke_open(private, compact) == plaintext

    compact, _ = python_envelope(public, plaintext, alg)
    proc = sealgate.open(private_file, compact)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout == plaintext


def test_seal_to_jwks_picks_first_or_kid(sealgate, tmp_path):
    first_pub, first_priv, _ = sealgate.keygen(tmp_path, "HPKE-4", name="first")
    second_pub, second_priv, _ = sealgate.keygen(tmp_path, "HPKE-3", name="second")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [first_pub, second_pub]}))
    plaintext = PLAINTEXTS["jwt-1KiB"]

    default = sealgate.seal(jwks, plaintext)
    _, header, _, _ = parse_compact(default)
    assert (header["alg"], header["kid"]) == ("HPKE-4", thumbprint(first_pub["x"]))
    assert pyhpke_open(first_priv, default) == plaintext

    chosen = sealgate.seal(jwks, plaintext, "--kid", thumbprint(second_pub["x"]))
    _, header, _, _ = parse_compact(chosen)
    assert (header["alg"], header["kid"]) == ("HPKE-3", thumbprint(second_pub["x"]))
    assert pyhpke_open(second_priv, chosen) == plaintext
