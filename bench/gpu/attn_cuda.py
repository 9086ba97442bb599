"""ctypes bindings for libattn_runtime_cuda.so (include/attenuate/Runtime/attn_runtime_cuda.h).

Just what the benchmarks need: availability, contexts, the attention entries
and tensors built from torch tensors (or from raw pointers, for the CPU dry
run). Every call returns the library's status; `check` turns a non-zero
status into an exception carrying attn_cuda_last_error().
"""

import ctypes

MAX_RANK = 8
DTYPE_F32, DTYPE_F16, DTYPE_BF16 = 0, 1, 2
ERR_NULL, ERR_SHAPE, ERR_UNSUPPORTED, ERR_CUDA = 1, 2, 3, 4


class Tensor(ctypes.Structure):
    """attn_cuda_tensor: a strided device view (strides in elements)."""

    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int32),
        ("rank", ctypes.c_int32),
        ("sizes", ctypes.c_int64 * MAX_RANK),
        ("strides", ctypes.c_int64 * MAX_RANK),
    ]

    @staticmethod
    def make(data, dtype, sizes, strides=None):
        t = Tensor()
        t.data = data
        t.dtype = dtype
        t.rank = len(sizes)
        if strides is None:
            strides, step = [], 1
            for s in reversed(sizes):
                strides.insert(0, step)
                step *= s
        for i, (s, st) in enumerate(zip(sizes, strides)):
            t.sizes[i] = s
            t.strides[i] = st
        return t

    @staticmethod
    def from_torch(x):
        import torch

        codes = {torch.bfloat16: DTYPE_BF16, torch.float16: DTYPE_F16,
                 torch.float32: DTYPE_F32}
        return Tensor.make(x.data_ptr(), codes[x.dtype], list(x.shape),
                           list(x.stride()))


class AttnCudaError(RuntimeError):
    pass


class Runtime:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        L = self.lib
        T = ctypes.POINTER(Tensor)
        vp, i32, dbl = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
        L.attn_cuda_last_error.restype = ctypes.c_char_p
        L.attn_cuda_available.restype = i32
        L.attn_cuda_context_create.argtypes = [i32, ctypes.POINTER(vp)]
        L.attn_cuda_context_destroy.argtypes = [vp]
        L.attn_cuda_attention.argtypes = [vp, T, T, T, dbl, i32, T, vp]
        L.attn_cuda_decode_attention.argtypes = [vp, T, T, T, dbl, i32, T, i32,
                                                 vp, ctypes.c_size_t, vp]
        L.attn_cuda_decode_workspace_size.argtypes = [
            vp, T, T, T, i32, ctypes.POINTER(ctypes.c_size_t)]
        self.ctx = None

    def last_error(self):
        return self.lib.attn_cuda_last_error().decode()

    def check(self, status, what):
        if status != 0:
            raise AttnCudaError(f"{what}: status {status}: {self.last_error()}")

    def available(self):
        ok = bool(self.lib.attn_cuda_available())
        return ok, ("" if ok else self.last_error())

    def open(self, device=0):
        ctx = ctypes.c_void_p()
        self.check(self.lib.attn_cuda_context_create(device, ctypes.byref(ctx)),
                   "attn_cuda_context_create")
        self.ctx = ctx
        return ctx

    def close(self):
        if self.ctx:
            self.lib.attn_cuda_context_destroy(self.ctx)
            self.ctx = None

    def attention(self, q, k, v, scale, causal, o, stream=None):
        return self.lib.attn_cuda_attention(
            self.ctx, ctypes.byref(q), ctypes.byref(k), ctypes.byref(v),
            scale, int(causal), ctypes.byref(o), stream)

    def decode(self, q, k, v, scale, causal, o, splits=0, workspace=None,
               workspace_bytes=0, stream=None):
        return self.lib.attn_cuda_decode_attention(
            self.ctx, ctypes.byref(q), ctypes.byref(k), ctypes.byref(v),
            scale, int(causal), ctypes.byref(o), splits, workspace,
            workspace_bytes, stream)

    def decode_workspace_size(self, q, k, v, splits=0):
        n = ctypes.c_size_t()
        self.check(self.lib.attn_cuda_decode_workspace_size(
            self.ctx, ctypes.byref(q), ctypes.byref(k), ctypes.byref(v),
            splits, ctypes.byref(n)), "attn_cuda_decode_workspace_size")
        return n.value
