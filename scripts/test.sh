#!/usr/bin/env bash
# The test command: everything the tests need is installed or started here, then every suite
# runs. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "build"
cargo build --workspace --all-targets --locked

step "Rust tests (unit, known-answer, integration, doc)"
cargo test --workspace --locked

step "the offline CLI example from the README"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sealgate="$root/target/debug/sealgate"
out=$(cd "$tmp" && "$sealgate" keygen --out k.jwk > pub.jwk && printf token | "$sealgate" seal --to pub.jwk | "$sealgate" open --key k.jwk)
if [ "$out" != "token" ]; then
  echo "the README's CLI example printed '$out', not 'token'" >&2
  exit 1
fi
echo "keygen | seal | open printed: $out"

step "interoperability with independent implementations (Python)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || { echo "python3 -m venv failed: install python3-venv" >&2; exit 1; }
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r interop/requirements.txt
SEALGATE_BIN="$sealgate" "$venv/bin/python" -m pytest -q interop
