"""The phone side of one-click sign-in (`sealgate device …`) against pywebpush.

The `sealgate` CLI plays the phone: `device register` generates the subscription's P-256 key
pair and auth secret and registers them (with a push endpoint) at a gateway; `device listen`
stands in for the push service on loopback; `device open` decrypts and checks a message.
pywebpush, which shares no code with sealgate, plays the gateway's sending side:

1. `pywebpush.webpush()` sends a VAPID-signed, RFC 8291-encrypted sign-in notification to the
   subscription exactly as the device registered it; `device listen` receives it (answering
   201 as a push service does) and `device open` shows the website's name, the binding
   message and the sign-in request;
2. a body from `WebPusher(...).encode(...)` opens the same way, and the same body changed in
   any byte, sent to another device, naming another website, expired, or with a payload that
   is not the contract's, is refused with exit status 1 (3 for the expired one).

The gateway here is a small Python stand-in that answers only the two routes registration
uses (`GET /v1/push/key`, `POST /v1/clients/{id}/devices`) as the contract says, so that the
test needs no gateway build; the Rust end-to-end tests use the real one.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPusher, webpush

from conftest import RUN_TIMEOUT, Sealgate

CLIENT_ID = "c_interop"
#: A thumbprint of the right form; nothing is sealed in these tests.
THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class StandInGateway:
    """`GET /v1/push/key` and `POST /v1/clients/c_interop/devices`, as the contract answers."""

    def __init__(self) -> None:
        self.vapid = Vapid02()
        self.vapid.generate_keys()
        self.subscriptions: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path != "/v1/push/key":
                    return self.answer(404, {"error": "not_found"})
                point = owner.vapid.public_key.public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                )
                self.answer(200, {"vapid_public_key": b64u(point)})

            def do_POST(self) -> None:
                if self.path != f"/v1/clients/{CLIENT_ID}/devices":
                    return self.answer(404, {"error": "not_found"})
                length = int(self.headers["Content-Length"])
                owner.subscriptions.append(json.loads(self.rfile.read(length)))
                self.answer(
                    201,
                    {
                        "device_handle": "dh_" + b64u(secrets.token_bytes(16)),
                        "device_secret": "dsec_" + b64u(secrets.token_bytes(32)),
                        "expires_at": "2027-03-07T13:00:00Z",
                        "idle_timeout_secs": 7776000,
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def signin_request(self, expires_at: int | None = None, gateway: str | None = None, client: str = CLIENT_ID) -> str:
        query = urlencode(
            {
                "v": "1",
                "gw": gateway or self.url,
                "cid": client,
                "mbx": b64u(secrets.token_bytes(16)),
                "kid": THUMBPRINT,
                "exp": str(expires_at or int(time.time()) + 120),
                "nonce": b64u(secrets.token_bytes(12)),
            }
        )
        return "sealgate:signin?" + query


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payload(gateway: StandInGateway, **changes) -> bytes:
    body = {"v": 1, "signin_request": gateway.signin_request(), "client_name": "Interop Shop", "binding_message": "K7-42"}
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


@pytest.fixture()
def gateway() -> StandInGateway:
    stand_in = StandInGateway()
    yield stand_in
    stand_in.server.shutdown()


def register(sealgate: Sealgate, gateway: StandInGateway, device: Path, endpoint: str) -> dict:
    handle = sealgate.ok("device", "register", gateway.signin_request(), "--endpoint", endpoint, "--device", str(device))
    assert handle.decode().strip().startswith("dh_")
    assert oct(device.stat().st_mode & 0o777) == "0o600"
    subscription = gateway.subscriptions[-1]
    assert subscription["endpoint"] == endpoint
    assert set(subscription["keys"]) == {"p256dh", "auth"}
    return subscription


def test_pywebpush_sends_to_the_listening_device(sealgate: Sealgate, gateway: StandInGateway, tmp_path: Path) -> None:
    device, saved = tmp_path / "device.json", tmp_path / "message.bin"
    endpoint = f"http://127.0.0.1:{free_port()}/push/interop"
    subscription = register(sealgate, gateway, device, endpoint)

    listen = subprocess.Popen(
        [str(sealgate.binary), "device", "listen", "--device", str(device), "--save-to", str(saved), "--timeout", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = listen.stderr.readline().decode()
        assert line.startswith(f"listening on {endpoint}"), line
        data = payload(gateway)
        response = webpush(
            subscription_info=subscription,
            data=data,
            vapid_private_key=gateway.vapid,
            vapid_claims={"sub": "mailto:ops@example.com"},
            ttl=60,
        )
        assert response.status_code == 201
        out, err = listen.communicate(timeout=RUN_TIMEOUT)
    finally:
        listen.kill()
    assert listen.returncode == 0, err.decode()
    assert "VAPID present" in err.decode()
    shown = json.loads(out.decode().strip().splitlines()[-1])
    assert shown["client_name"] == "Interop Shop"
    assert shown["binding_message"] == "K7-42"
    assert shown["signin_request"] == json.loads(data)["signin_request"]
    # The saved body opens again, as a script would open it.
    again = json.loads(sealgate.ok("device", "open", str(saved), "--device", str(device)))
    assert again == shown


def test_encoded_messages_open_and_every_bad_one_is_refused(sealgate: Sealgate, gateway: StandInGateway, tmp_path: Path) -> None:
    device, other = tmp_path / "device.json", tmp_path / "other.json"
    subscription = register(sealgate, gateway, device, "https://push.example.net/send/1")
    register(sealgate, gateway, other, "https://push.example.net/send/2")

    def encode(data: bytes) -> Path:
        body = WebPusher(subscription).encode(data, content_encoding="aes128gcm")["body"]
        path = tmp_path / f"m{secrets.token_hex(4)}.bin"
        path.write_bytes(body)
        return path

    good = encode(payload(gateway, binding_message=None))
    shown = json.loads(sealgate.ok("device", "open", str(good), "--device", str(device)))
    assert shown["binding_message"] is None and shown["client_name"] == "Interop Shop"
    # From stdin too.
    assert json.loads(sealgate.ok("device", "open", "-", "--device", str(device), stdin=good.read_bytes())) == shown

    def refused(path: Path, status: int = 1, device_file: Path = device) -> str:
        proc = sealgate.run("device", "open", str(path), "--device", str(device_file))
        assert proc.returncode == status, (path, proc.stderr)
        assert proc.stdout == b""
        return proc.stderr.decode()

    assert "push message" in refused(good, device_file=other)
    body = good.read_bytes()
    for at in [0, 20, 40, 86, len(body) - 1]:
        tampered = tmp_path / f"t{at}.bin"
        tampered.write_bytes(body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :])
        assert "push message" in refused(tampered)
    assert "another gateway or website" in refused(encode(payload(gateway, signin_request=gateway.signin_request(client="c_other"))))
    assert "another gateway or website" in refused(
        encode(payload(gateway, signin_request=gateway.signin_request(gateway="https://evil.example")))
    )
    assert "expired" in refused(encode(payload(gateway, signin_request=gateway.signin_request(int(time.time()) - 1))), 3)
    for bad in [
        payload(gateway, v=2),
        payload(gateway, extra="member"),
        payload(gateway, binding_message="K7\x1b[2J"),
        payload(gateway, binding_message="x" * 65),
        b"not json",
    ]:
        assert "push payload" in refused(encode(bad))
