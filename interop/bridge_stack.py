# Runs a loopback sealgate stack (gateway, test issuer, bridge, Flask example) for interop/test_bridge.py.
"""The processes behind interop/test_bridge.py, each on 127.0.0.1 with a free port.

- `Gateway`: `sealgate serve` (memory store, open registration on loopback);
- `Issuer`: the `test_issuer` example, standing in for the phone's identity provider: it
  writes its JWKS, prints `ready`, then answers each `AUDIENCE NONCE` line with an ID token;
- `Bridge`: `sealgate bridge` with a config written here (one confidential client, the
  Flask example; one trusted issuer);
- `FlaskApp`: examples/flask/app.py under Flask's development server;
- `Phone`: what the identity app does with a sign-in request URI: it asks the issuer for a
  token bound to the URI's `cid` and `nonce` and hands it to `sealgate send`.

Every process logs to a file in the stack's directory; `Stack.stop` ends them all.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
FLASK_APP = REPO / "examples" / "flask" / "app.py"

#: How long a process may take to come up, seconds.
START_TIMEOUT = 30

TRUSTED_ISSUER = "https://issuer.demo.invalid"
CLIENT_ID = "flask-demo"
CLIENT_SECRET = "flask-demo-secret-0123456789"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_issuer_binary(sealgate_bin: Path) -> Path:
    """The `test_issuer` example beside the `sealgate` binary (`cargo build -p sealgate-client
    --example test_issuer`)."""
    return Path(sealgate_bin).parent / "examples" / "test_issuer"


class Process:
    """One child process with its output in a log file."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict | None = None,
                 pipes: bool = False):
        self.name = name
        self.log = log
        self.args = args
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else self._log_file,
            stderr=self._log_file,
            env={**os.environ, **(env or {})},
        )

    def log_text(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def wait_http(self, url: str, timeout: float = START_TIMEOUT) -> None:
        """Waits until GET `url` answers 200; raises with the log when it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not up at {url} after {timeout}s:\n{self.log_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream:
                stream.close()
        self._log_file.close()


class Gateway(Process):
    """`sealgate serve` on loopback (memory store)."""

    def __init__(self, sealgate_bin: Path, directory: Path):
        self.port, self.metrics_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        super().__init__("gateway", [
            str(sealgate_bin), "serve", "--listen", f"127.0.0.1:{self.port}",
            "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
        ], directory / "gateway.log", env={"SEALGATE_LOG": "info"})
        self.wait_http(f"{self.base}/healthz")


class Issuer(Process):
    """The `test_issuer` example: one signed ID token per `AUDIENCE NONCE` line."""

    def __init__(self, binary: Path, directory: Path, issuer: str = TRUSTED_ISSUER,
                 name: str = "issuer"):
        self.issuer = issuer
        self.jwks = directory / f"{name}.jwks"
        super().__init__(name, [
            str(binary), "--jwks-out", str(self.jwks), "--issuer", issuer,
            "--subject", "alice", "--claim", "name=Alice Example",
            "--claim", "email=alice@example.com", "--claim", "email_verified=true",
        ], directory / f"{name}.log", pipes=True)
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            raise RuntimeError(f"{name} printed {line!r}, not ready:\n{self.log_text()}")

    def token(self, audience: str, nonce: str) -> str:
        """An ID token for `audience` with `nonce`."""
        self.proc.stdin.write(f"{audience} {nonce}\n".encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError(f"{self.name} gave no token:\n{self.log_text()}")
        return line


class Bridge(Process):
    """`sealgate bridge` with its own directory (config, credentials, signing key)."""

    def __init__(self, sealgate_bin: Path, directory: Path, gateway: Gateway, issuer: Issuer,
                 redirect_uri: str, signin_ttl_secs: int = 120, name: str = "bridge"):
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.directory = directory
        (directory / "issuer.jwks").write_bytes(issuer.jwks.read_bytes())
        self.config = directory / "bridge.toml"
        self.config.write_text(f'''# {name}: the OpenID Provider the Flask example signs in through.
issuer = "{self.base}"
listen = "127.0.0.1:{self.port}"
gateway = "{gateway.base}"
credentials = "gw-credentials.json"
signing_key = "signing.pem"
signin_ttl_secs = {signin_ttl_secs}

[[clients]]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
redirect_uris = ["{redirect_uri}"]
name = "Flask demo"

[[trusted_issuers]]
issuer = "{issuer.issuer}"
jwks_file = "issuer.jwks"
''')
        super().__init__(name, [str(sealgate_bin), "bridge", "--config", str(self.config),
                                "--log-format", "text"],
                         directory / f"{name}.log", env={"SEALGATE_LOG": "info"})
        self.wait_http(f"{self.base}/healthz")


class FlaskApp(Process):
    """examples/flask/app.py on its own port, pointed at a bridge."""

    def __init__(self, directory: Path, port: int, issuer: str):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        super().__init__("flask", [sys.executable, str(FLASK_APP)], directory / "flask.log", env={
            "BRIDGE_ISSUER": issuer, "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
            "PORT": str(port), "PYTHONUNBUFFERED": "1",
        })
        self.wait_http(f"{self.base}/")


def parse_signin_uri(uri: str) -> dict[str, str]:
    """The query members of a `sealgate:signin?…` URI, URL-decoded."""
    scheme, _, query = uri.partition(":")
    path, _, query = query.partition("?")
    assert scheme == "sealgate" and path == "signin", f"not a sign-in request URI: {uri!r}"
    return dict(urllib.parse.parse_qsl(query, strict_parsing=True))


class Phone:
    """The identity app: gets a token from an issuer and delivers it with `sealgate send`."""

    def __init__(self, sealgate_bin: Path, directory: Path):
        self.sealgate_bin = sealgate_bin
        self.directory = directory
        self.count = 0

    def send_token(self, uri: str, token: str) -> subprocess.CompletedProcess:
        """`sealgate send URI --token-file FILE` with `token` in FILE."""
        self.count += 1
        path = self.directory / f"token-{self.count}.jwt"
        path.write_text(token)
        return subprocess.run([str(self.sealgate_bin), "send", uri, "--token-file", str(path)],
                              capture_output=True, timeout=30, check=False)

    def approve(self, uri: str, issuer: Issuer, nonce: str | None = None) -> subprocess.CompletedProcess:
        """Asks `issuer` for a token bound to the URI's `cid` and `nonce` (or `nonce` given
        here) and sends it."""
        fields = parse_signin_uri(uri)
        return self.send_token(uri, issuer.token(fields["cid"], nonce or fields["nonce"]))


class Stack:
    """Gateway, trusted issuer, bridge and Flask example, started in that order."""

    def __init__(self, sealgate_bin: Path, directory: Path):
        self.sealgate_bin = Path(sealgate_bin)
        self.directory = directory
        self.processes: list[Process] = []
        issuer_bin = test_issuer_binary(self.sealgate_bin)
        if not issuer_bin.is_file():
            raise RuntimeError(f"test_issuer not found at {issuer_bin}; build it with "
                               "`cargo build -p sealgate-client --example test_issuer`")
        self.issuer_bin = issuer_bin
        try:
            self.gateway = self._add(Gateway(self.sealgate_bin, directory))
            self.issuer = self._add(Issuer(issuer_bin, directory))
            flask_port = free_port()
            self.redirect_uri = f"http://127.0.0.1:{flask_port}/callback"
            self.bridge = self._add(Bridge(self.sealgate_bin, directory / "bridge",
                                           self.gateway, self.issuer, self.redirect_uri))
            self.flask = self._add(FlaskApp(directory, flask_port, self.bridge.base))
        except BaseException:
            self.stop()
            raise
        self.phone = Phone(self.sealgate_bin, directory)

    def _add(self, process: Process) -> Process:
        self.processes.append(process)
        return process

    def start_issuer(self, issuer: str, name: str) -> Issuer:
        """Another test issuer (stopped with the stack)."""
        return self._add(Issuer(self.issuer_bin, self.directory, issuer=issuer, name=name))

    def start_bridge(self, name: str, signin_ttl_secs: int) -> Bridge:
        """Another bridge on the same gateway with its own directory (stopped with the stack)."""
        return self._add(Bridge(self.sealgate_bin, self.directory / name, self.gateway,
                                self.issuer, self.redirect_uri, signin_ttl_secs, name=name))

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_text()[-4000:]}" for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
