"""Functors: generators by the user, structure by the target category.

Pointwise checks in finite sets (compositions, pairs, copairs, curry/ev), the
substitution functors into ``Free``, the derived structure of ``Category``, errors,
and a chain of 100,000 boxes interpreted without recursion.
"""

import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from topos import Box, Id, R, curry, ev, pair
from topos.arrows import copair, fst, inl, inr
from topos.finite import FinSet, Sets, random_element, random_model
from topos.functor import Category, Free, Functor
from topos.normal import equal
from topos.objects import Fin, Ob, Omega, One, Zero
from topos.para import Para, zeros
from topos.testing import Semantics, arrows, check, composable, feasible, objects

IDENTITY = Functor(ob=lambda x: x, ar=lambda b: b, cod=Free())


def points(s: FinSet, draw, n: int = 3) -> list:
    """A few elements of ``s`` (none if it is empty)."""
    if len(s) == 0:
        return []
    rng = random.Random(draw(st.integers(0, 2**16)))
    return [random_element(s, rng) for _ in range(n)]


@given(composable(2), st.integers(0, 2**16), st.data())
def test_composition_is_mapped_pointwise(fs, seed, data):
    f, g = fs
    F = random_model(seed, max_size=2)
    for x in points(F(f.dom), data.draw):
        assert F(f >> g)(x) == F(g)(F(f)(x))


@given(objects(max_depth=1), objects(max_depth=1), objects(max_depth=1), st.data())
def test_pairs_and_copairs_are_mapped_pointwise(x, a, b, data):
    assume(feasible(x, a * b) and feasible(a + b, x))
    F = random_model(data.draw(st.integers(0, 2**16)), max_size=2)
    f, g = data.draw(arrows(x, a, max_depth=2)), data.draw(arrows(x, b, max_depth=2))
    for p in points(F(x), data.draw):
        assert F(pair(f, g))(p) == (F(f)(p), F(g)(p))
        assert F(pair(f, g) >> fst(a, b))(p) == F(f)(p)
    h, k = data.draw(arrows(a, x, max_depth=2)), data.draw(arrows(b, x, max_depth=2))
    for p in points(F(a), data.draw):
        assert F(copair(h, k))(F(inl(a, b))(p)) == F(h)(p)
    for p in points(F(b), data.draw):
        assert F(inr(a, b) >> copair(h, k))(p) == F(k)(p)


@given(objects(max_depth=1), objects(max_depth=1), objects(max_depth=1), st.data())
def test_curry_and_ev_are_mapped_pointwise(x, a, b, data):
    assume(feasible(x * a, b))
    F = random_model(data.draw(st.integers(0, 2**16)), max_size=2)
    m = data.draw(arrows(x * a, b, max_depth=2))
    for u in points(F(x), data.draw):
        fn = F(curry(m))(u)
        assert fn.dom == F(a) and fn.cod == F(b)
        for v in points(F(a), data.draw):
            assert fn(v) == F(m)((u, v)) == F(ev(b, a))((fn, v))


@given(objects(max_depth=2))
def test_structural_objects_are_mapped_by_the_target(x):
    F = random_model(seed=3, max_size=2)
    S = Sets()
    for y in (x * x, x + x, x**x):
        parts = (F(y.left), F(y.right)) if hasattr(y, "left") else (F(y.base), F(y.exponent))
        made = {"Product": S.product, "Coproduct": S.coproduct, "Exp": S.exp}[type(y).__name__]
        assert F(y) == made(*parts)
    assert (F(One), F(Zero), F(Omega)) == (S.one(), S.zero(), S.omega())


@given(objects(max_depth=1), objects(max_depth=1), st.data())
def test_the_identity_functor_into_free_rebuilds_every_arrow(a, b, data):
    f = data.draw(arrows(a, b))
    assert IDENTITY(f) == f and IDENTITY(a) == a


def test_a_substitution_functor_maps_composites_to_composites():
    A, B = R(2), R(3)
    f, g = Box("f", A, B), Box("g", B, A)
    F = Functor(ob=lambda x: x, ar={f: f >> g >> f, g: g}, cod=Free())
    assert F(f >> g) == F(f) >> F(g) == f >> g >> f >> g
    assert str(F(f * Id(A))) == "(f >> g >> f) * id"
    assert F(pair(f, f)) == pair(F(f), F(f))
    m = Box("m", A * A, A)
    G = Functor(ob=lambda x: x, ar={m: fst(A, A)}, cod=Free())
    assert equal(G(curry(m) * Id(A) >> ev(A, A)), fst(A, A))


def test_functor_laws_on_the_nose_and_in_finite_sets():
    fast = settings(max_examples=15, derandomize=True, database=None)
    assert check(Semantics.of(IDENTITY, name="Free, =="), "functor", settings=fast)
    assert check(Semantics.random(lambda s: random_model(s, max_size=2)), "functor", settings=fast)


class Minimal(Category):
    """Finite sets with only the primitive structure: tensor, copy, swap and sum come
    from Category's defaults (universal properties)."""

    def __init__(self):
        self.sets = Sets()

    def __getattribute__(self, name):
        derived = ("tensor", "copy", "swap", "sum")
        if name in derived or name.startswith("_") or name == "sets":
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "sets"), name)


def test_the_derived_structure_of_category_satisfies_the_laws():
    def make(seed: int) -> Functor:
        honest = random_model(seed, max_size=2)
        return Functor(ob=honest.on_object, ar=honest.ar_map, cod=Minimal())

    minimal = Semantics.random(make, name="Sets with derived structure only")
    fast = settings(max_examples=20, derandomize=True, database=None)
    ran = check(minimal, ["cartesian", "cocartesian", "functor"], settings=fast)
    assert {"cartesian.tensor", "cartesian.copy", "cartesian.swap", "cocartesian.sum"} <= set(ran)


def test_a_category_without_some_structure_says_so():
    class Monoid(Category):
        def id(self, a):
            return 0

        def compose(self, fs):
            return sum(fs)

    F = Functor(ob=lambda x: "*", ar=lambda b: len(b.name), cod=Monoid())
    A = R(1)
    f, g = Box("ab", A, A), Box("cde", A, A)
    assert F(f >> g >> f) == 7 and F(Id(A)) == 0
    with pytest.raises(NotImplementedError, match="Monoid has no products"):
        F(A * A)
    with pytest.raises(NotImplementedError, match="Monoid has no pairing"):
        F(pair(f, g))
    with pytest.raises(NotImplementedError, match="Monoid has no exponentials"):
        F(curry(Box("m", A * A, A)))
    with pytest.raises(NotImplementedError, match="Monoid has no injections"):
        F(inl(A, A))


def test_generators_from_mappings_and_missing_images():
    A, B = R(1), R(2)
    f = Box("f", A, B)
    F = Functor(ob={A: FinSet([0, 1]), B: FinSet("ab")}, ar={}, cod=Sets())
    assert F(A * B) == FinSet([0, 1]) * FinSet("ab")
    with pytest.raises(KeyError, match=r"Functor: no image for the box Box\('f', R\(1\), R\(2\)\)"):
        F(f)
    with pytest.raises(KeyError, match=r"Functor: no image for the object R\(3\)"):
        F(R(3) + A)
    with pytest.raises(TypeError, match="Functor: cod must be a topos.functor.Category"):
        Functor(ob={}, ar={}, cod=Sets)  # the class, not an instance
    with pytest.raises(TypeError, match="Functor: expected an object or an arrow, got int 3"):
        F(3)


def test_objects_are_interpreted_once():
    calls: list[Ob] = []

    def ob(x: Ob) -> FinSet:
        calls.append(x)
        return FinSet([0, 1])

    F = Functor(ob=ob, ar={}, cod=Sets())
    X = Fin(3)
    F(X * X + X)
    F(X ** (X * X))
    assert calls == [X]


def test_para_maps_through_its_arrow():
    A = R(2)
    p = Para(R(3), Box("f", R(3) * A, A), params={"w": zeros})
    assert IDENTITY(p) == IDENTITY(p.arrow) == p.arrow


class Counting(Category):
    """Arrows are numbers of boxes; compose receives whole chains."""

    def __init__(self):
        self.longest = 0

    def id(self, a):
        return 0

    def compose(self, fs):
        self.longest = max(self.longest, len(fs))
        return sum(fs)

    def product(self, a, b):
        return "*"

    def pair(self, f, g):
        return f + g

    def fst(self, a, b):
        return 0


def test_a_chain_of_100000_boxes_is_interpreted_without_recursion():
    A = R(1)
    boxes = [Box(f"f{i}", A, A) for i in range(100_000)]
    chain = boxes[0]
    for b in boxes[1:]:
        chain = chain >> b
    target = Counting()
    F = Functor(ob=lambda x: "A", ar=lambda b: 1, cod=target)
    assert F(chain) == 100_000 and target.longest == 100_000
    assert F(pair(chain, chain) >> fst(A, A)) == 200_000
    assert IDENTITY(chain) == chain


def test_functor_repr_names_its_parts():
    F = Functor(ob={}, ar={}, cod=Sets())
    assert repr(F) == "Functor(ob={}, ar={}, cod=Sets())"


def test_groups_repeats_constants_have_category_defaults() -> None:
    from topos import Box, Const, R, Repeat, equal, group
    from topos.finite import random_model
    from topos.functor import Free, Functor

    A, P = R(2), R(2, 2)
    f = Box("f", A, A)
    body = group("blk", Box("step", P * A, A))
    F = random_model(seed=7, max_size=3)
    assert F(group("g", f >> f)) == F(f >> f)  # a group is its body
    rep = Repeat(body, 3)
    assert F(rep) == F(rep.unroll())  # a repeat is its unrolling
    c = Const(A, (1.0, 2.0), "c")
    assert F(c >> f)(()) == F(f)(F(c)(()))  # a constant gets an image like a generator
    same = Functor(ob=lambda x: x, ar=lambda b: b, cod=Free())
    assert same(rep) == rep and same(c) == c and same(group("g", f)) == group("g", f)
    assert equal(rep, rep.unroll()) and equal(group("g", f), f)
    subst = Functor(ob=lambda x: x, ar={Box("step", P * A, A): Box("other", P * A, A)}, cod=Free())
    assert subst(rep) == Repeat(group("blk", Box("other", P * A, A)), 3)
