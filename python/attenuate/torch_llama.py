"""A small Llama-family model in torch, with Hugging Face parameter names, so its
state_dict saves as a checkpoint that HF LlamaForCausalLM (and attn-import) load.

Used to train the shipped byte-level model (models/train_bytellama.py) and as the
torch side of the numpy-reference tests. Written against torch 1.13 (no
scaled_dot_product_attention), so attention is spelled out.
"""

from __future__ import annotations

import json
import math
import os
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LlamaForCausalLM", "load_pretrained", "save_pretrained", "set_threads"]

Past = List[Tuple[torch.Tensor, torch.Tensor]]


def set_threads(n: int) -> None:
    """Limits torch's intra-op threads and OpenBLAS's threads to n.

    Debian's torch uses the system BLAS (OpenBLAS) for matmuls, and
    torch.set_num_threads does not reach it: without this, a "1-thread" run still
    spreads every matmul over all cores.
    """
    import ctypes

    torch.set_num_threads(n)
    for lib in ("libopenblas.so.0", "libopenblas.so"):
        try:
            ctypes.CDLL(lib).openblas_set_num_threads(int(n))
            return
        except (OSError, AttributeError):
            continue


def _head_dim(cfg: dict) -> int:
    hd = cfg.get("head_dim")
    return int(hd) if hd else cfg["hidden_size"] // cfg["num_attention_heads"]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        # HF normalises in at least fp32 even for half-precision activations.
        dt = x.dtype
        xf = x if dt == torch.float64 else x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(dt)


def _rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.hq = cfg["num_attention_heads"]
        self.hkv = cfg.get("num_key_value_heads") or self.hq
        self.d = _head_dim(cfg)
        hidden = cfg["hidden_size"]
        # Llama's attention_bias covers all four projections; Qwen2 biases q/k/v only.
        if cfg.get("model_type") == "qwen2":
            qkv_bias, o_bias = True, False
        else:
            qkv_bias = o_bias = bool(cfg.get("attention_bias", False))
        self.q_proj = nn.Linear(hidden, self.hq * self.d, bias=qkv_bias)
        self.k_proj = nn.Linear(hidden, self.hkv * self.d, bias=qkv_bias)
        self.v_proj = nn.Linear(hidden, self.hkv * self.d, bias=qkv_bias)
        self.o_proj = nn.Linear(self.hq * self.d, hidden, bias=o_bias)

    def forward(self, x, cos, sin, past: Optional[Tuple[torch.Tensor, torch.Tensor]]):
        B, S, _ = x.shape
        q = self.q_proj(x).view(B, S, self.hq, self.d).transpose(1, 2)
        k = self.k_proj(x).view(B, S, self.hkv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(B, S, self.hkv, self.d).transpose(1, 2)
        rot = cos.shape[-1]
        q = torch.cat((q[..., :rot] * cos + _rotate_half(q[..., :rot]) * sin, q[..., rot:]), dim=-1)
        k = torch.cat((k[..., :rot] * cos + _rotate_half(k[..., :rot]) * sin, k[..., rot:]), dim=-1)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        T = k.shape[2]
        T0 = T - S
        rep = self.hq // self.hkv
        kr = k.repeat_interleave(rep, dim=1) if rep > 1 else k
        vr = v.repeat_interleave(rep, dim=1) if rep > 1 else v
        scores = (q @ kr.transpose(-1, -2)) / math.sqrt(self.d)
        # Bottom-right aligned causal mask, so decode (S=1 against T cached) works.
        allowed = torch.arange(T, device=x.device)[None, :] <= (T0 + torch.arange(S, device=x.device))[:, None]
        scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        ctx = (probs @ vr).transpose(1, 2).reshape(B, S, self.hq * self.d)
        return self.o_proj(ctx), (k, v)


class MLP(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        bias = bool(cfg.get("mlp_bias", False))
        self.gate_proj = nn.Linear(h, i, bias=bias)
        self.up_proj = nn.Linear(h, i, bias=bias)
        self.down_proj = nn.Linear(i, h, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        eps = cfg.get("rms_norm_eps", 1e-6)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.mlp = MLP(cfg)

    def forward(self, h, cos, sin, past):
        a, kv = self.self_attn(self.input_layernorm(h), cos, sin, past)
        h = h + a
        h = h + self.mlp(self.post_attention_layernorm(h))
        return h, kv


class LlamaModel(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(cfg["hidden_size"], cfg.get("rms_norm_eps", 1e-6))


class LlamaForCausalLM(nn.Module):
    """forward(tokens [B,S], positions=None, past=None) -> (logits [B,S,V], new_past)."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.config = dict(cfg)
        rs = cfg.get("rope_scaling")
        if rs and rs.get("rope_type", rs.get("type")) not in (None, "default"):
            raise NotImplementedError(f"rope_scaling {rs!r}")
        self.model = LlamaModel(cfg)
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        rot = int(_head_dim(cfg) * float(cfg.get("partial_rotary_factor", 1.0)))
        theta = float(cfg.get("rope_theta", 10000.0))
        inv = 1.0 / theta ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot)
        # A plain attribute, not a buffer: model.to(float32) would round a buffer, and
        # the table is derived from the config anyway.
        self.inv_freq = inv

    def init_weights(self, std: float = 0.02):
        n_layers = len(self.model.layers)
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                nn.init.ones_(p)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                # GPT-2 style: residual-branch outputs scaled by 1/sqrt(2L) so the
                # residual stream's variance does not grow with depth at init.
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * n_layers))
            else:
                nn.init.normal_(p, 0.0, std)

    def rope(self, positions: torch.Tensor, dtype):
        ang = positions.to(torch.float64)[..., None] * self.inv_freq.to(positions.device)
        ang = torch.cat((ang, ang), dim=-1)[:, None]  # [B, 1, S, rot]
        return ang.cos().to(dtype), ang.sin().to(dtype)

    def forward(self, tokens: torch.Tensor, positions: Optional[torch.Tensor] = None, past: Optional[Past] = None):
        B, S = tokens.shape
        T0 = 0 if past is None else past[0][0].shape[2]
        if positions is None:
            positions = torch.arange(T0, T0 + S, device=tokens.device).expand(B, S)
        h = self.model.embed_tokens(tokens)
        cos, sin = self.rope(positions, h.dtype)
        new_past: Past = []
        for i, layer in enumerate(self.model.layers):
            h, kv = layer(h, cos, sin, None if past is None else past[i])
            new_past.append(kv)
        h = self.model.norm(h)
        w = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return F.linear(h, w), new_past


def load_pretrained(directory: str, dtype=torch.float32) -> LlamaForCausalLM:
    """Builds the model from a HF checkpoint directory (config.json + model.safetensors)."""
    import numpy as np

    from .reference import load_hf

    cfg, params = load_hf(directory)
    model = LlamaForCausalLM(cfg)
    state = {k: torch.from_numpy(np.array(v)) for k, v in params.items()}
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()


def save_pretrained(model: LlamaForCausalLM, directory: str, config: dict) -> None:
    from . import safetensors_io

    os.makedirs(directory, exist_ok=True)
    tensors = {k: v.detach().to(torch.float32).contiguous().numpy() for k, v in model.state_dict().items()}
    safetensors_io.save_file(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
