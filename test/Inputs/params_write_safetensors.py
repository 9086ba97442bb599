#!/usr/bin/env python3
"""Write a small, valid .safetensors file (or a sharded index) for lit tests.

    params_write_safetensors.py OUT.safetensors NAME:DTYPE:SHAPE ...
    params_write_safetensors.py --index OUT.index.json NAME=SHARD ...

SHAPE is dims joined by 'x' ("16x8"), or "" for a scalar; DTYPE is a
safetensors dtype (F32, BF16, F16, I64, ...). Tensor data is zeros, laid out
contiguously in argument order; the header is padded with spaces to a
multiple of 8, as writers must. Stdlib only.
"""

import json
import os
import struct
import sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "F16": 2,
         "BF16": 2, "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8,
         "F64": 8}


def write_archive(out, specs):
    header, offset = {}, 0
    for spec in specs:
        name, dtype, shape = spec.rsplit(":", 2)
        dims = [int(d) for d in shape.split("x")] if shape else []
        count = 1
        for d in dims:
            count *= d
        nbytes = count * SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": dims,
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(b"\0" * offset)


def write_index(out, entries):
    weight_map = dict(e.split("=", 1) for e in entries)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)


def main(argv):
    if len(argv) >= 2 and argv[1] == "--index":
        write_index(argv[2], argv[3:])
    elif len(argv) >= 2:
        write_archive(argv[1], argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
