"""The law ``softmax-fold``: the online-softmax monoid, its certificate, ``memory_budget``."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos.nn import primitives as P
from topos.nn.self_attention import self_attention
from topos.rewrite import LINEAR_ALGEBRA, check, optimize
from topos.rewrite.examples import softmax_attention
from topos.rewrite.fold import UNIT, certify, combine, folded
from topos.rewrite.optimize import FOLD, Step
from topos.rewrite.terms import Term

finite = st.floats(-50, 50, allow_nan=False)
positive = st.floats(1e-3, 1e3)
summary = st.tuples(finite, positive, finite)


def close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(
        math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12 * 1e3) for x, y in zip(a, b, strict=True)
    )


@given(summary, summary, summary)
def test_combine_is_associative_in_float64(x: tuple, y: tuple, z: tuple) -> None:
    assert close(combine(combine(x, y), z), combine(x, combine(y, z)))


@given(summary)
def test_the_unit_is_neutral_on_both_sides(x: tuple) -> None:
    assert combine(UNIT, x) == x == combine(x, UNIT)
    assert combine(UNIT, UNIT) == UNIT


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=12), st.integers(1, 5))
def test_folding_blocks_gives_the_softmax_weighted_sum(pairs: list, block: int) -> None:
    s, _ = zip(*pairs, strict=True)
    top = max(s)
    want = sum(math.exp(a - top) * b for a, b in pairs) / sum(math.exp(a - top) for a in s)
    acc = UNIT
    for i in range(0, len(pairs), block):  # each block summarised, then combined
        part = UNIT
        for a, b in pairs[i : i + block]:
            part = combine(part, (a, 1.0, b))
        acc = combine(acc, part)
    assert math.isclose(acc[2] / acc[1], want, rel_tol=1e-12, abs_tol=1e-9)


def test_the_symbolic_certificate_covers_every_weak_order() -> None:
    cert = certify()
    assert cert.cases == 13 and cert.holds


def test_the_law_is_declared_and_not_saturated() -> None:
    law = LINEAR_ALGEBRA[FOLD]
    assert law.kind == "fold" and law.saturate == "none" and law.rounding
    assert law not in LINEAR_ALGEBRA.tensor_laws()


def test_optimize_folds_attention_over_the_budget_only() -> None:
    f = softmax_attention(64, 2, 4)  # scores: 2 * 64 * 64 * 4 bytes = 32 KiB
    out = optimize(f, memory_budget=1024, block=16)
    (step,) = out.certificate.steps
    assert step.laws == (FOLD,) and "softmax_fold" in str(out.arrow)
    assert check(out.certificate, f, out.arrow)
    assert optimize(f, memory_budget=2**15).arrow is f  # fits: kept
    assert optimize(f).arrow is f  # no budget: never


def test_self_attention_in_a_repeat_body_is_folded() -> None:
    from topos.nn.zoo import llama

    p = llama(16, 8, 8, 2, 2, 8, kv_heads=1)
    out = optimize(p.arrow, memory_budget=0, block=4)
    assert any(FOLD in s.laws for body in out.certificate.bodies for s in body.steps)
    assert check(out.certificate, p.arrow, out.arrow)


def test_a_tampered_fold_is_refused() -> None:
    f = self_attention(8, 8, 2).arrow
    out = optimize(f, memory_budget=0, block=4)
    (step,) = [s for s in out.certificate.steps if FOLD in s.laws]
    fold = step.after.data
    wrong = P.softmax_fold(*_qkv(fold), scale=1.0, block=4)
    bad = Step(step.before, Term("box", wrong, step.after.args, wrong.cod), (FOLD,))
    steps = tuple(bad if s is step else s for s in out.certificate.steps)
    assert not check(replace(out.certificate, steps=steps), f, out.arrow)
    assert folded(step.before, 4) is step.after


def _qkv(box: object) -> tuple:
    dom = box.dom  # type: ignore[attr-defined]
    return dom.left.left, dom.left.right, dom.right


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_bad_budgets_and_blocks_are_refused(bad: object) -> None:
    f = softmax_attention(8, 1, 4)
    with pytest.raises(ValueError, match="memory_budget"):
        optimize(f, memory_budget=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="block"):
        optimize(f, memory_budget=0, block=bad if bad != -1 else 0)  # type: ignore[arg-type]
