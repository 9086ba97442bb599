"""Distil the MLA layers of an `attn-mla-upcycle`d model against the original.

    python3 -m attenuate.distill_mla MLA.mlir --model HF_DIR --steps N \\
        -o DISTILLED.safetensors [--text FILE | --data-dir DIR] [options]
    python3 -m attenuate.distill_mla MLA.mlir --model HF_DIR \\
        --logits-for INPUTS.safetensors --logits-out OUT.safetensors \\
        [--mla-params DISTILLED.safetensors]

The X-EcoMLA initialisation is not function-preserving when RoPE is moved,
so its quality comes back by distillation: the MLA parameters are trained so
that the rewritten model's next-byte distribution matches the original's
(KL(p_original || p_mla), per token, averaged), on windows of training text.

What is trained is exactly what the pass created: the tensors named in the
`attn.mla` record of each rewritten attention op (q / q_a / q_bias, latent /
latent_bias, and o for the absorbed form or k_up / v_up for the explicit
one), read from the module's `attn.params` archives. Everything else (the
embeddings, norms, MLPs, LM head and the layers left dense) keeps the
original checkpoint's weights, frozen. The torch model follows the IR the
pass emits op by op (the latent projection, RoPE on the leading d_r
channels with the kept frequencies, one latent KV head, the values as the
latent's last r channels, the explicit scale), so the written tensors are
evaluated through the compiled model with the original archives:

    attn-eval MLA.mlir --text val.txt \\
        --attn-params=DISTILLED.safetensors,HF_DIR/model.safetensors

DISTILLED holds every MLA tensor under its original name (and dtype), so it
replaces the archive attn-opt --attn-params-out wrote. `--logits-for`
computes the logits of the torch model for an attn-run input file (tokens,
positions; caches ignored) instead of training, to check the torch model
against the compiled one.

Training data: by default the training split of the shipped model's corpus
(the Python 3.11 documentation sources of Debian's python3.11-doc, split as
models/train_bytellama.py does; see models/README.md); `--text FILE` trains
on one file instead. Windows of `--context` bytes at uniformly random
offsets, `--batch` per step, seeded. AdamW on the MLA tensors only, linear
warm-up then cosine decay to 10% of `--lr`, gradient clipping at 1.0.
Progress goes to stderr. Use Debian's /usr/bin/python3 (torch 1.13) and
`--threads 1` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import safetensors_io
from .torch_llama import LlamaForCausalLM, load_pretrained, set_threads

DATA_DIR = "/usr/share/doc/python3.11/html/_sources"

# Record keys that name trainable tensors.
TENSOR_KEYS = ("q", "q_a", "q_bias", "latent", "latent_bias", "o", "k_up", "v_up")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


#
# The rewritten module
#

def _parse_value(v: str):
    v = v.strip()
    if v.startswith('"'):
        return v[1:-1]
    if v.startswith("array<i64"):
        inner = v[len("array<i64"):-1].lstrip(":").strip()
        return [int(x) for x in inner.split(",")] if inner else []
    num = v.split(":")[0].strip()
    try:
        return int(num)
    except ValueError:
        return float(num)


def parse_module(path: str):
    """(archives, records, params): the module's `attn.params` (absolute
    paths), {layer: attn.mla record (+ "scale")}, and every attn.param name."""
    text = open(path).read()
    m = re.search(r"attn\.params = \[([^\]]*)\]", text)
    if not m:
        raise SystemExit(f"{path}: the module has no attn.params list")
    base = os.path.dirname(os.path.abspath(path))
    archives = [os.path.normpath(os.path.join(base, p))
                for p in re.findall(r'"([^"]*)"', m.group(1))]
    records: Dict[int, dict] = {}
    for line in text.splitlines():
        r = re.search(r"attn\.mla = \{([^{}]*)\}", line)
        if not r:
            continue
        rec = {k: _parse_value(v) for k, v in re.findall(
            r'(\w+) = ("[^"]*"|array<i64(?::[^>]*)?>|[^,]+)', r.group(1))}
        layer = re.search(r"attn\.layer = (\d+)", line)
        scale = re.search(r"scale = ([-0-9.e+]+) : f64", line)
        if not layer or not scale:
            raise SystemExit(f"{path}: an attn.mla attention has no attn.layer "
                             "or scale")
        rec["scale"] = float(scale.group(1))
        records[int(layer.group(1))] = rec
    if not records:
        raise SystemExit(f"{path}: no attention op carries an attn.mla record "
                         "(run attn-opt --attn-mla-upcycle first)")
    params = set(re.findall(r'attn\.param "([^"]*)"', text))
    return archives, records, params


def load_named(archives: List[str], names, override: Optional[str] = None):
    """{name: (array as float32, safetensors dtype)} from `override` if given,
    else the first archive holding each name."""
    sources = [override] if override else [a for a in archives
                                           if a.endswith(".safetensors")]
    out = {}
    for src in sources:
        _, header = safetensors_io.read_header(src)
        want = [n for n in names if n in header and n not in out]
        if want:
            arrays = safetensors_io.load_file(src, want)
            for n in want:
                out[n] = (np.array(arrays[n], dtype=np.float32),
                          header[n]["dtype"])
    missing = [n for n in names if n not in out]
    if missing:
        raise SystemExit("MLA tensors not found in " + ", ".join(sources) +
                         ": " + ", ".join(missing))
    return out


def save_tensors(tensors: Dict[str, np.ndarray], dtypes: Dict[str, str],
                 path: str) -> None:
    """Writes float tensors in the given safetensors dtypes (F32, F64, F16 or
    BF16; safetensors_io has no bfloat16 writer, so this writes its own
    header, padded with spaces to 8 bytes like the C++ writer)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        dt = dtypes[name]
        if dt == "F32":
            raw = a.astype("<f4").tobytes()
        elif dt == "F64":
            raw = a.astype("<f8").tobytes()
        elif dt == "F16":
            raw = a.astype("<f2").tobytes()
        elif dt == "BF16":
            bits = a.view("<u4").astype(np.uint64)
            raw = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(
                "<u2").tobytes()
        else:
            raise SystemExit(f"tensor {name}: cannot write dtype {dt}")
        header[name] = {"dtype": dt, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


#
# The MLA model
#

def rope_leading(x: torch.Tensor, positions: torch.Tensor, rec: dict) -> torch.Tensor:
    """attn.rope on the first rope_dim channels of x [B, S, H, D]: pair t
    turns at theta^(-2 f_t / base_dim), f_t = rope_frequencies[t]."""
    dr = rec["rope_dim"]
    if dr == 0:
        return x
    m = dr // 2
    f = torch.tensor(rec["rope_frequencies"], dtype=torch.float64)
    inv = float(rec["rope_theta"]) ** (-2.0 * f / float(rec["rope_base_dim"]))
    ang = positions.to(torch.float64)[..., None] * inv  # [B, S, m]
    cos = ang.cos().to(x.dtype)[:, :, None, :]
    sin = ang.sin().to(x.dtype)[:, :, None, :]
    if rec["rope_pairing"] == "interleaved":
        a, b = x[..., 0:dr:2], x[..., 1:dr:2]
        rot = torch.stack((a * cos - b * sin, b * cos + a * sin), dim=-1)
        rot = rot.flatten(-2)
    else:
        a, b = x[..., :m], x[..., m:dr]
        rot = torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)
    return torch.cat((rot, x[..., dr:]), dim=-1)


def causal_softmax(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over keys with the bottom-right aligned causal mask."""
    S, T = scores.shape[-2], scores.shape[-1]
    allowed = (torch.arange(T)[None, :] <= (T - S + torch.arange(S))[:, None])
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)


class MlaAttention(nn.Module):
    """One rewritten layer, as attn-mla-upcycle's IR computes it."""

    def __init__(self, rec: dict, cfg: dict, tensors: Dict[str, np.ndarray],
                 o_weight: Optional[torch.Tensor], o_bias: Optional[torch.Tensor]):
        super().__init__()
        self.rec = rec
        self.hq = int(cfg["num_attention_heads"])
        self.hkv = int(cfg.get("num_key_value_heads") or self.hq)
        self.dr, self.r = int(rec["rope_dim"]), int(rec["kv_rank"])
        self.absorbed = rec["form"] == "absorbed"
        self.scale = float(rec["scale"])
        # Trainable: exactly the record's tensors, under their names.
        self.names = {k: rec[k] for k in TENSOR_KEYS if k in rec}
        self.w = nn.ParameterDict({
            k: nn.Parameter(torch.from_numpy(tensors[n].copy()))
            for k, n in self.names.items()})
        # The dense o_proj stays (frozen) in the explicit form; its bias in both.
        self.register_buffer("o_dense", o_weight if not self.absorbed else None)
        self.register_buffer("o_bias", o_bias)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        B, S, _ = x.shape
        w = self.w
        qx = F.linear(x, w["q_a"]) if "q_a" in w else x
        q = F.linear(qx, w["q"], w["q_bias"] if "q_bias" in w else None)
        q = rope_leading(q.view(B, S, self.hq, -1), positions, self.rec)
        lat = F.linear(x, w["latent"], w["latent_bias"] if "latent_bias" in w else None)
        lat = rope_leading(lat.view(B, S, 1, self.dr + self.r), positions, self.rec)[:, :, 0]
        if self.absorbed:
            scores = torch.einsum("bshd,btd->bhst", q, lat) * self.scale
            probs = causal_softmax(scores)
            o = torch.einsum("bhst,btd->bshd", probs, lat[..., self.dr:])
            return F.linear(o.reshape(B, S, -1), w["o"], self.o_bias)
        k = F.linear(lat, w["k_up"]).view(B, S, self.hkv, -1)
        v = F.linear(lat, w["v_up"]).view(B, S, self.hkv, -1)
        rep = self.hq // self.hkv
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        probs = causal_softmax(torch.einsum("bshd,bthd->bhst", q, k) * self.scale)
        o = torch.einsum("bhst,bthd->bshd", probs, v)
        return F.linear(o.reshape(B, S, -1), self.o_dense, self.o_bias)


def dense_attention(attn, x, cos, sin, qk=None):
    """torch_llama's Attention without a cache, returning its RoPE'd (q, k)
    so that a shared layer can use its source's: given `qk`, they replace
    the layer's own (whose q_proj/k_proj the module no longer reads)."""
    B, S, _ = x.shape
    if qk is None:
        q = attn.q_proj(x).view(B, S, attn.hq, attn.d).transpose(1, 2)
        k = attn.k_proj(x).view(B, S, attn.hkv, attn.d).transpose(1, 2)
        rot = cos.shape[-1]

        def rope(t):
            h = rot // 2
            r = t[..., :rot]
            turned = torch.cat((-r[..., h:], r[..., :h]), dim=-1)
            return torch.cat((r * cos + turned * sin, t[..., rot:]), dim=-1)
        q, k = rope(q), rope(k)
    else:
        q, k = qk
    v = attn.v_proj(x).view(B, S, attn.hkv, attn.d).transpose(1, 2)
    rep = attn.hq // attn.hkv
    kr = k.repeat_interleave(rep, dim=1) if rep > 1 else k
    vr = v.repeat_interleave(rep, dim=1) if rep > 1 else v
    probs = causal_softmax((q @ kr.transpose(-1, -2)) / math.sqrt(attn.d))
    ctx = (probs @ vr).transpose(1, 2).reshape(B, S, attn.hq * attn.d)
    return attn.o_proj(ctx), (q, k)


class MlaModel(nn.Module):
    """The original Llama with the rewritten layers' attention replaced."""

    def __init__(self, base: LlamaForCausalLM, records: Dict[int, dict],
                 tensors: Dict[str, np.ndarray], shared: Optional[Dict[int, int]] = None):
        super().__init__()
        self.base = base
        # attn-share-attention: layer -> the source layer whose (RoPE'd) q
        # and k it uses; its own v_proj and o_proj stay.
        self.shared = dict(shared or {})
        for p in base.parameters():
            p.requires_grad_(False)
        cfg = base.config
        mods = {}
        for layer, rec in records.items():
            attn = base.model.layers[layer].self_attn
            ob = attn.o_proj.bias.detach().clone() if attn.o_proj.bias is not None else None
            mods[str(layer)] = MlaAttention(rec, cfg, tensors,
                                            attn.o_proj.weight.detach().clone(), ob)
        self.mla = nn.ModuleDict(mods)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        base = self.base
        h = base.model.embed_tokens(tokens)
        cos, sin = base.rope(positions, h.dtype)
        sources = set(self.shared.values())
        qk = {}
        for i, layer in enumerate(base.model.layers):
            x = layer.input_layernorm(h)
            if str(i) in self.mla:
                a = self.mla[str(i)](x, positions)
            elif i in self.shared or i in sources:
                a, qk[i] = dense_attention(layer.self_attn, x, cos, sin,
                                           qk.get(self.shared.get(i, -1)))
            else:
                a, _ = layer.self_attn(x, cos, sin, None)
            h = h + a
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        h = base.model.norm(h)
        wout = base.model.embed_tokens.weight if base.tied else base.lm_head.weight
        return F.linear(h, wout)

    def trained(self) -> Dict[str, np.ndarray]:
        return {m.names[k]: p.detach().numpy().copy()
                for m in self.mla.values() for k, p in m.w.items()}


#
# Data
#

def training_bytes(args) -> bytes:
    if args.text:
        return open(args.text, "rb").read()
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "models"))
    try:
        from train_bytellama import load_corpus  # noqa: E402
    except ImportError as e:
        raise SystemExit(f"cannot import models/train_bytellama.py: {e}; "
                         "give --text FILE")
    train, _, manifest = load_corpus(args.data_dir, 20, 200_000)
    log(f"data: {manifest['train_files']} training files of {args.data_dir}, "
        f"{len(train)} bytes")
    return train


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", help="the module attn-mla-upcycle wrote")
    ap.add_argument("--model", required=True, help="the original HF checkpoint dir")
    ap.add_argument("-o", "--out", help="where to write the distilled MLA tensors")
    ap.add_argument("--mla-params", help="start from these MLA tensors instead of "
                    "the module's archives (e.g. an earlier distillation)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=None, help="default: 5%% of steps")
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--text", help="train on this file instead of the corpus")
    ap.add_argument("--data-dir", default=DATA_DIR)
    ap.add_argument("--log-every", type=float, default=5.0, help="seconds")
    ap.add_argument("--json", help="also write the run's summary here")
    ap.add_argument("--logits-for", help="attn-run inputs: compute logits, no training")
    ap.add_argument("--logits-out")
    args = ap.parse_args(argv)

    set_threads(args.threads)
    torch.manual_seed(args.seed)
    archives, records, params = parse_module(args.module)
    teacher = load_pretrained(args.model)
    cfg = teacher.config
    names = sorted({rec[k] for rec in records.values() for k in TENSOR_KEYS if k in rec})
    loaded = load_named(archives, names, args.mla_params)
    tensors = {n: a for n, (a, _) in loaded.items()}
    dtypes = {n: d for n, (_, d) in loaded.items()}

    # The student must be the module: every param it reads is an MLA tensor
    # or an original weight, and the dense layers still have theirs (a layer
    # another rewrite changed, e.g. shared attention, would not be).
    _, ckpt_header = safetensors_io.read_header(
        os.path.join(args.model, "model.safetensors")) if os.path.exists(
        os.path.join(args.model, "model.safetensors")) else ({}, None)
    if ckpt_header is not None:
        foreign = sorted(p for p in params if p not in ckpt_header and p not in names)
        if foreign:
            raise SystemExit("the module uses tensors neither in the checkpoint nor "
                             "MLA records (another rewrite?): " + ", ".join(foreign[:5]))
    # A dense layer that reads neither its q_proj nor its k_proj is one
    # attn-share-attention tied to the layer before its span (the nearest
    # earlier layer that still reads its own).
    shared: Dict[int, int] = {}
    for i in range(int(cfg["num_hidden_layers"])):
        if i in records:
            continue
        has = {p: f"model.layers.{i}.self_attn.{p}.weight" in params
               for p in ("q_proj", "k_proj", "v_proj", "o_proj")}
        if not has["q_proj"] and not has["k_proj"] and has["v_proj"] and has["o_proj"]:
            src = max((j for j in range(i) if j not in records and j not in shared),
                      default=None)
            if src is None:
                raise SystemExit(f"layer {i} reads no q_proj/k_proj and no earlier "
                                 "dense layer can be its shared-attention source")
            shared[i] = src
            continue
        for p, ok in has.items():
            if not ok:
                raise SystemExit(f"dense layer {i} does not read "
                                 f"model.layers.{i}.self_attn.{p}.weight: the module "
                                 "has rewrites this script does not model")
    if shared:
        log("distill_mla: shared attention " +
            ", ".join(f"{i}<-{j}" for i, j in sorted(shared.items())))

    student = MlaModel(load_pretrained(args.model), records, tensors, shared)
    for p in teacher.parameters():
        p.requires_grad_(False)
    n_train = sum(p.numel() for p in student.parameters() if p.requires_grad)
    log(f"distill_mla: layers {sorted(records)} ({records[min(records)]['form']}, "
        f"kv-rank {sorted({r['kv_rank'] for r in records.values()})}, rope-dim "
        f"{records[min(records)]['rope_dim']}), {n_train} trainable parameters")

    if args.logits_for:
        arrays = safetensors_io.load_file(args.logits_for)
        keys = sorted(arrays)
        tok = torch.from_numpy(np.array(arrays[keys[0]], dtype=np.int64))
        pos = torch.from_numpy(np.array(arrays[keys[1]], dtype=np.int64))
        with torch.no_grad():
            logits = student(tok, pos).numpy()
        safetensors_io.save_file({"result0": logits}, args.logits_out or "logits.safetensors")
        return 0
    if not args.out:
        raise SystemExit("give -o/--out for the distilled tensors")

    data = np.frombuffer(training_bytes(args), dtype=np.uint8).astype(np.int64)
    ctx = args.context
    if len(data) <= ctx + 1:
        raise SystemExit(f"the training text has {len(data)} bytes; need more than "
                         f"--context + 1 = {ctx + 1}")
    vocab = int(cfg["vocab_size"])
    if int(data.max()) >= vocab:
        raise SystemExit(f"the training text has byte {int(data.max())} but the model's "
                         f"vocabulary has {vocab} tokens (the script trains byte-level "
                         "models)")
    data_t = torch.from_numpy(data)
    rng = np.random.RandomState(args.seed)
    idx = torch.arange(ctx)
    pos = torch.arange(ctx).expand(args.batch, ctx)

    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    warmup = args.warmup if args.warmup is not None else max(1, args.steps // 20)
    student.train()
    t0 = last = time.time()
    history = []
    ema = None
    for step in range(args.steps):
        lr = lr_at(step, args.steps, args.lr, warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.from_numpy(rng.randint(0, len(data) - ctx, size=args.batch))
        x = data_t[starts[:, None] + idx]
        with torch.no_grad():
            t_logp = F.log_softmax(teacher(x)[0], dim=-1)
        s_logp = F.log_softmax(student(x, pos), dim=-1)
        # KL(p_teacher || p_student), summed over the vocabulary, mean over tokens.
        loss = (t_logp.exp() * (t_logp - s_logp)).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for p in student.parameters() if p.requires_grad], args.clip)
        opt.step()
        li = loss.item()
        ema = li if ema is None else 0.9 * ema + 0.1 * li
        now = time.time()
        if step % 10 == 0 or step == args.steps - 1:
            history.append({"step": step + 1, "kl": round(li, 5), "lr": lr})
        if now - last >= args.log_every or step == args.steps - 1 or step == 0:
            last = now
            el = now - t0
            left = el / (step + 1) * (args.steps - step - 1)
            log(f"step {step + 1}/{args.steps} KL {li:.4f} nats/byte (ema {ema:.4f}) "
                f"lr {lr:.2e} elapsed {el / 60:.1f}m left {left / 60:.1f}m")
    save_tensors(student.trained(), dtypes, args.out)
    log(f"distill_mla: wrote {len(names)} tensors to {args.out} "
        f"({time.time() - t0:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"module": args.module, "steps": args.steps, "batch": args.batch,
                       "context": ctx, "lr": args.lr, "seed": args.seed,
                       "threads": args.threads, "text": args.text or args.data_dir,
                       "final_kl_ema": ema, "seconds": time.time() - t0,
                       "history": history}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
