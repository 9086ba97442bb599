"""Properties of the numpy reference of the encoded KV caches
(attenuate.reference.sparse_encode / sparse_decode / kv_quantize), which the
compiled ops are differentially tested against (test/Integration/
op-sparse-codec.test, op-kv-quantize.test). Run:
/usr/bin/python3 -m pytest test/python
"""

import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

from attenuate import reference  # noqa: E402


def test_identity_basis_full_sparsity_reproduces_up_to_fp16():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 7, 3, 16)) *
         10.0 ** rng.uniform(-3, 3, (2, 7, 3, 1))).astype(np.float32)
    eye = np.eye(8, dtype=np.float32)
    idx, coef = reference.sparse_encode(x, eye, 8, 2)
    assert idx.dtype == np.int16 and coef.dtype == np.float16
    assert idx.shape == coef.shape == (2, 7, 3, 16)
    y = reference.sparse_decode(idx, coef, eye, 2)
    err = np.abs(y - x).max(axis=-1)
    assert np.all(err <= 2.0 ** -11 * np.abs(x).max(axis=-1) + 2.0 ** -24)


def test_codes_are_chunk_major_and_residual_shrinks():
    rng = np.random.default_rng(1)
    d = rng.standard_normal((32, 8)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    x = rng.standard_normal((1, 4, 2, 16)).astype(np.float32)
    errs = []
    for s in (1, 2, 4, 8):
        idx, coef = reference.sparse_encode(x, d, s, 2)
        # Chunk c's codes are slots c*s .. c*s+s-1: chunk 1 alone encodes
        # channels 8..15.
        i1, c1 = reference.sparse_encode(x[..., 8:], d, s, 1)
        assert np.array_equal(idx[..., s:], i1)
        assert np.array_equal(coef[..., s:], c1)
        errs.append(np.linalg.norm(reference.sparse_decode(idx, coef, d, 2) - x))
    assert all(b <= a * (1 + 1e-3) for a, b in zip(errs, errs[1:]))


def test_kv_quantize_bound_window_and_axes():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 40, 2, 8)).astype(np.float32)
    for bits in (2, 4):
        q = 2 ** bits - 1
        k = reference.kv_quantize(x, bits, "channel", 4, 6)
        # 40 - 6 = 34 -> 32 tokens (8 groups of 4) quantized per channel.
        assert np.array_equal(k[:, 32:], x[:, 32:])
        g = x[:, :32].reshape(1, 8, 4, 2, 8)
        step = (g.max(2, keepdims=True) - g.min(2, keepdims=True)) / q
        bound = step / 2 + 2.0 ** -11 * (np.abs(g.min(2, keepdims=True)) + q * step) + 1e-7
        assert np.all(np.abs(k[:, :32].reshape(g.shape) - g) <= bound)
        v = reference.kv_quantize(x, bits, "token", 4, 6)
        assert np.array_equal(v[:, 34:], x[:, 34:])
        g = x[:, :34].reshape(1, 34, 2, 2, 4)
        step = (g.max(4, keepdims=True) - g.min(4, keepdims=True)) / q
        bound = step / 2 + 2.0 ** -11 * (np.abs(g.min(4, keepdims=True)) + q * step) + 1e-7
        assert np.all(np.abs(v[:, :34].reshape(g.shape) - g) <= bound)
    assert np.array_equal(reference.kv_quantize(x, 2, "channel", 4, 40), x)
    # A constant group has scale 0 and reads back its (fp16) value.
    c = np.full((1, 8, 1, 4), 0.1, np.float32)
    assert np.allclose(reference.kv_quantize(c, 2, "token", 4, 0),
                       np.float16(0.1).astype(np.float32))
