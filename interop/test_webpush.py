"""Web Push (RFC 8291 `aes128gcm`, RFC 8292 VAPID) checked against independent implementations.

sealgate-crypto's `webpush` module is driven through its example binary `webpush_tool` (one
JSON request on stdin, one JSON answer on stdout; `crypto/examples/webpush_tool.rs`). The other
side is Python code that shares nothing with it:

1. a body sealgate encrypts is decrypted by `http_ece.decrypt(..., version="aes128gcm")`, with
   and without padding, up to the 3993-octet push-service limit;
2. bodies made by `http_ece.encrypt(..., version="aes128gcm")` and by pywebpush's
   `WebPusher.encode` (what a pywebpush application server sends) are decrypted by sealgate, and
   tampered ones are refused;
3. the RFC 8291 section 5 example decrypts with `http_ece` too (the values the Rust
   known-answer test uses);
4. sealgate's VAPID header verifies with py_vapid (`Vapid02.verify`, `py_vapid.jwt.decode`) and
   with `cryptography`'s ECDSA verify; its claims are the ones asked for; keys move between the
   two in raw and PKCS#8 form.

The binary is `$WEBPUSH_TOOL` when set, else `<repo>/target/debug/examples/webpush_tool`, built
with `cargo build -p sealgate-crypto --example webpush_tool` when missing. Never skips.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from py_vapid import Vapid02
from py_vapid import jwt as vapid_jwt
from pywebpush import WebPusher

REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 30
#: What push services accept: 4096 octets of body, less the 86-octet header, delimiter, tag.
PUSH_SERVICE_PLAINTEXT_LIMIT = 3993


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tool:
    """Runs `webpush_tool` with one JSON request."""

    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, request: dict) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.binary)],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )

    def ok(self, **request) -> dict:
        proc = self.run(request)
        if proc.returncode != 0:
            pytest.fail(
                f"webpush_tool {request.get('op')} exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace').strip()}",
                pytrace=False,
            )
        return json.loads(proc.stdout)

    def refused(self, **request) -> str:
        proc = self.run(request)
        assert proc.returncode == 1, f"webpush_tool {request.get('op')} accepted {request}"
        return proc.stderr.decode()


@pytest.fixture(scope="session")
def tool() -> Tool:
    configured = os.environ.get("WEBPUSH_TOOL")
    binary = Path(configured) if configured else REPO / "target" / "debug" / "examples" / "webpush_tool"
    if not configured and not binary.is_file():
        build = subprocess.run(
            ["cargo", "build", "-q", "-p", "sealgate-crypto", "--example", "webpush_tool"],
            cwd=REPO,
            capture_output=True,
            check=False,
        )
        if build.returncode != 0:
            pytest.fail(f"building webpush_tool failed: {build.stderr.decode()}", pytrace=False)
    if not binary.is_file():
        pytest.fail(f"webpush_tool not found at {binary}", pytrace=False)
    return Tool(binary)


def user_agent() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """A user agent's key pair and auth secret, made by `cryptography`."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, public, os.urandom(16)


def raw_private(key: ec.EllipticCurvePrivateKey) -> str:
    return b64u(key.private_numbers().private_value.to_bytes(32, "big"))


# ------------------------------------------------------------- 1. sealgate encrypts, http_ece decrypts


@pytest.mark.parametrize("length", [0, 1, 41, 1000, PUSH_SERVICE_PLAINTEXT_LIMIT])
def test_http_ece_decrypts_what_sealgate_encrypts(tool: Tool, length: int) -> None:
    key, public, auth = user_agent()
    plaintext = os.urandom(length)
    body = unb64u(
        tool.ok(op="encrypt", p256dh=b64u(public), auth=b64u(auth), plaintext=b64u(plaintext))["body"]
    )
    assert len(body) == 86 + length + 17
    assert body[16:21] == b"\x00\x00\x10\x00\x41"  # rs 4096, idlen 65
    opened = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
    assert opened == plaintext
    # The keyid is the ephemeral public key (http_ece takes it as `dh`).
    sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), body[21:86])
    assert isinstance(sender, ec.EllipticCurvePublicKey)
    with pytest.raises(Exception):
        http_ece.decrypt(body, private_key=key, auth_secret=os.urandom(16), version="aes128gcm")


def test_http_ece_strips_sealgate_padding(tool: Tool) -> None:
    key, public, auth = user_agent()
    for plaintext in [b"", b"short", b"trailing zeros\x00\x00"]:
        body = unb64u(
            tool.ok(
                op="encrypt", p256dh=b64u(public), auth=b64u(auth), plaintext=b64u(plaintext), padding_to=256
            )["body"]
        )
        assert len(body) == 86 + 256 + 17
        assert http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm") == plaintext


def test_sealgate_refuses_to_encrypt_more_than_one_record(tool: Tool) -> None:
    _, public, auth = user_agent()
    message = tool.refused(op="encrypt", p256dh=b64u(public), auth=b64u(auth), plaintext=b64u(b"x" * 4080))
    assert "one record holds at most 4079" in message
    # A compressed point is not a p256dh.
    compressed = bytes([2 + (public[64] & 1)]) + public[1:33]
    tool.refused(op="encrypt", p256dh=b64u(compressed), auth=b64u(auth), plaintext="")


# ------------------------------------------------------ 2. http_ece / pywebpush encrypt, sealgate decrypts


def test_sealgate_decrypts_what_http_ece_encrypts(tool: Tool) -> None:
    ua_private = tool.ok(op="keygen")
    public, private = unb64u(ua_private["p256dh"]), ua_private["private_key"]
    auth = os.urandom(16)
    for plaintext in [b"x", b"When I grow up, I want to be a watermelon", os.urandom(3000)]:
        sender = ec.generate_private_key(ec.SECP256R1())
        body = http_ece.encrypt(
            plaintext,
            salt=os.urandom(16),
            private_key=sender,
            dh=public,
            auth_secret=auth,
            version="aes128gcm",
        )
        opened = tool.ok(op="decrypt", private_key=private, auth=b64u(auth), body=b64u(body))
        assert unb64u(opened["plaintext"]) == plaintext

        tampered = bytearray(body)
        tampered[-1] ^= 1
        assert "does not decrypt" in tool.refused(
            op="decrypt", private_key=private, auth=b64u(auth), body=b64u(bytes(tampered))
        )
        assert "does not decrypt" in tool.refused(
            op="decrypt", private_key=private, auth=b64u(os.urandom(16)), body=b64u(body)
        )


def test_http_ece_empty_message_has_no_record_and_is_refused(tool: Tool) -> None:
    # http_ece encrypts b"" as a bare header, no record at all. A Web Push body is exactly one
    # record, whose 0x02 delimiter is what shows it was not cut short, so sealgate refuses it.
    ua = tool.ok(op="keygen")
    auth = os.urandom(16)
    sender = ec.generate_private_key(ec.SECP256R1())
    body = http_ece.encrypt(
        b"", salt=os.urandom(16), private_key=sender, dh=unb64u(ua["p256dh"]), auth_secret=auth, version="aes128gcm"
    )
    assert len(body) == 86
    assert "truncated" in tool.refused(op="decrypt", private_key=ua["private_key"], auth=b64u(auth), body=b64u(body))


def test_sealgate_decrypts_what_pywebpush_sends(tool: Tool) -> None:
    ua = tool.ok(op="keygen")
    auth = os.urandom(16)
    subscription = {
        "endpoint": "https://push.example.net/push/abc",
        "keys": {"p256dh": ua["p256dh"], "auth": b64u(auth)},
    }
    plaintext = json.dumps({"sign_in": "https://gateway.example/v1/r/abc"}).encode()
    encoded = WebPusher(subscription).encode(plaintext, content_encoding="aes128gcm")
    opened = tool.ok(op="decrypt", private_key=ua["private_key"], auth=b64u(auth), body=b64u(encoded["body"]))
    assert unb64u(opened["plaintext"]) == plaintext


# --------------------------------------------------------------------- 3. the RFC 8291 example


def test_rfc8291_example_with_http_ece() -> None:
    ua = ec.derive_private_key(int.from_bytes(unb64u("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"), "big"), ec.SECP256R1())
    sender = ec.derive_private_key(int.from_bytes(unb64u("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"), "big"), ec.SECP256R1())
    ua_public = unb64u("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4")
    auth = unb64u("BTBZMqHH6r4Tts7J_aSIgg")
    body = unb64u(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
    )
    plaintext = b"When I grow up, I want to be a watermelon"
    assert http_ece.decrypt(body, private_key=ua, auth_secret=auth, version="aes128gcm") == plaintext
    again = http_ece.encrypt(
        plaintext, salt=body[:16], private_key=sender, dh=ua_public, auth_secret=auth, version="aes128gcm"
    )
    assert again == body


# ---------------------------------------------------------------------------------- 4. VAPID


def vapid_header(tool: Tool, **key) -> tuple[str, dict]:
    now = int(time.time())
    claims = {"aud": "https://fcm.googleapis.com", "sub": "mailto:ops@example.com", "exp": now + 12 * 3600}
    header = tool.ok(op="vapid", now=now, **claims, **key)["authorization"]
    return header, claims


def test_py_vapid_verifies_sealgate_vapid(tool: Tool) -> None:
    key = tool.ok(op="vapid-keygen")
    header, claims = vapid_header(tool, private_key=key["private_key"])
    assert header.startswith("vapid t=")
    token, k = header[len("vapid t=") :].split(", k=")
    assert k == key["k"]

    # py_vapid's verifier splits the parameters on "," without optional whitespace.
    assert Vapid02.verify(header.replace(", k=", ",k="))
    assert vapid_jwt.decode(token, k) == claims
    header_json = json.loads(unb64u(token.split(".")[0]))
    assert header_json == {"typ": "JWT", "alg": "ES256"}

    # cryptography's ECDSA verify of the JOSE r ‖ s signature, turned into DER here.
    signed, signature = token.rsplit(".", 1)
    raw = unb64u(signature)
    assert len(raw) == 64
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(k))
    public.verify(der, signed.encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(der, signed.encode() + b"x", ec.ECDSA(hashes.SHA256()))

    # The token py_vapid would sign for the same claims verifies with the same k.
    theirs = Vapid02.from_raw(key["private_key"].encode()).sign(claims)
    assert theirs["Authorization"].endswith(",k=" + k)


def test_vapid_keys_move_between_sealgate_and_py_vapid(tool: Tool) -> None:
    # sealgate's PKCS#8 loads in py_vapid, and gives the same public key.
    key = tool.ok(op="vapid-keygen")
    theirs = Vapid02.from_der(key["pkcs8"].encode())
    point = theirs.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert b64u(point) == key["k"]

    # A py_vapid key, raw and PKCS#8, signs in sealgate; py_vapid verifies.
    generated = Vapid02()
    generated.generate_keys()
    raw = raw_private(generated.private_key)
    pkcs8 = b64u(
        generated.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for form in [{"private_key": raw}, {"pkcs8": pkcs8}]:
        header, claims = vapid_header(tool, **form)
        token, k = header[len("vapid t=") :].split(", k=")
        assert unb64u(k) == generated.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert vapid_jwt.decode(token, k) == claims


def test_sealgate_refuses_what_rfc8292_forbids(tool: Tool) -> None:
    key = tool.ok(op="vapid-keygen")["private_key"]
    now = int(time.time())
    ok = {"aud": "https://fcm.googleapis.com", "sub": "mailto:ops@example.com", "exp": now + 60, "now": now}
    assert "24 hours" in tool.refused(op="vapid", private_key=key, **{**ok, "exp": now + 24 * 3600 + 1})
    assert "mailto: or https:" in tool.refused(op="vapid", private_key=key, **{**ok, "sub": "http://example.com"})
    assert "origin" in tool.refused(
        op="vapid", private_key=key, **{**ok, "aud": "https://fcm.googleapis.com/fcm/send/x"}
    )
