"""The fold that ``optimize(..., memory_budget=...)`` derives equals materialised attention.

Outputs and gradients, float32 and float64, causal or not, padded blocks, query groups.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import apply, compile, init, optimized
from topos.nn.self_attention import self_attention
from topos.rewrite import optimize
from topos.rewrite.examples import softmax_attention

CASES = [  # (seq, heads, groups, dh, causal, block): padding, one block, groups
    (12, 2, 1, 4, True, 4),
    (10, 1, 3, 4, True, 4),
    (9, 2, 2, 3, False, 4),
    (6, 1, 1, 4, True, 16),
]
IDS = ["causal-padded", "causal-groups", "full-groups", "one-block"]


def _pair(seq: int, heads: int, groups: int, dh: int, causal: bool, block: int, dtype: str):
    f = softmax_attention(seq, heads, dh, causal=causal, groups=groups, dtype=dtype)
    g = optimize(f, memory_budget=0, block=block).arrow
    assert "softmax_fold" in str(g)
    return compile(f), compile(g)


def _errors(dense: Any, fold: Any, dtype: Any, shape: tuple[int, ...]) -> tuple[float, float]:
    seq, heads, groups, dh = shape
    ks = jax.random.split(jax.random.key(seq), 4)
    q = jax.random.normal(ks[0], (seq, heads, groups, dh), dtype)
    k = jax.random.normal(ks[1], (seq, heads, dh), dtype)
    v = jax.random.normal(ks[2], (seq, heads, dh), dtype)
    w = jax.random.normal(ks[3], (seq, heads, groups, dh), dtype)

    @jax.jit
    def both(q: Any, k: Any, v: Any) -> Any:
        def run(fn: Any) -> Any:
            def total(*a: Any) -> Any:
                return jnp.sum(fn(((a[0], a[1]), a[2])) * w)

            return fn(((q, k), v)), jax.grad(total, argnums=(0, 1, 2))(q, k, v)

        return run(dense), run(fold)

    (o1, g1), (o2, g2) = both(q, k, v)
    out = float(jnp.abs(o1 - o2).max())
    grad = max(float(jnp.abs(a - b).max()) for a, b in zip(g1, g2, strict=True))
    return out, grad


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fold_equals_materialised_float32(case: tuple) -> None:
    seq, heads, groups, dh, causal, block = case
    dense, fold = _pair(seq, heads, groups, dh, causal, block, "float32")
    out, grad = _errors(dense, fold, jnp.float32, (seq, heads, groups, dh))
    assert out <= 1e-5 and grad <= 1e-5, (out, grad)


@pytest.mark.parametrize("case", CASES[:2], ids=IDS[:2])
def test_fold_equals_materialised_float64(case: tuple) -> None:
    seq, heads, groups, dh, causal, block = case
    with jax.enable_x64(True):
        dense, fold = _pair(seq, heads, groups, dh, causal, block, "float64")
        out, grad = _errors(dense, fold, jnp.float64, (seq, heads, groups, dh))
    assert out <= 1e-12 and grad <= 1e-12, (out, grad)


def test_optimized_self_attention_trains_the_same() -> None:
    p = self_attention(8, 8, 2, kv_heads=1, rope=True)
    q = optimized(p, memory_budget=0, block=4)
    assert q is not p and q.parameters() == p.parameters()
    params = init(p, jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (3, 8, 8))

    def loss(para: Any) -> Any:
        return lambda ps: jnp.sum(jax.vmap(lambda x: apply(para, ps, x))(xs) ** 2)

    a, b = jax.grad(loss(p))(params), jax.grad(loss(q))(params)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-5)


def test_backward_memory_stays_linear() -> None:
    """The compiled gradient's temporaries grow about linearly, not with the square."""

    def temp(seq: int) -> int:
        _, fold = _pair(seq, 1, 1, 8, True, 64, "float32")
        x = jnp.ones((seq, 1, 1, 8)), jnp.ones((seq, 1, 8)), jnp.ones((seq, 1, 8))

        def f(q: Any, k: Any, v: Any) -> Any:
            return jnp.sum(fold(((q, k), v)))

        c = jax.jit(jax.grad(f, argnums=(0, 1, 2))).lower(*x).compile()
        return int(c.memory_analysis().temp_size_in_bytes)

    small, large = temp(512), temp(2048)
    assert large < 6 * small, (small, large)  # the square would be 16x
