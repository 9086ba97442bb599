#!/usr/bin/env python3
"""A compiled attn-plan run by attn-exec must agree with attn-run and numpy.

    plan_check.py MODULE.mlir PLAN CKPT_DIR WORK_DIR --prefill N
        --steps 1,1,2 [--batch B] [--seed S] [--tol T] [--device cpu|cuda]
        [--attn-params A] [--no-attn-run]

With T = N + sum(steps) tokens and caches of capacity T:
  full     attn-exec PLAN over all T tokens (positions 0..T-1, zero caches):
           its logits and caches against attn-run MODULE on the same inputs
           (the JIT) and its logits against python/attenuate/reference.py
           (numpy, fp64);
  prefill  the first N tokens, then each step the next steps[i] tokens with
           the caches the previous attn-exec call returned: logits against
           the matching rows of the full forward, final caches against its.
Normwise max|a - b| / max|b| < T (default 1e-4 for fp32; pass a larger one
for --device=cuda, whose kernels run in bf16). One line per comparison;
exits non-zero on any failure.
"""

import argparse
import os
import shutil
import sys

from decode_steps import Problem, call, compare


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("module")
    p.add_argument("plan")
    p.add_argument("ckpt")
    p.add_argument("work")
    p.add_argument("--prefill", type=int, required=True)
    p.add_argument("--steps", required=True)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--attn-params", default="")
    p.add_argument("--no-attn-run", action="store_true")
    args = p.parse_args()

    attn_exec = shutil.which("attn-exec")
    if attn_exec is None:
        sys.exit("plan_check: attn-exec is not on PATH")
    exec_cmd = [attn_exec, args.plan, "--device=" + args.device]
    if args.attn_params:
        exec_cmd.append("--attn-params=" + args.attn_params)
    os.makedirs(args.work, exist_ok=True)
    pb = Problem(args.ckpt, args.prefill, args.steps, args.batch, args.seed)

    def run(inputs, name):
        return call("plan_check", exec_cmd, inputs,
                    os.path.join(args.work, name + ".safetensors"), args.work)

    full = run(pb.full_inputs(), "full")
    ok = compare(f"attn-exec full forward ({pb.total} tokens) vs numpy",
                 full[0], pb.numpy_logits(), args.tol)
    if not args.no_attn_run:
        attn_run = shutil.which("attn-run")
        if attn_run is None:
            sys.exit("plan_check: attn-run is not on PATH")
        jit = call("plan_check", [attn_run, args.module, "--entry=forward"],
                   pb.full_inputs(), os.path.join(args.work, "jit.safetensors"),
                   args.work)
        ok &= compare("attn-exec vs attn-run logits", full[0], jit[0],
                      args.tol)
        for j, (a, b) in enumerate(zip(full[1:], jit[1:])):
            ok &= compare(f"attn-exec vs attn-run cache {j}", a, b, args.tol)
    ok &= pb.check_steps(run, full, args.tol)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
