"""Dimension variables: specialisation is a functor, agrees with building, checks its bounds.

A builder given ``seq = Dim("seq", max)`` gives one diagram whose specialisation at
``n`` equals the builder's diagram at ``n`` (learned positions aside: their table
has the bound's length and is sliced). Symbolic diagrams go through ``equal``,
``analyze``, ``draw`` and JSON like concrete ones.
"""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos import R, nn
from topos.analysis import analyze
from topos.dims import bind, dims, specialise
from topos.draw import draw
from topos.errors import TypeMismatch
from topos.nn import primitives as P
from topos.normal import equal
from topos.objects import Dim, Fin
from topos.para import Para, zeros
from topos.serial import dumps, loads

MAX = 12
SEQ = Dim("seq", MAX)


def _rope_model(seq: int | Dim) -> Para:
    return nn.language_model(
        11, seq, 8, 2, 1, kv_heads=1, positional="rope", norm="rms", activation="swiglu"
    )


@given(st.integers(1, MAX))
def test_specialising_a_builder_equals_building_at_that_length(n: int) -> None:
    assert specialise(_rope_model(SEQ), seq=n).arrow == _rope_model(n).arrow
    attn = nn.self_attention(SEQ, 8, 2, kv_heads=1)
    assert specialise(attn, seq=n).arrow == nn.self_attention(n, 8, 2, kv_heads=1).arrow


@given(st.integers(1, MAX))
def test_specialise_is_a_functor(n: int) -> None:
    x = R(SEQ, 4)
    f = P.slice_axis(R(MAX, 4), 0, SEQ, axis=0)
    g = P.relu(x) >> P.reshape(x, SEQ, 2, 2)
    assert specialise(f >> g, seq=n) == specialise(f, seq=n) >> specialise(g, seq=n)
    assert specialise(f * g, seq=n) == specialise(f, seq=n) * specialise(g, seq=n)
    assert specialise(P.relu(R(3)), **{}) == P.relu(R(3))  # concrete diagrams are fixed


@given(st.integers(1, MAX))
def test_learned_positions_slice_one_table(n: int) -> None:
    lm = nn.language_model(11, SEQ, 8, 2, 1)
    at_n = specialise(lm, seq=n)
    assert lm.parameters() == at_n.parameters()  # one parameter dict for every length
    assert at_n.parameters()["pos.table"].ob == R(MAX, 8)
    assert at_n.dom == Fin(11, n) and at_n.cod == R(n, 11) and not dims(at_n)


def test_symbolic_diagrams_through_equal_analyze_draw_json() -> None:
    lm = nn.language_model(11, SEQ, 8, 2, 1)
    assert equal(lm.arrow, lm.arrow)
    assert not equal(_rope_model(SEQ).arrow, specialise(_rope_model(SEQ), seq=MAX).arrow)
    assert loads(dumps(lm)) == lm and pickle.loads(pickle.dumps(lm.dom)) == lm.dom
    assert analyze(lm).cls == analyze(specialise(lm, seq=3)).cls
    assert "seq" in draw(lm)
    assert eval(repr(R(SEQ, 2)), {"R": R, "Dim": Dim}) == R(SEQ, 2)


def test_shape_checks_compare_dims() -> None:
    other = Dim("t", MAX)
    with pytest.raises(TypeMismatch, match="axis j has size Dim"):
        P.einsum("ij,jk->ik", R(2, SEQ), R(other, 3))
    with pytest.raises(TypeMismatch, match="do not have the same entries"):
        P.reshape(R(SEQ, 4), MAX, 4)
    with pytest.raises(TypeMismatch, match="start 0 and a bound <= 8"):
        P.slice_axis(R(8, 4), 0, SEQ, axis=0)
    assert P.add(R(SEQ, 4), R(4)).cod == R(SEQ, 4)
    assert P.reshape(R(SEQ, 4), SEQ, 2, 2).cod == R(SEQ, 2, 2)


def test_bad_bindings_and_symbolic_parameters_are_refused() -> None:
    f = P.relu(R(SEQ, 2))
    with pytest.raises(ValueError, match=r"seq = 13 is outside 1..12"):
        specialise(f, seq=13)
    with pytest.raises(ValueError, match="has no dim 'len'"):
        specialise(f, len=3)
    with pytest.raises(ValueError, match="dim seq is 3 at input\\[0\\] axis 0 and 4"):
        bind(R(SEQ) * R(SEQ), ((3,), (4,)))
    with pytest.raises(ValueError, match="length 13, outside 1..12"):
        bind(R(SEQ), (13,))
    with pytest.raises(TypeMismatch, match="parameter 'w' has the symbolic shape"):
        Para(R(SEQ), P.add(R(SEQ), R(SEQ)), params={"w": zeros})
    with pytest.raises(TypeError, match="bound must be a positive int"):
        Dim("seq", 0)


def test_two_dims_of_one_name_with_different_bounds_are_refused() -> None:
    # Before: specialise substituted 12 into both, and running the result failed in JAX
    # with a raw slice error (12 > 8).
    short, long = Dim("seq", 8), Dim("seq", 16)
    f = P.slice_axis(R(8, 4), 0, short, axis=0) * P.relu(R(long, 4))
    with pytest.raises(ValueError, match=r"two dims named 'seq' with different bounds"):
        specialise(f, seq=12)
    with pytest.raises(ValueError, match=r"Dim\('seq', (8|16)\) and Dim\('seq', (16|8)\)"):
        specialise(Para.lift(f), seq=4)  # even a length within both bounds
    other = Dim("t", 16)  # a name not bound stays symbolic, as before
    assert dims(specialise(P.relu(R(other, 2)) * f, t=3)) == (short, long)
