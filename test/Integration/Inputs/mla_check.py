#!/usr/bin/env python3
"""Helpers for the attn-mla-upcycle integration tests (test/Integration/mla-*).

    mla_check.py strip-rope IN.mlir OUT.mlir
    mla_check.py inputs MODULE.mlir OUT.safetensors [--batch B] [--seq S]
                        [--seed N]
    mla_check.py compare RESULTS.safetensors REFERENCE.safetensors
                        [--tol T | --above T] [--label L]
    mla_check.py decode MODULE.mlir WORK_DIR --prefill N --steps 1,1,2
                        [--batch B] [--seed N] [--tol T]
    mla_check.py bpb-compare BEFORE.json AFTER.json [--label L]
                        [--worse-by X]

`strip-rope` removes every attn.rope op of an imported module (its result
replaced by its input): a model without RoPE, on which MLA with rope-dim=0 at
full kv-rank must be exact. Both the original and the MLA module of those
tests come from the stripped text, so the comparison is of one model.

`inputs` reads @forward's signature from the module text, so the caches take
whatever shape a rewrite gave them (the latent cache [B, S, 1, d_r + r]),
and writes tokens [B, S] (random, the same for every module with the same
seed and vocab_size), positions 0..S-1 and one zero cache per cache
argument, in argument order.

`compare` prints the normwise error max|out − ref| / max|ref| of result0
(the logits); it fails above --tol (default 1e-4), or, with --above, at or
below that value (the honesty checks: an approximation must not pass as
exact).

`decode` runs the module once over all tokens, then as a prefill plus
decode steps that feed each call the caches the previous one returned
(separate attn-run processes), and compares each call's logits with the
matching rows of the full run, and the final caches with the full run's:
the latent cache must serve decode like the dense one.

`bpb-compare` prints two attn-eval --json results side by side; with
--worse-by X it fails unless the second is worse by more than X bits/byte
(the honesty check on an approximate initialisation).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

from attenuate import safetensors_io


def forward_signature(text):
    """The argument types of func.func @forward, as strings."""
    m = re.search(r"func\.func @forward\((.*?)\)\s*->", text, re.S)
    if not m:
        raise SystemExit("no func.func @forward in the module")
    return re.findall(r"tensor<([^>]*)>", m.group(1))


def vocab_of(text):
    m = re.search(r"vocab_size = (\d+)", text)
    if not m:
        raise SystemExit("the module has no attn.source vocab_size")
    return int(m.group(1))


def cache_shapes(text):
    shapes = []
    for t in forward_signature(text)[2:]:
        dims = t.split("x")
        if len(dims) != 5 or dims[:2] != ["?", "?"] or dims[4] != "f32":
            raise SystemExit(f"unexpected cache type tensor<{t}>")
        shapes.append((int(dims[2]), int(dims[3])))
    return shapes


def strip_rope(args):
    text = open(args.input).read()
    rope = re.compile(r"^\s*(%[\w.]+) = attn\.rope (%[\w.]+), .*\n", re.M)
    renames = {m.group(1): m.group(2) for m in rope.finditer(text)}
    text = rope.sub("", text)
    for old, new in renames.items():
        text = re.sub(re.escape(old) + r"(?![\w.])", new, text)
    open(args.output, "w").write(text)
    print(f"strip-rope: removed {len(renames)} attn.rope ops")


def inputs(args):
    text = open(args.module).read()
    vocab = vocab_of(text)
    B, S = args.batch, args.seq
    rng = np.random.default_rng(args.seed)
    arrays = [rng.integers(0, vocab, size=(B, S), dtype=np.int64),
              np.broadcast_to(np.arange(S, dtype=np.int64), (B, S)).copy()]
    caches = cache_shapes(text)
    for heads, dim in caches:
        arrays.append(np.zeros((B, S, heads, dim), dtype=np.float32))
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(arrays)},
                             args.out)
    print(f"inputs: batch {B}, {S} tokens, caches "
          + " ".join(f"{h}x{d}" for h, d in caches))


def rel_error(out, ref):
    out = out.astype(np.float64)
    ref = ref.astype(np.float64)
    return float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-30))


def compare(args):
    out = safetensors_io.load_file(args.results)["result0"]
    ref = safetensors_io.load_file(args.reference)["result0"]
    if out.shape != ref.shape:
        print(f"{args.label}logits: shape {out.shape}, expected {ref.shape} "
              "-> FAIL")
        return 1
    rel = rel_error(out, ref)
    if args.above is not None:
        good = rel > args.above
        print(f"{args.label}logits: normwise rel error {rel:.3e} (must exceed "
              f"{args.above:g}) -> {'PASS' if good else 'FAIL'}")
    else:
        good = rel < args.tol
        print(f"{args.label}logits: normwise rel error {rel:.3e} (tol "
              f"{args.tol:g}) -> {'PASS' if good else 'FAIL'}")
    return 0 if good else 1


def run(module, arrays, out_path, work):
    in_path = os.path.join(work, "call-inputs.safetensors")
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(arrays)},
                             in_path)
    cmd = [shutil.which("attn-run") or "attn-run", module, "--entry=forward",
           "--input=" + in_path, "--output=" + out_path]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"mla_check: {' '.join(cmd)} failed: {p.stderr.strip()}")
    out = safetensors_io.load_file(out_path)
    return [out[f"result{i}"] for i in range(len(out))]


def decode(args):
    text = open(args.module).read()
    vocab = vocab_of(text)
    caches = cache_shapes(text)
    steps = [int(s) for s in args.steps.split(",")]
    n, B = args.prefill, args.batch
    T = n + sum(steps)
    os.makedirs(args.work, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    tokens = rng.integers(0, vocab, size=(B, T), dtype=np.int64)

    def positions(begin, end):
        return np.broadcast_to(np.arange(begin, end, dtype=np.int64),
                               (B, end - begin)).copy()

    zeros = [np.zeros((B, T, h, d), np.float32) for h, d in caches]
    ok = True

    def check(label, got, want):
        rel = rel_error(got, want)
        good = got.shape == want.shape and rel < args.tol
        print(f"{label}: normwise rel {rel:.3e} (tol {args.tol:g}) -> "
              f"{'PASS' if good else 'FAIL'}")
        return good

    full = run(args.module, [tokens, positions(0, T)] + zeros,
               os.path.join(args.work, "full.safetensors"), args.work)
    res = run(args.module, [tokens[:, :n], positions(0, n)] + zeros,
              os.path.join(args.work, "prefill.safetensors"), args.work)
    ok &= check(f"prefill (positions 0..{n - 1}) vs full", res[0],
                full[0][:, :n])
    pos = n
    for i, s in enumerate(steps):
        res = run(args.module,
                  [tokens[:, pos:pos + s], positions(pos, pos + s)] + res[1:],
                  os.path.join(args.work, f"step{i}.safetensors"), args.work)
        ok &= check(f"step {i} (positions {pos}..{pos + s - 1}) vs full",
                    res[0], full[0][:, pos:pos + s])
        pos += s
    for j, (a, b) in enumerate(zip(res[1:], full[1:])):
        ok &= check(f"final cache {j} {list(a.shape)} vs full", a, b)
    return 0 if ok else 1


def bpb_compare(args):
    a = json.load(open(args.before))["bits_per_byte"]
    b = json.load(open(args.after))["bits_per_byte"]
    line = (f"{args.label}bits-per-byte {a:.4f} -> {b:.4f} ({b - a:+.4f}, "
            f"{100 * (b - a) / a:+.1f}%)")
    if args.worse_by is None:
        print(line)
        return 0
    good = b - a > args.worse_by
    print(f"{line}; must be worse by more than {args.worse_by:g} -> "
          f"{'PASS' if good else 'FAIL'}")
    return 0 if good else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("strip-rope")
    s.add_argument("input")
    s.add_argument("output")
    i = sub.add_parser("inputs")
    i.add_argument("module")
    i.add_argument("out")
    i.add_argument("--batch", type=int, default=2)
    i.add_argument("--seq", type=int, default=11)
    i.add_argument("--seed", type=int, default=3)
    c = sub.add_parser("compare")
    c.add_argument("results")
    c.add_argument("reference")
    c.add_argument("--tol", type=float, default=1e-4)
    c.add_argument("--above", type=float, default=None)
    c.add_argument("--label", default="")
    d = sub.add_parser("decode")
    d.add_argument("module")
    d.add_argument("work")
    d.add_argument("--prefill", type=int, required=True)
    d.add_argument("--steps", required=True)
    d.add_argument("--batch", type=int, default=2)
    d.add_argument("--seed", type=int, default=11)
    d.add_argument("--tol", type=float, default=1e-4)
    b = sub.add_parser("bpb-compare")
    b.add_argument("before")
    b.add_argument("after")
    b.add_argument("--label", default="")
    b.add_argument("--worse-by", type=float, default=None)
    args = p.parse_args()
    if args.cmd == "strip-rope":
        strip_rope(args)
        return 0
    if args.cmd == "inputs":
        inputs(args)
        return 0
    return {"compare": compare, "decode": decode,
            "bpb-compare": bpb_compare}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
