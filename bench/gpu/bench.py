#!/usr/bin/env python3
"""Times Attenuate's CUDA attention kernels against torch in one run.

Run by bench/gpu/run.sh on a lent GPU machine; writes one table (markdown,
JSON) to --out. Rows:

  ceilings   copy bandwidth (torch copy_ of 1 GiB; bytes = read + write) and
             bf16 GEMM (torch.matmul 8192³; FLOPs = 2·M·N·K), measured here;
  prefill    attn_cuda_attention vs torch SDPA with only the flash backend
             enabled, d128 bf16, 16k tokens per batch (FlashAttention's
             benchmark shapes); FLOPs = 4·B·Hq·Sq·Skv·D, halved when causal;
  decode     attn_cuda_decode_attention (split-K, GQA) vs SDPA flash, one
             query per sequence; bytes = the K and V cache read once,
             B·Skv·Hkv·(Dqk + Dv)·2;
  mla        the same entry on MLA's absorbed form (one kv head, k = [c ;
             k_rope] 512 + 64, v = c read from k) vs a plain torch absorbed
             MLA decode (bmm, softmax, bmm); bytes = B·Skv·576·2;
             FLOPs = 2·B·Hq·Skv·(576 + 512).

Timing: CUDA events around `inner` back-to-back calls (so host launch cost
overlaps the previous kernel), median of `reps` such measurements after a
warm-up; inputs rotate through enough copies to exceed twice the 50 MB L2.
"% of ceiling" is TFLOP/s over the GEMM ceiling (prefill) or GB/s over the
copy ceiling (decode, mla). "ratio" is baseline time / our time (> 1: ours
is faster). "max |diff|" compares our output with the baseline's.

--dry-run (no GPU needed): loads the library, checks the ctypes structure
layout through the library's own error messages, checks the torch
baselines' shapes on tiny CPU tensors against fp64, and prints the planned
rows with their formulas.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attn_cuda import (DTYPE_BF16, ERR_NULL, ERR_SHAPE, AttnCudaError,  # noqa: E402
                       Runtime, Tensor)

L2_BYTES = 50 << 20


# --------------------------------------------------------------------------
# The cases (shapes and formulas), shared by the dry run and the real run.
# --------------------------------------------------------------------------

def prefill_cases(quick):
    # 16k tokens per batch, 16 heads of 128 (FlashAttention-2's benchmark).
    seqs = [4096] if quick else [4096, 8192, 16384]
    cases = [dict(kind="prefill", B=16384 // s, S=s, Hq=16, Hkv=16, D=128,
                  causal=True) for s in seqs]
    cases.append(dict(kind="prefill", B=2, S=8192, Hq=32, Hkv=8, D=128,
                      causal=True))
    if not quick:
        cases.append(dict(kind="prefill", B=2, S=8192, Hq=16, Hkv=16, D=128,
                          causal=False))
    return cases


def decode_cases(quick):
    shapes = [(16, 8192)] if quick else [(16, 8192), (64, 8192), (16, 32768)]
    return [dict(kind="decode", B=b, S=s, Hq=32, Hkv=8, D=128)
            for b, s in shapes]


def mla_cases(quick):
    shapes = [(16, 16, 8192)] if quick else [(16, 16, 8192), (64, 128, 8192),
                                            (16, 128, 32768)]
    return [dict(kind="mla", B=b, Hq=h, S=s) for b, h, s in shapes]


def flops_of(c):
    if c["kind"] == "prefill":
        f = 4 * c["B"] * c["Hq"] * c["S"] * c["S"] * c["D"]
        return f / 2 if c["causal"] else f
    if c["kind"] == "decode":
        return 4 * c["B"] * c["Hq"] * c["S"] * c["D"]
    return 2 * c["B"] * c["Hq"] * c["S"] * (576 + 512)


def bytes_of(c):
    if c["kind"] == "prefill":
        return 2 * c["B"] * c["S"] * (2 * c["Hq"] + 2 * c["Hkv"]) * c["D"]
    if c["kind"] == "decode":
        return 2 * c["B"] * c["S"] * c["Hkv"] * 2 * c["D"]
    return 2 * c["B"] * c["S"] * 576


def describe(c):
    if c["kind"] == "prefill":
        return (f"B{c['B']} S{c['S']} Hq{c['Hq']} Hkv{c['Hkv']} d{c['D']} "
                + ("causal" if c["causal"] else "full"))
    if c["kind"] == "decode":
        return f"B{c['B']} kv{c['S']} Hq{c['Hq']} Hkv{c['Hkv']} d{c['D']}"
    return f"B{c['B']} kv{c['S']} Hq{c['Hq']} d576/512"


# --------------------------------------------------------------------------
# torch baselines (also checked on the CPU in the dry run)
# --------------------------------------------------------------------------

def mla_torch(q, cache, scale):
    """Plain absorbed MLA decode: q [B, 1, Hq, 576], cache [B, S, 1, 576]
    -> [B, 1, Hq, 512]. Reads the cache twice (scores, then values)."""
    import torch

    c = cache[:, :, 0]
    s = torch.bmm(q[:, 0], c.transpose(1, 2)) * scale
    p = torch.softmax(s.float(), dim=-1).to(q.dtype)
    return torch.bmm(p, c[:, :, :512]).unsqueeze(1)


def sdpa(q, k, v, causal, scale):
    """torch SDPA on [B, S, H, D] tensors (transposed views, no copies)."""
    import torch.nn.functional as F

    kwargs = dict(is_causal=causal, scale=scale)
    if q.shape[2] != k.shape[2]:
        kwargs["enable_gqa"] = True
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                         v.transpose(1, 2), **kwargs)
    return out.transpose(1, 2)


def reference(q, k, v, causal, scale):
    """fp64 attention on [B, S, H, D] (bottom-right causal), CPU."""
    import torch

    q, k, v = (t.double() for t in (q, k, v))
    group = q.shape[2] // k.shape[2]
    k = k.repeat_interleave(group, dim=2)
    v = v.repeat_interleave(group, dim=2)
    s = torch.einsum("bihd,bjhd->bhij", q, k) * scale
    if causal:
        sq, skv = q.shape[1], k.shape[1]
        i = torch.arange(sq).unsqueeze(1)
        j = torch.arange(skv).unsqueeze(0)
        s = s.masked_fill(j > i + skv - sq, float("-inf"))
    return torch.einsum("bhij,bjhd->bihd", torch.softmax(s, dim=-1), v)


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

def timed(fn, inner=10, reps=15, warmup=3):
    """Median milliseconds per call of fn()."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / inner)
    return statistics.median(samples)


def copies_for(nbytes):
    """Input sets to rotate so that the working set exceeds twice the L2."""
    return max(1, min(4, math.ceil(2 * L2_BYTES / max(nbytes, 1))))


class Rotor:
    def __init__(self, items):
        self.items, self.i = items, 0

    def next(self):
        item = self.items[self.i % len(self.items)]
        self.i += 1
        return item


# --------------------------------------------------------------------------
# The real run
# --------------------------------------------------------------------------

def measure_ceilings(quick):
    import torch

    n = 1 << (28 if quick else 29)  # bf16 elements: 512 MiB or 1 GiB
    src = torch.empty(n, dtype=torch.bfloat16, device="cuda").normal_()
    dst = torch.empty_like(src)
    ms = timed(lambda: dst.copy_(src), inner=5, reps=10)
    copy_gbs = 2 * n * 2 / (ms * 1e-3) / 1e9
    del src, dst
    m = 8192
    a = torch.randn(m, m, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(m, m, dtype=torch.bfloat16, device="cuda")
    c = torch.empty(m, m, dtype=torch.bfloat16, device="cuda")
    ms_gemm = timed(lambda: torch.matmul(a, b, out=c), inner=3, reps=10)
    gemm_tflops = 2 * m ** 3 / (ms_gemm * 1e-3) / 1e12
    del a, b, c
    torch.cuda.empty_cache()
    return [
        dict(kind="ceiling", shape="copy 1 GiB bf16 (read + write)",
             ours_ms=ms, gbs=copy_gbs, note="torch copy_"),
        dict(kind="ceiling", shape=f"bf16 GEMM {m}³", ours_ms=ms_gemm,
             tflops=gemm_tflops, note="torch.matmul (cuBLAS)"),
    ], copy_gbs, gemm_tflops


def run_attention_case(rt, c, stream, quick):
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dt = torch.bfloat16
    dev = "cuda"
    row = dict(kind=c["kind"], shape=describe(c), flops=flops_of(c),
               bytes=bytes_of(c))
    if c["kind"] == "mla":
        B, S, Hq = c["B"], c["S"], c["Hq"]
        scale = 1 / math.sqrt(192)  # DeepSeek's absorbed scale (qk_head_dim)
        per_set = B * S * 576 * 2
        sets = []
        for _ in range(copies_for(per_set)):
            cache = torch.randn(B, S, 1, 576, dtype=dt, device=dev)
            q = torch.randn(B, 1, Hq, 576, dtype=dt, device=dev)
            o = torch.empty(B, 1, Hq, 512, dtype=dt, device=dev)
            v = cache[..., :512]
            sets.append(dict(q=q, k=cache, v=v, o=o))
        baseline_name = "torch absorbed MLA (bmm, softmax, bmm)"

        def baseline(s):
            return mla_torch(s["q"], s["k"], scale)
    else:
        B, S, Hq, Hkv, D = c["B"], c["S"], c["Hq"], c["Hkv"], c["D"]
        sq = S if c["kind"] == "prefill" else 1
        causal = c.get("causal", False)
        scale = 1 / math.sqrt(D)
        per_set = 2 * B * (2 * sq * Hq + 2 * S * Hkv) * D
        sets = []
        for _ in range(copies_for(per_set)):
            q = torch.randn(B, sq, Hq, D, dtype=dt, device=dev)
            k = torch.randn(B, S, Hkv, D, dtype=dt, device=dev)
            v = torch.randn(B, S, Hkv, D, dtype=dt, device=dev)
            o = torch.empty(B, sq, Hq, D, dtype=dt, device=dev)
            sets.append(dict(q=q, k=k, v=v, o=o))
        baseline_name = "torch SDPA, flash backend"
        state = dict(expanded=False)

        def baseline(s):
            k, v = (s["kx"], s["vx"]) if state["expanded"] else (s["k"], s["v"])
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                return sdpa(s["q"], k, v, causal, scale)

        if Hq != Hkv:
            # Older flash paths refuse enable_gqa; then the baseline reads
            # materialised copies of the kv heads (more bytes than ours).
            try:
                baseline(sets[0])
            except RuntimeError:
                for s in sets:
                    s["kx"] = s["k"].repeat_interleave(Hq // Hkv, dim=2)
                    s["vx"] = s["v"].repeat_interleave(Hq // Hkv, dim=2)
                state["expanded"] = True
                baseline_name += " (kv heads expanded: enable_gqa refused)"

    for s in sets:
        s["t"] = [Tensor.from_torch(s[n]) for n in ("q", "k", "v", "o")]

    def ours_call(s, splits=0):
        q, k, v, o = s["t"]
        if c["kind"] == "prefill":
            return rt.attention(q, k, v, scale, c["causal"], o, stream)
        return rt.decode(q, k, v, scale, c["kind"] == "decode", o, splits,
                         None, 0, stream)

    # Correctness first: our output against the baseline's.
    rt.check(ours_call(sets[0]), "first call")
    try:
        ref = baseline(sets[0])
        torch.cuda.synchronize()
        row["max_diff"] = (sets[0]["o"].float() - ref.float()).abs().max().item()
        rot = Rotor(sets)
        row["base_ms"] = timed(lambda: baseline(rot.next()))
        row["baseline"] = baseline_name
    except Exception as e:  # the baseline may refuse a shape
        row["baseline"] = f"{baseline_name}: failed ({type(e).__name__}: {e})"

    rot = Rotor(sets)
    row["ours_ms"] = timed(lambda: rt.check(ours_call(rot.next()), "call"))
    if c["kind"] != "prefill":
        # The split count is a heuristic; report the best forced one too.
        best = None
        for splits in ([1, 4, 16] if quick else [1, 2, 4, 8, 16, 32]):
            rot = Rotor(sets)
            ms = timed(lambda: rt.check(ours_call(rot.next(), splits), "call"),
                       inner=5, reps=7)
            if best is None or ms < best[1]:
                best = (splits, ms)
        row["note"] = f"best forced splits {best[0]}: {best[1]:.4f} ms"
    del sets
    torch.cuda.empty_cache()
    return row


def finish_row(row, copy_gbs, gemm_tflops):
    ms = row.get("ours_ms")
    if ms and "flops" in row:
        row["tflops"] = row["flops"] / (ms * 1e-3) / 1e12
        row["gbs"] = row["bytes"] / (ms * 1e-3) / 1e9
        if row["kind"] == "prefill":
            row["pct"] = 100 * row["tflops"] / gemm_tflops
        else:
            row["pct"] = 100 * row["gbs"] / copy_gbs
    if ms and row.get("base_ms"):
        row["ratio"] = row["base_ms"] / ms
    return row


def table(rows):
    head = ("| kind | shape | ours ms | TFLOP/s | GB/s | % of ceiling | "
            "baseline | baseline ms | ratio | max abs diff | note |")
    lines = [head, "|" + "---|" * 11]

    def f(x, fmt):
        return "" if x is None else format(x, fmt)

    for r in rows:
        lines.append("| " + " | ".join([
            r["kind"], r["shape"], f(r.get("ours_ms"), ".4f"),
            f(r.get("tflops"), ".1f"), f(r.get("gbs"), ".0f"),
            f(r.get("pct"), ".1f"), r.get("baseline", ""),
            f(r.get("base_ms"), ".4f"), f(r.get("ratio"), ".2f"),
            f(r.get("max_diff"), ".3g"), r.get("note", r.get("error", ""))])
            + " |")
    return "\n".join(lines)


def real_run(args):
    import torch

    if not torch.cuda.is_available():
        print("bench: torch sees no CUDA device", file=sys.stderr)
        return 2
    rt = Runtime(args.lib)
    ok, why = rt.available()
    if not ok:
        print(f"bench: attn_cuda_available() = 0: {why}", file=sys.stderr)
        return 2
    torch.cuda.init()
    rt.open(torch.cuda.current_device())
    stream = torch.cuda.current_stream().cuda_stream
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, {props.multi_processor_count} SMs, "
          f"{props.total_memory / 2**30:.0f} GiB; torch {torch.__version__}")
    started = time.time()
    rows, copy_gbs, gemm_tflops = measure_ceilings(args.quick)
    for c in (prefill_cases(args.quick) + decode_cases(args.quick)
              + mla_cases(args.quick)):
        try:
            row = run_attention_case(rt, c, stream, args.quick)
        except (AttnCudaError, RuntimeError) as e:
            row = dict(kind=c["kind"], shape=describe(c),
                       error=f"{type(e).__name__}: {e}")
        rows.append(finish_row(row, copy_gbs, gemm_tflops))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    rt.close()
    text = (f"# Attenuate CUDA kernels vs torch on {props.name}\n\n"
            f"torch {torch.__version__}; copy ceiling {copy_gbs:.0f} GB/s, "
            f"bf16 GEMM ceiling {gemm_tflops:.0f} TFLOP/s; "
            f"{time.time() - started:.0f} s\n\n" + table(rows) + "\n\n"
            + __doc__.split("Run by")[1].split("--dry-run")[0].strip() + "\n")
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(args.out, "bench.json"), "w") as fh:
        json.dump(dict(device=props.name, torch=torch.__version__,
                       copy_gbs=copy_gbs, gemm_tflops=gemm_tflops, rows=rows),
                  fh, indent=1)
    errors = [r for r in rows if "error" in r]
    return 1 if errors else 0


# --------------------------------------------------------------------------
# The dry run
# --------------------------------------------------------------------------

def dry_run(args):
    failures = 0

    def report(ok, what):
        nonlocal failures
        failures += 0 if ok else 1
        print(("ok   " if ok else "FAIL ") + what)

    rt = Runtime(args.lib)
    ok, why = rt.available()
    print(f"attn_cuda_available() = {int(ok)}" + ("" if ok else f": {why}"))
    # The structure layout, checked by the library's own messages: a
    # mismatch in kv heads names every operand's sizes.
    fake = 1 << 20
    q = Tensor.make(fake, DTYPE_BF16, [2, 5, 8, 64])
    k = Tensor.make(fake, DTYPE_BF16, [2, 7, 3, 64])
    v = Tensor.make(fake, DTYPE_BF16, [2, 7, 3, 64])
    o = Tensor.make(fake, DTYPE_BF16, [2, 5, 8, 64])
    status = rt.attention(q, k, v, 0.125, True, o)
    msg = rt.last_error()
    report(status == ERR_SHAPE and "q [2, 5, 8, 64]" in msg
           and "kv heads (3)" in msg, f"struct layout via message: {msg}")
    k.sizes[2] = v.sizes[2] = 2
    status = rt.attention(q, k, v, 0.125, True, o)
    report(status == ERR_NULL and "context" in rt.last_error(),
           f"valid shapes reach the context check: {rt.last_error()}")
    k.sizes[1] = v.sizes[1] = 700
    k.strides[0] = v.strides[0] = 700 * 2 * 64
    n = rt.decode_workspace_size(q, k, v, 3)
    rows = 2 * 8 * 5
    expect = (3 * rows * 64 * 4 + 255) // 256 * 256 + 3 * rows * 2 * 4
    report(n == expect, f"decode workspace for 3 splits: {n} bytes")

    try:
        import torch
    except ImportError:
        torch = None
        print("skip torch baseline checks: no torch")
    if torch is not None:
        g = torch.Generator().manual_seed(0)
        qm = torch.randn(2, 1, 4, 576, generator=g)
        cache = torch.randn(2, 9, 1, 576, generator=g)
        got = mla_torch(qm, cache, 0.07)
        ref = reference(qm, cache, cache[..., :512], False, 0.07)
        err = (got.double() - ref).abs().max().item()
        report(err < 1e-4, f"mla_torch against fp64: max |diff| {err:.2e}")
        import torch.nn.functional as F
        if hasattr(F, "scaled_dot_product_attention"):
            for causal, sq in ((True, 6), (False, 1)):
                qs = torch.randn(2, sq, 8, 32, generator=g)
                ks = torch.randn(2, 6, 2, 32, generator=g)
                vs = torch.randn(2, 6, 2, 32, generator=g)
                got = sdpa(qs, ks, vs, causal, 0.2)
                err = (got.double() - reference(qs, ks, vs, causal, 0.2)).abs().max().item()
                report(err < 1e-4, f"sdpa wrapper (causal={causal}, Sq={sq}) "
                                   f"against fp64: {err:.2e}")
        else:
            print(f"skip sdpa wrapper check: torch {torch.__version__} has no "
                  "scaled_dot_product_attention")

    print("\nplanned rows (timed on a GPU):")
    for c in (prefill_cases(args.quick) + decode_cases(args.quick)
              + mla_cases(args.quick)):
        print(f"  {c['kind']:8s} {describe(c):40s} "
              f"{flops_of(c) / 1e9:10.1f} GFLOP {bytes_of(c) / 1e6:10.1f} MB")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", required=True,
                    help="path to libattn_runtime_cuda.so")
    ap.add_argument("--out", default=os.environ.get("OUT", "bench-out"))
    ap.add_argument("--quick", action="store_true",
                    help="fewer shapes (one per family)")
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU: check bindings and baselines, print the plan")
    args = ap.parse_args()
    return dry_run(args) if args.dry_run else real_run(args)


if __name__ == "__main__":
    sys.exit(main())
