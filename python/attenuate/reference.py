"""Plain numpy forward of the Llama family (Llama, Mistral, Qwen2), written from the
architecture definition with Hugging Face LlamaForCausalLM semantics.

This is the project's independent oracle: it shares no code with the torch model
(`torch_llama.py`) or the compiler, so agreement between them means something.

Parameters use HF names and layouts (linear weights [out, in], y = x W^T + b).
KV cache: `past` is a list with one (k, v) per layer, each [B, Hkv, T, head_dim],
k stored after RoPE (as HF does), so decode continues where prefill stopped.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import safetensors_io

__all__ = ["forward", "load_hf", "rope_inv_freq", "rms_norm", "nll_bits_per_byte",
           "sparse_encode", "sparse_decode", "kv_quantize"]

Past = List[Tuple[np.ndarray, np.ndarray]]


def _head_dim(config: dict) -> int:
    hd = config.get("head_dim")
    return int(hd) if hd else config["hidden_size"] // config["num_attention_heads"]


def rope_inv_freq(config: dict, dtype=np.float64) -> np.ndarray:
    """inv_freq[j] = theta^(-2j/rot_dim) for the rot_dim = head_dim * partial_rotary_factor
    leading dims of each head."""
    rot = int(_head_dim(config) * float(config.get("partial_rotary_factor", 1.0)))
    theta = float(config.get("rope_theta", 10000.0))
    return (1.0 / theta ** (np.arange(0, rot, 2, dtype=np.float64) / rot)).astype(dtype)


def _rope_position_scale(config: dict) -> float:
    rs = config.get("rope_scaling")
    if not rs:
        return 1.0
    kind = rs.get("rope_type", rs.get("type"))
    if kind in (None, "default"):
        return 1.0
    if kind == "linear":
        # Linear interpolation divides positions by the factor.
        return 1.0 / float(rs["factor"])
    raise NotImplementedError(f"rope_scaling type {kind!r} is not supported by the reference")


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    var = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(var + eps) * w


def _apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x: [B, H, S, D]; cos/sin: [B, 1, S, rot/2]. rotate_half pairing: dim i with
    dim i + rot/2 inside the rotary block; dims past rot pass through."""
    half = cos.shape[-1]
    rot = 2 * half
    x1 = x[..., :half]
    x2 = x[..., half:rot]
    out = np.empty_like(x)
    out[..., :half] = x1 * cos - x2 * sin
    out[..., half:rot] = x2 * cos + x1 * sin
    out[..., rot:] = x[..., rot:]
    return out


def _linear(x: np.ndarray, params: Dict[str, np.ndarray], name: str, dtype) -> np.ndarray:
    y = x @ params[name + ".weight"].astype(dtype, copy=False).T
    b = params.get(name + ".bias")
    if b is not None:
        y = y + b.astype(dtype, copy=False)
    return y


def _silu(x: np.ndarray) -> np.ndarray:
    # x * sigmoid(x), with sigmoid via tanh: exp(-x) would overflow (and warn) in
    # fp32 for x < -88.
    return x * (0.5 + 0.5 * np.tanh(0.5 * x))


def forward(
    params: Dict[str, np.ndarray],
    config: dict,
    tokens: np.ndarray,
    positions: Optional[np.ndarray] = None,
    past: Optional[Past] = None,
    dtype=np.float64,
    shared: Optional[Dict[int, int]] = None,
) -> Tuple[np.ndarray, Past]:
    """Logits [B, S, vocab] (in `dtype`) and the extended KV cache.

    `shared` maps a layer to an earlier source layer whose attention
    probabilities it reuses (Shared Attention, arXiv 2407.12866): the layer
    computes only its values and output, O = A_source · V · W_O. Prefill only
    (`past` must be None).

    positions default to past_len + arange(S). The causal mask is over cache slots
    (bottom-right aligned: query i sees slots <= past_len + i), independent of the
    position ids, as with HF's cache_position.
    """
    dtype = np.dtype(dtype)
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be [B, S], got shape {tokens.shape}")
    B, S = tokens.shape
    L = int(config["num_hidden_layers"])
    Hq = int(config["num_attention_heads"])
    Hkv = int(config.get("num_key_value_heads") or Hq)
    if Hq % Hkv:
        raise ValueError(f"num_attention_heads {Hq} not a multiple of num_key_value_heads {Hkv}")
    G = Hq // Hkv
    D = _head_dim(config)
    eps = float(config.get("rms_norm_eps", 1e-6))
    act = config.get("hidden_act", "silu")
    if act != "silu":
        raise NotImplementedError(f"hidden_act {act!r}")
    if past is not None and len(past) != L:
        raise ValueError(f"past has {len(past)} layers, model has {L}")
    T0 = 0 if past is None else past[0][0].shape[2]

    if positions is None:
        positions = np.broadcast_to(np.arange(T0, T0 + S, dtype=np.int64), (B, S))
    positions = np.asarray(positions, dtype=np.int64)
    if positions.shape != (B, S):
        raise ValueError(f"positions shape {positions.shape} != tokens shape {(B, S)}")

    # Angles in fp64 whatever the compute dtype, so the fp32 path differs from fp64
    # only by the arithmetic, not by how the table was built.
    ang = (positions.astype(np.float64) * _rope_position_scale(config))[..., None] * rope_inv_freq(config)
    cos = np.cos(ang).astype(dtype)[:, None]  # [B, 1, S, rot/2]
    sin = np.sin(ang).astype(dtype)[:, None]

    T = T0 + S
    # mask[i, j]: query i (slot T0 + i) may attend to slot j.
    allowed = np.arange(T)[None, :] <= (T0 + np.arange(S))[:, None]
    scale = 1.0 / np.sqrt(D)

    shared = shared or {}
    if shared and past is not None:
        raise ValueError("shared attention is modelled for prefill only")
    probs_of: Dict[int, np.ndarray] = {}
    emb = params["model.embed_tokens.weight"]
    h = emb[tokens].astype(dtype)
    new_past: Past = []
    for l in range(L):
        p = f"model.layers.{l}."
        x = rms_norm(h, params[p + "input_layernorm.weight"].astype(dtype, copy=False), eps)
        q = _linear(x, params, p + "self_attn.q_proj", dtype).reshape(B, S, Hq, D).transpose(0, 2, 1, 3)
        k = _linear(x, params, p + "self_attn.k_proj", dtype).reshape(B, S, Hkv, D).transpose(0, 2, 1, 3)
        v = _linear(x, params, p + "self_attn.v_proj", dtype).reshape(B, S, Hkv, D).transpose(0, 2, 1, 3)
        q = _apply_rope(q, cos, sin)
        k = _apply_rope(k, cos, sin)
        if past is not None:
            pk, pv = past[l]
            k = np.concatenate([pk.astype(dtype, copy=False), k], axis=2)
            v = np.concatenate([pv.astype(dtype, copy=False), v], axis=2)
        new_past.append((k, v))

        if l in shared:
            probs = probs_of[shared[l]]
        else:
            # GQA without copying K/V: query head h uses KV head h // G.
            qg = q.reshape(B, Hkv, G, S, D)
            scores = np.einsum("bkgsd,bktd->bkgst", qg, k) * dtype.type(scale)
            scores = np.where(allowed, scores, -np.inf)
            scores = scores - scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
        probs_of[l] = probs
        ctx = np.einsum("bkgst,bktd->bkgsd", probs, v).reshape(B, Hq, S, D)
        ctx = ctx.transpose(0, 2, 1, 3).reshape(B, S, Hq * D)
        h = h + _linear(ctx, params, p + "self_attn.o_proj", dtype)

        x = rms_norm(h, params[p + "post_attention_layernorm.weight"].astype(dtype, copy=False), eps)
        g = _linear(x, params, p + "mlp.gate_proj", dtype)
        u = _linear(x, params, p + "mlp.up_proj", dtype)
        h = h + _linear(_silu(g) * u, params, p + "mlp.down_proj", dtype)

    h = rms_norm(h, params["model.norm.weight"].astype(dtype, copy=False), eps)
    head = params.get("lm_head.weight")
    if head is None:
        if not config.get("tie_word_embeddings", False):
            raise KeyError("lm_head.weight missing and tie_word_embeddings is false")
        head = emb
    logits = h @ head.astype(dtype, copy=False).T
    return logits, new_past


def load_hf(directory: str) -> Tuple[dict, Dict[str, np.ndarray]]:
    """(config, params) from a HF checkpoint directory: config.json plus
    model.safetensors or a sharded model.safetensors.index.json."""
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    single = os.path.join(directory, "model.safetensors")
    index = os.path.join(directory, "model.safetensors.index.json")
    params: Dict[str, np.ndarray] = {}
    if os.path.exists(single):
        params.update(safetensors_io.load_file(single))
    elif os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        by_file: Dict[str, List[str]] = {}
        for name, fname in weight_map.items():
            by_file.setdefault(fname, []).append(name)
        for fname in sorted(by_file):
            params.update(safetensors_io.load_file(os.path.join(directory, fname), by_file[fname]))
    else:
        raise FileNotFoundError(f"{directory}: neither model.safetensors nor model.safetensors.index.json")
    return config, params


def nll_bits_per_byte(logits: np.ndarray, targets: Sequence[int]) -> float:
    """Mean next-byte NLL in bits of `targets` under `logits` [N, vocab]."""
    lg = logits.astype(np.float64)
    lg = lg - lg.max(axis=-1, keepdims=True)
    logz = np.log(np.exp(lg).sum(axis=-1))
    t = np.asarray(targets, dtype=np.int64)
    nll = logz - lg[np.arange(len(t)), t]
    return float(nll.mean() / np.log(2.0))


# --------------------------------------------------------------------------
# Encoded KV caches: the reference semantics of attn.sparse_encode /
# attn.sparse_decode (CSR, attn-sparse-kv) and attn.kv_quantize (KIVI,
# attn-quantize-kv), transcribed from their op descriptions (AttnOps.td).
# Arithmetic is fp32 as in the compiled lowering.
# --------------------------------------------------------------------------

def sparse_encode(x: np.ndarray, dictionary: np.ndarray, sparsity: int,
                  chunks: int) -> Tuple[np.ndarray, np.ndarray]:
    """Matching-pursuit codes of x [B, T, H, d] over dictionary [N, d/chunks]
    (unit-norm atoms as rows): (indices int16, coefficients float16), both
    [B, T, H, chunks*sparsity], slot c*s + g holding step g of chunk c. The
    residual is updated with the fp16 coefficient."""
    x = np.asarray(x, dtype=np.float32)
    dic = np.asarray(dictionary, dtype=np.float32)
    b, t, h, d = x.shape
    dc = d // chunks
    r = x.reshape(b, t, h, chunks, dc).copy()
    idx = np.zeros((b, t, h, chunks, sparsity), dtype=np.int16)
    coef = np.zeros((b, t, h, chunks, sparsity), dtype=np.float16)
    for g in range(sparsity):
        # fp64 products of fp32 values, rounded once: within an ulp of the
        # lowering's sequential fp32 sum, so the argmax agrees off near-ties.
        dots = (r.astype(np.float64) @ dic.T.astype(np.float64)).astype(np.float32)
        best = np.argmax(np.abs(dots), axis=-1)  # first maximum: lowest n
        c = np.take_along_axis(dots, best[..., None], axis=-1)[..., 0]
        c16 = np.clip(c, -65504.0, 65504.0).astype(np.float16)
        idx[..., g] = best.astype(np.int16)
        coef[..., g] = c16
        r = r - c16.astype(np.float32)[..., None] * dic[best]
    return (idx.reshape(b, t, h, chunks * sparsity),
            coef.reshape(b, t, h, chunks * sparsity))


def sparse_decode(indices: np.ndarray, coefficients: np.ndarray,
                  dictionary: np.ndarray, chunks: int) -> np.ndarray:
    """Head vectors [B, T, H, chunks*dc] rebuilt from CSR codes."""
    dic = np.asarray(dictionary, dtype=np.float32)
    n, dc = dic.shape
    b, t, h, k = indices.shape
    s = k // chunks
    i = np.clip(indices.astype(np.int64), 0, n - 1).reshape(b, t, h, chunks, s)
    c = coefficients.astype(np.float32).reshape(b, t, h, chunks, s)
    out = np.zeros((b, t, h, chunks, dc), dtype=np.float32)
    for g in range(s):
        out += c[..., g, None] * dic[i[..., g]]
    return out.reshape(b, t, h, chunks * dc)


def kv_quantize(x: np.ndarray, bits: int, axis: str, group: int,
                window: int) -> np.ndarray:
    """x [B, L, H, d] as read back from a KIVI cache: asymmetric `bits`-bit
    codes with fp16 scale and zero per group (keys: `axis="channel"`, groups
    of `group` tokens per channel, whole groups older than the window;
    values: `axis="token"`, groups of `group` channels per token, tokens
    older than the window); the rest unchanged."""
    x = np.asarray(x, dtype=np.float32)
    b, length, h, d = x.shape
    levels = np.float32(2 ** bits - 1)
    out = x.copy()
    old = max(length - window, 0)

    def quant(v, reduce_axis):
        mn = v.min(axis=reduce_axis, keepdims=True)
        mx = v.max(axis=reduce_axis, keepdims=True)
        lim = np.float32(65504.0)
        scale = np.clip((mx - mn) / levels, -lim, lim).astype(np.float16).astype(np.float32)
        zero = np.clip(mn, -lim, lim).astype(np.float16).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.floor((v - zero) / scale + np.float32(0.5))
        q = np.clip(q, 0, levels)
        q = np.where(scale == 0, np.float32(0), q)
        return (zero + q * scale).astype(np.float32)

    if axis == "channel":
        lq = old // group * group
        if lq:
            v = x[:, :lq].reshape(b, lq // group, group, h, d)
            out[:, :lq] = quant(v, 2).reshape(b, lq, h, d)
    elif axis == "token":
        if old:
            v = x[:, :old].reshape(b, old, h, d // group, group)
            out[:, :old] = quant(v, 4).reshape(b, old, h, d)
    else:
        raise ValueError(f"axis must be 'channel' or 'token', got {axis!r}")
    return out
