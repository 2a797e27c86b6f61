"""The Python peer of the JavaScript interop test: seals and opens sealgate envelopes with pyhpke.

Reads one JSON request on stdin: {"op": "open", "jwk": private JWK, "compact": ...} prints the
plaintext; {"op": "seal", "jwk": public JWK, "plaintext": ...} prints a compact JWE whose header
Python writes itself (alg, kid = the JWK's kid, aud, mbx, exp).
"""

import base64
import json
import sys

from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

AEAD = {"HPKE-4": AEADId.CHACHA20_POLY1305, "HPKE-3": AEADId.AES128_GCM}


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def suite(alg: str) -> CipherSuite:
    return CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEAD[alg])


def main() -> None:
    request = json.load(sys.stdin)
    jwk = request["jwk"]
    alg = jwk.get("alg", "HPKE-4")
    if request["op"] == "open":
        header, enc, iv, ct, tag = request["compact"].split(".")
        assert iv == "" and tag == ""
        key = KEMKey.from_jwk({"kty": "OKP", "crv": "X25519", "x": jwk["x"], "d": jwk["d"]})
        ctx = suite(alg).create_recipient_context(b64d(enc), key)
        sys.stdout.write(ctx.open(b64d(ct), aad=header.encode("ascii")).decode())
    else:
        header = {"alg": alg, "kid": jwk["kid"], "aud": "client-1", "mbx": "mailbox-1", "exp": 1900000000}
        encoded = b64e(json.dumps(header, separators=(",", ":")).encode())
        key = KEMKey.from_jwk({"kty": "OKP", "crv": "X25519", "x": jwk["x"]})
        enc, ctx = suite(alg).create_sender_context(key)
        ct = ctx.seal(request["plaintext"].encode(), aad=encoded.encode("ascii"))
        sys.stdout.write(f"{encoded}.{b64e(enc)}..{b64e(ct)}.")


main()
