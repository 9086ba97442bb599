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
import subprocess
import sys

import numpy as np

from attenuate import reference, safetensors_io


def run(attn_run, module, inputs, out_path, work, extra):
    """Calls @forward on inputs (in argument order); returns its results."""
    in_path = os.path.join(work, "call-inputs.safetensors")
    # save_file orders by name; zero-padded indices keep argument order.
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(inputs)},
                             in_path)
    cmd = [attn_run, module, "--entry=forward", "--input=" + in_path,
           "--output=" + out_path] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"decode_check: {' '.join(cmd)} failed: {p.stderr.strip()}")
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
    extra = ["--reference"] if args.reference else []
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

    full = run(attn_run, args.module, [tokens, positions(0, T)] + zeros,
               os.path.join(args.work, "full.safetensors"), args.work, extra)
    want, _ = reference.forward(params, config, tokens, positions(0, T))
    ok &= compare(f"full forward ({T} tokens) vs numpy", full[0], want,
                  args.tol)

    res = run(attn_run, args.module,
              [tokens[:, :n], positions(0, n)] + zeros,
              os.path.join(args.work, "prefill.safetensors"), args.work, extra)
    ok &= compare(f"prefill (positions 0..{n - 1}) vs full", res[0],
                  full[0][:, :n], args.tol)
    pos = n
    for i, s in enumerate(steps):
        caches = res[1:]
        res = run(attn_run, args.module,
                  [tokens[:, pos:pos + s], positions(pos, pos + s)] + caches,
                  os.path.join(args.work, f"step{i}.safetensors"), args.work,
                  extra)
        where = f"position {pos}" if s == 1 else f"positions {pos}..{pos + s - 1}"
        ok &= compare(f"step {i} ({where}) vs full", res[0],
                      full[0][:, pos:pos + s], args.tol)
        pos += s
    # After the last step the caches hold every token, as the full forward's.
    for j, (a, b) in enumerate(zip(res[1:], full[1:])):
        ok &= compare(f"final cache {j} vs full", a, b, args.tol)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
