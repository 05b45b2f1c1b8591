"""to_nnx: a Para as a Flax NNX module with nnx.Param leaves, trainable with nnx.Optimizer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _jaxref import mlp
from flax import nnx

from backends.jax import apply, fit, init, to_nnx

KEY = jax.random.key(0)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(64, 2)).astype(np.float32)
    return x, (np.cos(2 * x[:, :1]) - x[:, 1:]).astype(np.float32)


def test_the_module_holds_params_and_runs_apply() -> None:
    net = mlp(2, 8, 1)
    module = to_nnx(net, KEY)
    params = init(net, KEY)
    state = nnx.state(module, nnx.Param)
    assert len(jax.tree.leaves(state)) == len(params)
    assert all(isinstance(module.params[k], nnx.Param) for k in params)
    x = jnp.array([0.5, -0.5])
    np.testing.assert_array_equal(module(x), apply(net, params, x))
    np.testing.assert_array_equal(module.batch(x[None])[0], module(x))
    rngs_module = to_nnx(net, nnx.Rngs(params=0))
    assert set(rngs_module.values()) == set(params)


def test_a_small_mlp_trains_with_nnx_optimizer() -> None:
    x, y = _data()
    module = to_nnx(mlp(2, 16, 1), nnx.Rngs(0))
    optimizer = nnx.Optimizer(module, optax.adam(3e-2), wrt=nnx.Param)

    def loss(m: nnx.Module) -> jax.Array:
        return jnp.mean((m.batch(x) - y) ** 2)

    @nnx.jit
    def step(m: nnx.Module, opt: nnx.Optimizer) -> jax.Array:
        value, grads = nnx.value_and_grad(loss)(m)
        opt.update(m, grads)
        return value

    before = float(loss(module))
    for _ in range(150):
        step(module, optimizer)
    after = float(loss(module))
    assert after < 0.1 * before, (before, after)


def test_a_small_mlp_trains_with_fit_on_the_nnx_state() -> None:
    x, y = _data()
    graphdef, state = nnx.split(to_nnx(mlp(2, 16, 1), nnx.Rngs(0)))

    def loss(s: nnx.State, batch: tuple[np.ndarray, np.ndarray]) -> jax.Array:
        return jnp.mean((nnx.merge(graphdef, s).batch(batch[0]) - batch[1]) ** 2)

    result = fit(
        loss, state, lambda step: (x, y), optimizer=optax.adam(3e-2), steps=150, progress=False
    )
    assert float(loss(result.params, (x, y))) < 0.1 * float(loss(state, (x, y)))
