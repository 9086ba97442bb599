#!/usr/bin/env python3
"""attn-exec PLAN and attn-run MODULE on the same inputs: every result equal.

    plan_vs_jit.py MODULE.mlir PLAN WORK_DIR [--batch B] [--tokens S]
        [--capacity C] [--position P] [--seed N] [--tol T]

Inputs come from the plan's input table, so any imported or rewritten model
works (dense, MLA latent caches, shared attention): the first int64 input
gets random token ids below --vocab, the second positions P..P+S-1; every other
input is a float cache [B, C, ...] of random values (the trailing dims from
the plan). Each result is compared normwise (max|a - b| / max|b| < T,
default 1e-4); one line per result; non-zero exit on any failure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

from attenuate import safetensors_io


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("module")
    p.add_argument("plan")
    p.add_argument("work")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--tokens", type=int, default=3)
    p.add_argument("--capacity", type=int, default=16)
    p.add_argument("--position", type=int, default=5)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--tol", type=float, default=1e-4)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    plan = json.load(open(args.plan))
    rng = np.random.default_rng(args.seed)
    B, S, C, P = args.batch, args.tokens, args.capacity, args.position
    inputs = []
    ints = 0
    for inp in plan["inputs"]:
        # The first integer input is the tokens, the second the positions
        # (names are lost when a rewritten module is printed without locs).
        if inp["dtype"] == "I64":
            ints += 1
        if inp["dtype"] == "I64" and ints == 1:
            inputs.append(rng.integers(0, args.vocab, size=(B, S), dtype=np.int64))
        elif inp["dtype"] == "I64" and ints == 2:
            inputs.append(np.broadcast_to(np.arange(P, P + S, dtype=np.int64),
                                          (B, S)).copy())
        else:
            tail = inp["shape"][2:]
            if any(isinstance(d, str) for d in tail):
                sys.exit(f"plan_vs_jit: input {inp['name']} has dynamic trailing dims")
            inputs.append(rng.standard_normal((B, C, *tail)).astype(np.float32))
    in_path = os.path.join(args.work, "in.safetensors")
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(inputs)},
                             in_path)
    results = {}
    for tool, target in (("attn-exec", args.plan), ("attn-run", args.module)):
        out = os.path.join(args.work, tool + ".safetensors")
        cmd = [shutil.which(tool), target, "--input=" + in_path, "--output=" + out]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"plan_vs_jit: {' '.join(cmd)} failed: {r.stderr.strip()}")
        o = safetensors_io.load_file(out)
        results[tool] = [o[f"result{i}"] for i in range(len(o))]
    ok = len(results["attn-exec"]) == len(results["attn-run"])
    for i, (a, b) in enumerate(zip(results["attn-exec"], results["attn-run"])):
        err = float(np.abs(a.astype(np.float64) - b).max()) if a.shape == b.shape else float("inf")
        rel = err / max(float(np.abs(b).max()), 1e-30)
        good = a.shape == b.shape and rel < args.tol
        ok &= good
        print(f"result {i} {list(a.shape)}: normwise rel {rel:.3e} -> {'PASS' if good else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
