"""Reader and writer for the safetensors format, with only the stdlib and numpy.

Format: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (the header),
then the byte buffer. The header maps tensor names to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the buffer)
and may hold a "__metadata__" map of str -> str.

The reader validates what a corrupt or truncated file would break (header size,
JSON shape, dtype names, offsets in bounds, sizes matching shapes, no overlap, no
holes) so callers get a clear error instead of garbage weights.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from typing import Dict, Iterable, Mapping, Optional, Tuple

import numpy as np

__all__ = ["load_file", "save_file", "read_header", "SafetensorsError", "DTYPES"]

# safetensors dtype name -> numpy dtype (explicitly little-endian, as the format is).
# BF16 has no numpy dtype: it is read as raw uint16 and widened to float32 by load_file.
DTYPES: Dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

_NP_TO_ST = {
    np.dtype("f8"): "F64",
    np.dtype("f4"): "F32",
    np.dtype("f2"): "F16",
    np.dtype("i8"): "I64",
    np.dtype("i4"): "I32",
    np.dtype("i2"): "I16",
    np.dtype("i1"): "I8",
    np.dtype("u8"): "U64",
    np.dtype("u4"): "U32",
    np.dtype("u2"): "U16",
    np.dtype("u1"): "U8",
    np.dtype("?"): "BOOL",
}

# Upstream refuses headers above 100 MB; a larger value means a corrupt length field.
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _parse_header(raw: bytes, buffer_len: int, path: str) -> Tuple[dict, Dict[str, dict]]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SafetensorsError(f"{path}: __metadata__ must map str to str")

    spans = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise SafetensorsError(f"{path}: entry '{name}' is not an object")
        dtype = info.get("dtype")
        shape = info.get("shape")
        offs = info.get("data_offsets")
        if dtype not in DTYPES:
            raise SafetensorsError(f"{path}: tensor '{name}' has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise SafetensorsError(f"{path}: tensor '{name}' has invalid shape {shape!r}")
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
        ):
            raise SafetensorsError(f"{path}: tensor '{name}' has invalid data_offsets {offs!r}")
        begin, end = offs
        if not 0 <= begin <= end <= buffer_len:
            raise SafetensorsError(
                f"{path}: tensor '{name}' offsets [{begin}, {end}] outside buffer of {buffer_len} bytes"
            )
        nbytes = int(np.prod(shape, dtype=np.int64)) * DTYPES[dtype].itemsize
        if end - begin != nbytes:
            raise SafetensorsError(
                f"{path}: tensor '{name}' {dtype}{shape} needs {nbytes} bytes, offsets give {end - begin}"
            )
        spans.append((begin, end, name))

    # Upstream requires the tensors to tile the buffer exactly; a gap or overlap means
    # the writer and the header disagree.
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            kind = "overlaps the previous tensor" if begin < pos else f"leaves a hole at byte {pos}"
            raise SafetensorsError(f"{path}: tensor '{name}' {kind}")
        pos = end
    if pos != buffer_len:
        raise SafetensorsError(
            f"{path}: tensors cover {pos} bytes but the buffer holds {buffer_len}"
        )
    return metadata, header


def _read_prefix(f, path: str, file_size: int) -> Tuple[int, bytes]:
    if file_size < 8:
        raise SafetensorsError(f"{path}: file too small ({file_size} bytes) for a safetensors header")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > _MAX_HEADER or n > file_size - 8:
        raise SafetensorsError(f"{path}: header length {n} exceeds file size or limit")
    raw = f.read(n)
    if not raw.lstrip().startswith(b"{"):
        raise SafetensorsError(f"{path}: header does not start with '{{'")
    return n, raw


def read_header(path: str) -> Tuple[dict, Dict[str, dict]]:
    """Returns (metadata, {name: {"dtype", "shape", "data_offsets"}}) without reading data."""
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        n, raw = _read_prefix(f, path, size)
    return _parse_header(raw, size - 8 - n, path)


def _bf16_to_f32(u16: np.ndarray) -> np.ndarray:
    return (u16.astype(np.uint32) << 16).view(np.float32)


def load_file(
    path: str, names: Optional[Iterable[str]] = None, use_mmap: bool = True
) -> Dict[str, np.ndarray]:
    """Loads tensors (all, or the given names) as numpy arrays.

    With use_mmap the arrays are read-only views of the mapped file (cheap for large
    checkpoints; copy before writing). BF16 tensors are widened to float32 because
    numpy has no bfloat16.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        n, raw = _read_prefix(f, path, size)
        _, header = _parse_header(raw, size - 8 - n, path)
        base = 8 + n
        if use_mmap and size > 0:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            f.seek(0)
            buf = f.read()
    wanted = header.keys() if names is None else list(names)
    out: Dict[str, np.ndarray] = {}
    for name in wanted:
        if name not in header:
            raise KeyError(f"{path}: no tensor named '{name}'")
        info = header[name]
        dt = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = (end - begin) // dt.itemsize
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=base + begin).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = _bf16_to_f32(arr)
        out[name] = arr
    return out


def save_file(
    tensors: Mapping[str, np.ndarray], path: str, metadata: Optional[Mapping[str, str]] = None
) -> None:
    """Writes tensors (name -> numpy array) to path, in sorted-name order."""
    path = os.fspath(path)
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    arrays = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is reserved and cannot name a tensor")
        a = np.asarray(tensors[name])
        key = a.dtype.newbyteorder("=") if a.dtype.byteorder not in ("=", "|") else a.dtype
        st = _NP_TO_ST.get(np.dtype(key))
        if st is None:
            raise SafetensorsError(f"tensor '{name}': dtype {a.dtype} has no safetensors equivalent")
        a = np.ascontiguousarray(a, dtype=DTYPES[st])
        header[name] = {"dtype": st, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad with spaces so the buffer starts 8-byte aligned, which lets readers map
    # the file and view F64/I64 tensors in place.
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for a in arrays:
            f.write(a.tobytes(order="C"))
    os.replace(tmp, path)
