"""The numpy reference forward against the torch model, and properties that pin the
Llama semantics down independently of both (GQA head mapping, RoPE relativity,
causality, KV-cache decode). Run: /usr/bin/python3 -m pytest test/python
"""

import json
import os
import struct
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "models"))

torch = pytest.importorskip("torch")

from attenuate import reference, safetensors_io  # noqa: E402
from attenuate.torch_llama import LlamaForCausalLM, load_pretrained, set_threads  # noqa: E402

set_threads(1)

SHIPPED = os.path.join(ROOT, "models", "bytellama")
TEXT = b"The quick brown fox jumps over the lazy dog. Attention is all you need, said the paper."


def rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def tiny_config(**kw):
    cfg = {
        "model_type": "llama",
        "vocab_size": 61,
        "hidden_size": 48,
        "intermediate_size": 80,
        "num_hidden_layers": 2,
        "num_attention_heads": 6,
        "num_key_value_heads": 2,
        # Deliberately != hidden/heads, so a reader that derives it would fail.
        "head_dim": 12,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500.0,
        "tie_word_embeddings": False,
    }
    cfg.update(kw)
    return cfg


def random_params(cfg, seed=0):
    torch.manual_seed(seed)
    m = LlamaForCausalLM(cfg).double()
    with torch.no_grad():
        for n, p in m.named_parameters():
            # Non-trivial norm gains and biases, so a dropped term shows.
            if n.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.3)
    return m, {k: v.numpy().copy() for k, v in m.state_dict().items()}


def torch_logits(m, tokens, positions=None):
    with torch.no_grad():
        pos = None if positions is None else torch.from_numpy(positions)
        return m(torch.from_numpy(tokens), pos)[0].numpy()


# --- the shipped checkpoint ---------------------------------------------------

shipped = pytest.mark.skipif(
    not os.path.exists(os.path.join(SHIPPED, "model.safetensors")),
    reason="models/bytellama not trained yet (run models/train_bytellama.py)",
)


@pytest.fixture(scope="module")
def ckpt():
    return reference.load_hf(SHIPPED)


@shipped
def test_shipped_config_and_names(ckpt):
    cfg, params = ckpt
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["model_type"] == "llama"
    assert cfg["vocab_size"] == 256 and cfg["num_key_value_heads"] == 2 and cfg["head_dim"] == 32
    L = cfg["num_hidden_layers"]
    expected = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}
    for i in range(L):
        p = f"model.layers.{i}."
        expected |= {p + f"self_attn.{x}_proj.weight" for x in "qkvo"}
        expected |= {p + f"mlp.{x}_proj.weight" for x in ("gate", "up", "down")}
        expected |= {p + "input_layernorm.weight", p + "post_attention_layernorm.weight"}
    assert set(params) == expected
    assert all(v.dtype == np.float32 for v in params.values())
    assert params["model.layers.0.self_attn.k_proj.weight"].shape == (64, 192)


@shipped
def test_shipped_numpy_matches_torch_fp64(ckpt):
    cfg, params = ckpt
    tokens = np.frombuffer(TEXT, dtype=np.uint8).astype(np.int64)[None]
    ref, _ = reference.forward(params, cfg, tokens, dtype=np.float64)
    m = load_pretrained(SHIPPED, torch.float64)
    assert rel_err(ref, torch_logits(m, tokens)) < 1e-6


@shipped
def test_shipped_fp32_close_to_fp64(ckpt):
    cfg, params = ckpt
    tokens = np.frombuffer(TEXT, dtype=np.uint8).astype(np.int64)[None]
    r64, _ = reference.forward(params, cfg, tokens, dtype=np.float64)
    r32, _ = reference.forward(params, cfg, tokens, dtype=np.float32)
    assert r32.dtype == np.float32
    assert rel_err(r32, r64) < 1e-4


@shipped
def test_shipped_prefill_decode_equals_full(ckpt):
    cfg, params = ckpt
    tokens = np.frombuffer(TEXT, dtype=np.uint8).astype(np.int64)[None]
    full, _ = reference.forward(params, cfg, tokens)
    n = 50
    out, past = reference.forward(params, cfg, tokens[:, :n])
    steps = [out]
    for t in range(n, tokens.shape[1]):
        lg, past = reference.forward(params, cfg, tokens[:, t:t + 1], past=past)
        steps.append(lg)
    assert past[0][0].shape == (1, 2, tokens.shape[1], 32)
    assert rel_err(np.concatenate(steps, axis=1), full) < 1e-10


@shipped
def test_shipped_model_has_learned_text(ckpt):
    # Guards against shipping an untrained or mis-saved checkpoint: English prose
    # must cost far less than the 8 bits/byte of a uniform model.
    cfg, params = ckpt
    tokens = np.frombuffer(TEXT, dtype=np.uint8).astype(np.int64)[None]
    lg, _ = reference.forward(params, cfg, tokens, dtype=np.float32)
    assert reference.nll_bits_per_byte(lg[0, :-1], tokens[0, 1:]) < 4.0


# --- random tiny configurations -------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {},  # GQA 3:1
        {"num_key_value_heads": 6},  # MHA
        {"num_key_value_heads": 1},  # MQA
        {"model_type": "qwen2", "tie_word_embeddings": True},  # q/k/v biases, tied head
        {"attention_bias": True, "mlp_bias": True, "partial_rotary_factor": 0.5},
    ],
    ids=["gqa", "mha", "mqa", "qwen2-tied", "bias-partial-rope"],
)
def test_tiny_numpy_matches_torch(kw):
    cfg = tiny_config(**kw)
    m, params = random_params(cfg)
    if cfg.get("tie_word_embeddings"):
        assert "lm_head.weight" not in params
    rng = np.random.RandomState(1)
    tokens = rng.randint(0, cfg["vocab_size"], size=(3, 17))
    positions = np.sort(rng.randint(0, 300, size=(3, 17)), axis=1)
    for pos in (None, positions):
        ref, _ = reference.forward(params, cfg, tokens, pos)
        assert rel_err(ref, torch_logits(m, tokens, pos)) < 1e-6


def test_tiny_prefill_decode_equals_full_numpy_and_torch():
    cfg = tiny_config()
    m, params = random_params(cfg)
    tokens = np.random.RandomState(2).randint(0, cfg["vocab_size"], size=(2, 12))
    full, _ = reference.forward(params, cfg, tokens)
    # Prefill 5, then chunks of 1 and 3, then the rest.
    cuts = [0, 5, 6, 9, 12]
    past = tpast = None
    parts, tparts = [], []
    for a, b in zip(cuts, cuts[1:]):
        lg, past = reference.forward(params, cfg, tokens[:, a:b], past=past)
        parts.append(lg)
        with torch.no_grad():
            tl, tpast = m(torch.from_numpy(tokens[:, a:b]), past=tpast)
        tparts.append(tl.numpy())
    assert rel_err(np.concatenate(parts, 1), full) < 1e-10
    assert rel_err(np.concatenate(tparts, 1), full) < 1e-6


def test_gqa_equals_mha_with_repeated_kv_heads():
    # HF's repeat_kv: query head h reads KV head h // (Hq/Hkv). An MHA model whose
    # K/V rows are those heads repeated must give the same logits.
    cfg = tiny_config()
    _, params = random_params(cfg)
    G = cfg["num_attention_heads"] // cfg["num_key_value_heads"]
    D = cfg["head_dim"]
    mha = dict(params)
    for l in range(cfg["num_hidden_layers"]):
        for x in "kv":
            name = f"model.layers.{l}.self_attn.{x}_proj.weight"
            w = params[name].reshape(cfg["num_key_value_heads"], D, -1)
            mha[name] = np.repeat(w, G, axis=0).reshape(-1, w.shape[-1])
    cfg_mha = dict(cfg, num_key_value_heads=cfg["num_attention_heads"])
    tokens = np.random.RandomState(3).randint(0, cfg["vocab_size"], size=(2, 9))
    a, _ = reference.forward(params, cfg, tokens)
    b, _ = reference.forward(mha, cfg_mha, tokens)
    assert rel_err(a, b) < 1e-12


def test_rope_depends_only_on_relative_positions():
    cfg = tiny_config()
    _, params = random_params(cfg)
    tokens = np.random.RandomState(4).randint(0, cfg["vocab_size"], size=(1, 10))
    pos = np.arange(10)[None]
    a, _ = reference.forward(params, cfg, tokens, pos)
    b, _ = reference.forward(params, cfg, tokens, pos + 1000)
    assert rel_err(a, b) < 1e-9
    c, _ = reference.forward(params, cfg, tokens, pos * 2)
    assert rel_err(a, c) > 1e-3  # positions do matter


def test_rope_rotate_half_pairing():
    # One head of ones at position p: HF's rotate_half pairs dim i with i + rot/2.
    cfg = tiny_config(partial_rotary_factor=0.5)
    D, rot = 12, 6
    inv = reference.rope_inv_freq(cfg)
    assert inv.shape == (rot // 2,)
    np.testing.assert_allclose(inv, 500.0 ** (-np.arange(0, rot, 2) / rot))
    x = np.arange(1.0, D + 1)[None, None, None]
    p = 7.0
    ang = (p * inv)[None, None, None]
    y = reference._apply_rope(x, np.cos(ang), np.sin(ang))[0, 0, 0]
    for i in range(rot // 2):
        c, s = np.cos(p * inv[i]), np.sin(p * inv[i])
        assert np.isclose(y[i], x[0, 0, 0, i] * c - x[0, 0, 0, i + rot // 2] * s)
        assert np.isclose(y[i + rot // 2], x[0, 0, 0, i + rot // 2] * c + x[0, 0, 0, i] * s)
    np.testing.assert_array_equal(y[rot:], x[0, 0, 0, rot:])


def test_causal():
    cfg = tiny_config()
    _, params = random_params(cfg)
    tokens = np.random.RandomState(5).randint(0, cfg["vocab_size"], size=(1, 10))
    a, _ = reference.forward(params, cfg, tokens)
    t2 = tokens.copy()
    t2[0, 6] = (t2[0, 6] + 1) % cfg["vocab_size"]
    b, _ = reference.forward(params, cfg, t2)
    np.testing.assert_array_equal(a[:, :6], b[:, :6])
    assert np.abs(a[:, 6:] - b[:, 6:]).max() > 1e-6


# --- safetensors and checkpoint loading ------------------------------------------


def test_safetensors_roundtrip_and_alignment(tmp_path):
    t = {
        "a": np.arange(7, dtype=np.float32).reshape(7, 1),
        "b.c": np.random.RandomState(0).randn(3, 2),
        "i": np.array([1, -2, 3], dtype=np.int64),
        "h": np.array([0.5, 2.0], dtype=np.float16),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "u": np.array([1, 2, 255], dtype=np.uint8),
    }
    f = tmp_path / "x.safetensors"
    safetensors_io.save_file(t, str(f), metadata={"format": "pt"})
    raw = f.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and raw[8 + n - 1:8 + n] in (b" ", b"}")
    meta, header = safetensors_io.read_header(str(f))
    assert meta == {"format": "pt"} and header["b.c"]["dtype"] == "F64"
    back = safetensors_io.load_file(str(f))
    assert set(back) == set(t)
    for k in t:
        assert back[k].dtype == t[k].dtype and back[k].shape == t[k].shape
        np.testing.assert_array_equal(back[k], t[k])
    assert set(safetensors_io.load_file(str(f), ["i"], use_mmap=False)) == {"i"}


def test_safetensors_bf16_widened(tmp_path):
    vals = np.array([1.0, -2.5, 0.15625], dtype=np.float32)
    bits = (vals.view(np.uint32) >> 16).astype("<u2")
    hdr = json.dumps({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    f = tmp_path / "bf.safetensors"
    f.write_bytes(struct.pack("<Q", len(hdr)) + hdr + bits.tobytes())
    np.testing.assert_array_equal(safetensors_io.load_file(str(f))["w"], vals)


@pytest.mark.parametrize(
    "header,data,msg",
    [
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, 4, "needs 8 bytes"),
        ({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, 4, "unknown dtype"),
        ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}}, 4, "outside buffer"),
        ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, 8, "hole"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, 8, "overlaps"),
        ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 12, "cover 4 bytes"),
        ([1, 2], 0, "does not start with"),
    ],
)
def test_safetensors_rejects_corrupt(tmp_path, header, data, msg):
    hdr = json.dumps(header).encode()
    f = tmp_path / "bad.safetensors"
    f.write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"\0" * data)
    with pytest.raises(safetensors_io.SafetensorsError, match=msg):
        safetensors_io.load_file(str(f))


def test_safetensors_rejects_bad_json(tmp_path):
    hdr = b'{"w": '
    f = tmp_path / "j.safetensors"
    f.write_bytes(struct.pack("<Q", len(hdr)) + hdr)
    with pytest.raises(safetensors_io.SafetensorsError, match="not valid UTF-8 JSON"):
        safetensors_io.load_file(str(f))


def test_safetensors_rejects_truncated(tmp_path):
    f = tmp_path / "t.safetensors"
    f.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(safetensors_io.SafetensorsError, match="exceeds"):
        safetensors_io.read_header(str(f))


def test_load_hf_sharded_equals_single(tmp_path):
    cfg = tiny_config()
    _, params = random_params(cfg)
    names = sorted(params)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for fname, ns in shards.items():
        safetensors_io.save_file({n: params[n] for n in ns}, str(tmp_path / fname))
    index = {"metadata": {}, "weight_map": {n: f for f, ns in shards.items() for n in ns}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    cfg2, p2 = reference.load_hf(str(tmp_path))
    assert cfg2 == cfg and set(p2) == set(params)
    tokens = np.arange(8)[None] % cfg["vocab_size"]
    np.testing.assert_array_equal(reference.forward(p2, cfg2, tokens)[0], reference.forward(params, cfg, tokens)[0])


def test_eval_windows_score_every_byte_once():
    from eval_torch import windows

    for n in (2, 100, 256, 257, 383, 384, 385, 1000):
        seen = []
        for b, e, first in windows(n, 256, 128):
            assert e - b <= 256 and b < first and first - b >= (1 if b == 0 else 128)
            seen.extend(range(first, e))
        assert seen == list(range(1, n))
