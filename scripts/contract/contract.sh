#!/usr/bin/env bash
# The API contract fuzzed: schemathesis generates requests from /docs/json and runs every check
# against the running stack through nginx. Bounded (examples per operation) and seeded, so a
# failure reproduces. Installs schemathesis (and Pillow, for real images) into .tools once.
# Usage: contract.sh BASE_URL (e.g. http://127.0.0.1:8090)
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT"
BASE_URL="${1:?usage: contract.sh BASE_URL}"
VENV="$ROOT/.tools/schemathesis"
SCHEMATHESIS_VERSION="4.32.5"
PILLOW_VERSION="13.0.0"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" ||
  ! "$VENV/bin/python" -c 'import PIL' 2>/dev/null; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into .tools/schemathesis"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "pillow==$PILLOW_VERSION"
fi

# schemathesis keeps its crash files in the working directory: var/, not the checkout.
mkdir -p "$ROOT/var/contract"
cd "$ROOT/var/contract"
# hooks.py: an upload part declared image/png etc. gets a real image of that type.
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/scripts/contract" \
  "$VENV/bin/schemathesis" run "$BASE_URL/docs/json" --url "$BASE_URL" \
  --checks all --max-examples "${CONTRACT_EXAMPLES:-40}" --seed "${CONTRACT_SEED:-42}" \
  --generation-database none --workers 2 --no-color
