#!/usr/bin/env python3
"""Regenerates the seed corpora under fuzz/corpus/ from the test inputs.

Run from anywhere with Debian's python3 (numpy) and an attn-import on PATH
(for the imported-model seeds). Seeds are small on purpose: libFuzzer grows
the working corpus itself; the committed seeds only give it the shapes of
valid inputs (an attn op in every form, a header with each dtype, each
config variant) to start from.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
MAX_SEED = 16384


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def strip_checks(text):
    """Drops comment lines (RUN/CHECK/expected-*) so seeds are IR only."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("//"):
            continue
        out.append(re.sub(r"\s*//.*$", "", line))
    return "\n".join(out).strip() + "\n"


def split_functions(text):
    """Top-level func.func definitions of a file, one module each."""
    chunks, cur, depth = [], [], 0
    for line in text.splitlines():
        if depth == 0 and not line.startswith("func.func"):
            continue
        cur.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0 and cur:
            chunks.append("\n".join(cur) + "\n")
            cur = []
    return chunks


def safetensors_seeds():
    src = os.path.join(ROOT, "test", "Inputs", "safetensors")
    for name in sorted(os.listdir(src)):
        if not name.endswith(".safetensors"):
            continue
        data = open(os.path.join(src, name), "rb").read()
        put("safetensors_file", data)
        if len(data) >= 8:
            n = int.from_bytes(data[:8], "little")
            header = data[8:8 + min(n, len(data) - 8)]
            put("safetensors_header", b"\0" + header)
            put("json", header)


def json_seeds():
    for text in ['{}', '[]', '0', '-0.5e-3', '"a\\u00e9\\ud83d\\ude00"',
                 '{"a":[1,2,{"b":null}],"c":true,"d":false}',
                 '18446744073709551615', '18446744073709551616',
                 '{"a":1,"a":2}', '[[[[[[[[[[]]]]]]]]]]', '"\\u0000"']:
        put("json", text)


def roundtrip_seeds():
    put("safetensors_roundtrip", bytes([2, 1, ord("a"), 11, 2, 2, 3, 1, ord("b"),
                                        9, 1, 4, 1, 1, ord("k"), 1, ord("v")]
                                       + list(range(64))))
    put("safetensors_roundtrip", bytes([1, 3, ord("x"), ord("y"), ord("z"),
                                        12, 0, 0]) + b"\x00" * 8)


def mlir_seeds(attn_import):
    dialect = os.path.join(ROOT, "test", "Dialect", "Attn")
    ops = open(os.path.join(dialect, "ops.mlir")).read()
    for fn in split_functions(strip_checks(ops)):
        put("mlir_parse", fn)
        put("attn_passes", fn)
    invalid = open(os.path.join(dialect, "invalid.mlir")).read()
    for chunk in invalid.split("// -----"):
        put("mlir_parse", strip_checks(chunk))
    for name in ["attn-report.mlir", "attn-verify-params.mlir",
                 "attn-pamm.mlir", "attn-mla-upcycle.mlir",
                 "attn-lowrank.mlir"]:
        path = os.path.join(ROOT, "test", "Transforms", name)
        text = open(path).read()
        for part in re.split(r"^//--- .*$", text, flags=re.M)[1:]:
            put("attn_passes", strip_checks(part))
    conv = open(os.path.join(ROOT, "test", "Conversion",
                             "convert-attn-to-linalg.mlir")).read()
    for chunk in conv.split("// -----"):
        put("attn_passes", strip_checks(chunk))
    if not attn_import:
        return
    tmp = tempfile.mkdtemp()
    try:
        for layers, extra in [(2, []), (3, ["--arch", "qwen2"])]:
            ckpt = os.path.join(tmp, "ckpt%d" % layers)
            subprocess.run(["/usr/bin/python3",
                            os.path.join(ROOT, "test", "Inputs",
                                         "make_llama_checkpoint.py"), ckpt,
                            "--layers", str(layers), "--hidden", "8",
                            "--heads", "2", "--kv-heads", "1", "--inter", "16",
                            "--vocab", "16"] + extra,
                           check=True, stdout=subprocess.DEVNULL)
            # The training partition has no bias gradients (Llama only).
            for flags in [[]] + ([["--training"]] if not extra else []):
                out = subprocess.run([attn_import, "hf", ckpt] + flags,
                                     check=True, capture_output=True,
                                     text=True).stdout
                # Locations make a seed three times larger and add nothing
                # the parser seeds do not have.
                out = re.sub(r' loc\("[^"]*"\)', "", out)
                out = re.sub(r'attn.params = \[[^]]*\], ', "", out)
                put("attn_passes", out)
                put("mlir_parse", out)
    finally:
        shutil.rmtree(tmp)


def hf_seeds():
    base = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 8, "intermediate_size": 16,
            "num_attention_heads": 2, "num_key_value_heads": 1,
            "num_hidden_layers": 2, "vocab_size": 16, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "tie_word_embeddings": False,
            "hidden_act": "silu"}
    variants = [
        {},
        {"num_hidden_layers": 1, "tie_word_embeddings": True},
        {"attention_bias": True},
        {"architectures": ["Qwen2ForCausalLM"], "use_sliding_window": False},
        {"architectures": ["MistralForCausalLM"], "sliding_window": None},
        {"head_dim": 4, "partial_rotary_factor": 0.5},
        {"rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}},
        {"rope_scaling": {"rope_type": "default"}},
        {"rope_scaling": {"type": "linear", "factor": 2.0}},
        {"num_key_value_heads": None, "mlp_bias": False},
    ]
    for v in variants:
        cfg = dict(base)
        cfg.update(v)
        put("hf_config", json.dumps(cfg, indent=2))


def main():
    attn_import = shutil.which("attn-import")
    if len(sys.argv) > 1:
        attn_import = sys.argv[1]
    safetensors_seeds()
    json_seeds()
    roundtrip_seeds()
    mlir_seeds(attn_import)
    hf_seeds()
    for target in sorted(os.listdir(CORPUS)):
        print(target, len(os.listdir(os.path.join(CORPUS, target))))


if __name__ == "__main__":
    main()
