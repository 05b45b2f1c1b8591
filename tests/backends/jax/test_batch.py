"""``batch.summed`` and ``batched_backward``: shared parameters, their cotangent summed.

The reverse of copying the parameters to every example is the sum over the batch
(``R[Δ_B] = Σ``); ``batched_backward`` fuses that sum into the weight gradients'
products. It must equal ``jax.vjp`` of the batched forward (the zoo, two dtypes,
generated diagrams), and its optimised program must not materialise one weight
gradient per example (pinned on the HLO).
"""

from __future__ import annotations

import random
from typing import Any

import jax
import jax.numpy as jnp
import pytest
from _benchmarks import load

from backends.jax import init
from backends.jax.core.batch import summed
from backends.jax.core.compile import CONSTANTS, interpret
from backends.jax.core.params import cartesian, param_value
from backends.jax.core.reverse import batched_backward
from topos import R, discard, fst, pair, snd
from topos.dtypes import with_dtype
from topos.nn import primitives as P
from topos.nn.grammar import architecture, random_spec
from topos.nn.zoo import ARCHITECTURES
from topos.para import Para

TOLERANCE = {"float32": 1e-6, "float64": 1e-12}
BATCH = 5


sample = load("reverse").sample  # benchmarks/reverse.py's batches of random values


def _both(p: Para, seed: int) -> tuple[Any, Any, Any, Any]:
    """(ours, jax.vjp's) cotangents of the parameters and of the inputs, for one batch."""
    q = cartesian(p)
    params = init(q, jax.random.key(seed))
    pv = param_value(q, params)
    xs = sample(q.dom, jax.random.key(seed + 1), BATCH)
    cts = sample(q.cod, jax.random.key(seed + 2), BATCH)
    forward = interpret(q.arrow).fn
    token = CONSTANTS.set(params)
    try:
        _, vjp = jax.vjp(lambda v, x: jax.vmap(lambda xi: forward((v, xi)))(x), pv, xs)
        ref_p, ref_x = vjp(cts)
        ours_p, ours_x = jax.jit(batched_backward(q))(((pv, xs), cts))
    finally:
        CONSTANTS.reset(token)
    return ours_p, ref_p, ours_x, ref_x


def difference(p: Para, seed: int = 0) -> float:
    """max |batched_backward - jax.vjp| over every cotangent, relative to their scale."""
    with jax.enable_x64(True):
        return _relative(*_both(p, seed))


def _relative(ours_p: Any, ref_p: Any, ours_x: Any, ref_x: Any) -> float:
    pairs = [(a, b) for a, b in zip(jax.tree.leaves(ours_p), jax.tree.leaves(ref_p), strict=True)]
    real = [b for b in jax.tree.leaves(ref_x) if jnp.issubdtype(b.dtype, jnp.floating)]
    pairs += list(zip(jax.tree.leaves(ours_x), real, strict=True))  # labels: no cotangent
    scale = max([1.0, *(float(jnp.max(jnp.abs(b))) for _, b in pairs)])
    return max(float(jnp.max(jnp.abs(a - b))) for a, b in pairs) / scale


FAST = ["swiglu mlp", "rmsnorm"]
SLOW = [
    "cnn (relu)",
    "mlp (relu)",
    "mlp (tanh)",
    "rnn (tanh)",
    "gcn (relu)",
    "linear attention",
    "hypernetwork",
    "mixture of experts",
    "transformer",
    "llama-style lm",
]


@pytest.mark.parametrize("name", FAST)
def test_batched_backward_equals_vjp_of_the_batch(name: str) -> None:
    p = ARCHITECTURES[name](True)
    assert difference(p) <= TOLERANCE["float32"]
    assert difference(with_dtype(p, "float64")) <= TOLERANCE["float64"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_batched_backward_equals_vjp_of_the_batch_slow(name: str) -> None:
    p = ARCHITECTURES[name](True)
    assert difference(p) <= TOLERANCE["float32"]
    assert difference(with_dtype(p, "float64")) <= TOLERANCE["float64"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_batched_backward_on_generated_diagrams(seed: int) -> None:
    spec = random_spec(random.Random(seed), depth=2, widths=(4,))
    p = architecture(spec, seq=3, d_in=2, d_out=2)
    assert difference(with_dtype(p, "float64")) <= TOLERANCE["float64"], spec


def test_no_weight_gradient_per_example_in_the_program() -> None:
    """The weight gradient is one product over the batch: no ``B x in x out`` array."""
    p = ARCHITECTURES["swiglu mlp"](True)  # weights R(8, 24), R(8, 24), R(24, 8)
    q = cartesian(p)
    params = init(q, jax.random.key(0))
    pv = param_value(q, params)
    xs, cts = jnp.ones((BATCH, 8)), jnp.ones((BATCH, 8))
    text = jax.jit(batched_backward(q)).lower(((pv, xs), cts)).compile().as_text()
    assert f"f32[{BATCH},8,24]" not in text and f"f32[{BATCH},24,8]" not in text
    assert " dot(" in text or "dot_general" in text


def test_a_kernel_cotangent_is_one_convolution_over_the_batch() -> None:
    """``Σ_b conv_filter(x_b, g_b)`` is one convolution, not one kernel per example."""
    Xc, Wc = R(6, 6, 2), R(3, 3, 2, 4)
    f = pair(snd(Wc, Xc), fst(Wc, Xc)) >> P.conv(Xc, Wc) >> P.tanh(R(6, 6, 4))
    back = batched_backward(Para(Wc, f))
    w = jax.random.normal(jax.random.key(0), (3, 3, 2, 4))
    xs = jax.random.normal(jax.random.key(1), (BATCH, 6, 6, 2))
    cts = jax.random.normal(jax.random.key(2), (BATCH, 6, 6, 4))
    dw, dx = jax.jit(back)(((w, xs), cts))
    run = interpret(f).fn
    _, vjp = jax.vjp(lambda v, x: jax.vmap(lambda xi: run((v, xi)))(x), w, xs)
    ref_w, ref_x = vjp(cts)
    assert float(jnp.max(jnp.abs(dw - ref_w))) <= 1e-4
    assert float(jnp.max(jnp.abs(dx - ref_x))) <= 1e-5
    text = jax.jit(back).lower(((w, xs), cts)).compile().as_text()
    # vmap's rule would group the examples as features (feature_group_count=B) and add
    # B kernels afterwards; one convolution contracts the batch as jax.vjp's does
    assert "feature_group_count" not in text and f"f32[2,3,3,{4 * BATCH}]" not in text


X, W = R(3), R(3, 2)


def test_shared_outputs_count_once_per_example() -> None:
    """A total that does not depend on the batch is ``B`` times the value."""
    f = pair(fst(W, X), snd(W, X) >> P.tanh(X))
    run = summed(f, (True, False), (True, False))
    w, xs = jnp.ones((3, 2)), jnp.ones((BATCH, 3))
    total, ys = run((w, xs))
    assert jnp.allclose(total, BATCH * w) and ys.shape == (BATCH, 3)
    total, ys = summed(f >> (discard(W) * P.tanh(X)), (True, False), (True, False))((w, xs))
    assert total == () and ys.shape == (BATCH, 3)


def test_a_sum_moves_through_additive_boxes_into_the_contraction() -> None:
    """``Σ_b (x_b ⊗ g_b + x_b ⊗ g_b)`` reshaped: equal to the per-example sum."""
    outer = pair(fst(X, R(2)), snd(X, R(2))) >> P.einsum("i,o->io", X, R(2))
    twice = pair(outer, outer) >> P.add(W, W) >> P.reshape(W, 6) >> P.scale(R(6), 0.5)
    xs = jax.random.normal(jax.random.key(0), (BATCH, 3))
    gs = jax.random.normal(jax.random.key(1), (BATCH, 2))
    got = summed(twice, (False, False), True)((xs, gs))
    want = jax.vmap(interpret(twice).fn)((xs, gs)).sum(0)
    assert jnp.allclose(got, want, atol=1e-6)


def test_everything_shared_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing is batched"):
        summed(P.tanh(X), True, True)(jnp.ones(3))
