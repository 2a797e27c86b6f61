"""Webhook signatures checked by the independent `standardwebhooks` Python package.

A real `sealgate serve` (memory store, `--allow-insecure-webhooks --allow-private-webhooks`)
delivers to a receiver written here with `http.server` on loopback. The receiver verifies
every delivery with `standardwebhooks.Webhook(secret).verify(body, headers)`, which shares no
code with sealgate. The tests register a client over HTTP with a key made by `sealgate keygen`,
open a mailbox, seal with `sealgate seal --aud --mbx --exp`, deposit, and check that:

1. the delivery verifies, carries the envelope byte for byte (which `sealgate open` opens to
   the token), and the package's own `sign` reproduces the gateway's `v1,` signature;
2. a changed body, `webhook-id` or `webhook-timestamp`, or another secret, fails verification;
3. the mailbox is consumed by the delivery (a poll then gets 404);
4. after `POST /v1/clients/{id}/webhook/secret`, a delivery carries two `v1,` signatures and
   verifies with the old secret alone and with the new one alone.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

#: How long a delivery may take to arrive, seconds.
DELIVERY_TIMEOUT = 15


# ------------------------------------------------------------------------------- the receiver


class Receiver:
    """A webhook endpoint on 127.0.0.1 that verifies every delivery with `standardwebhooks`."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.deliveries: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver.lock:
                    current = list(receiver.secrets)
                verified = []
                for secret in current:
                    try:
                        verified.append(Webhook(secret).verify(body, headers))
                    except WebhookVerificationError as error:
                        verified.append(error)
                ok = bool(current) and all(not isinstance(v, Exception) for v in verified)
                with receiver.lock:
                    receiver.deliveries.append(
                        {"headers": headers, "body": body, "verified": verified, "ok": ok}
                    )
                self.send_response(204 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n: int) -> list[dict]:
        """Waits until `n` deliveries arrived; returns them all."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.deliveries) >= n:
                    return list(self.deliveries)
            time.sleep(0.05)
        pytest.fail(f"{n} webhook deliveries did not arrive within {DELIVERY_TIMEOUT} s")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -------------------------------------------------------------------------------- the gateway


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gateway:
    """`sealgate serve` on loopback ports, and a tiny HTTP client for it."""

    def __init__(self, binary: Path, log: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")}
        for _ in range(5):
            port, metrics = free_port(), free_port()
            self.base = f"http://127.0.0.1:{port}"
            self.log = log.open("wb")
            self.proc = subprocess.Popen(
                [str(binary), "serve", "--listen", f"127.0.0.1:{port}",
                 "--metrics-listen", f"127.0.0.1:{metrics}", "--allow-insecure-webhooks",
                 "--allow-private-webhooks", "--deposits-per-ip", "0", "--log", "warn"],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env,
            )
            if self._wait_until_up():
                return
            self.stop()
        pytest.fail(f"sealgate serve did not start: {log.read_text(errors='replace')}")

    def _wait_until_up(self) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def call(self, method: str, path: str, body: bytes | None = None,
             content_type: str | None = None, auth: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.base}{path}", data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if auth:
            request.add_header("Authorization", auth)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, method: str, path: str, expect: int, value: object | None = None,
             auth: str | None = None) -> dict:
        body = None if value is None else json.dumps(value).encode()
        status, answer = self.call(method, path, body, "application/json" if body else None,
                                   auth)
        assert status == expect, f"{method} {path}: {status} {answer!r}"
        return json.loads(answer)


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="module")
def gateway(sealgate, tmp_path_factory):
    gateway = Gateway(sealgate.binary, tmp_path_factory.mktemp("serve") / "sealgate.log")
    try:
        yield gateway
    finally:
        gateway.stop()


class App:
    """A client registered with a webhook: its credentials, key files and webhook secret."""

    def __init__(self, gateway: Gateway, sealgate, receiver: Receiver, directory: Path):
        public, _, self.private_path = sealgate.keygen(directory, "HPKE-4", "app")
        self.public_path = directory / "app.public.jwk"
        self.public_path.write_text(json.dumps(public))
        answer = gateway.json("POST", "/v1/clients", 201, {
            "name": "standardwebhooks interop",
            "jwks": {"keys": [public]},
            "webhook_url": receiver.url,
        })
        self.client_id = answer["client_id"]
        credentials = f"{self.client_id}:{answer['client_secret']}".encode()
        self.auth = "Basic " + base64.b64encode(credentials).decode()
        self.webhook_secret = answer["webhook_secret"]
        assert self.webhook_secret.startswith("whsec_")
        assert answer["webhook"] == {"url": receiver.url, "disabled": False,
                                     "disabled_at": None, "secrets": 1}


def deposit(gateway: Gateway, sealgate, app: App, token: bytes) -> tuple[str, str]:
    """Opens a mailbox, seals `token` to it with `sealgate seal`, deposits; (mailbox, envelope)."""
    mailbox = gateway.json("POST", "/v1/mailboxes", 201, {"ttl": 120}, auth=app.auth)
    expires = datetime.fromisoformat(mailbox["expires_at"].replace("Z", "+00:00"))
    envelope = sealgate.seal(app.public_path, token, "--aud", app.client_id,
                             "--mbx", mailbox["mailbox_id"], "--exp", str(int(expires.timestamp())))
    status, answer = gateway.call("PUT", f"/v1/mailboxes/{mailbox['mailbox_id']}",
                                  envelope.encode(), "application/jose")
    assert status == 201, answer
    return mailbox["mailbox_id"], envelope


def random_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# ------------------------------------------------------------------------------------- tests


def test_a_delivery_verifies_with_standardwebhooks(gateway, sealgate, receiver, tmp_path):
    app = App(gateway, sealgate, receiver, tmp_path)
    with receiver.lock:
        receiver.secrets = [app.webhook_secret]
        before = len(receiver.deliveries)
    token = b"eyJhbGciOiJFZERTQSJ9." + secrets.token_urlsafe(64).encode() + b".sig"
    mailbox_id, envelope = deposit(gateway, sealgate, app, token)
    delivery = receiver.wait_for(before + 1)[before]
    assert delivery["ok"], delivery["verified"]

    payload = delivery["verified"][0]
    assert payload["type"] == "envelope.deposited"
    assert payload["data"] == {"client_id": app.client_id, "mailbox_id": mailbox_id,
                               "envelope": envelope}
    assert token not in delivery["body"]
    headers = delivery["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 1 and signatures[0].startswith("v1,")

    # The package's own signer gives the gateway's signature.
    hook = Webhook(app.webhook_secret)
    at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc)
    assert hook.sign(headers["webhook-id"], at, delivery["body"].decode()) == signatures[0]

    # Anything changed fails.
    body = delivery["body"]
    tampered = body.replace(b'"envelope.deposited"', b'"envelope.deposiTed"')
    assert tampered != body
    for changed_body, changed_headers in [
        (tampered, headers),
        (body + b" ", headers),
        (body, {**headers, "webhook-id": headers["webhook-id"] + "x"}),
        (body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}),
    ]:
        with pytest.raises(WebhookVerificationError):
            hook.verify(changed_body, changed_headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(random_secret()).verify(body, headers)

    # `sealgate open` opens the delivered envelope to the token.
    opened = sealgate.open(app.private_path, payload["data"]["envelope"])
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == token

    # The 2xx consumed the mailbox.
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        status, _ = gateway.call("GET", f"/v1/mailboxes/{mailbox_id}", auth=app.auth)
        if status == 404 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 404


def test_both_secrets_verify_during_a_rotation(gateway, sealgate, receiver, tmp_path):
    app = App(gateway, sealgate, receiver, tmp_path)
    old = app.webhook_secret
    rotated = gateway.json("POST", f"/v1/clients/{app.client_id}/webhook/secret", 200,
                           auth=app.auth)
    new = rotated["webhook_secret"]
    assert new.startswith("whsec_") and new != old
    record = gateway.json("GET", f"/v1/clients/{app.client_id}", 200, auth=app.auth)
    assert record["webhook"]["secrets"] == 2

    with receiver.lock:
        receiver.secrets = [old, new]
        before = len(receiver.deliveries)
    mailbox_id, envelope = deposit(gateway, sealgate, app, b"rotation token")
    delivery = receiver.wait_for(before + 1)[before]
    assert delivery["ok"], delivery["verified"]
    assert all(v["data"]["envelope"] == envelope for v in delivery["verified"])
    signatures = delivery["headers"]["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (old, new):
        assert Webhook(secret).verify(delivery["body"], delivery["headers"])["data"][
            "mailbox_id"] == mailbox_id
    with pytest.raises(WebhookVerificationError):
        Webhook(random_secret()).verify(delivery["body"], delivery["headers"])
