"""The runtime's PAMM and projection-gradient kernels through ctypes.

Loads build/lib/libattn_runtime.so (or $ATTN_RUNTIME_LIB) and wraps the C ABI of
include/attenuate/Runtime/attn_runtime.h for numpy arrays (any strides; float32
and int32). Used by the training check (pamm_train.py), the benchmark
(bench/pamm_cpu.py) and the kernel tests (test/Integration/Inputs/pamm_check.py).
"""

from __future__ import annotations

import ctypes
import os
from typing import Optional, Tuple

import numpy as np

MAX_RANK = 8
_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LIB = os.path.join(_HERE, "..", "..", "build", "lib", "libattn_runtime.so")


class _View(ctypes.Structure):
    """attn_view_f32 and attn_view_i32 (same layout; the pointer type differs
    only in C)."""

    _fields_ = [
        ("data", ctypes.c_void_p),
        ("rank", ctypes.c_int32),
        ("sizes", ctypes.c_int64 * MAX_RANK),
        ("strides", ctypes.c_int64 * MAX_RANK),
    ]


def _view(a: np.ndarray, dtype) -> _View:
    if a.dtype != dtype:
        raise TypeError(f"expected {np.dtype(dtype).name}, got {a.dtype}")
    if a.ndim > MAX_RANK:
        raise ValueError(f"rank {a.ndim} > {MAX_RANK}")
    v = _View()
    v.data = a.ctypes.data if a.size else None
    v.rank = a.ndim
    for i, (n, s) in enumerate(zip(a.shape, a.strides)):
        if s % a.itemsize:
            raise ValueError("strides must be whole elements")
        v.sizes[i] = n
        v.strides[i] = s // a.itemsize
    return v


class Runtime:
    def __init__(self, path: Optional[str] = None):
        path = path or os.environ.get("ATTN_RUNTIME_LIB") or DEFAULT_LIB
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: build it with ninja -C build attn_runtime")
        self.lib = lib = ctypes.CDLL(os.path.abspath(path))
        P = ctypes.POINTER(_View)
        lib.attn_last_error.restype = ctypes.c_char_p
        lib.attn_set_num_threads.argtypes = [ctypes.c_int]
        lib.attn_pamm_num_generators.restype = ctypes.c_int64
        lib.attn_pamm_num_generators.argtypes = [ctypes.c_int64, ctypes.c_double]
        lib.attn_pamm_compress_f32.argtypes = [P, ctypes.c_double, ctypes.c_uint64, ctypes.c_double, P, P, P]
        lib.attn_pamm_grad_weight_f32.argtypes = [P, P, P, P, P]
        lib.attn_linear_grad_weight_f32.argtypes = [P, P, P]
        lib.attn_linear_grad_input_f32.argtypes = [P, P, P]
        for fn in ("attn_pamm_compress_f32", "attn_pamm_grad_weight_f32",
                   "attn_linear_grad_weight_f32", "attn_linear_grad_input_f32"):
            getattr(lib, fn).restype = ctypes.c_int

    def _check(self, rc: int, what: str):
        if rc != 0:
            # The kernel's message already starts with its name.
            raise RuntimeError(self.lib.attn_last_error().decode() or what)

    def set_threads(self, n: int) -> None:
        self.lib.attn_set_num_threads(int(n))

    def num_generators(self, tokens: int, ratio: float) -> int:
        k = self.lib.attn_pamm_num_generators(int(tokens), float(ratio))
        if k < 0:
            raise ValueError(f"ratio {ratio} must be in (0, 1]")
        return k

    def compress(self, x: np.ndarray, ratio: float, seed: int,
                 epsilon: float = 1.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x [..., n] float32 -> (C [k, n], f [...] int32, alpha [...] float32)."""
        lead, n = x.shape[:-1], x.shape[-1]
        b = int(np.prod(lead)) if lead else 1
        k = self.num_generators(b, ratio)
        c = np.empty((k, n), np.float32)
        f = np.empty(lead, np.int32)
        alpha = np.empty(lead, np.float32)
        xv, cv, fv, av = _view(x, np.float32), _view(c, np.float32), _view(f, np.int32), _view(alpha, np.float32)
        rc = self.lib.attn_pamm_compress_f32(ctypes.byref(xv), float(ratio), int(seed) & (2**64 - 1),
                                             float(epsilon), ctypes.byref(cv), ctypes.byref(fv), ctypes.byref(av))
        self._check(rc, "attn_pamm_compress_f32")
        return c, f, alpha

    def grad_weight(self, dz: np.ndarray, c: np.ndarray, f: np.ndarray, alpha: np.ndarray,
                    out: Optional[np.ndarray] = None) -> np.ndarray:
        """dz [..., out], C [k, in], f/alpha [...] -> dW [out, in] ≈ dzᵀ·X."""
        if out is None:
            out = np.empty((dz.shape[-1], c.shape[1]), np.float32)
        zv, cv, fv, av, wv = (_view(dz, np.float32), _view(c, np.float32), _view(f, np.int32),
                              _view(alpha, np.float32), _view(out, np.float32))
        rc = self.lib.attn_pamm_grad_weight_f32(ctypes.byref(zv), ctypes.byref(cv), ctypes.byref(fv),
                                                ctypes.byref(av), ctypes.byref(wv))
        self._check(rc, "attn_pamm_grad_weight_f32")
        return out

    def linear_grad_weight(self, dy: np.ndarray, x: np.ndarray,
                           out: Optional[np.ndarray] = None) -> np.ndarray:
        """Exact dW [out, in] = dyᵀ·x through OpenBLAS."""
        if out is None:
            out = np.empty((dy.shape[-1], x.shape[-1]), np.float32)
        yv, xv, wv = _view(dy, np.float32), _view(x, np.float32), _view(out, np.float32)
        rc = self.lib.attn_linear_grad_weight_f32(ctypes.byref(yv), ctypes.byref(xv), ctypes.byref(wv))
        self._check(rc, "attn_linear_grad_weight_f32")
        return out

    def linear_grad_input(self, dy: np.ndarray, w: np.ndarray) -> np.ndarray:
        """dx [..., in] = dy [..., out] · w [out, in]."""
        out = np.empty(dy.shape[:-1] + (w.shape[1],), np.float32)
        yv, wv, xv = _view(dy, np.float32), _view(w, np.float32), _view(out, np.float32)
        rc = self.lib.attn_linear_grad_input_f32(ctypes.byref(yv), ctypes.byref(wv), ctypes.byref(xv))
        self._check(rc, "attn_linear_grad_input_f32")
        return out


def reference_compress(x: np.ndarray, ratio: float, seed: int, epsilon: float = 1.0):
    """attn.pamm_compress transcribed in numpy (fp64 scores), independent of the
    kernel: the same sampling stream, argmax, scales and ε-gate."""
    M = 2**64 - 1
    lead, n = x.shape[:-1], x.shape[-1]
    X = x.reshape(-1, n).astype(np.float64)
    b = X.shape[0]
    k = 0 if b == 0 else min(b, max(1, int(np.ceil(ratio * b))))
    perm = list(range(b))
    for j in range(k):
        z = (seed + (j + 1) * 0x9E3779B97F4A7C15) & M
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        z ^= z >> 31
        r = j + z % (b - j)
        perm[j], perm[r] = perm[r], perm[j]
    gen = perm[:k]
    C = X[gen]
    gen_of = np.full(b, -1)
    gen_of[gen] = np.arange(k)
    cn = (C * C).sum(1)
    S = X @ C.T
    score = np.where(cn[None, :] > 0, S * S / np.where(cn > 0, cn, 1)[None, :], -1.0)
    f = score.argmax(1)
    best = score[np.arange(b), f]
    alpha = np.where(best < 0, 0.0, S[np.arange(b), f] / np.where(cn[f] > 0, cn[f], 1))
    if epsilon < 1.0:
        xx = (X * X).sum(1)
        drop = (xx - np.maximum(best, 0)) > epsilon * xx
        drop &= gen_of < 0
        alpha[drop] = 0.0
        eta = int(drop.sum())
    else:
        eta = 0
    isgen = gen_of >= 0
    f = np.where(isgen, gen_of, f)
    alpha = np.where(isgen, 1.0, alpha)
    if eta:
        alpha = alpha * (b / (b - eta))
    return C.astype(x.dtype), f.reshape(lead).astype(np.int32), alpha.reshape(lead).astype(x.dtype)
