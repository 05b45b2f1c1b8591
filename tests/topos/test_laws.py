"""Every law suite, run symbolically (``topos.equal``) and exactly (``topos.finite``).

Also: the suites catch broken semantics (each one can fail), and the strategies
cover every constructor.
"""

import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topos import arrows as ar_
from topos.arrows import Arrow, fold
from topos.finite import (
    FinSet,
    Function,
    Sets,
    random_model,
    random_presheaf_model,
    sierpinski,
)
from topos.functor import Category, Free, Functor
from topos.normal import equal
from topos.objects import Coproduct, Exp, Ob, Omega, Product, R, Zero
from topos.testing import (
    THEORIES,
    LawError,
    Semantics,
    arrows,
    check,
    check_boolean,
    check_cartesian,
    check_category,
    check_closed,
    check_cocartesian,
    check_functor,
    check_heyting,
    composable,
    empty,
    feasible,
    objects,
)


def names(theory: str, semantics: Semantics | None = None) -> list[str]:
    """The laws of a theory that ``semantics`` runs (those about structure it has)."""
    has = semantics.features if semantics else {"exponentials", "coproducts", "logic"}
    return [f"{law.theory}.{law.name}" for law in THEORIES[theory] if law.needs <= has]


def sets_model(seed: int) -> Functor:
    return random_model(seed, max_size=2)


def presheaf_model(seed: int) -> Functor:
    return random_presheaf_model(sierpinski(), seed, max_size=2)


SYMBOLIC = Semantics.symbolic()
SETS = Semantics.random(sets_model, name="finite sets")
# Exponentials of presheaves are costly to compute: the closed suite runs on small types.
PRESHEAVES = Semantics.random(presheaf_model, exponentials=False, name="presheaves on 0 -> 1")
PRESHEAVES_CLOSED = Semantics.random(
    presheaf_model, objects=objects(max_depth=0), max_depth=1, name="presheaves, small types"
)
SUITES = ["category", "cartesian", "cocartesian", "closed", "functor"]


@pytest.mark.parametrize("theory", SUITES)
def test_symbolic(theory):
    assert check(SYMBOLIC, theory) == names(theory)


@pytest.mark.parametrize("theory", [*SUITES, "heyting", "boolean"])
def test_finite_sets(theory):
    assert check(SETS, theory) == names(theory)


@pytest.mark.parametrize("theory", ["category", "cartesian", "cocartesian", "heyting", "functor"])
def test_presheaves(theory):
    assert check(PRESHEAVES, theory) == names(theory, PRESHEAVES)


@pytest.mark.parametrize("theory", ["closed", "functor"])
def test_presheaves_closed(theory):
    assert check(PRESHEAVES_CLOSED, theory) == names(theory)


def test_laws_about_switched_off_structure_are_skipped():
    ran = check(PRESHEAVES, "functor", settings=settings(max_examples=2, database=None))
    assert {"functor.curry", "functor.ev", "functor.exp"}.isdisjoint(ran)
    assert {"functor.copair", "functor.inl", "functor.logic", "functor.fst"} <= set(ran)
    flat = Semantics(lambda f: f, exponentials=False, coproducts=False, logic=False)
    assert check(flat, ["cocartesian", "closed", "heyting", "boolean"]) == []


@pytest.mark.parametrize("law", THEORIES["boolean"], ids=str)
def test_presheaves_on_the_arrow_category_are_not_boolean(law):
    with pytest.raises(LawError, match=f"boolean.{law.name}: .* fails in presheaves"):
        check(PRESHEAVES, law)


@pytest.mark.parametrize("theory", ["heyting", "boolean"])
def test_equal_is_sound_on_omega_laws(theory):
    # topos.equal treats the maps of Omega as uninterpreted constants (it cannot prove
    # these laws); whatever it does prove must hold in finite sets.
    model = random_model(seed=7, max_size=2)

    def sound(lhs: Arrow, rhs: Arrow) -> bool:
        return not equal(lhs, rhs) or model(lhs) == model(rhs)

    assert check(Semantics(lambda f: f, sound, name="equal vs Sets"), theory) == names(theory)


def test_on_the_nose_in_the_free_category():
    # The identity functor into Free rebuilds every arrow with the constructors, so
    # the category and functor laws hold for == itself, no normal forms needed.
    identity = Functor(ob=lambda x: x, ar=lambda b: b, cod=Free())
    on_the_nose = Semantics.of(identity, operator.eq, name="Free, ==")
    assert check(on_the_nose, "category") == names("category")
    assert check(on_the_nose, "functor") == names("functor")


def test_the_shortcuts_run_their_theory():
    fast = settings(max_examples=3, database=None)
    shortcuts = [
        (check_category, "category"),
        (check_cartesian, "cartesian"),
        (check_cocartesian, "cocartesian"),
        (check_closed, "closed"),
        (check_heyting, "heyting"),
        (check_boolean, "boolean"),
        (check_functor, "functor"),
    ]
    for run, theory in shortcuts:
        assert run(SETS, settings=fast) == names(theory)


def test_laws_needing_the_target_category_are_skipped_without_one():
    model = random_model(seed=1, max_size=2)
    plain = Semantics(model, name="a plain callable")
    ran = check(plain, ["category", "functor"], settings=settings(max_examples=3, database=None))
    assert ran == ["category.assoc", "category.left_unit", "category.right_unit"]


def test_check_rejects_unknown_theories_and_values():
    with pytest.raises(ValueError, match="unknown theory 'monoid'.*'cartesian'"):
        check(SETS, "monoid")
    with pytest.raises(TypeError, match="expected a Semantics, got Sets"):
        check(Sets(), "category")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="category must be a topos.functor.Category"):
        Semantics(lambda f: f, category="Sets")  # type: ignore[arg-type]


# -- the suites catch broken semantics ---------------------------------------------------


def first(s: FinSet):
    return s.elements[0]


class WrongId(Sets):
    def id(self, a):
        return Function(a, a, lambda x: first(a))


class WrongFst(Sets):
    def fst(self, a, b):
        return Function(a * b, a, lambda p: first(a))


class WrongCopair(Sets):
    def copair(self, f, g):
        return Function(f.dom + g.dom, f.cod, lambda t: g(t[1]) if t[0] else f(first(f.dom)))


class WrongCurry(Sets):
    def curry(self, m, x, a, b):
        return Function(x, b**a, lambda u: Function(a, b, lambda v: m((u, first(a)))))


class WrongDisj(Sets):
    def logic(self, op):
        if op == "disj":
            both = self.omega() * self.omega()
            return Function(both, self.omega(), {p: p[0] != p[1] for p in both})
        return super().logic(op)


class WrongTensor(Sets):
    def tensor(self, f, g, a, b):
        return Function(f.dom * g.dom, f.cod * g.cod, lambda p: (f(p[0]), g(first(g.dom))))


def broken(category: Category) -> Semantics:
    def make(seed):
        honest = random_model(seed, max_size=2)  # generators from an honest model
        return Functor(ob=honest.on_object, ar=honest.ar_map, cod=category)

    return Semantics.random(make, name=type(category).__name__)


@pytest.mark.parametrize(
    "semantics, theory, law",
    [
        (broken(WrongId()), "category", "category.left_unit"),
        (broken(WrongFst()), "cartesian", "cartesian.fst_beta"),
        (broken(WrongCopair()), "cocartesian", "cocartesian.inl_beta"),
        (broken(WrongCurry()), "closed", "closed.ev_beta"),
        (broken(WrongDisj()), "heyting", "heyting.disj_idem"),
        # the interpretation is honest Sets, the target says otherwise: not a functor
        (Semantics.random(sets_model, category=WrongTensor()), "functor", "functor.tensor"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_a_broken_semantics_is_caught(semantics, theory, law):
    with pytest.raises(LawError, match=f"^{law}: .* fails in"):
        check(
            semantics, theory, settings=settings(max_examples=100, derandomize=True, database=None)
        )


def test_the_failure_shows_the_instance():
    printed = Semantics(str, name="printed syntax")
    with pytest.raises(LawError) as info:
        check(
            printed,
            "cartesian",
            settings=settings(max_examples=20, derandomize=True, database=None),
        )
    message = str(info.value)
    assert message.startswith(
        "cartesian.fst_beta: pair(f, g) >> fst(A, B) = f fails in printed syntax"
    )
    assert "lhs: pair(" in message and "rhs: " in message and " -> " in message


class CrashingCompose(Sets):
    """A composition that reads a tuple out of range (issue 22, item 16)."""

    def compose(self, fs):
        chain = list(fs)
        return chain[0] if len(chain) == 1 else chain[len(chain)]


@pytest.mark.parametrize(
    "semantics, theory, law",
    [
        (broken(CrashingCompose()), "category", "category.assoc"),
        (Semantics.random(sets_model, category=CrashingCompose()), "functor", "functor.compose"),
    ],
    ids=["category", "functor"],
)
def test_a_crashing_semantics_names_the_law_the_instance_and_the_exception(semantics, theory, law):
    with pytest.raises(LawError) as info:
        check(
            semantics, theory, settings=settings(max_examples=20, derandomize=True, database=None)
        )
    message = str(info.value)
    assert message.startswith(f"{law}: ") and " raises IndexError in " in message
    assert "list index out of range" in message
    assert " -> " in message  # the instance drawn, with its types
    assert isinstance(info.value.__cause__, IndexError)


# -- the strategies ----------------------------------------------------------------------

CONSTRUCTORS = {
    "Box", "Id", "Compose", "Tensor", "Sum", "Pair", "Copair", "Fst", "Snd", "Copy",
    "Discard", "Swap", "Inl", "Inr", "Absurd", "Curry", "Ev", "Logic",
}  # fmt: skip


def constructors(f: Arrow) -> set[str]:
    return fold(f, lambda node, kids: {type(node).__name__}.union(*kids))


def test_generated_arrows_cover_every_constructor():
    seen: set[str] = set()

    @settings(max_examples=300, derandomize=True, database=None)
    @given(
        composable(2, objects=objects(max_depth=2), max_depth=3),
        arrows(R(1) + R(2), R(2) + Omega, max_depth=1),  # sums need sums on both sides
    )
    def collect(fs, f):
        for g in (*fs, f):
            seen.update(constructors(g))

    collect()
    assert seen == CONSTRUCTORS


@given(objects(max_depth=2), objects(max_depth=2), st.data())
def test_arrows_have_the_asked_type_and_exist_in_non_empty_models(a, b, data):
    f = data.draw(arrows(a, b, max_depth=2))
    assert (f.dom, f.cod) == (a, b)

    def ok(node: Arrow, kids: list[bool]) -> bool:
        # every box is feasible (a box into an empty object only where forced)
        return all(kids) and (not isinstance(node, ar_.Box) or feasible(node.dom, node.cod))

    if feasible(a, b):
        assert fold(f, ok)


def subobjects(y: Ob) -> list[Ob]:
    if isinstance(y, Exp):
        parts = [y.base, y.exponent]
    elif isinstance(y, (Product, Coproduct)):
        parts = [y.left, y.right]
    else:
        parts = []
    return [y, *(z for part in parts for z in subobjects(part))]


@given(objects(max_depth=1), objects(max_depth=1), st.data())
def test_switched_off_constructors_stay_off(a, b, data):
    f = data.draw(arrows(a, b, exponentials=False, coproducts=False, logic=False))
    found = constructors(f)
    assert not {"Curry", "Copair", "Sum"} & found
    inside = subobjects(a) + subobjects(b)
    if "Logic" in found:  # only where the given types hold Omega
        assert Omega in inside
    if "Ev" in found:  # only where the given types hold an exponential
        assert any(isinstance(x, Exp) for x in inside)


def test_empty_and_feasible():
    assert empty(Zero) and not empty(Omega) and not empty(Zero**Zero)
    assert empty(Omega * Zero) and not empty(Omega + Zero) and empty(Zero**Omega)
    assert feasible(Zero, Zero) and feasible(Omega, Omega) and not feasible(Omega, Zero)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: objects(max_depth=-1), "objects: max_depth must be a non-negative int"),
        (lambda: arrows(Omega, Omega, max_depth=1.5), "arrows: max_depth must be"),
        (lambda: arrows(Omega, Omega, names=[]), "arrows: names must be non-empty strings"),
        (lambda: composable(0), "composable: n must be a positive int, got 0"),
    ],
)
def test_strategy_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_strategy_objects_are_checked():
    with pytest.raises(TypeError, match="arrows: expected an object .* got int 3"):
        arrows(3, Omega)  # type: ignore[arg-type]
