"""The Python bindings (attenuate.Module, import_hf, evaluate, calibrate)
against the tools they wrap: the same printed IR as attn-opt, the same
numbers as attn-run / attn-eval / attn-calibrate, numpy references for
replaced parameters, and Python exceptions (never an abort) for bad input.

Run by ctest with PYTHONPATH=build/python_packages; skipped when the
extension is not built.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("ATTN_BUILD_DIR", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")

attenuate = pytest.importorskip("attenuate")
try:
    from attenuate import AttnError, Module  # noqa: E402
except ImportError as e:  # the extension is not built
    pytest.skip(f"attenuate bindings not built: {e}", allow_module_level=True)

from attenuate import reference  # noqa: E402


def tool(*args, **kw):
    """Runs build/bin/<tool> and returns its stdout (raises on failure)."""
    r = subprocess.run([os.path.join(BIN, args[0]), *args[1:]],
                       capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random 2-layer GQA Llama (vocab 256, so text is valid input),
    imported to tiny.mlir by attn-import."""
    d = tmp_path_factory.mktemp("tiny")
    subprocess.run([sys.executable, os.path.join(ROOT, "test", "Inputs",
                                                 "make_llama_checkpoint.py"),
                    str(d / "ckpt"), "--layers", "2", "--hidden", "32",
                    "--heads", "4", "--kv-heads", "2", "--inter", "48",
                    "--vocab", "256", "--seed", "3"],
                   check=True, capture_output=True)
    tool("attn-import", "hf", str(d / "ckpt"), "-o", str(d / "tiny.mlir"))
    return d


def lm_inputs(batch=2, seq=7, heads=2, dim=8, layers=2, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 256, (batch, seq)).astype(np.int64)
    positions = np.broadcast_to(np.arange(seq, dtype=np.int64), (batch, seq)).copy()
    caches = [np.zeros((batch, seq, heads, dim), np.float32) for _ in range(2 * layers)]
    return [tokens, positions, *caches]


LINEAR = """
func.func @lin(%x: tensor<?x3xf32>) -> tensor<?x4xf32> {
  %w = attn.param "w" : tensor<4x3xf32>
  %y = attn.linear %x, %w : tensor<?x3xf32>, tensor<4x3xf32> -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}
"""


# -- text -------------------------------------------------------------------

def test_round_trip_parse_print(tiny):
    m = Module.load(tiny / "tiny.mlir")
    text = str(m)
    again = Module.parse(text)
    assert str(again) == text
    # The generic form parses back to the same module.
    assert str(Module.parse(m.print(generic=True))) == text
    assert "func.func @forward" in text and "attn.attention" in text
    assert m.functions == ["forward"]
    assert "loc(" in m.print(debug_info=True)


def test_print_equals_attn_opt(tiny):
    m = Module.load(tiny / "tiny.mlir")
    assert str(m) == tool("attn-opt", str(tiny / "tiny.mlir"))


@pytest.mark.parametrize("pipeline", [
    "attn-share-attention{spans=1-1}",
    "attn-share-attention{spans=1-1},canonicalize,cse",
    "builtin.module(attn-lowrank{method=svd param-ratio=0.3})",
    "func.func(canonicalize)",
])
def test_apply_equals_attn_opt(tiny, pipeline):
    m = Module.load(tiny / "tiny.mlir")
    m.apply(pipeline)
    anchored = pipeline if pipeline.startswith("builtin.module(") else \
        f"builtin.module({pipeline})"
    want = tool("attn-opt", str(tiny / "tiny.mlir"), f"--pass-pipeline={anchored}")
    assert str(m) == want


def test_apply_returns_remarks(tiny):
    m = Module.load(tiny / "tiny.mlir")
    remarks = m.apply("attn-share-attention{spans=1-1}")
    assert any(d.severity == "remark" and "shared layers" in d.message
               for d in remarks), remarks


def test_report_equals_attn_opt(tiny):
    m = Module.load(tiny / "tiny.mlir")
    r = m.report(seq_len=64, label="x")
    out = tiny / "report.json"
    tool("attn-opt", str(tiny / "tiny.mlir"),
         f"--attn-report=format=json seq-len=64 label=x output={out}", "-o", "/dev/null")
    assert r == json.loads(out.read_text())
    fn = r["functions"][0]
    assert fn["function"] == "forward" and len(fn["layers"]) == 2
    assert fn["total"]["kv_bytes_per_token"] == 2 * 2 * 2 * 8 * 4
    assert "attn-report [x]" in m.report_text(seq_len=64, label="x")
    m.apply("attn-share-attention{spans=1-1}")
    # Layer 1 no longer writes a K cache.
    assert m.report(seq_len=64)["functions"][0]["total"]["kv_bytes_per_token"] == 3 * 2 * 8 * 4


# -- execution --------------------------------------------------------------

def test_run_equals_attn_run(tiny):
    m = Module.load(tiny / "tiny.mlir")
    inputs = lm_inputs()
    outputs = m.run("forward", *inputs)
    assert len(outputs) == 5 and outputs[0].shape == (2, 7, 256)
    paths = []
    for i, a in enumerate(inputs):
        paths.append(tiny / f"in{i}.npy")
        np.save(paths[-1], a)
    outs = [tiny / f"out{i}.npy" for i in range(5)]
    tool("attn-run", str(tiny / "tiny.mlir"), *[f"--input={p}" for p in paths],
         *[f"--output={p}" for p in outs])
    for got, path in zip(outputs, outs):
        want = np.load(path)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # The reference lowering agrees too.
    ref = m.run("forward", *inputs, reference=True)
    np.testing.assert_allclose(ref[0], outputs[0], rtol=1e-4, atol=1e-4)


def test_run_matches_numpy_reference(tiny):
    m = Module.load(tiny / "tiny.mlir")
    cfg, params = reference.load_hf(str(tiny / "ckpt"))
    tokens, positions, *caches = lm_inputs(seed=1)
    want, _ = reference.forward(params, cfg, tokens, positions)
    got = m.run("forward", tokens, positions, *caches)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_replaced_params_change_output_as_numpy_says(tiny):
    ctx = attenuate.Context()  # its own store: other tests keep the originals
    m = Module.load(tiny / "tiny.mlir", context=ctx)
    cfg, params = reference.load_hf(str(tiny / "ckpt"))
    name = "model.layers.0.self_attn.q_proj.weight"
    np.testing.assert_array_equal(m.params[name], params[name])
    rng = np.random.default_rng(5)
    new = {name: rng.standard_normal(params[name].shape).astype(np.float32),
           "lm_head.weight": (params["lm_head.weight"] * -2).astype(np.float32)}
    for k, v in new.items():
        m.params[k] = v
    assert sorted(m.params.in_memory()) == sorted(new)
    np.testing.assert_array_equal(m.params[name], new[name])
    tokens, positions, *caches = lm_inputs(seed=2)
    want, _ = reference.forward({**params, **new}, cfg, tokens, positions)
    before, _ = reference.forward(params, cfg, tokens, positions)
    got = m.run("forward", tokens, positions, *caches)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.abs(got - before).max() > 1e-2


def test_params_on_a_module_without_archives():
    m = Module.parse(LINEAR, context=attenuate.Context())
    assert list(m.params) == ["w"]
    assert m.params.spec("w") == ("float32", (4, 3))
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    m.params["w"] = w
    x = np.array([[1, 2, 3], [0.5, -1, 2]], np.float32)
    (y,) = m.run("lin", x)
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-6)
    m.params["w"] = w * 2  # a second replacement is seen by the same JIT
    np.testing.assert_allclose(m.run("lin", x)[0], 2 * (x @ w.T), rtol=1e-6)
    # Lists are converted to the declared dtype.
    np.testing.assert_allclose(m.run("lin", x.tolist())[0], 2 * (x @ w.T), rtol=1e-6)


def test_context_archives_override(tmp_path):
    from attenuate import safetensors_io
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    safetensors_io.save_file({"w": w}, str(tmp_path / "w.safetensors"))
    ctx = attenuate.Context(archives=[tmp_path / "w.safetensors"])
    m = Module.parse(LINEAR, context=ctx)
    assert m.archives == [str(tmp_path / "w.safetensors")]
    np.testing.assert_array_equal(m.params["w"], w)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(m.run("lin", x)[0], x @ w.T)
    # A missing archive is an error naming it, not a crash.
    bad = Module.parse(LINEAR, context=attenuate.Context(archives=[tmp_path / "absent.safetensors"]))
    with pytest.raises(AttnError, match="absent.safetensors"):
        bad.params["w"]


def test_params_save_and_module_save(tiny, tmp_path):
    from attenuate import safetensors_io
    ctx = attenuate.Context()
    m = Module.load(tiny / "tiny.mlir", context=ctx)
    m.params.save(tmp_path / "all.safetensors")
    saved = safetensors_io.load_file(str(tmp_path / "all.safetensors"))
    assert sorted(saved) == sorted(m.params)
    # A pass's new weights go to a parameter file beside the saved module.
    m.apply("attn-lowrank{method=svd param-ratio=0.3}")
    assert m.params.in_memory()
    with pytest.raises(AttnError, match="only in memory"):
        m.save(tmp_path / "no.mlir")
    inputs = lm_inputs(seed=3)
    want = m.run("forward", *inputs)[0]
    (tmp_path / "out").mkdir()
    m.save(tmp_path / "out" / "svd.mlir", params=tmp_path / "out" / "svd.safetensors")
    text = (tmp_path / "out" / "svd.mlir").read_text()
    assert '"svd.safetensors"' in text
    again = Module.load(tmp_path / "out" / "svd.mlir", context=attenuate.Context())
    assert again.params.in_memory() == []
    np.testing.assert_allclose(again.run("forward", *inputs)[0], want, rtol=1e-6, atol=1e-6)
    tool("attn-run", str(tmp_path / "out" / "svd.mlir"),
         *[f"--input={p}" for p in _save_all(tmp_path, inputs)],
         f"--output={tmp_path / 'svd_logits.npy'}")
    np.testing.assert_allclose(np.load(tmp_path / "svd_logits.npy"), want, rtol=1e-6, atol=1e-6)


def test_save_with_replaced_archive_tensor(tiny, tmp_path):
    ctx = attenuate.Context()
    m = Module.load(tiny / "tiny.mlir", context=ctx)
    m.params["model.norm.weight"] = np.full(32, 0.5, np.float32)
    inputs = lm_inputs(seed=4)
    want = m.run("forward", *inputs)[0]
    m.save(tmp_path / "m.mlir", params=tmp_path / "m.safetensors")
    # The replacement shadows the archive's tensor: the new file is the only
    # archive, with every parameter.
    again = Module.load(tmp_path / "m.mlir", context=attenuate.Context())
    assert again.archives == [str(tmp_path / "m.safetensors")]
    np.testing.assert_allclose(again.run("forward", *inputs)[0], want, rtol=1e-6, atol=1e-6)


def _save_all(d, arrays):
    paths = []
    for i, a in enumerate(arrays):
        paths.append(d / f"input{i}.npy")
        np.save(paths[-1], a)
    return paths


def test_evaluate_equals_attn_eval(tiny, tmp_path):
    text = (b"The quick brown fox jumps over the lazy dog. " * 12)[:500]
    (tmp_path / "t.txt").write_bytes(text)
    m = Module.load(tiny / "tiny.mlir")
    ev = attenuate.evaluate(m, text, context=64, stride=32, batch=3)
    tool("attn-eval", str(tiny / "tiny.mlir"), f"--text={tmp_path / 't.txt'}",
         "--context=64", "--stride=32", "--batch=3", f"--json={tmp_path / 'e.json'}")
    want = json.loads((tmp_path / "e.json").read_text())
    assert ev.unit == "byte" and ev.scored == want["scored"] == len(text) - 1
    assert ev.windows == want["windows"]
    assert abs(ev.bits_per_byte - want["bits_per_byte"]) < 1e-9
    # Token ids give the same number per token.
    ev2 = attenuate.evaluate(m, np.frombuffer(text, np.uint8).astype(np.int32),
                             context=64, stride=32)
    assert ev2.unit == "token" and abs(ev2.bits - ev.bits) < 1e-9
    with pytest.raises(ValueError, match="use .bits"):
        ev2.bits_per_byte


def test_calibrate_equals_attn_calibrate(tiny, tmp_path):
    from attenuate import safetensors_io
    rng = np.random.default_rng(9)
    ids = rng.integers(0, 256, 200).astype(np.int64)
    np.save(tmp_path / "ids.npy", ids)
    m = Module.load(tiny / "tiny.mlir")
    path = attenuate.calibrate(m, ids, out=tmp_path / "py.safetensors", context=32,
                               batch=2, kv_samples=16, rp=True)
    assert path == str(tmp_path / "py.safetensors")
    tool("attn-calibrate", str(tiny / "tiny.mlir"), f"--tokens={tmp_path / 'ids.npy'}",
         "--context=32", "--batch=2", "--kv-samples=16", "--rp",
         "-o", str(tmp_path / "tool.safetensors"))
    got = safetensors_io.load_file(path)
    want = safetensors_io.load_file(str(tmp_path / "tool.safetensors"))
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-9, atol=1e-12, err_msg=k)
    # The statistics drive a pass.
    m2 = m.clone()
    m2.apply(f"attn-lowrank{{stats={path} method=a3 param-ratio=0.25}}")
    assert m2.report()["functions"][0]["total"]["param_bytes"] < \
        m.report()["functions"][0]["total"]["param_bytes"]


def test_import_hf_equals_attn_import(tiny):
    m = attenuate.import_hf(tiny / "ckpt")
    want = Module.load(tiny / "tiny.mlir")
    # attn-import records the archive relative to the output file; the
    # Python import records it absolute. Everything else is the same.
    rel = str(want).replace('"ckpt/model.safetensors"',
                            f'"{tiny / "ckpt" / "model.safetensors"}"')
    assert str(m) == rel
    # Diagnostics about the whole module name the checkpoint.
    with pytest.raises(AttnError) as e:
        m.apply("attn-lowrank{method=a3 param-ratio=0.2}")
    assert e.value.errors[0].location == str(tiny / "ckpt")
    with pytest.raises(AttnError, match="nope: no such checkpoint directory"):
        attenuate.import_hf(tiny / "nope")
    (tiny / "broken").mkdir()
    (tiny / "broken" / "config.json").write_text("{not json")
    with pytest.raises(AttnError, match="config.json"):
        attenuate.import_hf(tiny / "broken")


# -- errors -----------------------------------------------------------------

def test_invalid_ir_raises_with_location():
    with pytest.raises(AttnError) as e:
        Module.parse("func.func @f() {\n  %0 = arith.constant 1 : i32\n  return %0 : i32\n}",
                     filename="bad.mlir")
    err = e.value
    assert err.errors and err.errors[0].location.startswith("bad.mlir:3:")
    assert "bad.mlir:3:" in str(err) and "return" in str(err)


def test_verifier_error_names_the_op():
    # Parses, but the op's verifier rejects the result shape.
    bad = LINEAR.replace("tensor<4x3xf32> -> tensor<?x4xf32>",
                         "tensor<4x3xf32> -> tensor<?x5xf32>") \
        .replace("-> tensor<?x4xf32> {", "-> tensor<?x5xf32> {") \
        .replace("return %y : tensor<?x4xf32>", "return %y : tensor<?x5xf32>")
    with pytest.raises(AttnError) as e:
        Module.parse(bad, filename="lin.mlir")
    assert "'attn.linear' op" in str(e.value)
    assert e.value.errors[0].location == "lin.mlir:4:8"


def test_not_mlir_file(tmp_path):
    p = tmp_path / "garbage.mlir"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(AttnError, match=str(p)):
        Module.load(p)
    with pytest.raises(FileNotFoundError):
        Module.load(tmp_path / "absent.mlir")


def test_unknown_pass_and_bad_options(tiny):
    m = Module.load(tiny / "tiny.mlir")
    before = str(m)
    with pytest.raises(AttnError, match="'no-such-pass' does not refer to a registered pass"):
        m.apply("no-such-pass")
    with pytest.raises(AttnError, match="no such option bogus"):
        m.apply("attn-report{bogus=1}")
    with pytest.raises(AttnError, match="'abc' value invalid for long argument"):
        m.apply("attn-report{seq-len=abc}")
    with pytest.raises(AttnError, match="unbalanced parentheses"):
        m.apply("func.func(")
    with pytest.raises(AttnError, match="option 'format' must be 'text' or 'json'"):
        m.apply("attn-report{format=xml}")
    with pytest.raises(AttnError, match="option 'stats' is required"):
        m.apply("attn-lowrank{method=a3 param-ratio=0.2}")
    # A pipeline whose second pass fails leaves the module as it was.
    with pytest.raises(AttnError, match="layer 7"):
        m.apply("attn-share-attention{spans=1-1},attn-share-attention{spans=7-8}")
    assert str(m) == before
    with pytest.raises(TypeError):
        m.apply(42)
    with pytest.raises(ValueError, match="seq_len"):
        m.report(seq_len=0)


def test_bad_parameter_arrays(tiny):
    m = Module.load(tiny / "tiny.mlir", context=attenuate.Context())
    name = "lm_head.weight"
    with pytest.raises(ValueError, match=r"float32\[256, 32\].*shape \(3, 3\)"):
        m.params[name] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"dtype float64.*astype\(np.float32\)"):
        m.params[name] = np.zeros((256, 32), np.float64)
    with pytest.raises(ValueError, match="dtype int32"):
        m.params[name] = np.zeros((256, 32), np.int32)
    with pytest.raises(ValueError, match="cannot convert"):
        m.params[name] = "text"
    with pytest.raises(KeyError, match="no attn.param"):
        m.params["nope"] = np.zeros(3, np.float32)
    with pytest.raises(KeyError):
        m.params["nope"]
    assert m.params.in_memory() == []
    # Non-contiguous and byte-swapped arrays are fine: values count.
    w = np.asfortranarray(np.ones((256, 32), np.float32))
    m.params[name] = w
    m.params[name] = np.ones((256, 32), np.dtype(">f4"))
    np.testing.assert_array_equal(m.params[name], np.ones((256, 32), np.float32))


def test_bad_run_inputs(tiny):
    m = Module.load(tiny / "tiny.mlir")
    inputs = lm_inputs()
    with pytest.raises(ValueError, match="takes 6 inputs"):
        m.run("forward", inputs[0])
    with pytest.raises(ValueError, match=r"input 0 of @forward is int64.*float32"):
        m.run("forward", inputs[0].astype(np.float32), *inputs[1:])
    with pytest.raises(ValueError, match=r"input 2 of @forward is float32\[\?, \?, 2, 8\].*shape \(2, 7, 3, 8\)"):
        m.run("forward", *inputs[:2], np.zeros((2, 7, 3, 8), np.float32), *inputs[3:])
    with pytest.raises(AttnError, match="unknown entry function 'nope'"):
        m.run("nope")
    # uint64 tokens are the same bits as int64 (signless integers).
    m.run("forward", inputs[0].astype(np.uint64), *inputs[1:])


def test_runtime_error_is_an_exception(tiny):
    m = Module.load(tiny / "tiny.mlir")
    tokens, positions, *caches = lm_inputs(seq=7)
    # A cache too small for the positions written: reported, not an abort.
    small = [c[:, :3] for c in caches]
    with pytest.raises(AttnError):
        m.run("forward", tokens, positions, *small)
    # The module still works afterwards.
    assert m.run("forward", tokens, positions, *caches)[0].shape == (2, 7, 256)


def test_evaluate_and_calibrate_errors(tiny):
    m = Module.load(tiny / "tiny.mlir")
    with pytest.raises(ValueError, match="stride must be in"):
        attenuate.evaluate(m, "abc" * 10, context=8, stride=8)
    with pytest.raises(ValueError, match="need at least 2 tokens"):
        attenuate.evaluate(m, "a")
    with pytest.raises(ValueError, match="token id 300 is outside the model's vocabulary of 256"):
        attenuate.evaluate(m, [1, 2, 300])
    with pytest.raises(ValueError, match="1-D integer"):
        attenuate.evaluate(m, np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="need at least context=256"):
        attenuate.calibrate(m, "short text")
    lin = Module.parse(LINEAR, context=attenuate.Context())
    lin.params["w"] = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="not a language-model forward"):
        attenuate.evaluate(lin, "hello world", entry="lin")


# -- API surface ------------------------------------------------------------

def test_docstrings_and_help():
    import pydoc
    text = pydoc.render_doc(attenuate.Module.apply, renderer=pydoc.plaintext)
    assert "pipeline" in text and "AttnError" in text and "attn-lowrank" in text
    for name in ["Context", "Module", "Params", "import_hf", "calibrate",
                 "evaluate", "compress", "recipe", "AttnError"]:
        assert getattr(attenuate, name).__doc__, name


def test_recipes():
    r = attenuate.recipe("a3-20+sa-2")
    assert r.needs_stats and r.passes() == ["attn-lowrank", "attn-share-attention"]
    assert "param-ratio=0.2" in r.pipeline
    assert attenuate.recipe("svd-30").needs_stats is False
    assert attenuate.recipe("none").pipeline == ""
    with pytest.raises(ValueError, match="unknown recipe"):
        attenuate.recipe("zip-9")
    assert attenuate.is_registered_pass("attn-report")
    assert not attenuate.is_registered_pass("no-such-pass")


def test_compress_chains(tiny):
    m = Module.load(tiny / "tiny.mlir")
    ids = np.random.default_rng(2).integers(0, 256, 600)
    c = attenuate.compress(m, "a3-20+sa-1", calibration=ids, calibration_tokens=512)
    before, after = (x.report()["functions"][0]["total"] for x in (m, c))
    assert after["param_bytes"] < before["param_bytes"]
    assert after["kv_bytes_per_token"] < before["kv_bytes_per_token"]
    assert str(m) == str(Module.load(tiny / "tiny.mlir"))  # the input is kept
    with pytest.raises(ValueError, match="needs calibration"):
        attenuate.compress(m, "a3-20")


def test_command_line(tiny, tmp_path):
    calib = tmp_path / "calib.txt"
    calib.write_bytes(bytes(np.random.default_rng(1).integers(32, 127, 600, dtype=np.uint8)))
    text = tmp_path / "val.txt"
    text.write_bytes(b"Attention is all you need. " * 10)
    env = dict(os.environ)
    r = subprocess.run(
        [sys.executable, "-m", "attenuate", "--model", str(tiny / "ckpt"),
         "--recipe", "a3-25", "--text", str(text), "--calib", str(calib),
         "--context", "32", "--seq-len", "32", "--baseline",
         "--save", str(tmp_path / "c.mlir"), "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "attn-report [before]" in r.stdout and "attn-report [after a3-25]" in r.stdout
    assert "bits-per-byte:" in r.stdout
    assert "attenuate: compress: attn-lowrank" in r.stderr
    assert "window" in r.stderr and "sequence" in r.stderr
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["bits_per_byte"] > 0 and res["bits_per_byte_original"] > 0
    assert res["report_after"]["functions"][0]["total"]["param_bytes"] < \
        res["report_before"]["functions"][0]["total"]["param_bytes"]
    # The saved module runs with the tools and scores what Python scored.
    out = tool("attn-eval", str(tmp_path / "c.mlir"), f"--text={text}", "--context=32")
    assert f"bits-per-byte: {res['bits_per_byte']:.6f}" in out
    bad = subprocess.run([sys.executable, "-m", "attenuate", "--recipe", "zip-9"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown recipe" in bad.stderr
