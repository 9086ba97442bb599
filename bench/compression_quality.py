#!/usr/bin/python3
"""Quality of the compression passes on the shipped model (issue 4).

One run measures, through the compiled model (attn-eval, never a Python
re-implementation):
  * the original model's validation bits-per-byte;
  * attn-lowrank at 10/20/30 % parameter reduction for a3, whitened-svd
    and svd (parameters from attn-report);
  * attn-share-attention with 1..3 shared layers chosen by calibrated
    similarity vs the same number of layers from the front of the model
    (KV bytes/token from attn-report);
  * stacks: the front layer shared (spans=1), then attn-lowrank at 20 %
    (a3 on MLP only, a3 and whitened-svd on every component: the shared
    layer's QK follows its source's).

Calibration uses training text only (the python3.11-doc files that
models/train_bytellama.py trains on, never val.txt). Evaluation uses the
first --eval-bytes of models/bytellama/val.txt (default 32 KiB, to keep the
run short; the full-text number of the original is in models/README.md).

Writes docs/results.md's "Low-rank and shared attention" section (between
markers, so other sections survive), docs/lowrank_quality.png and
docs/share_attention.png.

Usage: /usr/bin/python3 bench/compression_quality.py [--eval-bytes 32768]
       [--calib-bytes 65536] [--build build] [--only stack]

--only stack recomputes the stacked rows alone (same calibration and
evaluation text), keeping the other rows from --json.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{p.stderr}")
    return p


def training_text(nbytes):
    """The head of the training split (files i % 20 != 19, as
    models/train_bytellama.py splits them)."""
    src = "/usr/share/doc/python3.11/html/_sources"
    files = sorted(glob.glob(os.path.join(src, "**", "*.rst.txt"), recursive=True),
                   key=lambda f: os.path.relpath(f, src))
    out = bytearray()
    for i, f in enumerate(files):
        if i % 20 == 19:
            continue
        with open(f, "rb") as fh:
            out += fh.read()
        if len(out) >= nbytes:
            break
    return bytes(out[:nbytes])


def prepare_inputs(args, work, val_path, bindir):
    """The evaluation text (first --eval-bytes of the model's val.txt, at
    val_path), the calibration text (training split) and the imported
    module in `work`: (val bytes, calib path, module path)."""
    with open(os.path.join(args.model, "val.txt"), "rb") as f:
        val = f.read()[: args.eval_bytes]
    with open(val_path, "wb") as f:
        f.write(val)
    calib = os.path.join(work, "calib.txt")
    with open(calib, "wb") as f:
        f.write(training_text(args.calib_bytes))
    base = os.path.join(work, "model.mlir")
    run([os.path.join(bindir, "attn-import"), "hf", args.model, "-o", base])
    return val, calib, base


class Bench:
    def __init__(self, args, work):
        self.b = os.path.join(args.build, "bin")
        self.work = work
        self.val = os.path.join(work, "val.txt")
        self.count = 0

    def opt(self, src, pipeline, name):
        out = os.path.join(self.work, name + ".mlir")
        params = os.path.join(self.work, name + ".safetensors")
        cmd = [os.path.join(self.b, "attn-opt"), src, pipeline,
               "--attn-params-out=" + params, "-o", out]
        run(cmd)
        return out

    def report(self, mlir):
        p = run([os.path.join(self.b, "attn-opt"), mlir, "--attn-report=format=json", "-o", os.devnull])
        f = json.loads(p.stdout)["functions"][0]
        layers_params = sum(l["param_bytes"] for l in f["layers"])
        return {"param_bytes": f["total"]["param_bytes"], "layer_param_bytes": layers_params,
                "kv_bytes_per_token": f["total"]["kv_bytes_per_token"]}

    def bpb(self, mlir):
        t = time.time()
        out = os.path.join(self.work, "eval.json")
        run([os.path.join(self.b, "attn-eval"), mlir, "--text", self.val, "--json", out])
        with open(out) as f:
            v = json.load(f)["bits_per_byte"]
        self.count += 1
        log(f"eval #{self.count}: {os.path.basename(mlir)} {v:.4f} bpb ({time.time() - t:.0f}s)")
        return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "bytellama"))
    ap.add_argument("--eval-bytes", type=int, default=32768)
    ap.add_argument("--calib-bytes", type=int, default=65536)
    ap.add_argument("--ratios", default="0.1,0.2,0.3")
    ap.add_argument("--methods", default="a3,whitened-svd,svd")
    ap.add_argument("--shared", default="1,2,3")
    ap.add_argument("--json", default=os.path.join(ROOT, "docs", "compression_quality.json"))
    ap.add_argument("--stack-ratio", type=float, default=0.2)
    ap.add_argument("--only", choices=["stack"],
                    help="recompute only these rows; the others come from --json")
    args = ap.parse_args()
    if args.only:
        with open(args.json) as f:
            kept = json.load(f)
        if (kept["eval_bytes"], kept["calib_bytes"]) != (args.eval_bytes, args.calib_bytes):
            sys.exit(f"compression_quality: {args.json} was measured with --eval-bytes "
                     f"{kept['eval_bytes']} --calib-bytes {kept['calib_bytes']}; pass the same")
    with tempfile.TemporaryDirectory(prefix="attn-quality-") as work:
        B = Bench(args, work)
        val, calib, base = prepare_inputs(args, work, B.val, B.b)
        stats = os.path.join(work, "stats.safetensors")
        log("calibrating on training text...")
        run([os.path.join(B.b, "attn-calibrate"), base, "--text", calib, "--rp", "-o", stats])

        if args.only:
            res = kept
        else:
            res = {"eval_bytes": len(val), "calib_bytes": args.calib_bytes}
            res["original"] = dict(B.report(base), bpb=B.bpb(base))
        orig_layers = res["original"]["layer_param_bytes"]

        if args.only != "stack":
            measure_lowrank_and_share(args, B, base, stats, res, orig_layers)
        res["stack"] = []
        r = args.stack_ratio
        for method, comps in [("a3", "mlp"), ("a3", ""), ("whitened-svd", "")]:
            opts = f"method={method} param-ratio={r} stats={stats}" + (f" components={comps}" if comps else "")
            name = f"stack_{method}_{comps or 'all'}"
            out = B.opt(base, f"--attn-compress=share={{spans=1}} lowrank={{{opts}}}", name)
            rep = B.report(out)
            res["stack"].append(dict(rep, method=method, components=comps or "qk,ov,mlp", ratio=r,
                                     removed=1 - rep["layer_param_bytes"] / orig_layers, bpb=B.bpb(out)))
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2)
    write_docs(res)
    return 0


def measure_lowrank_and_share(args, B, base, stats, res, orig_layers):
    """The low-rank and shared-attention rows (into res)."""
    res["lowrank"] = []
    for method in [m for m in args.methods.split(",") if m]:
        for r in [float(x) for x in args.ratios.split(",")]:
            name = f"lr_{method}_{int(r * 100)}"
            opts = f"method={method} param-ratio={r}" + (f" stats={stats}" if method != "svd" else "")
            out = B.opt(base, f"--attn-lowrank={opts}", name)
            rep = B.report(out)
            removed = 1 - rep["layer_param_bytes"] / orig_layers
            res["lowrank"].append(dict(rep, method=method, ratio=r, removed=removed, bpb=B.bpb(out)))

    res["share"] = []
    for k in [int(x) for x in args.shared.split(",") if x]:
        sim = B.opt(base, f"--attn-share-attention=stats={stats} max-shared-layers={k}", f"sa_sim_{k}")
        p = run([os.path.join(B.b, "attn-opt"), base,
                 f"--attn-share-attention=stats={stats} max-shared-layers={k}", "-o", os.devnull])
        chosen = re.search(r"shared layers ([0-9,]+)", p.stderr).group(1)
        res["share"].append(dict(B.report(sim), how="similarity", layers=chosen, k=k, bpb=B.bpb(sim)))
        front = B.opt(base, f"--attn-share-attention=spans=1-{k}", f"sa_front_{k}")
        res["share"].append(dict(B.report(front), how="front", layers=",".join(str(i) for i in range(1, k + 1)),
                                 k=k, bpb=B.bpb(front)))


def replace_section(marker, section):
    """Puts `section` (which starts with <!-- marker:begin ... --> and ends
    with <!-- marker:end -->) in docs/results.md in place of the previous
    one, or at the end: each bench owns its section, the rest is kept."""
    path = os.path.join(ROOT, "docs", "results.md")
    text = open(path).read() if os.path.exists(path) else "# Results\n\n"
    m = re.search(r"<!-- %s:begin.*?<!-- %s:end -->\n" % (marker, marker), text, re.S)
    text = text[: m.start()] + section + text[m.end():] if m else text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def write_docs(res):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    o = res["original"]
    lines = ["<!-- lowrank-sa:begin (written by bench/compression_quality.py) -->",
             "## Low-rank (A3 vs SVD baselines) and Shared Attention on models/bytellama",
             "",
             f"Measured by `/usr/bin/python3 bench/compression_quality.py`: bits-per-byte through the "
             f"compiled model (`attn-eval`) on the first {res['eval_bytes']} bytes of "
             f"models/bytellama/val.txt; calibration on {res['calib_bytes']} bytes of training text "
             "(`attn-calibrate --rp`); parameter and KV bytes from `attn-report`. "
             "\"removed\" is the fraction of the transformer layers' (attention + MLP) parameter bytes removed.",
             "",
             f"Original: {o['bpb']:.4f} bpb, {o['param_bytes']} parameter bytes, "
             f"{o['kv_bytes_per_token']} KV bytes/token.",
             "",
             "| method | target | removed | bpb | Δ bpb | params (B) |",
             "|---|---|---|---|---|---|"]
    for r in res["lowrank"]:
        lines.append(f"| {r['method']} | {r['ratio']:.0%} | {r['removed']:.1%} | {r['bpb']:.4f} | "
                     f"{r['bpb'] - o['bpb']:+.4f} | {r['param_bytes']} |")
    lines += ["", "![bits-per-byte vs parameters removed](lowrank_quality.png)", "",
              "| shared layers | chosen by | layers | bpb | Δ bpb | KV bytes/token |",
              "|---|---|---|---|---|---|"]
    for r in res["share"]:
        lines.append(f"| {r['k']} | {r['how']} | {r['layers']} | {r['bpb']:.4f} | {r['bpb'] - o['bpb']:+.4f} | "
                     f"{r['kv_bytes_per_token']} |")
    lines += ["", "![shared attention](share_attention.png)", ""]
    if res.get("stack"):
        lines += ["Stacked: layer 1 shares layer 0's attention (`spans=1`), then attn-lowrank "
                  "(`attn-compress share={spans=1} lowrank={...}`); \"removed\" counts both.",
                  "",
                  "| lowrank | components | target | removed | bpb | Δ bpb | KV bytes/token |",
                  "|---|---|---|---|---|---|---|"]
        for r in res["stack"]:
            lines.append(f"| {r['method']} | {r['components']} | {r['ratio']:.0%} | {r['removed']:.1%} | "
                         f"{r['bpb']:.4f} | {r['bpb'] - o['bpb']:+.4f} | {r['kv_bytes_per_token']} |")
        lines.append("")
    lines += ["<!-- lowrank-sa:end -->"]
    replace_section("lowrank-sa", "\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method, mk in [("a3", "o-"), ("whitened-svd", "s-"), ("svd", "^-")]:
        pts = [(r["removed"], r["bpb"]) for r in res["lowrank"] if r["method"] == method]
        if pts:
            ax.plot([100 * x for x, _ in pts], [y for _, y in pts], mk, label=method)
    ax.axhline(o["bpb"], color="gray", ls="--", lw=1, label="original")
    ax.set_xlabel("layer parameters removed (%)")
    ax.set_ylabel("validation bits-per-byte")
    ax.set_title("attn-lowrank on bytellama")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(ROOT, "docs", "lowrank_quality.png"), dpi=120)

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for how, mk in [("similarity", "o-"), ("front", "s-")]:
        pts = [(r["kv_bytes_per_token"], r["bpb"]) for r in res["share"] if r["how"] == how]
        ax.plot([x for x, _ in pts], [y for _, y in pts], mk, label=f"spans by {how}")
    ax.plot([o["kv_bytes_per_token"]], [o["bpb"]], "k*", label="original")
    ax.set_xlabel("KV bytes/token")
    ax.set_ylabel("validation bits-per-byte")
    ax.set_title("attn-share-attention on bytellama")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(ROOT, "docs", "share_attention.png"), dpi=120)


if __name__ == "__main__":
    sys.exit(main())
