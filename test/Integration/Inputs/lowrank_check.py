#!/usr/bin/env python3
"""Inputs for a (possibly compressed) model's @forward, and logits comparison.

    lowrank_check.py inputs MODULE.mlir OUT.safetensors [--batch B] [--seq S]
                            [--seed N]
    lowrank_check.py compare RESULTS.safetensors REFERENCE.safetensors
                            [--tol T] [--label L]
    lowrank_check.py tokens OUT.npy --vocab V [--count N] [--seed N]
    lowrank_check.py strip-rope IN.mlir OUT.mlir
    lowrank_check.py shrink-stat IN.safetensors OUT.safetensors KEY
    lowrank_check.py poison FILE.safetensors NAME

`inputs` reads the forward's signature from the module text (so caches take
the head dims a rewrite gave them: attn-lowrank shrinks K to the QK rank and
V to the OV rank) and writes its arguments in order: tokens [B, S] i64
(random, the same for every module with the same --seed and vocab_size),
positions 0..S-1, then one zero cache [B, S, heads, dim] per cache argument.

`compare` prints the normwise error max|out − ref| / max|ref| of result0
(the logits) and exits non-zero above --tol (default 1e-4). Caches are not
compared: a rewrite changes their basis.

`tokens` writes N random token ids for attn-calibrate --tokens.

`strip-rope` removes every attn.rope op of an imported module (its result
replaced by its input): a model without position rotation, for the closed-form
QK path of attn-lowrank, which applies when the block has no RoPE.

`shrink-stat` copies a stats file (metadata included, so it still claims the
same model) with matrix KEY cut by one row and column: statistics whose
dimensions disagree with the model. `poison` sets the first element of tensor
NAME of an f32 safetensors file to NaN, in place.
"""

import argparse
import re
import sys

import numpy as np

from attenuate import safetensors_io


def forward_signature(text):
    """The argument types of func.func @forward, as strings."""
    m = re.search(r"func\.func @forward\((.*?)\)\s*->", text, re.S)
    if not m:
        raise SystemExit("no func.func @forward in the module")
    return re.findall(r"tensor<([^>]*)>", m.group(1))


def inputs(args):
    text = open(args.module).read()
    vocab = re.search(r"vocab_size = (\d+)", text)
    if not vocab:
        raise SystemExit("the module has no attn.source vocab_size")
    vocab = int(vocab.group(1))
    types = forward_signature(text)
    B, S = args.batch, args.seq
    rng = np.random.default_rng(args.seed)
    arrays = [rng.integers(0, vocab, size=(B, S), dtype=np.int64),
              np.broadcast_to(np.arange(S, dtype=np.int64), (B, S)).copy()]
    caches = []
    for t in types[2:]:
        dims = t.split("x")
        if len(dims) != 5 or dims[:2] != ["?", "?"] or dims[4] != "f32":
            raise SystemExit(f"unexpected cache type tensor<{t}>")
        heads, dim = int(dims[2]), int(dims[3])
        arrays.append(np.zeros((B, S, heads, dim), dtype=np.float32))
        caches.append(f"{heads}x{dim}")
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(arrays)},
                             args.out)
    print(f"inputs: batch {B}, {S} tokens, caches {' '.join(caches)}")


def compare(args):
    out = safetensors_io.load_file(args.results)["result0"].astype(np.float64)
    ref = safetensors_io.load_file(args.reference)["result0"].astype(np.float64)
    if out.shape != ref.shape:
        print(f"{args.label}logits: shape {out.shape}, expected {ref.shape} -> FAIL")
        return 1
    rel = np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-30)
    good = bool(rel < args.tol)
    print(f"{args.label}logits: normwise rel error {rel:.3e} (tol {args.tol:g}) -> "
          f"{'PASS' if good else 'FAIL'}")
    return 0 if good else 1


def tokens(args):
    rng = np.random.default_rng(args.seed)
    np.save(args.out, rng.integers(0, args.vocab, size=(args.count,),
                                   dtype=np.int64))


def strip_rope(args):
    text = open(args.input).read()
    rope = re.compile(r"^\s*(%[\w.]+) = attn\.rope (%[\w.]+), .*\n", re.M)
    renames = {m.group(1): m.group(2) for m in rope.finditer(text)}
    text = rope.sub("", text)
    for old, new in renames.items():
        text = re.sub(re.escape(old) + r"(?![\w.])", new, text)
    open(args.output, "w").write(text)
    print(f"strip-rope: removed {len(renames)} attn.rope ops")


def shrink_stat(args):
    metadata, _ = safetensors_io.read_header(args.input)
    tensors = safetensors_io.load_file(args.input)
    t = tensors[args.key]
    tensors[args.key] = np.ascontiguousarray(t[:-1, :-1])
    safetensors_io.save_file(tensors, args.output, metadata)


def poison(args):
    metadata, _ = safetensors_io.read_header(args.file)
    tensors = safetensors_io.load_file(args.file)
    t = tensors[args.name].copy()
    t.flat[0] = np.nan
    tensors[args.name] = t
    safetensors_io.save_file(tensors, args.file, metadata)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
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
    c.add_argument("--label", default="", help="printed before the result")
    t = sub.add_parser("tokens")
    t.add_argument("out")
    t.add_argument("--vocab", type=int, required=True)
    t.add_argument("--count", type=int, default=4096)
    t.add_argument("--seed", type=int, default=5)
    s = sub.add_parser("strip-rope")
    s.add_argument("input")
    s.add_argument("output")
    e = sub.add_parser("shrink-stat")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("key")
    n = sub.add_parser("poison")
    n.add_argument("file")
    n.add_argument("name")
    args = p.parse_args()
    if args.cmd == "shrink-stat":
        shrink_stat(args)
        return 0
    if args.cmd == "poison":
        poison(args)
        return 0
    if args.cmd == "strip-rope":
        strip_rope(args)
        return 0
    if args.cmd == "inputs":
        inputs(args)
        return 0
    if args.cmd == "compare":
        return compare(args)
    tokens(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
