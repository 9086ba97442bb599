#!/usr/bin/env bash
# pytest under Debian's interpreter; writes JUnit results where the test
# script asks, so the closing line can count each Python test.
set -uo pipefail
args=(-q "$@")
[ -n "${ATTN_PYTEST_JUNIT:-}" ] && args+=(--junitxml="$ATTN_PYTEST_JUNIT")
/usr/bin/python3 -m pytest "${args[@]}"
rc=$?
# pytest exits 5 when it collects nothing; that is a failure of the suite.
exit $rc
