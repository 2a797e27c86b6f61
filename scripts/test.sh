#!/usr/bin/env bash
# The test command: everything the tests need is installed or started here, then every suite
# runs. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "build"
cargo build --workspace --all-targets --locked

step "Redis for the store tests: redis-server, redis-cli, and a node on 127.0.0.1:6379"
# The Redis tests never skip: without Redis they fail. Here it is installed (Debian package
# redis-server) when missing, and started when nothing answers on 127.0.0.1:6379. Tests that
# kill Redis, and the cluster tests, start their own redis-server on free loopback ports.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  as_root=()
  if [ "$(id -u)" != 0 ]; then as_root=(sudo -n); fi
  if command -v apt-get >/dev/null 2>&1 \
    && "${as_root[@]}" apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq redis-server >/dev/null; then
    echo "installed $(redis-server --version)"
  else
    echo "redis-server and redis-cli are missing and could not be installed:" \
      "install the Debian package redis-server (apt-get install -y redis-server)" >&2
    exit 1
  fi
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  redis-server --daemonize yes --port 6379 --bind 127.0.0.1 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/sealgate-test-redis.log
  for _ in $(seq 100); do
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    echo "redis-server did not answer on 127.0.0.1:6379; see /tmp/sealgate-test-redis.log" >&2
    exit 1
  fi
fi
echo "$(redis-server --version | cut -d' ' -f1-3) answers on 127.0.0.1:6379"

step "Rust tests (unit, known-answer, integration, doc)"
cargo test --workspace --locked

step "sealgate-crypto on its pure-Rust X25519 backend (feature pure-rust, no aws-lc)"
cargo test -p sealgate-crypto --locked --no-default-features --features pure-rust

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

step "deploy/: every file validated, and a live two-instance deployment scraped by Prometheus" && deploy/validate.sh
step "load generator smoke: each sealgate-load scenario for 3 s against a debug gateway, zero errors" && benches/smoke.sh
step "chaos soak: 60 s of sign-ins on two debug gateways and Redis, both killed and restarted, every envelope accounted for" && SOAK_PROFILE=debug benches/soak.sh --duration 60 --seed 17

step "end-to-end demo: sealgate serve, register, request, a simulated phone sends, the app verifies" && examples/demo.sh

step "Chromium and ChromeDriver for the browser tests (Debian's chromium, chromium-driver)"
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  as_root=()
  if [ "$(id -u)" != 0 ]; then as_root=(sudo -n); fi
  if command -v apt-get >/dev/null 2>&1 \
    && "${as_root[@]}" apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null; then
    echo "installed $(/usr/bin/chromium --version)"
  else
    echo "/usr/bin/chromium or /usr/bin/chromedriver is missing and could not be installed: apt-get install -y chromium chromium-driver" >&2
    exit 1
  fi
fi

step "interoperability with independent implementations (Python)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || { echo "python3 -m venv failed: install python3-venv" >&2; exit 1; }
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r interop/requirements.txt
SEALGATE_BIN="$sealgate" "$venv/bin/python" -m pytest -q interop

step "API fuzzing: schemathesis against a live gateway's /openapi.json, every check, stateful links (docs/api.md, Fuzzing)"
# Never skips: scripts/fuzz-api.sh fails when schemathesis cannot be installed.
SEALGATE_BIN="$sealgate" scripts/fuzz-api.sh

step "JavaScript package @sealgate/client (client-sdk/js): vectors, shared rejections, interop with the CLI and pyhpke, a real gateway, headless Chromium"
# Never skips: node and npm must be there (Chromium was installed above).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are missing: install Node.js 20 or later" >&2
  exit 1
fi
(cd client-sdk/js && npm ci --no-audit --no-fund --silent \
  && SEALGATE_BIN="$sealgate" SEALGATE_PYTHON="$venv/bin/python" npm test)

step "the bridge with openid-client v6 (bridge/tests/node): discovery, code flow with PKCE, ID token and userinfo checked by the library, refusals"
(cd bridge/tests/node && npm ci --no-audit --no-fund --silent \
  && SEALGATE_BIN="$sealgate" npm test)
