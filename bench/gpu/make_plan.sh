#!/usr/bin/env bash
# Compiles models/bytellama to bench/gpu/bytellama.plan on the CPU machine
# (the GPU machine has no MLIR): attn-import, then attn-lower-to-cuda. The
# archive path in the plan is made relative to the plan's directory, so the
# plan works wherever the repository is checked out.
#   bench/gpu/make_plan.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD/bin/attn-import" hf models/bytellama -o "$TMP/m.mlir"
"$BUILD/bin/attn-opt" "$TMP/m.mlir" --attn-lower-to-cuda=plan="$TMP/m.plan" -o /dev/null
sed "s|\"archives\": \[\"[^\"]*/models/bytellama/model.safetensors\"\]|\"archives\": [\"../../models/bytellama/model.safetensors\"]|" \
  "$TMP/m.plan" > bench/gpu/bytellama.plan
grep -q '"archives": \["../../models/bytellama/model.safetensors"\]' bench/gpu/bytellama.plan
echo "wrote bench/gpu/bytellama.plan ($(wc -c < bench/gpu/bytellama.plan) bytes)"
