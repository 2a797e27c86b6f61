#!/usr/bin/env bash
# API fuzzing: schemathesis (pinned in interop/fuzz/requirements.txt) against the /openapi.json
# of a live debug gateway (memory store, rate limits off) with a registered client: every
# check, every phase (examples, coverage, fuzzing, and stateful sequences through the
# document's links), a fixed seed, a bounded number of cases and at most 150 s of generation.
# Exits non-zero on any failure: a server error, an answer the document does not describe,
# a schema-valid request refused, a schema-invalid one accepted, an undeclared status or
# header, auth not enforced, a deleted resource still served, a panic in the gateway's log.
#
# What the run changes to make valid requests valid (credentials, JWK thumbprints, webhook
# URLs, envelopes bound to their mailbox), and the settings that keep rate limits out of it,
# are listed in docs/api.md, "Fuzzing", and explained in interop/fuzz/hooks.py and
# interop/fuzz/fuzz_api.py. No check is turned off: every exclusion of the run is one of the
# limits above, set so that the answer it would cause cannot happen.
#
# Usage: scripts/fuzz-api.sh [SCHEMATHESIS-OPTION...]   (needs cargo, and python3 with venv;
# scripts/test.sh runs it without options). Options go to `schemathesis run`: for example
# `scripts/fuzz-api.sh --seed 7 --max-examples 200` explores beyond the CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || { echo "fuzz: python3 -m venv failed: install python3-venv" >&2; exit 1; }
fi
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check \
  -r interop/requirements.txt -r interop/fuzz/requirements.txt; then
  echo "fuzz: schemathesis could not be installed into $venv (pip install -r interop/fuzz/requirements.txt);" \
    "the API fuzz run needs it and does not skip" >&2
  exit 1
fi
"$venv/bin/schemathesis" --version

cargo build -q --locked -p sealgate-cli
SEALGATE_BIN="${SEALGATE_BIN:-$root/target/debug/sealgate}" "$venv/bin/python" interop/fuzz/fuzz_api.py "$@"
