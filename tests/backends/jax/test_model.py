"""Model: a Para as an Equinox module; trains with fit; filter_jit, partition, serialisation."""

from __future__ import annotations

import io

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _jaxref import mlp

from backends.jax import Model, apply, batched, fit, init

KEY = jax.random.key(0)


def _data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) + x[:, 1:] ** 2).astype(np.float32)
    return x, y


def test_a_model_holds_init_params_and_runs_apply() -> None:
    net = mlp(2, 8, 1)
    model = Model(net, KEY)
    params = init(net, KEY)
    assert list(model.params) == list(params)
    x = jnp.array([0.5, -0.5])
    np.testing.assert_array_equal(model(x), apply(net, params, x))
    np.testing.assert_array_equal(model.batch(jnp.stack([x, x]))[1], model(x))
    np.testing.assert_array_equal(Model(net, params=params)(x), model(x))


def test_a_model_checks_given_params() -> None:
    net = mlp(2, 8, 1)
    with pytest.raises(ValueError, match=r"params: missing 'l1.b'"):
        Model(net, params={k: v for k, v in init(net, KEY).items() if k != "l1.b"})
    with pytest.raises(TypeError, match="draws the parameters"):
        Model(net)


def test_filter_jit_partition_and_serialisation() -> None:
    net = mlp(2, 8, 1)
    model = Model(net, KEY)
    x = jnp.array([0.25, 0.75])
    np.testing.assert_allclose(eqx.filter_jit(lambda m, v: m(v))(model, x), model(x), rtol=1e-6)
    dynamic, static = eqx.partition(model, eqx.is_array)
    assert sorted(a.shape for a in jax.tree.leaves(dynamic)) == sorted(
        v.shape for v in model.params.values()
    )
    np.testing.assert_array_equal(eqx.combine(dynamic, static)(x), model(x))
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    buffer.seek(0)
    restored = eqx.tree_deserialise_leaves(buffer, Model(net, jax.random.key(1)))
    for k in model.params:
        np.testing.assert_array_equal(restored.params[k], model.params[k])
    grads = eqx.filter_grad(lambda m: m(x).sum())(model)
    assert set(grads.params) == set(model.params)


def test_a_small_mlp_trains_with_fit_through_model() -> None:
    x, y = _data()
    model = Model(mlp(2, 16, 1), KEY)

    def loss(m: Model, batch: tuple[np.ndarray, np.ndarray]) -> jax.Array:
        xs, ys = batch
        return jnp.mean((jax.vmap(m)(xs) - ys) ** 2)

    before = float(loss(model, (x, y)))
    result = fit(
        loss, model, lambda step: (x, y), optimizer=optax.adam(3e-2), steps=150, progress=False
    )
    assert isinstance(result.params, Model)
    after = float(loss(result.params, (x, y)))
    assert after < 0.1 * before, (before, after)
    assert result.history["loss"][0] == pytest.approx(before, rel=1e-5)


def test_a_small_mlp_trains_with_fit_on_the_params_dict_with_a_frozen_layer() -> None:
    x, y = _data()
    net = mlp(2, 16, 1)
    params = init(net, KEY)
    run = batched(net)

    def loss(p: dict[str, jax.Array], batch: tuple[np.ndarray, np.ndarray]) -> jax.Array:
        return jnp.mean((run(p, batch[0]) - batch[1]) ** 2)

    result = fit(
        loss,
        params,
        lambda step: (x, y),
        optimizer=optax.adam(3e-2),
        steps=100,
        frozen=["l0.w"],
        progress=False,
    )
    assert float(loss(result.params, (x, y))) < 0.5 * float(loss(params, (x, y)))
    assert np.asarray(result.params["l0.w"]).tobytes() == np.asarray(params["l0.w"]).tobytes()
    assert not np.array_equal(result.params["l0.b"], params["l0.b"])
