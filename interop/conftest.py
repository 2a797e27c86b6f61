"""Fixtures for the interoperability tests: locating the `sealgate` binary and running it.

The binary is `$SEALGATE_BIN` when that is set, else `<repo>/target/debug/sealgate`
(`cargo build -p sealgate-cli`). A missing binary fails every test with a message saying how to
build it; the tests never skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Seconds one `sealgate` invocation may take before the test fails.
RUN_TIMEOUT = 30


class Sealgate:
    """Runs the offline subcommands of one `sealgate` binary."""

    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
        """Runs `sealgate ARGS...` with `stdin`, returning the completed process (bytes)."""
        return subprocess.run(
            [str(self.binary), *args],
            input=stdin,
            capture_output=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )

    def ok(self, *args: str, stdin: bytes = b"") -> bytes:
        """Runs `sealgate ARGS...` and returns its stdout; fails the test on a non-zero exit."""
        proc = self.run(*args, stdin=stdin)
        if proc.returncode != 0:
            pytest.fail(
                f"sealgate {' '.join(args)} exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace').strip()}",
                pytrace=False,
            )
        return proc.stdout

    def keygen(self, directory: Path, alg: str, name: str = "key") -> tuple[dict, dict, Path]:
        """`sealgate keygen --out FILE --alg ALG`: returns (public JWK, private JWK, FILE)."""
        path = directory / f"{name}-{alg}.private.jwk"
        public = json.loads(self.ok("keygen", "--out", str(path), "--alg", alg))
        private = json.loads(path.read_text())
        return public, private, path

    def seal(self, to: Path, plaintext: bytes, *flags: str) -> str:
        """`sealgate seal --to FILE [FLAGS]`: returns the compact JWE, without its newline."""
        out = self.ok("seal", "--to", str(to), *flags, stdin=plaintext).decode("ascii")
        assert out.endswith("\n") and out.count("\n") == 1, f"seal printed {out!r}"
        return out[:-1]

    def open(self, key: Path, compact: str) -> subprocess.CompletedProcess:
        """`sealgate open --key FILE` with `compact` on stdin: the completed process."""
        return self.run("open", "--key", str(key), stdin=compact.encode("ascii") + b"\n")


def _find_binary() -> Path:
    configured = os.environ.get("SEALGATE_BIN")
    binary = Path(configured) if configured else REPO / "target" / "debug" / "sealgate"
    source = "$SEALGATE_BIN" if configured else "the default path"
    if not binary.is_file():
        pytest.fail(
            f"sealgate binary not found at {binary} ({source}); build it with "
            f"`cargo build -p sealgate-cli` in {REPO}, or set SEALGATE_BIN to its path",
            pytrace=False,
        )
    if not os.access(binary, os.X_OK):
        pytest.fail(f"sealgate binary at {binary} ({source}) is not executable", pytrace=False)
    return binary


@pytest.fixture(scope="session")
def sealgate() -> Sealgate:
    """The `sealgate` binary under test; fails (never skips) when it cannot be found."""
    return Sealgate(_find_binary())
