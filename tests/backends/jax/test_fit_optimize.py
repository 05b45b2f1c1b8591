"""fit(..., optimize=True): the diagram trained optimised reaches the same losses."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from backends.jax import Model, fit, optimized
from topos.rewrite.examples import linear_attention_para

N, D = 64, 4


def _data() -> tuple[jax.Array, jax.Array]:
    x = jax.random.normal(jax.random.key(1), (N, D))
    return x, jnp.tanh(x[::-1] @ jnp.arange(D * D, dtype=jnp.float32).reshape(D, D) / D**2)


def _loss(model: Any, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    x, y = batch
    return jnp.mean((model(x) - y) ** 2)


def test_optimized_para_has_the_same_parameters_and_a_cheaper_arrow() -> None:
    p = linear_attention_para(N, D)
    q = optimized(p)
    assert q.arrow != p.arrow  # (Q Kᵀ) V became Q (Kᵀ V)
    assert q.parameters() == p.parameters() and (q.dom, q.cod) == (p.dom, p.cod)
    assert optimized(q) is q  # nothing cheaper left: the same Para comes back


def test_training_optimised_reaches_the_same_losses() -> None:
    p = linear_attention_para(N, D)
    model = Model(p, jax.random.key(0))
    data = _data()
    kw: dict[str, Any] = {"optimizer": optax.adam(1e-2), "steps": 30, "progress": False}
    plain = fit(_loss, model, lambda step: data, **kw)
    fast = fit(_loss, model, lambda step: data, optimize=True, **kw)
    losses, fast_losses = plain.history["loss"], fast.history["loss"]
    assert losses[-1] < 0.8 * losses[0]  # it trains
    np.testing.assert_allclose(fast_losses, losses, rtol=1e-4, atol=1e-6)
    assert isinstance(fast.params, Model) and fast.params.para == p  # the user's diagram back
    for path, value in plain.params.params.items():
        np.testing.assert_allclose(fast.params.params[path], value, rtol=1e-3, atol=1e-5)


def test_optimize_on_a_plain_loss_is_refused_clearly() -> None:
    params = {"w": jnp.ones(3)}
    with pytest.raises(TypeError, match="no diagram to optimise.*Model"):
        fit(
            lambda p, b: jnp.sum(p["w"] ** 2),
            params,
            lambda step: None,
            optimizer=optax.sgd(0.1),
            steps=1,
            optimize=True,
            progress=False,
        )
    model = Model(linear_attention_para(N, D), jax.random.key(0))
    with pytest.raises(ValueError, match="optimize must be True, False, 'flops' or 'bytes'"):
        fit(_loss, model, lambda s: _data(), optimizer=optax.sgd(0.1), steps=1, optimize="fast")
