"""analyze() judges the map, not the notation: equal diagrams get equal verdicts.

Three kinds of evidence: the law suites of the free bicartesian closed category, with
``analyze`` as the semantics (each law's two sides are equal arrows); law-preserving
rewrites inside a context (dead branches, eta, curry/ev round trips), checked equal by
``topos.equal`` first; and every stock and zoo architecture, in both spellings of
attention (``einsum`` and ``choose ; ev``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topos import Box, Id, R, copy, curry, discard, ev, fst, pair, snd, swap
from topos.analysis import analyze, declare
from topos.arrows import Arrow
from topos.normal import equal
from topos.testing import strategies as gen
from topos.testing.laws import Semantics, check

CLASSES_OF = {"an.lin": "linear", "an.pl": "pl", "an.poly": "polynomial", "an.smooth": "smooth"}
for _name, _cls in CLASSES_OF.items():
    declare(_name, _cls)
NAMES = tuple(CLASSES_OF)
FAST = settings(max_examples=25, database=None, deadline=None)


def verdict(x: object) -> object:
    """The semantics the laws are checked in: an arrow's (order, class, lives-in)."""
    if isinstance(x, Arrow):
        report = analyze(x)
        return (report.order, report.cls, report.lives_in)
    return x


@pytest.mark.parametrize("theory", ["category", "cartesian", "cocartesian", "closed"])
def test_every_law_of_the_free_structure_keeps_the_verdict(theory: str) -> None:
    sem = Semantics(verdict, names=NAMES, max_depth=3, logic=False, name="analyze")
    assert check(sem, theory, settings=FAST)


X, M, V = R(2), R(2, 2), R(2)


def _arrows(dom: object, cod: object, depth: int = 2) -> st.SearchStrategy[Arrow]:
    return gen.arrows(dom, cod, max_depth=depth, names=NAMES, logic=False)  # type: ignore[arg-type]


def _rewrites(f: Arrow, dead: Arrow) -> list[Arrow]:
    """Arrows equal to ``f: A -> B`` by the equations, ``dead: A -> C`` thrown away."""
    a, b, c = f.dom, f.cod, dead.cod
    return [
        copy(a) >> fst(a, a) >> f,  # copy ; fst
        pair(f, dead) >> fst(b, c),  # a dead branch
        copy(a) >> (dead * f) >> snd(c, b),  # a dead branch, on the left
        pair(Id(a), dead) >> fst(a, c) >> f,  # a dead branch before f
        pair(discard(a), f) >> snd(discard(a).cod, b),  # eta for One
        pair(f >> copy(b) >> fst(b, b), f) >> fst(b, b),  # eta for products
        pair(curry(fst(a, a) >> f), Id(a)) >> ev(b, a),  # curry ; ev round trip
        copy(a) >> swap(a, a) >> snd(a, a) >> f,
        pair(Id(a), Id(a)) >> fst(a, a) >> f,  # pair(id, id) is copy
    ]


@settings(max_examples=40, database=None, deadline=None)
@given(st.data())
def test_law_preserving_rewrites_in_context_keep_the_verdict(data: st.DataObject) -> None:
    f = data.draw(_arrows(X, M), label="f")
    dead = data.draw(_arrows(X, V), label="dead")
    before = data.draw(_arrows(X, X, 1), label="before")
    after = data.draw(_arrows(M, V, 1), label="after")
    for g in _rewrites(f, dead):
        assert equal(f, g)
        for ctx_f, ctx_g in ((f, g), (before >> f >> after, before >> g >> after)):
            assert verdict(ctx_f) == verdict(ctx_g), (ctx_f, ctx_g)


BILINEAR = {
    "higher": Box("an.bil", M * V, V, cls="bilinear"),
    "diagonal": Box("an.gate", V * V, V, cls="bilinear", diagonal=True),
}


def _factor(kind: str, cod: R) -> Arrow:
    """A factor ``X -> cod``: constant, linear or smooth in the input."""
    if kind == "constant":
        return discard(X) >> Box("an.lin", discard(X).cod, cod)
    return Box("an.lin" if kind == "linear" else "an.smooth", X, cod)


@settings(max_examples=40, database=None, deadline=None)
@given(
    st.sampled_from(sorted(BILINEAR)),
    st.sampled_from(["constant", "linear", "smooth"]),
    st.sampled_from(["constant", "linear", "smooth"]),
    st.data(),
)
def test_a_bilinear_box_written_as_curry_then_ev_keeps_the_verdict(
    kind: str, k1: str, k2: str, data: st.DataObject
) -> None:
    b = BILINEAR[kind]
    left, right = b.dom.left, b.dom.right  # type: ignore[attr-defined]
    a1, a2 = _factor(k1, left), _factor(k2, right)
    outer = data.draw(_arrows(V, V, 1), label="after")
    direct = pair(a1, a2) >> b >> outer
    curried = pair(a1 >> curry(b), a2) >> ev(b.cod, right) >> outer
    transposed = pair(a2 >> curry(swap(right, left) >> b), a1) >> ev(b.cod, left) >> outer
    assert equal(direct, curried) and equal(direct, transposed)
    assert verdict(direct) == verdict(curried) == verdict(transposed)
    # the rule itself, on the product before ``outer``
    report = analyze(pair(a1, a2) >> b)
    varying = "constant" not in (k1, k2)
    assert report.order == (kind if varying else "first")
    expected = "smooth" if "smooth" in (k1, k2) else ("polynomial" if varying else "linear")
    assert report.cls == expected


# -- stock and zoo architectures, whichever spelling builds them ---------------------------


def _einsum_attention(seq: int = 4, d: int = 8) -> object:
    """Single-head attention written with ``einsum`` only, no curry/ev:
    ``softmax(x Wq (x Wk)^T) · x Wv``."""
    from topos.nn import linear
    from topos.nn import primitives as P
    from topos.para import Para

    x, a = R(seq, d), R(seq, seq)
    q, k, v = (linear(d, d, lead=(seq,), bias=False, name=n) for n in "qkv")
    scores = Para.lift(P.einsum("sd,td->st", x, x) >> P.softmax(a))
    mix = Para.lift(P.einsum("st,td->sd", a, x))
    qk = Para.lift(copy(x)) >> (q * k) >> scores
    return Para.lift(copy(x)) >> (qk * v) >> mix


def _choose_ev_attention(seq: int = 4, d: int = 8) -> object:
    from topos.nn import attention

    return attention(seq, d, 1, bias=False)


def _stock() -> dict[str, tuple[object, tuple[str, str, str]]]:
    from topos import nn
    from topos.nn.cross_attention import cross_attention
    from topos.nn.feedforward import feedforward
    from topos.nn.lsa import lsa
    from topos.nn.moe import experts
    from topos.nn.norms import rms_norm
    from topos.nn.self_attention import self_attention
    from topos.nn.t5 import encoder_decoder
    from topos.nn.zoo import ARCHITECTURES, gpt2, llama, mixtral, preset

    pl, smooth = ("first", "pl", "PL pretopos"), ("first", "smooth", "smooth maps")
    higher = ("higher", "smooth", "topos completion")
    gated = ("diagonal", "smooth", "smooth maps")
    cubic = ("higher", "polynomial", "topos completion")
    zoo = {
        "mlp (relu)": pl, "mlp (tanh)": smooth, "cnn (relu)": pl, "cnn (gelu)": smooth,
        "rnn (relu)": pl, "rnn (tanh)": smooth, "gcn (relu)": pl, "gcn (tanh)": smooth,
        "transformer": higher, "linear attention": cubic,
        "hypernetwork": ("higher", "polynomial", "topos completion"),
        "mixture of experts": higher, "swiglu mlp": gated, "rmsnorm": gated,
        "llama-style lm": higher, "routed experts (top-2)": higher,
    }  # fmt: skip
    assert set(zoo) == set(ARCHITECTURES), "a zoo entry without its expected verdict"
    out = {f"zoo {k}": (ARCHITECTURES[k](True), v) for k, v in zoo.items()}
    out |= {
        "einsum attention": (_einsum_attention(), higher),
        "choose;ev attention": (_choose_ev_attention(), higher),
        "self_attention gqa": (self_attention(4, 8, 2, kv_heads=1, rope=True), higher),
        "gpt2 small": (gpt2("small", seq=8), higher),
        "llama (small)": (llama(17, 8, 16, 2, 1, 32, kv_heads=1), higher),
        "tinyllama": (preset("tinyllama-1.1b"), higher),
        "vit": (nn.vision_transformer((8, 8, 3), 4, 16, 2, 1, 10), higher),
        "lsa": (lsa(5, 5), cubic),
        "gelu mlp": (feedforward(8, 16, activation="gelu"), smooth),
        "geglu mlp": (feedforward(8, 16, activation="geglu"), gated),
        "rmsnorm": (rms_norm(8), gated),
        "layer norm": (nn.layer_norm(8), gated),
        "relu mlp": (nn.mlp([4, 8, 8, 2]), pl),
        "cross attention": (cross_attention(3, 5, 8, 2, masks=True), higher),
        "t5 (tiny)": (encoder_decoder(13, 4, 3, 8, 2, 4, 16, layers=1), higher),
        "mixtral (tiny)": (mixtral(17, 6, 16, 2, 1, 1, 24, 4, 2), higher),
        "dense experts": (experts(6, 8, 16, n_experts=4, k=2, routed=False), higher),
    }
    return out


STOCK = _stock()


@pytest.mark.parametrize("name", sorted(STOCK))
def test_every_stock_and_zoo_architecture_gets_the_verdict_of_its_structure(name: str) -> None:
    model, expected = STOCK[name]
    report = analyze(model)
    assert (report.order, report.cls, report.lives_in) == expected, str(report)
    if report.order != "first":  # the witness names where it happens
        assert report.witnesses[0].kind == "order"


def test_einsum_and_choose_ev_attention_agree_and_name_their_layers() -> None:
    a, b = analyze(_einsum_attention()), analyze(_choose_ev_attention())
    assert (a.order, a.cls, a.lives_in) == (b.order, b.cls, b.lives_in)
    assert "einsum 'sd,td->st' applies an input-chosen linear map" in str(a.witnesses[0])
    assert str(b.witnesses[0]) == "order: ev applies a function that depends on the input, in attn"
