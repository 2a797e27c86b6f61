#!/usr/bin/env bash
# Validates every file in deploy/ with a tool made for it, then checks the monitoring
# against a live deployment on loopback: two gateways (TLS, the Kubernetes ConfigMap's
# settings) on one Redis, and a real Prometheus scraping them with the Kubernetes scrape
# configuration and the alert rules.
#
# Usage: deploy/validate.sh   (from anywhere; installs what it needs, see below)
# Ends with "deploy: N passed, M failed" and exits non-zero when anything failed.
#
# Installs what is missing, and fails if it cannot: the Python validators of
# deploy/requirements.txt into the repository's .venv (as scripts/test.sh does), and the
# Debian packages prometheus (promtool, prometheus), prometheus-alertmanager (amtool),
# redis-server, openssl and curl. Uses 127.0.0.1 only.
set -uo pipefail # no -e: every check runs and is counted

cd "$(dirname "$0")/.." || exit 1
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in deploy/
root=$(pwd)
started=$(date +%s)
venv="$root/.venv"
py="$venv/bin/python"
# The Kubernetes version the manifests are validated against (kubernetes-validate 1.37.0
# knows 1.28 to 1.37). The manifests use the preStop sleep action: Kubernetes 1.30 or later.
k8s_version=1.33.0

passed=0
failed=0
failures=()

section() { printf '\n=== %s\n' "$*"; }
pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); printf 'FAIL  %s\n' "$1"; }
indent() { sed 's/^/      /'; }
# check NAME COMMAND...: one counted check; the command's output is shown indented. The
# command runs in this shell (not a subshell), so that a function can wait for the
# processes this script started.
check() {
  local name=$1 status
  shift
  "$@" >"$tmp/check.out" 2>&1
  status=$?
  indent <"$tmp/check.out"
  if [ "$status" -eq 0 ]; then pass "$name"; else fail "$name (exit $status)"; fi
}
die() {
  printf 'deploy/validate.sh: %s\n' "$*" >&2
  printf 'deploy: %d passed, %d failed\n' "$passed" "$((failed + 1))"
  exit 1
}

tmp=$(mktemp -d)
pids=() # every process this script starts, stopped by their ids on exit
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- (a) tools --------------------------------------------------------------------------------
section "tools"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_updated=
apt_install() { # apt_install COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  echo "installing Debian package $2 (for $1)"
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq || die "apt-get update failed; install $2 by hand"
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
    die "apt-get install $2 failed: install it by hand (it provides $1)"
  command -v "$1" >/dev/null || die "$2 is installed but $1 is not on PATH"
}
apt_install promtool prometheus
apt_install prometheus prometheus
apt_install amtool prometheus-alertmanager
apt_install redis-server redis-server
apt_install redis-cli redis-tools
apt_install openssl openssl
apt_install curl curl
if [ ! -x "$py" ]; then
  python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements.txt ||
  die "pip install -r deploy/requirements.txt failed"
for tool in hadolint kubernetes-validate docker-compose shellcheck; do
  [ -x "$venv/bin/$tool" ] || die "$tool missing from $venv/bin after pip install"
done
printf '%s\n' "$("$venv/bin/hadolint" --version)" "kubernetes-validate $("$venv/bin/kubernetes-validate" --version)" \
  "$("$venv/bin/docker-compose" version)" "$(promtool --version 2>&1 | head -1)" "$(amtool --version 2>&1 | head -1)" \
  "$(redis-server --version)" "shellcheck $("$venv/bin/shellcheck" --version | sed -n 's/^version: //p')" | indent

# --- (b) static validation ----------------------------------------------------------------------
section "Dockerfile"
check "hadolint: deploy/Dockerfile (failure threshold: error)" \
  "$venv/bin/hadolint" --failure-threshold error deploy/Dockerfile
check "Dockerfile copies every workspace member, and the workspace loads from the copy" \
  "$py" deploy/validate.py dockerfile-copies deploy/Dockerfile
hc_target="$root/target/healthcheck"
check "healthcheck helper: cargo fmt --check" cargo fmt --manifest-path deploy/healthcheck/Cargo.toml -- --check
check "healthcheck helper: cargo clippy -D warnings" cargo clippy --quiet --manifest-path deploy/healthcheck/Cargo.toml \
  --target-dir "$hc_target" --all-targets --locked -- -D warnings
check "healthcheck helper: cargo test" cargo test --quiet --manifest-path deploy/healthcheck/Cargo.toml \
  --target-dir "$hc_target" --locked

section "Kubernetes (kubernetes-validate --strict -k $k8s_version)"
# kubernetes-validate exits 0 with a WARN for a kind it has no schema for: that is a failure
# here, as nothing may pass unvalidated.
k8s_validate() {
  local out status
  out=$("$venv/bin/kubernetes-validate" --strict -k "$k8s_version" "$1" 2>&1)
  status=$?
  printf '%s\n' "$out"
  [ "$status" -eq 0 ] && ! grep -q '^WARN' <<<"$out"
}
while IFS= read -r manifest; do
  check "kubernetes-validate: $manifest" k8s_validate "$manifest"
done < <(find deploy/kubernetes -name '*.yaml' | sort)
check "Kubernetes objects fit together (selectors, ports, secrets, hardening)" "$py" deploy/validate.py k8s

section "Prometheus and Alertmanager"
check "promtool check config: prometheus.yml (compose)" promtool check config deploy/prometheus/prometheus.yml
check "promtool check rules: rules/*.yml" promtool check rules deploy/prometheus/rules/*.yml
check "promtool test rules: tests/*.yml" bash -c 'cd deploy/prometheus && promtool test rules tests/*.yml'
# Debian's Prometheus is built without Kubernetes discovery: the Kubernetes scrape config is
# checked with its discovery block replaced by file discovery (the rest verbatim), and its
# relabelling runs for real in the live Prometheus below.
"$py" deploy/validate.py prom-kubernetes-config "$tmp/prom-k8s.yml" "$tmp/targets.json" deploy/prometheus/rules \
  127.0.0.1:1,127.0.0.1:2 || die "cannot derive a config from prometheus-kubernetes.yml"
check "promtool check config: prometheus-kubernetes.yml (discovery swapped for file_sd)" promtool check config "$tmp/prom-k8s.yml"
check "every alert's runbook_url annotation is a heading of docs/deploy.md" "$py" deploy/validate.py runbooks
check "amtool check-config: alertmanager.yml" amtool check-config deploy/alertmanager/alertmanager.yml
route() { amtool config routes test --config.file=deploy/alertmanager/alertmanager.yml --verify.receivers="$1" "${@:2}" 2>&1 | grep -v '^Warning'; }
check "amtool: critical alerts route to oncall" route oncall severity=critical alertname=SealgateStoreUnavailable
check "amtool: warnings route to team" route team severity=warning alertname=SealgateInstanceDown
check "amtool: info alerts route to null" route null severity=info alertname=SealgateRateLimited

section "Compose and Grafana"
check "docker compose config: compose.yaml against the Compose specification" \
  env SEALGATE_REGISTRATION_TOKEN=validate GRAFANA_ADMIN_PASSWORD=validate \
  "$venv/bin/docker-compose" -f deploy/compose.yaml config --quiet
check "compose.yaml structure (two gateways, Redis with AOF, Prometheus, Alertmanager, Grafana, mounts)" \
  "$py" deploy/validate.py compose deploy/compose.yaml
check "dashboard JSON and its data source variable" "$py" deploy/validate.py dashboard deploy/grafana/dashboards/*.json

section "scripts, ignores and coverage"
check "every file in deploy/ has a validator" "$py" deploy/validate.py coverage
check "shellcheck: validate.sh, tls/make-dev-cert.sh" "$venv/bin/shellcheck" deploy/validate.sh deploy/tls/make-dev-cert.sh
check "python: validate.py compiles" "$py" -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' deploy/validate.py
ignored() { local f; for f in "$@"; do git check-ignore -q "$f" || { echo "$f is not ignored"; return 1; }; done; }
check "git ignores keys made in deploy/tls/" ignored deploy/tls/tls.key deploy/tls/tls.crt

# --- (c) live checks -----------------------------------------------------------------------------
section "live: two gateways on one Redis, scraped by Prometheus"

sealgate="$root/target/debug/sealgate"
if [ ! -x "$sealgate" ]; then
  echo "building $sealgate"
  cargo build --quiet -p sealgate-cli || die "cargo build -p sealgate-cli failed"
fi
cargo build --quiet --manifest-path deploy/healthcheck/Cargo.toml --target-dir "$hc_target" --locked ||
  die "cannot build the healthcheck helper"
healthcheck="$hc_target/debug/sealgate-healthcheck"

read -r redis_port api_a metrics_a api_b metrics_b prom_port hook_port closed_port < <("$py" -c '
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
token=$(openssl rand -hex 32)
ca="$tmp/tls/tls.crt"

check "tls/make-dev-cert.sh makes a certificate" env SEALGATE_TLS_DIR="$tmp/tls" deploy/tls/make-dev-cert.sh
"$py" deploy/validate.py configmap-toml "$tmp/sealgate.toml" || die "cannot extract the ConfigMap's sealgate.toml"

mkdir -p "$tmp/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis" --appendonly yes --save "" \
  --logfile "$tmp/redis.log" &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
check "redis-server (AOF on) answers on 127.0.0.1:$redis_port" redis-cli -p "$redis_port" config get appendonly

# A webhook endpoint on loopback: 204 on /hook, 410 Gone on /gone; it logs what it gets.
"$py" - "$hook_port" "$tmp/hooks.jsonl" <<'PY' >"$tmp/hooks.log" 2>&1 &
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(sys.argv[2], "a") as log:
            log.write(json.dumps({"path": self.path, "headers": dict(self.headers), "body": len(body)}) + "\n")
        self.send_response(204 if self.path == "/hook" else 410)
        self.end_headers()
HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY
pids+=("$!")

# Both gateways load the Kubernetes ConfigMap's file; flags give loopback ports, TLS and the
# store (a flag wins over the file), and let webhooks reach the plain-http endpoint above on
# loopback (never in production).
start_gateway() { # start_gateway NAME API_PORT METRICS_PORT
  "$sealgate" serve --config "$tmp/sealgate.toml" --listen "127.0.0.1:$2" --metrics-listen "127.0.0.1:$3" \
    --store "redis://127.0.0.1:$redis_port/0" --redis-prefix "sealgate-validate:" \
    --tls-cert "$tmp/tls/tls.crt" --tls-key "$tmp/tls/tls.key" --registration-token "$token" \
    --public-url "https://127.0.0.1:$2" --allow-insecure-webhooks --allow-private-webhooks >"$tmp/$1.log" 2>&1 &
  pids+=("$!")
}
start_gateway a "$api_a" "$metrics_a"
start_gateway b "$api_b" "$metrics_b"
gw_b=${pids[-1]}
A="https://127.0.0.1:$api_a"
B="https://127.0.0.1:$api_b"
tcurl() { curl -sS --cacert "$ca" --max-time 20 "$@"; }
ready() { for _ in $(seq 100); do tcurl -f "$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
before=$failed
check "gateway A ready over TLS with the ConfigMap's settings ($A)" ready "$A"
check "gateway B ready over TLS with the ConfigMap's settings ($B)" ready "$B"
if [ "$failed" -ne "$before" ]; then
  tail -n 20 "$tmp/a.log" "$tmp/b.log" | indent
  die "the gateways did not start"
fi

# A real Prometheus with prometheus-kubernetes.yml (discovery swapped for file_sd with the
# labels Kubernetes would give), the alert rules, 1 s scrapes and evaluations.
"$py" deploy/validate.py prom-kubernetes-config "$tmp/prometheus.yml" "$tmp/targets.json" deploy/prometheus/rules \
  "127.0.0.1:$metrics_a,127.0.0.1:$metrics_b" 1s || die "cannot write the live Prometheus config"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=("$!")
P="http://127.0.0.1:$prom_port"

# Traffic of every kind the rules and the dashboard look at, so that the labelled series
# exist (a client library exports a labelled series only after its first observation).
jget() { "$py" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
drive_traffic() {
  local reg cid secret mbx id exp poll status out
  (cd "$tmp" && "$sealgate" keygen --out app.jwk >app-pub.jwk) || return 1
  tcurl -o /dev/null "$A/healthz" && tcurl -o /dev/null "$B/openapi.json" || return 1
  # Registration needs the token: without it 401, with it 201.
  status=$(tcurl -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    -d '{"name":"x","jwks":{"keys":[]}}' "$A/v1/clients")
  [ "$status" = 401 ] || { echo "registration without the token answered $status, not 401"; return 1; }
  reg=$("$py" -c 'import json,sys; print(json.dumps({"name": "validate", "jwks": {"keys": [json.load(open(sys.argv[1]))]}}))' \
    "$tmp/app-pub.jwk" | tcurl -f -X POST -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d @- "$A/v1/clients") || return 1
  cid=$(jget client_id <<<"$reg") && secret=$(jget client_secret <<<"$reg") || return 1
  tcurl -f -o /dev/null "$B/v1/clients/$cid/jwks" || return 1
  # A mailbox opened on A, long-polled on B, deposited on A: B wakes up through Redis.
  mbx=$(tcurl -f -u "$cid:$secret" -X POST -H 'content-type: application/json' -d '{"ttl": 60}' "$A/v1/mailboxes") || return 1
  id=$(jget mailbox_id <<<"$mbx") || return 1
  exp=$("$py" -c 'import datetime,sys; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp()))' \
    "$(jget expires_at <<<"$mbx")") || return 1
  tcurl -u "$cid:$secret" -o "$tmp/envelope.jwe" -w '%{http_code}' "$B/v1/mailboxes/$id?wait=15" >"$tmp/poll.status" &
  poll=$!
  sleep 1
  status=$(printf 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ2YWxpZGF0ZSJ9.c2ln' |
    (cd "$tmp" && "$sealgate" seal --to app-pub.jwk --aud "$cid" --mbx "$id" --exp "$exp") |
    tcurl -o /dev/null -w '%{http_code}' -X PUT -H 'content-type: application/jose' --data-binary @- "$A/v1/mailboxes/$id")
  wait "$poll"
  [ "$status" = 201 ] || { echo "deposit answered $status, not 201"; return 1; }
  [ "$(cat "$tmp/poll.status")" = 200 ] || { echo "long-poll on B answered $(cat "$tmp/poll.status"), not 200"; return 1; }
  out=$(cd "$tmp" && "$sealgate" open --key app.jwk <envelope.jwe) || return 1
  [ "$out" = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ2YWxpZGF0ZSJ9.c2ln' ] || { echo "the envelope opened to something else"; return 1; }
  status=$(tcurl -o /dev/null -w '%{http_code}' -u "$cid:$secret" "$A/v1/mailboxes/$id")
  [ "$status" = 404 ] || { echo "a consumed mailbox answered $status, not 404"; return 1; }
  # Another mailbox, cancelled; a short one left to expire; an unknown path.
  id=$(tcurl -f -u "$cid:$secret" -X POST -H 'content-type: application/json' -d '{}' "$B/v1/mailboxes" | jget mailbox_id) || return 1
  tcurl -f -o /dev/null -u "$cid:$secret" -X DELETE "$B/v1/mailboxes/$id" || return 1
  tcurl -f -o /dev/null -u "$cid:$secret" -X POST -H 'content-type: application/json' -d '{"ttl": 1}' "$A/v1/mailboxes" || return 1
  status=$(tcurl -o /dev/null -w '%{http_code}' "$A/no-such-route")
  [ "$status" = 404 ] || { echo "an unknown route answered $status, not 404"; return 1; }
  # More deposits from one address than the ConfigMap's burst (40): some answer 429.
  local urls=() i
  for i in $(seq 50); do urls+=("$B/v1/mailboxes/validate-$i"); done
  tcurl -o /dev/null -w '%{http_code}\n' -X PUT -H 'content-type: application/jose' --data 'x.y..z.' "${urls[@]}" >"$tmp/burst"
  grep -q 429 "$tmp/burst" || { echo "50 deposits from one address were never refused with 429"; return 1; }
  echo "register (401 without the token, 201 with it), JWKS, open, long-poll on B woken by a deposit on A," \
    "open the envelope, 404 after consumption, cancel, a 1 s mailbox, a 404 route, 50 deposits from one address ($(grep -c 429 "$tmp/burst") answered 429)"
}
check "traffic: a whole sign-in across the two instances, errors and limits" drive_traffic

# Webhooks: one app whose endpoint takes the envelope (delivered), one whose endpoint is gone
# (410: the endpoint is disabled). Either instance's worker may deliver.
register_webhook() { # register_webhook PATH -> "client_id secret"
  "$py" -c 'import json,sys; print(json.dumps({"name": "hook", "jwks": {"keys": [json.load(open(sys.argv[1]))]}, "webhook_url": sys.argv[2]}))' \
    "$tmp/app-pub.jwk" "http://127.0.0.1:$hook_port$1" |
    tcurl -f -X POST -H "authorization: Bearer $token" -H 'content-type: application/json' -d @- "$A/v1/clients" |
    "$py" -c 'import json,sys; r = json.load(sys.stdin); assert r["webhook_secret"].startswith("whsec_"); print(r["client_id"], r["client_secret"])'
}
deposit_for() { # deposit_for CLIENT_ID SECRET: a mailbox opened on A, deposited on B
  local mbx id exp
  mbx=$(tcurl -f -u "$1:$2" -X POST -H 'content-type: application/json' -d '{"ttl": 30}' "$A/v1/mailboxes") || return 1
  id=$(jget mailbox_id <<<"$mbx") || return 1
  exp=$("$py" -c 'import datetime,sys; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp()))' \
    "$(jget expires_at <<<"$mbx")") || return 1
  printf 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJob29rIn0.c2ln' |
    (cd "$tmp" && "$sealgate" seal --to app-pub.jwk --aud "$1" --mbx "$id" --exp "$exp") |
    tcurl -f -o /dev/null -X PUT -H 'content-type: application/jose' --data-binary @- "$B/v1/mailboxes/$id"
}
metrics_have() { # metrics_have PATTERN: on either instance's /metrics
  local text
  text=$(tcurl "http://127.0.0.1:$metrics_a/metrics"; tcurl "http://127.0.0.1:$metrics_b/metrics")
  grep -qF "$1" <<<"$text"
}
drive_webhooks() {
  local ok_client gone_client
  read -r -a ok_client < <(register_webhook /hook) && [ "${#ok_client[@]}" = 2 ] || return 1
  read -r -a gone_client < <(register_webhook /gone) && [ "${#gone_client[@]}" = 2 ] || return 1
  deposit_for "${ok_client[@]}" && deposit_for "${gone_client[@]}" || return 1
  for _ in $(seq 100); do
    metrics_have 'sealgate_webhook_deliveries_total{outcome="delivered"}' &&
      metrics_have 'sealgate_webhook_deliveries_total{outcome="endpoint_gone"}' && break
    sleep 0.2
  done
  "$py" - "$tmp/hooks.jsonl" <<'PY' || return 1
import json, sys
hooks = [json.loads(line) for line in open(sys.argv[1])]
for path in ("/hook", "/gone"):
    got = [h for h in hooks if h["path"] == path]
    assert got, f"no webhook arrived at {path}"
    headers = {k.lower(): v for k, v in got[0]["headers"].items()}
    assert headers["webhook-signature"].startswith("v1,"), headers
    assert headers["webhook-id"] and headers["webhook-timestamp"], headers
print(f"{len(hooks)} webhook POSTs arrived, signed (webhook-id, webhook-timestamp, webhook-signature v1,)")
PY
  metrics_have 'sealgate_webhook_deliveries_total{outcome="delivered"}' || { echo "no delivered outcome counted"; return 1; }
  metrics_have 'sealgate_webhook_deliveries_total{outcome="endpoint_gone"}' || { echo "no endpoint_gone outcome counted"; return 1; }
}
check "webhooks: a delivery (204) and a gone endpoint (410), across the instances" drive_webhooks

check "Prometheus scraped sealgate_build_info from both gateways (HTTP API)" \
  "$py" deploy/validate.py prom-wait "$P" sealgate_build_info 2 30
check "Prometheus has the gateways' traffic (sealgate_mailboxes_consumed_total)" \
  "$py" deploy/validate.py prom-wait "$P" 'sum(sealgate_mailboxes_consumed_total) > 0' 1 15
check "prometheus-kubernetes.yml relabelling keeps the metrics ports, named by pod" \
  "$py" deploy/validate.py prom-targets "$P" 2
check "Prometheus loaded every alert rule and evaluates it without error" \
  "$py" deploy/validate.py prom-rules "$P" 20
check "every dashboard query runs on Prometheus" \
  "$py" deploy/validate.py prom-queries "$P" deploy/grafana/dashboards/*.json
check "sealgate-healthcheck passes on a live metrics listener" "$healthcheck" "127.0.0.1:$metrics_a"
fails() { ! "$@"; }
check "sealgate-healthcheck fails on a closed port" fails "$healthcheck" "127.0.0.1:$closed_port"

# Rolling upgrades rely on this: SIGTERM answers a waiting long-poll (202) and exits cleanly.
tcurl -o "$tmp/metrics-b.txt" "http://127.0.0.1:$metrics_b/metrics" || fail "cannot read B's /metrics"
graceful_stop() {
  local reg cid secret id poll status
  reg=$("$py" -c 'import json,sys; print(json.dumps({"name": "stop", "jwks": {"keys": [json.load(open(sys.argv[1]))]}}))' \
    "$tmp/app-pub.jwk" | tcurl -f -X POST -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d @- "$B/v1/clients") || return 1
  cid=$(jget client_id <<<"$reg") && secret=$(jget client_secret <<<"$reg") || return 1
  id=$(tcurl -f -u "$cid:$secret" -X POST -H 'content-type: application/json' -d '{}' "$B/v1/mailboxes" | jget mailbox_id) || return 1
  tcurl -u "$cid:$secret" -o /dev/null -w '%{http_code}' "$B/v1/mailboxes/$id?wait=30" >"$tmp/stop.status" &
  poll=$!
  sleep 1
  local t0=$SECONDS
  kill -TERM "$gw_b"
  wait "$poll"
  wait "$gw_b"
  status=$?
  echo "long-poll answered $(cat "$tmp/stop.status"), gateway exited $status after $((SECONDS - t0)) s"
  [ "$(cat "$tmp/stop.status")" = 202 ] && [ "$status" = 0 ]
}
check "SIGTERM: the waiting long-poll gets 202 and the gateway exits 0" graceful_stop

# Redis goes away: readiness fails and store errors are counted.
kill "$redis_pid"
wait "$redis_pid" 2>/dev/null
readyz_fails() {
  local status
  status=$(tcurl -o /dev/null -w '%{http_code}' "$A/readyz")
  echo "/readyz answered $status with Redis stopped"
  [ "$status" = 503 ]
}
check "Redis stopped: /readyz answers 503" readyz_fails
tcurl -o "$tmp/metrics-a.txt" "http://127.0.0.1:$metrics_a/metrics" || fail "cannot read A's /metrics"
check "every metric named in prometheus/rules/*.yml and grafana/dashboards/*.json is in the gateways' /metrics" \
  "$py" deploy/validate.py presence "$tmp/metrics-a.txt" "$tmp/metrics-b.txt"

# --- result ------------------------------------------------------------------------------------
section "result"
printf 'deploy/validate.sh took %d s\n' "$(($(date +%s) - started))"
for f in "${failures[@]}"; do printf 'failed: %s\n' "$f"; done
printf 'deploy: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
