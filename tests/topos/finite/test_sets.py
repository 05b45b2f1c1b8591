"""Finite sets and functions: the exact semantics, its laws, and functors into it."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos import (
    Box,
    Fin,
    Id,
    Omega,
    One,
    R,
    Zero,
    absurd,
    conj,
    copair,
    curry,
    disj,
    ev,
    fst,
    implies,
    inl,
    inr,
    neg,
    pair,
    snd,
    uncurry,
)
from topos.arrows import Arrow, Logic, discard, fold
from topos.errors import TypeMismatch
from topos.finite import (
    CoproductSet,
    FinSet,
    Function,
    FunctionSet,
    ProductSet,
    Sets,
    interpret,
    random_element,
    random_model,
)
from topos.finite import sets as sets_module
from topos.functor import Category
from topos.testing import arrows, composable, objects

S = Sets()
seeds = st.integers(0, 2**16)
# Objects with no Zero: arrows between any two of them exist (Zero is covered by composable).
small_objects = objects(max_depth=1, constants=(One, Omega))

# ---------------------------------------------------------------------------------
# Strategies for raw finite sets and functions


@st.composite
def finsets(draw: st.DrawFn, max_size: int = 3) -> FinSet:
    n = draw(st.integers(0, max_size))
    return FinSet(draw(st.permutations(range(n))))


@st.composite
def functions(draw: st.DrawFn, dom: FinSet, cod: FinSet) -> Function:
    table = {x: draw(st.sampled_from(cod.elements)) for x in dom}
    return Function(dom, cod, table)


@st.composite
def nonempty(draw: st.DrawFn) -> FinSet:
    return FinSet(range(draw(st.integers(1, 3))))


@st.composite
def chains(draw: st.DrawFn, n: int) -> list[Function]:
    """n composable functions between non-empty sets."""
    sets = [draw(nonempty()) for _ in range(n + 1)]
    return [draw(functions(a, b)) for a, b in itertools.pairwise(sets)]


# ---------------------------------------------------------------------------------
# Sets and functions as values


@given(finsets(), finsets())
def test_structural_sets_equal_their_enumeration(a: FinSet, b: FinSet) -> None:
    for lazy in (a * b, a + b, b**a):
        explicit = FinSet(lazy.elements)
        assert lazy == explicit and explicit == lazy and hash(lazy) == hash(explicit)
        assert len(lazy) == len(lazy.elements) == len(set(lazy.elements))
        assert all(x in lazy for x in explicit)
    assert len(a * b) == len(a) * len(b)
    assert len(a + b) == len(a) + len(b)
    assert len(b**a) == len(b) ** len(a)


@given(finsets(), finsets())
def test_function_set_is_every_function(a: FinSet, b: FinSet) -> None:
    every = set(b**a)
    tables = {tuple(f(x) for x in a) for f in every}
    assert tables == set(itertools.product(b.elements, repeat=len(a)))


def test_membership_rejects_foreign_values() -> None:
    a, b = FinSet([0, 1]), FinSet("xy")
    assert (0, "x") in a * b and ("x", 0) not in a * b and [0, "x"] not in a * b
    assert (True, "y") in a + b and (True, 0) not in a + b and ("left", 0) not in a + b
    assert Function(a, b, {0: "x", 1: "y"}) in b**a
    assert Function(b, a, {"x": 0, "y": 1}) not in b**a
    assert [1] not in a


@given(finsets(), finsets())
def test_repr_evaluates_back(a: FinSet, b: FinSet) -> None:
    env = {"FinSet": FinSet, "Function": Function}
    for x in (a, a * b, a + b, b**a, (b**a) * a):
        assert eval(repr(x), env) == x
    if len(b) > 0:
        f = Function(a, b, lambda x: b.elements[0])
        assert eval(repr(f), env) == f


def test_sets_print_like_a_blackboard() -> None:
    a, b = FinSet([0, 1]), FinSet("x")
    assert str((a + b) * (b**a)) == "({0, 1} + {'x'}) * {'x'} ** {0, 1}"
    assert str(Function(a, b, {0: "x", 1: "x"}, name="f")) == "f"
    assert str(Function(a, b, {0: "x", 1: "x"})) == "({0, 1} -> {'x'})"


def test_unhashable_elements_are_named() -> None:
    with pytest.raises(TypeError, match="FinSet: expected hashable elements, got list"):
        FinSet([[1]])


def test_function_tables_are_checked() -> None:
    a, b = FinSet([0, 1]), FinSet("xy")
    with pytest.raises(ValueError, match="not total, it misses 1 of the domain"):
        Function(a, b, {0: "x"})
    with pytest.raises(ValueError, match="0 -> 'z' lands outside the codomain"):
        Function(a, b, {0: "z", 1: "x"})
    with pytest.raises(ValueError, match="2 is not in the domain"):
        Function(a, b, {0: "x", 1: "x", 2: "y"})
    lazy = Function(a, b, lambda n: "xyz"[n + 1], name="g")
    assert lazy(0) == "y"
    with pytest.raises(ValueError, match="Function g: 1 -> 'z' lands outside the codomain"):
        lazy(1)
    with pytest.raises(ValueError, match="Function g: 5 is not in the domain"):
        lazy(5)
    with pytest.raises(TypeError, match="expected a mapping or a callable"):
        Function(a, b, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a FinSet, got list"):
        Function([0], b, {0: "x"})  # type: ignore[arg-type]


@given(nonempty(), nonempty(), st.data())
def test_functions_are_equal_by_table(a: FinSet, b: FinSet, data: st.DataObject) -> None:
    f = data.draw(functions(a, b))
    lazy = Function(a, b, lambda x: f.table[x], name="other name")
    assert f == lazy and hash(f) == hash(lazy)
    g = data.draw(functions(a, b))
    assert (f == g) == all(f(x) == g(x) for x in a)
    assert f != Function(a, b + b, lambda x: (False, f(x)))


def test_too_large_sets_refuse_to_enumerate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sets_module, "MAX_ENUMERATION", 100)
    big = FinSet(range(3)) ** FinSet(range(5))
    assert len(big) == 243
    with pytest.raises(ValueError, match="243 elements, more than the 100"):
        list(big)


# ---------------------------------------------------------------------------------
# The laws of Sets, on raw functions


@given(chains(3))
def test_composition_is_associative_and_unital(fs: list[Function]) -> None:
    f, g, h = fs
    assert S.compose([S.compose([f, g]), h]) == S.compose([f, S.compose([g, h])])
    assert S.compose([f, g, h]) == S.compose([f, S.compose([g, h])])
    assert S.compose([S.id(f.dom), f]) == f == S.compose([f, S.id(f.cod)])
    assert all(S.compose([f, g])(x) == g(f(x)) for x in f.dom)


@given(nonempty(), nonempty(), nonempty(), st.data())
def test_products_are_universal(x: FinSet, a: FinSet, b: FinSet, data: st.DataObject) -> None:
    f, g = data.draw(functions(x, a)), data.draw(functions(x, b))
    h = data.draw(functions(x, a * b))
    assert S.compose([S.pair(f, g), S.fst(a, b)]) == f
    assert S.compose([S.pair(f, g), S.snd(a, b)]) == g
    assert S.pair(S.compose([h, S.fst(a, b)]), S.compose([h, S.snd(a, b)])) == h
    assert S.compose([S.discard(x)]) == data.draw(functions(x, S.one()))
    assert S.tensor(f, g, x, x) == Category.tensor(S, f, g, x, x)
    assert S.copy(x) == S.pair(S.id(x), S.id(x))
    assert S.swap(a, b) == S.pair(S.snd(a, b), S.fst(a, b))


@given(nonempty(), nonempty(), nonempty(), st.data())
def test_coproducts_are_universal(a: FinSet, b: FinSet, y: FinSet, data: st.DataObject) -> None:
    f, g = data.draw(functions(a, y)), data.draw(functions(b, y))
    h = data.draw(functions(a + b, y))
    assert S.compose([S.inl(a, b), S.copair(f, g)]) == f
    assert S.compose([S.inr(a, b), S.copair(f, g)]) == g
    assert S.copair(S.compose([S.inl(a, b), h]), S.compose([S.inr(a, b), h])) == h
    assert S.absurd(y) == Function(S.zero(), y, {})
    assert S.sum(f, g, y, y) == Category.sum(S, f, g, y, y)


@given(nonempty(), nonempty(), nonempty(), st.data())
def test_exponentials_are_universal(x: FinSet, a: FinSet, b: FinSet, data: st.DataObject) -> None:
    m = data.draw(functions(x * a, b))
    c = data.draw(functions(x, b**a))
    beta = S.compose([S.tensor(S.curry(m, x, a, b), S.id(a), x, a), S.ev(b, a)])
    assert beta == m
    eta = S.curry(S.compose([S.tensor(c, S.id(a), x, a), S.ev(b, a)]), x, a, b)
    assert eta == c


def test_omega_is_boolean_with_the_python_connectives() -> None:
    rules = {
        "conj": lambda p, q: p and q,
        "disj": lambda p, q: p or q,
        "implies": lambda p, q: (not p) or q,
    }
    for op, rule in rules.items():
        table = S.logic(op)
        assert all(table((p, q)) == rule(p, q) for p in (False, True) for q in (False, True))
    assert all(S.logic("neg")(p) is (not p) for p in (False, True))
    assert (S.logic("true")(()), S.logic("false")(())) == (True, False)
    with pytest.raises(ValueError, match="unknown connective 'xor'"):
        S.logic("xor")


def test_typing_errors_name_both_sides() -> None:
    a, b = FinSet([0]), FinSet([0, 1])
    f = Function(a, b, {0: 1}, name="f")
    with pytest.raises(TypeMismatch, match=r"f >> f: codomain FinSet\(\[0, 1\]\) does not"):
        S.compose([f, f])
    with pytest.raises(TypeMismatch, match="pair"):
        S.pair(f, S.id(b))
    with pytest.raises(TypeMismatch, match="copair"):
        S.copair(f, S.id(a))
    with pytest.raises(TypeError, match="expected a Function"):
        S.compose([f, "g"])


# ---------------------------------------------------------------------------------
# Functors into Sets preserve every structure, exactly


@given(composable(2, max_depth=2), seeds)
def test_functors_preserve_composition(fs: tuple[Arrow, ...], seed: int) -> None:
    f, g = fs
    F = random_model(seed, max_size=2)
    assert F(f >> g) == S.compose([F(f), F(g)])
    assert F(Id(f.dom)) == S.id(F(f.dom))
    assert F(f).dom == F(f.dom) and F(f).cod == F(f.cod)


@given(small_objects, small_objects, small_objects, seeds, st.data())
def test_functors_preserve_pairs_and_copairs(x, a, b, seed, data) -> None:  # type: ignore[no-untyped-def]
    F = random_model(seed, max_size=2)
    f, g = data.draw(arrows(x, a, max_depth=1)), data.draw(arrows(x, b, max_depth=1))
    assert F(pair(f, g)) == S.pair(F(f), F(g))
    assert F(pair(f, g) >> fst(a, b)) == F(f) and F(pair(f, g) >> snd(a, b)) == F(g)
    h, k = data.draw(arrows(a, x, max_depth=1)), data.draw(arrows(b, x, max_depth=1))
    assert F(copair(h, k)) == S.copair(F(h), F(k))
    assert F(inl(a, b) >> copair(h, k)) == F(h) and F(inr(a, b) >> copair(h, k)) == F(k)
    assert F(f * h) == S.tensor(F(f), F(h), F(x), F(a))
    assert F(f + h) == S.sum(F(f), F(h), F(a), F(x))


@given(small_objects, small_objects, small_objects, seeds, st.data())
def test_functors_preserve_curry_and_ev(x, a, b, seed, data) -> None:  # type: ignore[no-untyped-def]
    F = random_model(seed, max_size=2)
    m = data.draw(arrows(x * a, b, max_depth=1))
    c = data.draw(arrows(x, b**a, max_depth=1))
    assert F(curry(m)) == S.curry(F(m), F(x), F(a), F(b))
    assert F(ev(b, a)) == S.ev(F(b), F(a))
    assert F(curry(m) * Id(a) >> ev(b, a)) == F(m)  # beta
    assert F(curry(uncurry(c))) == F(c)  # eta


@given(objects(max_depth=2), seeds)
def test_functors_preserve_objects(x, seed: int) -> None:  # type: ignore[no-untyped-def]
    F = random_model(seed, max_size=2)
    image = F(x)
    parts = {"Product": ProductSet, "Coproduct": CoproductSet, "Exp": FunctionSet}
    if type(x).__name__ in parts:
        assert isinstance(image, parts[type(x).__name__])
    assert F(One) == FinSet([()]) and F(Zero) == FinSet([]) and F(Omega) == FinSet([False, True])
    assert F(x * x) == image * image and F(x + x) == image + image


@given(composable(1, max_depth=3), seeds)
def test_every_node_of_a_diagram_maps_to_a_total_function(fs: tuple[Arrow, ...], seed: int) -> None:
    F = random_model(seed, max_size=2)

    def check(node: Arrow, kids: list[bool]) -> bool:
        image = F(node).check()  # evaluates everywhere: raises if a value leaves the codomain
        return all(kids) and image.dom == F(node.dom) and image.cod == F(node.cod)

    assert fold(fs[0], check)


def test_random_model_tells_typed_attributes_apart_in_any_order() -> None:
    # k=1, k=True and k=1.0 are different boxes: the model of each does not depend on
    # which of them was interpreted first (issue 11, item 8)
    a = R(2)
    boxes = [Box("f", a, a, k=v) for v in (1, True, 1.0)]
    tables = {}
    for order in itertools.permutations(boxes):
        F = random_model(seed=5, max_size=3)
        for box in order:
            tables.setdefault(repr(box), set()).add(tuple(sorted(F(box).table.items())))
    assert all(len(seen) == 1 for seen in tables.values())


def test_omega_is_boolean_through_a_functor() -> None:
    F = interpret(ob={}, ar={})
    assert F(neg >> neg) == F(Id(Omega))
    assert F(pair(Id(Omega), neg) >> disj) == F(discard(Omega) >> Logic("true"))
    assert F(pair(Id(Omega), neg) >> conj) == F(discard(Omega) >> Logic("false"))
    assert F(pair(neg, Id(Omega)) >> implies) == F(Id(Omega))  # ¬p ⇒ p is p


def test_a_long_chain_is_interpreted_without_recursion() -> None:
    a = R(1)
    f = Box("f", a, a)
    chain: Arrow = f
    for _ in range(100_000):
        chain = chain >> f
    F = random_model(7)
    step = F(f)
    for x in F(a):
        y = x
        for _ in range(100_001):
            y = step(y)
        assert F(chain)(x) == y


# ---------------------------------------------------------------------------------
# interpret and random_model


def test_interpret_maps_generators_and_checks_their_types() -> None:
    even, small = Box("even", Fin(4), Omega), Box("small", Fin(4), Omega)
    F = interpret(
        ob={}, ar={even: lambda n: n % 2 == 0, small: {0: True, 1: True, 2: False, 3: False}}
    )
    both = F(pair(even, small) >> conj)
    assert all(both(n) == (n % 2 == 0 and n < 2) for n in range(4))
    w = Box("w", R(2), Fin(2))
    G = interpret(
        ob={R(2): ["a", "b"]}, ar={w: Function(FinSet("ab"), FinSet(range(2)), {"a": 0, "b": 1})}
    )
    assert G(w >> inl(Fin(2), One))("b") == (False, 1)
    with pytest.raises(
        TypeMismatch, match=r"interpret: Box\('w', R\(2\), Fin\(2\)\) is a function"
    ):
        interpret(
            ob={R(2): ["a"]}, ar={w: Function(FinSet("ab"), FinSet(range(2)), {"a": 0, "b": 1})}
        )(w)
    with pytest.raises(KeyError, match=r"no image for the object R\(3\)"):
        interpret(ob={}, ar={})(R(3))
    with pytest.raises(KeyError, match="no image for the box"):
        interpret(ob={}, ar={})(even)
    with pytest.raises(TypeError, match="expected a FinSet or an iterable"):
        interpret(ob={R(2): 5}, ar={})(R(2))


def test_interpret_accepts_functions_for_the_generators() -> None:
    F = interpret(ob=lambda x: range(2), ar=lambda box: lambda v: 1 - v)
    f = Box("f", R(3), R(3))
    assert F(f >> f) == F(Id(R(3)))


@given(composable(2, max_depth=2), seeds)
def test_random_models_are_reproducible_and_order_free(fs: tuple[Arrow, ...], seed: int) -> None:
    f, g = fs
    first, second = random_model(seed, max_size=2), random_model(seed, max_size=2)
    later = second(g)  # interpret in the other order
    assert first(f) == second(f) and first(g) == later


@given(objects(max_depth=0), seeds, st.integers(0, 3), st.integers(0, 2))
def test_random_models_respect_the_sizes(x, seed: int, low: int, extra: int) -> None:  # type: ignore[no-untyped-def]
    F = random_model(seed, min_size=low, max_size=low + extra)
    if isinstance(x, (R, Fin)):
        assert low <= len(F(x)) <= low + extra


def test_random_models_refuse_impossible_boxes_and_sizes() -> None:
    with pytest.raises(ValueError, match="no function Box.*into the empty set"):
        random_model(0)(Box("f", R(1), Zero))
    assert random_model(0)(Box("f", Zero, Zero)) == S.id(FinSet([]))
    assert random_model(0)(absurd(R(1))).dom == FinSet([])
    with pytest.raises(ValueError, match="min_size <= max_size"):
        random_model(0, min_size=3, max_size=2)


def test_random_models_keep_chosen_generators() -> None:
    f = Box("f", R(1), R(1))
    F = random_model(3, ob={R(1): [0, 1, 2]}, ar={f: lambda n: (n + 1) % 3})
    assert F(f >> f >> f) == F(Id(R(1)))


@given(finsets(), finsets(), seeds)
def test_random_elements_belong(a: FinSet, b: FinSet, seed: int) -> None:
    rng = random.Random(seed)
    for s in (a * b, a + b, b**a, (b**a) ** (a + b)):
        if len(s) > 0:
            assert random_element(s, rng) in s
        else:
            with pytest.raises(ValueError, match="is empty"):
                random_element(s, rng)
