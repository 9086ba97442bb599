#!/usr/bin/env python3
"""Inputs and expected results for the per-op differential tests.

    op_reference.py OUT_DIR CASE [CASE ...]

For every CASE this writes, into OUT_DIR:
  CASE.in<i>.npy              the i-th input of the case's test function
  CASE.inputs.safetensors     the same inputs in order (attn-run binds a
                              .safetensors input to consecutive arguments)
  CASE.expected<k>.npy        the k-th result, computed in fp64 and cast to
                              the result dtype
and for cases with parameters, the archives the module reads (see below).

The expected values come from the op descriptions in AttnOps.td, written here
in plain numpy: nothing is imported from the compiler or from
python/attenuate, so agreement is evidence, not an echo. Inputs are random
with a fixed seed per case; every case prints one line with the largest
|expected| so a failing tolerance can be judged against the scale.
"""

import json
import os
import struct
import sys
import zlib

import numpy as np


# --------------------------------------------------------------------------
# Output helpers. The safetensors writer is this file's own (stdlib + numpy),
# so the archives do not depend on python/attenuate/safetensors_io.py either.
# --------------------------------------------------------------------------

_ST_DTYPE = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64",
             np.dtype("<i8"): "I64", np.dtype("<i4"): "I32"}


def write_safetensors(path, named):
    """named: list of (name, array), written in this order (ascending
    offsets, so "file order" is unambiguous)."""
    header, offset, blobs = {}, 0, []
    for name, a in named:
        a = np.ascontiguousarray(a)
        header[name] = {"dtype": _ST_DTYPE[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def f32(a):
    return np.asarray(a, dtype=np.float32)


# --------------------------------------------------------------------------
# The op semantics, from the op descriptions, in fp64.
# --------------------------------------------------------------------------

def embed(table, tokens):
    # result[..., :] = table[tokens[...], :]
    return table.astype(np.float64)[tokens]


def linear(x, w, b=None):
    # y[..., o] = sum_i x[..., i] * w[o, i] (+ b[o]); w is [out, in].
    y = np.einsum("...i,oi->...o", x.astype(np.float64), w.astype(np.float64))
    return y if b is None else y + b.astype(np.float64)


def rms_norm(x, w, eps):
    # y = x / sqrt(mean(x^2, last dim) + eps) * w
    x = x.astype(np.float64)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def mlp(x, gate, up, down):
    # y = (silu(x gate^T) * (x up^T)) down^T, silu(z) = z * sigmoid(z)
    g, u = linear(x, gate), linear(x, up)
    return linear(g / (1.0 + np.exp(-g)) * u, down)


def rope(x, pos, theta, rotary_dim, pairing, base_dim=None, freqs=None):
    """x: [B, S, H, D]; pos: [B, S]. Pair j rotates by pos * theta^(-2 f_j /
    base_dim); channels past rotary_dim are unchanged."""
    x = x.astype(np.float64)
    half = rotary_dim // 2
    base = rotary_dim if base_dim is None else base_dim
    f = np.arange(half) if freqs is None else np.asarray(freqs)
    omega = theta ** (-2.0 * f / base)                      # [half]
    ang = pos.astype(np.float64)[:, :, None, None] * omega   # [B, S, 1, half]
    c, s = np.cos(ang), np.sin(ang)
    out = x.copy()
    if pairing == "rotate_half":
        a, b = np.arange(half), np.arange(half) + half
    else:  # interleaved
        a, b = 2 * np.arange(half), 2 * np.arange(half) + 1
    xa, xb = x[..., a], x[..., b]
    out[..., a] = xa * c - xb * s
    out[..., b] = xb * c + xa * s
    return out


def attention(q, k, v, scale, causal, dtype=np.float64):
    """q [B, Sq, Hq, Dqk], k [B, Skv, Hkv, Dqk], v [B, Skv, Hkv, Dv]. Query
    head h reads KV head h // (Hq / Hkv); causal: query i sees keys
    j <= i + Skv - Sq; a row that sees no key is zero. Loops, on purpose:
    the plainest form of the formula. `dtype` float32 gives the
    same-precision reference of RELIABILITY.md's low-precision rule."""
    q, k, v = (t.astype(dtype) for t in (q, k, v))
    scale = dtype(scale)
    B, Sq, Hq, _ = q.shape
    Skv, Hkv, Dv = k.shape[1], k.shape[2], v.shape[3]
    group = Hq // Hkv
    out = np.zeros((B, Sq, Hq, Dv), dtype=dtype)
    for b in range(B):
        for h in range(Hq):
            g = h // group
            for i in range(Sq):
                last = i + Skv - Sq if causal else Skv - 1
                if last < 0:
                    continue
                logits = scale * (k[b, :last + 1, g] @ q[b, i, h])
                p = np.exp(logits - logits.max())
                out[b, i, h] = (p / p.sum()) @ v[b, :last + 1, g]
    return out


def cache_update(cache, new, position):
    # The cache with tokens [position, position + new_len) replaced by new.
    out = cache.copy()
    out[:, position:position + new.shape[1]] = new
    return out


# --------------------------------------------------------------------------
# Cases. Each returns (inputs, expected results, {archive: [(name, array)]}).
# --------------------------------------------------------------------------

def case_embed(rng):
    table = f32(rng.standard_normal((37, 24)))
    tok2 = rng.integers(0, 37, size=(2, 5), dtype=np.int64)
    tok2[0, 0], tok2[1, 4] = 0, 36  # both ends of the vocabulary
    tok1 = np.array([36, 0, 5, 5, 17, 1, 35], dtype=np.int64)
    # Out of [0, vocab): undefined by the op, clamped by the CPU lowering
    # (AttnOps.td), so never a read outside the table.
    bad = np.array([-1, 37, 10**12, np.iinfo(np.int64).min], dtype=np.int64)
    return ([table, tok2, tok1, bad],
            [embed(table, tok2), embed(table, tok1),
             embed(table, np.clip(bad, 0, 36))], {})


def case_linear(rng):
    # 67 input features: not a multiple of any vector width or tile.
    x3 = f32(rng.standard_normal((2, 7, 67)))
    w = f32(rng.standard_normal((40, 67)) / np.sqrt(67))
    b = f32(rng.standard_normal(40))
    x2 = f32(rng.standard_normal((5, 67)))
    w1 = f32(rng.standard_normal((3, 67)))  # out = 3: a narrow projection
    return ([x3, w, b, x2, w1],
            [linear(x3, w), linear(x3, w, b), linear(x2, w, b),
             linear(x2, w1)], {})


def case_rms_norm(rng):
    x = rng.standard_normal((3, 5, 48))
    x[0, 0] = 0.0     # all-zero row: y = 0, not NaN
    x[1, 2] *= 1e3    # large row: the norm is scale invariant
    x[2, 4] *= 1e-3   # small row: eps matters
    x = f32(x)
    w = f32(1.0 + 0.1 * rng.standard_normal(48))
    x2 = f32(rng.standard_normal((4, 33)))
    w2 = f32(1.0 + 0.1 * rng.standard_normal(33))
    return ([x, w, x2, w2],
            [rms_norm(x, w, 1e-5), rms_norm(x2, w2, 1e-6)], {})


def _mlp_weights(rng, d, inter):
    return (f32(rng.standard_normal((inter, d)) / np.sqrt(d)),
            f32(rng.standard_normal((inter, d)) / np.sqrt(d)),
            f32(rng.standard_normal((d, inter)) / np.sqrt(inter)))


def case_mlp(rng):
    """Weights are attn.param: mlp.safetensors is the archive the module
    names; mlp_b.safetensors replaces it through --attn-params, and
    mlp.expected_b0.npy is the result with those weights."""
    d, inter = 32, 72
    x = f32(rng.standard_normal((2, 5, d)))
    ga, ua, da = _mlp_weights(rng, d, inter)
    gb, ub, db = _mlp_weights(rng, d, inter)
    names = ["layers.0.mlp.gate_proj.weight", "layers.0.mlp.up_proj.weight",
             "layers.0.mlp.down_proj.weight"]
    archives = {"mlp.safetensors": list(zip(names, (ga, ua, da))),
                "mlp_b.safetensors": list(zip(names, (gb, ub, db)))}
    extra = {"expected_b0": mlp(x, gb, ub, db)}
    return [x], [mlp(x, ga, ua, da)], archives, extra


def case_rope(rng):
    x = f32(rng.standard_normal((2, 6, 3, 16)))
    # Row 0 a prefill from 0; row 1 a later, non-contiguous stretch.
    pos = np.array([[0, 1, 2, 3, 4, 5], [37, 38, 40, 101, 255, 511]],
                   dtype=np.int64)
    x2 = f32(rng.standard_normal((2, 6, 2, 12)))
    pos32 = pos.astype(np.int32)
    return ([x, pos, x2, pos32],
            [rope(x, pos, 1e4, 16, "rotate_half"),
             rope(x, pos, 1e4, 16, "interleaved"),
             rope(x, pos, 1e4, 8, "rotate_half"),        # partial rotary
             rope(x, pos, 5e5, 6, "interleaved"),        # partial, 3 pairs
             rope(x2, pos, 1e4, 8, "rotate_half", base_dim=32,
                  freqs=[0, 3, 7, 12]),                  # kept frequencies
             rope(x2, pos, 1e4, 8, "interleaved", base_dim=16,
                  freqs=[1, 2, 5, 7]),
             rope(x, pos32, 1e4, 16, "rotate_half")],    # i32 positions
            {})


def case_attention(rng):
    def qkv(b, sq, skv, hq, hkv, dqk, dv):
        return (f32(rng.standard_normal((b, sq, hq, dqk))),
                f32(rng.standard_normal((b, skv, hkv, dqk))),
                f32(rng.standard_normal((b, skv, hkv, dv))))
    qa, ka, va = qkv(2, 17, 17, 6, 2, 16, 16)    # GQA, odd length
    qc, kc, vc = qkv(1, 9, 9, 4, 1, 8, 8)        # MQA
    qd, kd, vd = qkv(2, 5, 11, 4, 2, 24, 8)      # Dqk != Dv, q_len < kv_len
    qe, ke, ve = qkv(2, 3, 17, 4, 2, 16, 16)     # decode chunk over a cache
    qf = f32(rng.standard_normal((2, 1, 4, 16)))  # one query over ke, ve
    qg, kg, vg = qkv(1, 5, 3, 2, 1, 8, 8)        # q_len > kv_len: 2 rows see nothing
    qh, kh, vh = qkv(1, 13, 13, 3, 3, 7, 5)      # MHA, odd head dims
    qi, ki, vi = qkv(1, 1, 1, 4, 2, 16, 16)      # kv_len 1
    qj, kj, vj = qkv(1, 113, 113, 4, 2, 32, 32)  # longer than any tile
    inputs = [qa, ka, va, qc, kc, vc, qd, kd, vd, qe, ke, ve, qf,
              qg, kg, vg, qh, kh, vh, qi, ki, vi, qj, kj, vj]
    expected = [
        attention(qa, ka, va, 0.25, True),
        attention(qa, ka, va, 0.25, False),
        attention(qc, kc, vc, 8 ** -0.5, True),
        attention(qd, kd, vd, 0.2, False),
        attention(qd, kd, vd, 0.2, True),
        attention(qe, ke, ve, 0.25, True),
        attention(qf, ke, ve, 0.25, True),
        attention(qf, ke, ve, 0.25, False),
        attention(qg, kg, vg, 8 ** -0.5, True),
        attention(qh, kh, vh, 7 ** -0.5, True),
        attention(qi, ki, vi, 0.25, True),
        attention(qj, kj, vj, 32 ** -0.5, True),
        # Logits x100 (std ~100): the softmax is nearly one-hot and must
        # stay finite.
        attention(qa, ka, va, 25.0, True),
    ]
    # The test's tolerance for the x100 case is twice this plus two ulps.
    err32 = np.abs(attention(qa, ka, va, 25.0, True, np.float32)
                   - expected[-1]).max()
    print(f"attention: x100 logits: the fp32 loops are off by {err32:.2e}")
    return inputs, expected, {}


def case_cache_update(rng):
    cache = f32(rng.standard_normal((2, 12, 2, 8)))
    new3 = f32(rng.standard_normal((2, 3, 2, 8)))
    new1 = f32(rng.standard_normal((2, 1, 2, 8)))
    pos = np.array([5], dtype=np.int64)
    mid = cache_update(cache, new3, 5)
    return ([cache, new3, new1, pos],
            [mid,                                   # at position 5
             cache_update(mid, new1, 8),            # then one more token
             cache_update(cache, new3, 9),          # ends exactly at capacity
             cache_update(cache, new1, 0),          # at the start
             cache.astype(np.float64)],             # the input is not clobbered
            {})


def case_f64(rng):
    """Every op once in f64, for the --reference lowering (the runtime
    kernels take f32 only): agreement to ~1e-13 checks the lowering's
    formulas without fp32 rounding to hide behind."""
    f64 = lambda *shape: rng.standard_normal(shape)
    table, tok = f64(11, 8), np.array([[0, 10, 3]], dtype=np.int64)
    x, w, b, n = f64(1, 3, 8), f64(6, 8), f64(6), f64(8)
    gate, up, down = f64(5, 8), f64(5, 8), f64(8, 5)
    q, k, v = f64(1, 3, 4, 8), f64(1, 7, 2, 8), f64(1, 7, 2, 6)
    pos = np.array([[4, 5, 6]], dtype=np.int64)
    cache, new = f64(1, 7, 2, 8), f64(1, 3, 2, 8)
    return ([table, tok, x, w, b, n, gate, up, down, q, k, v, pos, cache, new],
            [embed(table, tok), linear(x, w, b), rms_norm(x, n, 1e-6),
             mlp(x, gate, up, down), attention(q, k, v, 0.3, True),
             cache_update(cache, new, 4),
             rope(q, pos, 1e4, 6, "interleaved", base_dim=8, freqs=[0, 1, 3])],
            {})


CASES = {"embed": case_embed, "linear": case_linear, "rms_norm": case_rms_norm,
         "mlp": case_mlp, "rope": case_rope, "attention": case_attention,
         "cache_update": case_cache_update, "f64": case_f64}
# Cases whose results are f64 (the others' are f32).
F64_RESULTS = {"f64"}


def main():
    if len(sys.argv) < 3 or any(c not in CASES for c in sys.argv[2:]):
        sys.exit(f"usage: op_reference.py OUT_DIR CASE... (cases: {', '.join(CASES)})")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in sys.argv[2:]:
        # A seed per case, so adding a case does not change the others.
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        got = CASES[name](rng)
        inputs, expected, archives = got[:3]
        extra = got[3] if len(got) > 3 else {}
        for i, a in enumerate(inputs):
            np.save(os.path.join(out, f"{name}.in{i}.npy"), a)
        write_safetensors(os.path.join(out, f"{name}.inputs.safetensors"),
                          [(f"in{i:02d}", a) for i, a in enumerate(inputs)])
        for k, e in enumerate(expected):
            np.save(os.path.join(out, f"{name}.expected{k}.npy"),
                    e if name in F64_RESULTS else f32(e))
        for key, e in extra.items():
            np.save(os.path.join(out, f"{name}.{key}.npy"), f32(e))
        for fname, named in archives.items():
            write_safetensors(os.path.join(out, fname), named)
        scale = max(float(np.abs(e).max()) for e in expected)
        print(f"{name}: {len(inputs)} inputs, {len(expected)} results, "
              f"max |expected| {scale:.3g}")


if __name__ == "__main__":
    main()
