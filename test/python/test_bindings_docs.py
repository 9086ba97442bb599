"""docs/python.md is executed: every ```python block, in order, in one
namespace, from the repository root, so the example cannot rot. Then the
results the page talks about are checked: the compressed models are
smaller, and A3 at 20% stays close to the original's bits-per-byte.
"""

import contextlib
import io
import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(ROOT, "docs", "python.md")

attenuate = pytest.importorskip("attenuate")
try:
    from attenuate import Module  # noqa: F401
except ImportError as e:
    pytest.skip(f"attenuate bindings not built: {e}", allow_module_level=True)


def python_blocks(markdown: str):
    return re.findall(r"^```python\n(.*?)^```", markdown, re.S | re.M)


def test_python_md_runs(monkeypatch):
    blocks = python_blocks(open(DOC).read())
    assert len(blocks) >= 6
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "docs_python_md"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"{DOC}:block{i + 1}", "exec"), namespace)
            except Exception as e:  # name the block that broke
                raise AssertionError(f"docs/python.md block {i + 1} failed: {e!r}\n"
                                     f"{block}") from e
    printed = out.getvalue()
    print(printed)

    assert "attn-report [bytellama]" in printed and "attn-report [A3 20%]" in printed
    assert printed.count("bits-per-byte:") >= 2
    results = namespace["results"]
    original = results["original"][1].bits_per_byte
    a3_model, a3_eval = results["A3 20%"]
    assert 1.0 < original < 3.0
    assert a3_eval.bits_per_byte < original + 0.5
    total = lambda m: m.report(seq_len=256)["functions"][0]["total"]  # noqa: E731
    model = namespace["model"]
    assert total(a3_model)["param_bytes"] < 0.85 * total(model)["param_bytes"]
    if "MLA r=32" in results:
        assert total(results["MLA r=32"][0])["kv_bytes_per_token"] < \
            total(model)["kv_bytes_per_token"] / 2
    # The saved module runs through the tools with no further flags.
    assert sorted(os.listdir(namespace["out"])) == ["bytellama-a3.mlir",
                                                    "bytellama-a3.safetensors"]
    assert "ValueError: parameter" in printed
    assert "option 'stats' is required" in printed
