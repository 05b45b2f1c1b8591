"""The grammar draws well-typed diagrams; analyze() places each where its leaves say."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topos import R
from topos.analysis import analyze
from topos.nn.grammar import (
    FIRST_ORDER,
    architecture,
    body,
    higher_order,
    leaves,
    random_spec,
    show,
)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.booleans())
def test_sampled_candidates_are_typed_and_classified(seed: int, first: bool) -> None:
    spec = random_spec(random.Random(seed), first_order=first, depth=2)
    net = architecture(spec, seq=5, d_in=4, d_out=2)
    assert (net.dom, net.cod) == (R(5, 4), R(2))
    assert net.num_params() > 0
    report = analyze(net)
    if higher_order(spec):
        assert (report.order, report.lives_in) == ("higher", "topos completion")
    else:
        assert all(k in FIRST_ORDER for k in leaves(spec))
        assert (report.order, report.lives_in) == ("first", "PL pretopos")
    assert higher_order(spec) != first


def test_combinators() -> None:
    spec = ("par", ("rep", ("lsa",), 2), ("res", ("seq", ("mix",), ("mlp", 2))))
    net = body(spec, 4, 3)
    assert (net.dom, net.cod) == (R(4, 3), R(4, 3))
    ps = net.parameters()
    assert ps["b0.q.w"].ob == R(2, 3, 3)  # repeat stacks the weights
    assert ps["b1.w"].ob == R(4, 4)  # token mixing acts on the sequence axis
    assert show(spec) == "(2×lsa ∥ res(mix ; mlp×2))"


def test_bad_specs_are_named() -> None:
    with pytest.raises(ValueError, match="unknown leaf 'conv'"):
        body(("conv",), 3, 2)
    with pytest.raises(ValueError, match="expected \\('arch'"):
        architecture(("mix",), seq=3, d_in=2, d_out=1)
