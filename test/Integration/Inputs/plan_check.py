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
import subprocess
import sys

import numpy as np

from attenuate import reference, safetensors_io


def call(cmd, inputs, out_path, work):
    in_path = os.path.join(work, "call-inputs.safetensors")
    # save_file orders by name; zero-padded indices keep argument order.
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(inputs)},
                             in_path)
    cmd = cmd + ["--input=" + in_path, "--output=" + out_path]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"plan_check: {' '.join(cmd)} failed: {p.stderr.strip()}")
    out = safetensors_io.load_file(out_path)
    return [out[f"result{i}"] for i in range(len(out))]


def compare(label, got, want, tol):
    err = float(np.abs(got.astype(np.float64) - want).max())
    rel = err / max(float(np.abs(want).max()), 1e-30)
    ok = got.shape == want.shape and rel < tol
    print(f"{label}: max abs diff {err:.3e}, normwise rel {rel:.3e} "
          f"(tol {tol:g}) -> {'PASS' if ok else 'FAIL'}")
    return ok


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

    config, params = reference.load_hf(args.ckpt)
    L = int(config["num_hidden_layers"])
    hq = int(config["num_attention_heads"])
    hkv = int(config.get("num_key_value_heads") or hq)
    hd = int(config.get("head_dim") or config["hidden_size"] // hq)
    steps = [int(s) for s in args.steps.split(",")]
    n, B = args.prefill, args.batch
    T = n + sum(steps)
    rng = np.random.default_rng(args.seed)
    tokens = rng.integers(0, int(config["vocab_size"]), size=(B, T),
                          dtype=np.int64)

    def positions(begin, end):
        return np.broadcast_to(np.arange(begin, end, dtype=np.int64),
                               (B, end - begin)).copy()

    zeros = [np.zeros((B, T, hkv, hd), np.float32)] * (2 * L)
    ok = True

    full_in = [tokens, positions(0, T)] + zeros
    full = call(exec_cmd, full_in, os.path.join(args.work, "full.safetensors"),
                args.work)
    want, _ = reference.forward(params, config, tokens, positions(0, T))
    ok &= compare(f"attn-exec full forward ({T} tokens) vs numpy", full[0],
                  want, args.tol)
    if not args.no_attn_run:
        attn_run = shutil.which("attn-run")
        if attn_run is None:
            sys.exit("plan_check: attn-run is not on PATH")
        jit = call([attn_run, args.module, "--entry=forward"], full_in,
                   os.path.join(args.work, "jit.safetensors"), args.work)
        ok &= compare("attn-exec vs attn-run logits", full[0], jit[0],
                      args.tol)
        for j, (a, b) in enumerate(zip(full[1:], jit[1:])):
            ok &= compare(f"attn-exec vs attn-run cache {j}", a, b, args.tol)

    res = call(exec_cmd, [tokens[:, :n], positions(0, n)] + zeros,
               os.path.join(args.work, "prefill.safetensors"), args.work)
    ok &= compare(f"prefill (positions 0..{n - 1}) vs full", res[0],
                  full[0][:, :n], args.tol)
    pos = n
    for i, s in enumerate(steps):
        res = call(exec_cmd,
                   [tokens[:, pos:pos + s], positions(pos, pos + s)] + res[1:],
                   os.path.join(args.work, f"step{i}.safetensors"), args.work)
        where = (f"position {pos}" if s == 1
                 else f"positions {pos}..{pos + s - 1}")
        ok &= compare(f"step {i} ({where}) vs full", res[0],
                      full[0][:, pos:pos + s], args.tol)
        pos += s
    for j, (a, b) in enumerate(zip(res[1:], full[1:])):
        ok &= compare(f"final cache {j} vs full", a, b, args.tol)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
