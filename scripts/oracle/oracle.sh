#!/usr/bin/env bash
# Independent check of the TFLite -> ONNX conversion against TFLite's own interpreter.
# Needs the TypeScript build (pnpm build); installs ai-edge-litert into var/oracle-venv once.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VENV="var/oracle-venv"
DUMP="var/oracle"
IMAGES="${ORACLE_IMAGES_DIR:-$ROOT/../shared/images}"
if [ -z "${MODEL_MIRROR_DIR:-}" ] && [ -d "$ROOT/../shared/models" ]; then
  export MODEL_MIRROR_DIR="$ROOT/../shared/models"
fi

if [ ! -f packages/model/dist/index.js ] || [ ! -f packages/shared/dist/index.js ]; then
  echo "oracle: run 'pnpm build' first" >&2
  exit 1
fi
if ! "$VENV/bin/python" -c 'import ai_edge_litert, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet ai-edge-litert numpy
fi

node scripts/oracle/dump-onnx.mjs "$DUMP" "$IMAGES"
"$VENV/bin/python" scripts/oracle/compare.py "$DUMP"
