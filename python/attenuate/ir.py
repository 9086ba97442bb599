"""Modules of attn IR from Python: parse, print, verify, transform, inspect,
run.

Everything here calls the C++ API through the native module
``attenuate._attenuate``: the parser, the pass registry and pass manager of
``attn-opt``, the parameter store of the tools, and the JIT of ``attn-run``.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _attenuate as _native
from .errors import AttnError, Diagnostic

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["Context", "Module", "Params", "default_context"]


class Context:
    """An MLIR context with every upstream dialect and pass plus Attenuate's
    (the registry of ``attn-opt``).

    Parameters created by passes or replaced from Python live in the
    context's parameter store, one store per list of archives: two modules
    of one context that read the same archives see the same parameters
    (as passes of one ``attn-opt`` run do). Use separate contexts for
    independent copies.

    ``archives``, when given, replaces the archives every module lists
    (``attn-opt --attn-params=a.safetensors,b.safetensors``).
    """

    def __init__(self, archives: Optional[Sequence[PathLike]] = None) -> None:
        self._native = _native.Context([os.fspath(a) for a in (archives or [])])

    def __repr__(self) -> str:
        return f"<attenuate.Context at {id(self):#x}>"


_default: Optional[Context] = None
_default_lock = threading.Lock()


def default_context() -> Context:
    """The context modules use when none is given (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Context()
        return _default


# numpy dtype names of the element types; bfloat16 has no numpy dtype and
# is exchanged as float32 (converted with round-to-nearest-even).
_INT_PAIRS = {
    "int8": "uint8", "uint8": "int8", "int16": "uint16", "uint16": "int16",
    "int32": "uint32", "uint32": "int32", "int64": "uint64", "uint64": "int64",
}


def _numpy_dtype(name: str) -> np.dtype:
    return np.dtype("float32" if name == "bfloat16" else name)


def _describe(dtype: str, shape: Sequence[Optional[int]]) -> str:
    dims = ", ".join("?" if d is None or d < 0 else str(d) for d in shape)
    return f"{dtype}[{dims}]"


def _check_array(what: str, value: object, dtype: str,
                 shape: Sequence[Optional[int]], *, signless: bool) -> np.ndarray:
    """``value`` as a C-contiguous native-endian array of ``dtype`` and
    ``shape`` (None or negative: any size), or ValueError saying what was
    expected. numpy arrays must already have the dtype (no silent casts);
    Python scalars and lists are converted."""
    want = _numpy_dtype(dtype)
    if isinstance(value, np.ndarray):
        arr = value
        # Byte order is storage, not type: a big-endian float32 is converted.
        have = arr.dtype.newbyteorder("=")
        ok = have == want
        # MLIR integers are signless: either signedness of the width works.
        if not ok and signless and have.name in _INT_PAIRS:
            ok = _INT_PAIRS[have.name] == want.name
        if not ok:
            raise ValueError(
                f"{what} is {_describe(dtype, shape)} but the array has dtype "
                f"{have} (convert it with .astype(np.{want.name}))")
    else:
        try:
            arr = np.asarray(value, dtype=want)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{what} is {_describe(dtype, shape)}; cannot "
                             f"convert {type(value).__name__}: {e}") from None
    if arr.ndim != len(shape) or any(
            d is not None and d >= 0 and d != n for d, n in zip(shape, arr.shape)):
        raise ValueError(f"{what} is {_describe(dtype, shape)} but the array "
                         f"has shape {tuple(arr.shape)}")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


class Params(Mapping[str, np.ndarray]):
    """The parameters of a module (its ``attn.param`` ops), as numpy arrays.

    Reading gives a copy of the stored tensor (bfloat16 as float32).
    Assigning replaces the tensor in the context's store (see
    :class:`Context`) for every later ``run``, ``evaluate``, ``calibrate``
    and pass; the array must have the dtype and shape the IR declares::

        w = m.params["model.layers.0.self_attn.q_proj.weight"]
        m.params["model.layers.0.self_attn.q_proj.weight"] = w * 0.5

    ``save(path)`` writes them to a safetensors file.
    """

    def __init__(self, module: "Module") -> None:
        self._module = module

    def _specs(self) -> Dict[str, Tuple[str, Tuple[int, ...]]]:
        return {name: (dtype, tuple(shape))
                for name, dtype, shape in self._module._native.param_specs()}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._specs():
            raise KeyError(f"the module has no attn.param \"{name}\"")
        return self._module._native.read_param(name)

    def __setitem__(self, name: str, value: object) -> None:
        specs = self._specs()
        if name not in specs:
            raise KeyError(f"the module has no attn.param \"{name}\"; "
                           "parameters are declared by the IR")
        dtype, shape = specs[name]
        arr = _check_array(f"parameter \"{name}\"", value, dtype, shape,
                           signless=False)
        self._module._native.set_param(name, dtype, arr)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs())

    def __len__(self) -> int:
        return len(self._specs())

    def __contains__(self, name: object) -> bool:
        return name in self._specs()

    def spec(self, name: str) -> Tuple[str, Tuple[int, ...]]:
        """(numpy dtype name, shape) that the IR declares for ``name``."""
        specs = self._specs()
        if name not in specs:
            raise KeyError(f"the module has no attn.param \"{name}\"")
        return specs[name]

    def in_memory(self) -> List[str]:
        """Names whose tensors exist only in memory: created by a pass (e.g.
        attn-lowrank's ``*.a3``) or replaced from Python."""
        return list(self._module._native.in_memory_params())

    def save(self, path: PathLike, names: Optional[Sequence[str]] = None) -> None:
        """Writes the named parameters (default: all of the module's) to one
        safetensors file, atomically."""
        names = list(names) if names is not None else []
        specs = self._specs()
        for n in names:
            if n not in specs:
                raise KeyError(f"the module has no attn.param \"{n}\"")
        self._module._native.save_params(os.fspath(path), names)

    def __repr__(self) -> str:
        return f"<attenuate.Params: {len(self)} parameters>"


class Module:
    """A module of attn IR (a ``builtin.module``), owned by a :class:`Context`.

    Create one with :meth:`Module.parse`, :meth:`Module.load` or
    :func:`attenuate.import_hf`. ``str(m)`` is its textual IR, as
    ``attn-opt`` prints it. Methods that change the IR (``apply``) change
    this object in place and leave it unchanged when they fail.

    Long calls (``apply``, ``run``, evaluation) release the GIL. Different
    modules may be used from different threads; one module must not be
    used by two threads at once.
    """

    def __init__(self, native: object, context: Context) -> None:
        # Use Module.parse / Module.load / attenuate.import_hf.
        self._native = native
        self.context = context

    # -- creation ---------------------------------------------------------

    @classmethod
    def parse(cls, text: Union[str, bytes], *, context: Optional[Context] = None,
              filename: str = "<string>") -> "Module":
        """Parses textual IR. ``filename`` names the text in diagnostics and,
        when it is a path, is the directory that relative ``attn.params``
        archive paths resolve against.

        Raises :class:`AttnError` with the parser's diagnostics (location and
        the offending line) when the text is not a valid module.
        """
        context = context or default_context()
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return cls(_native.Module.parse(context._native, data, filename), context)

    @classmethod
    def load(cls, path: PathLike, *, context: Optional[Context] = None) -> "Module":
        """Parses the file at ``path`` (relative archive paths resolve against
        its directory, as in the tools). OSError if it cannot be read,
        :class:`AttnError` if it is not MLIR."""
        path = os.path.abspath(os.fspath(path))
        with open(path, "rb") as f:
            data = f.read()
        return cls.parse(data, context=context, filename=path)

    def clone(self) -> "Module":
        """A copy of the IR in the same context (parameters are shared through
        the context's store, see :class:`Context`)."""
        return Module(self._native.clone(), self.context)

    # -- text -------------------------------------------------------------

    def print(self, *, generic: bool = False, debug_info: bool = False) -> str:
        """The IR as text: the custom assembly form (``generic=True``: the
        generic form; ``debug_info=True``: with locations)."""
        return self._native.print(generic, debug_info)

    def __str__(self) -> str:
        return self._native.print(False, False)

    def __repr__(self) -> str:
        fns = ", ".join("@" + f for f in self.functions)
        return f"<attenuate.Module ({fns or 'no functions'})>"

    def save(self, path: PathLike, *, params: Optional[PathLike] = None) -> None:
        """Writes the IR to ``path``.

        Tensors that exist only in memory (made by passes, or replaced from
        Python) must go to a parameter file for the saved module to run:
        with ``params="new.safetensors"`` they are written there and the
        file is recorded first in the module's ``attn.params`` (relative to
        ``path``'s directory), as ``attn-opt --attn-params-out`` does. If a
        replaced tensor shadows one in the original archives, every
        parameter of the module is written and that file becomes the only
        archive. Without ``params`` such tensors are an :class:`AttnError`.
        """
        path = os.path.abspath(os.fspath(path))
        if params is not None:
            self._native.write_params(os.path.abspath(os.fspath(params)), path)
        else:
            missing = self._native.in_memory_params()
            if missing:
                raise AttnError(
                    f"the module uses {len(missing)} parameters that exist "
                    f"only in memory (e.g. \"{missing[0]}\"); pass "
                    "params='file.safetensors' to write them")
            self._native.relocate(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(str(self))
        os.replace(tmp, path)

    # -- checks and transformations ----------------------------------------

    def verify(self) -> None:
        """Runs the verifiers of every op; :class:`AttnError` naming the op
        and the broken rule on failure."""
        self._native.verify()

    def apply(self, pipeline: str) -> List[Diagnostic]:
        """Runs a pass pipeline on the module, in place.

        ``pipeline`` is MLIR's textual pipeline, as after
        ``attn-opt --pass-pipeline=``, with or without the
        ``builtin.module(...)`` anchor: passes separated by commas, options
        in braces, nested pass managers by op name::

            m.apply("attn-share-attention{spans=5-6}")
            m.apply("attn-lowrank{stats=s.safetensors method=a3 param-ratio=0.2}")
            m.apply("canonicalize,func.func(cse)")

        Any registered pass works (every upstream MLIR pass and Attenuate's;
        see ``attn-opt --help``). The IR is verified after each pass. New
        weights that passes create stay in memory (see :meth:`save`).

        Returns the remarks and warnings the passes emitted (e.g. the ranks
        attn-lowrank chose). Raises :class:`AttnError` if the pipeline does
        not parse (unknown pass, unknown or malformed option) or a pass
        fails; the module is then unchanged.
        """
        if not isinstance(pipeline, str):
            raise TypeError("pipeline must be a str")
        return list(self._native.apply(pipeline))

    def report(self, *, seq_len: int = 1024, label: str = "") -> dict:
        """``attn-report`` as a dict (its JSON form): per function, per layer
        ``param_bytes``, ``kv_bytes_per_token``, ``prefill_flops_per_token``,
        ``decode_flops_per_token``, ``attention_ops``, plus ``other`` and
        ``total`` rows. ``seq_len`` is the context length S in the FLOPs
        formulas."""
        import json
        return json.loads(self._native.report(int(seq_len), label, "json"))

    def report_text(self, *, seq_len: int = 1024, label: str = "") -> str:
        """``attn-report`` as the table ``attn-opt --attn-report`` prints."""
        return self._native.report(int(seq_len), label, "text")

    # -- contents ---------------------------------------------------------

    @property
    def functions(self) -> List[str]:
        """Names of the functions defined in the module."""
        return list(self._native.functions())

    @property
    def archives(self) -> List[str]:
        """Parameter archives the module reads (``attn.params`` resolved, or
        the context's override)."""
        return list(self._native.archives())

    @property
    def params(self) -> Params:
        """The module's parameters as numpy arrays (see :class:`Params`)."""
        return Params(self)

    # -- execution --------------------------------------------------------

    def signature(self, entry: str = "forward", *, reference: bool = False
                  ) -> Tuple[List[Tuple[str, Tuple[Optional[int], ...]]],
                             List[Tuple[str, Tuple[Optional[int], ...]]]]:
        """(inputs, results) of ``entry`` as the JIT sees them: (numpy dtype
        name, shape with None for dynamic dims) each. Parameters are not
        inputs: they are bound from the module's store."""
        ins, outs, _ = self._native.signature(entry, reference)
        return ([(d, tuple(s)) for d, s, _ in ins],
                [(d, tuple(s)) for d, s, _ in outs])

    def run(self, entry: str, *inputs: object, reference: bool = False
            ) -> Tuple[np.ndarray, ...]:
        """Calls function ``entry`` on the CPU through the JIT of ``attn-run``
        (the module is lowered with attn-lower-to-cpu and compiled once,
        until it changes) and returns its results as numpy arrays.

        ``inputs`` bind in order to the function's non-parameter arguments;
        parameters come from the module's archives and in-memory tensors.
        numpy arrays must have the declared dtype (integers of either
        signedness) and a matching shape, or ValueError says which input is
        wrong; lists and scalars are converted. ``reference=True`` runs the
        linalg reference lowering instead of the runtime kernels. Runtime
        failures (e.g. a KV-cache write out of bounds) raise
        :class:`AttnError`.
        """
        ins, _, _ = self._native.signature(entry, reference)
        if len(inputs) != len(ins):
            want = ", ".join(_describe(d, s) for d, s, _ in ins)
            raise ValueError(f"@{entry} takes {len(ins)} inputs ({want}), "
                             f"got {len(inputs)}")
        arrays = [_check_array(f"input {i} of @{entry}", v, d,
                               [(-1 if x is None else x) for x in s],
                               signless=True)
                  for i, (v, (d, s, _)) in enumerate(zip(inputs, ins))]
        return tuple(self._native.run(entry, reference, arrays))
