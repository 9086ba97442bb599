#!/usr/bin/env bash
# The whole test suite: setup, build, then ctest (which drives the lit suite,
# the GoogleTest unit tests and the pytest suite), and one closing line that
# counts every individual test.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh || { echo "build failed"; exit 1; }

results=build/test-results
rm -rf "$results" && mkdir -p "$results"
export LIT_OPTS="--xunit-xml-output=$PWD/$results/lit.xml"
export ATTN_PYTEST_JUNIT="$PWD/$results/pytest.xml"
ctest --test-dir build --output-on-failure --output-junit "$PWD/$results/ctest.xml"
rc=$?
/usr/bin/python3 scripts/summarize_tests.py "$results"
src=$?
[ $rc -ne 0 ] && exit $rc
exit $src
