#!/usr/bin/env bash
# Independent check of the TFLite -> ONNX conversion, int8 and fp32, against TFLite's own interpreter.
# Needs the TypeScript build (pnpm build); installs ai-edge-litert into var/oracle-venv once.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT"
VENV="var/oracle-venv"
DUMP="var/oracle"
IMAGES="${ORACLE_IMAGES_DIR:-$ROOT/../shared/images}"

if [ ! -f packages/model/dist/index.js ] || [ ! -f packages/shared/dist/index.js ]; then
  echo "oracle: run 'pnpm build' first" >&2
  exit 1
fi
if ! "$VENV/bin/python" -c 'import ai_edge_litert, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check ai-edge-litert==2.3.0 numpy==2.4.6
fi

node scripts/oracle/dump-onnx.mjs "$DUMP" "$IMAGES"
"$VENV/bin/python" scripts/oracle/compare.py "$DUMP"
