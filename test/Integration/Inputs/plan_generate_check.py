#!/usr/bin/env python3
"""attn-exec --generate's tokens must be the argmax one forward predicts.

    plan_generate_check.py MODULE.mlir PROMPT.npy GENERATED.npy WORK_DIR

Runs @forward once through attn-run (the JIT) over the prompt followed by
the generated tokens (all but the last) with zero caches, and checks that
at every position from the prompt's last on, the argmax of the logits is
the next generated token. Prints one line; exits non-zero on a mismatch.
"""

import os
import shutil
import subprocess
import sys

import numpy as np

from attenuate import safetensors_io


def main():
    module, prompt_path, gen_path, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    prompt = np.load(prompt_path)
    gen = np.load(gen_path)
    B, S = prompt.shape
    N = gen.shape[1]
    seq = np.concatenate([prompt, gen[:, :-1]], axis=1)
    T = seq.shape[1]
    text = open(module).read()
    # Cache arguments: tensor<?x?xHxDxf32> (H, D from the module's types).
    import re
    caches = re.findall(r'tensor<\?x\?x(\d+)x(\d+)xf32> loc\("[kv]_cache_', text)
    inputs = [seq, np.broadcast_to(np.arange(T, dtype=np.int64), (B, T)).copy()]
    inputs += [np.zeros((B, T, int(h), int(d)), np.float32) for h, d in caches]
    in_path = os.path.join(work, "in.safetensors")
    out_path = os.path.join(work, "out.safetensors")
    safetensors_io.save_file({f"arg{i:03d}": a for i, a in enumerate(inputs)},
                             in_path)
    cmd = [shutil.which("attn-run"), module, "--input=" + in_path,
           "--output=" + out_path]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit("plan_generate_check: attn-run failed: " + p.stderr.strip())
    logits = safetensors_io.load_file(out_path)["result0"]
    pred = logits[:, S - 1:, :].argmax(-1)
    bad = int((pred != gen).sum())
    if bad:
        print(f"teacher-forced argmax differs at {bad} of {gen.size} tokens: "
              f"{pred.tolist()} vs {gen.tolist()}")
        return 1
    print(f"teacher-forced argmax matches all {gen.size} generated tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
