"""What decode_check.py (attn-run) and plan_check.py (attn-exec) share: one
tool call with its inputs and results through .safetensors files, a normwise
comparison line, and the prefill-then-steps walk against a full forward.
"""

import os
import subprocess
import sys

import numpy as np

from attenuate import reference, safetensors_io


def call(who, cmd, inputs, out_path, work):
    """Runs cmd with inputs (in argument order); returns its results."""
    in_path = os.path.join(work, "call-inputs.safetensors")
    # save_file orders by name; zero-padded indices keep argument order.
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(inputs)},
                             in_path)
    cmd = cmd + ["--input=" + in_path, "--output=" + out_path]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{who}: {' '.join(cmd)} failed: {p.stderr.strip()}")
    out = safetensors_io.load_file(out_path)
    return [out[f"result{i}"] for i in range(len(out))]


def compare(label, got, want, tol):
    err = float(np.abs(got.astype(np.float64) - want).max())
    rel = err / max(float(np.abs(want).max()), 1e-30)
    ok = got.shape == want.shape and rel < tol
    print(f"{label}: max abs diff {err:.3e}, normwise rel {rel:.3e} "
          f"(tol {tol:g}) -> {'PASS' if ok else 'FAIL'}")
    return ok


class Problem:
    """Random tokens for a checkpoint: T = prefill + sum(steps) of them per
    sequence, and zero caches of capacity T."""

    def __init__(self, ckpt, prefill, steps, batch, seed):
        self.config, self.params = reference.load_hf(ckpt)
        c = self.config
        layers = int(c["num_hidden_layers"])
        hq = int(c["num_attention_heads"])
        hkv = int(c.get("num_key_value_heads") or hq)
        hd = int(c.get("head_dim") or c["hidden_size"] // hq)
        self.steps = [int(s) for s in steps.split(",")]
        self.n, self.batch = prefill, batch
        self.total = prefill + sum(self.steps)
        rng = np.random.default_rng(seed)
        self.tokens = rng.integers(0, int(c["vocab_size"]),
                                   size=(batch, self.total), dtype=np.int64)
        self.zeros = [np.zeros((batch, self.total, hkv, hd), np.float32)
                      ] * (2 * layers)

    def positions(self, begin, end):
        return np.broadcast_to(np.arange(begin, end, dtype=np.int64),
                               (self.batch, end - begin)).copy()

    def full_inputs(self):
        return [self.tokens, self.positions(0, self.total)] + self.zeros

    def numpy_logits(self):
        """The fp64 reference forward over all tokens."""
        want, _ = reference.forward(self.params, self.config, self.tokens,
                                    self.positions(0, self.total))
        return want

    def check_steps(self, run, full, tol):
        """Prefill the first n tokens, then each step's tokens with the
        caches the previous call returned (run(inputs, name) -> results):
        logits against the matching rows of `full`, and the final caches
        (which then hold every token) against its caches."""
        n, ok = self.n, True
        res = run([self.tokens[:, :n], self.positions(0, n)] + self.zeros,
                  "prefill")
        ok &= compare(f"prefill (positions 0..{n - 1}) vs full", res[0],
                      full[0][:, :n], tol)
        pos = n
        for i, s in enumerate(self.steps):
            res = run([self.tokens[:, pos:pos + s],
                       self.positions(pos, pos + s)] + res[1:], f"step{i}")
            where = (f"position {pos}" if s == 1
                     else f"positions {pos}..{pos + s - 1}")
            ok &= compare(f"step {i} ({where}) vs full", res[0],
                          full[0][:, pos:pos + s], tol)
            pos += s
        for j, (a, b) in enumerate(zip(res[1:], full[1:])):
            ok &= compare(f"final cache {j} vs full", a, b, tol)
        return ok
