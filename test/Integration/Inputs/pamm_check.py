#!/usr/bin/env python3
"""Checks for PAMM: the training graph run by attn-run, and the runtime kernels.

  pamm_check.py graph --ckpt DIR --exact M.mlir --pamm M1.mlir [--pamm M2.mlir]
                      --work DIR [--reference]
      Runs @qkv_forward then @qkv_backward of each module with attn-run (on the
      runtime kernels; with --reference also on the linalg lowering) on random
      inputs and checks the gradients against fp64 numpy: the exact graph's
      dW and dX, each PAMM graph's dW against numpy's transcription of PAMM
      with the module's own ratio and seeds (python/attenuate/pamm_runtime.py
      reference_compress), and at ratio 1 against the exact dW.

  pamm_check.py kernels LIBDIR
      The kernels through ctypes (build/lib/libattn_runtime.so): ratio 1 is
      exact, semantics match the numpy transcription, results do not depend on
      the thread count or the layout, the gradient error on structured data is
      within the bound stated below for ratios 1/8 .. 1/512, and bad inputs
      are errors.

Every check prints one line ending in PASS or FAIL; the exit code is 1 if any
failed.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))

from attenuate import safetensors_io as st  # noqa: E402
from attenuate.pamm_runtime import Runtime, reference_compress  # noqa: E402

FAILED = []


def check(name, ok, detail):
    print(f"{name}: {detail} -> {'PASS' if ok else 'FAIL'}")
    if not ok:
        FAILED.append(name)


def rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def pamm_grad_reference(dz, c, f, alpha):
    """dW = Σ_t dz_t ⊗ (α_t C_f(t)) in fp64: the op's definition, not the
    segment-sum algorithm."""
    xt = alpha.reshape(-1, 1).astype(np.float64) * c.astype(np.float64)[f.reshape(-1)]
    return dz.reshape(-1, dz.shape[-1]).astype(np.float64).T @ xt


# ---------------------------------------------------------------------------
# graph
# ---------------------------------------------------------------------------

def run(module, entry, inputs, out, reference, params):
    cmd = ["attn-run", module, f"--entry={entry}", f"--input={inputs}", f"--output={out}",
           f"--attn-params={params}"]
    if reference:
        cmd.append("--reference")
    subprocess.run(cmd, check=True)
    res = st.load_file(out)
    return [np.array(res[f"result{i}"]) for i in range(len(res))]


def save_inputs(arrays, path):
    st.save_file({f"in{i:04d}": a for i, a in enumerate(arrays)}, path)


def compress_attrs(module):
    """(ratio, seed) of each pamm_compress, in the order of the module."""
    text = open(module).read()
    ops = re.findall(r"attn\.pamm_compress %\w+ \{([^}]*)\}", text)
    out = []
    for attrs in ops:
        ratio = float(re.search(r"ratio = ([-0-9.eE+]+) : f64", attrs).group(1))
        seed = int(re.search(r"seed = (-?\d+) : i64", attrs).group(1))
        out.append((ratio, seed))
    return out


def graph(args):
    import json
    with open(os.path.join(args.ckpt, "config.json")) as f:
        cfg = json.load(f)
    weights = st.load_file(os.path.join(args.ckpt, "model.safetensors"))
    params = os.path.join(args.ckpt, "model.safetensors")
    L, n = cfg["num_hidden_layers"], cfg["hidden_size"]
    hd = cfg.get("head_dim") or n // cfg["num_attention_heads"]
    outs = [cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd, cfg["num_key_value_heads"] * hd]
    projs = ["q_proj", "k_proj", "v_proj"]
    rng = np.random.default_rng(11)
    B, S = 2, 24
    xs = [rng.standard_normal((B, S, n)).astype(np.float32) for _ in range(L)]
    dys = [rng.standard_normal((B, S, o)).astype(np.float32) for _ in range(L) for o in outs]
    W = [[np.array(weights[f"model.layers.{i}.self_attn.{p}.weight"], np.float64) for p in projs] for i in range(L)]
    dW_exact = [[dys[3 * i + j].reshape(-1, outs[j]).astype(np.float64).T @ xs[i].reshape(-1, n) for j in range(3)]
                for i in range(L)]
    dX_exact = [sum(dys[3 * i + j].astype(np.float64) @ W[i][j] for j in range(3)) for i in range(L)]
    save_inputs(xs, os.path.join(args.work, "x.safetensors"))

    def fwd_bwd(module, tag, reference):
        fwd = run(module, "qkv_forward", os.path.join(args.work, "x.safetensors"),
                  os.path.join(args.work, f"{tag}.fwd.safetensors"), reference, params)
        saved = fwd[3 * L:]
        save_inputs(saved + dys, os.path.join(args.work, f"{tag}.bwd_in.safetensors"))
        bwd = run(module, "qkv_backward", os.path.join(args.work, f"{tag}.bwd_in.safetensors"),
                  os.path.join(args.work, f"{tag}.bwd.safetensors"), reference, params)
        return fwd, saved, bwd

    lowerings = [False, True] if args.reference else [False]
    for reference in lowerings:
        how = "reference" if reference else "runtime"
        fwd, saved, bwd = fwd_bwd(args.exact, f"exact.{how}", reference)
        q_ok = max(rel(fwd[3 * i + j], xs[i].astype(np.float64) @ W[i][j].T) for i in range(L) for j in range(3))
        check(f"exact graph ({how}): forward Q/K/V", q_ok < 1e-5, f"max rel err {q_ok:.2e} < 1e-5")
        check(f"exact graph ({how}): saves X", len(saved) == L and all(np.array_equal(s, x) for s, x in zip(saved, xs)),
              f"{len(saved)} saved tensors of {[s.shape for s in saved][:1]}")
        dw = max(rel(bwd[4 * i + 1 + j], dW_exact[i][j]) for i in range(L) for j in range(3))
        dx = max(rel(bwd[4 * i], dX_exact[i]) for i in range(L))
        check(f"exact graph ({how}): dW", dw < 1e-5, f"max rel err {dw:.2e} < 1e-5")
        check(f"exact graph ({how}): dX", dx < 1e-5, f"max rel err {dx:.2e} < 1e-5")

    for module in args.pamm:
        attrs = compress_attrs(module)
        ratio = attrs[0][0]
        label = f"pamm ratio {ratio:g}"
        per_lowering = {}
        for reference in lowerings:
            how = "reference" if reference else "runtime"
            fwd, saved, bwd = fwd_bwd(module, f"{os.path.basename(module)}.{how}", reference)
            per_lowering[how] = (saved, bwd)
            check(f"{label} ({how}): saves C, f, alpha per layer", len(saved) == 3 * L and len(attrs) == L,
                  f"{len(saved)} saved tensors, {len(attrs)} compress ops for {L} layers")
            worst_ref = worst_exact = 0.0
            same_sample = True
            for i in range(L):
                c, f, a = saved[3 * i:3 * i + 3]
                C, F, A = reference_compress(xs[i], attrs[i][0], attrs[i][1])
                same_sample &= np.array_equal(c, C) and np.array_equal(f, F) and np.allclose(a, A, rtol=1e-5, atol=1e-6)
                for j in range(3):
                    g = bwd[4 * i + 1 + j]
                    worst_ref = max(worst_ref, rel(g, pamm_grad_reference(dys[3 * i + j], C, F, A)))
                    worst_exact = max(worst_exact, rel(g, dW_exact[i][j]))
            dx = max(rel(bwd[4 * i], dX_exact[i]) for i in range(L))
            check(f"{label} ({how}): compress matches numpy", same_sample,
                  "generators, assignment identical; scales within 1e-5")
            check(f"{label} ({how}): dW vs numpy PAMM", worst_ref < 1e-5, f"max rel err {worst_ref:.2e} < 1e-5")
            check(f"{label} ({how}): dX exact", dx < 1e-5, f"max rel err {dx:.2e} < 1e-5")
            if ratio == 1.0:
                check(f"{label} ({how}): dW equals exact", worst_exact < 1e-5,
                      f"max rel err {worst_exact:.2e} < 1e-5")
            else:
                print(f"{label} ({how}): dW rel err vs exact on random (unstructured) inputs: {worst_exact:.3f}")
        if len(per_lowering) == 2:
            (s0, b0), (s1, b1) = per_lowering["runtime"], per_lowering["reference"]
            same = all(np.array_equal(s0[3 * i + 1], s1[3 * i + 1]) for i in range(L))
            diff = max(rel(b0[4 * i + 1 + j], b1[4 * i + 1 + j]) for i in range(L) for j in range(3))
            check(f"{label}: runtime vs reference lowering", same and diff < 1e-5,
                  f"assignments {'identical' if same else 'DIFFER'}, dW max rel diff {diff:.2e}")


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------

def structured(rng, b, n, sigma):
    """Tokens on random lines of a 2-D subspace, plus isotropic noise of
    relative size sigma: x_t = a_t (cos θ_t u + sin θ_t v) + σ ε_t, with
    θ_t ~ U[0, π), a_t ~ ±U[0.5, 1.5], ε_t ~ N(0, I/n)."""
    q, _ = np.linalg.qr(rng.standard_normal((n, 2)))
    theta = rng.uniform(0, np.pi, b)
    amp = rng.uniform(0.5, 1.5, b) * rng.choice([-1.0, 1.0], b)
    x = amp[:, None] * (np.cos(theta)[:, None] * q[:, 0] + np.sin(theta)[:, None] * q[:, 1])
    x += sigma * rng.standard_normal((b, n)) / np.sqrt(n)
    return x.astype(np.float32)


def kernels(args):
    rt = Runtime(os.path.join(args.libdir, "libattn_runtime.so"))
    rng = np.random.default_rng(5)

    # Ratio 1: every token is its own generator, alpha = 1.
    x = rng.standard_normal((4, 1024, 256)).astype(np.float32)
    dz = rng.standard_normal((4, 1024, 96)).astype(np.float32)
    exact = dz.reshape(-1, 96).astype(np.float64).T @ x.reshape(-1, 256)
    for threads in (1, 2):
        rt.set_threads(threads)
        c, f, a = rt.compress(x, 1.0, 123)
        g = rt.grad_weight(dz, c, f, a)
        e = rel(g, exact)
        check(f"ratio 1, {threads} thread(s): dW equals exact", e < 1e-5 and np.all(a == 1.0),
              f"b = 4096, n = 256: rel err {e:.2e} < 1e-5, all alpha = 1")
    ge = rel(rt.linear_grad_weight(dz, x), exact)
    check("exact kernel attn_linear_grad_weight_f32", ge < 1e-5, f"rel err {ge:.2e} < 1e-5")
    w = rng.standard_normal((96, 256)).astype(np.float32)
    gi = rel(rt.linear_grad_input(dz, w), dz.astype(np.float64) @ w)
    check("exact kernel attn_linear_grad_input_f32", gi < 1e-5, f"rel err {gi:.2e} < 1e-5")

    # Semantics: the kernel computes what the op description says (numpy
    # transcription), for several ratios, epsilon gates and odd shapes.
    worst = 0.0
    same = True
    for shape, ratio, eps in [((3, 37, 24), 0.5, 1.0), ((113, 17), 0.125, 1.0), ((2, 64, 33), 1 / 64, 0.3),
                              ((1, 9), 1 / 512, 1.0), ((5, 40, 8), 0.25, 0.05), ((7,), 0.5, 1.0)]:
        xs = rng.standard_normal(shape).astype(np.float32)
        c, f, a = rt.compress(xs, ratio, 99, eps)
        C, F, A = reference_compress(xs, ratio, 99, eps)
        same &= np.array_equal(c, C) and np.array_equal(f, F)
        worst = max(worst, float(np.abs(a - A).max()) if a.size else 0.0)
        dzs = rng.standard_normal(shape[:-1] + (11,)).astype(np.float32)
        worst = max(worst, rel(rt.grad_weight(dzs, c, f, a), pamm_grad_reference(dzs, C, F, A)))
    check("kernels match the op semantics (numpy)", same and worst < 1e-5,
          f"generators and assignments identical, max scale/dW error {worst:.1e} < 1e-5")

    # Thread count and layout do not change a bit.
    x = structured(rng, 8192, 128, 0.05)
    dz = rng.standard_normal((8192, 64)).astype(np.float32)
    results = []
    for threads, layout in [(1, "C"), (2, "C"), (2, "F")]:
        rt.set_threads(threads)
        xl = np.asfortranarray(x) if layout == "F" else x
        zl = np.asfortranarray(dz) if layout == "F" else dz
        c, f, a = rt.compress(xl, 1 / 64, 7)
        results.append((c, f, a, rt.grad_weight(zl, c, f, a)))
    same = all(all(np.array_equal(p, q) for p, q in zip(results[0], r)) for r in results[1:])
    check("deterministic across threads and layouts", same, "1 vs 2 threads, row- vs column-major: identical bits")

    # Error vs ratio on structured data. For x_t on lines of a 2-D subspace,
    # the best of k random generator lines is within half the angular gap
    # around it; k random lines leave gaps with E[Σ g³] = 6π³/k², so the
    # angle δ to the best line has E[δ²] = π²/(2k²) and the relative error of
    # the approximated X is about π/(√2·k). Noise of relative size σ adds
    # about √2·σ (token and generator). For dZ independent of X the relative
    # gradient error concentrates at the relative error of X. Stated bound,
    # with a factor 2 of margin on both terms:
    #     rel_err(r) <= 2π/(√2·r·b) + 2√2·σ,   b = 16384, n = 256, σ = 0.01.
    b, n, sigma = 16384, 256, 0.01
    rt.set_threads(2)
    x = structured(rng, b, n, sigma)
    dz = rng.standard_normal((b, 128)).astype(np.float32)
    exact = dz.astype(np.float64).T @ x.astype(np.float64)
    iso = rng.standard_normal((b, n)).astype(np.float32)
    exact_iso = dz.astype(np.float64).T @ iso.astype(np.float64)
    print(f"error vs ratio, b = {b}, n = {n}, out = 128, dZ ~ N(0, 1):")
    print(f"{'ratio':>8} {'k':>6} {'structured':>11} {'bound':>8} {'isotropic':>10}")
    errs = []
    for denom in (8, 16, 32, 64, 128, 256, 512):
        r = 1 / denom
        c, f, a = rt.compress(x, r, denom)
        e = rel(rt.grad_weight(dz, c, f, a), exact)
        bound = 2 * np.pi / (np.sqrt(2) * r * b) + 2 * np.sqrt(2) * sigma
        ci, fi, ai = rt.compress(iso, r, denom)
        e_iso = rel(rt.grad_weight(dz, ci, fi, ai), exact_iso)
        print(f"{'1/' + str(denom):>8} {c.shape[0]:>6} {e:>11.4f} {bound:>8.4f} {e_iso:>10.4f}")
        errs.append((denom, e, bound))
    check("structured data: rel_err(r) <= 2π/(√2·r·b) + 2√2·σ for r = 1/8 .. 1/512",
          all(e <= bound for _, e, bound in errs), "every ratio within its bound")
    check("structured data: error grows as the ratio shrinks",
          all(errs[i][1] < errs[i + 1][1] for i in range(2, len(errs) - 1)) and errs[0][1] < errs[-1][1],
          "1/32 < 1/64 < ... < 1/512, and 1/8 < 1/512")

    # The epsilon gate drops badly approximated tokens and rescales the rest:
    # half structured, half isotropic tokens; the isotropic ones lie far from
    # every generator line.
    mix = np.concatenate([x[:1024], iso[:1024]])
    c, f, a = rt.compress(mix, 1 / 16, 1, 0.5)
    c1, f1, a1 = rt.compress(mix, 1 / 16, 1)
    kept = np.count_nonzero(a)
    scaled = np.allclose(a[a != 0] / a1[a != 0], 2048 / kept, rtol=1e-6)
    check("epsilon gate", np.count_nonzero(a[:1024]) > 1000 and np.count_nonzero(a[1024:]) < 200 and scaled,
          f"epsilon 0.5 keeps {np.count_nonzero(a[:1024])} of 1024 structured and "
          f"{np.count_nonzero(a[1024:])} of 1024 isotropic tokens; kept scales x 2048/{kept}")

    # Bad inputs are errors with the operand named, never crashes.
    def expect_error(name, fn, text):
        try:
            fn()
        except (RuntimeError, ValueError) as e:
            check(name, text in str(e), f"error: {e}")
            return
        check(name, False, "no error")

    xs = rng.standard_normal((16, 8)).astype(np.float32)

    def raw_compress(ratio):
        # Straight to the C ABI, past the wrapper's own ratio check.
        from attenuate.pamm_runtime import _view
        import ctypes
        c = np.zeros((1, 8), np.float32)
        f = np.zeros(16, np.int32)
        a = np.zeros(16, np.float32)
        views = [_view(xs, np.float32), _view(c, np.float32), _view(f, np.int32), _view(a, np.float32)]
        rc = rt.lib.attn_pamm_compress_f32(ctypes.byref(views[0]), ratio, 1, 1.0, ctypes.byref(views[1]),
                                           ctypes.byref(views[2]), ctypes.byref(views[3]))
        if rc:
            raise RuntimeError(rt.lib.attn_last_error().decode())

    expect_error("ratio 0 is an error", lambda: raw_compress(0.0), "ratio must be in (0, 1], got 0.0")
    expect_error("ratio 1.5 is an error", lambda: raw_compress(1.5), "ratio must be in (0, 1], got 1.5")
    expect_error("wrong generator count is an error", lambda: raw_compress(0.5),
                 "c [1, 8] must be [8, 8]")
    c, f, a = rt.compress(xs, 0.25, 1)
    bad = f.copy()
    bad[3] = c.shape[0]
    expect_error("assignment out of range is an error",
                 lambda: rt.grad_weight(np.ones((16, 4), np.float32), c, bad, a), "f[3] = 4 is outside [0, 4)")
    expect_error("token mismatch is an error",
                 lambda: rt.grad_weight(np.ones((15, 4), np.float32), c, f, a), "attn_pamm_grad_weight_f32: f [16]")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("graph")
    g.add_argument("--ckpt", required=True)
    g.add_argument("--exact", required=True)
    g.add_argument("--pamm", action="append", default=[])
    g.add_argument("--work", required=True)
    g.add_argument("--reference", action="store_true")
    k = sub.add_parser("kernels")
    k.add_argument("libdir")
    args = ap.parse_args()
    (graph if args.cmd == "graph" else kernels)(args)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed: {', '.join(FAILED)}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
