#!/usr/bin/env bash
# Builds the CUDA configuration into build-cuda/: the runtime without MLIR
# (-DATTN_ENABLE_COMPILER=OFF) plus libattn_runtime_cuda.so and its tests
# (-DATTN_ENABLE_CUDA=ON). Works on the CPU machine: nvcc compiles for
# sm_90 without a GPU, and the tests skip (GPU) or emulate (kernel bodies).
# Separate from scripts/build.sh, whose default build does not need CUDA.
#
#   scripts/build_cuda.sh            configure if needed, build everything
#   scripts/build_cuda.sh --test     ... then run the CUDA tests (ctest -R Cuda)
#   JOBS=4 scripts/build_cuda.sh     parallel nvcc (default 1: it is CPU-heavy)
#   PTXAS_VERBOSE=1 scripts/build_cuda.sh   print registers/spills per kernel
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
JOBS=${JOBS:-1}
if [ ! -x "$NVCC" ]; then
  echo "build_cuda.sh: no nvcc at $NVCC (set NVCC)" >&2
  exit 1
fi
if [ ! -f build-cuda/build.ninja ]; then
  cmake -G Ninja -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release \
    -DATTN_ENABLE_COMPILER=OFF -DATTN_ENABLE_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$NVCC"
fi
cmake -B build-cuda -DATTN_CUDA_PTXAS_VERBOSE="$([ -n "${PTXAS_VERBOSE:-}" ] && echo ON || echo OFF)" > /dev/null
nice -n 10 ninja -C build-cuda -j"$JOBS"
if [ "${1:-}" = "--test" ]; then
  ctest --test-dir build-cuda -R '^Cuda' --output-on-failure
fi
