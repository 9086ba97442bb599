#!/usr/bin/env bash
# attn-reduce's interestingness test for attn-reduce.test: FILE is
# interesting (exit 1, mlir-reduce's convention) while it still verifies and
# still holds an attn.rope op.
attn-opt "$1" -o /dev/null 2>/dev/null && grep -q 'attn.rope' "$1" && exit 1
exit 0
