"""Routed experts against their dense form, the routing primitives against NumPy, and
Mixtral's parameter count against ``transformers``' shapes."""

from __future__ import annotations

import functools
import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import apply, compile, init
from topos import Fin, R
from topos.nn import primitives as P
from topos.nn.moe import capacity, experts
from topos.nn.zoo import MIXTRAL, PUBLISHED, mixtral, preset


def _numpy_dispatch(labels: np.ndarray, n_experts: int, cap: int):
    n, k = labels.shape
    slots, keep, seen = np.full((n, k), n_experts * cap), np.zeros((n, k)), [0] * n_experts
    for j in range(k):  # every first choice before any second choice
        for t in range(n):
            e = labels[t, j]
            if seen[e] < cap:
                slots[t, j], keep[t, j] = e * cap + seen[e], 1.0
            seen[e] += 1
    return slots, keep


N, K, E, CAP = 9, 2, 4, 3
DISPATCH = jax.jit(compile(P.dispatch(Fin(E, N, K), CAP)))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.lists(st.integers(0, E - 1), min_size=K, max_size=K), min_size=N, max_size=N))
def test_dispatch_serves_first_choices_first_and_drops_past_capacity(rows) -> None:
    labels = np.array(rows, np.int32)
    slots, keep = DISPATCH(labels)
    want_slots, want_keep = _numpy_dispatch(labels, E, CAP)
    np.testing.assert_array_equal(np.asarray(slots), want_slots)
    np.testing.assert_array_equal(np.asarray(keep), want_keep)


def test_top_k_and_scatter_add_agree_with_numpy() -> None:
    x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    values, idx = compile(P.top_k(R(5, 7), 3))(x)
    want = np.argsort(-x, axis=-1, kind="stable")[:, :3]
    np.testing.assert_array_equal(np.asarray(idx), want)
    np.testing.assert_array_equal(np.asarray(values), np.take_along_axis(x, want, -1))
    v = np.random.default_rng(1).normal(size=(5, 3, 2)).astype(np.float32)
    out = compile(P.scatter_add(R(5, 3, 2), Fin(7, 5, 3)))((v, want.astype(np.int32)))
    ref = np.zeros((7, 2), np.float32)
    np.add.at(ref, want, v)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-6, atol=1e-6)


def test_routing_primitives_refuse_bad_shapes() -> None:
    with pytest.raises(TypeError, match="top_k: k must be"):
        P.top_k(R(3, 4), 5)
    with pytest.raises(TypeError, match="dispatch: expected labels Fin"):
        P.dispatch(Fin(4, 3), 2)
    with pytest.raises(TypeError, match="scatter_add: expected"):
        P.scatter_add(R(3, 2, 5), Fin(7, 2, 3))
    with pytest.raises(ValueError, match="k = 5 is more than n_experts = 4"):
        experts(6, 8, 16, n_experts=4, k=5)


@functools.lru_cache
def _runner(n: int, cf: float | None, routed: bool):
    """A jitted layer, compiled once per configuration for all the tests here."""
    layer = experts(n, 8, 16, n_experts=4, k=2, capacity_factor=cf, aux=True, routed=routed)
    return layer, jax.jit(lambda p, v: apply(layer, p, v))


def _forms(n: int, cf: float | None, seed: int):
    layer, routed = _runner(n, cf, True)
    _, dense = _runner(n, None, False)
    params = init(layer, jax.random.key(seed))
    x = np.asarray(jax.random.normal(jax.random.key(seed + 1), (n, 8)))
    (y, aux), (want, _) = routed(params, x), dense(params, x)
    return np.asarray(y), np.asarray(aux), np.asarray(want), params, x


@pytest.mark.parametrize("cf", [0.5, 1.0, 1.25])
def test_routed_equals_dense_on_every_token_within_capacity(cf: float) -> None:
    n = 16
    y, aux, want, params, x = _forms(n, cf, 3)
    scores = x @ np.asarray(params["moe.router.w"])
    labels = np.argsort(-scores, axis=-1, kind="stable")[:, :2].astype(np.int32)
    _, keep = _numpy_dispatch(labels, 4, capacity(n, 4, 2, cf))
    inside = keep.all(axis=1)
    assert inside.any()
    np.testing.assert_allclose(y[inside], want[inside], rtol=1e-5, atol=1e-6)
    assert aux[1] == keep.size - keep.sum()  # the dropped choices, counted
    if aux[1]:
        assert not np.allclose(y[~inside], want[~inside])


def test_dropless_routing_equals_the_dense_form_everywhere() -> None:
    y, aux, want, _, _ = _forms(16, None, 5)
    assert aux[1] == 0
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_load_balancing_loss_is_switch_mixtral_style() -> None:
    n, e = 16, 4
    _, aux, _, params, x = _forms(n, 0.5, 7)
    scores = x @ np.asarray(params["moe.router.w"])
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    top = np.argsort(-scores, axis=-1, kind="stable")[:, :2]
    frac = np.eye(e)[top].sum(1).mean(0)  # fraction of tokens choosing e, over both ranks
    np.testing.assert_allclose(aux[0], e * np.sum(frac * probs.mean(0)), rtol=1e-5)


@pytest.mark.slow
def test_the_loss_trains_through_the_routed_layer() -> None:
    layer = experts(8, 4, 8, n_experts=4, k=2, capacity_factor=2.0, aux=True)
    params = init(layer, jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (8, 4))

    def loss(p):
        y, aux = apply(layer, p, x)
        return (y**2).mean() + 0.01 * aux[0]

    grads = jax.jit(jax.grad(loss))(params)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads.values())
    assert float(np.abs(np.asarray(grads["moe.router.w"])).sum()) > 0


@pytest.mark.slow
def test_a_tiny_mixtral_runs() -> None:
    tiny = mixtral(31, 6, 16, 4, 2, 2, 24, 4, 2)
    params = init(tiny, jax.random.key(0))
    ids = np.array([1, 5, 7, 2, 30, 0], np.int32)
    logits = jax.jit(lambda p, v: apply(tiny, p, v))(params, ids)
    assert logits.shape == (6, 31) and np.isfinite(np.asarray(logits)).all()


def _transformers_mixtral_count(layers: int | None = None, **small: int) -> int:
    """Mixtral's parameters from ``transformers``' Flax Mistral shapes (``jax.eval_shape``,
    no weights) with the MLP of each layer replaced by ``MixtralConfig``'s experts and router
    (there is no Flax Mixtral; the sparse block is ``num_local_experts`` SwiGLU MLPs plus a
    bias-free ``hidden_size x num_local_experts`` gate)."""
    from transformers import FlaxMistralForCausalLM, MistralConfig, MixtralConfig

    cfg = MixtralConfig(**small) if layers is None else MixtralConfig(num_hidden_layers=layers,
                                                                       **small)  # fmt: skip
    fields = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "tie_word_embeddings")  # fmt: skip
    model = FlaxMistralForCausalLM(MistralConfig(**{f: getattr(cfg, f) for f in fields}),
                                   _do_init=False)  # fmt: skip
    shapes = jax.eval_shape(lambda key: model.init_weights(key, (1, 1)), jax.random.key(0))
    dense = sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(shapes))
    d, h, e = cfg.hidden_size, cfg.intermediate_size, cfg.num_local_experts
    return dense + cfg.num_hidden_layers * ((e - 1) * 3 * d * h + d * e)


def test_mixtral_count_agrees_with_transformers_on_a_small_config() -> None:
    small = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_attention_heads=4,
                 num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)  # fmt: skip
    ours = mixtral(97, 16, 32, 4, 2, 3, 48, 4, 2)
    assert ours.num_params() == _transformers_mixtral_count(layers=3, **small)


@pytest.mark.slow
def test_mixtral_8x7b_has_the_published_count_and_transformers_agrees() -> None:
    from transformers import MixtralConfig

    cfg = MixtralConfig()  # the defaults are Mixtral-8x7B-v0.1's
    vocab, _, d, heads, kv, layers, hidden, e, k, base = MIXTRAL["mixtral-8x7b"]
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_attention_heads) == (vocab, d, heads)
    assert (cfg.num_key_value_heads, cfg.num_hidden_layers, cfg.intermediate_size) == (
        kv, layers, hidden)  # fmt: skip
    assert (cfg.num_local_experts, cfg.num_experts_per_tok, cfg.rope_theta) == (e, k, base)
    count = preset("mixtral-8x7b").num_params()
    assert count == PUBLISHED["mixtral-8x7b"] == 46_702_792_704
    assert count == _transformers_mixtral_count()


@pytest.mark.slow
def test_a_dropless_mixtral_decodes_with_the_cache_as_the_uncached_model() -> None:
    from backends.jax import generate
    from topos.objects import Dim

    m = mixtral(31, Dim("seq", 10), 16, 4, 2, 2, 24, 4, 2)
    params = init(m, jax.random.key(0))
    toks, logits = generate(m, params, [3, 4, 5], 5, jax.random.key(1), return_logits=True)
    ids = np.array([3, 4, 5, *toks[:-1]], np.int32)
    full = np.asarray(apply(m, params, ids))
    np.testing.assert_allclose(logits, full[2:], atol=1e-5)
