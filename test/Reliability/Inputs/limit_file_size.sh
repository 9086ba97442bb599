#!/usr/bin/env bash
# limit_file_size.sh KIB COMMAND ARGS...
#
# Runs COMMAND with RLIMIT_FSIZE at KIB KiB, the stand-in for a disk that
# fills up mid-write (no root, no loop device). The write that crosses the
# limit raises SIGXFSZ, which kills COMMAND in the middle of that write
# (LLVM's crash handler prints a stack dump first; symbolizing it would
# write files too, so it is turned off). Succeeds, printing how COMMAND
# ended, when COMMAND failed; fails when COMMAND succeeded.
ulimit -c 0
ulimit -f "$1"
shift
LLVM_DISABLE_SYMBOLIZATION=1 "$@" 2>/dev/null
status=$?
if [ $status -eq 0 ]; then
  echo "limit_file_size.sh: the command succeeded under the limit"
  exit 1
fi
echo "limit_file_size.sh: the command failed (status $status)"
exit 0
