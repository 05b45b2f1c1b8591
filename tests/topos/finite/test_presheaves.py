"""Presheaves on finite categories: a topos, exactly, and a non-Boolean one."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from topos import (
    Box,
    Id,
    Omega,
    One,
    R,
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
from topos.errors import TooLarge
from topos.finite import (
    FiniteCategory,
    Functor,
    Nat,
    Presheaf,
    Presheaves,
    Subobject,
    discrete,
    nat_transformations,
    poset,
    presheaves,
    random_presheaf_model,
    sierpinski,
    subobjects,
)
from topos.testing import arrows, composable, objects

Z2 = FiniteCategory(["*"], {"s": ("*", "*")}, {("s", "s"): "id_*"})
SIERPINSKI = sierpinski()
CATEGORIES = {
    "sierpinski": SIERPINSKI,
    "discrete": discrete(["a", "b"]),
    "chain": poset([0, 1, 2], [(0, 1), (1, 2)]),
    "vee": poset("abc", [("a", "c"), ("b", "c")]),
    "Z2": Z2,
}
categories = st.sampled_from(sorted(CATEGORIES)).map(CATEGORIES.__getitem__)
seeds = st.integers(0, 2**16)
# Exponentials of presheaves grow fast (Omega ** Omega ** Omega on a 3-object poset is
# astronomically large), so drawn objects have none at the top: the arrows drawn between
# them still build exponentials (curry, ev), which are lazy and never enumerated whole.
small_objects = objects(max_depth=1, exponentials=False, constants=(One, Omega))


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


def structure(C: FiniteCategory) -> Functor[Presheaf, Nat]:
    """The functor with no generators: it interprets the structure only."""
    return Functor(ob={}, ar={}, cod=Presheaves(C))


# ---------------------------------------------------------------------------------
# Finite categories


def test_posets_are_thin_and_transitively_closed() -> None:
    V = poset("abcd", [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    assert V.hom("a", "d") == ("a≤d",) and V.hom("d", "a") == ()
    assert V.then("a≤b", "b≤d") == V.then("a≤c", "c≤d") == "a≤d"
    assert set(V.into("d")) == {"id_d", "a≤d", "b≤d", "c≤d"}
    assert eval(repr(V), {"FiniteCategory": FiniteCategory}) == V


def test_the_sierpinski_category_is_the_arrow_category() -> None:
    C = sierpinski()
    assert C.objects == (0, 1) and C.hom(0, 1) == ("0≤1",) and C.hom(1, 0) == ()
    assert C.then("id_0", "0≤1") == C.then("0≤1", "id_1") == "0≤1"


@pytest.mark.parametrize(
    ("arrows_", "table", "message"),
    [
        ({"s": ("*", "*")}, {}, "the composite 's' >> 's' is missing"),
        ({"s": ("*", "*")}, {("s", "s"): "t"}, "must be an arrow"),
        ({"s": ("*", "x")}, {}, "'x', not an object"),
        ({"id_*": ("*", "*")}, {}, "name 'id_\\*' is taken"),
        ({"s": "*"}, {}, "needs a type"),
        (
            {"s": ("*", "*"), "t": ("*", "*")},
            {("s", "s"): "t", ("s", "t"): "t", ("t", "s"): "s", ("t", "t"): "t"},
            "not associative",
        ),
        ({}, {("s", "s"): "s"}, "not composable"),
    ],
)
def test_bad_categories_are_named(arrows_: dict, table: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        FiniteCategory(["*"], arrows_, table)


# ---------------------------------------------------------------------------------
# Presheaves and natural transformations as values


def test_presheaf_data_is_checked() -> None:
    C = poset([0, 1, 2], [(0, 1), (1, 2)])
    sets = {0: ["a", "b"], 1: ["u"], 2: ["t"]}
    good = {"0≤1": {"u": "a"}, "1≤2": {"t": "u"}, "0≤2": {"t": "a"}}
    assert Presheaf(C, sets, good).is_functorial()
    with pytest.raises(ValueError, match="not functorial at '0≤1' >> '1≤2'"):
        Presheaf(C, sets, {**good, "0≤2": {"t": "b"}})
    with pytest.raises(ValueError, match="no restriction given along the arrow '0≤2'"):
        Presheaf(C, sets, {"0≤1": {"u": "a"}, "1≤2": {"t": "u"}})
    with pytest.raises(ValueError, match="no set given for the object 2"):
        Presheaf(C, {0: [], 1: []}, good)
    with pytest.raises(ValueError, match="misses 'u'"):
        Presheaf(C, sets, {**good, "0≤1": {}})
    by_rule = Presheaf(C, sets, lambda f, x: "a" if f in ("0≤1", "0≤2") else "u")
    assert by_rule == Presheaf(C, sets, good)
    assert by_rule.map("0≤2")("t") == "a" and by_rule[1].elements == ("u",)


def test_nat_checks_naturality_and_names_the_failure() -> None:
    S = Presheaves(SIERPINSKI)
    y0, y1 = S.yoneda(0), S.yoneda(1)
    omega = S.omega()
    with pytest.raises(ValueError, match="not natural at the arrow '0≤1'"):
        Nat(y1, omega, {0: {"0≤1": frozenset()}, 1: {"id_1": frozenset({"0≤1", "id_1"})}})
    with pytest.raises(ValueError, match="no component given at the object 1"):
        Nat(y0, omega, {0: {"id_0": frozenset()}})
    lazy = Nat(y1, omega, {0: {"0≤1": frozenset({"id_0"})}, 1: {"id_1": frozenset({"0≤1"})}})
    assert lazy.is_natural() and lazy(1, "id_1") == frozenset({"0≤1"})
    bad = Nat(y1, omega, lambda c, x: frozenset(), check=False)
    assert bad.is_natural()  # the constant empty sieve is natural
    unnatural = Nat(
        y1,
        omega,
        lambda c, x: frozenset(S.category.into(c)) if c == 1 else frozenset(),
        check=False,
    )
    assert not unnatural.is_natural()


def test_nat_rejects_presheaves_on_different_categories() -> None:
    a, b = Presheaves(SIERPINSKI).one(), Presheaves(Z2).one()
    with pytest.raises(ValueError, match="different categories"):
        Nat(a, b, {})


@given(categories, seeds, small_objects)
def test_yoneda_lemma_counts_transformations(C: FiniteCategory, seed: int, x) -> None:  # type: ignore[no-untyped-def]
    """Nat(y c, F) is in bijection with F(c): evaluation at the identity."""
    F = random_presheaf_model(C, seed, max_size=2)(x)
    S = Presheaves(C)
    for c in C.objects:
        found = list(nat_transformations(S.yoneda(c), F))
        assert len(found) == len(F[c])
        assert {alpha(c, C.id(c)) for alpha in found} == set(F[c])
        assert all(alpha.is_natural() for alpha in found)


@given(categories, seeds, small_objects, small_objects)
def test_enumerated_transformations_are_exactly_the_natural_families(C, seed, x, y) -> None:  # type: ignore[no-untyped-def]
    model = random_presheaf_model(C, seed, max_size=2)
    F, G = model(x), model(y)
    families_count = 1  # the brute force walks the product over objects, not each factor
    for c in C.objects:
        families_count *= len(G[c]) ** len(F[c])
    if families_count > 2_000:
        return
    families = itertools.product(
        *(itertools.product(G[c].elements, repeat=len(F[c])) for c in C.objects)
    )
    natural = set()
    for family in families:
        comps = {
            c: dict(zip(F[c].elements, outs, strict=True))
            for c, outs in zip(C.objects, family, strict=True)
        }
        alpha = Nat(F, G, comps, check=False)
        if alpha.is_natural():
            natural.add(alpha)
    assert set(nat_transformations(F, G)) == natural


# ---------------------------------------------------------------------------------
# Omega, truth and the Heyting algebra of subobjects


def test_omega_on_the_sierpinski_topos_has_three_truth_values_at_1() -> None:
    omega = Presheaves(SIERPINSKI).omega()
    assert [len(omega[c]) for c in (0, 1)] == [2, 3]
    assert frozenset({"0≤1"}) in omega[1]  # "true from time 0 on, not yet at 1"
    assert omega.act(frozenset({"0≤1"}), "0≤1") == frozenset({"id_0"})


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_sieves_are_closed_under_precomposition(name: str) -> None:
    C = CATEGORIES[name]
    omega = Presheaves(C).omega()
    assert omega.is_functorial()
    for c in C.objects:
        assert frozenset(C.into(c)) in omega[c] and frozenset() in omega[c]
        for s in omega[c]:
            assert all(C.then(g, h) in s for h in s for g in C.into(C.dom(h)))


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_the_maps_of_omega_are_natural(name: str) -> None:
    S = Presheaves(CATEGORIES[name])
    for op in ("true", "false", "conj", "disj", "implies", "neg"):
        assert S.logic(op).is_natural()
    with pytest.raises(ValueError, match="unknown connective 'xor'"):
        S.logic("xor")


def test_the_sierpinski_topos_is_not_boolean() -> None:
    F = structure(SIERPINSKI)
    assert F(neg >> neg) != F(Id(Omega))
    assert F(pair(Id(Omega), neg) >> disj) != F(discard(Omega) >> Logic("true"))
    half = frozenset({"0≤1"})
    assert F(neg)(1, half) == frozenset()
    assert F(neg >> neg)(1, half) == frozenset({"0≤1", "id_1"}) != half


@pytest.mark.parametrize("name", ["discrete", "Z2"])
def test_presheaves_on_a_groupoid_are_boolean(name: str) -> None:
    F = structure(CATEGORIES[name])
    assert F(neg >> neg) == F(Id(Omega))
    assert F(pair(Id(Omega), neg) >> disj) == F(discard(Omega) >> Logic("true"))


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_heyting_laws_of_omega_hold_everywhere(name: str) -> None:
    F = structure(CATEGORIES[name])
    o, t = Id(Omega), discard(Omega) >> Logic("true")
    assert F(neg >> neg >> neg) == F(neg)  # ¬¬¬p = ¬p
    assert F(pair(o, neg) >> conj) == F(discard(Omega) >> Logic("false"))  # p ∧ ¬p = ⊥
    assert F(pair(o, neg >> neg) >> implies) == F(t)  # p ≤ ¬¬p
    assert F(pair(o, o) >> implies) == F(t)
    assert F(pair(o, o) >> conj) == F(o) == F(pair(o, o) >> disj)


def some_presheaves(C: FiniteCategory) -> list[Presheaf]:
    S = Presheaves(C)
    reps = [S.yoneda(c) for c in C.objects]
    return [S.one(), S.omega(), *reps, S.coproduct(reps[0], reps[-1])]


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_subobjects_are_classified_by_maps_into_omega(name: str) -> None:
    C = CATEGORIES[name]
    omega = Presheaves(C).omega()
    for F in some_presheaves(C):
        for chi in nat_transformations(F, omega):
            U = Subobject.classified_by(chi)
            assert U.characteristic() == chi
            assert Subobject.classified_by(U.characteristic()) == U


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_subobjects_form_a_heyting_algebra(name: str) -> None:
    C = CATEGORIES[name]
    for F in some_presheaves(C):
        subs = subobjects(F)
        top, bottom = Subobject.top(F), Subobject.bottom(F)
        assert top in subs and bottom in subs
        pairs = list(itertools.product(subs, repeat=2))
        meet = {(U, V): U & V for U, V in pairs}
        arrow = {(U, V): U.implies(V) for U, V in pairs}
        for U, V in pairs:
            assert meet[U, V] <= U and U <= (U | V) and meet[U, V] == meet[V, U]
            assert arrow[U, V] in subs and (~U) == arrow[U, bottom]
        some = subs[:: max(1, len(subs) // 12)]  # the adjunction is cubic: thin out W
        for W, (U, V) in itertools.product(some, pairs):  # W ∧ U ≤ V iff W ≤ (U ⇒ V)
            assert (meet[W, U] <= V) == (W <= arrow[U, V])


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_connectives_of_omega_classify_the_operations_on_subobjects(name: str) -> None:
    C = CATEGORIES[name]
    S = Presheaves(C)
    for F in some_presheaves(C):
        subs = subobjects(F)
        some = subs[:: max(1, len(subs) // 12)]  # thin out U on the larger lattices
        for U, V in itertools.product(some, subs):
            chi = S.pair(U.characteristic(), V.characteristic())
            assert S.compose([chi, S.logic("conj")]) == (U & V).characteristic()
            assert S.compose([chi, S.logic("disj")]) == (U | V).characteristic()
            assert S.compose([chi, S.logic("implies")]) == U.implies(V).characteristic()
        for U in subs:
            assert S.compose([U.characteristic(), S.logic("neg")]) == (~U).characteristic()


def test_excluded_middle_fails_for_a_subobject_of_a_representable() -> None:
    y1 = Presheaves(SIERPINSKI).yoneda(1)
    U = Subobject(y1, {0: ["0≤1"]})
    assert (U | ~U) != Subobject.top(y1) and ~~U != U
    with pytest.raises(ValueError, match="not closed under restriction"):
        Subobject(y1, {1: ["id_1"]})
    with pytest.raises(ValueError, match="'x' is not in"):
        Subobject(y1, {0: ["x"]})


def test_pullback_of_subobjects() -> None:
    S = Presheaves(SIERPINSKI)
    y1 = S.yoneda(1)
    U = Subobject(y1, {0: ["0≤1"]})
    proj = S.fst(y1, y1)
    pulled = U.pullback(proj)
    assert pulled.presheaf == S.product(y1, y1)
    assert all((x in pulled[c]) == (x[0] in U[c]) for c in (0, 1) for x in pulled.presheaf[c])


# ---------------------------------------------------------------------------------
# The cartesian closed structure, and functors into presheaves


@given(categories, seeds, small_objects, small_objects)
def test_constructed_presheaves_are_functorial(C, seed, x, y) -> None:  # type: ignore[no-untyped-def]
    with fits():
        F = random_presheaf_model(C, seed, max_size=2)
        for z in (x, y, x * y, x + y, y**x):
            assert F(z).is_functorial()


@given(categories, seeds, small_objects, small_objects, small_objects, st.data())
def test_curry_and_ev_are_inverse(C, seed, x, a, b, data) -> None:  # type: ignore[no-untyped-def]
    with fits():
        F = random_presheaf_model(C, seed, max_size=2)
        S = F.cod
        m = data.draw(arrows(x * a, b, max_depth=1))
        c = data.draw(arrows(x, b**a, max_depth=1))
        assert F(curry(m)) == S.curry(F(m), F(x), F(a), F(b))
        assert F(curry(m)).is_natural() and F(ev(b, a)).is_natural()
        assert F(curry(m) * Id(a) >> ev(b, a)) == F(m)  # beta
        assert F(curry(uncurry(c))) == F(c)  # eta


@given(categories, seeds, small_objects, small_objects, small_objects, st.data())
def test_products_and_coproducts_are_universal(C, seed, x, a, b, data) -> None:  # type: ignore[no-untyped-def]
    with fits():
        F = random_presheaf_model(C, seed, max_size=2)
        f, g = data.draw(arrows(x, a, max_depth=1)), data.draw(arrows(x, b, max_depth=1))
        assert F(pair(f, g) >> fst(a, b)) == F(f) and F(pair(f, g) >> snd(a, b)) == F(g)
        h, k = data.draw(arrows(a, x, max_depth=1)), data.draw(arrows(b, x, max_depth=1))
        assert F(inl(a, b) >> copair(h, k)) == F(h) and F(inr(a, b) >> copair(h, k)) == F(k)
        assert F(copair(inl(a, b), inr(a, b))) == F(Id(a + b))
        assert F(pair(fst(a, b), snd(a, b))) == F(Id(a * b))


@given(categories, composable(2, objects=small_objects, max_depth=2), seeds)
def test_functors_into_presheaves_preserve_composition(C, fs: tuple[Arrow, ...], seed: int) -> None:  # type: ignore[no-untyped-def]
    with fits():
        f, g = fs
        F = random_presheaf_model(C, seed, max_size=2)
        assert F(f >> g) == F.cod.compose([F(f), F(g)])
        assert F(Id(f.dom)) == F.cod.id(F(f.dom))


@given(categories, composable(1, objects=small_objects, max_depth=3), seeds)
def test_every_constructed_transformation_is_natural(C, fs: tuple[Arrow, ...], seed: int) -> None:  # type: ignore[no-untyped-def]
    with fits():
        F = random_presheaf_model(C, seed, max_size=2)

        def check(node: Arrow, kids: list[bool]) -> bool:
            image = F(node)
            return (
                all(kids)
                and image.dom == F(node.dom)
                and image.cod == F(node.cod)
                and image.is_natural()
            )

        assert fold(fs[0], check)


def test_random_presheaf_models_are_reproducible_and_keep_chosen_generators() -> None:
    f = Box("f", R(1), R(2))
    first, second = random_presheaf_model(SIERPINSKI, 5), random_presheaf_model(SIERPINSKI, 5)
    second(R(2))
    assert first(f) == second(f)
    y1 = Presheaves(SIERPINSKI).yoneda(1)
    fixed = random_presheaf_model(SIERPINSKI, 5, ob={R(1): y1})
    assert fixed(R(1)) == y1
    empty = random_presheaf_model(SIERPINSKI, 5, min_size=0, max_size=0)
    with pytest.raises(ValueError, match="no natural transformation"):
        random_presheaf_model(SIERPINSKI, 5, ob={R(2): empty(R(2))})(f)
    with pytest.raises(ValueError, match="min_size <= max_size"):
        random_presheaf_model(SIERPINSKI, min_size=2, max_size=1)


def test_exponentials_of_representables_follow_yoneda() -> None:
    """(G^{y d})(c) = Nat(y c × y d, G); for G = Omega on a poset it is Omega(c ∧ d)."""
    S = Presheaves(SIERPINSKI)
    for c, d in itertools.product((0, 1), repeat=2):
        E = S.exp(S.omega(), S.yoneda(d))
        assert len(E[c]) == len(S.omega()[min(c, d)])
