"""Every declared law holds numerically (float64, random shapes), and the theory is well formed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos import Box, Id, R, copy, discard, equal, fst, pair, snd
from topos.nn import primitives as P
from topos.rewrite import LINEAR_ALGEBRA, equal_modulo
from topos.rewrite.saturate import rules
from topos.rewrite.theory import OPS, Pattern, parse, show

TENSOR = LINEAR_ALGEBRA.tensor_laws()


def evaluate(p: Pattern, env: dict[str, Any]) -> Any:
    """The float64 NumPy value of a pattern: the semantics of the term language."""
    if not isinstance(p, tuple):
        return env[str(p)]
    op, *args = p
    v = [evaluate(a, env) for a in args]
    if op == "MM":
        return v[0] @ v[1]  # leading axes: batch axes, one product each
    if op == "Tr":
        return np.swapaxes(v[0], -1, -2)
    if op in ("Add", "Mul", "*"):
        return v[0] + v[1] if op == "Add" else v[0] * v[1]
    if op == "Scale":
        return v[0] * v[1]
    if op == "Exp":
        return np.exp(v[0])
    if op == "SumRows":
        return v[0].sum(0, keepdims=True)
    if op == "SumCols":
        return v[0].sum(1, keepdims=True)
    if op == "Bcast":
        return np.broadcast_to(v[1], (v[1].shape[0], v[0]))
    assert op == "Softmax", op
    e = np.exp(v[0] - v[0].max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("law", TENSOR, ids=[law.name for law in TENSOR])
@given(
    dims=st.fixed_dictionaries({k: st.integers(1, 5) for k in "mkln"}),
    seed=st.integers(0, 2**31 - 1),
    x=st.floats(-3, 3),
    y=st.floats(-3, 3),
)
def test_law_holds_numerically(
    law: Any, dims: dict[str, int], seed: int, x: float, y: float
) -> None:
    rng = np.random.default_rng(seed)
    sizes = {**dims, "one": 1}
    env: dict[str, Any] = {"x": x, "y": y, "n": dims["n"]}
    for var, axes in law.shapes.items():
        env[var] = rng.standard_normal(tuple(sizes[a] for a in axes))
    lhs, rhs = law.sides
    np.testing.assert_allclose(evaluate(lhs, env), evaluate(rhs, env), rtol=1e-10, atol=1e-10)


BATCHED = [law for law in TENSOR if law.batch]
TWO_D = {"SumRows", "SumCols", "Bcast", "Softmax"}  # read from 2-D arrays only


@pytest.mark.parametrize("law", BATCHED, ids=[law.name for law in BATCHED])
@given(
    dims=st.fixed_dictionaries({k: st.integers(1, 4) for k in "mkln"}),
    batch=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    seed=st.integers(0, 2**31 - 1),
    x=st.floats(-3, 3),
    y=st.floats(-3, 3),
)
def test_batched_law_holds_numerically(
    law: Any, dims: dict[str, int], batch: list[int], seed: int, x: float, y: float
) -> None:
    """A law declared ``batch=True`` holds with the same leading batch axes on every array."""
    rng = np.random.default_rng(seed)
    env: dict[str, Any] = {"x": x, "y": y}
    for var, axes in law.shapes.items():
        env[var] = rng.standard_normal((*batch, *(dims[a] for a in axes)))
    lhs, rhs = law.sides
    left, right = evaluate(lhs, env), evaluate(rhs, env)
    assert left.shape[: len(batch)] == tuple(batch)
    np.testing.assert_allclose(left, right, rtol=1e-10, atol=1e-10)


def _ops(p: Pattern) -> set[str]:
    return {str(p[0])} | set().union(*map(_ops, p[1:])) if isinstance(p, tuple) else set()


def test_batch_is_declared_exactly_for_laws_without_2d_only_operations() -> None:
    """A law over a 2-D-only operation cannot match a batched term (it is read 2-D only)."""
    for law in TENSOR:
        ops = _ops(law.sides[0]) | _ops(law.sides[1])
        assert law.batch == (not ops & TWO_D), law.name
    assert LINEAR_ALGEBRA["mm-assoc"].batch


def test_patterns_are_well_formed_and_round_trip() -> None:
    for law in TENSOR:
        for side in law.sides:
            assert parse(show(side)) == side
    with pytest.raises(ValueError, match="bad application"):
        parse("(MM a)")
    assert set(OPS) >= {"MM", "Tr", "Add", "Scale", "Softmax"}


def test_every_saturating_law_becomes_an_egglog_rule() -> None:
    named = set(rules(LINEAR_ALGEBRA).values())
    assert named == {law.name for law in TENSOR if law.saturate != "none"}


def test_structural_laws_are_decided_by_equal() -> None:
    a, b = R(3), R(4)
    f = Box("f", a, b)
    assert equal(f >> copy(b), copy(a) >> (f * f))  # copy-natural: CSE
    assert equal(f >> discard(b), discard(a))  # discard-natural: DCE
    kinds = {law.name: law.kind for law in LINEAR_ALGEBRA}
    assert kinds["copy-natural"] == kinds["discard-natural"] == "structural"


def test_rounding_is_declared() -> None:
    exact = {law.name for law in LINEAR_ALGEBRA if not law.rounding}
    assert {"tr-involution", "add-comm", "mul-comm"} <= exact
    assert LINEAR_ALGEBRA["mm-assoc"].rounding and LINEAR_ALGEBRA["scale-mm-left"].rounding


def test_equal_modulo_decides_the_laws_on_diagrams() -> None:
    m = R(4, 3)
    twice = P.transpose(m, (1, 0)) >> P.transpose(R(3, 4), (1, 0))
    assert equal_modulo(LINEAR_ALGEBRA, twice, P.scale(m, 1.0))  # tr-involution
    a, w = R(4, 3), R(3, 5)
    y = R(4, 5)
    sum_then = (P.add(a, a) * Id(w)) >> P.matmul(a, w)
    aa = a * a
    left = pair(fst(aa, w) >> fst(a, a), snd(aa, w)) >> P.matmul(a, w)
    right = pair(fst(aa, w) >> snd(a, a), snd(aa, w)) >> P.matmul(a, w)
    then_sum = pair(left, right) >> P.add(y, y)
    assert equal_modulo(LINEAR_ALGEBRA, sum_then, then_sum)  # mm-add-left
    assert not equal_modulo(LINEAR_ALGEBRA, sum_then, P.matmul(a, w))
    x = R(4, 4)
    rows = P.reduce_sum(x, 1, keepdims=True) >> P.broadcast(R(4, 1), 4, 4)
    shift = copy(x) >> (Id(x) * rows) >> P.add(x, x) >> P.softmax(x, -1)
    assert equal_modulo(LINEAR_ALGEBRA, shift, P.softmax(x, -1))  # softmax-shift
    e = (P.exp(x) * P.exp(x)) >> P.mul(x, x)
    assert equal_modulo(LINEAR_ALGEBRA, e, P.add(x, x) >> P.exp(x))  # exp-add
    assert not equal_modulo(LINEAR_ALGEBRA, e, P.add(x, x))


SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan])
EXACT = [law for law in TENSOR if law.side == ""]


@pytest.mark.parametrize("law", EXACT, ids=[law.name for law in EXACT])
@given(data=st.data(), x=st.floats(0.5, 3) | st.floats(-3, -0.5))
def test_laws_without_a_side_condition_hold_bit_for_bit_on_inf_nan_and_signed_zeros(
    law: Any, data: st.DataObject, x: float
) -> None:
    env: dict[str, Any] = {"x": x, "y": x}
    for var, axes in law.shapes.items():
        shape = tuple(2 for _ in axes)
        env[var] = np.array(data.draw(st.lists(SPECIAL, min_size=4, max_size=4))).reshape(shape)
    with np.errstate(all="ignore"):
        left, right = (evaluate(side, env) for side in law.sides)
    assert np.array_equal(left, right, equal_nan=True), law.name
    assert np.array_equal(np.signbit(left), np.signbit(right)) or np.isnan(left).any()


def test_side_conditions_are_declared() -> None:
    from topos.rewrite.theory import FINITE

    assert {law.name for law in EXACT} == {
        "tr-involution", "tr-mm", "tr-add", "tr-scale", "add-comm", "mul-comm"
    }  # fmt: skip
    assert all(law.side == FINITE for law in TENSOR if law.rounding)
    # mm-assoc puts a NaN where the other side has inf (A (B C) meets 0 · inf) ...
    a, b, c = np.array([[0.0, 1.0]]), np.array([[0.0], [1.0]]), np.array([[0.0, np.inf]])
    with np.errstate(all="ignore"):
        assert ((a @ b) @ c).tolist() == [[0.0, np.inf]] and np.isnan(a @ (b @ c))[0, 1]
        big = np.array([[1e308, 1e308]])  # ... and past an overflow, NaN where 0 was
        left = (np.array([[2.0]]) @ big) @ np.array([[1.0], [-1.0]])
        assert np.isnan(left).all() and (np.array([[2.0]]) @ (big @ [[1.0], [-1.0]]) == 0).all()
    # ... and scale-add the sign of a zero: -1 (0 + -0) = -0, but -0 + 0 = +0
    zero, neg = np.array([0.0]), np.array([-0.0])
    assert np.signbit(-1.0 * (zero + neg)) != np.signbit(-1.0 * zero + -1.0 * neg)
