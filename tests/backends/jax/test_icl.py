"""One LSA layer with ``gd_weights`` is one gradient-descent step; K layers are K steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import apply
from backends.jax.experiments.icl import (
    alignment,
    best_eta,
    gd_predict,
    readout,
    recall,
    recall_np,
    regression,
    regression_np,
)
from topos import with_dtype
from topos.analysis import analyze
from topos.nn.lsa import gd_weights, lsa, lsa_stack

N, DX = 10, 10


def _np_gd(z: np.ndarray, eta: float, steps: int, w0: np.ndarray) -> np.ndarray:
    """The float64 NumPy reference: GD on 1/(2N) Σ |W x_j - y_j|², then W x."""
    xs, ys, xq = z[:-1, :DX], z[:-1, DX:], z[-1, :DX]
    w = w0.copy()
    for _ in range(steps):
        w = w - eta * (w @ xs.T - ys.T) @ xs / len(xs)
    return w @ xq


def _params(eta: float, dtype: object, w0: np.ndarray | None = None, layers: int | None = None):
    raw = gd_weights(eta, N, DX, w0=None if w0 is None else w0.tolist(), layers=layers)
    return {k: jnp.asarray(v, dtype) for k, v in raw.items()}


@pytest.mark.parametrize("use_w0", [False, True])
def test_one_layer_is_one_gd_step_float64(use_w0: bool) -> None:
    with jax.enable_x64(True):
        task = regression(jax.random.key(0), 16, n=N, d_x=DX, dtype=jnp.float64)
        rng = np.random.default_rng(0)
        w0 = rng.normal(size=(1, DX)) if use_w0 else np.zeros((1, DX))
        layer = with_dtype(lsa(N + 1, DX + 1, context=N), "float64")
        params = _params(0.7, jnp.float64, w0 if use_w0 else None)
        for z in np.asarray(task.z):
            zq = z.copy()
            zq[-1, DX:] = -(w0 @ z[-1, :DX])  # the query starts at -W0 x
            out = np.asarray(apply(layer, params, jnp.asarray(zq)))
            want = _np_gd(z, 0.7, 1, w0)
            np.testing.assert_allclose(-out[-1, DX:], want, rtol=0, atol=1e-12)


def test_one_layer_is_one_gd_step_float32() -> None:
    task = regression(jax.random.key(1), 64, n=N, d_x=DX)
    layer = lsa(N + 1, DX + 1, context=N)
    out = jax.vmap(lambda z: readout(apply(layer, _params(0.9, jnp.float32), z), 1))(task.z)
    want = np.stack([_np_gd(z, 0.9, 1, np.zeros((1, DX))) for z in np.asarray(task.z, np.float64)])
    np.testing.assert_allclose(np.asarray(out), want, rtol=0, atol=1e-5)
    jax_gd = jax.vmap(lambda z: gd_predict(z, 0.9))(task.z)
    np.testing.assert_allclose(np.asarray(jax_gd), want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_k_layers_are_k_gd_steps(k: int) -> None:
    with jax.enable_x64(True):
        task = regression(jax.random.key(k), 8, n=N, d_x=DX, dtype=jnp.float64)
        w0 = np.random.default_rng(k).normal(size=(1, DX))
        stack = with_dtype(lsa_stack(N + 1, DX + 1, k, context=N), "float64")
        params = _params(0.5, jnp.float64, w0, layers=k)
        for z in np.asarray(task.z):
            zq = z.copy()
            zq[-1, DX:] = -(w0 @ z[-1, :DX])
            out = np.asarray(apply(stack, params, jnp.asarray(zq)))
            np.testing.assert_allclose(-out[-1, DX:], _np_gd(z, 0.5, k, w0), rtol=0, atol=1e-12)
            # every context token carries its residual y_j - W_k x_j (the GD state)
            xs, ys = z[:-1, :DX], z[:-1, DX:]
            w = w0.copy()
            for _ in range(k):
                w = w - 0.5 * (w @ xs.T - ys.T) @ xs / N
            np.testing.assert_allclose(out[:-1, DX:], ys - xs @ (w - w0).T, atol=1e-12)


def test_lsa_is_higher_order_in_the_topos_completion() -> None:
    report = analyze(lsa_stack(N + 1, DX + 1, 2, context=N))
    assert (report.order, report.lives_in) == ("higher", "topos completion")
    assert report.cls == "polynomial"


def test_best_eta_is_the_line_search_minimum() -> None:
    task = regression(jax.random.key(3), 256, n=N, d_x=DX)
    star = float(best_eta(task.z, task.y))

    def loss(eta: float) -> float:
        pred = jax.vmap(lambda z: gd_predict(z, eta))(task.z)
        return float(jnp.mean((pred - task.y) ** 2))

    assert all(loss(star) <= loss(star * f) + 1e-7 for f in (0.8, 0.95, 1.05, 1.25))


def test_recall_queries_a_context_key() -> None:
    t = recall(jax.random.key(0), 32, pairs=5, keys=7, d_v=3)
    keys, values, q = t.z[:, :-1, :7], t.z[:, :-1, 7:], t.z[:, -1, :7]
    hit = jnp.einsum("bpk,bk->bp", keys, q)
    assert bool(jnp.all(hit.sum(-1) == 1))
    np.testing.assert_allclose(jnp.einsum("bp,bpv->bv", hit, values), t.y)
    with pytest.raises(ValueError, match="exceeds"):
        recall(jax.random.key(0), 1, pairs=9, keys=8)


def test_alignment_of_a_model_with_itself() -> None:
    t = regression(jax.random.key(0), 16, n=N, d_x=DX)
    a = alignment(lambda z: gd_predict(z, 1.0), lambda z: gd_predict(z, 1.0), t.z)
    assert float(a.preds_l2) == 0.0 and float(a.sens_l2) == 0.0
    assert abs(float(a.sens_cos) - 1.0) < 1e-5


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(1, 4))
def test_regression_np_targets_are_the_linear_map_of_the_context(seed: int, b: int, d: int) -> None:
    n = 4 * d + 4  # enough points that the least-squares fit recovers W
    z, y = regression_np(np.random.default_rng(seed), (b, 2), n=n, d_x=d)
    assert z.shape == (b, 2, n + 1, d + 1) and y.shape == (b, 2, 1) and z.dtype == np.float32
    assert np.all(z[..., -1, d:] == 0) and np.all(np.abs(z[..., :d]) <= 1)
    for zi, yi in zip(z.reshape(-1, n + 1, d + 1), y.reshape(-1, 1), strict=True):
        w = np.linalg.lstsq(zi[:-1, :d].astype(np.float64), zi[:-1, d], rcond=None)[0]
        assert abs(zi[-1, :d] @ w - yi[0]) < 1e-3 * (1 + abs(yi[0]))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(0, 4))
def test_recall_np_queries_one_distinct_context_key(seed: int, pairs: int, extra: int) -> None:
    keys = pairs + extra
    z, y = recall_np(np.random.default_rng(seed), (7,), pairs=pairs, keys=keys, d_v=2)
    k, v, q = z[:, :pairs, :keys], z[:, :pairs, keys:], z[:, -1, :keys]
    assert np.all(k.sum(-1) == 1) and np.all(k.sum(1) <= 1)  # one-hot and distinct
    hit = (k == q[:, None]).all(-1)
    assert np.all(hit.sum(-1) == 1) and np.allclose(v[hit], y)
    assert np.all(z[:, -1, keys:] == 0)


def test_recall_np_refuses_more_pairs_than_keys() -> None:
    with pytest.raises(ValueError, match="pairs = 5 exceeds the 4"):
        recall_np(np.random.default_rng(0), (1,), pairs=5, keys=4)
