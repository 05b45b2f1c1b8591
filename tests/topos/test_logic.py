"""Predicates and connectives: Boolean in finite sets, Heyting in presheaves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from topos import Box, Id, Omega, One, R, TypeMismatch, conj, disj, false, implies, neg, pair, true
from topos.arrows import Arrow, discard
from topos.errors import TooLarge
from topos.finite import (
    Functor,
    Presheaves,
    Subobject,
    poset,
    presheaves,
    random_model,
    random_presheaf_model,
    sierpinski,
)
from topos.logic import (
    both,
    bottom,
    conjunction,
    disjunction,
    either,
    entails,
    holds,
    iff,
    is_predicate,
    negation,
    on_fst,
    on_snd,
    product_of,
    reindex,
    sum_of,
    top,
    valid_entailment,
)
from topos.objects import Ob
from topos.testing import arrows, objects

seeds = st.integers(0, 2**16)
small_objects = objects(max_depth=1, constants=(One, Omega))
# In presheaves exponentials grow fast: predicates there are on objects without them.
flat_objects = objects(max_depth=1, exponentials=False, constants=(One, Omega))
CATEGORIES = [sierpinski(), poset("abc", [("a", "c"), ("b", "c")])]
categories = st.sampled_from(CATEGORIES)


@st.composite
def predicates(
    draw: st.DrawFn, n: int = 2, on: st.SearchStrategy[Ob] = small_objects
) -> tuple[Arrow, ...]:
    """n predicates on one drawn object."""
    a = draw(on)
    return tuple(draw(arrows(a, Omega, max_depth=1)) for _ in range(n))


@contextlib.contextmanager
def fits(limit: int = 2000) -> Iterator[None]:
    """Keep an example only while its presheaves stay small: a larger one is rejected."""
    saved = presheaves.MAX_ELEMENTS
    presheaves.MAX_ELEMENTS = limit
    try:
        yield
    except TooLarge:
        reject()
    finally:
        presheaves.MAX_ELEMENTS = saved


def subobject(model: Functor, p: Arrow) -> Subobject:  # type: ignore[type-arg]
    return Subobject.classified_by(model(p))


# ---------------------------------------------------------------------------------
# The combinators as diagrams


def test_connectives_are_the_documented_diagrams() -> None:
    a = R(2)
    p, q = Box("p", a, Omega), Box("q", a, Omega)
    assert both(p, q) == pair(p, q) >> conj and either(p, q) == pair(p, q) >> disj
    assert entails(p, q) == pair(p, q) >> implies and negation(p) == p >> neg
    assert top(a) == discard(a) >> true and bottom(a) == discard(a) >> false


def test_bad_predicates_are_named() -> None:
    a = R(2)
    p, f = Box("p", a, Omega), Box("f", a, R(1))
    assert is_predicate(p) and not is_predicate(f) and not is_predicate("p")
    with pytest.raises(TypeMismatch, match="both: f: expected a predicate with codomain Omega"):
        both(p, f)
    with pytest.raises(TypeMismatch, match=r"either\(p, r\): the predicates are on different"):
        either(p, Box("r", R(3), Omega))
    with pytest.raises(TypeError, match="entails: expected a predicate"):
        entails(p, "q")  # type: ignore[arg-type]
    with pytest.raises(TypeMismatch, match=r"conjunction: r: expected a predicate on R\(2\)"):
        conjunction(a, Box("r", R(3), Omega))
    with pytest.raises(TypeError, match="conjunction: expected the object"):
        conjunction(p)  # type: ignore[arg-type]
    with pytest.raises(TypeMismatch, match="negation"):
        negation(f)


# ---------------------------------------------------------------------------------
# Finite sets: the Boolean logic, pointwise


@given(predicates(3), seeds)
def test_connectives_are_pointwise_boolean_in_sets(ps: tuple[Arrow, ...], seed: int) -> None:
    F = random_model(seed, max_size=2)
    p, q, r = ps
    fp, fq, fr = F(p), F(q), F(r)
    for x in F(p.dom):
        assert F(both(p, q))(x) == (fp(x) and fq(x))
        assert F(either(p, q))(x) == (fp(x) or fq(x))
        assert F(entails(p, q))(x) == ((not fp(x)) or fq(x))
        assert F(negation(p))(x) == (not fp(x))
        assert F(iff(p, q))(x) == (fp(x) == fq(x))
        assert F(conjunction(p.dom, p, q, r))(x) == (fp(x) and fq(x) and fr(x))
        assert F(disjunction(p.dom, p, q, r))(x) == (fp(x) or fq(x) or fr(x))
        assert (F(top(p.dom))(x), F(bottom(p.dom))(x)) == (True, False)
    assert valid_entailment(F, p, q) == all(fq(x) for x in F(p.dom) if fp(x))


@given(predicates(1), seeds)
def test_sets_are_boolean(ps: tuple[Arrow, ...], seed: int) -> None:
    F = random_model(seed, max_size=2)
    (p,) = ps
    assert holds(F, either(p, negation(p)))
    assert holds(F, iff(negation(negation(p)), p))
    assert F(conjunction(p.dom)) == F(top(p.dom)) and F(disjunction(p.dom)) == F(bottom(p.dom))


@given(small_objects, small_objects, seeds, st.data())
def test_substitution_and_products_of_predicates(a, b, seed, data) -> None:  # type: ignore[no-untyped-def]
    F = random_model(seed, max_size=2)
    p, q = data.draw(arrows(a, Omega, max_depth=1)), data.draw(arrows(b, Omega, max_depth=1))
    f = data.draw(arrows(b, a, max_depth=1))
    fp, fq, ff = F(p), F(q), F(f)
    assert all(F(reindex(f, p))(y) == fp(ff(y)) for y in F(b))
    assert all(F(product_of(p, q))(xy) == (fp(xy[0]) and fq(xy[1])) for xy in F(a * b))
    assert all(F(on_fst(p, b))(xy) == fp(xy[0]) for xy in F(a * b))
    assert all(F(on_snd(b, p))(yx) == fp(yx[1]) for yx in F(b * a))
    assert all(F(sum_of(p, q))(t) == (fq(t[1]) if t[0] else fp(t[1])) for t in F(a + b))


# ---------------------------------------------------------------------------------
# Presheaves: the Heyting logic of subobjects


@given(categories, predicates(2, flat_objects), seeds)
def test_connectives_are_the_heyting_operations_on_subobjects(C, ps, seed: int) -> None:  # type: ignore[no-untyped-def]
    with fits():
        F = random_presheaf_model(C, seed, max_size=2)
        p, q = ps
        P, Q = subobject(F, p), subobject(F, q)
        assert subobject(F, both(p, q)) == P & Q
        assert subobject(F, either(p, q)) == P | Q
        assert subobject(F, entails(p, q)) == P.implies(Q)
        assert subobject(F, negation(p)) == ~P
        assert subobject(F, top(p.dom)) == Subobject.top(P.presheaf)
        assert subobject(F, bottom(p.dom)) == Subobject.bottom(P.presheaf)
        assert valid_entailment(F, p, q) == (P <= Q)


@given(categories, predicates(2, flat_objects), seeds)
def test_intuitionistic_laws_hold_in_presheaves(C, ps, seed: int) -> None:  # type: ignore[no-untyped-def]
    with fits():
        F = random_presheaf_model(C, seed, max_size=2)
        p, q = ps
        assert holds(F, entails(both(p, q), p)) and holds(F, entails(p, either(p, q)))
        assert holds(F, entails(p, negation(negation(p))))
        assert holds(F, iff(negation(negation(negation(p))), negation(p)))
        assert holds(F, entails(both(p, entails(p, q)), q))  # modus ponens
        assert not holds(F, bottom(p.dom))  # random models have a global element


def test_double_negation_and_excluded_middle_fail_in_the_sierpinski_topos() -> None:
    F = Functor(ob={}, ar={}, cod=Presheaves(sierpinski()))
    truth = Id(Omega)
    assert not holds(F, either(truth, negation(truth)))
    assert not holds(F, entails(negation(negation(truth)), truth))
    assert holds(F, entails(truth, negation(negation(truth))))
    # and on a predicate of a representable: "true from time 0 on"
    y1 = F.cod.yoneda(1)
    half = Subobject(y1, {0: ["0≤1"]})
    p = Box("p", R(1), Omega)
    G = random_presheaf_model(sierpinski(), ob={R(1): y1}, ar={p: half.characteristic()})
    assert not holds(G, either(p, negation(p)))
    assert subobject(G, negation(negation(p))) == Subobject.top(y1) != half


def test_the_same_laws_hold_in_sets() -> None:
    F = Functor(ob={}, ar={}, cod=random_model(0).cod)
    truth = Id(Omega)
    assert holds(F, either(truth, negation(truth)))
    assert holds(F, entails(negation(negation(truth)), truth))


def test_extent_turns_connectives_into_set_operations() -> None:
    from topos.finite import interpret
    from topos.logic import extent

    A = R(1)
    p, q = Box("p", A, Omega), Box("q", A, Omega)
    F = interpret(ob={A: range(6)}, ar={p: lambda n: n < 3, q: lambda n: n % 2 == 0})
    P, Q, everything = extent(F, p), extent(F, q), frozenset(range(6))
    assert extent(F, both(p, q)) == P & Q
    assert extent(F, either(p, q)) == P | Q
    assert extent(F, negation(p)) == everything - P
    assert extent(F, entails(p, q)) == (everything - P) | Q


@given(st.integers(0, 2**16))
def test_is_boolean_in_sets_not_in_presheaves(seed: int) -> None:
    from topos.logic import excluded_middle, is_boolean

    p = Box("p", R(2), Omega)
    assert is_boolean(random_model(seed=seed), p, negation(p), both(p, negation(p)))
    sheaves = Functor(ob={}, ar={}, cod=Presheaves(sierpinski()))
    assert not is_boolean(sheaves, Id(Omega))
    assert not holds(sheaves, excluded_middle(Id(Omega)))
