#!/usr/bin/env bash
# The end-to-end demo: a whole sign-in through a real gateway, with the real command line.
#
#   1. `sealgate serve` on a free loopback port (memory store), with --public-url;
#   2. the app registers (`sealgate register`; credentials in a temporary XDG_CONFIG_HOME);
#   3. the app opens a sign-in request (`sealgate request --issuer-jwks`, in the background):
#      the URI is its first line of output, what the QR code would hold;
#   4. a simulated phone takes the nonce and client id from the URI, has a TEST-ONLY issuer
#      (client-sdk/examples/test_issuer.rs, a throw-away key; a real phone gets its ID token
#      from a real identity provider) sign an ID token, and delivers it (`sealgate send`);
#   5. the app prints the token it decrypted and verified (signature, iss, aud, nonce, exp).
#
# Usage: examples/demo.sh   (needs cargo and bash; everything it starts is stopped at exit)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

issuer_name="https://issuer.demo.invalid"

say() { printf 'demo: %s\n' "$*" >&2; }
plain() { sed 's/\x1b\[[0-9;]*[A-Za-z]//g'; } # without terminal escapes
reported=""
fail() {
  say "FAILED: $*"
  for log in serve.log request.err; do
    if [ -s "${tmp:-/nonexistent}/$log" ]; then
      say "--- $log"
      tail -n 20 "$tmp/$log" | tr '\r' '\n' | plain | sed 's/^/    /' >&2
    fi
  done
  reported=yes
  echo "demo: 0 passed, 1 failed"
  exit 1
}

say "building sealgate and the test-only issuer"
cargo build -q -p sealgate-cli
cargo build -q -p sealgate-client --features testing --example test_issuer
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
sealgate="$bin/sealgate"
test_issuer="$bin/examples/test_issuer"

tmp=$(mktemp -d)
pids=()
cleanup() {
  status=$?
  trap - EXIT
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
  if [ "$status" -ne 0 ] && [ -z "$reported" ]; then
    echo "demo: 0 passed, 1 failed"
  fi
  exit "$status"
}
trap cleanup EXIT
export XDG_CONFIG_HOME="$tmp/config"

# 1. The gateway, on a loopback port nothing listens on. Another process may take the port
#    between the check and the bind: then serve exits and the next port is tried.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
gateway=""
for _ in $(seq 20); do
  port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
  if port_in_use "$port"; then
    continue
  fi
  NO_COLOR=1 "$sealgate" serve --listen "127.0.0.1:$port" --metrics-listen 127.0.0.1:0 \
    --public-url "http://127.0.0.1:$port" --log info >"$tmp/serve.log" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
  for _ in $(seq 300); do
    if grep -q "sealgate serving" "$tmp/serve.log"; then
      gateway="http://127.0.0.1:$port"
      break 2
    fi
    if ! kill -0 "$serve_pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
done
[ -n "$gateway" ] || fail "sealgate serve did not start"
say "gateway serving at $gateway"

# 2. The app registers.
client_id=$("$sealgate" register --gateway "$gateway" --name "demo app" 2>"$tmp/register.err") ||
  fail "register: $(cat "$tmp/register.err")"
say "app registered as $client_id"

# The test-only issuer: its JWKS first, since the app loads it before it opens the request.
coproc ISSUER { "$test_issuer" --jwks-out "$tmp/issuer.jwks" --issuer "$issuer_name" --subject alice; }
pids+=("$ISSUER_PID")
issuer_out=${ISSUER[0]}
issuer_in=${ISSUER[1]}
read -r -t 60 ready <&"$issuer_out" || fail "the test issuer did not start"
[ "$ready" = ready ] || fail "the test issuer said '$ready'"

# 3. The app opens a sign-in request and waits for the token, in the background.
"$sealgate" request --issuer-jwks "$tmp/issuer.jwks" --issuer "$issuer_name" --ttl 120 --no-qr \
  >"$tmp/request.out" 2>"$tmp/request.err" &
request_pid=$!
pids+=("$request_pid")
for _ in $(seq 600); do
  if [ "$(wc -l <"$tmp/request.out")" -ge 1 ]; then
    break
  fi
  kill -0 "$request_pid" 2>/dev/null || fail "sealgate request ended early"
  sleep 0.1
done
uri=$(head -n 1 "$tmp/request.out")
case "$uri" in
  sealgate:signin\?*) ;;
  *) fail "sealgate request printed '$uri', not a sign-in request" ;;
esac
say "the app shows: $uri"

# 4. The phone: the nonce and client id from the URI (plain base64url values), an ID token
#    from the test issuer, sealed and delivered.
param() {
  local pair
  local IFS='&'
  for pair in ${uri#sealgate:signin\?}; do
    if [ "${pair%%=*}" = "$1" ]; then
      printf '%s\n' "${pair#*=}"
      return 0
    fi
  done
  return 1
}
nonce=$(param nonce) || fail "no nonce in the URI"
cid=$(param cid) || fail "no client id in the URI"
[ "$cid" = "$client_id" ] || fail "the URI names client $cid, not $client_id"
printf '%s %s\n' "$cid" "$nonce" >&"$issuer_in"
read -r -t 60 id_token <&"$issuer_out" || fail "the test issuer signed nothing"
printf '%s' "$id_token" >"$tmp/id_token"
say "the phone got an ID token for nonce $nonce from the test issuer"
"$sealgate" send "$uri" --token-file "$tmp/id_token" 2>"$tmp/send.err" ||
  fail "send: $(cat "$tmp/send.err")"
say "the phone sealed it to the app's key and delivered it"

# 5. The app decrypts, checks the binding, verifies the token and prints it.
if ! wait "$request_pid"; then
  fail "sealgate request failed: $(tr '\r' '\n' <"$tmp/request.err" | plain | grep -v '^\s*$' | tail -n 1)"
fi
received=$(tail -n 1 "$tmp/request.out")
[ "$received" = "$id_token" ] || fail "the app printed '$received', not the phone's token"
grep -q "token verified" "$tmp/request.err" || fail "the app did not verify the token"
say "$(tr '\r' '\n' <"$tmp/request.err" | plain | grep "token verified")"
payload=$(printf '%s' "$received" | cut -d. -f2 | tr '_-' '/+')
while [ $((${#payload} % 4)) -ne 0 ]; do payload="$payload="; done
say "claims: $(printf '%s' "$payload" | base64 -d 2>/dev/null || echo '?')"
echo "$received"
echo "demo: 1 passed, 0 failed"
