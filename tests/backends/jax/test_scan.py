"""The chunked ``linear_scan`` is the fold of the affine monoid: every chunk, every length.

Held against a float64 NumPy loop (values, padding to a multiple of the chunk, zero
and negative coefficients), its own gradients against those of the sequential
``lax.scan``, under ``vmap``, and as the compiled ``linear_scan`` primitive.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from backends.jax import compile
from backends.jax.core.scan import CHUNK, linear_scan
from topos import R
from topos.nn import primitives as P

F32 = np.float32


def np_fold(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out, h = np.zeros(b.shape), np.zeros(b.shape[1:])
    for t in range(len(b)):
        h = out[t] = a[t].astype(np.float64) * h + b[t]
    return out


def seq_fold(a: Any, b: Any) -> Any:
    def step(h: Any, ab: Any) -> tuple[Any, Any]:
        h = ab[0] * h + ab[1]
        return h, h

    return jax.lax.scan(step, jnp.zeros_like(b[0]), (a, b))[1]


FOLD = jax.jit(linear_scan, static_argnames="chunk")  # one compilation per (shape, chunk)


@st.composite
def sequences(draw: Any) -> tuple[np.ndarray, np.ndarray, int]:
    # few lengths and chunks (each pair compiles once), padded or not; any values
    n, chunk = draw(st.sampled_from([1, 5, 8, 13])), draw(st.sampled_from([1, 3, 8]))
    # |a| <= 1 (zeros and signs included): the fold stays bounded by n * max |b|
    a = draw(hnp.arrays(F32, (n, 2), elements=st.floats(-1.0, 1.0, width=32)))
    b = draw(hnp.arrays(F32, (n, 2), elements=st.floats(-2.0, 2.0, width=32)))
    return a, b, chunk


@settings(max_examples=25)
@given(sequences())
def test_every_chunk_size_is_the_sequential_fold(case: tuple[np.ndarray, np.ndarray, int]) -> None:
    a, b, chunk = case
    got = np.asarray(FOLD(jnp.asarray(a), jnp.asarray(b), chunk=chunk))
    assert got.shape == b.shape and got.dtype == F32
    np.testing.assert_allclose(got, np_fold(a, b), atol=2e-5 * len(b))


@pytest.mark.parametrize("n", [1, CHUNK, 3 * CHUNK + 5])
def test_the_compiled_primitive_is_the_chunked_scan(n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.uniform(-1, 1, (n, 2, 3)).astype(F32)
    b = rng.standard_normal((n, 2, 3)).astype(F32)
    run = compile(P.linear_scan(R(n, 2, 3), R(n, 2, 3)))
    scans = [
        e.params["length"] for e in jax.make_jaxpr(run)((a, b)).eqns if e.primitive.name == "scan"
    ]
    assert scans == ([] if n <= CHUNK else [-(-n // CHUNK)])  # one short scan across chunks
    np.testing.assert_allclose(np.asarray(jax.jit(run)((a, b))), np_fold(a, b), atol=1e-5)


def test_contractions_underflow_to_zero_never_to_nan() -> None:
    n = 50 * CHUNK
    a = jnp.full((n, 4), 1e-20, jnp.float32)  # every product of two is below float32's range
    b = jnp.asarray(np.random.default_rng(0).standard_normal((n, 4)).astype(F32))
    got = FOLD(a, b)
    assert bool(jnp.isfinite(got).all())
    np.testing.assert_allclose(np.asarray(got), np.asarray(b), rtol=1e-6)  # h_t ≈ b_t


def test_gradients_equal_those_of_the_sequential_fold() -> None:
    n = 2 * CHUNK + 3
    rng = np.random.default_rng(1)
    a = jnp.asarray(rng.uniform(-1, 1, (n, 3)).astype(F32))
    b, w = (jnp.asarray(rng.standard_normal((n, 3)).astype(F32)) for _ in range(2))

    def loss(fold: Any) -> Any:
        return jax.jit(jax.grad(lambda a, b: jnp.sum(w * fold(a, b)), argnums=(0, 1)))(a, b)

    for got, want in zip(loss(linear_scan), loss(seq_fold), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)


def test_batched_by_vmap_is_each_sequence_alone() -> None:
    rng = np.random.default_rng(2)
    a = jnp.asarray(rng.uniform(0, 1, (3, 11, 2)).astype(F32))
    b = jnp.asarray(rng.standard_normal((3, 11, 2)).astype(F32))
    got = jax.jit(jax.vmap(linear_scan))(a, b)
    for i in range(3):
        np.testing.assert_allclose(
            np.asarray(got[i]), np_fold(np.asarray(a[i]), np.asarray(b[i])), atol=1e-5
        )


def test_bad_shapes_and_chunks_are_named() -> None:
    with pytest.raises(ValueError, match=r"one shape \(n, \.\.\.\), got \(3, 2\) and \(3,\)"):
        linear_scan(jnp.ones((3, 2)), jnp.ones(3))
    with pytest.raises(ValueError, match="chunk must be a positive int, got 0"):
        linear_scan(jnp.ones(3), jnp.ones(3), chunk=0)
