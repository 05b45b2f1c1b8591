"""Recur, the fold over a sequence axis: its laws, symbolically and in finite sets (exactly)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topos import Box, Id, R, Recur, equal, group, recur, specialise
from topos.analysis import analyze
from topos.arrows import Layer, Stack, reversal
from topos.dims import dims
from topos.draw import draw
from topos.errors import TooLarge, TypeMismatch
from topos.finite import FinSet, Function, Sets
from topos.functor import Functor
from topos.nn import recurrent as rec
from topos.normal import normal_form
from topos.objects import Dim, One
from topos.serial import dumps, loads

PP, S, X, Y = R(1), R(4), R(2), R(5)
CELL = Box("cell", PP * (S * X), S * Y)
OTHER = Box("other", PP * (S * X), S * Y)

lengths = st.integers(1, 6)
directions = st.booleans()


def flip(n: int) -> object:
    """The reversal of the input sequence, the parameters and state untouched."""
    return Id(PP) * (Id(S) * reversal(X, n))


@given(lengths, directions)
def test_a_fold_equals_its_unrolling(n: int, reverse: bool) -> None:
    r = recur(CELL, n, reverse)
    assert r.dom == PP * (S * R(n, 2)) and r.cod == S * R(n, 5)
    assert equal(r, r.unroll()) and equal(r.unroll(), r)


@given(lengths)
def test_reverse_fold_is_the_fold_conjugated_by_reversal(n: int) -> None:
    conj = flip(n) >> recur(CELL, n) >> (Id(S) * reversal(Y, n))
    assert equal(recur(CELL, n, reverse=True), conj)
    if n > 1:  # and it is another map
        assert not equal(recur(CELL, n, reverse=True), recur(CELL, n))


@given(lengths, directions)
def test_folds_of_equal_cells_are_equal_and_of_other_cells_not(n: int, reverse: bool) -> None:
    same = group("named", CELL >> Id(S * Y))
    assert equal(recur(CELL, n, reverse), recur(same, n, reverse))
    assert not equal(recur(CELL, n, reverse), recur(OTHER, n, reverse))


def test_equal_compares_folds_by_their_cells_without_unrolling() -> None:
    huge = recur(CELL, 10**9)  # unrolling would not fit anywhere
    assert equal(huge, recur(group("c", CELL), 10**9))
    with pytest.raises(TooLarge):
        huge.unroll()


@given(lengths)
def test_slices_of_a_stack_and_the_stack_of_slices(n: int) -> None:
    items = Stack(X, n).dom
    for i in range(n):
        assert normal_form(Stack(X, n) >> Layer(X, n, i)).cod == X
    assert equal(reversal(X, n) >> reversal(X, n), Id(R(n, 2)))
    assert equal(Stack(X, n) >> reversal(X, n) >> reversal(X, n), Stack(X, n))
    assert items == Stack(X, n).dom


def test_bad_cells_and_lengths_are_refused_by_name() -> None:
    with pytest.raises(TypeMismatch, match="expected a cell P \\* \\(S \\* X\\) -> S \\* Y"):
        Recur(Box("f", X, X), 3)
    with pytest.raises(TypeMismatch, match="state"):
        Recur(Box("f", PP * (S * X), X * Y), 3)
    with pytest.raises(TypeError, match="n must be an int >= 1 or a Dim"):
        Recur(CELL, 0)
    with pytest.raises(TypeError, match="leaves R"):
        Recur(Box("f", PP * (S * (X + X)), S * Y), 3)


def test_a_fold_over_a_dim_specialises_to_each_length() -> None:
    t = Dim("t", 16)
    r = recur(CELL, t)
    assert dims(r) == (t,) and r.dom == PP * (S * R(t, 2))
    for n in (1, 5, 16):
        assert specialise(r, t=n) == recur(CELL, n)
    with pytest.raises(TypeError, match="specialise it first"):
        r.unroll()
    assert equal(r, recur(group("c", CELL), t))


@given(lengths, directions)
def test_json_round_trip(n: int, reverse: bool) -> None:
    for f in (recur(CELL, n, reverse), recur(CELL, Dim("t", 8), reverse), Stack(X, n)):
        assert loads(dumps(f)) == f
        assert eval(repr(f), {**vars(__import__("topos")), "Dim": Dim, "Stack": Stack}) == f


def test_draw_shows_the_cell_once_with_the_state_marked() -> None:
    svg = draw(recur(CELL, 50))
    assert svg.count(">cell<") == 1 and "carried" in svg
    assert len(svg) < len(draw(recur(CELL, 3).unroll()))


def test_analyze_reads_a_fold_as_its_unrolling() -> None:
    for layer in (rec.rnn(2, 3, 4), rec.gru(2, 3, 4), rec.lstm(2, 3, 4), rec.linear_ssm(2, 3, 4),
                  rec.selective_ssm(2, 3, 4)):  # fmt: skip
        fold = rec.recur_of(layer)
        a, b = analyze(fold), analyze(fold.unroll())
        assert (a.order, a.cls, a.lives_in) == (b.order, b.cls, b.lives_in), layer


def test_analyze_names_the_input_chosen_transition_of_a_selective_ssm() -> None:
    report = analyze(rec.selective_ssm(2, 3, 6))
    assert (report.order, report.lives_in) == ("higher", "topos completion")
    assert "applies a map chosen by the input to the state carried by" in str(report.witnesses[0])
    linear = analyze(rec.linear_ssm(2, 3, 6))
    assert (linear.order, linear.cls) == ("first", "linear")
    assert analyze(rec.linear_ssm(2, 3, 6, parallel=True)).cls == "linear"


# -- the finite semantics: exact ----------------------------------------------------------


def _model(n: int) -> Functor[FinSet, Function]:
    small = {PP: FinSet([0, 1]), S: FinSet([0, 1, 2]), X: FinSet([0, 1]), Y: FinSet([0, 1])}
    for item in (X, Y):
        seq = R(n, *item.shape)
        small[seq] = FinSet(itertools.product(small[item], repeat=n))

    def table(v: tuple[int, tuple[int, int]]) -> tuple[int, int]:
        p, (s, x) = v
        return (s + x + p) % 3, (s * x + p) % 2

    def ar(f: object) -> Function:
        if f == CELL:
            return Function(small[PP] * (small[S] * small[X]), small[S] * small[Y], table)
        if isinstance(f, Layer):
            return Function(small[f.dom], small[f.ob], lambda t, i=f.index: t[i])
        if isinstance(f, Stack):
            ob = f.ob

            def gather(v: object, k: int = f.n) -> tuple[object, ...]:
                out = []
                for _ in range(k - 1):
                    out.append(v[1])  # type: ignore[index]
                    v = v[0]  # type: ignore[index]
                return (v, *reversed(out))

            items = small[ob]
            dom = items
            for _ in range(f.n - 1):
                dom = dom * items
            return Function(dom, small[f.cod], gather)
        raise KeyError(f)

    return Functor(ob=small.__getitem__, ar=ar, cod=Sets())


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("reverse", [False, True])
def test_the_finite_semantics_is_the_fold(n: int, reverse: bool) -> None:
    F = _model(n)

    def fold(v: tuple[int, tuple[int, tuple[int, ...]]]) -> tuple[int, tuple[int, ...]]:
        p, (s, xs) = v
        ys = [0] * n
        for i in reversed(range(n)) if reverse else range(n):
            s, ys[i] = (s + xs[i] + p) % 3, (s * xs[i] + p) % 2
        return s, tuple(ys)

    r = recur(CELL, n, reverse)
    want = Function(F(r.dom), F(r.cod), fold)
    assert F(r) == want
    assert F(r.unroll()) == want


def test_a_fold_of_one_step_over_one() -> None:
    c = Box("c", One * (S * X), S * One)
    r = recur(c, 3)
    assert r.cod == S * One and equal(r, r.unroll())


@settings(max_examples=10)
@given(lengths)
def test_layers_of_nn_are_folds_of_shared_parameters(n: int) -> None:
    g = rec.gru(2, 3, n)
    assert rec.recur_of(g).n == n and g.num_params() == rec.gru(2, 3, 1).num_params()


def test_recurrent_layers_and_models_round_trip_through_json() -> None:
    seq = Dim("seq", 8)
    for p in (
        rec.gru(2, 3, 4),
        rec.lstm(2, 3, seq),
        rec.recurrent_lm(11, seq, 4, 2, attention=[1]),
    ):
        assert loads(dumps(p)) == p
