#!/usr/bin/env bash
# Reproduces every load figure in BENCHMARKS.md ("Load"): release builds of the gateway and of
# sealgate-load, a private redis-server on a free loopback port, the scenarios, redis-benchmark,
# and the ratios. Each measurement runs against a freshly started gateway (rate limits off) on
# free loopback ports; nothing leaves this machine.
#
# Usage: benches/run-benchmarks.sh [SECTION...]
#   sections: redis-ceiling scaling headline paired http2 signin fanout mailboxes redis-ops
#   (default: all of them, about 7 minutes on 2 vCPUs plus the build), and before-after
#   (only when named: BEFORE=/path/to/an/older/sealgate against this tree's, alternating)
# Environment:
#   DURATION=10      measured seconds of each throughput run (1 s warm-up comes first)
#   OUT=DIR          where the JSON results go [target/load-results/DATE]
#   BEFORE=BINARY    the `sealgate` binary the before-after section compares with
#   GATEWAY=BINARY   a `sealgate` binary to measure instead of this tree's release build
#
# Requires redis-server, redis-cli and redis-benchmark (Debian: redis-server, redis-tools),
# jq and python3. Prints one summary at the end; every run's JSON stays in OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DURATION=${DURATION:-10}
OUT=${OUT:-$root/target/load-results/$(date -u +%Y%m%dT%H%M%SZ)}
sections=("$@")
if [ ${#sections[@]} -eq 0 ]; then
  sections=(redis-ceiling scaling headline paired http2 signin fanout mailboxes redis-ops)
fi
wants() { local s; for s in "${sections[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  # Debian: redis-server brings redis-tools (redis-cli, redis-benchmark).
  as_root=()
  if [ "$(id -u)" != 0 ]; then as_root=(sudo -n); fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq redis-server redis-tools >/dev/null
fi
for tool in redis-server redis-cli redis-benchmark jq python3; do
  command -v "$tool" >/dev/null || { echo "run-benchmarks: $tool is missing" >&2; exit 1; }
done
mkdir -p "$OUT"
started=$(date +%s)

echo "==> release build"
cargo build --release --locked -p sealgate-cli --bin sealgate -p sealgate-bench --bin sealgate-load
gateway_bin=${GATEWAY:-$root/target/release/sealgate}
load_bin=$root/target/release/sealgate-load
# The before-after section swaps this for $BEFORE.
current_bin=$gateway_bin

gateway_pid=""
redis_pid=""
cleanup() {
  if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null || true; fi
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A private Redis, no persistence, on a free loopback port.
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --logfile "$OUT/redis.log" &
redis_pid=$!
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
  sleep 0.05
done
redis_url="redis://127.0.0.1:$redis_port/0"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- gateway/src 2>/dev/null || echo ' (gateway/src modified)')"
  echo "cpus: $(nproc), model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "kernel: $(uname -r), $(redis-server --version | cut -d' ' -f1-3)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

# start_gateway STORE: a fresh release gateway on free ports, rate limits off; sets gateway_pid,
# gateway_url, metrics_url. Redis keys get a fresh prefix each time.
gateways=0
start_gateway() {
  stop_gateway
  gateways=$((gateways + 1))
  # The private Redis starts each measurement empty: no keys of earlier runs expiring meanwhile.
  redis-cli -p "$redis_port" flushall >/dev/null
  local log="$OUT/gateway-$gateways.log"
  # Registration rate, the global waiter cap and the connection caps (10,000 in all, 2,000
  # from one address: the fan-out's 10,000 long-polls all come from 127.0.0.1) off, as
  # variables: a "before" binary older than these limits ignores them. The log in text, whose
  # start line is read below, and without the line per request, as the "before" binaries log.
  SEALGATE_LOG_FORMAT=text SEALGATE_LOG=info,sealgate::request=warn \
  SEALGATE_REGISTRATIONS_PER_IP=0 SEALGATE_MAX_WAITERS=0 \
  SEALGATE_MAX_CONNECTIONS=0 SEALGATE_MAX_CONNECTIONS_PER_IP=0 \
    "$current_bin" serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --store "$1" \
    --redis-prefix "bench$gateways:" --deposits-per-ip 0 --mailboxes-per-client 0 \
    >"$log" 2>&1 &
  gateway_pid=$!
  local line=""
  for _ in $(seq 200); do
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep 'sealgate serving' || true)
    [ -n "$line" ] && break
    sleep 0.05
  done
  if [ -z "$line" ]; then
    echo "the gateway did not start; see $log" >&2
    exit 1
  fi
  gateway_url=http://$(grep -o 'api_addr=[^ ]*' <<<"$line" | cut -d= -f2)
  metrics_url=http://$(grep -o 'metrics_addr=[^ ]*' <<<"$line" | cut -d= -f2)
}
stop_gateway() {
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
    gateway_pid=""
  fi
}

# load NAME ARGS...: one sealgate-load run, its JSON saved as OUT/NAME.json; prints a line.
load() {
  local name=$1
  shift
  local file="$OUT/$name.json"
  "$load_bin" --json "$@" >"$file"
  jq -r --arg name "$name" '"  \($name): \(.flows_per_second) flows/s, \(.requests_per_second) req/s, p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) ms, flow p99 \(.flow_latency_ms.p99) ms, errors \(.errors_total)"' "$file"
}

# gateway_load NAME STORE ARGS...: a fresh gateway on STORE, then one run against it.
gateway_load() {
  local name=$1 store=$2
  shift 2
  start_gateway "$store"
  local extra=(--target "$gateway_url" --gateway-pid "$gateway_pid")
  if [ "$store" != memory ]; then extra+=(--redis "127.0.0.1:$redis_port"); fi
  load "$name" "${extra[@]}" "$@"
  stop_gateway
}

run=(--duration "$DURATION" --warmup 1)

if wants redis-ceiling; then
  echo "==> Redis ceiling: redis-benchmark, 64 connections, no pipelining and 16-deep pipelines"
  redis-benchmark -p "$redis_port" -q --csv -n 200000 -c 64 -t ping,get,set,hset,zadd \
    >"$OUT/redis-benchmark.csv"
  redis-benchmark -p "$redis_port" -q --csv -n 1000000 -c 64 -P 16 -t get,set \
    >"$OUT/redis-benchmark-pipelined.csv"
  cat "$OUT/redis-benchmark.csv" "$OUT/redis-benchmark-pipelined.csv"
fi

if wants scaling; then
  echo "==> deposit-poll at 1, 16, 64, 256 connections: bare hyper, memory store, Redis store"
  for c in 1 16 64 256; do
    load "baseline-c$c" --scenario baseline --connections "$c" "${run[@]}"
    gateway_load "memory-c$c" memory --scenario deposit-poll --connections "$c" "${run[@]}"
    gateway_load "redis-c$c" "$redis_url" --scenario deposit-poll --connections "$c" "${run[@]}"
  done
fi

if wants headline; then
  echo "==> deposit-poll at 64 connections, second round"
  load "baseline-c64-r2" --scenario baseline --connections 64 "${run[@]}"
  gateway_load "memory-c64-r2" memory --scenario deposit-poll --connections 64 "${run[@]}"
  gateway_load "redis-c64-r2" "$redis_url" --scenario deposit-poll --connections 64 "${run[@]}"
fi

if wants paired; then
  echo "==> paired: bare hyper, memory, Redis back to back, 5 short rounds at 64 connections"
  for round in 1 2 3 4 5; do
    load "paired-baseline-r$round" --scenario baseline --connections 64 --duration 4 --warmup 0.5
    gateway_load "paired-memory-r$round" memory --scenario deposit-poll --connections 64 \
      --duration 4 --warmup 0.5
    gateway_load "paired-redis-r$round" "$redis_url" --scenario deposit-poll --connections 64 \
      --duration 4 --warmup 0.5
  done
fi

if wants http2; then
  echo "==> HTTP/2 (prior knowledge), 64 connections"
  load "baseline-h2-c64" --scenario baseline --connections 64 --http2 "${run[@]}"
  gateway_load "memory-h2-c64" memory --scenario deposit-poll --connections 64 --http2 "${run[@]}"
fi

if wants signin; then
  echo "==> signin: closed-loop at 64 connections, then open-loop at 1,000 flows/s"
  gateway_load "signin-memory-c64" memory --scenario signin --connections 64 "${run[@]}"
  gateway_load "signin-redis-c64" "$redis_url" --scenario signin --connections 64 "${run[@]}"
  gateway_load "signin-memory-1000" memory --scenario signin --connections 64 --rate 1000 \
    --duration 15 --warmup 1
  gateway_load "signin-redis-1000" "$redis_url" --scenario signin --connections 64 --rate 1000 \
    --duration 15 --warmup 1
fi

if wants fanout; then
  echo "==> 10,000 long-polls on one instance, then deposits at 1,000/s"
  for store in memory "$redis_url"; do
    name=fanout-memory-10k
    if [ "$store" != memory ]; then name=fanout-redis-10k; fi
    start_gateway "$store"
    load "$name" --target "$gateway_url" --gateway-pid "$gateway_pid" --metrics "$metrics_url" \
      --redis "127.0.0.1:$redis_port" --scenario long-poll-fanout --connections 10000 \
      --rate 1000 --duration 10
    jq -c '{gateway_rss_mib, kib_per_waiter, redis_connected_clients, wakeup_latency_ms}' \
      "$OUT/$name.json"
    stop_gateway
  done
fi

if wants mailboxes; then
  echo "==> memory at 1k, 10k, 50k open mailboxes (100 waiters each)"
  for n in 1000 10000 50000; do
    for store in memory "$redis_url"; do
      name=mailboxes-memory-$n
      if [ "$store" != memory ]; then name=mailboxes-redis-$n; fi
      start_gateway "$store"
      load "$name" --target "$gateway_url" --gateway-pid "$gateway_pid" \
        --redis "127.0.0.1:$redis_port" --scenario long-poll-fanout --connections 100 \
        --mailboxes "$n" --rate 1000 --duration 1
      jq -c '{gateway_rss_mib, kib_per_mailbox, redis_used_memory_mib}' "$OUT/$name.json"
      stop_gateway
    done
  done
fi

if wants redis-ops; then
  echo "==> Redis commands one sign-in sends (MONITOR over 5 sign-ins)"
  start_gateway "$redis_url"
  timeout 8 redis-cli -p "$redis_port" monitor >"$OUT/redis-monitor.txt" 2>/dev/null &
  monitor_pid=$!
  sleep 0.5
  load "signin-monitored" --target "$gateway_url" --scenario signin --connections 1 --rate 5 \
    --duration 1 --warmup 0
  sleep 0.5
  kill "$monitor_pid" 2>/dev/null || true
  wait "$monitor_pid" 2>/dev/null || true
  stop_gateway
fi

if wants before-after; then
  if [ -z "${BEFORE:-}" ] || [ ! -x "$BEFORE" ]; then
    echo "before-after: set BEFORE to an older sealgate binary" >&2
    exit 1
  fi
  echo "==> before-after: $BEFORE against $gateway_bin, alternating"
  for round in 1 2 3; do
    for side in before after; do
      current_bin=$gateway_bin
      if [ "$side" = before ]; then current_bin=$BEFORE; fi
      gateway_load "ab-$side-memory-c64-r$round" memory --scenario deposit-poll --connections 64 \
        "${run[@]}"
      gateway_load "ab-$side-redis-c64-r$round" "$redis_url" --scenario deposit-poll \
        --connections 64 "${run[@]}"
    done
  done
  for side in before after; do
    current_bin=$gateway_bin
    if [ "$side" = before ]; then current_bin=$BEFORE; fi
    start_gateway memory
    load "ab-$side-fanout-10k" --target "$gateway_url" --gateway-pid "$gateway_pid" \
      --metrics "$metrics_url" --scenario long-poll-fanout --connections 10000 --rate 1000 \
      --duration 10
    jq -c '{gateway_rss_mib, kib_per_waiter, wakeup_latency_ms}' "$OUT/ab-$side-fanout-10k.json"
    stop_gateway
  done
  current_bin=$gateway_bin
fi

stop_gateway
elapsed=$(($(date +%s) - started))
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

echo
echo "==================== summary ($OUT) ===================="
python3 - "$OUT" <<'PY'
import csv, json, os, sys

out = sys.argv[1]
def get(name):
    path = os.path.join(out, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None
def fps(r): return r["flows_per_second"] if r else float("nan")
def ratio(a, b): return a / b if a == a and b == b and b else float("nan")
def lat(r, key="latency_ms"):
    if not r or key not in r or "p50" not in r[key]: return "-"
    l = r[key]
    return f'{l["p50"]:.2f} / {l["p99"]:.2f} / {l["p99.9"]:.2f}'
def cpu(r, key):
    v = (r or {}).get("cpu", {}).get(key)
    return f"{v:.1f}" if isinstance(v, (int, float)) else "-"

def median(values):
    values = sorted(v for v in values if v == v)
    return values[len(values) // 2] if values else float("nan")
print(open(os.path.join(out, "machine.txt")).read().strip())
def bench_csv(name):
    path = os.path.join(out, name)
    if not os.path.exists(path): return {}
    return {row[0]: float(row[1]) for row in csv.reader(open(path)) if row and row[0] != "test"}
ceiling = bench_csv("redis-benchmark.csv")
piped = bench_csv("redis-benchmark-pipelined.csv")
if ceiling:
    print("\nRedis ceiling (redis-benchmark, 64 connections): " +
          ", ".join(f"{k} {v:,.0f}/s" for k, v in ceiling.items()) +
          "; pipelined x16: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in piped.items()))

if get("baseline-c1") or get("baseline-c64-r2") or get("baseline-h2-c64"):
    print("\ndeposit-poll throughput (flows/s; a flow = open + deposit + poll) and request latency p50 / p99 / p99.9 ms")
    print(f'{"conns":>5} {"bare hyper":>11} {"memory":>9} {"mem/bare":>8} {"redis":>8} {"redis/mem":>9}  {"memory latency":>20}  {"redis latency":>22}  {"CPU us/flow: bare, mem, redis gw, redis-server":>44}')
rows = [(c, f"baseline-c{c}", f"memory-c{c}", f"redis-c{c}") for c in (1, 16, 64, 256)]
rows.append(("64 r2", "baseline-c64-r2", "memory-c64-r2", "redis-c64-r2"))
rows.append(("64 h2", "baseline-h2-c64", "memory-h2-c64", "-"))
for c, b, m, r in rows:
    b, m, r = get(b), get(m), get(r)
    if not b and not m: continue
    print(f"{c:>5} {fps(b):>11,.0f} {fps(m):>9,.0f} {ratio(fps(m), fps(b)):>8.2f} {fps(r):>8,.0f} {ratio(fps(r), fps(m)):>9.2f}  {lat(m):>20}  {lat(r):>22}  "
          f'{cpu(b, "server_us_per_flow"):>10} {cpu(m, "gateway_us_per_flow"):>8} {cpu(r, "gateway_us_per_flow"):>8} {cpu(r, "redis_us_per_flow"):>8}')
for r in ("redis-c64", "redis-c64-r2"):
    j = get(r)
    if j and j.get("redis_commands_per_flow"):
        print(f'  {r}: {j["redis_commands_per_flow"]} Redis commands per deposit-poll flow (Lua-internal included)')

triples = [(get(f"paired-baseline-r{r}"), get(f"paired-memory-r{r}"), get(f"paired-redis-r{r}")) for r in range(1, 6)]
triples = [t for t in triples if all(t)]
if triples:
    mb = sorted(ratio(fps(m), fps(b)) for b, m, _ in triples)
    rm = sorted(ratio(fps(r), fps(m)) for _, m, r in triples)
    print(f"\npaired rounds at 64 connections ({len(triples)} x 4 s each, back to back): "
          f"memory / bare hyper median {median(mb):.2f} [{mb[0]:.2f} .. {mb[-1]:.2f}], "
          f"Redis / memory median {median(rm):.2f} [{rm[0]:.2f} .. {rm[-1]:.2f}]")
    print("  flows/s per round (bare, memory, Redis): " + "; ".join(f"{fps(b):,.0f}, {fps(m):,.0f}, {fps(r):,.0f}" for b, m, r in triples))
if get("signin-memory-c64") or get("signin-memory-1000"):
    print("\nsignin (open + JWKS + deposit + long-poll, sealing and opening included)")
base = get("baseline-c64")
for name in ("signin-memory-c64", "signin-redis-c64", "signin-memory-1000", "signin-redis-1000"):
    j = get(name)
    if not j: continue
    line = f'  {name}: {j["flows_per_second"]:,.0f} sign-ins/s, {j["requests_per_second"]:,.0f} req/s'
    if base: line += f' ({ratio(j["requests_per_second"], base["requests_per_second"]):.2f} of the bare-hyper req/s)'
    line += f', flow latency p50 / p99 / p99.9 {lat(j, "flow_latency_ms")} ms'
    if "schedule_lag_ms" in j: line += f', schedule lag p99 {j["schedule_lag_ms"]["p99"]} ms'
    if j.get("redis_commands_per_flow"): line += f', {j["redis_commands_per_flow"]} Redis commands/sign-in'
    line += f', CPU us/sign-in: gateway {cpu(j, "gateway_us_per_flow")}, redis-server {cpu(j, "redis_us_per_flow")}, load generator {cpu(j, "load_generator_us_per_flow")}'
    line += f', errors {j["errors_total"]}'
    print(line)

if get("fanout-memory-10k") or get("mailboxes-memory-1000"):
    print("\nlong-poll fan-out and open mailboxes")
for name in ("fanout-memory-10k", "fanout-redis-10k"):
    j = get(name)
    if not j: continue
    print(f'  {name}: RSS {j.get("gateway_rss_mib")}, {j.get("kib_per_waiter")} KiB/waiter, '
          f'Redis clients {j.get("redis_connected_clients")}, wake-up p50 / p99 / p99.9 {lat(j, "wakeup_latency_ms")} ms, '
          f'woken {j["flows"]}/{j["waiters"]}, errors {j["errors_total"]}')
for n in (1000, 10000, 50000):
    m, r = get(f"mailboxes-memory-{n}"), get(f"mailboxes-redis-{n}")
    if m:
        rss = m["gateway_rss_mib"]
        line = f'  {n:>6} open mailboxes, memory store: RSS {rss.get("idle")} -> {rss.get("mailboxes_open")} MiB ({m.get("kib_per_mailbox")} KiB each)'
        if r:
            red = r.get("redis_used_memory_mib", {})
            per = (red["mailboxes_open"] - red["idle"]) * 1024 / n if red.get("idle") is not None and red.get("mailboxes_open") is not None else float("nan")
            line += f'; Redis store: gateway RSS {r["gateway_rss_mib"].get("idle")} -> {r["gateway_rss_mib"].get("mailboxes_open")} MiB, Redis used_memory {red.get("idle")} -> {red.get("mailboxes_open")} MiB ({per:.3f} KiB each)'
        print(line)

for store in ("memory", "redis"):
    ab = [(get(f"ab-before-{store}-c64-r{r}"), get(f"ab-after-{store}-c64-r{r}")) for r in (1, 2, 3)]
    ab = [(b, a) for b, a in ab if b and a]
    if not ab:
        continue
    print(f"\nbefore -> after ({store} store, deposit-poll, 64 connections; after / before per round)")
    for i, (b, a) in enumerate(ab, 1):
        print(f'  round {i}: {fps(b):,.0f} -> {fps(a):,.0f} flows/s ({ratio(fps(a), fps(b)):.3f}); '
              f'gateway CPU {cpu(b, "gateway_us_per_flow")} -> {cpu(a, "gateway_us_per_flow")} us/flow; '
              f'p99 {b["latency_ms"]["p99"]} -> {a["latency_ms"]["p99"]} ms')
    fr = median([ratio(fps(a), fps(b)) for b, a in ab])
    cr = median([ratio(a["cpu"]["gateway_us_per_flow"], b["cpu"]["gateway_us_per_flow"]) for b, a in ab])
    print(f"  median: throughput x{fr:.3f}, gateway CPU per flow x{cr:.3f}")
if get("ab-before-fanout-10k") or get("ab-after-fanout-10k"):
    for side in ("before", "after"):
        j = get(f"ab-{side}-fanout-10k")
        if j:
            print(f'  10k waiters, {side}: RSS parked {j["gateway_rss_mib"].get("waiters_parked")} MiB, '
                  f'{j.get("kib_per_waiter")} KiB/waiter, wake-up p99 {j["wakeup_latency_ms"].get("p99")} ms')

monitor = os.path.join(out, "redis-monitor.txt")
signed = get("signin-monitored")
if os.path.exists(monitor) and signed and signed["flows"]:
    lines = open(monitor, errors="replace").read().splitlines()
    client = [l for l in lines if "[0 127.0.0.1:" in l and '"INFO"' not in l and '"PING"' not in l
              and ":deliveries:" not in l and not ('"SET"' in l and ":client:" in l)]
    lua = [l for l in lines if "[0 lua]" in l and ":deliveries:" not in l]
    print(f'\nRedis per sign-in (MONITOR over {signed["flows"]} sign-ins): {len(client) / signed["flows"]:.1f} round trips from the gateway, '
          f'{len(lua) / signed["flows"]:.1f} more commands inside its scripts')
PY
echo "run-benchmarks: done in ${elapsed} s"
