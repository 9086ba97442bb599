#!/usr/bin/env python3
"""Writes a random-weight Hugging Face checkpoint of the Llama family.

    make_llama_checkpoint.py OUT_DIR [--arch llama|mistral|qwen2] [--layers N]
        [--hidden D] [--heads H] [--kv-heads K] [--head-dim HD] [--inter I]
        [--vocab V] [--dtype f32|bf16|f16] [--tied] [--attention-bias]
        [--shards N] [--sparse] [--seed S] [breakage flags]

OUT_DIR gets config.json and model.safetensors, or with --shards N the files
model-0000i-of-0000N.safetensors and model.safetensors.index.json. --sparse
writes only the headers and extends each file to its full size without
writing data (a sparse file), to import huge shapes without the bytes.

Breakage flags, each making one thing wrong for the importer's error tests:
  --drop-tensor NAME   leave tensor NAME out (and out of the index)
  --bad-shape NAME     give tensor NAME one more row than the config implies
  --bad-json           config.json is not JSON
  --arch-name X        architectures = [X]
  --rope-scaling       rope_scaling = {"rope_type": "linear", "factor": 2.0}
  --sliding-window     Mistral: sliding_window = 4096;
                       Qwen2: use_sliding_window = true
  --set KEY=JSON       config[KEY] = JSON, after everything else
  --unset KEY          leave KEY out of config.json

The safetensors writer is this file's own (stdlib + numpy), independent of
the C++ reader it is used to test.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

ARCHS = {
    "llama": ("LlamaForCausalLM", "llama"),
    "mistral": ("MistralForCausalLM", "mistral"),
    "qwen2": ("Qwen2ForCausalLM", "qwen2"),
}

DTYPES = {"f32": "F32", "bf16": "BF16", "f16": "F16"}
ITEM_BYTES = {"F32": 4, "BF16": 2, "F16": 2}


def to_bytes(array, dtype):
    """Little-endian bytes of a float32 array stored as `dtype`."""
    a = np.ascontiguousarray(array, dtype="<f4")
    if dtype == "F32":
        return a.tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    # bfloat16: the high half of the float32 bits, rounded to nearest even.
    bits = a.view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2").tobytes()


def tensor_shapes(args):
    """(name, shape) of every tensor, in Hugging Face's order."""
    d, hd = args.hidden, args.head_dim
    q, kv = args.heads * hd, args.kv_heads * hd
    qkv_bias = args.arch == "qwen2" or args.attention_bias
    o_bias = args.arch == "llama" and args.attention_bias
    out = [("model.embed_tokens.weight", [args.vocab, d])]
    for i in range(args.layers):
        p = f"model.layers.{i}."
        out.append((p + "input_layernorm.weight", [d]))
        out.append((p + "self_attn.q_proj.weight", [q, d]))
        out.append((p + "self_attn.k_proj.weight", [kv, d]))
        out.append((p + "self_attn.v_proj.weight", [kv, d]))
        if qkv_bias:
            out.append((p + "self_attn.q_proj.bias", [q]))
            out.append((p + "self_attn.k_proj.bias", [kv]))
            out.append((p + "self_attn.v_proj.bias", [kv]))
        out.append((p + "self_attn.o_proj.weight", [d, q]))
        if o_bias:
            out.append((p + "self_attn.o_proj.bias", [d]))
        out.append((p + "post_attention_layernorm.weight", [d]))
        out.append((p + "mlp.gate_proj.weight", [args.inter, d]))
        out.append((p + "mlp.up_proj.weight", [args.inter, d]))
        out.append((p + "mlp.down_proj.weight", [d, args.inter]))
    out.append(("model.norm.weight", [d]))
    if not args.tied:
        out.append(("lm_head.weight", [args.vocab, d]))
    return out


def write_safetensors(path, tensors, dtype, rng, sparse):
    """tensors: list of (name, shape). Data is random unless sparse."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        nbytes = int(np.prod(shape, dtype=np.int64)) * ITEM_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        if sparse:
            f.truncate(8 + len(text) + offset)
            return offset
        for name, shape in tensors:
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                values = 1.0 + 0.1 * rng.standard_normal(shape)
            else:
                values = rng.standard_normal(shape) / np.sqrt(shape[-1])
            f.write(to_bytes(values, dtype))
    return offset


def make_config(args):
    architecture, model_type = ARCHS[args.arch]
    config = {
        "architectures": [args.arch_name or architecture],
        "model_type": model_type,
        "hidden_size": args.hidden,
        "intermediate_size": args.inter,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "num_hidden_layers": args.layers,
        "vocab_size": args.vocab,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "max_position_embeddings": 2048,
        "tie_word_embeddings": args.tied,
        "torch_dtype": {"f32": "float32", "bf16": "bfloat16",
                        "f16": "float16"}[args.dtype],
        "rope_scaling": None,
    }
    if args.head_dim != args.hidden // args.heads:
        config["head_dim"] = args.head_dim
    if args.arch == "llama":
        config["attention_bias"] = args.attention_bias
        config["mlp_bias"] = False
    if args.arch == "mistral":
        config["sliding_window"] = 4096 if args.sliding_window else None
    if args.arch == "qwen2":
        config["use_sliding_window"] = bool(args.sliding_window)
        config["sliding_window"] = 4096
        config["max_window_layers"] = args.layers
    if args.rope_scaling:
        config["rope_scaling"] = {"rope_type": "linear", "factor": 2.0}
    for item in args.set:
        key, _, value = item.partition("=")
        config[key] = json.loads(value)
    for key in args.unset:
        config.pop(key, None)
    return config


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--arch", choices=sorted(ARCHS), default="llama")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int)
    p.add_argument("--head-dim", type=int)
    p.add_argument("--inter", type=int, default=96)
    p.add_argument("--vocab", type=int, default=80)
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    p.add_argument("--tied", action="store_true")
    p.add_argument("--attention-bias", action="store_true")
    p.add_argument("--shards", type=int, default=0)
    p.add_argument("--sparse", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--drop-tensor", action="append", default=[])
    p.add_argument("--bad-shape", action="append", default=[])
    p.add_argument("--bad-json", action="store_true")
    p.add_argument("--arch-name")
    p.add_argument("--rope-scaling", action="store_true")
    p.add_argument("--sliding-window", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--unset", action="append", default=[], metavar="KEY")
    args = p.parse_args()
    if args.kv_heads is None:
        args.kv_heads = max(1, args.heads // 2)
    if args.head_dim is None:
        args.head_dim = args.hidden // args.heads
    if args.sliding_window and args.arch == "llama":
        p.error("--sliding-window needs --arch mistral or qwen2")

    os.makedirs(args.out, exist_ok=True)
    config = make_config(args)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        if args.bad_json:
            f.write('{"architectures": ["LlamaForCausalLM"],}\n')
        else:
            json.dump(config, f, indent=2)
            f.write("\n")

    tensors = tensor_shapes(args)
    known = {name for name, _ in tensors}
    for name in args.drop_tensor + args.bad_shape:
        if name not in known:
            p.error(f"no tensor {name!r} in this checkpoint")
    tensors = [(n, ([s[0] + 1] + s[1:]) if n in args.bad_shape else s)
               for n, s in tensors if n not in args.drop_tensor]

    rng = np.random.default_rng(args.seed)
    dtype = DTYPES[args.dtype]
    if args.shards <= 0:
        write_safetensors(os.path.join(args.out, "model.safetensors"),
                          tensors, dtype, rng, args.sparse)
        return
    n = args.shards
    per_shard = -(-len(tensors) // n)
    weight_map, total = {}, 0
    for k in range(n):
        part = tensors[k * per_shard:(k + 1) * per_shard]
        shard = f"model-{k + 1:05d}-of-{n:05d}.safetensors"
        total += write_safetensors(os.path.join(args.out, shard), part, dtype,
                                   rng, args.sparse)
        for name, _ in part:
            weight_map[name] = shard
    with open(os.path.join(args.out, "model.safetensors.index.json"),
              "w") as f:
        # Sorted by tensor name, as transformers writes it.
        json.dump({"metadata": {"total_size": total},
                   "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
