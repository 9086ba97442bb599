"""The workflow of the tools, from Python: import a Hugging Face checkpoint,
calibrate, compress with a named recipe, evaluate bits-per-byte.

``calibrate`` and ``evaluate`` call the same C++ drivers as
``attn-calibrate`` and ``attn-eval`` (Execution/LanguageModel.h), so the
numbers are the tools' numbers.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import os
import re
import shutil
import sys
import tempfile
from typing import List, Optional, Sequence, Union

import numpy as np

from . import _attenuate as _native
from .errors import AttnError
from .ir import Context, Module, PathLike, default_context

__all__ = [
    "import_hf", "calibrate", "evaluate", "Evaluation", "Recipe", "recipe",
    "RECIPES", "is_registered_pass", "set_num_threads", "compress",
    "training_text",
]

DOC_SOURCES = "/usr/share/doc/python3.11/html/_sources"

TextOrTokens = Union[str, bytes, bytearray, "os.PathLike[str]", Sequence[int], np.ndarray]


def import_hf(directory: PathLike, *, context: Optional[Context] = None) -> Module:
    """Imports a Hugging Face checkpoint directory (config.json plus
    model.safetensors, or a sharded model.safetensors.index.json; Llama,
    Mistral, Qwen2) as ``attn-import hf`` does. Weights stay in the
    safetensors files (absolute paths in ``attn.params``).

    Raises :class:`AttnError` naming the file and field at fault.
    """
    context = context or default_context()
    path = os.path.abspath(os.fspath(directory))
    return Module(_native.import_hf(context._native, path), context)


def _token_ids(data: TextOrTokens) -> tuple[np.ndarray, str]:
    """(int64 ids, unit): text (str: UTF-8 bytes; bytes; a path object: the
    file's bytes) scores bytes, an integer sequence scores tokens."""
    if isinstance(data, str):
        return np.frombuffer(data.encode("utf-8"), np.uint8).astype(np.int64), "byte"
    if isinstance(data, (bytes, bytearray)):
        return np.frombuffer(bytes(data), np.uint8).astype(np.int64), "byte"
    if isinstance(data, os.PathLike):
        with open(data, "rb") as f:
            return np.frombuffer(f.read(), np.uint8).astype(np.int64), "byte"
    arr = np.asarray(data)
    if arr.size == 0 and arr.ndim == 1:
        arr = arr.astype(np.int64)  # [] is no tokens, not floats
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError("token ids must be a 1-D integer sequence, got "
                         f"{arr.dtype} array of shape {arr.shape}")
    return arr.astype(np.int64), "token"


def _progress_tool(progress: Optional[bool]) -> str:
    if progress is None:
        progress = sys.stderr.isatty()
    return "attenuate" if progress else ""


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured. ``unit`` is ``"byte"`` for text and
    ``"token"`` for token ids; ``bits`` and ``nats`` are per unit."""

    bits: float
    nats: float
    unit: str
    scored: int
    windows: int
    context: int
    stride: int
    seconds: float

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats)

    @property
    def bits_per_byte(self) -> float:
        """Bits per byte (text input only)."""
        if self.unit != "byte":
            raise ValueError("evaluated token ids, not bytes: use .bits")
        return self.bits

    def __str__(self) -> str:
        return (f"bits-per-{self.unit}: {self.bits:.6f} (perplexity "
                f"{self.perplexity:.4f}; {self.scored} {self.unit}s in "
                f"{self.windows} windows, context {self.context}, stride "
                f"{self.stride}, {self.seconds:.1f} s)")


def evaluate(module: Module, text_or_tokens: TextOrTokens, *,
             context: int = 256, stride: Optional[int] = None, batch: int = 8,
             entry: str = "forward", reference: bool = False,
             progress: Optional[bool] = None) -> Evaluation:
    """Bits per byte (or per token) of a language model, measured by running
    its compiled ``@entry`` on the CPU, as ``attn-eval`` does.

    Every token after the first is scored once from the ones before it, in
    windows of ``context`` tokens every ``stride`` (default context / 2),
    the rule of ``models/eval_torch.py``. Text (``str``, ``bytes`` or a
    ``pathlib.Path``) is scored byte by byte; an integer sequence as token
    ids. ``progress`` prints a line per few windows on stderr (default: when
    stderr is a terminal).

    Raises ValueError for bad options or token ids outside the vocabulary,
    :class:`AttnError` if the module does not compile.
    """
    ids, unit = _token_ids(text_or_tokens)
    if stride is None:
        stride = context // 2
    if context < 2:
        raise ValueError(f"context must be >= 2, got {context}")
    if not 1 <= stride < context:
        raise ValueError(f"stride must be in [1, context - 1], got {stride}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    r = module._native.evaluate(ids.tolist(), entry, reference, int(context),
                                int(stride), int(batch), _progress_tool(progress))
    nats = r["nats"] / r["scored"]
    return Evaluation(bits=nats / math.log(2), nats=nats, unit=unit,
                      scored=r["scored"], windows=r["windows"],
                      context=r["context"], stride=r["stride"],
                      seconds=r["seconds"])


_tmpdir: Optional[str] = None


def _temp_path(stem: str) -> str:
    """A fresh path in a directory removed when the interpreter exits."""
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="attenuate-")
        atexit.register(shutil.rmtree, _tmpdir, True)
    fd, path = tempfile.mkstemp(prefix=stem, suffix=".safetensors", dir=_tmpdir)
    os.close(fd)
    return path


def calibrate(module: Module, text_or_tokens: TextOrTokens, *,
              out: Optional[PathLike] = None, context: int = 256,
              batch: int = 8, max_tokens: int = 0, rp: bool = False,
              kv_samples: int = 4096, entry: str = "forward",
              progress: Optional[bool] = None) -> str:
    """Calibration statistics for the compression passes, as
    ``attn-calibrate`` computes them: runs the instrumented model on
    non-overlapping windows of ``context`` tokens and accumulates, in fp64,
    per layer R_q, R_kv, R_o, R_mlp, R_d (and per-head R_P with
    ``rp=True``, for ``attn-lowrank{ov-stat=rp}``), cross-layer attention
    similarity and ``kv_samples`` KV samples.

    Writes a safetensors file to ``out`` (default: a temporary file removed
    at exit) and returns its path, for a pass's ``stats=`` option::

        stats = attenuate.calibrate(m, text, max_tokens=4096)
        m.apply(f"attn-lowrank{{stats={stats} param-ratio=0.2}}")
    """
    ids, _ = _token_ids(text_or_tokens)
    if context < 2 or batch < 1:
        raise ValueError(f"context must be >= 2 and batch >= 1, got "
                         f"context={context}, batch={batch}")
    usable = min(len(ids), max_tokens) if max_tokens > 0 else len(ids)
    if usable < context:
        raise ValueError(f"need at least context={context} calibration tokens, "
                         f"got {usable}")
    path = os.path.abspath(os.fspath(out)) if out is not None else _temp_path("stats-")
    module._native.calibrate(ids.tolist(), path, entry, int(context), int(batch),
                             int(max_tokens), bool(rp), int(kv_samples),
                             _progress_tool(progress))
    return path


def is_registered_pass(name: str) -> bool:
    """Whether this build has a pass (or pass pipeline) called ``name``."""
    return bool(_native.is_registered_pass(name))


def set_num_threads(n: int) -> None:
    """Threads of the runtime kernels (0: all cores), as ``--num-threads``."""
    _native.set_num_threads(int(n))


def training_text(max_bytes: int, data_dir: str = DOC_SOURCES,
                  val_every: int = 20) -> bytes:
    """The first ``max_bytes`` of the shipped model's training stream, for
    calibration: the .rst.txt files of Debian's python3.11-doc sorted by
    path, every ``val_every``-th held out for validation (the split of
    models/train_bytellama.py, so this never overlaps val.txt)."""
    files = []
    for root, _, names in os.walk(data_dir):
        for n in names:
            if n.endswith(".rst.txt"):
                files.append(os.path.relpath(os.path.join(root, n), data_dir))
    files.sort()
    if not files:
        raise FileNotFoundError(
            f"no *.rst.txt under {data_dir} (is python3.11-doc installed?)")
    out = bytearray()
    for i, rel in enumerate(files):
        if i % val_every == val_every - 1:
            continue
        with open(os.path.join(data_dir, rel), "rb") as f:
            out += f.read()
        if len(out) >= max_bytes:
            break
    return bytes(out[:max_bytes])


# -- recipes ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named compression: a pass pipeline, with ``{stats}`` standing for
    the calibration statistics when ``needs_stats`` (and ``rp`` when they
    must include per-head R_P)."""

    name: str
    pipeline: str
    needs_stats: bool
    rp: bool = False
    description: str = ""

    def passes(self) -> List[str]:
        """The pass names the pipeline uses."""
        return [re.match(r"\s*([\w.-]+)", p).group(1)
                for p in _split_pipeline(self.pipeline)]


def _split_pipeline(pipeline: str) -> List[str]:
    """Top-level comma-separated elements (commas inside {} or () kept)."""
    parts, depth, cur = [], 0, ""
    for ch in pipeline:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


RECIPES = {
    "none": "no compression (the imported model)",
    "a3-<P>": "A3 analytical low-rank (attn-lowrank method=a3) removing P% of "
              "the attention+MLP parameters, e.g. a3-20",
    "a3rp-<P>": "A3 with the exact OV statistic R_P (ov-stat=rp)",
    "svd-<P>": "truncated-SVD baseline (attn-lowrank method=svd)",
    "wsvd-<P>": "whitened-SVD baseline (attn-lowrank method=whitened-svd)",
    "mla-<R>": "MLA upcycling (attn-mla-upcycle, X-EcoMLA): a latent KV cache "
               "of R values per token and layer, e.g. mla-32",
    "sa-<N>": "Shared Attention: the N layers whose attention is most similar "
              "to the previous layer's reuse it (attn-share-attention)",
    "A+B": "recipes applied in order, e.g. a3-20+sa-2 (low-rank passes "
           "refuse layers that already share attention, so sa comes last)",
}


def recipe(name: str) -> Recipe:
    """The :class:`Recipe` named ``name`` (see ``RECIPES``): ``none``,
    ``a3-20``, ``a3rp-20``, ``svd-20``, ``wsvd-20``, ``mla-32``, ``sa-2``, or several
    joined with ``+``. ValueError for an unknown name."""
    parts = [p.strip() for p in name.split("+")]
    pipelines, needs, rp = [], False, False
    for p in parts:
        m = re.fullmatch(r"(a3|a3rp|svd|wsvd)-(\d+(?:\.\d+)?)", p)
        if m:
            ratio = float(m.group(2)) / 100
            if not 0 <= ratio < 1:
                raise ValueError(f"recipe {p}: the percentage must be in [0, 100)")
            method = {"a3": "a3", "a3rp": "a3", "svd": "svd",
                      "wsvd": "whitened-svd"}[m.group(1)]
            opts = f"method={method} param-ratio={ratio:g}"
            if method != "svd":
                opts = "stats={stats} " + opts
                needs = True
            if m.group(1) == "a3rp":
                opts += " ov-stat=rp"
                rp = True
            pipelines.append(f"attn-lowrank{{{opts}}}")
            continue
        m = re.fullmatch(r"mla-(\d+)", p)
        if m:
            pipelines.append(f"attn-mla-upcycle{{kv-rank={int(m.group(1))}}}")
            continue
        m = re.fullmatch(r"sa-(\d+)", p)
        if m:
            pipelines.append("attn-share-attention{stats={stats} "
                             f"max-shared-layers={int(m.group(1))}}}")
            needs = True
            continue
        if p == "none":
            continue
        known = "; ".join(f"{k}: {v}" for k, v in RECIPES.items())
        raise ValueError(f"unknown recipe '{p}' (known: {known})")
    return Recipe(name=name, pipeline=",".join(pipelines), needs_stats=needs,
                  rp=rp, description=" then ".join(parts))


def compress(module: Module, recipe_name: str, *, stats: Optional[str] = None,
             calibration: Optional[TextOrTokens] = None,
             calibration_tokens: int = 8192, progress: Optional[bool] = None
             ) -> Module:
    """A compressed copy of ``module`` by a named :func:`recipe`.
    Recipes that need statistics use ``stats`` (a file from
    :func:`calibrate`) or calibrate on ``calibration`` (at most
    ``calibration_tokens`` of it). Raises :class:`AttnError` naming the
    missing pass if this build lacks one."""
    r = recipe(recipe_name)
    out = module.clone()
    if not r.pipeline:
        return out
    for p in r.passes():
        if not is_registered_pass(p):
            raise AttnError(f"recipe '{recipe_name}' needs the pass '{p}', which "
                            "this build of Attenuate does not have")
    if r.needs_stats and stats is None:
        if calibration is None:
            raise ValueError(f"recipe '{recipe_name}' needs calibration "
                             "statistics: pass stats= or calibration=")
        stats = calibrate(module, calibration, max_tokens=calibration_tokens,
                          rp=r.rp, progress=progress)
    out.apply(r.pipeline.replace("{stats}", str(stats)))
    return out
