"""The zoo's verdicts, cross-checked numerically on the compiled models.

Where ``analyze`` says PL, second differences along random lines vanish except near
finitely many kinks; where it says smooth, they do not; linear attention is
homogeneous of degree 3 (measured); softmax attention is not piecewise linear.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import apply, init
from topos import with_dtype
from topos.nn import attention
from topos.nn.zoo import ARCHITECTURES, table

ROWS = {row.name: row for row in table(small=True)}


def _input(p, key):
    """A random input of ``p``'s domain (and the adjacency for a Para over Global(E))."""
    dom = p.dom
    x = jax.random.normal(key, dom.shape)
    env = getattr(p.actegory, "E", None)
    if env is not None:
        adj = jax.random.uniform(jax.random.fold_in(key, 1), env.shape) / env.shape[0]
        return lambda params, v: apply(p, params, (adj, v)), x
    return lambda params, v: apply(p, params, v), x


def _curved(fn, x0, direction, n, tol=1e-9):
    """Points of ``n`` equally spaced on the segment x0 + t d, t in [-1, 1], where the
    second difference is not zero (float64). A PL map is affine between finitely many
    kinks, so refining the grid leaves the *number* of such points about the same (two
    per kink); for a smooth map it is every point at every resolution."""
    ts = jnp.linspace(-1.0, 1.0, n, dtype=jnp.float64)
    ys = jax.vmap(lambda t: fn(x0 + t * direction))(ts).reshape(n, -1)
    d2 = ys[2:] - 2 * ys[1:-1] + ys[:-2]
    scale = 1.0 + jnp.max(jnp.abs(ys))
    return int(jnp.sum(jnp.max(jnp.abs(d2), axis=1) > tol * scale)), n - 2


def _line(p, seed):
    """A float64 run of ``p`` with random parameters, a random point and direction."""
    key = jax.random.key(seed)
    p = with_dtype(p, "float64")  # the model at float64: its parameters are declared so
    params = init(p, key)
    run, x0 = _input(p, jax.random.fold_in(key, 2))
    direction = jax.random.normal(jax.random.fold_in(key, 3), x0.shape, jnp.float64)
    fn = jax.jit(lambda v: run(params, v))
    return fn, x0.astype(jnp.float64), direction / jnp.linalg.norm(direction)


def test_every_zoo_model_compiles_and_runs() -> None:
    for name, row in ROWS.items():
        key = jax.random.key(0)
        params = init(row.model, key)
        run, x = _input(row.model, key)
        if row.model.dom.__class__.__name__ == "Fin":
            x = jnp.zeros(row.model.dom.shape, jnp.int32)
        y = jax.jit(run)(params, x)
        assert y.shape == row.model.cod.shape, name


PL = ["mlp (relu)", "cnn (relu)", "rnn (relu)", "gcn (relu)"]
SMOOTH = ["mlp (tanh)", "cnn (gelu)", "rnn (tanh)", "gcn (tanh)"]


@pytest.mark.parametrize("name", PL + SMOOTH)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16))
def test_second_differences_agree_with_the_verdict(name: str, seed: int) -> None:
    row = ROWS[name]
    with jax.enable_x64(True):
        fn, x0, direction = _line(row.model, seed)
        # A grid must be fine enough to separate a line's kinks (a relu CNN can have
        # dozens, some closer than 1/100 apart) before refining stops adding curved points.
        coarse, n_coarse = _curved(fn, x0, direction, 400)
        fine, n_fine = _curved(fn, x0, direction, 1600)
    if row.lives_in == "PL pretopos":
        assert name in PL
        assert fine <= 1.25 * coarse + 8, f"{name}: kinks multiply under refinement"
        assert fine / n_fine < 0.5, f"{name}: PL but {fine}/{n_fine} points curved"
    else:
        assert name in SMOOTH and row.cls == "smooth"
        # (at 400 points: second differences of a smooth map shrink as the step squared)
        assert coarse / n_coarse > 0.8, f"{name}: smooth but only {coarse}/{n_coarse} curved"


def _homogeneity_degree(p, seed: int) -> float:
    key = jax.random.key(seed)
    params = init(p, key)
    x = jax.random.normal(jax.random.fold_in(key, 1), p.dom.shape)
    f = jax.jit(lambda v: apply(p, params, v))
    t = 2.0
    return float(jnp.log(jnp.linalg.norm(f(t * x)) / jnp.linalg.norm(f(x))) / jnp.log(t))


@settings(max_examples=5)
@given(seed=st.integers(0, 2**16))
def test_linear_attention_is_homogeneous_of_degree_three(seed: int) -> None:
    row = ROWS["linear attention"]
    assert (row.cls, row.degree) == ("polynomial", 3)
    assert _homogeneity_degree(row.model, seed) == pytest.approx(3.0, abs=1e-3)


@settings(max_examples=5)
@given(seed=st.integers(0, 2**16))
def test_softmax_attention_is_not_piecewise_linear(seed: int) -> None:
    p = attention(8, 4, 1, bias=False)
    with jax.enable_x64(True):
        fn, x0, direction = _line(p, seed)
        fine, n_fine = _curved(fn, x0, direction, 400)
    assert fine / n_fine > 0.8
    assert abs(_homogeneity_degree(p, seed) - 1.0) > 1e-2  # not homogeneous of degree 1


def test_zoo_names_are_the_table() -> None:
    assert list(ROWS) == list(ARCHITECTURES)
    assert np.all([row.parameters > 0 for row in ROWS.values()])
