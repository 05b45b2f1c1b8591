"""topos language models held against Penzai's transformer variants on shared weights.

Penzai builds and initialises the model; ``backends.jax.interop.penzai`` reads its weights
into the topos model of the same configuration; the logits must agree within 1e-5
(float32). Skipped when penzai is not installed (it is in the ``dev`` extra).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("penzai", reason="penzai is a test-only dependency: pip install penzai")

from penzai import pz  # noqa: E402
from penzai.models.transformer.variants import gpt_neox as N  # noqa: E402
from penzai.models.transformer.variants import llamalike_common as L  # noqa: E402

from backends.jax import apply  # noqa: E402
from backends.jax.interop.penzai import (  # noqa: E402
    from_penzai_gpt_neox,
    from_penzai_llama,
    to_penzai_llama,
)

SEQ, VOCAB = 8, 50


def tokens(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, SEQ).astype(np.int32)


def logits_gap(model: Any, para: Any, params: Any, seed: int) -> float:
    ids = tokens(seed)
    ours = np.asarray(jax.jit(lambda p, x: apply(para, p, x))(params, ids))
    theirs = np.asarray(model(pz.nx.wrap(jnp.asarray(ids)).tag("seq")).unwrap("seq", "vocabulary"))
    assert ours.shape == theirs.shape == (SEQ, VOCAB)
    assert np.abs(theirs).max() > 0.1  # not trivially zero
    return float(np.abs(ours - theirs).max())


@pytest.mark.parametrize(
    ("kv", "group", "d", "variant"),
    [
        (2, 2, 32, "swiglu"),  # grouped-query
        (4, 1, 64, "swiglu"),  # multi-head
        (1, 4, 32, "geglu_approx"),  # multi-query, GeGLU
    ],
)
def test_llama_logits_equal_penzai_llamalike(kv: int, group: int, d: int, variant: str) -> None:
    cfg = L.LlamalikeTransformerConfig(
        num_kv_heads=kv, query_head_multiplier=group, embedding_dim=d, projection_dim=8,
        mlp_hidden_dim=2 * d, num_decoder_blocks=2, vocab_size=VOCAB, mlp_variant=variant,
        tie_embedder_and_logits=False,
    )  # fmt: skip
    model = L.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(kv + group))
    para, params = from_penzai_llama(model, cfg, SEQ)
    assert set(params) == set(para.parameters())
    assert logits_gap(model, para, params, seed=kv) < 1e-5


def test_to_penzai_llama_carries_topos_weights() -> None:
    """Weights made by topos, written into a fresh Penzai model: the logits agree."""
    cfg = L.LlamalikeTransformerConfig(
        num_kv_heads=2, query_head_multiplier=2, embedding_dim=32, projection_dim=8,
        mlp_hidden_dim=48, num_decoder_blocks=2, vocab_size=VOCAB, mlp_variant="swiglu",
        tie_embedder_and_logits=False,
    )  # fmt: skip
    para, params = from_penzai_llama(
        L.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(0)), cfg, SEQ
    )
    rng = np.random.default_rng(0)
    mine = {k: (0.2 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in params.items()}
    assert logits_gap(to_penzai_llama(mine, cfg), para, mine, seed=1) < 1e-5


def test_unsupported_llama_options_are_named() -> None:
    cfg = L.LlamalikeTransformerConfig(
        num_kv_heads=1, query_head_multiplier=2, embedding_dim=32, projection_dim=8,
        mlp_hidden_dim=48, num_decoder_blocks=1, vocab_size=VOCAB, mlp_variant="swiglu",
        tie_embedder_and_logits=True, final_logit_softcap=30.0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="tie_embedder_and_logits.*final_logit_softcap"):
        from_penzai_llama(None, cfg, SEQ)


@pytest.mark.parametrize(
    ("heads", "d", "rope", "act"),
    [(4, 32, 4, "gelu_approx"), (4, 64, 8, "relu"), (2, 32, 2, "gelu_exact")],
)
def test_gpt_neox_logits_equal_penzai_gpt_neox(heads: int, d: int, rope: int, act: str) -> None:
    cfg = N.GPTNeoXTransformerConfig(
        num_attention_heads=heads, embedding_dim=d, projection_dim=d // heads,
        mlp_hidden_dim=4 * d, num_decoder_blocks=2, vocab_size=VOCAB, activation_fn=act,
        rope_subset_size=rope, rope_wavelength=10_000.0, layernorm_epsilon=1e-5,
        parameter_dtype=jnp.float32, activation_dtype=jnp.float32,
    )  # fmt: skip
    model = N.build_gpt_neox_transformer(cfg, init_base_rng=jax.random.key(heads + rope))
    para, params = from_penzai_gpt_neox(model, cfg, SEQ)
    assert set(params) == set(para.parameters())
    assert logits_gap(model, para, params, seed=heads) < 1e-5
