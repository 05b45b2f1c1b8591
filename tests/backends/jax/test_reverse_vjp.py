"""``reverse(f)`` compiled equals ``jax.vjp``: the zoo, a preset, generated diagrams, two dtypes."""

from __future__ import annotations

import random
from typing import Any

import jax
import jax.numpy as jnp
import pytest

from backends.jax import init
from backends.jax.core.compile import CONSTANTS, interpret
from backends.jax.core.params import cartesian, param_value
from backends.jax.core.reverse import backward, gradient
from topos.dtypes import with_dtype
from topos.nn import primitives as P
from topos.nn.decoder import language_model
from topos.nn.grammar import architecture, random_spec
from topos.nn.zoo import ARCHITECTURES, llama
from topos.objects import Fin, Ob, Product, R, Unit
from topos.para import Para
from topos.reverse import reverse

#: Largest |reverse - jax.vjp|, relative to the largest |jax.vjp| entry (at least 1).
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


def sample(ob: Ob, key: jax.Array) -> Any:
    """A random value of ``ob`` (normal reals, uniform labels)."""
    if isinstance(ob, R):
        return jax.random.normal(key, tuple(ob.shape), ob.dtype)
    if isinstance(ob, Fin):
        return jax.random.randint(key, tuple(ob.shape), 0, ob.n)
    if isinstance(ob, Unit):
        return ()
    assert isinstance(ob, Product), ob
    k1, k2 = jax.random.split(key)
    return (sample(ob.left, k1), sample(ob.right, k2))


def difference(p: Para, seed: int = 0) -> float:
    """max |reverse(p) - jax.vjp(p)| over the parameters' cotangents, relative to their scale."""
    with jax.enable_x64(True):
        return _difference(p, seed)


def _difference(p: Para, seed: int) -> float:
    q = cartesian(p)
    params = init(q, jax.random.key(seed))
    pv = param_value(q, params)
    x = sample(q.dom, jax.random.key(seed + 1))
    ct = sample(q.cod, jax.random.key(seed + 2))
    forward = interpret(q.arrow).fn
    token = CONSTANTS.set(params)
    try:
        _, vjp = jax.vjp(lambda v: forward((v, x)), pv)
        (ref,) = vjp(ct)
        ours, _ = jax.jit(backward(q))(((pv, x), ct))
    finally:
        CONSTANTS.reset(token)
    diffs = jax.tree.leaves(jax.tree.map(lambda a, b: jnp.max(jnp.abs(a - b)), ref, ours))
    scale = max([1.0, *(float(jnp.max(jnp.abs(a))) for a in jax.tree.leaves(ref))])
    return max([0.0, *(float(d) for d in diffs)]) / scale


FAST = ["mlp (tanh)", "rmsnorm"]
SLOW = [
    "mlp (relu)",
    "rnn (relu)",
    "rnn (tanh)",
    "gcn (relu)",
    "gcn (tanh)",
    "linear attention",
    "hypernetwork",
    "mixture of experts",
    "swiglu mlp",
    "transformer",
    "llama-style lm",
    "cnn (relu)",
    "cnn (gelu)",
    "routed experts (top-2)",
]


@pytest.mark.parametrize("name", FAST)
def test_zoo_agrees_with_vjp(name: str) -> None:
    p = ARCHITECTURES[name](True)
    assert difference(p) <= TOLERANCE["float32"]
    assert difference(with_dtype(p, "float64")) <= TOLERANCE["float64"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_zoo_agrees_with_vjp_slow(name: str) -> None:
    p = ARCHITECTURES[name](True)
    assert difference(p) <= TOLERANCE["float32"]
    assert difference(with_dtype(p, "float64")) <= TOLERANCE["float64"]


PRESETS = {
    # the presets' builders at toy sizes: GPT-2's options (learned positions, GELU,
    # tied head) and Llama's (RoPE, RMSNorm, SwiGLU, grouped-query attention)
    "gpt2": lambda: language_model(11, 4, 8, 2, 2, tie=True, activation="gelu"),
    "llama": lambda: llama(11, 4, 8, 2, 2, 16, kv_heads=1),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_agree_with_vjp(name: str) -> None:
    p = PRESETS[name]()
    assert difference(p) <= TOLERANCE["float32"]
    assert difference(with_dtype(p, "float64")) <= TOLERANCE["float64"]


def test_the_whole_zoo_is_covered() -> None:
    assert set(ARCHITECTURES) == set(FAST) | set(SLOW)


@pytest.mark.slow
def test_a_small_cnn_agrees_with_vjp() -> None:
    """conv (stride 2, SAME) -> relu -> max_pool (overlapping windows) -> linear, both dtypes."""
    from topos.nn import conv, linear, max_pool, relu

    p = conv((7, 6, 2), 3, (3, 2), stride=(2, 1), name="c") >> relu(4, 6, 3)
    p = p >> max_pool((4, 6, 3), (2, 3), (1, 2)) >> P.reshape(R(3, 2, 3), 18)
    p = p >> linear(18, 2, name="o")
    assert difference(p) <= TOLERANCE["float32"]
    assert difference(with_dtype(p, "float64")) <= TOLERANCE["float64"]


@pytest.mark.parametrize("seed", range(3))
def test_generated_diagrams_agree(seed: int) -> None:
    spec = random_spec(random.Random(seed), depth=2, widths=(4,))
    p = architecture(spec, seq=3, d_in=2, d_out=2)
    assert difference(with_dtype(p, "float64")) <= TOLERANCE["float64"], spec


def test_gradient_by_path_matches_jax_grad() -> None:
    from topos.nn import mlp

    p = mlp([3, 5, 2])
    params = init(p, jax.random.key(0))
    x = jnp.linspace(-1.0, 1.0, 3)
    grads, dx = gradient(p, params, x, jnp.ones(2))
    from backends.jax import apply

    ref = jax.grad(lambda q: apply(p, q, x).sum())(params)
    assert set(grads) == set(ref)
    for k in ref:
        assert jnp.allclose(grads[k], ref[k], atol=1e-6), k
    assert dx.shape == (3,)


def test_repeat_reverses_into_a_stack_and_equals_vjp() -> None:
    """``R[Repeat]`` writes each layer's cotangent once, by ``Stack`` (no zero padding)."""
    from topos import fst, pair, snd
    from topos.arrows import Repeat, Stack, fold
    from topos.nn import primitives as P

    W, X = R(2, 2, dtype="float64"), R(2, dtype="float64")
    step = pair(snd(W, X), fst(W, X)) >> P.einsum("i,io->o", X, W) >> P.tanh(X)
    f = Repeat(step, 3)
    back = reverse(f)
    kinds = fold(back, lambda node, kids: {type(node).__name__, *set().union(*kids)})
    names = fold(back, lambda node, kids: {getattr(node, "name", ""), *set().union(*kids)})
    assert Stack.__name__ in kinds and "concat" not in names
    with jax.enable_x64(True):
        ws = jax.random.normal(jax.random.key(0), (3, 2, 2), "float64")
        x, g = jnp.array([0.3, -0.7]), jnp.array([1.0, 2.0])
        _, vjp = jax.vjp(lambda w, v: interpret(f).fn((w, v)), ws, x)
        ref = vjp(g)
        ours = jax.jit(interpret(back).fn)(((ws, x), g))
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
            assert float(jnp.max(jnp.abs(a - b))) <= TOLERANCE["float64"]
