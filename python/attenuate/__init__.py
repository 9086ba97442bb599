"""Attenuate: an MLIR compiler that compresses transformer attention (Python side).

The bindings (pybind11 over the C++ API; built by CMake into
``build/python_packages/attenuate``)::

    import attenuate
    m = attenuate.import_hf("models/bytellama")
    print(m.report_text(seq_len=256))
    stats = attenuate.calibrate(m, open("calib.txt").read(), max_tokens=4096)
    m.apply(f"attn-lowrank{{stats={stats} method=a3 param-ratio=0.2}}")
    print(attenuate.evaluate(m, open("models/bytellama/val.txt").read()))

Context, Module, Params, AttnError, Diagnostic, import_hf, calibrate,
evaluate, compress, recipe: see their docstrings, and docs/python.md.

The pure-Python modules (``safetensors_io``, ``reference``, ``torch_llama``)
need only numpy (and torch) and import without the native extension, so
they also work from the source tree (``PYTHONPATH=python``).
"""

from __future__ import annotations

import glob
import os
from typing import Any

from .errors import AttnError, Diagnostic


def _use_build_tree_extension() -> None:
    # Imported from the source tree (python/ on sys.path, as the lit tests
    # and test/python/test_reference.py do), the package has no extension
    # beside it; the one CMake built for this tree is then used, so both
    # ways of importing give the same package.
    here = os.path.dirname(os.path.abspath(__file__))
    if glob.glob(os.path.join(here, "_attenuate*.so")):
        return
    candidates = [os.path.join(here, "..", "..", "build", "python_packages", "attenuate")]
    if os.environ.get("ATTN_BUILD_DIR"):
        candidates.insert(0, os.path.join(os.environ["ATTN_BUILD_DIR"],
                                          "python_packages", "attenuate"))
    for c in candidates:
        if glob.glob(os.path.join(c, "_attenuate*.so")):
            __path__.append(os.path.normpath(c))
            return


_use_build_tree_extension()

__version__ = "0.1.0"

# The names that need the native extension, and the module defining each.
_NATIVE_API = {
    "Context": "ir", "Module": "ir", "Params": "ir", "default_context": "ir",
    "import_hf": "workflow", "calibrate": "workflow", "evaluate": "workflow",
    "compress": "workflow", "recipe": "workflow", "Recipe": "workflow",
    "RECIPES": "workflow", "Evaluation": "workflow",
    "is_registered_pass": "workflow", "set_num_threads": "workflow",
    "training_text": "workflow",
}

__all__ = ["AttnError", "Diagnostic", *_NATIVE_API]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `from attenuate import reference` works
    # where the extension is not built (the lit tests put the source tree on
    # PYTHONPATH).
    if name not in _NATIVE_API:
        raise AttributeError(f"module 'attenuate' has no attribute '{name}'")
    import importlib
    try:
        mod = importlib.import_module(f".{_NATIVE_API[name]}", __name__)
    except ImportError as e:
        if "_attenuate" not in str(e):
            raise
        raise ImportError(
            f"attenuate.{name} needs the native extension _attenuate, which "
            f"is not next to {__file__}. Build it (ninja -C build "
            "attenuate-python) and put build/python_packages on PYTHONPATH "
            "(see README.md, 'Python package').") from e
    value = getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(list(globals()) + list(_NATIVE_API))
