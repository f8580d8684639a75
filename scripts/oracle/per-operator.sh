#!/usr/bin/env bash
# Per-operator comparison of the int8 graph with TFLite's integers, on one image of the oracle's
# dump (default: a hard variant), then int8-exact's on every image. Run `pnpm oracle` first;
# installs onnx and onnxruntime into the oracle's venv once.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT"
VENV="var/oracle-venv"
if [ ! -f var/oracle/manifest.json ]; then
  echo "oracle:operators: run 'pnpm oracle' first" >&2
  exit 1
fi
if ! "$VENV/bin/python" -c 'import onnx, onnxruntime' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check onnx==1.23.2 onnxruntime==1.32.0
fi
"$VENV/bin/python" scripts/oracle/per_operator.py var/oracle "${1:-parrot~rot135.png}"
