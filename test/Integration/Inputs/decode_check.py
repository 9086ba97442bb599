#!/usr/bin/env python3
"""Decode with the KV cache through attn-run must agree with one full forward.

    decode_check.py MODULE.mlir CKPT_DIR WORK_DIR --prefill N --steps 1,1,1,1,2
        [--batch B] [--seed S] [--tol T] [--reference]

With T = N + sum(steps) tokens and caches of capacity T:
  full     one @forward over all T tokens (positions 0..T-1, zero caches)
  prefill  @forward over the first N tokens (positions 0..N-1, zero caches)
  step i   @forward over the next steps[i] tokens at their positions, with
           the caches the previous call returned
Each call is a separate attn-run process (a fresh JIT), so the caches make
the round trip through files, as a serving loop would hold them. Each
call's logits must equal the matching rows of the full forward, and the full
forward must equal python/attenuate/reference.py (numpy, fp64): normwise
max|a − b| / max|b| < T (default 1e-4). One line per comparison; exits
non-zero on any failure.
"""

import argparse
import os
import shutil
import sys

from decode_steps import Problem, call, compare


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("module")
    p.add_argument("ckpt")
    p.add_argument("work")
    p.add_argument("--prefill", type=int, required=True)
    p.add_argument("--steps", required=True)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--reference", action="store_true",
                   help="pass --reference to attn-run (linalg lowering)")
    args = p.parse_args()

    attn_run = shutil.which("attn-run")
    if attn_run is None:
        sys.exit("decode_check: attn-run is not on PATH")
    cmd = [attn_run, args.module, "--entry=forward"]
    if args.reference:
        cmd.append("--reference")
    os.makedirs(args.work, exist_ok=True)
    pb = Problem(args.ckpt, args.prefill, args.steps, args.batch, args.seed)

    # Each call is a separate attn-run process (a fresh JIT).
    def run(inputs, name):
        return call("decode_check", cmd, inputs,
                    os.path.join(args.work, name + ".safetensors"), args.work)

    full = run(pb.full_inputs(), "full")
    ok = compare(f"full forward ({pb.total} tokens) vs numpy", full[0],
                 pb.numpy_logits(), args.tol)
    ok &= pb.check_steps(run, full, args.tol)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
