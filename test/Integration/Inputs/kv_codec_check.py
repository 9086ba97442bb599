#!/usr/bin/env python3
"""Differential tests of the encoded-KV-cache ops against python/attenuate's
numpy reference (reference.sparse_encode / sparse_decode / kv_quantize).

    kv_codec_check.py inputs DIR CASE     writes DIR/CASE.in.safetensors
    kv_codec_check.py check DIR CASE OUT  compares attn-run's OUT with numpy
    kv_codec_check.py decode MODULE WORK --prefill N --steps 1,1,2 [--vocab V]
        [--reference]
                          prefill + decode steps over the module's (encoded)
                          caches must give the logits and final caches of one
                          forward over all tokens

CASE sparse: codes of x [2, 5, 3, 16] over a random 24-atom dictionary of
  8-channel atoms (chunks 2, s 3), decoded; and x2 [2, 5, 3, 16] over the
  identity basis with s = 16 (decoded, must reproduce x2 up to fp16 rounding).
CASE kivi: x [2, 70, 3, 16] through attn.kv_quantize for bits 2 and 4, both
  axes, group 8 and window 13 (keys: 56 tokens quantized; values: 57), and a
  window longer than the sequence (nothing quantized).
"""

import os
import sys

import numpy as np

from attenuate import reference, safetensors_io


def unit_rows(rng, n, d):
    a = rng.standard_normal((n, d)).astype(np.float32)
    return (a / np.linalg.norm(a.astype(np.float64), axis=1,
                               keepdims=True)).astype(np.float32)


def case_inputs(case):
    rng = np.random.default_rng(20261126)
    if case == "sparse":
        x = rng.standard_normal((2, 5, 3, 16)).astype(np.float32)
        d = unit_rows(rng, 24, 8)
        # Magnitudes from 1e-3 to 1e2, so fp16 rounding is relative.
        x2 = (rng.standard_normal((2, 5, 3, 16)) *
              10.0 ** rng.uniform(-3, 2, (2, 5, 3, 1))).astype(np.float32)
        eye = np.eye(16, dtype=np.float32)
        return [("a_x", x), ("b_dict", d), ("c_x2", x2), ("d_eye", eye)]
    if case == "kivi":
        x = (rng.standard_normal((2, 70, 3, 16)) *
             rng.uniform(0.1, 4, (1, 1, 3, 16))).astype(np.float32)
        return [("x", x)]
    raise SystemExit(f"unknown case {case}")


def expected(case, ins):
    a = dict(ins)
    if case == "sparse":
        i, c = reference.sparse_encode(a["a_x"], a["b_dict"], 3, 2)
        y = reference.sparse_decode(i, c, a["b_dict"], 2)
        ii, ci = reference.sparse_encode(a["c_x2"], a["d_eye"], 16, 1)
        yi = reference.sparse_decode(ii, ci, a["d_eye"], 1)
        return [i, c, y, yi]
    x = a["x"]
    return [reference.kv_quantize(x, 2, "channel", 8, 13),
            reference.kv_quantize(x, 2, "token", 8, 13),
            reference.kv_quantize(x, 4, "channel", 8, 13),
            reference.kv_quantize(x, 4, "token", 8, 13),
            reference.kv_quantize(x, 2, "channel", 8, 100)]


_DTYPES = {"f32": np.float32, "f16": np.float16, "i16": np.int16,
           "i8": np.int8, "f64": np.float64, "i32": np.int32}


def decode(argv):
    import argparse
    import re
    import shutil
    import subprocess
    p = argparse.ArgumentParser()
    p.add_argument("module")
    p.add_argument("work")
    p.add_argument("--prefill", type=int, required=True)
    p.add_argument("--steps", required=True)
    p.add_argument("--vocab", type=int, default=80)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--reference", action="store_true")
    a = p.parse_args(argv)
    os.makedirs(a.work, exist_ok=True)
    text = open(a.module).read()
    sig = re.search(r"func\.func @forward\((.*?)\) ->", text).group(1)
    types = re.findall(r"tensor<([^>]*)>", sig)[2:]
    steps = [int(x) for x in a.steps.split(",")]
    B, n = a.batch, a.prefill
    T = n + sum(steps)
    caches = []
    for t in types:
        dims = t.split("x")
        caches.append(np.zeros((B, T, int(dims[2]), int(dims[3])),
                               _DTYPES[dims[4]]))
    tokens = np.random.default_rng(5).integers(0, a.vocab, (B, T),
                                               dtype=np.int64)
    attn_run = shutil.which("attn-run")

    def call(tok, begin, cs, name):
        pos = np.broadcast_to(np.arange(begin, begin + tok.shape[1],
                                        dtype=np.int64), tok.shape).copy()
        inp = os.path.join(a.work, name + ".in.safetensors")
        out = os.path.join(a.work, name + ".out.safetensors")
        safetensors_io.save_file({f"arg{i:03d}": x for i, x in
                                  enumerate([tok, pos] + list(cs))}, inp)
        cmd = [attn_run, a.module, "--entry=forward", "--input=" + inp,
               "--output=" + out] + (["--reference"] if a.reference else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"{' '.join(cmd)} failed: {r.stderr}")
        o = safetensors_io.load_file(out)
        return [np.asarray(o[f"result{i}"]) for i in range(len(o))]

    full = call(tokens, 0, caches, "full")
    res = call(tokens[:, :n], 0, caches, "prefill")
    ok = True

    def same(label, got, want):
        d = float(np.max(np.abs(got.astype(np.float64) -
                                want.astype(np.float64))))
        good = d <= 1e-5 * max(1.0, float(np.max(np.abs(want))))
        print(f"{label}: max abs diff {d:.2e} -> {'PASS' if good else 'FAIL'}")
        return good

    ok &= same("prefill vs full", res[0], full[0][:, :n])
    pos = n
    for i, st in enumerate(steps):
        res = call(tokens[:, pos:pos + st], pos, res[1:], f"step{i}")
        ok &= same(f"step {i} (position {pos}) vs full", res[0],
                   full[0][:, pos:pos + st])
        pos += st
    for j, (x, y) in enumerate(zip(res[1:], full[1:])):
        ok &= same(f"final cache {j} ({x.dtype}) vs full", x, y)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main():
    if sys.argv[1] == "decode":
        return decode(sys.argv[2:])
    mode, out, case = sys.argv[1], sys.argv[2], sys.argv[3]
    ins = case_inputs(case)
    if mode == "inputs":
        safetensors_io.save_file(dict(ins), f"{out}/{case}.in.safetensors")
        return 0
    got = safetensors_io.load_file(sys.argv[4])
    got = [np.asarray(got[f"result{k}"]) for k in range(len(got))]
    want = expected(case, ins)
    ok = True
    if case == "sparse":
        i, c, y, yi = got
        ei, ec, ey, eyi = want
        # Codes: the same atoms; coefficients within one fp16 ulp (the fp32
        # correlations may differ in their last bit).
        same = np.array_equal(i, ei)
        cerr = np.max(np.abs(c.astype(np.float32) - ec.astype(np.float32)) /
                      np.maximum(np.abs(ec.astype(np.float32)), 2.0 ** -14))
        yerr = np.max(np.abs(y - ey))
        print(f"sparse: indices equal {same}, coef max rel diff {cerr:.2e}, "
              f"decoded max abs diff {yerr:.2e}")
        ok &= same and cerr <= 2.0 ** -10 and yerr <= 1e-5
        # Identity basis, s = d: |x - x^|inf <= 2^-11 |x|inf + 2^-24 per head
        # vector (fp16 rounding of each coefficient, with the residual
        # carrying the rounding error to a later step).
        x2 = dict(ins)["c_x2"]
        err = np.max(np.abs(yi - x2), axis=-1)
        bound = 2.0 ** -11 * np.max(np.abs(x2), axis=-1) + 2.0 ** -24
        worst = np.max(err / bound)
        print(f"identity: max |x - x^| / (2^-11 |x|inf + 2^-24) = {worst:.3f}, "
              f"matches numpy {np.array_equal(yi, eyi)}")
        ok &= bool(worst <= 1.0) and np.array_equal(yi, eyi)
    else:
        x = dict(ins)["x"]
        for k, (g, w) in enumerate(zip(got, want)):
            diff = np.max(np.abs(g - w))
            print(f"kivi {k}: max abs diff to numpy {diff:.2e}")
            ok &= diff <= 1e-6
        # Round trip within half a quantization step (+ fp16 rounding of the
        # zero point): per group, |x - x^| <= scale/2 + 2^-11 (|min| + Q scale).
        for k, (bits, axis) in enumerate([(2, "channel"), (2, "token"),
                                          (4, "channel"), (4, "token")]):
            levels = 2 ** bits - 1
            g = got[k]
            if axis == "channel":
                v = x[:, :56].reshape(2, 7, 8, 3, 16)
                gv = g[:, :56].reshape(2, 7, 8, 3, 16)
                ax = 2
            else:
                v = x[:, :57].reshape(2, 57, 3, 2, 8)
                gv = g[:, :57].reshape(2, 57, 3, 2, 8)
                ax = 4
            mn = v.min(axis=ax, keepdims=True)
            mx = v.max(axis=ax, keepdims=True)
            step = (mx - mn) / levels
            bound = step / 2 + 2.0 ** -11 * (np.abs(mn) + levels * step) + 1e-7
            worst = np.max(np.abs(gv - v) / bound)
            rest = g[:, 56 if axis == "channel" else 57:]
            exact = np.array_equal(rest, x[:, 56 if axis == "channel" else 57:])
            print(f"kivi {bits}-bit {axis}: max |x - x^| / bound = {worst:.3f}, "
                  f"window exact {exact}")
            ok &= bool(worst <= 1.0) and exact
        ok &= np.array_equal(got[4], x)
        print(f"kivi window > length: unchanged {np.array_equal(got[4], x)}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
