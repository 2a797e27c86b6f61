#!/usr/bin/env bash
# The chaos soak (docs/reliability.md): two gateways behind a loopback TCP balancer on one
# private redis-server (AOF, appendfsync always), steady sign-in load through the Rust SDK (half
# the apps long-poll, half receive webhooks), SIGKILL and restart of a gateway or Redis every
# 5-15 s at seeded random moments; then every envelope is accounted for. Exits non-zero if one
# was lost or duplicated. Everything runs on 127.0.0.1 and is stopped at the end.
#
# Usage: benches/soak.sh [sealgate-soak flags]   e.g. --duration 600 --seed 42
#   (sealgate-soak --help lists them: --duration, --seed, --rate, --ttl, --json, ...)
# Environment:
#   SOAK_PROFILE=release   the build the gateway and the soak run from; `debug` uses (and
#                          builds if needed) the debug binaries, as scripts/test.sh does
#
# Requires redis-server and redis-cli (Debian: redis-server); installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${SOAK_PROFILE:-release}
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  as_root=()
  if [ "$(id -u)" != 0 ]; then as_root=(sudo -n); fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq redis-server >/dev/null
fi

case "$profile" in
  release) cargo build --release --locked -p sealgate-cli --bin sealgate -p sealgate-bench --bin sealgate-soak ;;
  debug) cargo build --locked -p sealgate-cli --bin sealgate -p sealgate-bench --bin sealgate-soak ;;
  *) echo "soak: SOAK_PROFILE is release or debug, not '$profile'" >&2; exit 2 ;;
esac
exec "target/$profile/sealgate-soak" --gateway "target/$profile/sealgate" "$@"
