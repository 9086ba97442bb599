#!/usr/bin/env bash
# The one script for a lent GPU machine (see ../../../shared/GPU.md and
# bench/gpu/README.md). In under 5 minutes:
#   1. prints the device, driver, nvcc and torch;
#   2. builds the CUDA runtime and its tests runtime-only (bench/gpu's CMake
#      project: no MLIR, no CPU libraries) into build-gpu/, with ptxas -v;
#   3. runs the CUDA unit tests (poisoned outputs, fresh random inputs; the
#      emulation tests too, they are quick to list and prove the build);
#   4. runs compute-sanitizer (memcheck, racecheck) on small cases;
#   5. measures the copy and bf16 GEMM ceilings and times our prefill,
#      decode and MLA decode kernels against torch SDPA (flash backend) and a
#      plain torch absorbed-MLA decode in the same run (bench.py);
#   6. runs the compiled bytellama plan (bench/gpu/bytellama.plan, made on the
#      CPU machine by bench/gpu/make_plan.sh) with attn-exec --device=cuda:
#      logits against torch fp32, greedy decode tokens/s against torch eager
#      (e2e_decode.py → e2e.md / e2e.json);
# and writes everything to $OUT: run.log, device.txt, ptxas.txt, tests.xml,
# sanitizer logs, bench.md / bench.json (the table), e2e.md / e2e.json,
# summary.txt.
#
#   bench/gpu/run.sh            on the GPU machine ($OUT set by the runner)
#   bench/gpu/run.sh --dry-run  anywhere: the same build (nice, -j1) and the
#                               tests, which skip without a GPU; the bench's
#                               binding checks; no timings
#   bench/gpu/run.sh --quick    one shape per benchmark family
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

DRY=0
QUICK=""
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    --quick) QUICK=--quick ;;
    *) echo "usage: $0 [--dry-run] [--quick]" >&2; exit 2 ;;
  esac
done

OUT=${OUT:-$ROOT/bench-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1

NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
PYTHON=${PYTHON:-python3}
BUILD=${BUILD_DIR:-$ROOT/build-gpu}
START=$(date +%s)
declare -a SUMMARY=()

step() { echo; echo "== [$(( $(date +%s) - START ))s] $*"; }
# record NAME STATUS: one line of summary.txt.
record() { SUMMARY+=("$(printf '%-12s %s' "$1" "$2")"); }

step "device"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm \
    --format=csv 2>&1 || echo "nvidia-smi: not available"
  "$NVCC" --version 2>&1 | tail -2
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")' 2>&1
} | tee "$OUT/device.txt"

step "build (runtime-only: cmake -S bench/gpu)"
if [ "$DRY" = 1 ]; then JOBS=1; NICE="nice -n 10"; LIMIT=1800; else JOBS=$(nproc); NICE=""; LIMIT=300; fi
if cmake -G Ninja -S bench/gpu -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_CUDA_COMPILER="$NVCC" -DATTN_CUDA_PTXAS_VERBOSE=ON \
     > "$OUT/configure.log" 2>&1 \
   && timeout $LIMIT $NICE ninja -C "$BUILD" -j"$JOBS" > "$OUT/build.log" 2>&1; then
  record build ok
else
  record build FAILED
  tail -40 "$OUT/configure.log" "$OUT/build.log"
  printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
  exit 1
fi
# Registers, shared memory and spills per kernel (the demangled variant is
# on the "Compiling entry function" line before each "Used" line).
grep -E "Compiling entry function|Used [0-9]+ registers|spill" \
  "$OUT/build.log" | sed -E 's/ptxas info *: //' > "$OUT/ptxas.txt" || true
SPILLS=$(grep -cE "[1-9][0-9]* bytes spill (stores|loads)" "$OUT/ptxas.txt")
echo "ptxas: $(grep -c 'Used' "$OUT/ptxas.txt") kernels, $SPILLS with spills (details in ptxas.txt)"
LIB="$BUILD/lib/libattn_runtime_cuda.so"

step "CUDA unit tests"
if [ -x "$BUILD/bin/CudaUnitTests" ]; then
  timeout 180 "$BUILD/bin/CudaUnitTests" --gtest_output="xml:$OUT/tests.xml" \
    > "$OUT/tests.log" 2>&1
  rc=$?
  # gtest's closing counts ("[  PASSED  ] 13 tests.", "[  SKIPPED ] 107
  # tests, listed below:"), the failures, and the skip reason once (every
  # device test skips with the same one).
  grep -E "^\[  (PASSED|FAILED|SKIPPED) *\] [0-9]+ tests?[.,]" "$OUT/tests.log"
  grep -E "^\[  FAILED  \] .*(Sweep|Dtypes|Cases|Gpu|Abi)" "$OUT/tests.log" | head -20
  grep -m1 -A1 ": Skipped" "$OUT/tests.log" | tail -1 || true
  skipped=$(grep -E "^\[  SKIPPED \] [0-9]+ tests?," "$OUT/tests.log" |
            grep -oE "[0-9]+" | head -1)
  skipped=${skipped:-0}
  if [ $rc -ne 0 ]; then record tests "FAILED (rc $rc, see tests.log)";
  elif [ "$skipped" -gt 0 ]; then record tests "ok, $skipped skipped (no usable GPU)";
  else record tests ok; fi
else
  echo "CudaUnitTests not built (no GoogleTest on this machine: see configure.log)"
  record tests "not built (no GoogleTest)"
fi
if [ -x "$BUILD/bin/CudaEmulationTests" ]; then
  # The emulator runs the kernel bodies on the CPU; a short filter keeps
  # this step quick (the whole sweep runs in ctest on the CPU machine).
  timeout 90 "$BUILD/bin/CudaEmulationTests" \
    --gtest_filter='*Sq17_Skv113*:*decode_B2_Sq1_Skv113*splits3*:*Sq1_Skv70_Hq16*mla*:*Elementwise*' \
    > "$OUT/emulation.log" 2>&1 \
    && record emulation ok || record emulation "FAILED (see emulation.log)"
  tail -1 "$OUT/emulation.log"
fi

step "compute-sanitizer (small cases)"
if [ "$DRY" = 1 ] || ! command -v compute-sanitizer > /dev/null; then
  echo "skipped: $([ "$DRY" = 1 ] && echo dry run || echo no compute-sanitizer)"
  record sanitizer skipped
elif [ -x "$BUILD/bin/CudaUnitTests" ]; then
  SMALL='Sweep/GpuAttention.MatchesReference/prefill_B1_Sq113_Skv113_Hq2_Hkv1_Dqk128_Dv128_causal_bf16:Sweep/GpuAttention.MatchesReference/decode_B2_Sq1_Skv113_Hq8_Hkv2_Dqk128_Dv128_causal_splits3_bf16:Sweep/GpuAttention.MatchesReference/decode_B1_Sq1_Skv130_Hq16_Hkv1_Dqk576_Dv512_causal_splits3_mla_bf16:Dtypes/GpuElementwise.*/bf16'
  status=ok
  for tool in memcheck racecheck; do
    timeout 90 compute-sanitizer --tool "$tool" --error-exitcode 3 \
      "$BUILD/bin/CudaUnitTests" --gtest_filter="$SMALL" \
      > "$OUT/sanitizer-$tool.log" 2>&1 || status="FAILED ($tool, see sanitizer-$tool.log)"
    echo "$tool: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer-$tool.log" | tail -1)"
  done
  record sanitizer "$status"
else
  record sanitizer "skipped (tests not built)"
fi

step "benchmarks"
if [ "$DRY" = 1 ]; then
  PYTHON_DRY=${PYTHON_DRY:-$PYTHON}
  timeout 120 "$PYTHON_DRY" bench/gpu/bench.py --lib "$LIB" --out "$OUT" \
    --dry-run $QUICK && record bench "dry run ok" || record bench "dry run FAILED"
else
  timeout 180 "$PYTHON" bench/gpu/bench.py --lib "$LIB" --out "$OUT" $QUICK
  rc=$?
  if [ $rc -eq 0 ]; then record bench "ok (bench.md)";
  else record bench "FAILED or incomplete (rc $rc, see run.log)"; fi
fi

step "end to end: compiled bytellama plan (attn-exec) vs torch eager decode"
# bench/gpu/bytellama.plan was compiled on the CPU machine
# (bench/gpu/make_plan.sh); attn-exec runs it here without MLIR.
if [ ! -x "$BUILD/bin/attn-exec" ]; then
  echo "attn-exec not built"
  record e2e "not built"
elif [ "$DRY" = 1 ]; then
  # No GPU: the plan's kernel calls are checked against the CUDA entries'
  # argument rules (--device=cuda-check); the CPU machine runs the same
  # plan for numbers in test/Integration/attn-exec-bytellama.test.
  "$BUILD/bin/attn-exec" --list-devices
  # A [2, 8] int64 prompt as .npy, without numpy.
  if "$PYTHON" -c "
import struct
h = \"{'descr': '<i8', 'fortran_order': False, 'shape': (2, 8), }\"
h += ' ' * (63 - (10 + len(h)) % 64) + '\\n'
open('$OUT/e2e-prompt.npy', 'wb').write(b'\\x93NUMPY\\x01\\x00' + struct.pack('<H', len(h)) + h.encode() + struct.pack('<16q', *range(1, 17)))" \
     && "$BUILD/bin/attn-exec" bench/gpu/bytellama.plan --device=cuda-check \
          --generate=4 --prompt="$OUT/e2e-prompt.npy" > "$OUT/e2e-check.log" 2>&1; then
    echo "bytellama.plan: every CUDA kernel call accepts its arguments (prefill and decode)"
    record e2e "dry run: plan passes the CUDA argument checks"
  else
    cat "$OUT/e2e-check.log"
    record e2e "dry run: plan check FAILED (see e2e-check.log)"
  fi
else
  E2E_ARGS=""
  [ -n "$QUICK" ] && E2E_ARGS="--batches 1 --new 64"
  timeout 150 "$PYTHON" bench/gpu/e2e_decode.py --exec "$BUILD/bin/attn-exec" \
    --plan bench/gpu/bytellama.plan --out "$OUT" $E2E_ARGS \
    && record e2e "ok (e2e.md)" || record e2e "FAILED (see run.log)"
fi

step "summary"
record total "$(( $(date +%s) - START )) s"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
