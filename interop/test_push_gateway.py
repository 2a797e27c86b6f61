"""The gateway's Web Push messages, checked by independent Python code.

A real `sealgate serve` (memory store, `--allow-insecure-webhooks --allow-private-webhooks`, so
that it may push to loopback over http) pushes to a stand-in push service written here with
`http.server`. The test generates the subscription's P-256 key pair and auth secret itself
with `cryptography`, registers them with the gateway as a phone would, opens a mailbox with
`notify`, and checks what the push service received:

1. the headers RFC 8030 and RFC 8291 ask for (`TTL`, `Urgency: high`,
   `Content-Encoding: aes128gcm`);
2. the VAPID `Authorization` verifies with py_vapid (`Vapid02.verify`, `py_vapid.jwt.decode`),
   with the key `GET /v1/push/key` serves, and its claims (`aud` the endpoint's origin, `sub`,
   `exp` at most 12 hours ahead);
3. the body decrypts with `http_ece.decrypt(..., version="aes128gcm")` into the sign-in request
   the gateway answered, the client's name and the binding message;
4. a push service answering 410 makes the gateway answer `device_gone` and forget the device.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from py_vapid import jwt as vapid_jwt

from test_webhooks_standardwebhooks import Gateway

#: How long a push may take to arrive, seconds.
PUSH_TIMEOUT = 15


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class PushService:
    """A push service on 127.0.0.1 that records every push and answers `status`."""

    def __init__(self) -> None:
        self.status = 201
        self.pushes: list[dict] = []
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with service.lock:
                    service.pushes.append({"path": self.path, "headers": headers, "body": body})
                    status = service.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, n: int) -> list[dict]:
        deadline = time.monotonic() + PUSH_TIMEOUT
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.pushes) >= n:
                    return list(self.pushes)
            time.sleep(0.05)
        pytest.fail(f"{n} pushes did not arrive within {PUSH_TIMEOUT} s")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Subscription:
    """A phone's subscription: a key pair and auth secret made here, and its endpoint."""

    def __init__(self, service: PushService) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.auth = os.urandom(16)
        self.path = "/push/" + b64u(os.urandom(12))
        self.endpoint = service.origin + self.path

    def to_json(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64u(self.public), "auth": b64u(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        plaintext = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plaintext)


@pytest.fixture(scope="module")
def service():
    service = PushService()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="module")
def gateway(sealgate, tmp_path_factory):
    gateway = Gateway(sealgate.binary, tmp_path_factory.mktemp("serve") / "sealgate.log")
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def app(gateway, sealgate, tmp_path_factory) -> tuple[str, str]:
    """A registered client: (client id, its Basic authorization)."""
    public, _, _ = sealgate.keygen(tmp_path_factory.mktemp("keys"), "HPKE-4", "app")
    answer = gateway.json("POST", "/v1/clients", 201, {"name": "Push interop", "jwks": {"keys": [public]}})
    credentials = f"{answer['client_id']}:{answer['client_secret']}".encode()
    return answer["client_id"], "Basic " + base64.b64encode(credentials).decode()


def register(gateway: Gateway, client_id: str, subscription: Subscription) -> str:
    answer = gateway.json("POST", f"/v1/clients/{client_id}/devices", 201, subscription.to_json())
    assert answer["device_handle"].startswith("dh_")
    assert answer["device_secret"].startswith("dsec_")
    return answer["device_handle"]


def test_the_push_verifies_with_py_vapid_and_decrypts_with_http_ece(gateway, service, app):
    client_id, auth = app
    subscription = Subscription(service)
    handle = register(gateway, client_id, subscription)
    served = gateway.json("GET", "/v1/push/key", 200)["vapid_public_key"]
    before = len(service.pushes)
    opened = gateway.json("POST", "/v1/mailboxes", 201,
                          {"ttl": 90, "notify": handle, "binding_message": "Code 7312"}, auth=auth)
    assert opened["notification"] == {"status": "sent"}
    push = service.wait_for(before + 1)[before]
    assert push["path"] == subscription.path
    headers = push["headers"]
    assert headers["ttl"] == "90"
    assert headers["urgency"] == "high"
    assert headers["content-encoding"] == "aes128gcm"

    authorization = headers["authorization"]
    assert authorization.startswith("vapid t=")
    token, k = authorization[len("vapid t="):].split(", k=")
    assert k == served
    # py_vapid's verifier splits the parameters on "," without optional whitespace.
    assert Vapid02.verify(authorization.replace(", k=", ",k="))
    claims = vapid_jwt.decode(token, k)
    assert claims["aud"] == service.origin
    assert claims["sub"] == "mailto:postmaster@localhost"
    now = int(time.time())
    assert now < claims["exp"] <= now + 12 * 3600 + 5

    payload = subscription.decrypt(push["body"])
    assert payload == {
        "v": 1,
        "signin_request": opened["signin_request"],
        "client_name": "Push interop",
        "binding_message": "Code 7312",
    }


def test_a_gone_subscription_is_forgotten(gateway, service, app):
    client_id, auth = app
    handle = register(gateway, client_id, Subscription(service))
    before = len(service.pushes)
    with service.lock:
        service.status = 410
    try:
        opened = gateway.json("POST", "/v1/mailboxes", 201, {"notify": handle}, auth=auth)
    finally:
        with service.lock:
            service.status = 201
    assert opened["notification"] == {"status": "device_gone"}
    service.wait_for(before + 1)
    status, answer = gateway.call("POST", "/v1/mailboxes", json.dumps({"notify": handle}).encode(),
                                  "application/json", auth)
    assert status == 404, answer
    assert json.loads(answer)["error"] == "unknown_device"
