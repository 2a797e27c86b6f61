#!/usr/bin/env bash
# CI smoke test of the load generator: every sealgate-load scenario runs for 3 seconds against a
# debug gateway (memory store, rate limits off) on free loopback ports, and must count zero
# errors. It catches breakage in the load generator and the API paths it drives; it asserts no
# timing. Usage: benches/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked -p sealgate-cli --bin sealgate -p sealgate-bench --bin sealgate-load
gateway_bin=target/debug/sealgate
load_bin=target/debug/sealgate-load

tmp=$(mktemp -d)
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Port 0: the gateway binds free ports and logs them. The load generator registers its
# clients from one address and may hold more long-polls than the default global cap: both
# limits off (as variables, which binaries older than the limits ignore). The log in text, whose
# start line is read below, without the line per request.
SEALGATE_LOG_FORMAT=text SEALGATE_LOG=info,sealgate::request=warn \
SEALGATE_REGISTRATIONS_PER_IP=0 SEALGATE_MAX_WAITERS=0 "$gateway_bin" serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --store memory \
  --deposits-per-ip 0 --mailboxes-per-client 0 >"$tmp/gateway.log" 2>&1 &
gateway_pid=$!
line=""
for _ in $(seq 200); do
  line=$(sed 's/\x1b\[[0-9;]*m//g' "$tmp/gateway.log" | grep 'sealgate serving' || true)
  [ -n "$line" ] && break
  sleep 0.05
done
if [ -z "$line" ]; then
  echo "load-smoke: the gateway did not start:" >&2
  cat "$tmp/gateway.log" >&2
  exit 1
fi
target=http://$(grep -o 'api_addr=[^ ]*' <<<"$line" | cut -d= -f2)
metrics=http://$(grep -o 'metrics_addr=[^ ]*' <<<"$line" | cut -d= -f2)
echo "gateway (debug build, memory store) at $target, metrics at $metrics"

passed=0
failed=0
# smoke NAME ARGS...: one 3-second run; passes with at least one flow and no error.
smoke() {
  local name=$1
  shift
  local out="$tmp/$name.json"
  if ! "$load_bin" --json --duration 3 --warmup 0.5 --gateway-pid "$gateway_pid" "$@" >"$out" \
    2>"$tmp/$name.err"; then
    echo "FAIL $name: sealgate-load exited with an error:"
    cat "$tmp/$name.err"
    failed=$((failed + 1))
    return
  fi
  local verdict
  verdict=$(python3 - "$out" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
errors, flows = report["errors_total"], report["flows"]
status = "ok" if errors == 0 and flows > 0 else "bad"
print(f'{status} {flows} flows, {report["requests_per_second"]} req/s, errors {report["errors"]}')
PY
)
  if [ "${verdict%% *}" = ok ]; then
    echo "ok   $name: ${verdict#* }"
    passed=$((passed + 1))
  else
    echo "FAIL $name: ${verdict#* }"
    cat "$out"
    echo
    failed=$((failed + 1))
  fi
}

smoke deposit-poll --target "$target" --scenario deposit-poll --connections 4
smoke deposit-poll-http2 --target "$target" --scenario deposit-poll --connections 4 --http2
smoke deposit-poll-open-loop --target "$target" --scenario deposit-poll --connections 4 --rate 100
smoke signin --target "$target" --scenario signin --connections 4
smoke signin-open-loop --target "$target" --scenario signin --connections 4 --rate 20
smoke long-poll-fanout --target "$target" --metrics "$metrics" --scenario long-poll-fanout \
  --connections 50 --rate 100
smoke baseline --scenario baseline --connections 4

echo "load-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
