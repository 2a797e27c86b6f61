"""Schemathesis hooks for the API fuzz run (scripts/fuzz-api.sh, interop/fuzz/fuzz_api.py).

Three things a JSON Schema cannot say, and which these hooks supply:

1. **Credentials.** Every operation whose document declares `clientSecretBasic` gets HTTP Basic
   credentials: those of the client its `client_id` path parameter names when the run registered
   that client (the stateful links from `POST /v1/clients` lead there), else those of the
   client the driver registered before the run. An operation added to the document later is
   covered the same way, with no change here.
2. **What a valid request must refer to.** For *positive* cases only (requests the document
   says are valid), a JWK's `kid` is made the RFC 7638 thumbprint of its `x` and keys repeating
   an `x` are dropped (the document requires both and cannot state them); the `kid` a mailbox
   is opened with is made the run client's key (it must name a key of the client); a webhook URL is
   made the run's local receiver (whether a URL is accepted depends on DNS and the operator's
   policy); and a deposit's body is made a well-formed envelope whose header names the
   mailbox of its path, that mailbox's client and the key it was opened with (an envelope's
   binding is to server state). Negative cases are sent as generated.
3. **Bookkeeping** for the above, from the answers: registered clients and which client
   opened which mailbox.

It also teaches schemathesis the envelope's media type, `application/jose` (compact JWE,
ASCII text), in both directions (schemathesis knows only `text/*` as text), and adds one check,
`another_client_is_refused`: every request that succeeded on a client's or mailbox's route is
sent again with a second client's credentials, which must get 404. (Schemathesis's own
`object_level_authorization` compares identities only when given several in a Web Fuzzing
Commons auth file, and would then send each operation as one of them rather than as the owner
of the ids the links carry.)

The driver passes the pre-registered client in `SEALGATE_FUZZ_CLIENT_ID`,
`SEALGATE_FUZZ_CLIENT_SECRET` and `SEALGATE_FUZZ_KID`, the second client in
`SEALGATE_FUZZ_OTHER_ID` and `SEALGATE_FUZZ_OTHER_SECRET`, and the receiver in
`SEALGATE_FUZZ_WEBHOOK_URL`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
import schemathesis

CLIENT_ID = os.environ["SEALGATE_FUZZ_CLIENT_ID"]
CLIENT_SECRET = os.environ["SEALGATE_FUZZ_CLIENT_SECRET"]
KID = os.environ["SEALGATE_FUZZ_KID"]
WEBHOOK_URL = os.environ["SEALGATE_FUZZ_WEBHOOK_URL"]
OTHER_ID = os.environ["SEALGATE_FUZZ_OTHER_ID"]
OTHER_SECRET = os.environ["SEALGATE_FUZZ_OTHER_SECRET"]

#: The path parameters that name a resource some client owns.
OWNED = ("{client_id}", "{mailbox_id}")

#: How far in the future a built envelope's `exp` lies, seconds.
ENVELOPE_LIFETIME = 300

_lock = threading.Lock()
#: client_id -> client_secret, for every client the run registered.
_secrets: dict[str, str] = {CLIENT_ID: CLIENT_SECRET}
#: mailbox_id -> (client_id, kid) of every mailbox the run opened.
_mailboxes: dict[str, tuple[str, str]] = {}
# Device handles the run registered, with their secrets.
_devices: dict[str, str] = {}


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(x: str) -> str:
    """The RFC 7638 thumbprint of an X25519 public JWK with this `x`."""
    canonical = json.dumps({"crv": "X25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def operation_id(case) -> str:
    """The case's operationId."""
    return case.operation.definition.raw.get("operationId", "")


def declares_basic(ctx) -> bool:
    """Whether the operation's document names `clientSecretBasic` among its requirements."""
    security = ctx.operation.definition.raw.get("security", [])
    return any("clientSecretBasic" in requirement for requirement in security)


# A compact JWE is text, sent and read as its ASCII bytes.
schemathesis.serializer.alias("application/jose", "text/plain")


@schemathesis.deserializer("application/jose")
def jose_text(ctx, response):
    """An `application/jose` answer, as the string the document's schema describes."""
    return response.content.decode("ascii")


@schemathesis.auth(refresh_interval=None).apply_to(declares_basic)
class ClientSecretBasic:
    """`client_secret_basic` as the client the path names, when the run knows it."""

    def get(self, case, ctx):
        client_id = (case.path_parameters or {}).get("client_id")
        with _lock:
            if client_id in _secrets:
                return client_id, _secrets[client_id]
            mailbox = _mailboxes.get((case.path_parameters or {}).get("mailbox_id"))
            if mailbox is not None and mailbox[0] in _secrets:
                return mailbox[0], _secrets[mailbox[0]]
        return CLIENT_ID, CLIENT_SECRET

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": basic(*data)}


def declares_device_secret(ctx) -> bool:
    """Whether the operation's document names `deviceSecret` among its requirements."""
    security = ctx.operation.definition.raw.get("security", [])
    return any("deviceSecret" in requirement for requirement in security)


@schemathesis.auth(refresh_interval=None).apply_to(declares_device_secret)
class DeviceSecret:
    """A device registration's secret, for the handle the path names, when the run made it."""

    def get(self, case, ctx):
        handle = (case.path_parameters or {}).get("device_handle")
        with _lock:
            return _devices.get(handle, "dsec_" + "A" * 43)

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": "Bearer " + data}


def basic(client_id: str, secret: str) -> str:
    """The `Authorization` value of `client_secret_basic`."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")


def _thumbprinted(jwks):
    """`jwks` with each key's `kid` (when it has one) its thumbprint and repeated keys dropped."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        return jwks
    keys, seen = [], set()
    for key in jwks["keys"]:
        if not isinstance(key, dict) or not isinstance(key.get("x"), str):
            keys.append(key)
            continue
        kid = thumbprint(key["x"])
        if kid in seen:
            continue
        seen.add(kid)
        keys.append({**key, "kid": kid} if "kid" in key else key)
    return {**jwks, "keys": keys}


def _envelope(mailbox_id: str) -> str:
    """A well-formed envelope bound to `mailbox_id`, its client and the key it was opened with.

    The gateway checks the header without decrypting, so the encapsulated key and the
    ciphertext are random bytes of the right lengths.
    """
    with _lock:
        client_id, kid = _mailboxes.get(mailbox_id, (CLIENT_ID, KID))
    header = {
        "alg": "HPKE-4",
        "kid": kid,
        "aud": client_id,
        "mbx": mailbox_id,
        "exp": int(time.time()) + ENVELOPE_LIFETIME,
    }
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    return f"{protected}.{b64url(secrets.token_bytes(32))}..{b64url(secrets.token_bytes(64))}."


def _subscription_keys() -> dict:
    """A Web Push subscription's keys: a fresh P-256 public point and a 16-byte auth secret."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {"p256dh": b64url(point), "auth": b64url(secrets.token_bytes(16))}


@schemathesis.hook
def before_call(context, case, kwargs):
    """Makes a positive case's references valid (module docstring, item 2)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    name = operation_id(case)
    body = case.body
    if name == "registerClient" and isinstance(body, dict):
        body = {**body, "jwks": _thumbprinted(body.get("jwks"))}
        if isinstance(body.get("webhook_url"), str):
            body["webhook_url"] = WEBHOOK_URL
        case.body = body
    elif name == "rotateClientJwks":
        case.body = _thumbprinted(body)
    elif name == "openMailbox" and isinstance(body, dict):
        body = dict(body)
        if isinstance(body.get("kid"), str):
            body["kid"] = KID
        # `binding_message` goes with `notify` (its description says so; a schema cannot).
        if not isinstance(body.get("notify"), str):
            body.pop("binding_message", None)
        case.body = body
    elif name in ("registerDevice", "updateDevice") and isinstance(body, dict):
        # A subscription the gateway can use: a real P-256 point and auth secret, and an
        # endpoint on the loopback receiver (the webhook address policy of the run allows it).
        case.body = {**body, "endpoint": WEBHOOK_URL + "/push", "keys": _subscription_keys()}
    elif name == "setWebhook" and isinstance(body, dict) and isinstance(body.get("url"), str):
        case.body = {**body, "url": WEBHOOK_URL}
    elif name == "depositEnvelope" and isinstance(body, str):
        mailbox_id = (case.path_parameters or {}).get("mailbox_id")
        if isinstance(mailbox_id, str):
            case.body = _envelope(mailbox_id)


@schemathesis.hook
def after_call(context, case, response):
    """Records registered clients and opened mailboxes (module docstring, item 3)."""
    name = operation_id(case)
    if name == "registerClient" and response.status_code == 201:
        body = response.json()
        with _lock:
            _secrets[body["client_id"]] = body["client_secret"]
    elif name == "openMailbox" and response.status_code == 201:
        body = response.json()
        owner = _basic_user(case.headers or {}) or CLIENT_ID
        with _lock:
            _mailboxes[body["mailbox_id"]] = (owner, body["kid"])
    elif name == "registerDevice" and response.status_code == 201:
        body = response.json()
        with _lock:
            _devices[body["device_handle"]] = body["device_secret"]


def _basic_user(headers) -> str | None:
    """The user of a Basic `Authorization` header, if there is one."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not isinstance(value, str) or not value.startswith("Basic "):
        return None
    try:
        return base64.b64decode(value[6:]).decode().split(":", 1)[0]
    except (ValueError, UnicodeDecodeError):
        return None


@schemathesis.check
def another_client_is_refused(ctx, response, case):
    """A client's or mailbox's route that served its owner answers 404 to another client.

    The request is sent again as it went out, with the second client's credentials (or, when
    it was the second client's own, the first client's). A `DELETE` that succeeded is not
    repeated: its resource is gone, so the answer would show nothing.
    """
    request = response.request
    if (
        not 200 <= response.status_code < 300
        or request.method in ("DELETE", "OPTIONS")
        or not any(name in case.operation.path for name in OWNED)
        or not _basic_user(dict(request.headers))
        or not any("clientSecretBasic" in r for r in case.operation.definition.raw.get("security", []))
    ):
        return None
    owner = _basic_user(dict(request.headers))
    stranger = (CLIENT_ID, CLIENT_SECRET) if owner == OTHER_ID else (OTHER_ID, OTHER_SECRET)
    replay = request.copy()
    replay.headers["Authorization"] = basic(*stranger)
    with requests.Session() as session:
        answer = session.send(replay, timeout=10, allow_redirects=False)
    if answer.status_code != 404:
        raise AssertionError(
            f"{request.method} {case.operation.path} served client {owner} with "
            f"{response.status_code}; client {stranger[0]} got {answer.status_code}, not 404"
        )
    return None
