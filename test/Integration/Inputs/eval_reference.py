#!/usr/bin/env python3
"""Bits per token of a checkpoint on a token sequence, in numpy, for attn-eval.

    eval_reference.py make-ids OUT.npy --vocab V --count N [--seed S]
    eval_reference.py CKPT_DIR IDS.npy --context C --stride S
        [--check ATTN_EVAL.json] [--tol T]

The scoring rule is the one stated in models/eval_torch.py (and in
attn-eval's header), restated here from its text: every token t >= 1 is
scored exactly once, from the tokens before it; windows of C tokens start at
0, S, 2S, ... and the last one ends at the sequence's end; a window scores
the targets from the previous window's end (1 for the first) to its own
end, each from the logits at the position just before it; bits per token =
total NLL in nats / tokens scored / ln 2. Each window is one fresh
python/attenuate/reference.py forward (fp64) at positions 0..len-1.

With --check, compares against attn-eval's --json output: |Δ bits| < T
(default 1e-4), and the same count of scored tokens and windows.
"""

import argparse
import json
import math
import sys

import numpy as np

from attenuate import reference


def score_windows(n, context, stride):
    """[(begin, end, first_target)] per the rule above."""
    out, begin, prev_end = [], 0, 0
    while True:
        end = min(begin + context, n)
        out.append((begin, end, max(prev_end, 1)))
        if end == n:
            return out
        prev_end, begin = end, begin + stride


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "make-ids":
        p = argparse.ArgumentParser()
        p.add_argument("cmd")
        p.add_argument("out")
        p.add_argument("--vocab", type=int, required=True)
        p.add_argument("--count", type=int, required=True)
        p.add_argument("--seed", type=int, default=0)
        a = p.parse_args()
        rng = np.random.default_rng(a.seed)
        np.save(a.out, rng.integers(0, a.vocab, size=a.count, dtype=np.int64))
        return 0

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ckpt")
    p.add_argument("ids")
    p.add_argument("--context", type=int, required=True)
    p.add_argument("--stride", type=int, required=True)
    p.add_argument("--check")
    p.add_argument("--tol", type=float, default=1e-4)
    a = p.parse_args()

    config, params = reference.load_hf(a.ckpt)
    ids = np.load(a.ids).astype(np.int64)
    wins = score_windows(len(ids), a.context, a.stride)
    # A target needs the token before it in its own window; with stride >=
    # context a later window's first target is its first token.
    if any(first <= begin for begin, _, first in wins):
        sys.exit(f"eval_reference: stride {a.stride} leaves a target without "
                 f"context in its window (need stride < context {a.context})")
    nats, scored = 0.0, np.zeros(len(ids), dtype=np.int64)
    for begin, end, first in wins:
        logits, _ = reference.forward(params, config, ids[None, begin:end],
                                      np.arange(end - begin)[None])
        lg = logits[0]
        logz = np.log(np.exp(lg - lg.max(-1, keepdims=True)).sum(-1)) + lg.max(-1)
        for t in range(first, end):
            nats += logz[t - begin - 1] - lg[t - begin - 1, ids[t]]
            scored[t] += 1
    # The rule's own invariant: tokens 1..n-1 once each, token 0 never.
    assert scored[0] == 0 and (scored[1:] == 1).all(), scored
    count = len(ids) - 1
    bits = nats / count / math.log(2.0)
    print(f"numpy: bits-per-token {bits:.9f}, scored {count} tokens in "
          f"{len(wins)} windows")
    if not a.check:
        return 0
    with open(a.check) as f:
        got = json.load(f)
    diff = abs(got["bits_per_token"] - bits)
    ok = (diff < a.tol and got["scored"] == count
          and got["windows"] == len(wins))
    print(f"attn-eval: bits-per-token {got['bits_per_token']:.9f}, scored "
          f"{got['scored']} in {got['windows']} windows; |diff| {diff:.3e} "
          f"(tol {a.tol:g}) -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
