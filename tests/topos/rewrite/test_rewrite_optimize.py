"""optimize(): reassociation, contraction order, certificates, budgets, opaque structure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos import Box, Id, R, copair, copy, fst, pair, snd
from topos.arrows import Arrow
from topos.nn import primitives as P
from topos.nn.transformer import transformer
from topos.rewrite import LINEAR_ALGEBRA, Budget, check, equal_modulo, optimize, read
from topos.rewrite.examples import chain, linear_attention, multihead_linear_attention
from topos.rewrite.optimize import Step
from topos.rewrite.terms import Term


def best_order(shapes: list[int]) -> int:
    """The least flops of a matrix chain (the textbook dynamic programme)."""
    n = len(shapes) - 1
    cost = [[0] * n for _ in range(n)]
    for span in range(1, n):
        for i in range(n - span):
            j = i + span
            cost[i][j] = min(
                cost[i][k] + cost[k + 1][j] + 2 * shapes[i] * shapes[k + 1] * shapes[j + 1]
                for k in range(i, j)
            )
    return cost[0][n - 1]


def test_linear_attention_is_reassociated() -> None:
    f = linear_attention(256, 8)
    out = optimize(f)
    assert out.arrow is not f
    (step,) = out.certificate.steps
    assert "mm-assoc" in step.laws
    assert str(step.after) == "(MM x.0.0 (MM (Tr x.0.1) x.1))"
    assert out.certificate.cost_after * 10 < out.certificate.cost_before
    assert check(out.certificate, f, out.arrow)
    assert equal_modulo(LINEAR_ALGEBRA, f, out.arrow)


def test_multihead_linear_attention_is_reassociated_per_batch_and_head() -> None:
    f = multihead_linear_attention(256, 8, heads=4, batch=2)  # "bhsd,bhtd->bhst" ...
    out = optimize(f)
    (step,) = out.certificate.steps
    assert str(step.after) == "(MM x.0.0 (MM (Tr x.0.1) x.1))"
    assert [r.law for r in step.trace] == ["mm-assoc"]
    assert out.certificate.cost_after * 10 < out.certificate.cost_before
    assert out.arrow.dom == f.dom and out.arrow.cod == f.cod
    assert check(out.certificate, f, out.arrow)
    assert equal_modulo(LINEAR_ALGEBRA, f, out.arrow)


def test_einsums_with_misplaced_or_broadcast_batch_labels_stay_opaque() -> None:
    q = R(4, 16, 8)  # heads lead here, but the spec reads them in the middle
    scores = P.einsum("shd,thd->hst", R(16, 4, 8), R(16, 4, 8))
    assert read(scores).op == "box"
    bmm = P.einsum("hsd,htd->hst", q, q)
    assert read(bmm).op == "MM"
    wrong = P.einsum("hsd,htd->hts", q, q)  # the product transposed: still read, as Tr
    assert str(read(wrong)) == "(Tr (MM x.0 (Tr x.1)))"
    assert read(P.einsum("hsd,hsd->hs", q, q)).op == "box"  # no free label on one side


def test_bytes_cost_model_also_avoids_the_n_by_n_scores() -> None:
    f = linear_attention(256, 8)
    out = optimize(f, cost="bytes")
    assert "(MM (Tr x.0.1) x.1)" in str(out.certificate.steps[0].after)


def test_badly_ordered_chain_gets_the_optimal_order() -> None:
    shapes = [8, 256, 4, 256, 2]
    out = optimize(chain(shapes))
    assert out.certificate.cost_after == best_order(shapes) < out.certificate.cost_before
    assert check(out.certificate, chain(shapes), out.arrow)
    (step,) = out.certificate.steps
    assert step.trace and {r.law for r in step.trace} <= {"mm-assoc", "tr-mm"}


def test_a_trace_step_that_is_no_law_instance_is_rejected() -> None:
    f = linear_attention(64, 4)
    out = optimize(f)
    (step,) = out.certificate.steps
    (r,) = step.trace
    bad = Step(step.before, step.after, step.laws, trace=(replace(r, law="mm-add-left"),))
    forged = replace(out.certificate, steps=(bad,))
    assert not check(forged, f, out.arrow)


@given(st.lists(st.integers(1, 40), min_size=3, max_size=6))
def test_any_chain_is_certified_and_never_costlier(shapes: list[int]) -> None:
    f = chain(shapes)
    out = optimize(f)
    assert out.certificate.cost_after <= out.certificate.cost_before
    assert out.certificate.cost_after == best_order(shapes) or len(shapes) > 5
    assert check(out.certificate, f, out.arrow)


def test_nothing_cheaper_gives_back_the_same_arrow() -> None:
    f = P.matmul(R(4, 3), R(3, 5))
    out = optimize(f)
    assert out.arrow is f and out.certificate.steps == ()
    assert "no cheaper" in out.certificate.note
    assert check(out.certificate, f, out.arrow)


def test_the_stock_transformer_body_is_optimised_once_within_budget() -> None:
    lm = transformer(vocab=65, seq=32, d=32, heads=4, layers=24)
    budget = Budget(iterations=12, seconds=1.0)
    out = optimize(lm.arrow, budget=budget)
    cert = out.certificate
    assert cert.iterations <= budget.iterations
    (body,) = cert.bodies  # the repeat's body, once, not 24 times
    assert body.iterations <= budget.iterations and body.eclasses > 0
    assert "repeat body" in str(cert)
    assert check(cert, lm.arrow, out.arrow)


def test_opaque_structure_is_left_alone() -> None:
    a = R(2, 2)
    f = copair(P.scale(a, 2.0) >> P.scale(a, 3.0), Id(a))  # a coproduct: not a tensor term
    out = optimize(f)
    assert out.arrow is f and "not optimised" in out.certificate.note
    g = Box("opaque", a, a) >> P.scale(a, 2.0) >> P.scale(a, 3.0)
    folded = optimize(g)
    assert "(Scale 6.0 (opaque x))" == str(read(folded.arrow))


def test_a_forged_certificate_is_rejected() -> None:
    f = linear_attention(64, 4)
    out = optimize(f)
    (step,) = out.certificate.steps
    wrong = Term("MM", None, (step.after.args[0], step.after.args[0]), step.after.ob)
    forged = type(out.certificate)(
        **{**out.certificate.__dict__, "steps": (Step(step.before, wrong, step.laws),)}
    )
    assert not check(forged, f, out.arrow)
    assert not check(out.certificate, f, f >> P.scale(R(64, 4), 2.0))


def test_sums_and_scales_do_not_blow_the_e_graph_up() -> None:
    m = R(8, 8)
    f: Arrow = P.matmul(m, m)
    for i in range(6):  # x ↦ c x + xᵀ, six times: distributivity would expand 2⁶ ways
        step = copy(m) >> (P.scale(m, 0.5 + i) * P.transpose(m, (1, 0))) >> P.add(m, m)
        f = f >> step
    budget = Budget(iterations=12, seconds=1.0, enodes=5_000)
    out = optimize(f, budget=budget)
    assert out.certificate.iterations <= budget.iterations
    assert out.certificate.eclasses < 10 * budget.enodes
    assert check(out.certificate, f, out.arrow)


def test_factoring_a_shared_product_saves_a_product() -> None:
    a, w = R(64, 32), R(32, 64)
    y = R(64, 64)
    both = copy(a * w) >> (P.matmul(a, w) * (P.scale(a, 2.0) * Id(w) >> P.matmul(a, w)))
    f = both >> P.add(y, y)  # a w + (2a) w
    out = optimize(f)
    assert out.certificate.cost_after < out.certificate.cost_before
    assert check(out.certificate, f, out.arrow)


# -- never silently wrong (issue 22, items 1 and 15) ---------------------------------------


def test_axes_are_read_as_the_backend_reads_them() -> None:
    x = R(3, 3)
    rows = Box("reduce_sum", x, R(1, 3), axis=-2, keepdims=True)  # axis -2 of a matrix is 0
    h = P.matmul(x, x) >> rows
    assert str(read(h)) == "(SumRows (MM x.0 x.1))"
    out = optimize(h)
    assert out.arrow.cod == R(1, 3) and check(out.certificate, h, out.arrow)
    assert read(Box("softmax", x, x, axis=-1)).op == "Softmax"
    assert read(Box("softmax", x, x, axis=-2)).op == "box"
    assert read(Box("transpose", x, x, perm=(-1, -2))).op == "Tr"
    # a reading whose object is not the box's codomain stays opaque
    assert read(Box("reduce_sum", x, R(3, 1), axis=0, keepdims=True)).op == "box"
    assert read(Box("reduce_sum", x, R(1, 3), axis=2, keepdims=True)).op == "box"
    assert read(Box("broadcast", R(3, 1), R(3, 4), shape=(3, 5))).op == "box"
    assert read(Box("einsum", R(2, 3) * R(3, 4), R(2, 4), spec="ij,jk")).op == "box"


def _consts(f: Arrow) -> set[Arrow]:
    from topos.arrows import Const, fold

    return fold(f, lambda node, kids: {node} if isinstance(node, Const) else set().union(*kids))


def test_constants_that_differ_in_the_sign_of_zero_stay_apart() -> None:
    from topos.arrows import Const

    a = R(2, 2)
    plus, minus = Const(a, ((0.0, 0.0), (0.0, 0.0))), Const(a, ((-0.0, -0.0), (-0.0, -0.0)))
    twice = P.scale(a, 2.0) >> P.scale(a, 3.0)
    f = pair(plus >> twice, minus >> twice)
    out = optimize(f)
    assert out.arrow is not f and str(read(out.arrow)[1]) == "(Scale 6.0 const)"
    assert {repr(c.value) for c in _consts(out.arrow)} == {repr(plus.value), repr(minus.value)}
    assert check(out.certificate, f, out.arrow)


def test_scales_by_inf_nan_or_zero_are_not_rewritten() -> None:
    a, b = R(16, 64), R(64, 8)
    for by in (float("inf"), float("-inf"), float("nan"), 0.0, -0.0, 1e-60, 1e60):
        f = (P.scale(a, by) * Id(b)) >> P.matmul(a, b)  # cheaper as by (A B): not for these
        out = optimize(f)
        assert out.arrow is f and check(out.certificate, f, out.arrow), by
        g = P.scale(a, by) >> P.scale(a, 2.0)  # scale-scale would merge them
        assert optimize(g).arrow is g, by
    f = (P.scale(a, 2.0) * Id(b)) >> P.matmul(a, b)
    assert str(read(optimize(f).arrow)) == "(Scale 2.0 (MM x.0 x.1))"


def test_a_product_of_scales_that_underflows_is_not_taken() -> None:
    a = R(4, 4)
    f = P.scale(a, 1e-30) >> P.scale(a, 1e-30)  # 1e-60 is zero in float32
    out = optimize(f)
    assert out.arrow is f and check(out.certificate, f, out.arrow)
    g = P.scale(a, 1e-3) >> P.scale(a, 1e-3)
    assert str(read(optimize(g).arrow)) == "(Scale 1e-06 x)"


def test_check_refuses_rewrites_through_unsafe_numbers_without_crashing() -> None:
    from topos.rewrite.terms import algebra
    from topos.rewrite.theory import LINEAR_ALGEBRA as LA
    from topos.rewrite.trace import Rewrite, checks

    x = Term("in", (), (), R(2, 2))
    zero_then = algebra("Scale", -1.0, algebra("Scale", 0.0, x))
    for merged in (0.0, -0.0):  # 0 · -1, read from a certificate: refused, not ZeroDivisionError
        r = Rewrite("scale-scale", True, (), zero_then, algebra("Scale", merged, x))
        assert not checks(r, LA)
    tiny = algebra("Scale", 1e-30, algebra("Scale", 1e-30, x))
    assert not checks(Rewrite("scale-scale", True, (), tiny, algebra("Scale", 1e-60, x)), LA)
    fine = algebra("Scale", 2.0, algebra("Scale", 3.0, x))
    assert checks(Rewrite("scale-scale", True, (), fine, algebra("Scale", 6.0, x)), LA)
    assert not checks(Rewrite("no-such-law", True, (), fine, fine), LA)


def test_nine_batch_axes_are_written_back() -> None:
    q = R(*([1] * 9), 8, 2)
    labels = "abcefghlm"  # nine batch labels: more than write had letters for
    scores = P.einsum(f"{labels}sd,{labels}td->{labels}st", q, q)
    qq = q * q
    f = pair(fst(qq, q) >> scores, snd(qq, q)) >> P.einsum(
        f"{labels}st,{labels}td->{labels}sd", scores.cod, q
    )
    out = optimize(f)
    assert out.arrow is not f and out.arrow.cod == f.cod
    assert check(out.certificate, f, out.arrow)


def test_bad_arguments_are_refused_in_one_line() -> None:
    f = P.matmul(R(4, 3), R(3, 5))
    with pytest.raises(TypeError, match="optimize: expected an arrow .*, got int 42"):
        optimize(42)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"optimize: unknown cost 'time', expected one of \['bytes', 'flops'\]"
    ):
        optimize(f, cost="time")
    with pytest.raises(TypeError, match="optimize: expected a Theory"):
        optimize(f, theory="linear algebra")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optimize: expected a Budget"):
        optimize(f, budget=12)  # type: ignore[arg-type]
    out = optimize(f)
    with pytest.raises(TypeError, match="check: expected a Certificate, got int 1"):
        check(1, f, f)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="check: expected an arrow, got str 'g'"):
        check(out.certificate, f, "g")  # type: ignore[arg-type]


def test_optimize_hands_back_only_what_its_checker_accepts(monkeypatch: Any) -> None:
    import sys

    opt = sys.modules["topos.rewrite.optimize"]  # the module (the package's name is the function)
    f = linear_attention(64, 4)
    monkeypatch.setattr(opt, "check", lambda cert, f, g: False)
    out = optimize(f)
    assert out.arrow is f and out.certificate.steps == ()
    assert "did not check" in out.certificate.note


def test_the_certificate_names_the_side_conditions_it_assumes() -> None:
    from topos.rewrite.theory import FINITE

    out = optimize(linear_attention(64, 4))
    assert out.certificate.laws == ("mm-assoc",)
    assert out.certificate.assumes == {"mm-assoc": FINITE}
    twice = P.transpose(R(3, 2), (1, 0)) >> P.transpose(R(2, 3), (1, 0))
    assert optimize(twice).certificate.assumes == {}  # tr-involution holds for every float
