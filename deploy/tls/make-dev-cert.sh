#!/usr/bin/env bash
# A self-signed TLS certificate for trying sealgate locally (deploy/compose.yaml), valid for
# localhost, 127.0.0.1, ::1 and any host names given as arguments. Production uses a
# certificate from a real CA (docs/deploy.md, "TLS").
#
# Usage: deploy/tls/make-dev-cert.sh [HOSTNAME...]
# Writes tls.crt and tls.key into SEALGATE_TLS_DIR (default: this script's folder, which git
# ignores). Apps and curl trust the result with --cacert tls.crt.
set -euo pipefail

dir="${SEALGATE_TLS_DIR:-$(cd "$(dirname "$0")" && pwd)}"
command -v openssl >/dev/null || { echo "make-dev-cert.sh: openssl is needed" >&2; exit 1; }
mkdir -p "$dir"

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for host in "$@"; do
  san="$san,DNS:$host"
done

umask 077
# ECDSA P-256, 90 days: a leaf certificate (CA:FALSE) with the names as subjectAltName,
# which is what TLS clients check.
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -keyout "$dir/tls.key" -out "$dir/tls.crt" -days 90 -subj "/CN=sealgate-dev" \
  -addext "subjectAltName=$san" -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth" \
  2>/dev/null
chmod 0644 "$dir/tls.crt"

# The container runs as uid 65532 and Compose mounts the key with its host ownership.
if [ "$(id -u)" = 0 ]; then
  chown 65532:65532 "$dir/tls.key"
  chmod 0400 "$dir/tls.key"
else
  echo "note: the gateway container (uid 65532) must read $dir/tls.key:" >&2
  echo "      sudo chown 65532:65532 '$dir/tls.key' (or, on a single-user machine, chmod 0644 it)" >&2
fi
echo "wrote $dir/tls.crt and $dir/tls.key ($san)"
