#!/usr/bin/env bash
# The protocol core stays sans-IO: no async runtime, HTTP stack, TLS stack or Redis client may
# enter sealgate-crypto's normal dependency tree, with either X25519 backend. Allowed and
# expected: aws-lc-rs and aws-lc-sys (default feature `aws-lc`: cryptographic primitives in C and
# assembly, no I/O) or x25519-dalek (feature `pure-rust`).
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(tokio|hyper|hyper-util|reqwest|redis|mio|async-std|smol|h2|rustls|tokio-rustls)$'
check() {
  local label=$1 backend=$2
  shift 2
  local tree found
  tree=$(cargo tree -p sealgate-crypto -e normal --prefix none --format '{p}' "$@" | awk '{print $1}' | sort -u)
  found=$(printf '%s\n' "$tree" | grep -E "$forbidden" || true)
  if [ -n "$found" ]; then
    echo "sealgate-crypto ($label) must do no I/O, but its dependency tree has: $found" >&2
    exit 1
  fi
  if ! printf '%s\n' "$tree" | grep -qx "$backend"; then
    echo "sealgate-crypto ($label) should build on $backend, but its dependency tree lacks it" >&2
    exit 1
  fi
  echo "sealgate-crypto ($label) is sans-IO: $(printf '%s\n' "$tree" | wc -l) crates, $backend for X25519, none of tokio/hyper/reqwest/redis/rustls"
}
check "default features" aws-lc-rs
check "pure-rust" x25519-dalek --no-default-features --features pure-rust
