"""The API fuzz run: schemathesis against a live gateway's `/openapi.json`.

Starts `sealgate serve` (memory store) on a free loopback port with its rate limits off, a
local webhook receiver, registers two clients (the run's, and another whose credentials must
be refused on the first one's routes), and runs `schemathesis run` with every check and
every phase (examples, coverage, fuzzing, stateful through the document's links), its settings
in interop/fuzz/schemathesis.toml and its hooks in interop/fuzz/hooks.py. Exits with
schemathesis's status, or 1 when the gateway failed to start, logged a panic or stopped during
the run. Prints the run's figures at the end.

Usage: .venv/bin/python interop/fuzz/fuzz_api.py [SCHEMATHESIS-OPTION...]
(scripts/fuzz-api.sh installs and builds first). Options are passed to `schemathesis run`, for
example `--seed 7 --max-examples 200` to explore beyond the CI run. The binary is
`$SEALGATE_BIN`, else target/debug/sealgate.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

#: The gateway's settings for the run: the API's limits as they ship, except the rate limits
#: and caps a fuzzer would hit by volume (so that no answer is a 429 or 403 at all) and the
#: long-poll wait, capped at 1 s so that a generated `wait` costs at most a second.
GATEWAY_FLAGS = [
    "--store", "memory",
    "--registrations-per-ip", "0",
    "--deposits-per-ip", "0",
    "--mailboxes-per-client", "0",
    "--max-open-mailboxes", "1000000",
    "--max-waiters-per-client", "100000",
    "--max-waiters", "0",
    "--max-clients", "0",
    "--device-registrations-per-ip", "0",
    "--max-devices", "0",
    "--max-wait", "1",
    # Webhook URLs of the run point at the local receiver below.
    "--allow-insecure-webhooks",
    "--allow-private-webhooks",
]

#: Seconds the gateway gets to answer its first /healthz.
START_TIMEOUT = 30

#: Seconds schemathesis may run: the run's time bound. Its case counts are fixed by the
#: seed and the example counts (schemathesis.toml); a run past this is stopped and fails.
RUN_TIMEOUT = 170


class Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint that takes every delivery."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port() -> int:
    """A loopback port nothing listens on now (the gateway binds it next; a race is retried)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gateway(binary: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`sealgate serve` on a free port; returns the process and its base URL."""
    for _ in range(10):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(log_path, "wb")
        process = subprocess.Popen(
            [str(binary), "serve", "--listen", f"127.0.0.1:{port}",
             "--metrics-listen", "127.0.0.1:0", "--public-url", base, "--log", "warn",
             *GATEWAY_FLAGS],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return process, base
            except OSError:
                time.sleep(0.1)
        process.kill()
        process.wait()
    sys.exit(f"fuzz: sealgate serve did not start; see {log_path}:\n{log_path.read_text()}")


def register(base: str) -> tuple[str, str, str]:
    """Registers a client with a fresh X25519 key: (client_id, client_secret, kid)."""
    raw = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    body = json.dumps({"client_name": "fuzz", "jwks": {"keys": [
        {"kty": "OKP", "crv": "X25519", "x": x, "use": "enc", "alg": "HPKE-4"}]}}).encode()
    request = urllib.request.Request(f"{base}/v1/clients", data=body, method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        registered = json.load(answer)
    return (registered["client_id"], registered["client_secret"],
            registered["jwks"]["keys"][0]["kid"])


def figures(report: Path) -> str:
    """The run's figures from schemathesis's NDJSON event stream: cases per phase, operations
    and checks exercised, stateful scenarios, and the failing (check, operation) pairs."""
    cases: dict[str, int] = {}
    operations: set[str] = set()
    checks: set[str] = set()
    failures: set[tuple[str, str]] = set()
    scenarios = 0
    for line in report.read_text().splitlines():
        data = json.loads(line).get("ScenarioFinished")
        if data is None:
            continue
        phase, recorder = data.get("phase", "?"), data.get("recorder", {})
        cases[phase] = cases.get(phase, 0) + len(recorder.get("cases", {}))
        scenarios += phase == "stateful"
        if phase != "stateful":
            operations.add(recorder.get("label", "?"))
        for results in recorder.get("checks", {}).values():
            for result in results:
                checks.add(result.get("name", "?"))
                if result.get("status") == "failure":
                    failures.add((result.get("name", "?"), recorder.get("label", "?")))
    per_phase = ", ".join(f"{phase} {count}" for phase, count in sorted(cases.items()))
    lines = [
        f"{sum(cases.values())} cases ({per_phase}) over {len(operations)} operations; "
        f"{scenarios} stateful scenarios; {len(checks)} checks ({', '.join(sorted(checks))}); "
        f"{len(failures)} failing (check, operation) pairs",
        *(f"  failing: {name} on {label}" for name, label in sorted(failures)),
    ]
    return "\n".join(lines)


def main() -> int:
    binary = Path(os.environ.get("SEALGATE_BIN") or REPO / "target/debug/sealgate")
    if not binary.is_file():
        sys.exit(f"fuzz: {binary} is missing: cargo build -p sealgate-cli")
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with tempfile.TemporaryDirectory(prefix="sealgate-fuzz-") as tmp:
        tmp = Path(tmp)
        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        log_path = tmp / "serve.log"
        gateway, base = start_gateway(binary, log_path)
        try:
            client_id, secret, kid = register(base)
            other_id, other_secret, _ = register(base)
            env = {
                **os.environ,
                "PYTHONPATH": str(HERE),
                "SCHEMATHESIS_HOOKS": "hooks",
                "SEALGATE_FUZZ_CLIENT_ID": client_id,
                "SEALGATE_FUZZ_CLIENT_SECRET": secret,
                "SEALGATE_FUZZ_KID": kid,
                "SEALGATE_FUZZ_OTHER_ID": other_id,
                "SEALGATE_FUZZ_OTHER_SECRET": other_secret,
                "SEALGATE_FUZZ_WEBHOOK_URL":
                    f"http://127.0.0.1:{receiver.server_address[1]}/webhook",
            }
            report = tmp / "events.ndjson"
            command = [str(schemathesis), "--config-file", str(HERE / "schemathesis.toml"),
                       "run", f"{base}/openapi.json", "--report", "ndjson",
                       "--report-ndjson-path", str(report), "--no-color", *sys.argv[1:]]
            try:
                status = subprocess.run(command, env=env, cwd=tmp, check=False,
                                        timeout=RUN_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                print(f"fuzz: schemathesis took longer than {RUN_TIMEOUT} s and was stopped")
                status = 1
            if report.exists():
                print(f"fuzz: {figures(report)}")
            if gateway.poll() is not None:
                print(f"fuzz: the gateway stopped during the run (status {gateway.returncode})")
                status = status or 1
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)
            receiver.shutdown()
        log = log_path.read_text(errors="replace")
        if "panicked" in log:
            print(f"fuzz: the gateway panicked:\n{log}")
            status = status or 1
    print("fuzz: passed" if status == 0 else f"fuzz: FAILED (status {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
