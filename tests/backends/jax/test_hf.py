"""Hugging Face checkpoints into the presets, held against ``transformers``' Flax models.

``transformers`` (< 5, a test-only dependency) builds each model from a small config
with random weights; the folder is written as the Hub publishes it (PyTorch names,
``[out, in]`` weights, ``config.json``), ``load_pretrained`` reads it, and the logits
must agree: within 1e-5 of the largest logit in float32 and 1e-10 in float64.
``save_pretrained(..., like=folder)`` must write the folder back bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("transformers", reason="transformers<5 is a test-only dependency")
pytest.importorskip("safetensors", reason="safetensors reads the checkpoints")

import transformers as tf  # noqa: E402
from flax.traverse_util import flatten_dict  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

from backends.jax import apply  # noqa: E402
from backends.jax.interop.hf import (  # noqa: E402
    PretrainedError,
    load_pretrained,
    preset_from_config,
    read_config,
    same,
    save_pretrained,
    write_random,
)

SEQ, VOCAB = 8, 50


def torch_layout(params: Any) -> dict[str, np.ndarray]:
    """Flax parameters under the names and layouts PyTorch (and the Hub) uses.

    Dense kernels ``[in, out]`` become ``weight [out, in]`` (GPT-2's Flax ``Conv1D``
    stores ``[out, in]``, so it becomes the PyTorch ``Conv1D``'s ``[in, out]``);
    convolution kernels ``[p, p, C, d]`` become ``[d, C, p, p]``; ``scale`` and
    ``embedding`` become ``weight``.
    """
    out = {}
    for key, value in flatten_dict(params, sep=".").items():
        a = np.asarray(value)
        stem, _, leaf = key.rpartition(".")
        if leaf == "kernel":
            a = a.T if a.ndim == 2 else a.transpose(3, 2, 0, 1)
            leaf = "weight"
        elif leaf in ("scale", "embedding"):
            leaf = "weight"
        out[f"{stem}.{leaf}"] = np.ascontiguousarray(a)
    return out


def publish(model: Any, folder: str, architecture: str) -> str:
    """Write ``model`` as a Hub checkpoint folder: ``config.json`` + ``model.safetensors``."""
    os.makedirs(folder, exist_ok=True)
    config = model.config.to_dict()
    config["architectures"] = [architecture]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    save_file(
        torch_layout(model.params), os.path.join(folder, "model.safetensors"), {"format": "pt"}
    )
    return folder


def gap(ours: Any, theirs: Any) -> float:
    """The largest difference relative to the largest logit."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    assert np.abs(theirs).max() > 1e-3  # not trivially zero
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def tokens(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, SEQ).astype(np.int32)


#: The width and depth of every test model (``benchmarks/checkpoints.py`` changes them).
SIZE = {"d": 32, "layers": 2}


def gpt2_config(**kw: Any) -> Any:
    d, n = SIZE["d"], SIZE["layers"]
    return tf.GPT2Config(vocab_size=VOCAB, n_positions=16, n_embd=d, n_layer=n, n_head=4, **kw)


def llama_config(kv: int = 4, kind: Any = None, **kw: Any) -> Any:
    d, n = SIZE["d"], SIZE["layers"]
    return (kind or tf.LlamaConfig)(
        vocab_size=VOCAB, hidden_size=d, intermediate_size=2 * d, num_hidden_layers=n,
        num_attention_heads=4, num_key_value_heads=kv, max_position_embeddings=64, **kw,
    )  # fmt: skip


def vit_config() -> Any:
    d, n = SIZE["d"], SIZE["layers"]
    return tf.ViTConfig(
        image_size=8, patch_size=4, num_channels=3, hidden_size=d, num_hidden_layers=n,
        num_attention_heads=4, intermediate_size=2 * d, num_labels=5,
    )  # fmt: skip


#: name -> (Flax class, config maker, architecture); the zoo of checkpoints below.
CASES = {
    "gpt2": (tf.FlaxGPT2LMHeadModel, gpt2_config, "GPT2LMHeadModel"),
    "llama": (tf.FlaxLlamaForCausalLM, lambda: llama_config(rope_theta=5e5), "LlamaForCausalLM"),
    "llama-gqa": (tf.FlaxLlamaForCausalLM, lambda: llama_config(kv=2), "LlamaForCausalLM"),
    "mistral-gqa": (
        tf.FlaxMistralForCausalLM,
        lambda: llama_config(1, tf.MistralConfig, sliding_window=64, rope_theta=1e6),
        "MistralForCausalLM",
    ),  # fmt: skip
    "vit": (tf.FlaxViTForImageClassification, vit_config, "ViTForImageClassification"),
    "vit-model": (tf.FlaxViTModel, vit_config, "ViTModel"),
    "vit-states": (
        lambda config, **kw: tf.FlaxViTModel(config, add_pooling_layer=False, **kw),
        vit_config,
        "ViTModel",
    ),
}


def example(name: str, seed: int = 0) -> np.ndarray:
    if name.startswith("vit"):
        return np.random.default_rng(seed).normal(size=(8, 8, 3)).astype(np.float32)
    return tokens(seed)


@contextlib.contextmanager
def exact_rope(theta: float) -> Iterator[None]:
    """transformers' Flax Llama and Mistral compute the RoPE tables at base 10000
    whatever ``rope_theta`` says (PyTorch's Llama uses it), from float32 angles; the
    reference gets the tables of ``rope_theta`` from float64 angles instead."""

    def tables(num_pos: int, dim: int) -> Any:
        inv = theta ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
        emb = np.concatenate([np.outer(np.arange(num_pos), inv)] * 2, axis=-1)
        return jnp.asarray(np.concatenate((np.sin(emb)[:, None], np.cos(emb)[:, None]), axis=-1))

    mods = [tf.models.llama.modeling_flax_llama, tf.models.mistral.modeling_flax_mistral]
    saved = [(m.create_sinusoidal_positions, m.jnp) for m in mods]
    try:
        for m in mods:
            m.create_sinusoidal_positions = tables
            if jax.config.jax_enable_x64:
                m.jnp = Float64Numpy()
        yield
    finally:
        for m, (f, numpy) in zip(mods, saved, strict=True):
            m.create_sinusoidal_positions, m.jnp = f, numpy


class Float64Numpy:
    """``jax.numpy`` with ``float32`` meaning ``float64``: in float64 runs, transformers'
    Flax Llama and Mistral otherwise compute the RMS norms' mean square and the
    softmax in float32, whatever the model's dtype."""

    float32 = jnp.float64

    def __getattr__(self, name: str) -> Any:
        return getattr(jnp, name)


def theirs(name: str, model: Any, x: np.ndarray, params: Any = None) -> Any:
    if name.startswith("vit"):
        out = model(x.transpose(2, 0, 1)[None], params=params)
        which = {"vit-model": "pooler_output", "vit-states": "last_hidden_state"}
        return getattr(out, which.get(name, "logits"))[0]
    with exact_rope(getattr(model.config, "rope_theta", 10_000.0)):
        return model(x[None], params=params).logits[0]


@pytest.mark.parametrize("name", list(CASES))
def test_logits_equal_transformers_in_float32(name: str, tmp_path: Any) -> None:
    cls, config, arch = CASES[name]
    hf = cls(config(), seed=1)
    folder = publish(hf, str(tmp_path / name), arch)
    model, params = load_pretrained(folder)
    x = example(name)
    assert gap(apply(model, params, x), theirs(name, hf, x)) <= 1e-5


@pytest.mark.parametrize("name", ["gpt2", "mistral-gqa", "vit"])
def test_logits_equal_transformers_in_float64(name: str, tmp_path: Any) -> None:
    cls, config, arch = CASES[name]
    with jax.enable_x64(True):
        hf = cls(config(), seed=2, dtype=jnp.float64)
        params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), hf.params)
        hf.params = params64
        folder = publish(hf, str(tmp_path / name), arch)
        model, params = load_pretrained(folder, dtype="float64")
        x = example(name).astype(np.float64) if name.startswith("vit") else example(name)
        ours = apply(model, params, x)
        assert ours.dtype == jnp.float64
        assert gap(ours, theirs(name, hf, x, params64)) <= 1e-10


@pytest.mark.parametrize("name", list(CASES))
def test_save_writes_the_same_folder_back(name: str, tmp_path: Any) -> None:
    cls, config, arch = CASES[name]
    folder = publish(cls(config(), seed=3), str(tmp_path / "in"), arch)
    model, params = load_pretrained(folder)
    save_pretrained(tmp_path / "out", model, params, like=folder)
    assert same(folder, tmp_path / "out")
    changed = dict(params) | {"ln_f.scale": params["ln_f.scale"] + 1.0}
    save_pretrained(tmp_path / "changed", model, changed, like=folder)
    assert not same(folder, tmp_path / "changed")
    assert np.array_equal(
        load_pretrained(tmp_path / "changed")[1]["ln_f.scale"], changed["ln_f.scale"]
    )


def test_round_trip_keeps_hub_names_buffers_and_bfloat16(tmp_path: Any) -> None:
    # The Hub's gpt2: no "transformer." prefix, the causal-mask buffers, bfloat16.
    import ml_dtypes

    hf = tf.FlaxGPT2LMHeadModel(gpt2_config(), seed=4)
    src = tmp_path / "hub"
    publish(hf, str(src), "GPT2LMHeadModel")
    tensors = {
        k.removeprefix("transformer."): v.astype(ml_dtypes.bfloat16)
        for k, v in torch_layout(hf.params).items()
    }
    tensors |= {f"h.{i}.attn.bias": np.tril(np.ones((1, 1, 16, 16), np.float32)) for i in range(2)}
    save_file(tensors, str(src / "model.safetensors"), {"format": "pt"})
    model, params = load_pretrained(src)
    assert params["embed.table"].dtype == jnp.float32
    save_pretrained(tmp_path / "out", model, params, like=src)
    assert same(src, tmp_path / "out")


def test_sharded_checkpoints_are_read_and_written_shard_by_shard(tmp_path: Any) -> None:
    hf = tf.FlaxLlamaForCausalLM(llama_config(kv=2), seed=5)
    src = tmp_path / "sharded"
    publish(hf, str(src), "LlamaForCausalLM")
    tensors = torch_layout(hf.params)
    os.remove(src / "model.safetensors")
    names = sorted(tensors)
    shards = {
        "model-00001-of-00002.safetensors": names[::2],
        "model-00002-of-00002.safetensors": names[1::2],
    }
    for file, part in shards.items():
        save_file({k: tensors[k] for k in part}, str(src / file), {"format": "pt"})
    index = {
        "metadata": {"total_size": 0},
        "weight_map": {k: f for f, ks in shards.items() for k in ks},
    }
    (src / "model.safetensors.index.json").write_text(json.dumps(index))
    model, params = load_pretrained(src)
    x = tokens(1)
    assert gap(apply(model, params, x), theirs("llama", hf, x)) <= 1e-5
    save_pretrained(tmp_path / "out", model, params, like=src)
    assert same(src, tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.listdir(src))


def test_write_random_then_load_generates(tmp_path: Any) -> None:
    from backends.jax import generate

    config = {
        "model_type": "llama", "vocab_size": VOCAB, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 32, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    }  # fmt: skip
    write_random(tmp_path, config, seed=0)
    assert read_config(tmp_path) == config
    model, params = load_pretrained(tmp_path)
    assert "head.w" not in params  # tied
    out = generate(model, params, [1, 2, 3], 4, jax.random.key(0), temperature=0)
    assert out.shape == (4,)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "bert"}, "model_type = 'bert' is not supported: the presets read"),
        ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, "rope_scaling"),
        ({"attention_bias": True}, "attention_bias = True is not supported: with mlp_bias = False"),
        ({"hidden_act": "relu"}, "hidden_act = 'relu' is not supported: the presets have"),
        ({"sliding_window": 8}, "sliding_window = 8 is not supported: .* load with seq <= 8"),
        ({"hidden_size": None}, None),
    ],
)
def test_unsupported_config_fields_are_named(change: dict[str, Any], message: str | None) -> None:
    base = llama_config(kv=2).to_dict()
    cfg = base | change
    if change == {"hidden_size": None}:
        del cfg["hidden_size"]
        message = "missing field 'hidden_size'"
    with pytest.raises(PretrainedError, match=message):
        preset_from_config(cfg)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path: Any) -> None:
    hf = tf.FlaxLlamaForCausalLM(llama_config(kv=2), seed=6)
    folder = publish(hf, str(tmp_path / "a"), "LlamaForCausalLM")
    cfg = read_config(folder) | {"intermediate_size": 48}
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PretrainedError, match=r"blocks.mlp.gate.w has shape \(2, 32, 64\)"):
        load_pretrained(folder)
    tensors = torch_layout(hf.params) | {"model.extra.weight": np.zeros(3, np.float32)}
    (tmp_path / "a" / "config.json").write_text(
        json.dumps(read_config(folder) | {"intermediate_size": 64})
    )
    save_file(tensors, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(PretrainedError, match=r"does not read: \['model.extra.weight'\]"):
        load_pretrained(folder)


#: The size fields of published config.json files, and their published parameter counts.
PUBLISHED = {
    "gpt2": (
        {"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 768,
         "n_layer": 12, "n_head": 12},
        124_439_808,
    ),
    "TinyLlama-1.1B": (
        {"model_type": "llama", "vocab_size": 32000, "hidden_size": 2048,
         "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32,
         "num_key_value_heads": 4, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5},
        1_100_048_384,
    ),
    "Llama-2-7b": (
        {"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096,
         "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 32, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5},
        6_738_415_616,
    ),
    "Meta-Llama-3-8B": (
        {"model_type": "llama", "vocab_size": 128256, "hidden_size": 4096,
         "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 8, "max_position_embeddings": 8192, "rope_theta": 500000.0},
        8_030_261_248,
    ),
    "vit-base-patch16-224": (
        {"model_type": "vit", "image_size": 224, "patch_size": 16, "hidden_size": 768,
         "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
         "architectures": ["ViTForImageClassification"],
         "id2label": {str(i): str(i) for i in range(1000)}},
        86_567_656,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_configs_give_the_published_parameter_counts(name: str) -> None:
    config, count = PUBLISHED[name]
    assert preset_from_config(config).num_params() == count


def test_mistral_7b_loads_within_its_sliding_window() -> None:
    config = {
        "model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096,
        "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "max_position_embeddings": 32768, "sliding_window": 4096,
    }  # fmt: skip
    with pytest.raises(PretrainedError, match="sliding_window = 4096 .* load with seq <= 4096"):
        preset_from_config(config)
    assert preset_from_config(config, seq=4096).num_params() == 7_241_732_096
