"""``reverse`` of routing, scan and fold-attention primitives and of ``Recur``, against jax.vjp.

Each case compiles ``reverse(f)`` and ``f`` with the JAX functor in float64 and
compares the input cotangents (real leaves; a ``Fin`` input's cotangent is ``One``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax.core.compile import interpret
from topos.arrows import Arrow, Recur, fst, pair, snd
from topos.dtypes import with_dtype
from topos.nn import primitives as P
from topos.nn.derivatives import materialised
from topos.nn.recurrent import gru, recur_of, rnn
from topos.objects import Dim, Fin, Ob, Product, R, Unit
from topos.reverse import NoDerivative, reverse

F = "float64"


def sample(ob: Ob, rng: np.random.Generator) -> Any:
    """A random value of ``ob`` (normal reals, uniform labels), drawn by NumPy."""
    if isinstance(ob, R):
        return rng.standard_normal(tuple(ob.shape)).astype(ob.dtype)
    if isinstance(ob, Fin):
        return rng.integers(0, ob.n, tuple(ob.shape)).astype(np.int32)
    if isinstance(ob, Unit):
        return ()
    assert isinstance(ob, Product), ob
    return (sample(ob.left, rng), sample(ob.right, rng))


def for_jax(ob: Ob, ct: Any) -> Any:
    """Our cotangent as ``jax.vjp`` takes it: ``float0`` zeros for a ``Fin`` output."""
    if isinstance(ob, Fin):
        return np.zeros(tuple(ob.shape), jax.dtypes.float0)
    if isinstance(ob, Product):
        return (for_jax(ob.left, ct[0]), for_jax(ob.right, ct[1]))
    return ct


def real_leaves(ob: Ob, v: Any) -> list[Any]:
    if isinstance(ob, R):
        return [v]
    if isinstance(ob, Product):
        return real_leaves(ob.left, v[0]) + real_leaves(ob.right, v[1])
    return []


def only_real(ob: Ob, rng: np.random.Generator) -> Any:
    """A cotangent of ``ob``: reals where ``ob`` is real, ``()`` (``One``) elsewhere."""
    if isinstance(ob, R):
        return rng.standard_normal(tuple(ob.shape)).astype(ob.dtype)
    if isinstance(ob, Product):
        return (only_real(ob.left, rng), only_real(ob.right, rng))
    return ()


def difference(f: Arrow, seed: int = 0, forward: Any = None) -> float:
    """max |reverse(f) - jax.vjp(f)| over the real input cotangents, relative to their scale.

    ``forward`` is the function ``jax.vjp`` differentiates (``f`` compiled by default).
    """
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        x, ct = sample(f.dom, rng), only_real(f.cod, rng)
        fn = interpret(f).fn if forward is None else forward
        (ref,) = jax.jit(lambda x, ct: jax.vjp(fn, x)[1](ct))(x, for_jax(f.cod, ct))
        ours = jax.jit(interpret(reverse(f)).fn)((x, ct))
        refs, mine = real_leaves(f.dom, ref), real_leaves(f.dom, ours)
        assert len(refs) == len(mine) and refs, (ref, ours)
        scale = max([1.0, *(float(jnp.max(jnp.abs(a))) for a in refs)])
        return max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(refs, mine, strict=True)) / scale


def test_top_k_sends_the_values_cotangent_to_the_chosen_entries() -> None:
    assert difference(P.top_k(R(2, 3, 5, dtype=F), 2)) <= 1e-12
    # the values only: the indices' cotangent is One
    f = P.top_k(R(7, dtype=F), 3)
    assert difference(f >> fst(R(3, dtype=F), Fin(7, 3))) <= 1e-12


def test_scatter_add_gathers_the_cotangent_and_labels_get_one() -> None:
    f = P.scatter_add(R(6, 2, 3, dtype=F), Fin(5, 6, 2))
    assert difference(f) <= 1e-12
    assert reverse(f).cod == R(6, 2, 3, dtype=F) * Unit()


def test_routed_experts_path_dispatch_scatter_gather() -> None:
    """top_k -> dispatch -> scatter_add into expert slots -> gather back, weighted."""
    n, m, k, cap = 5, 4, 2, 2
    x, logits = R(n, 3, dtype=F), R(n, m, dtype=F)
    chosen = snd(x, logits) >> P.top_k(logits, k)
    vals, ids = R(n, k, dtype=F), Fin(m, n, k)
    slots = Fin(m * cap + 1, n, k)
    keep = R(n, k)  # dispatch's keep mask (float32): not used here
    slot = chosen >> snd(vals, ids) >> P.dispatch(ids, cap) >> fst(slots, keep)
    rows = pair(fst(x, logits), fst(x, logits)) >> P.concat(x, x, axis=1)
    rows = rows >> P.reshape(R(n, 6, dtype=F), n, 2, 3)  # token t's two choices
    table = pair(rows, slot) >> P.scatter_add(R(n, k, 3, dtype=F), slots)
    back = pair(table, slot) >> P.gather(R(m * cap + 1, 3, dtype=F), slots)
    weight = chosen >> fst(vals, ids)
    out = pair(back, weight) >> P.einsum("tkd,tk->td", R(n, k, 3, dtype=F), vals)
    assert difference(out) <= 1e-12


def test_discrete_constants_have_zero_cotangents() -> None:
    buckets = P.relative_buckets(3, 4, 8, 16, bidirectional=True)
    assert reverse(buckets).cod == Unit()
    d = P.dispatch(Fin(3, 4, 2), 2)
    assert reverse(d).cod == Unit()


@pytest.mark.parametrize("n", [1, 5])
def test_linear_scan_reverses_to_a_scan_from_the_end(n: int) -> None:
    assert difference(P.linear_scan(R(n, 3, dtype=F), R(n, 3, dtype=F))) <= 1e-12


def test_linear_scan_over_a_variable_length_is_refused_by_name() -> None:
    n = Dim("n", 16)
    with pytest.raises(NoDerivative, match="linear_scan.*variable length"):
        reverse(P.linear_scan(R(n, 2, dtype=F), R(n, 2, dtype=F)))


def dense_attention(scale: float, causal: bool, fill: float) -> Any:
    """``softmax(mask(scale · q kᵀ)) v`` per head, written in jnp (the fold's specification)."""

    def run(x: Any) -> Any:
        (q, k), v = x
        s = jnp.einsum("skgd,tkd->kgst", q, k) * scale
        if causal:
            s = jnp.where(jnp.tril(jnp.ones(s.shape[-2:], bool)), s, fill)
        return jnp.einsum("kgst,tkd->skgd", jax.nn.softmax(s, -1), v)

    return run


def fold_box(causal: bool) -> Any:
    q, k, v = R(6, 2, 2, 3, dtype=F), R(6, 2, 3, dtype=F), R(6, 2, 4, dtype=F)
    return P.softmax_fold(q, k, v, scale=0.5, causal=causal, fill=-1e9, block=4)


@pytest.mark.parametrize("causal", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_softmax_fold_reverses_as_the_materialised_attention(causal: bool) -> None:
    box = fold_box(causal)
    assert difference(box, forward=dense_attention(0.5, causal, -1e9)) <= 1e-12
    assert materialised(box).dom == box.dom and materialised(box).cod == box.cod


@pytest.mark.slow
@pytest.mark.parametrize("causal", [True, False])
def test_softmax_fold_reverse_agrees_with_vjp_through_the_fold(causal: bool) -> None:
    assert difference(fold_box(causal)) <= 1e-12


@pytest.mark.parametrize(
    ("layer", "backwards"), [(rnn, False), pytest.param(gru, True, marks=pytest.mark.slow)]
)
def test_recur_reverses_by_its_unrolling(layer: Any, backwards: bool) -> None:
    p = with_dtype(layer(2, 3, 3, reverse=backwards), F)
    assert isinstance(recur_of(p), Recur)
    assert difference(p.arrow) <= 1e-12


def test_recur_over_a_variable_length_is_refused_by_name() -> None:
    p = rnn(2, 3, Dim("n", 16))
    with pytest.raises(NoDerivative, match="fold .* variable length Dim"):
        reverse(p.arrow)


def test_foreign_boxes_stay_refused_by_name() -> None:
    with pytest.raises(NoDerivative, match="imported operation 'cumsum'"):
        reverse(P.foreign("cumsum", R(4, dtype=F), R(4, dtype=F), cls="linear", axis=0))


WINDOWED = [
    P.conv(R(6, 2, dtype=F), R(3, 2, 4, dtype=F)),
    P.conv(R(7, 2, dtype=F), R(2, 2, 3, dtype=F), stride=(2,)),
    P.conv(R(5, 6, 2, dtype=F), R(2, 3, 2, 3, dtype=F), padding="VALID"),
    P.conv(R(7, 8, 2, dtype=F), R(3, 2, 2, 3, dtype=F), stride=(2, 3)),
    P.conv(R(7, 8, 1, dtype=F), R(3, 3, 1, 2, dtype=F), stride=(2, 2), padding="VALID"),
    P.conv_transpose(R(4, 3, dtype=F), R(3, 2, 3, dtype=F), (7,), (2,)),
    P.conv_filter(R(7, 6, 2, dtype=F), R(4, 2, 3, dtype=F), (3, 2), (2, 3)),
    P.max_pool(R(4, 6, 2, dtype=F), (2, 3)),
    P.max_pool(R(5, 6, 2, dtype=F), (3, 3), (1, 2)),
    P.max_pool_scatter(R(5, 6, 2, dtype=F), R(3, 2, 2, dtype=F), (3, 3), (1, 2)),
    P.max_pool_select(R(5, 6, 2, dtype=F), R(5, 6, 2, dtype=F), (3, 3), (1, 2)),
]


@pytest.mark.parametrize("box", WINDOWED, ids=lambda b: f"{b.name}{b.attrs.get('stride')}")
def test_conv_and_max_pool_and_their_transposes_agree_with_vjp(box: Any) -> None:
    assert difference(box) <= 1e-12


def test_max_pool_sends_a_tie_to_the_first_maximum_as_jax_does() -> None:
    """Integer inputs make ties in every window: the cotangent goes where jax.vjp puts it."""
    pool = P.max_pool(R(4, 4, 1, dtype=F), (2, 2), (1, 1))
    with jax.enable_x64(True):
        x = np.array([[1, 1, 0, 2], [1, 0, 2, 2], [0, 0, 0, 0], [3, 3, 0, 0]], float)[..., None]
        g = np.arange(1.0, 10.0).reshape(3, 3, 1)
        (ref,) = jax.vjp(interpret(pool).fn, x)[1](g)
        ours = interpret(reverse(pool)).fn((x, g))
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    # window (0, 0) holds 1, 1 / 1, 0: its cotangent 1 goes to the first 1 only
    assert np.asarray(ours)[:2, :2, 0].tolist() == [[1.0, 0.0], [4.0, 0.0]]
