"""Weights between Penzai's transformer variants and topos language models.

``from_penzai_llama(model, config, seq)`` reads a Penzai ``llamalike_common``
model (Llama, Mistral-style: RMSNorm, RoPE, gated MLP, grouped-query attention,
no biases) and returns the equal topos ``Para`` with a parameter dict for it;
``to_penzai_llama(params, config)`` goes back. ``from_penzai_gpt_neox`` does the
same for Penzai's ``gpt_neox`` (parallel blocks, partial RoPE, biases).

Penzai names every axis; topos parameters are plain arrays with the head axes
flattened in Penzai's order (``head_groups``, then ``query_heads``, then
``projection``), and the blocks stacked on a leading axis (``repeat``).
Penzai is needed only to call these functions (``pip install penzai``).

>>> import jax, numpy as np
>>> from penzai import pz
>>> from penzai.models.transformer.variants import llamalike_common as L
>>> cfg = L.LlamalikeTransformerConfig(
...     num_kv_heads=2, query_head_multiplier=2, embedding_dim=32, projection_dim=8,
...     mlp_hidden_dim=48, num_decoder_blocks=2, vocab_size=50, mlp_variant="swiglu",
...     tie_embedder_and_logits=False)
>>> model = L.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(0))
>>> para, params = from_penzai_llama(model, cfg, seq=8)
>>> params["blocks.attn.q.w"].shape, params["blocks.attn.k.w"].shape
((2, 32, 32), (2, 32, 16))
>>> from backends.jax import apply
>>> tokens = np.arange(8, dtype=np.int32)
>>> ours = apply(para, params, tokens)
>>> theirs = model(pz.nx.wrap(tokens).tag("seq")).unwrap("seq", "vocabulary")
>>> bool(np.abs(np.asarray(ours) - np.asarray(theirs)).max() < 1e-5)
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from topos.nn.decoder import language_model
from topos.para import Para

__all__ = ["from_penzai_gpt_neox", "from_penzai_llama", "to_penzai_llama"]

_HEADS = ("heads", "head_groups", "query_heads")


def _values(model: Any) -> dict[str, Any]:
    """Penzai's parameters by label (``transformer/block_0/...``), as named arrays."""
    from penzai import pz  # type: ignore[import-untyped]

    return {p.label: p.value for p in pz.unbind_params(model)[1]}


def _flat(value: Any, first: Sequence[str], last: Sequence[str]) -> Any:
    """``value`` with axes ``first``, its head axes, ``last``; heads merged with ``last``
    (input projections, ``first`` given) or with ``last[:-1]`` (the output projection)."""
    heads = [n for n in _HEADS if n in value.named_shape]
    array = value.unwrap(*first, *heads, *last)
    if first:
        return array.reshape(*array.shape[: len(first)], -1)
    return array.reshape(-1, array.shape[-1])


def _unwrap(*names: str) -> Callable[[Any], Any]:
    """The reader of a named array as a plain one with axes ``names``."""
    return lambda a: a.unwrap(*names)


def _stack(
    values: Mapping[str, Any], prefix: str, layers: int, leaf: str, read: Callable[[Any], Any]
) -> Any:
    return jnp.stack([read(values[f"{prefix}/block_{i}/{leaf}"]) for i in range(layers)])


def _check_llama(config: Any) -> None:
    from penzai.models.transformer.variants import (  # type: ignore[import-untyped]
        llamalike_common as L,
    )

    unsupported = {
        "tie_embedder_and_logits": config.tie_embedder_and_logits,
        "use_post_attn_norm": config.use_post_attn_norm,
        "use_post_ffw_norm": config.use_post_ffw_norm,
        "final_logit_softcap": config.final_logit_softcap,
        "attn_logits_soft_cap": config.attn_logits_soft_cap,
        "use_layer_stack": config.use_layer_stack,
        "sliding window": not isinstance(config.attention_type, L.AttentionTypeGlobalCausal),
        "query_scaling_factor": config.query_scaling_factor != "default",
    }
    bad = [k for k, v in unsupported.items() if v]
    if bad:
        raise ValueError(f"from_penzai_llama: options not supported by topos yet: {bad}")


def _llama_para(config: Any, seq: int) -> Para:
    heads = config.num_kv_heads * config.query_head_multiplier
    return language_model(
        config.vocab_size, seq, config.embedding_dim, heads, config.num_decoder_blocks,
        kv_heads=config.num_kv_heads, head_dim=config.projection_dim,
        mlp_hidden=config.mlp_hidden_dim, positional="rope", norm="rms",
        eps=config.rms_norm_eps, activation={"swiglu": "swiglu", "geglu_approx": "geglu"}[
            config.mlp_variant
        ], bias=False, rope_base=config.rope_wavelength,
    )  # fmt: skip


def from_penzai_llama(
    model: Any, config: Any, seq: int, *, name: str = "transformer"
) -> tuple[Para, dict[str, Any]]:
    """The topos Llama-style model equal to a Penzai ``llamalike_common`` one, and its weights.

    See the module docstring for an example.

    Args:
        model: a ``TransformerLM`` built by ``build_llamalike_transformer(config, ...)``.
        config: its ``LlamalikeTransformerConfig`` (untied, no soft caps or post norms,
            global causal attention, not layer-stacked).
        seq: the sequence length of the topos model.
        name: the model's name in Penzai's parameter labels.

    Returns:
        ``(para, params)``: ``apply(para, params, tokens)`` equals ``model(tokens)``.
    """
    _check_llama(config)
    v, n = _values(model), config.num_decoder_blocks
    e, p = ("embedding",), ("projection",)
    blocks = {
        "ln1.scale": ("pre_attention_norm/scale.weights", lambda a: a.unwrap("embedding")),
        "attn.q.w": ("attention/query.weights", lambda a: _flat(a, e, p)),
        "attn.k.w": ("attention/key.weights", lambda a: _flat(a, e, p)),
        "attn.v.w": ("attention/value.weights", lambda a: _flat(a, e, p)),
        "attn.o.w": ("attention/output.weights", lambda a: _flat(a, (), (*p, *e))),
        "ln2.scale": ("pre_ffw_norm/scale.weights", lambda a: a.unwrap("embedding")),
        "mlp.gate.w": ("mlp/gating_linear.weights", lambda a: a.unwrap("embedding", "neurons")),
        "mlp.up.w": ("mlp/value_linear.weights", lambda a: a.unwrap("embedding", "neurons")),
        "mlp.down.w": ("mlp/out_linear.weights", lambda a: a.unwrap("neurons", "embedding")),
    }
    params = {"embed.table": v[f"{name}/embedder.embeddings"].unwrap("vocabulary", "embedding")}
    params |= {f"blocks.{k}": _stack(v, name, n, leaf, rd) for k, (leaf, rd) in blocks.items()}
    params["ln_f.scale"] = v[f"{name}/final_norm/scale.weights"].unwrap("embedding")
    params["head.w"] = v[f"{name}/lm_head.weights"].unwrap("embedding", "vocabulary")
    return _llama_para(config, seq), params


def to_penzai_llama(params: Mapping[str, Any], config: Any, *, name: str = "transformer") -> Any:
    """A Penzai ``llamalike_common`` model carrying the topos weights ``params``.

    The inverse of ``from_penzai_llama``: the model is built from ``config`` and
    each of its parameters is set from ``params``.

    >>> import jax, numpy as np
    >>> from penzai.models.transformer.variants import llamalike_common as L
    >>> cfg = L.LlamalikeTransformerConfig(
    ...     num_kv_heads=1, query_head_multiplier=4, embedding_dim=32, projection_dim=8,
    ...     mlp_hidden_dim=48, num_decoder_blocks=2, vocab_size=50, mlp_variant="geglu_approx",
    ...     tie_embedder_and_logits=False)
    >>> model = L.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(0))
    >>> _, params = from_penzai_llama(model, cfg, seq=8)
    >>> back = from_penzai_llama(to_penzai_llama(params, cfg), cfg, seq=8)[1]
    >>> all(np.array_equal(back[k], params[k]) for k in params)
    True

    Args:
        params: the topos parameters (as ``from_penzai_llama`` returns, or trained).
        config: the ``LlamalikeTransformerConfig`` of the model.
        name: the model's name in Penzai's parameter labels.

    Returns:
        A Penzai ``TransformerLM``.
    """
    from penzai import pz
    from penzai.models.transformer.variants import llamalike_common as L

    _check_llama(config)
    model = L.build_llamalike_transformer(config, init_base_rng=jax.random.key(0), name=name)
    targets: dict[str, tuple[str, int | None]] = {
        "embedder.embeddings": ("embed.table", None),
        "final_norm/scale.weights": ("ln_f.scale", None),
        "lm_head.weights": ("head.w", None),
    }
    leaves = {
        "pre_attention_norm/scale.weights": "ln1.scale",
        "attention/query.weights": "attn.q.w",
        "attention/key.weights": "attn.k.w",
        "attention/value.weights": "attn.v.w",
        "attention/output.weights": "attn.o.w",
        "pre_ffw_norm/scale.weights": "ln2.scale",
        "mlp/gating_linear.weights": "mlp.gate.w",
        "mlp/value_linear.weights": "mlp.up.w",
        "mlp/out_linear.weights": "mlp.down.w",
    }
    for i in range(config.num_decoder_blocks):
        targets |= {f"block_{i}/{leaf}": (f"blocks.{k}", i) for leaf, k in leaves.items()}
    for param in model.select().at_instances_of(pz.Parameter).get_sequence():
        path, layer = targets[param.label[len(name) + 1 :]]
        array = jnp.asarray(params[path] if layer is None else params[path][layer])
        shape = param.value.named_shape
        param.value = pz.nx.wrap(array.reshape(tuple(shape.values()))).tag(*shape)
    return model


def from_penzai_gpt_neox(
    model: Any, config: Any, seq: int, *, name: str = "transformer"
) -> tuple[Para, dict[str, Any]]:
    """The topos GPT-NeoX-style model equal to a Penzai ``gpt_neox`` one, and its weights.

    Parallel blocks ``x + attn(ln1(x)) + mlp(ln2(x))``, RoPE on the first
    ``rope_subset_size`` entries of each head, biases everywhere but the logits
    head, the final layer norm with Penzai's default ``eps = 1e-6``.

    >>> import jax, jax.numpy as jnp
    >>> from penzai.models.transformer.variants import gpt_neox as N
    >>> cfg = N.GPTNeoXTransformerConfig(
    ...     num_attention_heads=4, embedding_dim=32, projection_dim=8, mlp_hidden_dim=64,
    ...     num_decoder_blocks=2, vocab_size=50, activation_fn="gelu_approx",
    ...     rope_subset_size=4, rope_wavelength=10_000.0, layernorm_epsilon=1e-5,
    ...     parameter_dtype=jnp.float32, activation_dtype=jnp.float32)
    >>> model = N.build_gpt_neox_transformer(cfg, init_base_rng=jax.random.key(0))
    >>> para, params = from_penzai_gpt_neox(model, cfg, seq=8)
    >>> params["blocks.attn.q.b"].shape, "head.b" in params
    ((2, 32), False)

    Args:
        model: a ``TransformerLM`` built by ``build_gpt_neox_transformer(config, ...)``.
        config: its ``GPTNeoXTransformerConfig`` (``activation_fn`` ``gelu_exact``,
            ``gelu_approx`` or ``relu``; not layer-stacked).
        seq: the sequence length of the topos model.
        name: the model's name in Penzai's parameter labels.

    Returns:
        ``(para, params)``: ``apply(para, params, tokens)`` equals ``model(tokens)``.
    """
    acts = {"gelu_approx": "gelu", "gelu_exact": "gelu_exact", "relu": "relu"}
    if config.activation_fn not in acts or config.use_layer_stack:
        raise ValueError(
            f"from_penzai_gpt_neox: activation_fn must be one of {sorted(acts)} and the blocks"
            f" not layer-stacked; got {config.activation_fn!r}, {config.use_layer_stack}"
        )
    v, n = _values(model), config.num_decoder_blocks
    e, p = ("embedding",), ("projection",)
    blocks: dict[str, tuple[str, Callable[[Any], Any]]] = {}
    for ln, src in (("ln1", "pre_attention_norm"), ("ln2", "pre_ffw_norm")):
        blocks[f"{ln}.scale"] = (f"{src}/scale.weights", lambda a: a.unwrap("embedding"))
        blocks[f"{ln}.bias"] = (f"{src}/shift.bias", lambda a: a.unwrap("embedding"))
    for ours, theirs in (("q", "query"), ("k", "key"), ("v", "value")):
        blocks[f"attn.{ours}.w"] = (f"attention/{theirs}/Linear.weights", lambda a: _flat(a, e, p))
        blocks[f"attn.{ours}.b"] = (
            f"attention/{theirs}/AddBias.bias",
            lambda a: a.unwrap("heads", "projection").reshape(-1),
        )
    blocks["attn.o.w"] = ("attention/output/Linear.weights", lambda a: _flat(a, (), (*p, *e)))
    blocks["attn.o.b"] = ("attention/output/AddBias.bias", lambda a: a.unwrap("embedding"))
    for ours, theirs, axes in (
        ("fc1", "in", ("embedding", "neurons")),
        ("fc2", "out", ("neurons", "embedding")),
    ):
        blocks[f"mlp.{ours}.w"] = (f"mlp/{theirs}/Linear.weights", _unwrap(*axes))
        blocks[f"mlp.{ours}.b"] = (f"mlp/{theirs}/AddBias.bias", _unwrap(axes[1]))
    params = {"embed.table": v[f"{name}/embedder.embeddings"].unwrap("vocabulary", "embedding")}
    params |= {f"blocks.{k}": _stack(v, name, n, leaf, rd) for k, (leaf, rd) in blocks.items()}
    params["ln_f.scale"] = v[f"{name}/final_norm/scale.weights"].unwrap("embedding")
    params["ln_f.bias"] = v[f"{name}/final_norm/shift.bias"].unwrap("embedding")
    params["head.w"] = v[f"{name}/lm_head.weights"].unwrap("embedding", "vocabulary")
    para = language_model(
        config.vocab_size, seq, config.embedding_dim, config.num_attention_heads, n,
        head_dim=config.projection_dim, mlp_hidden=config.mlp_hidden_dim, positional="rope",
        norm="layer", eps=config.layernorm_epsilon, final_eps=1e-6,
        activation=acts[config.activation_fn], bias=True, head_bias=False, parallel=True,
        rope_dims=config.rope_subset_size, rope_base=config.rope_wavelength,
    )  # fmt: skip
    return para, params
