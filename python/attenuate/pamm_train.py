#!/usr/bin/python3
"""Training check for PAMM: exact vs PAMM-approximated Q/K/V weight gradients.

Trains the shipped bytellama architecture (models/bytellama/config.json) from
scratch on the same data, schedule and seeds as models/train_bytellama.py, once
per mode:
  * exact      torch autograd throughout;
  * 1/512 ...  the Q/K/V projections of every layer keep only PAMM's compressed
               input (generators C, assignment f, scale alpha from the runtime's
               attn_pamm_compress_f32) instead of X, and their weight gradients
               come from attn_pamm_grad_weight_f32 (both through ctypes on
               build/lib/libattn_runtime.so). dX = dQ·Wq + dK·Wk + dV·Wv stays
               exact, as in the paper.
Every mode starts from the same initial weights and sees the same batches.
Generators are resampled at every step (seed = base seed, step and layer).

Recorded per mode (JSON, --out): validation loss (nats/byte on fixed windows of
val.txt) every --eval-every steps, training loss every step, saved-activation
bytes of the Q/K/V inputs per layer, and at every evaluation the relative
error ‖dW_pamm − dW‖_F / ‖dW‖_F of the Q/K/V weight gradients of that step
(the exact dW is computed from a copy of X kept for that step only).

Progress goes to stderr (step i/N, s/step, tokens/s, time left).

Usage (repository root; 1 thread keeps runs deterministic and comparable):
  /usr/bin/python3 python/attenuate/pamm_train.py --steps 200 --modes exact,1/512
  /usr/bin/python3 python/attenuate/pamm_train.py --plot-only     # redraw the PNG
  /usr/bin/python3 python/attenuate/pamm_train.py --markdown      # tables for docs/results.md
The modes can also run as separate processes (one core each), each with its own
--out, then be merged into docs/pamm_training.json:
  pamm_train.py --modes exact --out /tmp/e.json ... & pamm_train.py --modes 1/512 --out /tmp/p.json ...
  pamm_train.py --merge /tmp/e.json --merge /tmp/p.json   # writes --out (default docs/pamm_training.json)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "models"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from attenuate import torch_llama  # noqa: E402
from attenuate.pamm_runtime import Runtime  # noqa: E402
from train_bytellama import DATA_DIR, load_corpus, lr_at  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_ratio(text: str) -> float:
    r = float(Fraction(text))
    if not 0 < r <= 1:
        raise argparse.ArgumentTypeError(f"ratio {text} must be in (0, 1]")
    return r


class PammQKV(torch.autograd.Function):
    """q, k, v = x·Wqᵀ, x·Wkᵀ, x·Wvᵀ, saving PAMM's (C, f, alpha) instead of x."""

    @staticmethod
    def forward(ctx, x, wq, wk, wv, state):
        rt, ratio, seed, stats = state["rt"], state["ratio"], state["seed"], state["stats"]
        q, k, v = F.linear(x, wq), F.linear(x, wk), F.linear(x, wv)
        xn = x.detach().contiguous().numpy()
        c, f, alpha = rt.compress(xn, ratio, seed)
        stats["saved_bytes"] = c.nbytes + f.nbytes + alpha.nbytes
        stats["dense_bytes"] = xn.nbytes
        stats["generators"] = c.shape[0]
        ctx.state = state
        # Only for the gradient-error measurement of this step; None otherwise.
        ctx.x_copy = xn.copy() if state.get("measure") else None
        ctx.save_for_backward(wq, wk, wv, torch.from_numpy(c), torch.from_numpy(f), torch.from_numpy(alpha))
        return q, k, v

    @staticmethod
    def backward(ctx, dq, dk, dv):
        wq, wk, wv, c, f, alpha = ctx.saved_tensors
        rt, stats = ctx.state["rt"], ctx.state["stats"]
        dx = dq @ wq + dk @ wk + dv @ wv
        cn, fn, an = c.numpy(), f.numpy(), alpha.numpy()
        grads = []
        errs = []
        for dz in (dq, dk, dv):
            dzn = dz.contiguous().numpy()
            g = rt.grad_weight(dzn, cn, fn, an)
            if ctx.x_copy is not None:
                exact = dzn.reshape(-1, dzn.shape[-1]).astype(np.float64).T @ ctx.x_copy.reshape(-1, cn.shape[1])
                errs.append(float(np.linalg.norm(g - exact) / max(np.linalg.norm(exact), 1e-30)))
            grads.append(torch.from_numpy(g))
        if errs:
            stats["grad_rel_err"] = errs
        ctx.x_copy = None
        return dx, grads[0], grads[1], grads[2], None


def pamm_attention_forward(attn, x, cos, sin, state):
    """torch_llama.Attention.forward (training: no cache) with q, k, v from
    PammQKV instead of the three nn.Linear calls."""
    B, S, _ = x.shape
    q, k, v = PammQKV.apply(x, attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight, state)
    q = q.view(B, S, attn.hq, attn.d).transpose(1, 2)
    k = k.view(B, S, attn.hkv, attn.d).transpose(1, 2)
    v = v.view(B, S, attn.hkv, attn.d).transpose(1, 2)
    rot = cos.shape[-1]
    q = torch.cat((q[..., :rot] * cos + torch_llama._rotate_half(q[..., :rot]) * sin, q[..., rot:]), dim=-1)
    k = torch.cat((k[..., :rot] * cos + torch_llama._rotate_half(k[..., :rot]) * sin, k[..., rot:]), dim=-1)
    rep = attn.hq // attn.hkv
    kr = k.repeat_interleave(rep, dim=1) if rep > 1 else k
    vr = v.repeat_interleave(rep, dim=1) if rep > 1 else v
    scores = (q @ kr.transpose(-1, -2)) / math.sqrt(attn.d)
    allowed = torch.arange(S)[None, :] <= torch.arange(S)[:, None]
    scores = scores.masked_fill(~allowed, float("-inf"))
    ctx = (torch.softmax(scores, dim=-1) @ vr).transpose(1, 2).reshape(B, S, attn.hq * attn.d)
    return attn.o_proj(ctx), (k, v)


def install_pamm(model, rt, ratio, base_seed):
    """Routes every layer's q/k/v projections through PammQKV; returns the
    per-layer state dicts the training loop updates (step seed, measuring)."""
    states = []
    n_layers = len(model.model.layers)
    for i, layer in enumerate(model.model.layers):
        attn = layer.self_attn
        state = {"rt": rt, "ratio": ratio, "seed": 0, "stats": {}, "measure": False,
                 "layer": i, "base": base_seed * 1_000_003, "layers": n_layers}
        states.append(state)

        def forward(x, cos, sin, past, attn=attn, state=state):
            if past is not None:
                raise NotImplementedError("PAMM training graphs have no KV cache")
            return pamm_attention_forward(attn, x, cos, sin, state)

        # An instance attribute shadows the class's forward for this module only.
        attn.forward = forward
    return states


@torch.no_grad()
def val_loss(model, windows):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), 16):
        w = windows[i:i + 16]
        logits, _ = model(w[:, :-1])
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1), reduction="sum")
        total += float(nll)
        count += w[:, 1:].numel()
    model.train()
    return total / count


def train(mode, args, cfg, train_t, val_windows, rt):
    torch_llama.set_threads(args.threads)
    rt.set_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    model = torch_llama.LlamaForCausalLM(cfg)
    model.init_weights(cfg.get("initializer_range", 0.02))
    states = None
    ratio = None
    if mode != "exact":
        ratio = parse_ratio(mode)
        states = install_pamm(model, rt, ratio, args.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and "embed_tokens" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim == 2 and "embed_tokens" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = max(1, args.steps // 20)
    ctx = args.context
    idx = torch.arange(ctx + 1)
    rec = {"mode": mode, "ratio": ratio, "steps": args.steps, "batch": args.batch, "context": ctx,
           "val": [], "train_loss": [], "grad_rel_err": [], "saved": None}
    t0 = time.time()
    model.train()
    for step in range(args.steps + 1):
        if step % args.eval_every == 0 or step == args.steps:
            vl = val_loss(model, val_windows)
            rec["val"].append({"step": step, "loss": vl})
            log(f"[{mode}] step {step}: val {vl:.4f} nats/byte ({vl / math.log(2):.3f} bpb), "
                f"{time.time() - t0:.0f}s")
        if step == args.steps:
            break
        measure = states is not None and step % args.eval_every == 0
        if states is not None:
            for s in states:
                s["seed"] = s["base"] + step * s["layers"] + s["layer"]
                s["measure"] = measure
        lr = lr_at(step, args.steps, args.lr, warmup, args.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.from_numpy(rng.randint(0, len(train_t) - ctx - 1, size=args.batch))
        w = train_t[starts[:, None] + idx]
        logits, _ = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        rec["train_loss"].append(float(loss))
        if states is not None:
            if measure:
                rec["grad_rel_err"].append({"step": step, "per_layer_qkv": [s["stats"].get("grad_rel_err") for s in states]})
            if rec["saved"] is None:
                st = states[0]["stats"]
                rec["saved"] = {"tokens": args.batch * ctx, "generators": st["generators"],
                                "bytes_per_layer": st["saved_bytes"], "dense_bytes_per_layer": st["dense_bytes"]}
        if step % 10 == 0 or step + 1 == args.steps:
            el = time.time() - t0
            per = el / (step + 1)
            log(f"[{mode}] step {step + 1}/{args.steps} loss {float(loss):.4f} lr {lr:.2e} "
                f"{per:.2f} s/step {args.batch * ctx / per:.0f} tokens/s "
                f"~{per * (args.steps - step - 1):.0f}s left")
    rec["wall_s"] = round(time.time() - t0, 1)
    rec["final_val"] = rec["val"][-1]["loss"]
    return rec


def plot(results, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for mode, rec in results["runs"].items():
        steps = [v["step"] for v in rec["val"]]
        bpb = [v["loss"] / math.log(2) for v in rec["val"]]
        label = "exact" if mode == "exact" else f"PAMM r={mode} (k={rec['saved']['generators']} of {rec['saved']['tokens']})"
        ax.plot(steps, bpb, marker="o", ms=3, label=f"{label}: final {bpb[-1]:.3f}")
    st = results.get("settings", {})
    ax.set_xlabel(f"training step (batch {st.get('batch', '?')} x {st.get('context', '?')} bytes, seed {st.get('seed', '?')})")
    ax.set_ylabel("validation loss (bits/byte)")
    ax.set_title("bytellama from scratch: exact vs PAMM Q/K/V weight gradients")
    ax.grid(alpha=0.3)
    ax.legend()
    lo = min(v["loss"] for r in results["runs"].values() for v in r["val"][1:]) / math.log(2)
    ax.set_ylim(lo - 0.1, lo + 2.5)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    log(f"wrote {png}")


def markdown(results):
    """The tables docs/results.md quotes, from the JSON."""
    runs = results["runs"]
    modes = list(runs)
    ln2 = math.log(2)
    lines = ["| step | " + " | ".join(f"{m} (bpb)" for m in modes) + " |",
             "|---|" + "---|" * len(modes)]
    steps = [v["step"] for v in runs[modes[0]]["val"]]
    for i, st in enumerate(steps):
        cells = []
        for m in modes:
            v = runs[m]["val"]
            cells.append(f"{v[i]['loss'] / ln2:.4f}" if i < len(v) else "")
        lines.append(f"| {st} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| run | k per layer | saved per layer (B) | uncompressed (B) | reduction | generators only "
                 "| final val (bpb) | Δ vs exact | mean rel. error of dW_q/k/v | wall (s) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    exact = runs.get("exact")
    for m in modes:
        rec = runs[m]
        fin = rec["final_val"] / ln2
        delta = "" if exact is None or m == "exact" else f"{fin - exact['final_val'] / ln2:+.4f}"
        if rec.get("saved"):
            sv = rec["saved"]
            gen_bytes = sv["generators"] * sv["dense_bytes_per_layer"] // sv["tokens"]
            errs = [e for g in rec["grad_rel_err"] for layer in g["per_layer_qkv"] for e in (layer or [])]
            lines.append(f"| PAMM r={m} | {sv['generators']} of {sv['tokens']} | {sv['bytes_per_layer']} "
                         f"| {sv['dense_bytes_per_layer']} | {sv['dense_bytes_per_layer'] / sv['bytes_per_layer']:.1f}x "
                         f"| {sv['dense_bytes_per_layer'] / gen_bytes:.0f}x | {fin:.4f} | {delta} "
                         f"| {np.mean(errs):.3f} (min {np.min(errs):.3f}, max {np.max(errs):.3f}) | {rec['wall_s']:.0f} |")
        else:
            st = results["settings"]
            with open(os.path.join(ROOT, st["config"])) as f:
                hidden = json.load(f)["hidden_size"]
            dense = st["batch"] * st["context"] * 4 * hidden
            lines.append(f"| exact | — | {dense} | {dense} | 1x | — | {fin:.4f} | | 0 | {rec['wall_s']:.0f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=os.path.join(ROOT, "models", "bytellama", "config.json"))
    ap.add_argument("--val-text", default=os.path.join(ROOT, "models", "bytellama", "val.txt"))
    ap.add_argument("--data-dir", default=DATA_DIR)
    ap.add_argument("--modes", default="exact,1/512",
                    help="comma-separated: exact and/or PAMM ratios (1/512, 0.01, ...)")
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--val-windows", type=int, default=64,
                    help="validation windows of context+1 bytes, evenly spaced over val.txt")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "pamm_training.json"))
    ap.add_argument("--png", default=os.path.join(ROOT, "docs", "pamm_training.png"))
    ap.add_argument("--plot-only", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="print the result tables and exit")
    ap.add_argument("--merge", action="append", default=[],
                    help="add the runs of another JSON written by this script, then exit")
    ap.add_argument("--runtime", default=None, help="path of libattn_runtime.so")
    args = ap.parse_args()

    results = {"runs": {}}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    if args.merge:
        for path in args.merge:
            with open(path) as f:
                other = json.load(f)
            results["runs"].update(other["runs"])
            results.setdefault("settings", other.get("settings"))
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
        return
    if args.markdown:
        print(markdown(results))
        return
    if args.plot_only:
        plot(results, args.png)
        return

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m != "exact":
            parse_ratio(m)
    with open(args.config) as f:
        cfg = json.load(f)
    train_bytes, _, manifest = load_corpus(args.data_dir, 20, 200_000)
    train_t = torch.from_numpy(np.frombuffer(train_bytes, dtype=np.uint8).astype(np.int64))
    with open(args.val_text, "rb") as f:
        val = f.read()
    starts = np.linspace(0, len(val) - args.context - 1, args.val_windows).astype(np.int64)
    val_t = torch.from_numpy(np.frombuffer(val, dtype=np.uint8).astype(np.int64))
    val_windows = val_t[torch.from_numpy(starts)[:, None] + torch.arange(args.context + 1)]
    rt = Runtime(args.runtime)
    results["settings"] = {
        "config": os.path.relpath(args.config, ROOT), "steps": args.steps, "batch": args.batch,
        "context": args.context, "lr": args.lr, "min_lr_ratio": args.min_lr_ratio,
        "warmup": max(1, args.steps // 20), "weight_decay": args.weight_decay, "clip": args.clip,
        "seed": args.seed, "threads": args.threads, "eval_every": args.eval_every,
        "val_windows": args.val_windows, "val_text": os.path.relpath(args.val_text, ROOT),
        "train_bytes": manifest["train_bytes"], "torch": torch.__version__}
    for m in modes:
        rec = train(m, args, cfg, train_t, val_windows, rt)
        results["runs"][m] = rec
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
        log(f"[{m}] final val {rec['final_val']:.4f} nats/byte; {rec['wall_s']}s")
    plot(results, args.png)


if __name__ == "__main__":
    main()
