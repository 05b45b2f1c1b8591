"""optimize(): reassociation, contraction order, certificates, budgets, opaque structure."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from topos import Box, Id, R, copair, copy
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
