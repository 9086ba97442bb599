#!/usr/bin/python3
"""Reference for bench/lowrank_8b.py: A3 low-rank compression in numpy.

Written from shared/TECHNIQUES.md section 2 (A3, Wong et al., arXiv
2505.12942), independently of the C++ pass (lib/Numerics/LowRank.cpp): it
does the same decompositions `attn-opt --attn-lowrank="method=a3 ..."` does
on a Llama checkpoint with RoPE (rotate_half pairing) and GQA, and writes the
same new tensors, so the two can be timed and checked against each other.

Per layer, with R the fp64 calibration Grams of the stats file:
  QK  (RoPE, CUR over frequency pairs): channel a of head h scores
      ‖R_q^{1/2} w_a‖² = w_aᵀ R_q w_a (w_a row a of the head's q_proj rows;
      likewise for k_proj with R_kv); pair j = (j, j + d_h/2) scores
      Σ_h qn[h,a]·kn[g(h),a] + qn[h,b]·kn[g(h),b] over all query heads (one
      RoPE op per layer keeps one frequency list); the r/2 best pairs are
      kept, and q_proj/k_proj keep those rows of every head.
  OV  (R = R_kv, GQA): R^{±1/2} by eigendecomposition (damped by
      λ·mean(diag) if cond(R) > 1e12); per KV group g, the concatenation
      [R^{1/2} W_v,g W_o,h]_{h∈g} = A·Bᵀ with A = R^{1/2} W_v,g (d_m×d_h) and
      B the group's W_o,h stacked (|g|·d_m×d_h) is decomposed by the cheap
      route (QR of A and of B, SVD of the d_h×d_h core); W̃_v,g =
      R^{-1/2} U_r Σ_r, W̃_o,h = row block h of V_r.
  MLP channel i scores (R_d)_ii·‖W_down[:, i]‖²; the r best are kept
      (rows of gate/up, columns of down). Only the diagonal of R_d is read
      (by pread).

Ranks from --param-ratio p as the pass derives them: each dim d becomes
round(d·(1−p)) to a multiple of --round-to (even for QK), at least one
multiple, at most d. Ties in the selections go to the lower index; kept
indices are ascending.

Memory: tensors are numpy.memmap views of the safetensors files, opened per
tensor and dropped after use, so the resident set is one layer's matrices.
New weights are written layer by layer (bf16, like the checkpoint) to --out.

Usage: /usr/bin/python3 bench/lowrank_numpy.py CKPT_DIR STATS --out NEW.safetensors
       [--param-ratio 0.2] [--round-to 8]
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32, "F64": np.float64}


class Archive:
    """Header of one safetensors file; tensors are memmapped on demand."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            self.header = json.loads(f.read(n))
        self.base = 8 + n
        self.metadata = self.header.pop("__metadata__", {})

    def diagonal(self, name):
        """The diagonal of a square fp64 tensor, n preads (a memmap would map
        most of the matrix: the kernel maps the cached neighbours of each
        faulted page too)."""
        t = self.header[name]
        n = t["shape"][0]
        assert t["dtype"] == "F64" and t["shape"] == [n, n]
        start = self.base + t["data_offsets"][0]
        fd = os.open(self.path, os.O_RDONLY)
        try:
            raw = b"".join(os.pread(fd, 8, start + 8 * (i * n + i)) for i in range(n))
        finally:
            os.close(fd)
        return np.frombuffer(raw, dtype="<f8").copy()

    def map(self, name):
        t = self.header[name]
        begin, end = t["data_offsets"]
        return np.memmap(self.path, dtype=DTYPES[t["dtype"]], mode="r",
                         offset=self.base + begin, shape=tuple(t["shape"])), t["dtype"]


class Checkpoint:
    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            self.config = json.load(f)
        index = os.path.join(directory, "model.safetensors.index.json")
        self.files = {}
        if os.path.exists(index):
            with open(index) as f:
                wm = json.load(f)["weight_map"]
            archives = {s: Archive(os.path.join(directory, s)) for s in set(wm.values())}
            self.files = {n: archives[s] for n, s in wm.items()}
        else:
            a = Archive(os.path.join(directory, "model.safetensors"))
            self.files = {n: a for n in a.header}

    def raw(self, name):
        """The tensor's stored values (bf16 as uint16 bit patterns), mapped."""
        return self.files[name].map(name)


def to_f64(a, dtype):
    if dtype == "BF16":
        return (np.asarray(a).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return np.asarray(a, dtype=np.float64)


def round_rank(target, multiple, maximum, even):
    m = max(multiple, 1)
    if even and m % 2:
        m *= 2
    r = int(np.floor(target / m + 0.5)) * m  # llround: halves away from zero
    r = min(max(r, m), maximum)
    if even and r % 2:
        r -= 1
    return max(r, 2 if even else 1)


def top_ascending(scores, k):
    order = np.argsort(-scores, kind="stable")[:k]
    return np.sort(order)


def spd_roots(R):
    """R^{1/2}, R^{-1/2} by eigendecomposition, damped if ill-conditioned."""
    e, V = np.linalg.eigh(R)
    e = np.maximum(e, 0.0)
    if e[0] <= 0 or e[-1] / e[0] > 1e12:
        lam = max(1e-6, (e[-1] - 1e12 * e[0]) / (1e12 - 1) / np.mean(np.diag(R)) * (1 + 1e-9))
        e = e + lam * np.mean(np.diag(R))
        print(f"lowrank_numpy: R damped with λ = {lam:.3g}·mean(diag)", file=sys.stderr)
    B = V * e ** 0.25
    C = V * e ** -0.25
    return B @ B.T, C @ C.T


class Writer:
    """Streams tensors into one safetensors file (header first)."""

    def __init__(self, path, decls):
        header, off = {}, 0
        for name, dtype, shape, nbytes in decls:
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + nbytes]}
            off += nbytes
        self.order = [d[0] for d in decls]
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        self.f = open(path, "wb")
        self.f.write(struct.pack("<Q", len(text)) + text)
        self.next = 0

    def write(self, name, array):
        assert self.order[self.next] == name, (name, self.order[self.next])
        self.next += 1
        self.f.write(np.ascontiguousarray(array).tobytes())

    def close(self):
        assert self.next == len(self.order)
        self.f.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt")
    ap.add_argument("stats")
    ap.add_argument("--out", required=True)
    ap.add_argument("--param-ratio", type=float, default=0.2)
    ap.add_argument("--round-to", type=int, default=8)
    args = ap.parse_args()

    ck = Checkpoint(args.ckpt)
    cfg = ck.config
    L, dm, inter = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"]
    hq, hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    dh = cfg.get("head_dim") or dm // hq
    group = hq // hkv
    stats = Archive(args.stats)
    p = args.param_ratio
    rqk = round_rank(dh * (1 - p), args.round_to, dh, True)
    rov = round_rank(dh * (1 - p), args.round_to, dh, False)
    rmlp = round_rank(inter * (1 - p), args.round_to, inter, False)
    print(f"lowrank_numpy: {L} layers, ranks qk {rqk} ov {rov} mlp {rmlp}", file=sys.stderr)

    _, wdtype = ck.raw("model.layers.0.self_attn.q_proj.weight")
    item = np.dtype(DTYPES[wdtype]).itemsize
    decls = []
    for l in range(L):
        pre = f"model.layers.{l}."
        for name, shape in [("self_attn.q_proj.weight", (hq * rqk, dm)),
                            ("self_attn.k_proj.weight", (hkv * rqk, dm)),
                            ("self_attn.v_proj.weight", (hkv * rov, dm)),
                            ("self_attn.o_proj.weight", (dm, hq * rov)),
                            ("mlp.gate_proj.weight", (rmlp, dm)),
                            ("mlp.up_proj.weight", (rmlp, dm)),
                            ("mlp.down_proj.weight", (dm, rmlp))]:
            decls.append((pre + name + ".a3", wdtype, shape, shape[0] * shape[1] * item))
    out = Writer(args.out, decls)

    def encode(m):  # fp64 -> stored dtype (bf16: round to nearest even)
        if wdtype != "BF16":
            return m.astype(DTYPES[wdtype])
        bits = m.astype(np.float32).view(np.uint32).astype(np.uint64)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)

    for l in range(L):
        pre = f"model.layers.{l}."
        # ---- QK: CUR over RoPE frequency pairs.
        q_raw, qd = ck.raw(pre + "self_attn.q_proj.weight")
        k_raw, kd = ck.raw(pre + "self_attn.k_proj.weight")
        wq, wk = to_f64(q_raw, qd), to_f64(k_raw, kd)
        Rq, _ = stats.map(f"layers.{l}.R_q")
        qn = np.einsum("ij,ij->i", wq @ Rq, wq)
        del Rq
        Rkv, _ = stats.map(f"layers.{l}.R_kv")
        kn = np.einsum("ij,ij->i", wk @ Rkv, wk)
        del wq, wk
        qn, kn = qn.reshape(hq, dh), kn.reshape(hkv, dh)
        kn_h = np.repeat(kn, group, axis=0)  # key head of each query head
        prod = qn * kn_h
        scores = (prod[:, :dh // 2] + prod[:, dh // 2:]).sum(axis=0)
        kept = top_ascending(scores, rqk // 2)
        channels = np.concatenate([kept, kept + dh // 2])
        out.write(pre + "self_attn.q_proj.weight.a3",
                  np.asarray(q_raw).reshape(hq, dh, dm)[:, channels, :].reshape(-1, dm))
        out.write(pre + "self_attn.k_proj.weight.a3",
                  np.asarray(k_raw).reshape(hkv, dh, dm)[:, channels, :].reshape(-1, dm))
        del q_raw, k_raw

        # ---- OV: R_kv^{1/2} SVD per KV group (cheap route).
        Rh, Rih = spd_roots(np.asarray(Rkv))
        del Rkv
        v_raw, vd = ck.raw(pre + "self_attn.v_proj.weight")
        o_raw, od = ck.raw(pre + "self_attn.o_proj.weight")
        wv, wo = to_f64(v_raw, vd), to_f64(o_raw, od)
        del v_raw, o_raw
        v_new = np.empty((hkv * rov, dm))
        o_new = np.empty((dm, hq * rov))
        for g in range(hkv):
            A = Rh @ wv[g * dh:(g + 1) * dh].T                      # d_m × d_h
            heads = range(g * group, (g + 1) * group)
            B = np.concatenate([wo[:, h * dh:(h + 1) * dh] for h in heads])  # |g|·d_m × d_h
            Qa, Ra = np.linalg.qr(A)
            Qb, Rb = np.linalg.qr(B)
            Uc, S, Vct = np.linalg.svd(Ra @ Rb.T)
            U, V = Qa @ Uc[:, :rov], Qb @ Vct[:rov].T
            v_new[g * rov:(g + 1) * rov] = (Rih @ (U * S[:rov])).T
            for i, h in enumerate(heads):
                o_new[:, h * rov:(h + 1) * rov] = V[i * dm:(i + 1) * dm]
        del wv, wo, Rh, Rih
        out.write(pre + "self_attn.v_proj.weight.a3", encode(v_new))
        out.write(pre + "self_attn.o_proj.weight.a3", encode(o_new))
        del v_new, o_new

        # ---- MLP: channel scores (R_d)_ii · ‖W_down[:, i]‖².
        diag = stats.diagonal(f"layers.{l}.R_d")
        d_raw, dd = ck.raw(pre + "mlp.down_proj.weight")
        col = np.zeros(inter)
        for r0 in range(0, dm, 512):
            blk = to_f64(d_raw[r0:r0 + 512], dd)
            col += np.einsum("ij,ij->j", blk, blk)
        keep = top_ascending(diag * col, rmlp)
        for name in ("mlp.gate_proj.weight", "mlp.up_proj.weight"):
            raw, _ = ck.raw(pre + name)
            out.write(pre + name + ".a3", np.asarray(raw)[keep])
            del raw
        out.write(pre + "mlp.down_proj.weight.a3", np.asarray(d_raw)[:, keep])
        del d_raw
        print(f"lowrank_numpy: layer {l + 1}/{L} done", file=sys.stderr)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
