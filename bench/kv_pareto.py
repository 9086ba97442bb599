#!/usr/bin/python3
"""KV cache size against quality on the shipped model (issue 6).

One run measures, through the compiled model (attn-eval; KV bytes per token
from attn-report at the evaluation context), every KV-compression method of
the project on models/bytellama:
  * the original (f32 cache);
  * MLA upcycling (attn-mla-upcycle, rope-dim 4) at kv-rank 16 and 8
    (6.4x and 10.7x), SVD initialisation and after distillation: the
    distilled tensors are models/bytellama/mla/ (300 steps of
    python/attenuate/distill_mla.py; --distill-steps N redoes them here);
  * CSR (attn-sparse-kv) at 4, 2 and 1 bits per value (head dim 32: keys
    s_k = 4/2/1 atoms, values 2 chunks of s_v = 2/1 atoms, or 1 chunk of 1);
  * KIVI (attn-quantize-kv) at 4 and 2 bits, window 32, group 32;
  * shared attention (2 layers by similarity);
  * stacked configurations through attn-compress (--stacks): SA + MLA + CSR
    with the MLA tensors at their SVD initialisation; the same SA + MLA
    (kv-rank 4) with its MLA tensors distilled on that stacked module
    (models/bytellama/mla/distilled-sa12-r4.safetensors, 200 steps), alone
    and with CSR on top; SA + CSR.
Calibration (KV samples for the CSR dictionaries, similarity for shared
attention) uses training text only; evaluation the first --eval-bytes of
models/bytellama/val.txt (context 256, stride 128).

Writes docs/kv_pareto.json, the "KV cache" section of docs/results.md
(between markers) and docs/kv_pareto.png (bits-per-byte against KV
bytes/token, every method).

Usage: /usr/bin/python3 bench/kv_pareto.py [--eval-bytes 16384]
       [--calib-bytes 65536] [--distill-steps 0] [--only csr,kivi,...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from compression_quality import log, prepare_inputs, replace_section, run  # noqa: E402

CONTEXT = 256

# name → (method, pipeline or None for the original, note)
CSR = {4: "k-atoms=4 v-atoms=2 v-chunks=2", 2: "k-atoms=2 v-atoms=1 v-chunks=2",
       1: "k-atoms=1 v-atoms=1 v-chunks=1"}


class Runner:
    def __init__(self, args, work):
        self.args = args
        self.bin = os.path.join(args.build, "bin")
        self.work = work
        self.val = os.path.join(work, "val.txt")
        self.count = 0

    def tool(self, name):
        return os.path.join(self.bin, name)

    def opt(self, src, flags, name):
        out = os.path.join(self.work, name + ".mlir")
        params = os.path.join(self.work, name + ".safetensors")
        p = run([self.tool("attn-opt"), src, *flags, "--attn-params-out=" + params, "-o", out])
        return out, p.stderr

    def kv(self, mlir):
        p = run([self.tool("attn-opt"), mlir, f"--attn-report=format=json seq-len={CONTEXT}",
                 "-o", os.devnull])
        f = json.loads(p.stdout)["functions"][0]
        return f["total"]["kv_bytes_per_token"]

    def bpb(self, mlir, params=None):
        t = time.time()
        out = os.path.join(self.work, "eval.json")
        cmd = [self.tool("attn-eval"), mlir, "--text", self.val, "--context", str(CONTEXT),
               "--stride", str(CONTEXT // 2), "--json", out]
        if params:
            cmd.append("--attn-params=" + ",".join(params))
        run(cmd)
        with open(out) as f:
            v = json.load(f)["bits_per_byte"]
        self.count += 1
        log(f"eval #{self.count}: {os.path.basename(mlir)} {v:.4f} bpb ({time.time() - t:.0f}s)")
        return v


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "bytellama"))
    ap.add_argument("--eval-bytes", type=int, default=16384)
    ap.add_argument("--calib-bytes", type=int, default=65536)
    ap.add_argument("--distill-steps", type=int, default=0,
                    help="redo the MLA distillation with this many steps (0: use "
                         "models/bytellama/mla)")
    ap.add_argument("--only", default="sa,mla,csr,kivi,stack")
    ap.add_argument("--stacks", default=";".join([
            "share={spans=1-2} mla={kv-rank=4 rope-dim=4} sparse-kv={%s}" % CSR[1],
        "share={spans=1-2} sparse-kv={%s}" % CSR[2],
        "share={spans=1-2} sparse-kv={%s}" % CSR[1],
    ]), help="attn-compress option strings, ';'-separated (stats= is added)")
    ap.add_argument("--stack-csr-bits", type=lambda v: [int(x) for x in v.split(",")],
                    default=[1, 2], help="CSR bits/value on top of the distilled SA + MLA stack")
    ap.add_argument("--json", default=os.path.join(ROOT, "docs", "kv_pareto.json"))
    ap.add_argument("--update", action="store_true",
                    help="merge into --json: points with the same label are replaced, "
                         "others kept (to add a group measured later)")
    ap.add_argument("--docs-only", action="store_true",
                    help="redraw docs from --json without measuring")
    args = ap.parse_args()
    if args.docs_only:
        with open(args.json) as f:
            write_docs(json.load(f))
        return 0
    only = set(args.only.split(","))

    with tempfile.TemporaryDirectory(prefix="attn-kv-") as work:
        R = Runner(args, work)
        val, calib, base = prepare_inputs(args, work, R.val, R.bin)
        stats = os.path.join(work, "stats.safetensors")
        log("calibrating on training text (KV samples, similarity)...")
        run([R.tool("attn-calibrate"), base, "--text", calib, "-o", stats])

        res = {"eval_bytes": len(val), "calib_bytes": args.calib_bytes, "context": CONTEXT,
               "points": []}
        orig_kv = R.kv(base)

        def add(method, label, mlir, params=None, **extra):
            kv = R.kv(mlir)
            point = dict(method=method, label=label, kv_bytes_per_token=kv,
                         compression=orig_kv / kv, bpb=R.bpb(mlir, params), **extra)
            res["points"].append(point)
            done = len(res["points"])
            log(f"point {done}: {label}: {kv:.1f} B/token ({orig_kv / kv:.2f}x), "
                f"{point['bpb']:.4f} bpb")

        add("original", "original (f32 cache)", base)
        if "sa" in only:
            out, err = R.opt(base, [f"--attn-share-attention=stats={stats} max-shared-layers=2"],
                             "sa2")
            add("shared attention", "SA, 2 layers by similarity", out)
        if "mla" in only:
            for r in (16, 8):
                out, _ = R.opt(base, [f"--attn-mla-upcycle=kv-rank={r} rope-dim=4"], f"mla{r}")
                add("MLA (SVD init)", f"MLA r={r}, SVD init", out, kv_rank=r)
                distilled = os.path.join(args.model, "mla", f"distilled-r{r}.safetensors")
                steps = 300
                if args.distill_steps:
                    steps = args.distill_steps
                    distilled = os.path.join(work, f"distilled-r{r}.safetensors")
                    log(f"distilling MLA r={r} for {steps} steps...")
                    subprocess.run(["/usr/bin/python3", "-m", "attenuate.distill_mla", out,
                                    "--model", args.model, "--steps", str(steps), "--threads", "1",
                                    "-o", distilled], check=True,
                                   env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
                add("MLA (distilled)", f"MLA r={r}, distilled {steps} steps", out,
                    params=[distilled, os.path.join(args.model, "model.safetensors")],
                    kv_rank=r, steps=steps)
        if "csr" in only:
            for bits, opts in CSR.items():
                out, _ = R.opt(base, [f"--attn-sparse-kv=stats={stats} {opts}"], f"csr{bits}")
                add("CSR", f"CSR {bits} bit/value ({opts})", out, bits=bits)
        if "kivi" in only:
            for bits in (4, 2):
                out, _ = R.opt(base, [f"--attn-quantize-kv=bits={bits} window=32 group=32"],
                               f"kivi{bits}")
                add("KIVI", f"KIVI {bits} bit, window 32", out, bits=bits)
        if "stack" in only:
            for i, s in enumerate(x for x in args.stacks.split(";") if x.strip()):
                out, err = R.opt(base, [f"--attn-compress=stats={stats} {s}"], f"stack{i}")
                kind = "stacked (SVD init)" if "mla=" in s else "stacked (SA + CSR)"
                add(kind, f"attn-compress {s}", out, pipeline=s)
            # The same stack with its MLA tensors distilled: SA + MLA first
            # (models/bytellama/mla/distilled-sa12-r4.safetensors, distilled on
            # that module), then CSR on top of the distilled module.
            sm = "share={spans=1-2} mla={kv-rank=4 rope-dim=4}"
            distilled = os.path.join(args.model, "mla", "distilled-sa12-r4.safetensors")
            with open(os.path.join(args.model, "mla", "distill-sa12-r4.json")) as f:
                steps = json.load(f)["steps"]
            samla, _ = R.opt(base, [f"--attn-compress={sm}"], "samla4")
            orig_params = [distilled, os.path.join(args.model, "model.safetensors")]
            add("stacked (distilled)", f"attn-compress {sm}, distilled {steps} steps", samla,
                params=orig_params, pipeline=sm, steps=steps)
            for bits in args.stack_csr_bits:
                csr = f"sparse-kv={{{CSR[bits]}}}"
                out, err = R.opt(samla, ["--attn-params=" + ",".join(orig_params),
                                         f"--attn-compress=stats={stats} {csr}"], f"stackd{bits}")
                add("stacked (distilled)", f"attn-compress {sm} {csr}, MLA distilled {steps} steps",
                    out, pipeline=f"{sm} {csr}", steps=steps, bits=bits)

    if args.update and os.path.exists(args.json):
        with open(args.json) as f:
            old = json.load(f)
        new = {p["label"] for p in res["points"]}
        kept = [p for p in old["points"] if p["label"] not in new]
        res["points"] = kept + [p for p in res["points"] if p["method"] != "original" or
                                not any(k["method"] == "original" for k in kept)]
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2)
    log(f"wrote {args.json}")
    write_docs(res)
    return 0


MARKERS = {"original": ("*", "black"), "shared attention": ("D", "tab:purple"),
           "MLA (SVD init)": ("v", "tab:orange"), "MLA (distilled)": ("o", "tab:red"),
           "CSR": ("s", "tab:blue"), "KIVI": ("^", "tab:green"),
           "stacked (SVD init)": ("X", "tab:gray"), "stacked (SA + CSR)": ("*", "tab:cyan"), "stacked (distilled)": ("P", "tab:brown")}


def write_docs(res):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # The original first, then the order measured (a merged --update run
    # appends its groups after the earlier ones).
    pts = sorted(res["points"], key=lambda p: p["method"] != "original")
    orig = pts[0]
    lines = ["<!-- kv-pareto:begin (written by bench/kv_pareto.py) -->",
             "## KV cache: MLA, CSR, KIVI, shared attention and stacks on models/bytellama",
             "",
             "Measured by `/usr/bin/python3 bench/kv_pareto.py`: bits-per-byte through the compiled "
             f"model (`attn-eval`, context {res['context']}, stride {res['context'] // 2}) on the first "
             f"{res['eval_bytes']} bytes of models/bytellama/val.txt; KV bytes per token (all 8 layers) "
             f"from `attn-report` at seq-len {res['context']} (KIVI's full-precision window is amortised "
             "over it; CSR's and MLA's dictionaries and projections are parameters, not cache). "
             f"Calibration (CSR dictionaries from KV samples, similarity for shared attention) on "
             f"{res['calib_bytes']} bytes of training text. The original cache is f32.",
             "",
             "| method | configuration | KV B/token | KV compression | bpb | Δ bpb |",
             "|---|---|---|---|---|---|"]
    for p in pts:
        d = p["bpb"] - orig["bpb"]
        lines.append(f"| {p['method']} | {p['label']} | {p['kv_bytes_per_token']:.1f} | "
                     f"{p['compression']:.2f}x | {p['bpb']:.4f} | {d:+.4f} ({100 * d / orig['bpb']:+.1f}%) |")
    lines += ["", "![bits-per-byte against KV bytes per token](kv_pareto.png)", "",
              "<!-- kv-pareto:end -->"]
    replace_section("kv-pareto", "\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.4))
    # The SVD initialisations sit near 5.5 bpb: drawn on the top edge with
    # their value, so that the points that matter keep the scale.
    top = orig["bpb"] * 1.6
    for method, (mk, color) in MARKERS.items():
        sel = [p for p in pts if p["method"] == method]
        if sel:
            ax.plot([p["kv_bytes_per_token"] for p in sel], [min(p["bpb"], top) for p in sel],
                    mk, color=color, ms=7, ls="none", label=method)
        for p in sel:
            if p["bpb"] > top:
                ax.annotate(f"{p['bpb']:.2f}", (p["kv_bytes_per_token"], top), fontsize=7,
                            textcoords="offset points", xytext=(4, -10))
    ax.set_ylim(orig["bpb"] * 0.97, top * 1.02)
    # The goal: >= 20x compression within +10% of the original.
    ax.axvspan(0, orig["kv_bytes_per_token"] / 20, ymin=0, ymax=1, color="0.93", zorder=0)
    ax.axhline(orig["bpb"] * 1.1, color="gray", ls=":", lw=1, label="original +10%")
    ax.set_xscale("log")
    ax.set_xlabel("KV cache bytes per token (log; shaded: >= 20x compression)")
    ax.set_ylabel("validation bits-per-byte")
    ax.set_title("KV compression on bytellama (lower left is better)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(os.path.join(ROOT, "docs", "kv_pareto.png"), dpi=120)


if __name__ == "__main__":
    sys.exit(main())
