"""Folds over a sequence in the JAX backend: one lax.scan, equal to the unrolling, and every
recurrent layer of topos.nn.recurrent held against an independent implementation on shared
weights (Equinox's GRUCell/LSTMCell, hand-written lax.scan cells, a float64 NumPy loop)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import apply, compile
from topos import Box, Id, R, recur
from topos.arrows import fst, pair, reversal, snd
from topos.nn import primitives as P
from topos.nn import recurrent as rec
from topos.objects import Dim

D = 3
W, H = R(D, D), R(D)
# h' = tanh(W h + x), y = h' * x: a cell P * (S * X) -> S * Y built from primitives
_mv = pair(fst(W, H * H), snd(W, H * H) >> fst(H, H)) >> P.einsum("ij,j->i", W, H)
_new = pair(_mv, snd(W, H * H) >> snd(H, H)) >> P.add(H, H) >> P.tanh(H)
CELL = pair(_new, pair(_new, snd(W, H * H) >> snd(H, H)) >> P.mul(H, H))


def randomised(p: Any, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        k: (0.5 * rng.standard_normal(v.ob.shape)).astype(np.float32)
        for k, v in p.parameters().items()
    }


def run(p: Any, params: Any, x: Any) -> Any:
    return jax.jit(lambda ps, v: apply(p, ps, v))(params, x)


def inputs(n: int, seed: int = 1) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    w = (0.5 * rng.standard_normal((D, D))).astype(np.float32)
    return w, (
        rng.standard_normal(D).astype(np.float32),
        rng.standard_normal((n, D)).astype(np.float32),
    )


@settings(max_examples=5, deadline=None)
@given(st.integers(1, 5), st.booleans())
def test_the_scan_equals_the_unrolling_and_reverse_is_conjugation(n: int, reverse: bool) -> None:
    r = recur(CELL, n, reverse)
    v = inputs(n)
    a, b = jax.jit(compile(r))(v), jax.jit(compile(r.unroll()))(v)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)
    conj = (Id(W) * (Id(H) * reversal(H, n))) >> recur(CELL, n, not reverse)
    conj = conj >> (Id(H) * reversal(H, n))
    c = jax.jit(compile(conj))(v)
    for x, y in zip(a, c, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_the_scan_equals_the_unrolling_at_three(reverse: bool) -> None:
    r = recur(CELL, 3, reverse)
    v = inputs(3)
    for x, y in zip(jax.jit(compile(r))(v), compile(r.unroll())(v), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)


def test_a_fold_is_one_while_loop_at_any_length() -> None:
    for n in (4, 512):
        text = jax.jit(compile(recur(CELL, n))).lower(inputs(n)).as_text()
        assert text.count("stablehlo.while") == 1, n


def test_a_fold_over_a_dim_runs_at_each_length() -> None:
    layer = rec.rnn(2, 3, Dim("t", 32))
    params = randomised(layer)
    xs = np.random.default_rng(0).standard_normal((9, 2)).astype(np.float32)
    short_, long_ = apply(layer, params, xs[:4]), apply(layer, params, xs)
    assert short_.shape == (4, 3) and long_.shape == (9, 3)
    np.testing.assert_allclose(np.asarray(short_), np.asarray(long_[:4]), atol=1e-6)


# -- against independent implementations --------------------------------------------------


def eqx_scan(step: Any, state: Any, xs: Any) -> Any:
    """The hand-written loop: one ``lax.scan`` of the step (shapes only from Equinox's init)."""
    return jax.jit(lambda s, v: jax.lax.scan(step, s, v)[1])(state, xs)


def test_rnn_equals_a_hand_written_scan() -> None:
    layer = rec.rnn(3, 4, 7)
    ps = randomised(layer)
    xs = np.random.default_rng(2).standard_normal((7, 3)).astype(np.float32)

    def step(h: Any, x: Any) -> Any:
        new = jnp.tanh(x @ ps["rnn.x.w"] + ps["rnn.x.b"] + h @ ps["rnn.h.w"])
        return new, new

    want = eqx_scan(step, jnp.zeros(4), xs)
    np.testing.assert_allclose(np.asarray(run(layer, ps, xs)), np.asarray(want), atol=1e-5)


def test_gru_equals_equinox_gru_cell_on_shared_weights() -> None:
    layer = rec.gru(3, 4, 9)
    ps = randomised(layer)
    xs = np.random.default_rng(3).standard_normal((9, 3)).astype(np.float32)
    cell = eqx.filter_eval_shape(lambda: eqx.nn.GRUCell(3, 4, key=jax.random.key(0)))
    cell = eqx.tree_at(
        lambda c: (c.weight_ih, c.bias, c.weight_hh, c.bias_n),
        cell,
        tuple(
            jnp.asarray(a)
            for a in (ps["gru.x.w"].T, ps["gru.x.b"], ps["gru.h.w"].T, ps["gru.h.bn"])
        ),
    )
    want = eqx_scan(lambda h, x: (cell(x, h),) * 2, jnp.zeros(4), xs)
    got = run(layer, ps, xs)
    assert float(jnp.abs(got - want).max()) <= 1e-5


def test_lstm_equals_equinox_lstm_cell_on_shared_weights() -> None:
    layer = rec.lstm(3, 4, 9)
    ps = randomised(layer)
    xs = np.random.default_rng(4).standard_normal((9, 3)).astype(np.float32)
    cell = eqx.filter_eval_shape(lambda: eqx.nn.LSTMCell(3, 4, key=jax.random.key(0)))
    cell = eqx.tree_at(
        lambda c: (c.weight_ih, c.weight_hh, c.bias),
        cell,
        tuple(jnp.asarray(a) for a in (ps["lstm.x.w"].T, ps["lstm.h.w"].T, ps["lstm.b"])),
    )

    def step(s: Any, x: Any) -> Any:
        new = cell(x, s)
        return new, new[0]

    want = eqx_scan(step, (jnp.zeros(4), jnp.zeros(4)), xs)
    assert float(jnp.abs(run(layer, ps, xs) - want).max()) <= 1e-5


def np_linear_ssm(ps: dict[str, np.ndarray], xs: np.ndarray, pre: str) -> np.ndarray:
    p = {k.removeprefix(pre): v.astype(np.float64) for k, v in ps.items()}
    a = np.exp(-np.exp(p["a_log"]))
    h, out = np.zeros_like(a), []
    for x in xs.astype(np.float64):
        h = a * h + x @ p["b"]
        out.append(h @ p["c"] + p["d"] * x)
    return np.array(out)


@pytest.mark.parametrize("n", [1, 6, 33])
def test_linear_ssm_both_forms_equal_a_float64_loop(n: int) -> None:
    seq, par = rec.linear_ssm(3, 5, n), rec.linear_ssm(3, 5, n, parallel=True)
    ps = randomised(seq)
    xs = np.random.default_rng(5).standard_normal((n, 3)).astype(np.float32)
    want = np_linear_ssm(ps, xs, "ssm.")
    a, b = np.asarray(run(seq, ps, xs)), np.asarray(run(par, ps, xs))
    np.testing.assert_allclose(a, want, atol=1e-5)
    np.testing.assert_allclose(b, want, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_selective_ssm_equals_a_hand_written_scan() -> None:
    d, state, n = 3, 4, 8
    layer = rec.selective_ssm(d, state, n)
    ps = randomised(layer)
    p = {k.removeprefix("mamba."): jnp.asarray(v) for k, v in ps.items()}
    xs = np.random.default_rng(6).standard_normal((n, d)).astype(np.float32)

    def step(h: Any, x: Any) -> Any:
        dt = jax.nn.softplus(x @ p["dt.w"] + p["dt.b"])
        a_bar = jnp.exp(dt[:, None] * -jnp.exp(p["a_log"]))
        h = a_bar * h + (dt * x)[:, None] * (x @ p["w_b"])[None, :]
        return h, h @ (x @ p["w_c"]) + p["d"] * x

    want = eqx_scan(step, jnp.zeros((d, state)), xs)
    assert float(jnp.abs(run(layer, ps, xs) - want).max()) <= 1e-5


def test_reverse_layers_read_the_sequence_from_its_end() -> None:
    fwd, bwd = rec.rnn(3, 4, 5), rec.rnn(3, 4, 5, reverse=True)
    ps = randomised(fwd)
    xs = np.random.default_rng(7).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(run(bwd, ps, xs)), np.asarray(run(fwd, ps, xs[::-1]))[::-1], atol=1e-6
    )


def test_unregistered_cells_are_named() -> None:
    r = recur(Box("mystery", W * (H * H), H * H), 3)
    with pytest.raises(Exception, match="mystery"):
        compile(r)


def test_the_regions_of_a_piecewise_linear_fold_are_read_through_its_unrolling() -> None:
    from backends.jax.logic import PLNet, region  # noqa: PLC0415

    p = rec.linear_ssm(2, 3, 4) >> P.relu(R(4, 2))
    net = PLNet(p, randomised(p))
    x = np.random.default_rng(8).standard_normal((4, 2))
    assert region(net, x).contains(x)
