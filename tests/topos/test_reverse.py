"""topos.reverse: types, refusals, and the reverse diagram as an ordinary arrow."""

from __future__ import annotations

from typing import Any

import pytest

from topos import Box, Fin, Id, R, copair, curry, ev, fst, pair, snd
from topos.analysis import analyze
from topos.arrows import Arrow, Repeat, group
from topos.draw import draw
from topos.nn import attention, mlp
from topos.nn import primitives as P
from topos.normal import equal
from topos.reverse import NoDerivative, cotangent, first_order, reverse
from topos.serial import dumps, loads


def linear_attention(n: int = 512, d: int = 16) -> Arrow:
    q = k = v = R(n, d)
    qk = fst(q * k, v)
    scores = pair(qk >> fst(q, k), qk >> snd(q, k)) >> P.einsum("sd,td->st", q, k)
    return pair(scores, snd(q * k, v)) >> P.einsum("st,td->sd", R(n, n), v)


def test_types_follow_the_cotangent_objects() -> None:
    p = mlp([3, 4, 2])
    r = reverse(p.arrow)
    assert (r.dom, r.cod) == (p.arrow.dom * R(2), p.arrow.dom)
    g = P.gather(R(5, 2), Fin(5, 3))
    assert reverse(g).cod == R(5, 2) * cotangent(Fin(5, 3))


def test_groups_and_repeats_are_reversed_with_names() -> None:
    body = P.tanh(R(2))
    assert str(reverse(group("block", body))) == "R[block]"
    step = snd(R(2), R(2)) >> body
    deep = Repeat(group("layer", pair(fst(R(2), R(2)), step) >> P.mul(R(2), R(2))), 3)
    r = reverse(deep)
    assert r.dom == deep.dom * R(2) and r.cod == deep.dom


def test_curry_ev_inside_a_first_order_arrow_is_closure_converted() -> None:
    head = attention(4, 8, heads=1, causal=True).arrow
    flat = first_order(head)
    assert equal(flat, head)
    assert not any(isinstance(n, type(curry(fst(R(1), R(1))))) for n in _nodes(flat))
    reverse(head)  # succeeds: the attention head is first order outside


def test_higher_order_types_and_coproducts_are_refused_by_name() -> None:
    m = Box("m", R(2) * R(3), R(4))
    with pytest.raises(NoDerivative, match="higher order"):
        reverse(curry(m))
    with pytest.raises(NoDerivative, match="ev"):
        reverse(Id(R(4) ** R(3)) * Id(R(3)) >> ev(R(4), R(3)))
    with pytest.raises(NoDerivative, match="coproduct"):
        reverse(copair(P.tanh(R(2)), P.exp(R(2))))


class Foreign(Arrow):
    """A constructor this module has never heard of (like a new fold)."""

    __slots__ = ()

    def __init__(self) -> None:
        self._init(R(2), R(2))

    @property
    def head(self) -> tuple[Any, ...]:
        return ("foreign",)

    def _atom(self, show: Any) -> str:
        return "foreign"


def test_an_unknown_constructor_is_refused_by_name() -> None:
    with pytest.raises(NoDerivative, match="Foreign"):
        reverse(Foreign() >> P.tanh(R(2)))


def test_a_box_without_a_derivative_is_named() -> None:
    with pytest.raises(NoDerivative, match="'mystery'"):
        reverse(P.tanh(R(2)) >> Box("mystery", R(2), R(2)))


def test_the_backward_pass_is_drawable_serialisable_and_analysable() -> None:
    back = reverse(mlp([2, 3, 2]).arrow)
    assert draw(back).startswith("<svg")
    assert loads(dumps(back)) == back
    assert analyze(back).cls in ("pl", "polynomial", "smooth")


def test_optimize_reassociates_the_backward_pass_of_linear_attention() -> None:
    pytest.importorskip("egglog")
    from topos.rewrite import optimize
    from topos.rewrite.optimize import check

    back = reverse(linear_attention())
    result = optimize(back)
    steps = [str(s) for s in result.certificate.steps]
    assert any("mm-assoc" in s for s in steps)
    assert result.certificate.cost_after * 10 < result.certificate.cost_before
    assert check(result.certificate, back, result.arrow)


def _nodes(f: Arrow) -> list[Arrow]:
    from topos.arrows import fold

    out: list[Arrow] = []
    fold(f, lambda node, kids: out.append(node))
    return out


def test_a_cnn_backward_pass_and_its_reverse_round_trip_through_json() -> None:
    from topos.nn.zoo import ARCHITECTURES

    back = reverse(ARCHITECTURES["cnn (relu)"](True).arrow)
    twice = reverse(back)  # conv_transpose, conv_filter, max_pool_scatter reversed in turn
    assert loads(dumps(back)) == back and loads(dumps(twice)) == twice
    assert draw(back).startswith("<svg") and analyze(back).cls == "polynomial"
    assert all(name in repr(back) for name in ("conv_transpose", "conv_filter", "max_pool_scatter"))
    assert "max_pool_select" in repr(twice)
