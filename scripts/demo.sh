#!/usr/bin/env bash
# The main job on the model we ship: set up, build, import models/bytellama
# (a byte-level Llama trained by models/train_bytellama.py), print its
# attn-report, run it on the CPU and print its validation bits-per-byte
# measured through the compiled model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >&2

model=models/bytellama
out=build/demo
mkdir -p "$out"
echo "== attn-import hf $model" >&2
build/bin/attn-import hf "$model" -o "$out/bytellama.mlir"
echo "== attn-opt --attn-verify-params --attn-report" >&2
build/bin/attn-opt "$out/bytellama.mlir" --attn-verify-params \
  --attn-report="seq-len=256 label=bytellama" -o /dev/null
if [ -x build/bin/attn-eval ]; then
  echo "== attn-eval on $model/val.txt (compiled model, CPU JIT)" >&2
  build/bin/attn-eval "$out/bytellama.mlir" --text "$model/val.txt"
fi
