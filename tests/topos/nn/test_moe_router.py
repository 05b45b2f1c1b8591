"""The router's verdict: choosing experts by the input is a case split into a coproduct."""

from __future__ import annotations

import pytest

from topos import Fin, R, fst, snd
from topos.analysis import analyze
from topos.nn import primitives as P
from topos.nn.moe import capacity, experts, router


def test_the_router_choice_is_a_coproduct_and_piecewise_linear() -> None:
    choice = router(6, 8, 4, 2) >> snd(R(6, 2), Fin(4, 6, 2))
    report = analyze(choice)
    assert (report.order, report.cls, report.lives_in) == ("first", "pl", "PL pretopos")
    (case,) = [w for w in report.witnesses if w.kind == "coproduct"]
    assert case.arrow.name == "top_k" and "case split" in case.reason and "Fin(4)" in case.reason


@pytest.mark.parametrize("routed", [True, False])
def test_both_forms_get_the_same_verdict_and_name_the_split(routed: bool) -> None:
    report = analyze(experts(6, 8, 16, n_experts=4, k=2, routed=routed, capacity_factor=1.0))
    assert (report.order, report.cls) == ("higher", "smooth")
    assert any(w.kind == "coproduct" for w in report.witnesses)


def test_a_map_without_labels_has_no_coproduct_witness() -> None:
    values = P.top_k(R(5), 2) >> fst(R(2), Fin(5, 2))
    report = analyze(values)
    assert report.cls == "pl" and all(w.kind != "coproduct" for w in report.witnesses)


def test_capacity_is_bounded_by_the_tokens_and_refuses_a_bad_factor() -> None:
    assert capacity(4096, 8, 2, 1.0) == 1024 and capacity(3, 8, 2, 50.0) == 3
    with pytest.raises(ValueError, match="capacity_factor must be positive"):
        capacity(8, 4, 2, 0.0)
