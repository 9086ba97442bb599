#!/usr/bin/env python3
"""Inputs and expected results for running an imported checkpoint's @forward.

    model_reference.py make CKPT_DIR OUT_DIR [--batch B] [--seq S]
                            [--capacity C] [--seed N]
    model_reference.py check RESULTS.safetensors OUT_DIR [--tol T]

`make` writes OUT_DIR/inputs.safetensors (the forward's arguments in order:
tokens [B, S] i64, positions [B, S] = 0..S-1, then a zero K and V cache
[B, C, kv_heads, head_dim] per layer) and OUT_DIR/expected.npz: the logits
and the returned caches of python/attenuate/reference.py (an independent
numpy Llama/Qwen2 forward) in fp64, with the checkpoint's weights as stored
(bf16 widened exactly to f32). C defaults to S; slots past S stay zero.

`check` reads attn-run's results (--output=RESULTS.safetensors: result0 the
logits, then the caches) and prints, per result, the normwise error
max|out − ref| / max|ref| against --tol (default 1e-4); it exits non-zero if
any result is beyond it or has the wrong shape. Normwise rather than
elementwise, because logits near zero make an elementwise relative error
meaningless.
"""

import argparse
import os
import sys

import numpy as np

from attenuate import reference, safetensors_io


def write_inputs(path, arrays):
    """arrays in argument order; names sort in the same order."""
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(arrays)},
                             path)


def make(args):
    config, params = reference.load_hf(args.ckpt)
    L = int(config["num_hidden_layers"])
    hq = int(config["num_attention_heads"])
    hkv = int(config.get("num_key_value_heads") or hq)
    hd = int(config.get("head_dim") or config["hidden_size"] // hq)
    B, S = args.batch, args.seq
    C = args.capacity or S
    rng = np.random.default_rng(args.seed)
    tokens = rng.integers(0, int(config["vocab_size"]), size=(B, S),
                          dtype=np.int64)
    tokens[0, 0] = 0
    tokens[-1, -1] = int(config["vocab_size"]) - 1
    positions = np.broadcast_to(np.arange(S, dtype=np.int64), (B, S)).copy()
    zeros = np.zeros((B, C, hkv, hd), dtype=np.float32)
    os.makedirs(args.out, exist_ok=True)
    write_inputs(os.path.join(args.out, "inputs.safetensors"),
                 [tokens, positions] + [zeros] * (2 * L))

    logits, past = reference.forward(params, config, tokens, positions,
                                     dtype=np.float64)
    expected = {"result0": logits}
    for l, (k, v) in enumerate(past):
        # reference: [B, Hkv, T, D]; the compiled caches: [B, C, Hkv, D].
        for j, t in enumerate((k, v)):
            full = np.zeros((B, C, hkv, hd))
            full[:, :S] = t.transpose(0, 2, 1, 3)
            expected[f"result{1 + 2 * l + j}"] = full
    np.savez(os.path.join(args.out, "expected.npz"), **expected)
    print(f"model: {L} layers, {hq}/{hkv} heads of {hd}, batch {B}, "
          f"{S} tokens, capacity {C}, max |logit| "
          f"{np.abs(logits).max():.3g}")


def check(args):
    out = safetensors_io.load_file(args.results)
    ref = np.load(os.path.join(args.ref, "expected.npz"))
    ok = len(out) == len(ref.files)
    if not ok:
        print(f"{len(out)} results, expected {len(ref.files)}")
    for name in sorted(ref.files, key=lambda n: int(n[len("result"):])):
        r = ref[name]
        if name not in out or out[name].shape != r.shape:
            got = out[name].shape if name in out else "missing"
            print(f"{name}: shape {got}, expected {r.shape} -> FAIL")
            ok = False
            continue
        err = np.abs(out[name].astype(np.float64) - r).max()
        rel = err / max(np.abs(r).max(), 1e-30)
        good = bool(rel < args.tol)
        ok &= good
        print(f"{name}: max abs error {err:.3e}, normwise rel error "
              f"{rel:.3e} (tol {args.tol:g}) -> {'PASS' if good else 'FAIL'}")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("ckpt")
    m.add_argument("out")
    m.add_argument("--batch", type=int, default=2)
    m.add_argument("--seq", type=int, default=13)
    m.add_argument("--capacity", type=int, default=0)
    m.add_argument("--seed", type=int, default=7)
    c = sub.add_parser("check")
    c.add_argument("results")
    c.add_argument("ref")
    c.add_argument("--tol", type=float, default=1e-4)
    args = p.parse_args()
    if args.cmd == "make":
        make(args)
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
