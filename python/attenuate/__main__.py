"""python3 -m attenuate: the main job on a model, from Python.

    python3 -m attenuate [--model models/bytellama] [--recipe a3-20]
        [--text FILE] [--max-bytes N] [--calib FILE] [--calib-bytes N]
        [--baseline] [--save out.mlir] [--json result.json]

Imports the Hugging Face checkpoint, compresses it with a named recipe
(``--list-recipes``), prints the attn-report before and after, and the
bits-per-byte of the compressed model on the evaluation text, measured by
running the compiled model on the CPU. Steps and per-window progress go to
stderr; the report and the numbers to stdout.

Recipes that need calibration statistics calibrate on --calib (default: the
start of the shipped model's training stream, the Python 3.11 documentation
of Debian's python3.11-doc, which val.txt is disjoint from).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List, Optional

from . import AttnError, calibrate, evaluate, import_hf, recipe, set_num_threads
from .workflow import RECIPES, _split_pipeline, is_registered_pass, training_text

def log(msg: str) -> None:
    print(f"attenuate: {msg}", file=sys.stderr, flush=True)


def find_shipped_model() -> Optional[str]:
    """models/bytellama of the source tree this package was built from (the
    package sits in python/ or build/python_packages/), else of the cwd."""
    here = os.path.dirname(os.path.abspath(__file__))
    for up in (os.path.join(here, "..", ".."), os.path.join(here, "..", "..", ".."),
               os.getcwd()):
        cand = os.path.normpath(os.path.join(up, "models", "bytellama"))
        if os.path.isfile(os.path.join(cand, "config.json")):
            return cand
    return None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 -m attenuate", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="Hugging Face checkpoint directory "
                    "(default: the shipped models/bytellama)")
    ap.add_argument("--recipe", default="a3-20",
                    help="compression recipe (default a3-20; see --list-recipes)")
    ap.add_argument("--list-recipes", action="store_true",
                    help="print the recipe names and exit")
    ap.add_argument("--text", help="evaluation text (default: the model's val.txt)")
    ap.add_argument("--max-bytes", type=int, default=0,
                    help="evaluate only the first N bytes (0: all)")
    ap.add_argument("--calib", help="calibration text file")
    ap.add_argument("--calib-bytes", type=int, default=16384,
                    help="calibration bytes (default 16384)")
    ap.add_argument("--context", type=int, default=256, help="window length")
    ap.add_argument("--seq-len", type=int, default=256,
                    help="S in the report's FLOPs formulas")
    ap.add_argument("--baseline", action="store_true",
                    help="also evaluate the uncompressed model")
    ap.add_argument("--save", help="write the compressed module here (its new "
                    "weights next to it, as <name>.safetensors)")
    ap.add_argument("--json", help="write the reports and results as JSON")
    ap.add_argument("--threads", type=int, default=0,
                    help="kernel threads (0: all cores)")
    args = ap.parse_args(argv)

    if args.list_recipes:
        for k, v in RECIPES.items():
            print(f"{k:10s} {v}")
        return 0
    try:
        r = recipe(args.recipe)
    except ValueError as e:
        ap.error(str(e))
    missing = [p for p in r.passes() if not is_registered_pass(p)]
    if missing:
        ap.error(f"recipe {args.recipe} needs {', '.join(missing)}, which this "
                 "build does not have")
    model = args.model or find_shipped_model()
    if model is None:
        ap.error("no --model given and models/bytellama not found")
    text_path = args.text or os.path.join(model, "val.txt")
    if args.threads:
        set_num_threads(args.threads)

    try:
        t0 = time.time()
        log(f"import {model}")
        m = import_hf(model)
        before = m.report(seq_len=args.seq_len, label="before")
        print(m.report_text(seq_len=args.seq_len, label="before"), end="")

        compressed = m
        if r.pipeline:
            stats = None
            if r.needs_stats:
                if args.calib:
                    with open(args.calib, "rb") as f:
                        calib = f.read()[: args.calib_bytes]
                else:
                    calib = training_text(args.calib_bytes)
                log(f"calibrate on {len(calib)} bytes"
                    + (" (with per-head R_P)" if r.rp else ""))
                stats = calibrate(m, calib, context=args.context, rp=r.rp,
                                  progress=True)
            compressed = m.clone()
            # One pass at a time, so each gets its own progress line.
            for step in _split_pipeline(r.pipeline):
                t = time.time()
                log(f"compress: {step.split('{')[0]}")
                remarks = compressed.apply(step.replace("{stats}", str(stats)))
                for d in remarks:
                    log(f"  {d.severity}: {d.message}")
                log(f"  done in {time.time() - t:.1f} s")
        after = compressed.report(seq_len=args.seq_len, label="after")
        print(compressed.report_text(seq_len=args.seq_len,
                                     label=f"after {args.recipe}"), end="")
        tb, ta = before["functions"][0]["total"], after["functions"][0]["total"]
        print(f"parameters: {tb['param_bytes']} -> {ta['param_bytes']} bytes "
              f"({ta['param_bytes'] / tb['param_bytes']:.3f}x); KV cache: "
              f"{tb['kv_bytes_per_token']} -> {ta['kv_bytes_per_token']} "
              "bytes/token")

        with open(text_path, "rb") as f:
            text = f.read()
        if args.max_bytes:
            text = text[: args.max_bytes]
        results = {"recipe": args.recipe, "pipeline": r.pipeline,
                   "report_before": before, "report_after": after,
                   "text": text_path, "bytes": len(text)}
        if args.baseline and r.pipeline:
            log(f"evaluate the original on {len(text)} bytes of {text_path}")
            ev = evaluate(m, text, context=args.context, progress=True)
            print(f"original  {ev}")
            results["bits_per_byte_original"] = ev.bits
        log(f"evaluate ({args.recipe}) on {len(text)} bytes of {text_path}")
        ev = evaluate(compressed, text, context=args.context, progress=True)
        print(f"{args.recipe:9s} {ev}")
        results["bits_per_byte"] = ev.bits
        if args.save:
            stem = os.path.splitext(args.save)[0]
            compressed.save(args.save, params=stem + ".safetensors")
            log(f"wrote {args.save}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        log(f"done in {time.time() - t0:.1f} s")
    except (AttnError, ValueError, OSError) as e:
        print(f"attenuate: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
