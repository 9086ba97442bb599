#!/usr/bin/python3
"""Trains bytellama: the small byte-level Llama the project ships for tests and demos.

Data: the reStructuredText sources of the Python 3.11 documentation from Debian's
python3.11-doc package (/usr/share/doc/python3.11/html/_sources/**/*.rst.txt),
sorted by relative path. Every 20th file (index % 20 == 19 in that order) is held
out for validation; the rest, concatenated in order, is the training stream.
val.txt is the held-out files concatenated in order, whole files only, stopped
before the one that would take it past --val-cap bytes.

Everything is seeded (torch init, batch sampling), so a rerun with the same
arguments and thread count reproduces the checkpoint.

Usage (from the repository root):
  /usr/bin/python3 models/train_bytellama.py --time-steps 5 --threads 1   # step time
  /usr/bin/python3 models/train_bytellama.py --steps N --threads 1        # train + eval
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from attenuate.torch_llama import LlamaForCausalLM, save_pretrained, set_threads  # noqa: E402
from eval_torch import evaluate_bpb  # noqa: E402

DATA_DIR = "/usr/share/doc/python3.11/html/_sources"

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 256,
    "hidden_size": 192,
    "intermediate_size": 512,
    "num_hidden_layers": 8,
    "num_attention_heads": 6,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "max_position_embeddings": 256,
    "tie_word_embeddings": False,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "initializer_range": 0.02,
    "torch_dtype": "float32",
    "bos_token_id": None,
    "eos_token_id": None,
    "pad_token_id": None,
    "use_cache": True,
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_corpus(data_dir, val_every, val_cap):
    files = []
    for root, _, names in os.walk(data_dir):
        for n in names:
            if n.endswith(".rst.txt"):
                files.append(os.path.relpath(os.path.join(root, n), data_dir))
    files.sort()
    if not files:
        raise SystemExit(f"no *.rst.txt under {data_dir}: is python3.11-doc installed?")
    train, val_files = [], []
    for i, rel in enumerate(files):
        (val_files if i % val_every == val_every - 1 else train).append(rel)

    def read(rel):
        with open(os.path.join(data_dir, rel), "rb") as f:
            return f.read()

    train_bytes = b"".join(read(r) for r in train)
    val_parts, val_used = [], []
    size = 0
    for rel in val_files:
        b = read(rel)
        if size + len(b) > val_cap:
            break
        val_parts.append(b)
        val_used.append(rel)
        size += len(b)
    manifest = {
        "data_dir": data_dir,
        "package": "python3.11-doc",
        "files_total": len(files),
        "split": f"sorted by relative path; file index % {val_every} == {val_every - 1} is validation",
        "train_files": len(train),
        "train_bytes": len(train_bytes),
        "val_files_held_out": val_files,
        "val_files_in_val_txt": val_used,
        "val_cap_bytes": val_cap,
        "val_bytes": size,
    }
    return train_bytes, b"".join(val_parts), manifest


def lr_at(step, steps, peak, warmup, min_ratio):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=DATA_DIR)
    ap.add_argument("--out", default=os.path.join(HERE, "bytellama"))
    ap.add_argument("--steps", type=int, default=650)
    ap.add_argument("--time-steps", type=int, default=0,
                    help="only time this many steps (after one warm-up step) and exit")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=None, help="default: 5%% of steps")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-every", type=int, default=20)
    ap.add_argument("--val-cap", type=int, default=200_000)
    ap.add_argument("--eval-stride", type=int, default=128)
    args = ap.parse_args()

    set_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    train, val, manifest = load_corpus(args.data_dir, args.val_every, args.val_cap)
    log(f"data: {manifest['train_files']} train files, {len(train)} bytes; "
        f"val.txt {len(manifest['val_files_in_val_txt'])} files, {len(val)} bytes")
    train_t = torch.from_numpy(np.frombuffer(train, dtype=np.uint8).astype(np.int64))

    model = LlamaForCausalLM(CONFIG)
    model.init_weights(CONFIG["initializer_range"])
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters")

    # Decay only the matrices; norms' gains decaying toward 0 would fight the
    # normalisation, and embeddings of rare bytes would be pulled to zero.
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and "embed_tokens" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim == 2 and "embed_tokens" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    steps = args.time_steps + 1 if args.time_steps else args.steps
    warmup = args.warmup if args.warmup is not None else max(1, steps // 20)
    ctx = args.context
    idx = torch.arange(ctx + 1)

    def batch():
        starts = torch.from_numpy(rng.randint(0, len(train) - ctx - 1, size=args.batch))
        w = train_t[starts[:, None] + idx]
        return w[:, :-1], w[:, 1:]

    model.train()
    t_start = time.time()
    t_timed = None
    ema = None
    history = []
    for step in range(steps):
        if step == 1:
            t_timed = time.time()
        lr = lr_at(step, steps, args.lr, warmup, args.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch()
        logits, _ = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        li = loss.item()
        ema = li if ema is None else 0.95 * ema + 0.05 * li
        if step % 10 == 0 or step == steps - 1:
            el = time.time() - t_start
            done = step + 1
            tps = done * args.batch * ctx / el
            left = el / done * (steps - done)
            history.append({"step": done, "loss": round(li, 4), "loss_ema": round(ema, 4), "lr": lr})
            log(f"step {done}/{steps} loss {li:.4f} (ema {ema:.4f}, {ema / math.log(2):.3f} bits/byte) "
                f"lr {lr:.2e} gnorm {float(gnorm):.2f} {tps:.0f} tok/s elapsed {el / 60:.1f}m left {left / 60:.1f}m")

    if args.time_steps:
        dt = (time.time() - t_timed) / args.time_steps
        log(f"timing: {dt:.3f} s/step at batch {args.batch}x{ctx}, {args.threads} thread(s); "
            f"{args.batch * ctx / dt:.0f} tok/s; 35 min = {int(35 * 60 / dt)} steps")
        return

    train_wall = time.time() - t_start
    os.makedirs(args.out, exist_ok=True)
    save_pretrained(model, args.out, CONFIG)
    with open(os.path.join(args.out, "val.txt"), "wb") as f:
        f.write(val)

    log("evaluating validation bpb")
    t_eval = time.time()
    res = evaluate_bpb(model, val, context=ctx, stride=args.eval_stride, batch_size=32,
                       dtype=torch.float32, log=log)
    res.update({"text": "val.txt", "text_bytes": len(val), "context": ctx, "stride": args.eval_stride,
                "dtype": "float32"})
    with open(os.path.join(args.out, "torch_eval.json"), "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    log(f"validation: {res['bpb']:.4f} bits/byte ({time.time() - t_eval:.0f}s)")

    info = {
        "parameters": n_params,
        "steps": steps,
        "batch": args.batch,
        "context": ctx,
        "tokens_seen": steps * args.batch * ctx,
        "lr": args.lr,
        "min_lr_ratio": args.min_lr_ratio,
        "warmup": warmup,
        "weight_decay": args.weight_decay,
        "betas": [0.9, 0.95],
        "clip": args.clip,
        "seed": args.seed,
        "threads": args.threads,
        "train_wall_s": round(train_wall, 1),
        "torch": torch.__version__,
        "final_train_loss_ema": ema,
        "val_bpb": res["bpb"],
        "data": manifest,
        "history": history,
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
