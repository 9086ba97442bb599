#!/usr/bin/python3
"""Validation bits-per-byte of a byte-level HF checkpoint, computed with torch.

This is the number compiled models are compared against (within 1e-3), so the
scoring rule is fixed and spelled out here:
  * the text is the raw bytes of val.txt; every byte t >= 1 is scored exactly once,
    from the bytes before it (byte 0 has no context and is not scored);
  * windows of `context` bytes start at 0, stride, 2*stride, ...; the first window
    scores bytes 1..context-1, every later window scores only the bytes past the
    previous window's end, so each scored byte sees at least context - stride bytes
    of context (except in the first window); the last window may be shorter;
  * bpb = (sum of NLL in nats) / (number of scored bytes) / ln 2, accumulated in fp64.

Usage: /usr/bin/python3 models/eval_torch.py [--model models/bytellama] [--text VAL]
       [--context 256] [--stride 128] [--dtype float32] [--json OUT]
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import torch  # noqa: E402


def windows(n: int, context: int, stride: int):
    """Yields (begin, end, first_target): the window is bytes [begin, end) and it
    scores targets first_target..end-1."""
    prev_end = 0
    begin = 0
    while True:
        end = min(begin + context, n)
        yield begin, end, max(prev_end, 1)
        prev_end = end
        if end == n:
            return
        begin += stride


@torch.no_grad()
def evaluate_bpb(model, data: bytes, context: int = 256, stride: int = 128, batch_size: int = 32,
                 dtype=torch.float32, log=None):
    """Returns dict(bpb, nats_per_byte, scored_bytes, windows)."""
    if not 0 < stride < context:
        # With stride == context a later window's first target has no
        # context inside its window.
        raise ValueError("need 0 < stride < context")
    model = model.to(dtype).eval()
    buf = torch.tensor(list(data), dtype=torch.int64)
    wins = list(windows(len(data), context, stride))
    total = 0.0
    count = 0
    t0 = time.time()
    # Windows of equal length are batched; only the last one can be shorter.
    i = 0
    while i < len(wins):
        L = wins[i][1] - wins[i][0]
        j = i
        while j < len(wins) and j - i < batch_size and wins[j][1] - wins[j][0] == L:
            j += 1
        group = wins[i:j]
        x = torch.stack([buf[b:e] for b, e, _ in group])
        logits, _ = model(x)
        logp = torch.log_softmax(logits.to(torch.float64), dim=-1)
        for r, (b, e, first) in enumerate(group):
            # logits at local index k predict byte b + k + 1.
            k0, k1 = first - b - 1, e - b - 1
            tgt = buf[first:e]
            total += -logp[r, k0:k1].gather(-1, tgt[:, None]).sum().item()
            count += e - first
        i = j
        if log and (i % (batch_size * 10) == 0 or i == len(wins)):
            log(f"eval {i}/{len(wins)} windows, {time.time() - t0:.0f}s")
    assert count == len(data) - 1, (count, len(data))
    nats = total / count
    return {"bpb": nats / math.log(2.0), "nats_per_byte": nats, "scored_bytes": count, "windows": len(wins)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "bytellama"))
    ap.add_argument("--text", default=None, help="defaults to <model>/val.txt")
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--stride", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="write the result here")
    args = ap.parse_args()
    from attenuate.torch_llama import load_pretrained, set_threads

    set_threads(args.threads)

    dtype = getattr(torch, args.dtype)
    model = load_pretrained(args.model, dtype)
    text = args.text or os.path.join(args.model, "val.txt")
    with open(text, "rb") as f:
        data = f.read()
    res = evaluate_bpb(model, data, args.context, args.stride, args.batch, dtype,
                       log=lambda s: print(s, file=sys.stderr))
    res.update({"text": os.path.basename(text), "text_bytes": len(data), "context": args.context,
                "stride": args.stride, "dtype": args.dtype})
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
