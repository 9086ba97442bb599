#!/usr/bin/env python3
"""End to end: the compiled bytellama plan under attn-exec vs torch eager.

    e2e_decode.py --exec build-gpu/bin/attn-exec --plan bench/gpu/bytellama.plan
        --model models/bytellama --out $OUT [--device cuda] [--batches 1,16]
        [--prompt-len 64] [--new 128]

The plan was compiled on the CPU machine (attn-import hf models/bytellama;
attn-opt --attn-lower-to-cuda=plan=...; bench/gpu/make_plan.sh) and runs
here without MLIR. For each batch size B, the prompt is B slices of
models/bytellama/val.txt:
  - accuracy: one attn-exec forward over the prompt (zero caches) against
    torch fp32 logits (python/attenuate/torch_llama.py): normwise
    max|a - b| / max|b| (bf16 on cuda, so ~1e-2 is expected);
  - speed: greedy decoding of --new tokens. torch eager: the same model in
    bf16 (fp32 on cpu), KV cache by concatenation (torch_llama's past),
    one forward per token, argmax, synchronised per step like a serving
    loop; a warm-up generation first. attn-exec --generate: prefill, then
    one plan call per token with the caches kept on the device; its decode
    tokens/s is B * (new - 1) / decode time. Also: how many generated tokens
    the two agree on before the first difference (bf16 rounding makes
    greedy paths diverge eventually).
Writes e2e.md and e2e.json to --out.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exec", dest="exe", required=True)
    p.add_argument("--plan", required=True)
    p.add_argument("--model", default=os.path.join(ROOT, "models", "bytellama"))
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batches", default="1,16")
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()

    import numpy as np
    import torch

    from attenuate import safetensors_io, torch_llama

    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.out, "e2e-work")
    os.makedirs(work, exist_ok=True)
    dev = torch.device(args.device)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("e2e_decode: torch sees no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    L = cfg["num_hidden_layers"]
    hkv = cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    params = os.path.join(args.model, "model.safetensors")
    text = open(os.path.join(args.model, "val.txt"), "rb").read()
    P, N = args.prompt_len, args.new

    ref32 = torch_llama.load_pretrained(args.model, torch.float32).to(dev)
    low = torch.bfloat16 if args.device == "cuda" else torch.float32
    model = torch_llama.load_pretrained(args.model, low).to(dev)

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def exec_cmd(*extra):
        cmd = [args.exe, args.plan, "--device=" + args.device,
               "--attn-params=" + params]
        if args.threads:
            cmd.append(f"--num-threads={args.threads}")
        return cmd + list(extra)

    @torch.no_grad()
    def torch_generate(prompt):
        logits, past = model(prompt)
        nxt = logits[:, -1].argmax(-1)
        out = [nxt]
        sync()
        t0 = time.perf_counter()
        for _ in range(N - 1):
            logits, past = model(nxt[:, None], past=past)
            nxt = logits[:, -1].argmax(-1)
            out.append(nxt)
            nxt.cpu()  # the serving loop reads the token each step
        sync()
        return torch.stack(out, 1).cpu().numpy(), time.perf_counter() - t0

    rows = []
    for B in [int(b) for b in args.batches.split(",")]:
        toks = np.frombuffer(text[: B * P], dtype=np.uint8).astype(np.int64)
        prompt = toks.reshape(B, P)
        prompt_path = os.path.join(work, f"prompt_b{B}.npy")
        np.save(prompt_path, prompt)

        # Accuracy: one forward over the prompt.
        caches = [np.zeros((B, P, hkv, hd), np.float32)] * (2 * L)
        pos = np.broadcast_to(np.arange(P, dtype=np.int64), (B, P)).copy()
        in_path = os.path.join(work, f"in_b{B}.safetensors")
        safetensors_io.save_file(
            {f"arg{i:03d}": a for i, a in enumerate([prompt, pos] + caches)},
            in_path)
        out_path = os.path.join(work, f"out_b{B}.safetensors")
        r = subprocess.run(exec_cmd("--input=" + in_path,
                                    "--output=" + out_path),
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"e2e_decode: attn-exec forward failed: {r.stderr.strip()}")
        ours = safetensors_io.load_file(out_path)["result0"].astype(np.float64)
        with torch.no_grad():
            want = ref32(torch.from_numpy(prompt).to(dev))[0].double().cpu().numpy()
        rel = float(np.abs(ours - want).max() / np.abs(want).max())

        # Speed: greedy decoding.
        torch_generate(torch.from_numpy(prompt).to(dev))  # warm-up
        t_tokens, t_time = torch_generate(torch.from_numpy(prompt).to(dev))
        gen_path = os.path.join(work, f"gen_b{B}.npy")
        r = subprocess.run(exec_cmd(f"--generate={N}", "--prompt=" + prompt_path,
                                    f"--cache-len={P + N}",
                                    "--output=" + gen_path),
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"e2e_decode: attn-exec --generate failed: {r.stderr.strip()}")
        m = re.search(r"decode: (\d+) steps x (\d+) sequences in ([0-9.]+) s, "
                      r"median step ([0-9.]+) s", r.stdout)
        if not m:
            sys.exit("e2e_decode: unexpected attn-exec output:\n" + r.stdout)
        o_time, o_med = float(m.group(3)), float(m.group(4))
        o_tokens = np.load(gen_path)
        agree = []
        for b in range(B):
            same = (o_tokens[b] == t_tokens[b])
            agree.append(int(N if same.all() else np.argmin(same)))
        row = dict(batch=B, prompt=P, new=N, device=args.device,
                   logits_rel_err_vs_torch_fp32=rel,
                   attn_exec_decode_tok_s=B * (N - 1) / o_time,
                   attn_exec_median_step_s=o_med,
                   torch_eager_decode_tok_s=B * (N - 1) / t_time,
                   torch_dtype=str(low).replace("torch.", ""),
                   agree_prefix_min=min(agree),
                   agree_prefix_mean=sum(agree) / len(agree))
        row["speedup"] = row["attn_exec_decode_tok_s"] / row["torch_eager_decode_tok_s"]
        rows.append(row)
        print(json.dumps(row))

    with open(os.path.join(args.out, "e2e.json"), "w") as f:
        json.dump(rows, f, indent=1)
    lines = [
        f"# bytellama end to end on {args.device}: compiled plan (attn-exec) vs torch eager",
        "",
        "decode tokens/s = B·(new−1) / decode time (prefill excluded); rel err = "
        "normwise max|ours − torch fp32| / max|torch fp32| over the prompt's logits; "
        "agree = generated tokens equal to torch's greedy ones before the first "
        "difference (min over the batch).",
        "",
        "| B | prompt | new | attn-exec tok/s | torch eager tok/s | speedup | "
        "median step (ms) | rel err | agree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['prompt']} | {r['new']} | "
            f"{r['attn_exec_decode_tok_s']:.0f} | {r['torch_eager_decode_tok_s']:.0f} "
            f"({r['torch_dtype']}) | {r['speedup']:.2f}x | "
            f"{1e3 * r['attn_exec_median_step_s']:.3f} | "
            f"{r['logits_rel_err_vs_torch_fp32']:.1e} | {r['agree_prefix_min']}/{r['new']} |")
    open(os.path.join(args.out, "e2e.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
