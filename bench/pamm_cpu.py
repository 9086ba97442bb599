#!/usr/bin/python3
"""PAMM on the CPU: compress + grad-weight vs the exact weight gradient.

One run, same process, same thread count, on the runtime's C ABI (ctypes on
build/lib/libattn_runtime.so):
  exact  attn_linear_grad_weight_f32: dW = dZᵀ·X, one OpenBLAS sgemm
         (2·b·n·out FLOPs);
  PAMM   attn_pamm_compress_f32 (in the forward: k = ⌈r·b⌉ generators, scores
         of every token against them, 2·b·k·n FLOPs) then
         attn_pamm_grad_weight_f32 (in the backward: segment sum b·out
         multiply-adds, then B̃ᵀ·C, 2·k·out·n FLOPs).
Times are medians over --repeat calls after one warm-up call. X and dZ are
N(0, 1) (the content does not change the work).

Usage: /usr/bin/python3 bench/pamm_cpu.py [--tokens 16384] [--n 2048] [--out 2048]
           [--ratios 1/512,1/64,1/8] [--threads 0] [--repeat 5] [--json FILE]
"""

import argparse
import json
import os
import platform
import sys
import time
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import numpy as np  # noqa: E402

from attenuate.pamm_runtime import Runtime  # noqa: E402


def median_time(fn, repeat):
    fn()  # warm-up: page faults, thread pool start
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=16384, help="b")
    ap.add_argument("--n", type=int, default=2048, help="input features of the projection")
    ap.add_argument("--out", type=int, default=2048, help="output features (dZ width)")
    ap.add_argument("--ratios", default="1/512,1/64,1/8")
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results here as well")
    ap.add_argument("--runtime", default=None)
    args = ap.parse_args()

    rt = Runtime(args.runtime)
    threads = args.threads or os.cpu_count()
    rt.set_threads(threads)
    # The exact kernel is one OpenBLAS call: give OpenBLAS the same threads.
    import ctypes
    for lib in ("libopenblas.so.0", "libopenblas.so"):
        try:
            ctypes.CDLL(lib).openblas_set_num_threads(int(threads))
            break
        except (OSError, AttributeError):
            continue

    b, n, out = args.tokens, args.n, args.out
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((b, n), dtype=np.float32)
    dz = rng.standard_normal((b, out), dtype=np.float32)
    dw = np.empty((out, n), np.float32)

    print(f"PAMM vs exact weight gradient, b = {b} tokens, n = {n}, out = {out}, "
          f"{threads} thread(s), median of {args.repeat}; {platform.processor() or platform.machine()}")
    t_exact, _ = median_time(lambda: rt.linear_grad_weight(dz, x, dw), args.repeat)
    flops_exact = 2.0 * b * n * out
    print(f"exact dZᵀ·X (OpenBLAS sgemm): {t_exact * 1e3:9.2f} ms  {flops_exact / t_exact / 1e9:7.1f} GFLOP/s  "
          f"{b / t_exact / 1e6:7.3f} M tokens/s  saves X: {x.nbytes / 2**20:.1f} MiB")
    rows = []
    print(f"{'ratio':>7} {'k':>5} {'compress ms':>12} {'grad ms':>9} {'total ms':>9} {'speedup':>8} "
          f"{'GFLOP/s c+g':>12} {'saved MiB':>10} {'(gen only)':>10}")
    for text in args.ratios.split(","):
        r = float(Fraction(text))
        k = rt.num_generators(b, r)
        state = {}

        def comp():
            state["cfa"] = rt.compress(x, r, args.seed)

        t_c, _ = median_time(comp, args.repeat)
        c, f, a = state["cfa"]
        t_g, _ = median_time(lambda: rt.grad_weight(dz, c, f, a, dw), args.repeat)
        flops = 2.0 * b * k * n + 2.0 * b * out + 2.0 * k * out * n
        saved = c.nbytes + f.nbytes + a.nbytes
        total = t_c + t_g
        rows.append({"ratio": text, "k": k, "compress_s": t_c, "grad_weight_s": t_g, "total_s": total,
                     "speedup_vs_exact": t_exact / total, "flops": flops, "saved_bytes": saved,
                     "generator_bytes": c.nbytes})
        print(f"{text:>7} {k:>5} {t_c * 1e3:12.2f} {t_g * 1e3:9.2f} {total * 1e3:9.2f} {t_exact / total:7.1f}x "
              f"{flops / total / 1e9:12.1f} {saved / 2**20:10.3f} {c.nbytes / 2**20:10.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"tokens": b, "n": n, "out": out, "threads": threads, "repeat": args.repeat,
                       "exact_s": t_exact, "exact_flops": flops_exact, "x_bytes": x.nbytes, "pamm": rows},
                      fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
