#!/usr/bin/env bash
# The reliability step (issue 5, shared/RELIABILITY.md): replays every seed
# corpus and every saved crash reproducer through the libFuzzer targets,
# fuzzes each target for a short bounded time, then builds the ASan+UBSan
# tree and runs the unit and lit suites in it. scripts/test.sh runs it after
# the main suite (skip with ATTN_SKIP_RELIABILITY=1); each step becomes one
# JUnit testcase in build/test-results/reliability.xml, which the closing
# line of the suite counts.
#
#   scripts/reliability.sh                 all of it (build replay fuzz sanitizers)
#   scripts/reliability.sh replay fuzz     just those steps
#   scripts/reliability.sh campaign        the long campaign (not in CI):
#                                          ATTN_CAMPAIGN_RUNS executions per
#                                          target, one target at a time
#
# Build trees: build-fuzz (-DATTN_ENABLE_FUZZERS=ON) and build-asan
# (-DATTN_ENABLE_SANITIZERS=ON), both clang-14 at -O1 with line tables.
# Only our code is instrumented; libMLIR.so and the code attn-run JITs are
# not, so a bad access inside them is seen only where our code touches it.
#
# Knobs (environment):
#   ATTN_FUZZ_SECONDS       seconds per target in the fuzz step (30)
#   ATTN_RELIABILITY_JOBS   build and lit parallelism (nproc)
#   ATTN_CAMPAIGN_RUNS      executions per target in a campaign (1000000)
#   ATTN_CAMPAIGN_SECONDS   time cap per target in a campaign (3600)
#   ATTN_RELIABILITY_XML    JUnit output (build/test-results/reliability.xml)
#   ATTN_RELIABILITY_WORK   logs, results, working corpora, artifacts
#                           (build-fuzz/reliability)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TARGETS=(json safetensors_file safetensors_header safetensors_roundtrip
         mlir_parse attn_passes hf_config)
FUZZ_DIR=$ROOT/build-fuzz
ASAN_DIR=$ROOT/build-asan
WORK=${ATTN_RELIABILITY_WORK:-$FUZZ_DIR/reliability}
JOBS=${ATTN_RELIABILITY_JOBS:-$(nproc)}
FUZZ_SECONDS=${ATTN_FUZZ_SECONDS:-30}
XML=${ATTN_RELIABILITY_XML:-$ROOT/build/test-results/reliability.xml}
LIT=/usr/lib/llvm-22/bin/lit
# Other engineers share the machine's two cores.
NICE=(nice -n 10)
# Both the fuzzers and the sanitizer suite stop at the first report
# (-fno-sanitize-recover=all); symbolized stacks need llvm-symbolizer.
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-14/bin/llvm-symbolizer}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# scripts/test.sh points LIT_OPTS at the main suite's results file, which
# the sanitizer suite's lit run must not overwrite.
unset LIT_OPTS

mkdir -p "$WORK/logs" "$WORK/artifacts" "$(dirname "$XML")"
RESULTS=$WORK/results.tsv
: > "$RESULTS"
START=$(date +%s)

# CPU seconds (user + system) of every child this shell has waited for: a
# measure of a step's cost that does not depend on what else the machine is
# running, unlike its wall time.
# `times` runs in this shell (a command substitution would be a fresh
# process with no children); the result goes to CPU_NOW.
update_cpu() {
  times > "$WORK/times.txt"
  CPU_NOW=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/);
                           printf "%.1f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' \
            "$WORK/times.txt")
}
update_cpu
LAST_CPU=$CPU_NOW

# record NAME STATUS(pass|fail|skip) SECONDS MESSAGE; the CPU time since the
# previous record is the step's.
record() {
  local cpu
  update_cpu
  cpu=$(awk -v a="$CPU_NOW" -v b="$LAST_CPU" 'BEGIN { printf "%.1f", a - b }')
  LAST_CPU=$CPU_NOW
  local msg="$4 [cpu ${cpu} s]"
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(printf '%s' "$msg" | tr '\t\n' '  ')" >> "$RESULTS"
  printf 'reliability: %-34s %-4s %4ss  %s\n' "$1" "$2" "$3" "$msg"
}

write_xml() {
  /usr/bin/python3 - "$RESULTS" "$XML" <<'EOF'
import sys
import xml.etree.ElementTree as ET
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
suite = ET.Element("testsuite", name="reliability", tests=str(len(rows)),
                   failures=str(sum(r[1] == "fail" for r in rows)),
                   skipped=str(sum(r[1] == "skip" for r in rows)))
for name, status, secs, msg in rows:
    case = ET.SubElement(suite, "testcase", classname="reliability",
                         name=name, time=secs)
    if status == "fail":
        ET.SubElement(case, "failure", message=msg).text = msg
    elif status == "skip":
        ET.SubElement(case, "skipped", message=msg)
    else:
        ET.SubElement(case, "system-out").text = msg
root = ET.Element("testsuites")
root.append(suite)
ET.ElementTree(root).write(sys.argv[2], encoding="utf-8", xml_declaration=True)
EOF
}

dict_for() {
  case "$1" in
    mlir_parse|attn_passes) echo "$ROOT/fuzz/dict/mlir.dict" ;;
    hf_config) echo "$ROOT/fuzz/dict/hf_config.dict" ;;
    *) echo "$ROOT/fuzz/dict/json.dict" ;;
  esac
}

# Executions libFuzzer reports in a log (-print_final_stats=1).
executions() {
  grep -ho 'stat::number_of_executed_units: [0-9]*' "$@" 2>/dev/null |
    awk '{s += $2} END {print s + 0}'
}

configure_fuzz() {
  [ -f "$FUZZ_DIR/build.ninja" ] && return 0
  cmake -G Ninja -S "$ROOT" -B "$FUZZ_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
    -DATTN_ENABLE_FUZZERS=ON -DATTN_ENABLE_TESTS=OFF
}

configure_asan() {
  [ -f "$ASAN_DIR/build.ninja" ] && return 0
  # NDEBUG as in libMLIR.so: MLIR's headers must agree with the library.
  cmake -G Ninja -S "$ROOT" -B "$ASAN_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
    -DATTN_ENABLE_SANITIZERS=ON
}

step_build() {
  local t0=$(date +%s) log=$WORK/logs/build-fuzz.log
  if configure_fuzz > "$log" 2>&1 &&
     "${NICE[@]}" ninja -C "$FUZZ_DIR" -j"$JOBS" attn-fuzzers >> "$log" 2>&1; then
    record build.fuzzers pass $(( $(date +%s) - t0 )) "${#TARGETS[@]} targets in $FUZZ_DIR/bin"
  else
    record build.fuzzers fail $(( $(date +%s) - t0 )) "$(tail -n 20 "$log")"
    return 1
  fi
}

# Every committed seed and reproducer, once each.
step_replay() {
  local t
  for t in "${TARGETS[@]}"; do
    local t0=$(date +%s) log=$WORK/logs/replay-$t.log bin=$FUZZ_DIR/bin/fuzz-$t
    local files=()
    mapfile -t files < <(find "$ROOT/fuzz/corpus/$t" "$ROOT/fuzz/regressions/$t" \
                           -type f ! -name '*.md' 2>/dev/null | sort)
    if [ ! -x "$bin" ]; then
      record "replay.$t" fail 0 "$bin is missing (build step failed?)"
    elif [ ${#files[@]} -eq 0 ]; then
      record "replay.$t" fail 0 "no seeds in fuzz/corpus/$t"
    elif (cd "$WORK" && "${NICE[@]}" "$bin" -timeout=60 -rss_limit_mb=4096 \
            "${files[@]}") > "$log" 2>&1; then
      record "replay.$t" pass $(( $(date +%s) - t0 )) "${#files[@]} inputs"
    else
      record "replay.$t" fail $(( $(date +%s) - t0 )) \
        "$(grep -m1 -E 'ERROR|SUMMARY|attn-fuzz|Running:' "$log" | head -c 400); log: $log"
    fi
  done
}

# run_fuzzer TARGET SECONDS RUNS LOG CORPUS: one bounded libFuzzer run.
run_fuzzer() {
  local t=$1 secs=$2 runs=$3 log=$4 corpus=$5
  mkdir -p "$corpus" "$WORK/artifacts/$t"
  (cd "$WORK" && "${NICE[@]}" "$FUZZ_DIR/bin/fuzz-$t" \
     -max_total_time="$secs" -runs="$runs" -timeout=20 -rss_limit_mb=4096 \
     -dict="$(dict_for "$t")" -print_final_stats=1 \
     -artifact_prefix="$WORK/artifacts/$t/" \
     "$corpus" "$ROOT/fuzz/corpus/$t") > "$log" 2>&1
}

step_fuzz() {
  local t
  for t in "${TARGETS[@]}"; do
    local t0=$(date +%s) log=$WORK/logs/fuzz-$t.log
    if [ ! -x "$FUZZ_DIR/bin/fuzz-$t" ]; then
      record "fuzz.$t" fail 0 "fuzz-$t is missing (build step failed?)"
      continue
    fi
    # The working corpus persists in the build tree between runs, so local
    # runs keep what earlier ones found; the committed seeds stay as they are.
    if run_fuzzer "$t" "$FUZZ_SECONDS" -1 "$log" "$WORK/corpus/$t"; then
      record "fuzz.$t" pass $(( $(date +%s) - t0 )) "$(executions "$log") executions, no findings"
    else
      record "fuzz.$t" fail $(( $(date +%s) - t0 )) \
        "$(grep -m1 -E 'ERROR|SUMMARY|attn-fuzz' "$log" | head -c 300); reproducer: $(ls -t "$WORK/artifacts/$t" | head -n1); log: $log"
    fi
  done
}

step_sanitizers() {
  local t0=$(date +%s) log=$WORK/logs/build-asan.log
  if configure_asan > "$log" 2>&1 &&
     "${NICE[@]}" ninja -C "$ASAN_DIR" -j"$JOBS" >> "$log" 2>&1; then
    record sanitizers.build pass $(( $(date +%s) - t0 )) "$ASAN_DIR"
  else
    record sanitizers.build fail $(( $(date +%s) - t0 )) "$(tail -n 20 "$log")"
    record sanitizers.unit skip 0 "the ASan+UBSan build failed"
    record sanitizers.lit skip 0 "the ASan+UBSan build failed"
    return 1
  fi
  # LLVM's and MLIR's own allocations that live until exit (static
  # registries, the JIT's memory) are not our leaks; leak checking stays on
  # for the fuzzers, where each input's memory is ours.
  local asan_opts=${ATTN_ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
  local out=$ASAN_DIR/test-results
  rm -rf "$out" && mkdir -p "$out"

  t0=$(date +%s)
  ASAN_OPTIONS=$asan_opts "${NICE[@]}" ctest --test-dir "$ASAN_DIR" \
    -E '^(lit|pytest)$' -j"$JOBS" --output-junit "$out/unit.xml" \
    > "$WORK/logs/asan-unit.log" 2>&1
  local rc=$?
  local summary
  summary=$(grep -E 'tests passed|tests failed' "$WORK/logs/asan-unit.log" | tail -n1)
  if [ $rc -eq 0 ]; then
    record sanitizers.unit pass $(( $(date +%s) - t0 )) "$summary"
  else
    record sanitizers.unit fail $(( $(date +%s) - t0 )) \
      "$summary; $(grep -E '^\s+[0-9]+ - ' "$WORK/logs/asan-unit.log" | head -n 10 | tr -s ' ')"
  fi

  t0=$(date +%s)
  ASAN_OPTIONS=$asan_opts "${NICE[@]}" "$LIT" -sv -j"$JOBS" \
    --xunit-xml-output="$out/lit.xml" "$ASAN_DIR/test" \
    > "$WORK/logs/asan-lit.log" 2>&1
  rc=$?
  summary=$(grep -E '^\s*(Passed|Failed|Unsupported|Expectedly Failed|Unresolved)' "$WORK/logs/asan-lit.log" | tr -s ' ' | tr '\n' ';')
  if [ $rc -eq 0 ]; then
    record sanitizers.lit pass $(( $(date +%s) - t0 )) "$summary"
  else
    record sanitizers.lit fail $(( $(date +%s) - t0 )) \
      "$summary $(grep -E '^  Attenuate :: ' "$WORK/logs/asan-lit.log" | head -n 10 | tr -s ' ')"
  fi
}

# The long campaign: one target at a time, one job each, until
# ATTN_CAMPAIGN_RUNS executions or ATTN_CAMPAIGN_SECONDS, whichever first.
step_campaign() {
  local runs=${ATTN_CAMPAIGN_RUNS:-1000000} secs=${ATTN_CAMPAIGN_SECONDS:-3600}
  local t
  for t in ${ATTN_CAMPAIGN_TARGETS:-${TARGETS[@]}}; do
    local t0=$(date +%s) log=$WORK/logs/campaign-$t.log
    if run_fuzzer "$t" "$secs" "$runs" "$log" "$WORK/corpus/$t"; then
      record "campaign.$t" pass $(( $(date +%s) - t0 )) "$(executions "$log") executions, no findings"
    else
      record "campaign.$t" fail $(( $(date +%s) - t0 )) \
        "$(executions "$log") executions; $(grep -m1 -E 'ERROR|SUMMARY|attn-fuzz' "$log" | head -c 300); reproducer: $(ls -t "$WORK/artifacts/$t" | head -n1)"
    fi
  done
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(build replay fuzz sanitizers)
for s in "${steps[@]}"; do
  case "$s" in
    # A failed fuzzer build still lets the sanitizer suite run; replay and
    # fuzz then fail per target, naming the missing binary.
    build) step_build ;;
    replay) step_replay ;;
    fuzz) step_fuzz ;;
    sanitizers) step_sanitizers ;;
    campaign) step_campaign ;;
    *) echo "reliability: unknown step '$s'" >&2; exit 2 ;;
  esac
done
write_xml
count() { cut -f2 "$RESULTS" | grep -cx "$1"; }
update_cpu
echo "reliability: $(count pass) passed, $(count fail) failed, $(count skip) skipped in $(( $(date +%s) - START )) s ($CPU_NOW s of CPU); $XML"
[ "$(count fail)" -eq 0 ]
