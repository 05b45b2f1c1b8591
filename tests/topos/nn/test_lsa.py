"""The LSA diagram and the gradient-descent weights, without a backend."""

from __future__ import annotations

import pytest

from topos import R
from topos.analysis import analyze
from topos.nn.lsa import context_mask, gd_weights, lsa, lsa_stack


def test_lsa_is_choose_then_ev() -> None:
    layer = lsa(11, 11, context=10)
    assert (layer.dom, layer.cod) == (R(11, 11), R(11, 11))
    report = analyze(layer)
    assert (report.order, report.cls, report.degree) == ("higher", "polynomial", 3)
    assert report.lives_in == "topos completion"
    assert "ev" in str(report.witnesses[0])


def test_mask_is_a_constant() -> None:
    assert context_mask(4, 3).dom == context_mask(4, 4).dom
    assert context_mask(4, 4).cod == R(1, 4)
    # the mask is constant: masking changes neither the order nor the degree
    assert analyze(lsa(4, 3)).degree == analyze(lsa(4, 3, context=2)).degree == 3


def test_stack_params() -> None:
    ps = lsa_stack(5, 3, 4).parameters()
    assert list(ps) == ["lsa.q.w", "lsa.k.w", "lsa.v.w", "lsa.p.w"]
    assert all(p.ob == R(4, 3, 3) for p in ps.values())


def test_gd_weights_construction() -> None:
    w = gd_weights(2.0, 4, 2, 1, w0=[[5.0, 6.0]])
    assert w["lsa.q.w"] == w["lsa.k.w"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    # column convention W_V = [[0, 0], [W0, -I]], stored transposed
    assert w["lsa.v.w"] == [[0, 0, 5.0], [0, 0, 6.0], [0, 0, -1.0]]
    assert w["lsa.p.w"] == [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    stacked = gd_weights(1.0, 4, 2, layers=3, name="m")
    assert list(stacked) == ["m.q.w", "m.k.w", "m.v.w", "m.p.w"]
    assert len(stacked["m.v.w"]) == 3


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="w0 must be 1 x 2"):
        gd_weights(1.0, 4, 2, w0=[[1.0]])
    with pytest.raises(ValueError, match="exceeds"):
        context_mask(3, 4)
    with pytest.raises(TypeError, match="seq"):
        lsa(0, 3)
