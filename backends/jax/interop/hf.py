"""Hugging Face checkpoints (``config.json`` + safetensors) into the presets, and back.

A checkpoint folder as the Hub publishes it — ``config.json`` and
``model.safetensors`` (or shards listed by ``model.safetensors.index.json``),
tensors named and laid out as PyTorch writes them — is read into the topos
preset its config describes, with a flat parameter dict for it:

- GPT-2 (``model_type`` ``gpt2``): ``topos.nn.decoder.language_model`` with learned
  positions, layer norms, GELU and biases, the head tied to the embedding;
  ``Conv1D`` weights are ``[in, out]`` already, ``c_attn`` splits into q, k, v;
- Llama-family (``llama``, ``mistral``: Llama 2/3, TinyLlama, Mistral-style
  grouped-query attention): RMSNorm, RoPE at ``rope_theta``, SwiGLU, no biases;
  ``[out, in]`` weights are transposed. Hugging Face's q/k weights are already
  permuted for ``rotate_half``, the half-split rotation of ``topos.nn.rotary``,
  so they are read as they are;
- ViT (``vit``): ``topos.nn.vit.vision_transformer`` with the exact GELU; the
  patch convolution ``[d, C, p, p]`` becomes the ``(row, column, channel)``
  patch matrix; ``ViTForImageClassification`` ends in the classifier,
  ``ViTModel`` in its tanh pooler (or, without one, in the final states).

``load_pretrained(folder)`` chooses every option of the preset from the
config; a field or value the presets cannot express is refused, naming the
field and what would be needed. ``save_pretrained(folder, model, params,
like=source)`` writes the same layout back: names, dtypes, shapes, shards,
metadata and every ``config.json`` field of ``source``, so a round trip is bit
for bit. ``preset_from_config(config)`` is the model alone; ``write_random``
writes a checkpoint with random weights, for trying things without a download.

>>> import tempfile
>>> config = {"model_type": "gpt2", "vocab_size": 50, "n_positions": 16, "n_embd": 32,
...           "n_layer": 2, "n_head": 4}
>>> src, out = tempfile.mkdtemp(), tempfile.mkdtemp()
>>> write_random(src, config, seed=0)
>>> model, params = load_pretrained(src)
>>> model.dom, params["blocks.attn.q.w"].shape          # 2 layers, stacked
(Fin(50, Dim('seq', 16)), (2, 32, 32))
>>> save_pretrained(out, model, params, like=src)
>>> same(src, out)
True
>>> preset_from_config(config | {"scale_attn_by_inverse_layer_idx": True})
Traceback (most recent call last):
...
backends.jax.interop.hf.PretrainedError: config.json: scale_attn_by_inverse_layer_idx = True
is not supported: the preset scales every layer's scores by 1/√head_dim (it would need a
per-layer score scale)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from topos.dtypes import with_dtype
from topos.nn.decoder import language_model
from topos.nn.vit import vision_transformer
from topos.objects import Dim, R
from topos.para import Para

__all__ = [
    "FAMILIES",
    "TINY",
    "PretrainedError",
    "load_pretrained",
    "preset_from_config",
    "read_config",
    "same",
    "save_pretrained",
    "write_random",
]

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"


class PretrainedError(ValueError):
    """A checkpoint folder the presets cannot read or write: the message says what and why."""


Array = np.ndarray[Any, Any]
Shapes = Mapping[str, tuple[int, ...]]
Read = Callable[[Array], tuple[Array, ...]]
Write = Callable[..., Array]


@dataclass(frozen=True)
class Rule:
    """One published tensor and the parameters it holds.

    ``hf`` is the tensor's name with ``{p}`` for the backbone's prefix and ``{i}``
    for the layer (then ``ours`` are stacked ``blocks.*`` paths); ``read`` splits the
    tensor into the parameters, ``write`` joins them back. A ``mirror`` (the tied
    ``lm_head.weight`` some files repeat) is checked on reading and rewritten from
    ``ours`` on saving, when the file has it.
    """

    hf: str
    ours: tuple[str, ...]
    read: Read
    write: Write
    mirror: bool = False


def _same(hf: str, ours: str, mirror: bool = False) -> Rule:
    return Rule(hf, (ours,), lambda a: (a,), lambda a: a, mirror)


def _transposed(hf: str, ours: str) -> Rule:
    return Rule(hf, (ours,), lambda a: (a.T,), lambda a: a.T)


def _reshaped(hf: str, ours: str, hf_shape: tuple[int, ...], our_shape: tuple[int, ...]) -> Rule:
    return Rule(hf, (ours,), lambda a: (a.reshape(our_shape),), lambda a: a.reshape(hf_shape))


def _split(hf: str, ours: tuple[str, ...]) -> Rule:
    """GPT-2's ``c_attn``: q, k, v side by side on the last axis."""
    return Rule(
        hf,
        ours,
        lambda a: tuple(np.split(a, len(ours), axis=-1)),
        lambda *xs: np.concatenate(xs, axis=-1),
    )


def _patch(hf: str, ours: str, d: int, c: int, p: int) -> Rule:
    """ViT's patch convolution ``[d, C, p, p]`` as the ``[p * p * C, d]`` patch matrix."""
    return Rule(
        hf,
        (ours,),
        lambda a: (a.transpose(2, 3, 1, 0).reshape(p * p * c, d),),
        lambda a: a.reshape(p, p, c, d).transpose(3, 2, 0, 1),
    )


@dataclass(frozen=True)
class Layout:
    """A family's model and the rules between its parameters and the published tensors."""

    model: Para
    layers: int
    prefix: str
    top: tuple[Rule, ...]
    per_layer: tuple[Rule, ...]
    buffers: tuple[str, ...] = field(default=())  # regexes of tensors that are not parameters


# -- configs --------------------------------------------------------------------------------


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder, as a dict.

    >>> read_config("/nonexistent")
    Traceback (most recent call last):
    ...
    backends.jax.interop.hf.PretrainedError: /nonexistent: no config.json (a Hugging Face
    checkpoint folder has config.json and model.safetensors)
    """
    path = os.path.join(folder, CONFIG)
    if not os.path.isfile(path):
        raise PretrainedError(
            f"{folder}: no {CONFIG} (a Hugging Face checkpoint folder has {CONFIG} and {WEIGHTS})"
        )
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict):
        raise PretrainedError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return config


def _need(config: Mapping[str, Any], key: str) -> Any:
    if key not in config:
        raise PretrainedError(
            f"config.json: missing field {key!r} (model_type {config.get('model_type')!r})"
        )
    return config[key]


def _refuse(key: str, value: Any, why: str) -> PretrainedError:
    return PretrainedError(f"config.json: {key} = {value!r} is not supported: {why}")


#: Hugging Face activation names -> the presets' (``gelu`` is tanh-form GELU there).
ACTIVATIONS = {
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu": "gelu_exact",
    "relu": "relu",
    "tanh": "tanh",
    "silu": "silu",
    "swish": "silu",
}

#: Hugging Face gate activations of Llama-style MLPs -> the presets' gated MLPs.
GATES = {"silu": "swiglu", "swish": "swiglu", "gelu_pytorch_tanh": "geglu", "gelu_new": "geglu"}


def _activation(config: Mapping[str, Any], key: str, default: str, table: Mapping[str, str]) -> str:
    act = config.get(key, default)
    if act not in table:
        raise _refuse(key, act, f"the presets have {sorted(table)}")
    return table[act]


def _seq(config: Mapping[str, Any], key: str, seq: int | Dim | None) -> int | Dim:
    if seq is not None:
        return seq
    n = _need(config, key)
    return Dim("seq", int(n))


def _bound(seq: int | Dim) -> int:
    return seq.max if isinstance(seq, Dim) else seq


def _prefix(names: Shapes | None, probe: str, candidates: tuple[str, ...], default: str) -> str:
    if names is None:
        return default
    for p in candidates:
        if probe.format(p=p) in names:
            return p
    tried = " or ".join(probe.format(p=p) for p in candidates)
    raise PretrainedError(f"model.safetensors: no tensor named {tried}")


def _head(tie: bool) -> Rule:
    """The logits head: the embedding (a file may repeat it) or a weight of its own."""
    if tie:
        return _same("lm_head.weight", "embed.table", mirror=True)
    return _transposed("lm_head.weight", "head.w")


def _gpt2(config: Mapping[str, Any], seq: int | Dim | None, shapes: Shapes | None) -> Layout:
    if config.get("add_cross_attention", False):
        raise _refuse(
            "add_cross_attention",
            True,
            "the preset is decoder-only (it would need cross-attention blocks)",
        )
    if not config.get("scale_attn_weights", True):
        raise _refuse("scale_attn_weights", False, "the preset scales scores by 1/√head_dim")
    if config.get("scale_attn_by_inverse_layer_idx", False):
        raise _refuse(
            "scale_attn_by_inverse_layer_idx", True,
            "the preset scales every layer's scores by 1/√head_dim"
            " (it would need a per-layer score scale)",
        )  # fmt: skip
    vocab, d = int(_need(config, "vocab_size")), int(_need(config, "n_embd"))
    layers, heads = int(_need(config, "n_layer")), int(_need(config, "n_head"))
    inner = config.get("n_inner") or 4 * d
    s = _seq(config, "n_positions", seq)
    p = _prefix(shapes, "{p}wte.weight", ("transformer.", ""), "transformer.")
    tie = bool(config.get("tie_word_embeddings", True))
    model = language_model(
        vocab, s, d, heads, layers, mlp_hidden=inner, positional="learned", norm="layer",
        eps=float(config.get("layer_norm_epsilon", 1e-5)), tie=tie, head_bias=False,
        activation=_activation(config, "activation_function", "gelu_new", ACTIVATIONS),
    )  # fmt: skip
    h = "{p}h.{i}."
    per_layer = (
        _same(h + "ln_1.weight", "blocks.ln1.scale"),
        _same(h + "ln_1.bias", "blocks.ln1.bias"),
        _split(h + "attn.c_attn.weight", ("blocks.attn.q.w", "blocks.attn.k.w", "blocks.attn.v.w")),
        _split(h + "attn.c_attn.bias", ("blocks.attn.q.b", "blocks.attn.k.b", "blocks.attn.v.b")),
        _same(h + "attn.c_proj.weight", "blocks.attn.o.w"),
        _same(h + "attn.c_proj.bias", "blocks.attn.o.b"),
        _same(h + "ln_2.weight", "blocks.ln2.scale"),
        _same(h + "ln_2.bias", "blocks.ln2.bias"),
        _same(h + "mlp.c_fc.weight", "blocks.mlp.fc1.w"),
        _same(h + "mlp.c_fc.bias", "blocks.mlp.fc1.b"),
        _same(h + "mlp.c_proj.weight", "blocks.mlp.fc2.w"),
        _same(h + "mlp.c_proj.bias", "blocks.mlp.fc2.b"),
    )
    top = [
        _same("{p}wte.weight", "embed.table"),
        _same("{p}wpe.weight", "pos.table"),
        _same("{p}ln_f.weight", "ln_f.scale"),
        _same("{p}ln_f.bias", "ln_f.bias"),
        _head(tie),
    ]
    buffers = (r"(transformer\.)?h\.\d+\.attn\.(masked_)?bias",)  # the causal mask, not a weight
    return Layout(model, layers, p, tuple(top), per_layer, buffers)


def _llama(config: Mapping[str, Any], seq: int | Dim | None, shapes: Shapes | None) -> Layout:
    scaling = config.get("rope_scaling")
    if scaling is not None and scaling.get("rope_type", scaling.get("type")) != "default":
        raise _refuse(
            "rope_scaling", scaling,
            "the preset's rotary has unscaled frequencies base^(-2i/d)"
            " (it would need a scaled rotary table)",
        )  # fmt: skip
    if config.get("partial_rotary_factor", 1.0) != 1.0:
        raise _refuse(
            "partial_rotary_factor",
            config["partial_rotary_factor"],
            "Llama presets rotate whole heads",
        )
    biases = {k: bool(config.get(k, False)) for k in ("attention_bias", "mlp_bias")}
    if len(set(biases.values())) > 1:
        raise _refuse(
            "attention_bias", biases["attention_bias"],
            f"with mlp_bias = {biases['mlp_bias']}:"
            " the preset has biases on all projections or none",
        )  # fmt: skip
    vocab, d = int(_need(config, "vocab_size")), int(_need(config, "hidden_size"))
    heads, layers = (
        int(_need(config, "num_attention_heads")),
        int(_need(config, "num_hidden_layers")),
    )
    kv = int(config.get("num_key_value_heads") or heads)
    s = _seq(config, "max_position_embeddings", seq)
    window = config.get("sliding_window")
    if window is not None and config.get("use_sliding_window", True) and int(window) < _bound(s):
        raise _refuse(
            "sliding_window", window,
            f"the preset attends to every earlier position; load with seq <= {window}"
            " (or it would need a banded causal mask)",
        )  # fmt: skip
    tie = bool(config.get("tie_word_embeddings", False))
    p = _prefix(shapes, "{p}embed_tokens.weight", ("model.", ""), "model.")
    bias = biases["attention_bias"]
    model = language_model(
        vocab, s, d, heads, layers, kv_heads=kv, head_dim=config.get("head_dim") or d // heads,
        mlp_hidden=int(_need(config, "intermediate_size")), positional="rope", norm="rms",
        eps=float(config.get("rms_norm_eps", 1e-6)), bias=bias, head_bias=False, tie=tie,
        activation=_activation(config, "hidden_act", "silu", GATES),
        rope_base=float(config.get("rope_theta", 10_000.0)),
    )  # fmt: skip
    h = "{p}layers.{i}."
    rules = [
        _same(h + "input_layernorm.weight", "blocks.ln1.scale"),
        _same(h + "post_attention_layernorm.weight", "blocks.ln2.scale"),
    ]
    for ours, theirs in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "o_proj")):
        rules.append(_transposed(h + f"self_attn.{theirs}.weight", f"blocks.attn.{ours}.w"))
        if bias:
            rules.append(_same(h + f"self_attn.{theirs}.bias", f"blocks.attn.{ours}.b"))
    for name in ("gate", "up", "down"):
        rules.append(_transposed(h + f"mlp.{name}_proj.weight", f"blocks.mlp.{name}.w"))
        if bias:
            rules.append(_same(h + f"mlp.{name}_proj.bias", f"blocks.mlp.{name}.b"))
    top = [
        _same("{p}embed_tokens.weight", "embed.table"),
        _same("{p}norm.weight", "ln_f.scale"),
        _head(tie),
    ]
    buffers = (
        r"(model\.)?layers\.\d+\.self_attn\.rotary_emb\.inv_freq",
    )  # computed by the diagram
    return Layout(model, layers, p, tuple(top), tuple(rules), buffers)


def _vit_head(config: Mapping[str, Any], names: Shapes | None) -> str | None:
    if names is not None:
        if "classifier.weight" in names:
            return "classifier"
        return "pooler" if any(n.endswith("pooler.dense.weight") for n in names) else None
    arch = (config.get("architectures") or ["ViTForImageClassification"])[0]
    return {"ViTForImageClassification": "classifier", "ViTModel": "pooler"}.get(arch)


def _vit(config: Mapping[str, Any], seq: int | Dim | None, shapes: Shapes | None) -> Layout:
    if not config.get("qkv_bias", True):
        raise _refuse("qkv_bias", False, "the preset's ViT blocks have biases on all projections")
    if config.get("pooler_act", "tanh") != "tanh":
        raise _refuse("pooler_act", config["pooler_act"], "the preset's pooler is tanh")
    size, patch = _need(config, "image_size"), _need(config, "patch_size")
    side = size if isinstance(size, int) else size[0]
    if not isinstance(size, int) and len(set(size)) > 1:
        raise _refuse("image_size", size, "the preset's images are square")
    if not isinstance(patch, int):
        raise _refuse("patch_size", patch, "the preset's patches are square: one int")
    c, d = int(config.get("num_channels", 3)), int(_need(config, "hidden_size"))
    head = _vit_head(config, shapes)
    if head == "classifier":
        labels = len(config.get("id2label") or {}) or int(config.get("num_labels", 2))
        classes = shapes["classifier.weight"][0] if shapes is not None else labels
    else:
        classes = int(config.get("pooler_output_size") or d)
    p = _prefix(
        shapes, "{p}embeddings.cls_token", ("vit.", ""), "vit." if head == "classifier" else ""
    )
    layers = int(_need(config, "num_hidden_layers"))
    n = (side // patch) ** 2

    model = vision_transformer(
        (side, side, c), patch, d, int(_need(config, "num_attention_heads")), layers, classes,
        mlp_hidden=int(_need(config, "intermediate_size")),
        eps=float(config.get("layer_norm_eps", 1e-12)),
        activation=_activation(config, "hidden_act", "gelu", ACTIVATIONS), head=head,
    )  # fmt: skip

    h = "{p}encoder.layer.{i}."
    per_layer = [
        _same(h + "layernorm_before.weight", "blocks.ln1.scale"),
        _same(h + "layernorm_before.bias", "blocks.ln1.bias"),
        _same(h + "layernorm_after.weight", "blocks.ln2.scale"),
        _same(h + "layernorm_after.bias", "blocks.ln2.bias"),
    ]
    for ours, theirs in (
        ("attn.q", "attention.attention.query"), ("attn.k", "attention.attention.key"),
        ("attn.v", "attention.attention.value"), ("attn.o", "attention.output.dense"),
        ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense"),
    ):  # fmt: skip
        per_layer.append(_transposed(h + theirs + ".weight", f"blocks.{ours}.w"))
        per_layer.append(_same(h + theirs + ".bias", f"blocks.{ours}.b"))
    top = [
        _patch("{p}embeddings.patch_embeddings.projection.weight", "patch.w", d, c, patch),
        _same("{p}embeddings.patch_embeddings.projection.bias", "patch.b"),
        _reshaped("{p}embeddings.cls_token", "cls", (1, 1, d), (1, d)),
        _reshaped("{p}embeddings.position_embeddings", "pos.table", (1, n + 1, d), (n + 1, d)),
        _same("{p}layernorm.weight", "ln_f.scale"),
        _same("{p}layernorm.bias", "ln_f.bias"),
    ]
    if head == "classifier":
        top += [_transposed("classifier.weight", "head.w"), _same("classifier.bias", "head.b")]
    elif head == "pooler":
        top += [
            _transposed("{p}pooler.dense.weight", "head.w"),
            _same("{p}pooler.dense.bias", "head.b"),
        ]
    return Layout(model, layers, p, tuple(top), tuple(per_layer))


#: ``model_type`` -> the reader of its config.
FAMILIES: dict[str, Callable[[Mapping[str, Any], int | Dim | None, Shapes | None], Layout]] = {
    "gpt2": _gpt2,
    "llama": _llama,
    "mistral": _llama,
    "vit": _vit,
}


def _layout(config: Mapping[str, Any], seq: int | Dim | None, shapes: Shapes | None) -> Layout:
    kind = config.get("model_type")
    if kind not in FAMILIES:
        raise _refuse("model_type", kind, f"the presets read {sorted(FAMILIES)}")
    return FAMILIES[kind](config, seq, shapes)


def preset_from_config(
    config: Mapping[str, Any], *, seq: int | Dim | None = None, dtype: str = "float32"
) -> Para:
    """The preset a Hugging Face config describes, its options chosen from the config.

    >>> m = preset_from_config({"model_type": "llama", "vocab_size": 50, "hidden_size": 32,
    ...     "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    ...     "num_key_value_heads": 2, "max_position_embeddings": 64, "rope_theta": 5e5})
    >>> m.dom, m.parameters()["blocks.attn.k.w"].ob
    (Fin(50, Dim('seq', 64)), R(2, 32, 16))

    Args:
        config: the contents of ``config.json`` (``model_type`` one of ``FAMILIES``).
        seq: the sequence length (default ``Dim("seq", max positions)``).
        dtype: the dtype of the model's reals.

    Returns:
        The model as a Para (no weights).
    """
    model = _layout(config, seq, None).model
    return model if dtype == "float32" else with_dtype(model, dtype)


#: Tiny configs of each family, for trying things without a download (``write_random``).
TINY: dict[str, dict[str, Any]] = {
    "gpt2": {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 64,
        "n_positions": 32, "n_embd": 32, "n_layer": 2, "n_head": 4,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": True, "torch_dtype": "float32",
    },
    "llama": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 64,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "tie_word_embeddings": False, "torch_dtype": "float32",
    },
    "vit": {
        "architectures": ["ViTForImageClassification"], "model_type": "vit", "image_size": 16,
        "patch_size": 4, "num_channels": 3, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "qkv_bias": True, "torch_dtype": "float32",
        "id2label": {str(i): f"class {i}" for i in range(10)},
    },
}  # fmt: skip


# -- tensors ----------------------------------------------------------------------------------


def _files(folder: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, Any] | None]:
    """name -> file of every tensor, and the shard index (``None`` for one file)."""
    index_path, single = os.path.join(folder, INDEX), os.path.join(folder, WEIGHTS)
    if os.path.isfile(index_path):
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
        return dict(index["weight_map"]), index
    if not os.path.isfile(single):
        raise PretrainedError(f"{folder}: no {WEIGHTS} or {INDEX} (only safetensors are read)")
    with _opened(single) as f:
        return {k: WEIGHTS for k in f.keys()}, None


def _opened(path: str) -> Any:
    """``safe_open(path)``, or a ``PretrainedError`` naming the file that is not safetensors."""
    try:
        from safetensors import safe_open
    except ModuleNotFoundError:
        raise PretrainedError(
            "reading a checkpoint needs the safetensors package: pip install -e '.[checkpoints]'"
        ) from None

    if not os.path.isfile(path):
        raise PretrainedError(f"{path}: no such file (the shard index lists it)")
    try:
        return safe_open(path, framework="numpy")
    except Exception as err:  # safetensors raises its own error type from Rust
        raise PretrainedError(f"{path}: not a safetensors file ({err})") from None


def _read(folder: str | os.PathLike[str], where: Mapping[str, str]) -> dict[str, Array]:
    out: dict[str, Array] = {}
    for file in sorted(set(where.values())):
        with _opened(os.path.join(folder, file)) as f:
            for k in f.keys():
                out[k] = f.get_tensor(k)
    return out


def _metadata(folder: str | os.PathLike[str], file: str) -> dict[str, str] | None:
    with _opened(os.path.join(folder, file)) as f:
        meta = f.metadata()
    return dict(meta) if meta is not None else None


def _names(rule: Rule, layout: Layout) -> list[str]:
    if "{i}" in rule.hf:
        return [rule.hf.format(p=layout.prefix, i=i) for i in range(layout.layers)]
    return [rule.hf.format(p=layout.prefix)]


def _check_shapes(layout: Layout, params: Mapping[str, Any], where: str) -> None:
    declared = layout.model.parameters()
    missing = sorted(set(declared) - set(params))
    extra = sorted(set(params) - set(declared))
    if missing or extra:
        raise PretrainedError(f"{where}: parameters missing {missing}, unexpected {extra}")
    for path, q in declared.items():
        assert isinstance(q.ob, R)
        shape = tuple(int(s) for s in np.shape(params[path]))
        if shape != tuple(q.ob.shape):
            raise PretrainedError(
                f"{where}: {path} has shape {shape}, the config's model needs {tuple(q.ob.shape)}"
            )


def _gather(layout: Layout, tensors: Mapping[str, Array]) -> tuple[dict[str, Array], set[str]]:
    """The parameters from the published tensors, and the names used."""
    params: dict[str, Array] = {}
    used: set[str] = set()
    for rule in (*layout.top, *layout.per_layer):
        names = _names(rule, layout)
        absent = [n for n in names if n not in tensors]
        if rule.mirror:
            if not absent:
                if not np.array_equal(tensors[names[0]], params[rule.ours[0]]):
                    raise PretrainedError(
                        f"model.safetensors: {names[0]} differs from the embedding, but the config"
                        " ties them (tie_word_embeddings); set it to false to read an untied head"
                    )
                used.add(names[0])
            continue
        if absent:
            raise PretrainedError(
                f"model.safetensors: no tensor {absent[0]} (the config's model needs it)"
            )
        parts = [rule.read(tensors[n]) for n in names]
        used.update(names)
        for j, path in enumerate(rule.ours):
            params[path] = np.stack([pt[j] for pt in parts]) if "{i}" in rule.hf else parts[0][j]
    return params, used


def load_pretrained(
    folder: str | os.PathLike[str], *, seq: int | Dim | None = None, dtype: str = "float32"
) -> tuple[Para, dict[str, Any]]:
    """A Hugging Face checkpoint folder as a topos preset and its parameters.

    The model is ``preset_from_config(config.json)``; the parameters are read from
    ``model.safetensors`` (or its shards) by the family's layout, checked against
    the model's shapes; a tensor the layout does not know is refused (never
    silently dropped). See the module docstring for an example.

    Args:
        folder: a folder with ``config.json`` and the safetensors weights.
        seq: the model's sequence length (default ``Dim("seq", max positions)``:
            every length up to the config's bound).
        dtype: ``"float32"`` (default) or ``"float64"`` (needs ``jax_enable_x64``):
            the model's reals and the parameters' dtype.

    Returns:
        ``(model, params)``: ``apply(model, params, x)`` runs the checkpoint.
    """
    if dtype not in ("float32", "float64"):
        raise PretrainedError(
            f"load_pretrained: dtype must be 'float32' or 'float64', got {dtype!r}"
        )
    if dtype == "float64" and jnp.zeros(()).astype(jnp.float64).dtype != jnp.float64:
        raise PretrainedError("load_pretrained: float64 needs jax x64 (jax.enable_x64(True))")
    config = read_config(folder)
    if config.get("model_type") not in FAMILIES:
        raise _refuse(
            "model_type", config.get("model_type"), f"the presets read {sorted(FAMILIES)}"
        )
    where = _files(folder)[0]
    tensors = _read(folder, where)
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    layout = _layout(config, seq, shapes)
    params, used = _gather(layout, tensors)
    unknown = sorted(
        n for n in set(tensors) - used if not any(re.fullmatch(b, n) for b in layout.buffers)
    )
    if unknown:
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        kind = config["model_type"]
        raise PretrainedError(
            f"{folder}: tensors the {kind} preset does not read: {unknown[:5]}{more}"
        )
    _check_shapes(layout, params, str(folder))
    model = layout.model if dtype == "float32" else with_dtype(layout.model, dtype)
    np_dtype = np.float64 if dtype == "float64" else np.float32
    return model, {k: jnp.asarray(v.astype(np_dtype)) for k, v in params.items()}


# -- saving ------------------------------------------------------------------------------------


def _target_dtype(config: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    name = config.get("torch_dtype") or config.get("dtype")
    if name in ("float32", "float16", "bfloat16", "float64"):
        import ml_dtypes

        return ml_dtypes.bfloat16 if name == "bfloat16" else np.dtype(name)
    return np.asarray(next(iter(params.values()))).dtype


def _tensors(layout: Layout, params: Mapping[str, Any], keep: set[str] | None) -> dict[str, Array]:
    """The published tensors from the parameters (mirrors only where ``keep`` has them)."""
    host = {k: np.asarray(v) for k, v in params.items()}
    out: dict[str, Array] = {}
    for rule in (*layout.top, *layout.per_layer):
        names = _names(rule, layout)
        if rule.mirror and (keep is None or names[0] not in keep):
            continue
        for i, name in enumerate(names):
            parts = [host[p][i] if "{i}" in rule.hf else host[p] for p in rule.ours]
            out[name] = np.ascontiguousarray(rule.write(*parts))
    return out


def save_pretrained(
    folder: str | os.PathLike[str],
    model: Para,
    params: Mapping[str, Any],
    *,
    like: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> None:
    """Write ``params`` as a Hugging Face checkpoint folder (``config.json`` + safetensors).

    See the module docstring for an example.

    With ``like`` (a checkpoint folder, e.g. the one ``load_pretrained`` read), the
    layout is its layout: the same ``config.json``, tensor names (prefix
    included), dtypes, shards and metadata, and its non-parameter tensors (GPT-2's
    causal-mask buffers) copied as they are; the parameters must fit its config.
    Without it, ``config`` (a dict as in ``config.json``) says the family and sizes,
    and the weights go to one ``model.safetensors`` at the config's ``torch_dtype``
    (else the parameters' dtype), named as ``transformers`` saves them.

    Args:
        folder: where to write (created if needed).
        model: the model the parameters are for; its parameters must be the
            config's (paths and shapes).
        params: the parameters (as ``load_pretrained`` returns them, or trained).
        like: a checkpoint folder whose layout to write.
        config: the config to write, when there is no ``like``.
    """
    if (like is None) == (config is None):
        raise PretrainedError("save_pretrained: give exactly one of like= (a folder) or config=")
    if like is not None:
        cfg = read_config(like)
        where, index = _files(like)
        source = _read(like, where)
        shapes: Shapes | None = {k: tuple(v.shape) for k, v in source.items()}
    else:
        assert config is not None
        cfg, where, index, source, shapes = dict(config), {}, None, {}, None
    layout = _layout(cfg, None, shapes)
    declared = {k: tuple(q.ob.shape) for k, q in model.parameters().items() if isinstance(q.ob, R)}
    ours = {
        k: tuple(q.ob.shape) for k, q in layout.model.parameters().items() if isinstance(q.ob, R)
    }
    if declared != ours:
        diff = sorted(set(declared.items()) ^ set(ours.items()))[:3]
        raise PretrainedError(
            f"save_pretrained: the model's parameters are not the config's: {diff}"
        )
    _check_shapes(layout, params, "save_pretrained")
    tensors = _tensors(layout, params, None if shapes is None else set(shapes))
    if like is not None:
        for name, value in source.items():
            if name not in tensors:  # buffers: kept as they are
                tensors[name] = value
            else:
                tensors[name] = tensors[name].astype(value.dtype)
    else:
        target = _target_dtype(cfg, params)
        tensors = {k: v.astype(target) for k, v in tensors.items()}
    _write(folder, cfg, tensors, where, index, like)


def _write(
    folder: str | os.PathLike[str],
    cfg: Mapping[str, Any],
    tensors: Mapping[str, Array],
    where: Mapping[str, str],
    index: Mapping[str, Any] | None,
    like: str | os.PathLike[str] | None,
) -> None:
    try:
        from safetensors.numpy import save_file
    except ModuleNotFoundError:
        raise PretrainedError(
            "writing a checkpoint needs the safetensors package: pip install -e '.[checkpoints]'"
        ) from None

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, CONFIG), "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    files = sorted(set(where.values())) if where else [WEIGHTS]
    for file in files:
        part = {k: v for k, v in tensors.items() if where.get(k, WEIGHTS) == file}
        meta = _metadata(like, file) if like is not None else {"format": "pt"}
        save_file(part, os.path.join(folder, file), metadata=meta)
    if index is not None:
        with open(os.path.join(folder, INDEX), "w", encoding="utf-8") as f:
            f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


def same(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two checkpoint folders hold the same config and tensors, bit for bit.

    See the module docstring for an example.

    The same ``config.json`` fields and values; the same tensor names, and each
    tensor of the same dtype, shape and bytes; the same shard index.
    """
    if read_config(a) != read_config(b):
        return False
    wa, ia = _files(a)
    wb, ib = _files(b)
    if wa != wb or ia != ib:
        return False
    ta, tb = _read(a, wa), _read(b, wb)
    return all(
        ta[k].dtype == tb[k].dtype
        and ta[k].shape == tb[k].shape
        and ta[k].tobytes() == tb[k].tobytes()
        for k in ta
    )


def write_random(
    folder: str | os.PathLike[str], config: Mapping[str, Any], *, seed: int = 0
) -> None:
    """Write a checkpoint folder of ``config`` with random weights (no download needed).

    See the module docstring for an example.

    The weights are ``backends.jax.init`` of the config's preset (the presets'
    initialisers), saved by ``save_pretrained(folder, ..., config=config)``.

    Args:
        folder: where to write.
        config: a ``config.json`` dict (``model_type`` and the sizes at least).
        seed: the seed of the weights.
    """
    from backends.jax.core.params import init

    model = preset_from_config(config)
    params = init(model, jax.random.key(seed))
    save_pretrained(folder, model, params, config=config)
