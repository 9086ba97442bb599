#!/usr/bin/python3
"""Benchmark: prefill tokens/s of the compiled model (attn-run, CPU JIT)
against torch 1.13 eager on the same weights and the same thread count, in
one run.

For each sequence length S: tokens [1, S], positions 0..S-1, zero KV caches
of capacity S. attn-run reports the median of --repeat calls (compile time
excluded); torch runs models/bytellama through python/attenuate/torch_llama.py
with torch.no_grad() and the same median rule. Ratio = ours / torch
tokens/s (goal: >= 0.5).

Usage: /usr/bin/python3 bench/cpu_prefill.py [--model models/bytellama]
       [--lengths 256,1024] [--threads N] [--repeat 10] [--plot docs/cpu_prefill.png]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402


def ours(build, mlir, cfg, S, threads, repeat, work):
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"]
    np.save(os.path.join(work, "tok.npy"), (np.arange(S) * 31 % 256).astype(np.int64)[None])
    np.save(os.path.join(work, "pos.npy"), np.arange(S, dtype=np.int64)[None])
    np.save(os.path.join(work, "cache.npy"), np.zeros((1, S, kv, hd), np.float32))
    cmd = [os.path.join(build, "bin", "attn-run"), mlir, "--input", os.path.join(work, "tok.npy"),
           "--input", os.path.join(work, "pos.npy")]
    cmd += ["--input", os.path.join(work, "cache.npy")] * (2 * cfg["num_hidden_layers"])
    cmd += ["--repeat", str(repeat), "--num-threads", str(threads)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit("bench: attn-run failed: " + p.stderr)
    m = re.search(r"median ([0-9.]+) s", p.stdout)
    return float(m.group(1))


def torch_time(model_dir, S, threads, repeat):
    import torch
    from attenuate.torch_llama import load_pretrained, set_threads
    set_threads(threads)
    model = load_pretrained(model_dir, torch.float32).eval()
    x = torch.tensor((np.arange(S) * 31 % 256).astype(np.int64))[None]
    ts = []
    with torch.no_grad():
        model(x)
        for _ in range(repeat):
            t = time.perf_counter()
            model(x)
            ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "bytellama"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--lengths", default="256,1024")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--plot", default=None, help="write a PNG bar chart here")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        mlir = os.path.join(work, "model.mlir")
        subprocess.run([os.path.join(args.build, "bin", "attn-import"), "hf", args.model, "-o", mlir], check=True)
        for S in [int(s) for s in args.lengths.split(",")]:
            print(f"bench: S={S}: attn-run...", file=sys.stderr)
            a = ours(args.build, mlir, cfg, S, args.threads, args.repeat, work)
            print(f"bench: S={S}: torch...", file=sys.stderr)
            t = torch_time(args.model, S, args.threads, args.repeat)
            rows.append({"seq_len": S, "ours_tok_s": S / a, "torch_tok_s": S / t, "ratio": t / a})
    print(f"threads: {args.threads}; median of {args.repeat} calls; compile time excluded")
    print(f"{'S':>6s} {'attn-run tok/s':>15s} {'torch tok/s':>12s} {'ratio':>6s}")
    for r in rows:
        print(f"{r['seq_len']:6d} {r['ours_tok_s']:15.0f} {r['torch_tok_s']:12.0f} {r['ratio']:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "rows": rows}, f, indent=2)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.2))
        xs = np.arange(len(rows))
        ax.bar(xs - 0.2, [r["ours_tok_s"] for r in rows], 0.4, label="attn-run (compiled)")
        ax.bar(xs + 0.2, [r["torch_tok_s"] for r in rows], 0.4, label="torch 1.13 eager")
        for x, r in zip(xs, rows):
            ax.text(x, max(r["ours_tok_s"], r["torch_tok_s"]), f"{r['ratio']:.2f}x", ha="center", va="bottom")
        ax.set_xticks(xs, [f"S={r['seq_len']}" for r in rows])
        ax.set_ylabel("prefill tokens/s")
        ax.set_title(f"bytellama prefill, {args.threads} threads")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
