#!/usr/bin/env bash
# The protocol core stays sans-IO: no async runtime, HTTP stack or Redis client may enter
# sealgate-crypto's normal dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(tokio|hyper|hyper-util|reqwest|redis|mio|async-std|smol|h2|rustls|tokio-rustls)$'
tree=$(cargo tree -p sealgate-crypto -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
found=$(printf '%s\n' "$tree" | grep -E "$forbidden" || true)
if [ -n "$found" ]; then
  echo "sealgate-crypto must do no I/O, but its dependency tree has: $found" >&2
  exit 1
fi
echo "sealgate-crypto is sans-IO: $(printf '%s\n' "$tree" | wc -l) crates, none of tokio/hyper/reqwest/redis/rustls"
