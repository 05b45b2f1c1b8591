"""Law suites: the equations of each structure, stated once, checked on any semantics.

A ``Law`` is data: its theory, its name, its statement, and a function that
draws an instance (objects and arrows, with hypothesis) and returns the two
sides. ``THEORIES`` lists the laws of each structure:

- ``category``: associativity and units (also of the target's own ``compose``);
- ``cartesian``: beta and eta for pairs, naturality, the terminal object,
  ``tensor``, ``copy`` and ``swap`` as pairings;
- ``cocartesian``: the same for copairs, injections, the initial object, ``sum``;
- ``closed``: beta and eta for ``curry``/``ev``, naturality of ``curry``;
- ``heyting``: ``Omega`` is an internal Heyting algebra (bounded lattice,
  implication), stated on generalised elements ``p, q, r: X -> Omega``;
- ``boolean``: excluded middle and double negation (Sets is Boolean, presheaves
  in general are not: this suite is expected to fail there);
- ``functor``: the interpretation of each constructor is the target's operation
  on the interpretations (``F(f >> g) = F(f) ; F(g)``, ``F(A * B) = F(A) × F(B)`` ...).

A ``Semantics`` says how to interpret objects and arrows and when two images
are equal; ``check(semantics, theory)`` (or ``check_category(semantics)`` ...)
runs each law as a hypothesis property and raises ``LawError`` with the law,
the instance and both sides when one fails (or the exception, chained, when
interpreting or comparing the instance crashes). A semantics without some structure
(a category of piecewise-linear maps has no exponentials) switches it off,
``Semantics(..., exponentials=False)``: laws about it are skipped and the arrows
drawn do without it. For floating point, pass an ``eq`` with a tolerance. Call
it from a test:

>>> from hypothesis import settings
>>> from topos.finite import random_model
>>> fast = settings(max_examples=10, derandomize=True, database=None)
>>> finite_sets = Semantics.random(lambda seed: random_model(seed, max_size=2))
>>> check(finite_sets, ["cartesian", "closed"], settings=fast)
['cartesian.fst_beta', 'cartesian.snd_beta', ..., 'closed.uncurry']

A semantics that breaks a law is caught, with an instance that breaks it:

>>> printed = Semantics(str, name="printed syntax")
>>> check(printed, "cartesian", settings=fast)
Traceback (most recent call last):
...
topos.testing.laws.LawError: cartesian.fst_beta: pair(f, g) >> fst(A, B) = f fails in printed syntax
...
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import hypothesis
import hypothesis.errors
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from topos import arrows as ar_
from topos.arrows import Arrow, Compose, Id, Logic
from topos.errors import short
from topos.functor import Category, Free, Functor
from topos.objects import Ob, Omega, One, Zero
from topos.testing import strategies as gen

__all__ = [
    "THEORIES",
    "Law",
    "LawError",
    "Semantics",
    "Trial",
    "check",
    "check_boolean",
    "check_cartesian",
    "check_category",
    "check_closed",
    "check_cocartesian",
    "check_functor",
    "check_heyting",
]


class LawError(AssertionError):
    """A law fails in a semantics; the message names the law and shows both sides."""


class Semantics:
    """How to interpret objects and arrows, and when two images are equal.

    - ``interpret``: a callable on arrows (and on objects, for the laws that need
      ``category``), e.g. a ``Functor``, ``backends.jax.core.compile`` or ``lambda f: f``;
    - ``eq``: equality of images (``==`` by default; a tolerance for floats);
    - ``category``: the target ``Category``; the laws that compare with the
      target's own operations (``functor``, and ``category`` on the target) need it;
    - ``objects``: the objects the laws range over (``objects(max_depth=1)``);
    - ``max_depth``, ``names``, ``exponentials``, ``coproducts``, ``logic``: for the
      arrows drawn (see ``strategies.arrows``); switch off what the semantics lacks or
      where it is costly (the default objects follow ``exponentials`` and ``coproducts``).

    ``Semantics.of(functor)`` takes the category from the functor,
    ``Semantics.random(make)`` draws a fresh model ``make(seed)`` for each example
    and ``Semantics.symbolic()`` decides equations with ``topos.equal``.

    >>> from topos.functor import Free
    >>> Semantics(lambda x: x, category=Free(), name="syntax")
    Semantics('syntax')
    """

    def __init__(
        self,
        interpret: Callable[[Any], Any],
        eq: Callable[[Any, Any], bool] = operator.eq,
        *,
        category: Category[Any, Any] | None = None,
        objects: SearchStrategy[Ob] | None = None,
        max_depth: int = 2,
        names: Sequence[str] = ("f", "g", "h"),
        exponentials: bool = True,
        coproducts: bool = True,
        logic: bool = True,
        ob_eq: Callable[[Any, Any], bool] = operator.eq,
        name: str = "",
    ) -> None:
        if not callable(interpret) or not callable(eq) or not callable(ob_eq):
            raise TypeError("Semantics: interpret, eq and ob_eq must be callables")
        if category is not None and not isinstance(category, Category):
            raise TypeError(
                f"Semantics: category must be a topos.functor.Category, got {category!r}"
            )
        self.models: SearchStrategy[tuple[Callable[[Any], Any], Category[Any, Any] | None]]
        self.models = st.just((interpret, category))
        self.eq, self.ob_eq = eq, ob_eq
        self.has_category = category is not None
        if objects is None:
            objects = gen.objects(max_depth=1, exponentials=exponentials, coproducts=coproducts)
        self.objects = objects
        self.max_depth, self.names = max_depth, tuple(names)
        self.exponentials, self.coproducts, self.logic = exponentials, coproducts, logic
        switches = {"exponentials": exponentials, "coproducts": coproducts, "logic": logic}
        self.features = frozenset(k for k, on in switches.items() if on)
        self.name = name or getattr(interpret, "__name__", type(interpret).__name__)

    def __repr__(self) -> str:
        return f"Semantics({self.name!r})"

    @classmethod
    def of(
        cls, functor: Functor[Any, Any], eq: Callable[[Any, Any], bool] = operator.eq, **kw: Any
    ) -> Semantics:
        """The semantics of a ``Functor``: its images, compared by ``eq``, in ``functor.cod``
        (or in the ``category`` given).

        >>> from topos.functor import Free, Functor
        >>> Semantics.of(Functor(ob=lambda x: x, ar=lambda b: b, cod=Free()), name="id")
        Semantics('id')
        """
        kw.setdefault("name", f"Functor into {type(functor.cod).__name__}")
        kw.setdefault("category", functor.cod)
        return cls(functor, eq, **kw)

    @classmethod
    def random(
        cls,
        make: Callable[[int], Functor[Any, Any]],
        eq: Callable[[Any, Any], bool] = operator.eq,
        *,
        seeds: SearchStrategy[int] | None = None,
        **kw: Any,
    ) -> Semantics:
        """A fresh model ``make(seed)`` for each example (both sides in the same model).

        The target category is each model's ``cod``, unless ``category`` is given.

        >>> from topos.finite import random_model
        >>> Semantics.random(lambda seed: random_model(seed, max_size=2), name="finite sets")
        Semantics('finite sets')
        """
        seeds = st.integers(0, 2**16) if seeds is None else seeds
        first = make(0)
        kw.setdefault("name", f"random models in {type(first.cod).__name__}")
        category = kw.pop("category", None)
        out = cls(first, eq, category=first.cod if category is None else category, **kw)
        out.models = seeds.map(_Model(make, category))
        return out

    @classmethod
    def symbolic(cls, **kw: Any) -> Semantics:
        """The free structure itself, equations decided by ``topos.equal`` (normal forms).

        >>> Semantics.symbolic()
        Semantics('symbolic (topos.equal)')
        """
        from topos.normal import equal

        kw.setdefault("name", "symbolic (topos.equal)")
        return cls(_identity, equal, category=Free(), **kw)


def _identity(x: Any) -> Any:
    return x


class _Model:
    """``seed -> (make(seed), its target)``, a named callable for ``map``."""

    def __init__(
        self, make: Callable[[int], Functor[Any, Any]], category: Category[Any, Any] | None
    ) -> None:
        self.make, self.category = make, category

    def __call__(self, seed: int) -> tuple[Functor[Any, Any], Category[Any, Any]]:
        functor = self.make(seed)
        return functor, functor.cod if self.category is None else self.category

    def __repr__(self) -> str:
        return f"models({getattr(self.make, '__name__', self.make)!r})"


class Trial:
    """One instance of a law: draws what the law quantifies over, and interprets it.

    Laws receive a ``Trial``: ``t.ob()`` draws an object, ``t.arrow(A, B)`` an
    arrow, ``t(x)`` interprets an object or arrow, ``t.cat`` is the target category.
    """

    def __init__(
        self,
        semantics: Semantics,
        draw: Callable[..., Any],
        interpret: Callable[[Any], Any],
        category: Category[Any, Any] | None,
    ) -> None:
        self.semantics, self.interpret = semantics, interpret
        self._draw, self._cat = draw, category
        self.drawn: list[Any] = []  # what the instance quantifies over, for the messages

    def draw(self, strategy: SearchStrategy[Any]) -> Any:
        """A value of ``strategy``, recorded as part of the instance."""
        out = self._draw(strategy)
        self.drawn.append(out)
        return out

    def __call__(self, x: Any) -> Any:
        return self.interpret(x)

    @property
    def cat(self) -> Category[Any, Any]:
        """The target category (only laws marked ``target=True`` use it)."""
        assert self._cat is not None, "this law needs Semantics(category=...)"
        return self._cat

    def ob(self, src: Ob | None = None) -> Ob:
        """An object; with ``src``, one that ``src`` has arrows into (``feasible``)."""
        obs = self.semantics.objects
        out: Ob = self.draw(obs if src is None else gen.feasible_from(obs, src))
        return out

    def arrow(self, dom: Ob, cod: Ob) -> Arrow:
        """An arrow ``dom -> cod`` drawn by ``strategies.arrows``."""
        sem = self.semantics
        arrows = gen.arrows(
            dom,
            cod,
            max_depth=sem.max_depth,
            names=sem.names,
            exponentials=sem.exponentials,
            coproducts=sem.coproducts,
            logic=sem.logic,
        )
        out: Arrow = self.draw(arrows)
        return out

    def omegas(self, n: int) -> tuple[Arrow, ...]:
        """A domain ``X`` and ``n`` predicates ``X -> Omega`` (generalised truth values)."""
        x = self.ob()
        return tuple(self.arrow(x, Omega) for _ in range(n))


@dataclass(frozen=True)
class Law:
    """An equation of a theory: ``sides(trial)`` draws an instance and returns both sides.

    The sides are free arrows, interpreted by the semantics, unless ``target``
    is true: then they are images already, built with the target category.
    ``needs`` names the structure the law is about, among ``"exponentials"``,
    ``"coproducts"`` and ``"logic"``: a semantics that switches one off skips it.
    """

    theory: str
    name: str
    statement: str
    sides: Callable[[Trial], tuple[Any, Any]]
    target: bool = False
    needs: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return f"{self.theory}.{self.name}: {self.statement}"


_LAWS: dict[str, list[Law]] = {}
_NEEDS = {"cocartesian": "coproducts", "closed": "exponentials", "heyting": "logic"}
_NEEDS["boolean"] = "logic"


def _law(
    theory: str, name: str, statement: str, *, target: bool = False, needs: str = ""
) -> Callable[[Callable[[Trial], tuple[Any, Any]]], Callable[[Trial], tuple[Any, Any]]]:
    features = frozenset(x for x in (needs, _NEEDS.get(theory, "")) if x)

    def register(sides: Callable[[Trial], tuple[Any, Any]]) -> Callable[[Trial], tuple[Any, Any]]:
        _LAWS.setdefault(theory, []).append(Law(theory, name, statement, sides, target, features))
        return sides

    return register


# ---------------------------------------------------------------------------------
# category


@_law("category", "assoc", "(f >> g) >> h = f >> (g >> h)")
def _assoc(t: Trial) -> tuple[Arrow, Arrow]:
    a = t.ob()
    b = t.ob(a)
    c = t.ob(b)
    f, g, h = t.arrow(a, b), t.arrow(b, c), t.arrow(c, t.ob(c))
    return (f >> g) >> h, f >> (g >> h)


@_law("category", "left_unit", "Id(A) >> f = f")
def _left_unit(t: Trial) -> tuple[Arrow, Arrow]:
    a = t.ob()
    f = t.arrow(a, t.ob(a))
    return Compose(Id(a), f), f  # Compose itself keeps the identity (>> drops it)


@_law("category", "right_unit", "f >> Id(B) = f")
def _right_unit(t: Trial) -> tuple[Arrow, Arrow]:
    a = t.ob()
    f = t.arrow(a, t.ob(a))
    return Compose(f, Id(f.cod)), f


@_law("category", "compose_assoc", "the target's compose is associative", target=True)
def _compose_assoc(t: Trial) -> tuple[Any, Any]:
    a = t.ob()
    b = t.ob(a)
    c = t.ob(b)
    f, g, h = (t(x) for x in (t.arrow(a, b), t.arrow(b, c), t.arrow(c, t.ob(c))))
    cat = t.cat
    return cat.compose([cat.compose([f, g]), h]), cat.compose([f, cat.compose([g, h])])


@_law("category", "id_unit", "the target's id is a unit on both sides", target=True)
def _id_unit(t: Trial) -> tuple[Any, Any]:
    a = t.ob()
    b = t.ob(a)
    f = t(t.arrow(a, b))
    cat = t.cat
    return cat.compose([cat.id(t(a)), f, cat.id(t(b))]), f


# ---------------------------------------------------------------------------------
# cartesian


def _fork(t: Trial) -> tuple[Arrow, Arrow]:
    """Two arrows out of one domain: f: X -> A, g: X -> B."""
    x = t.ob()
    return t.arrow(x, t.ob(x)), t.arrow(x, t.ob(x))


@_law("cartesian", "fst_beta", "pair(f, g) >> fst(A, B) = f")
def _fst_beta(t: Trial) -> tuple[Arrow, Arrow]:
    f, g = _fork(t)
    return ar_.pair(f, g) >> ar_.fst(f.cod, g.cod), f


@_law("cartesian", "snd_beta", "pair(f, g) >> snd(A, B) = g")
def _snd_beta(t: Trial) -> tuple[Arrow, Arrow]:
    f, g = _fork(t)
    return ar_.pair(f, g) >> ar_.snd(f.cod, g.cod), g


@_law("cartesian", "pair_eta", "pair(h >> fst(A, B), h >> snd(A, B)) = h")
def _pair_eta(t: Trial) -> tuple[Arrow, Arrow]:
    x = t.ob()
    a, b = t.ob(x), t.ob(x)
    h = t.arrow(x, a * b)
    return ar_.pair(h >> ar_.fst(a, b), h >> ar_.snd(a, b)), h


@_law("cartesian", "pair_natural", "k >> pair(f, g) = pair(k >> f, k >> g)")
def _pair_natural(t: Trial) -> tuple[Arrow, Arrow]:
    w = t.ob()
    x = t.ob(w)
    k, f, g = t.arrow(w, x), t.arrow(x, t.ob(x)), t.arrow(x, t.ob(x))
    return k >> ar_.pair(f, g), ar_.pair(k >> f, k >> g)


@_law("cartesian", "terminal", "h = discard(X) for every h: X -> One")
def _terminal(t: Trial) -> tuple[Arrow, Arrow]:
    x = t.ob()
    return t.arrow(x, One), ar_.discard(x)


@_law("cartesian", "tensor", "f * g = pair(fst >> f, snd >> g)")
def _tensor(t: Trial) -> tuple[Arrow, Arrow]:
    a, c = t.ob(), t.ob()
    f, g = t.arrow(a, t.ob(a)), t.arrow(c, t.ob(c))
    return f * g, ar_.pair(ar_.fst(a, c) >> f, ar_.snd(a, c) >> g)


@_law("cartesian", "copy", "copy(A) = pair(Id(A), Id(A))")
def _copy(t: Trial) -> tuple[Arrow, Arrow]:
    a = t.ob()
    return ar_.copy(a), ar_.pair(Id(a), Id(a))


@_law("cartesian", "swap", "swap(A, B) = pair(snd(A, B), fst(A, B))")
def _swap(t: Trial) -> tuple[Arrow, Arrow]:
    a, b = t.ob(), t.ob()
    return ar_.swap(a, b), ar_.pair(ar_.snd(a, b), ar_.fst(a, b))


# ---------------------------------------------------------------------------------
# cocartesian


def _cofork(t: Trial) -> tuple[Arrow, Arrow]:
    """Two arrows into one codomain: f: A -> X, g: B -> X."""
    a, b = t.ob(), t.ob()
    x = t.ob(a + b)
    return t.arrow(a, x), t.arrow(b, x)


@_law("cocartesian", "inl_beta", "inl(A, B) >> copair(f, g) = f")
def _inl_beta(t: Trial) -> tuple[Arrow, Arrow]:
    f, g = _cofork(t)
    return ar_.inl(f.dom, g.dom) >> ar_.copair(f, g), f


@_law("cocartesian", "inr_beta", "inr(A, B) >> copair(f, g) = g")
def _inr_beta(t: Trial) -> tuple[Arrow, Arrow]:
    f, g = _cofork(t)
    return ar_.inr(f.dom, g.dom) >> ar_.copair(f, g), g


@_law("cocartesian", "copair_eta", "copair(inl(A, B) >> h, inr(A, B) >> h) = h")
def _copair_eta(t: Trial) -> tuple[Arrow, Arrow]:
    a, b = t.ob(), t.ob()
    h = t.arrow(a + b, t.ob(a + b))
    return ar_.copair(ar_.inl(a, b) >> h, ar_.inr(a, b) >> h), h


@_law("cocartesian", "copair_natural", "copair(f, g) >> k = copair(f >> k, g >> k)")
def _copair_natural(t: Trial) -> tuple[Arrow, Arrow]:
    f, g = _cofork(t)
    k = t.arrow(f.cod, t.ob(f.cod))
    return ar_.copair(f, g) >> k, ar_.copair(f >> k, g >> k)


@_law("cocartesian", "initial", "h = absurd(X) for every h: Zero -> X")
def _initial(t: Trial) -> tuple[Arrow, Arrow]:
    x = t.ob()
    return t.arrow(Zero, x), ar_.absurd(x)


@_law("cocartesian", "sum", "f + g = copair(f >> inl, g >> inr)")
def _sum(t: Trial) -> tuple[Arrow, Arrow]:
    a, c = t.ob(), t.ob()
    f, g = t.arrow(a, t.ob(a)), t.arrow(c, t.ob(c))
    b, d = f.cod, g.cod
    return f + g, ar_.copair(f >> ar_.inl(b, d), g >> ar_.inr(b, d))


# ---------------------------------------------------------------------------------
# closed


@_law("closed", "ev_beta", "curry(m) * Id(A) >> ev(B, A) = m")
def _ev_beta(t: Trial) -> tuple[Arrow, Arrow]:
    x, a = t.ob(), t.ob()
    m = t.arrow(x * a, t.ob(x * a))
    return ar_.curry(m) * Id(a) >> ar_.ev(m.cod, a), m


@_law("closed", "curry_eta", "curry(c * Id(A) >> ev(B, A)) = c")
def _curry_eta(t: Trial) -> tuple[Arrow, Arrow]:
    x, a = t.ob(), t.ob()
    b = t.ob(x * a)
    c = t.arrow(x, b**a)
    return ar_.curry(c * Id(a) >> ar_.ev(b, a)), c


@_law("closed", "curry_natural", "k >> curry(m) = curry(k * Id(A) >> m)")
def _curry_natural(t: Trial) -> tuple[Arrow, Arrow]:
    w = t.ob()
    x, a = t.ob(w), t.ob()
    k, m = t.arrow(w, x), t.arrow(x * a, t.ob(x * a))
    return k >> ar_.curry(m), ar_.curry(k * Id(a) >> m)


@_law("closed", "uncurry", "uncurry(curry(m)) = m")
def _uncurry(t: Trial) -> tuple[Arrow, Arrow]:
    x, a = t.ob(), t.ob()
    m = t.arrow(x * a, t.ob(x * a))
    return ar_.uncurry(ar_.curry(m)), m


# ---------------------------------------------------------------------------------
# heyting and boolean, on generalised elements p, q, r: X -> Omega


def _op(op: str, *ps: Arrow) -> Arrow:
    return (ar_.pair(*ps) if len(ps) == 2 else ps[0]) >> Logic(op)


def _const(op: str, p: Arrow) -> Arrow:
    return ar_.discard(p.dom) >> Logic(op)


def _heyting(name: str, statement: str, n: int, sides: Callable[..., tuple[Arrow, Arrow]]) -> None:
    _law("heyting", name, statement)(lambda t: sides(*t.omegas(n)))


_heyting("conj_comm", "p ∧ q = q ∧ p", 2, lambda p, q: (_op("conj", p, q), _op("conj", q, p)))
_heyting(
    "conj_assoc",
    "(p ∧ q) ∧ r = p ∧ (q ∧ r)",
    3,
    lambda p, q, r: (_op("conj", _op("conj", p, q), r), _op("conj", p, _op("conj", q, r))),
)
_heyting("conj_unit", "p ∧ ⊤ = p", 1, lambda p: (_op("conj", p, _const("true", p)), p))
_heyting("conj_idem", "p ∧ p = p", 1, lambda p: (_op("conj", p, p), p))
_heyting("disj_comm", "p ∨ q = q ∨ p", 2, lambda p, q: (_op("disj", p, q), _op("disj", q, p)))
_heyting(
    "disj_assoc",
    "(p ∨ q) ∨ r = p ∨ (q ∨ r)",
    3,
    lambda p, q, r: (_op("disj", _op("disj", p, q), r), _op("disj", p, _op("disj", q, r))),
)
_heyting("disj_unit", "p ∨ ⊥ = p", 1, lambda p: (_op("disj", p, _const("false", p)), p))
_heyting("disj_idem", "p ∨ p = p", 1, lambda p: (_op("disj", p, p), p))
_heyting("absorb_conj", "p ∧ (p ∨ q) = p", 2, lambda p, q: (_op("conj", p, _op("disj", p, q)), p))
_heyting("absorb_disj", "p ∨ (p ∧ q) = p", 2, lambda p, q: (_op("disj", p, _op("conj", p, q)), p))
_heyting(
    "distributive",
    "p ∧ (q ∨ r) = (p ∧ q) ∨ (p ∧ r)",
    3,
    lambda p, q, r: (
        _op("conj", p, _op("disj", q, r)),
        _op("disj", _op("conj", p, q), _op("conj", p, r)),
    ),
)
_heyting("implies_refl", "(p ⇒ p) = ⊤", 1, lambda p: (_op("implies", p, p), _const("true", p)))
_heyting(
    "modus_ponens",
    "p ∧ (p ⇒ q) = p ∧ q",
    2,
    lambda p, q: (_op("conj", p, _op("implies", p, q)), _op("conj", p, q)),
)
_heyting(
    "implies_weaken", "q ∧ (p ⇒ q) = q", 2, lambda p, q: (_op("conj", q, _op("implies", p, q)), q)
)
_heyting(
    "implies_meet",
    "p ⇒ (q ∧ r) = (p ⇒ q) ∧ (p ⇒ r)",
    3,
    lambda p, q, r: (
        _op("implies", p, _op("conj", q, r)),
        _op("conj", _op("implies", p, q), _op("implies", p, r)),
    ),
)
_heyting("neg", "¬p = p ⇒ ⊥", 1, lambda p: (_op("neg", p), _op("implies", p, _const("false", p))))


@_law("boolean", "excluded_middle", "p ∨ ¬p = ⊤")
def _excluded_middle(t: Trial) -> tuple[Arrow, Arrow]:
    (p,) = t.omegas(1)
    return _op("disj", p, _op("neg", p)), _const("true", p)


@_law("boolean", "double_negation", "¬¬p = p")
def _double_negation(t: Trial) -> tuple[Arrow, Arrow]:
    (p,) = t.omegas(1)
    return _op("neg", _op("neg", p)), p


# ---------------------------------------------------------------------------------
# functor: each constructor is interpreted by the target's operation


def _functor(
    name: str, statement: str, needs: str = ""
) -> Callable[[Callable[[Trial], tuple[Any, Any]]], Any]:
    return _law("functor", name, statement, target=True, needs=needs)


@_functor("compose", "F(f >> g) = compose([F(f), F(g)])")
def _f_compose(t: Trial) -> tuple[Any, Any]:
    a = t.ob()
    b = t.ob(a)
    f, g = t.arrow(a, b), t.arrow(b, t.ob(b))
    return t(Compose(f, g)), t.cat.compose([t(f), t(g)])


@_functor("id", "F(Id(A)) = id(F(A))")
def _f_id(t: Trial) -> tuple[Any, Any]:
    a = t.ob()
    return t(Id(a)), t.cat.id(t(a))


@_functor("pair", "F(pair(f, g)) = pair(F(f), F(g))")
def _f_pair(t: Trial) -> tuple[Any, Any]:
    f, g = _fork(t)
    return t(ar_.pair(f, g)), t.cat.pair(t(f), t(g))


@_functor("tensor", "F(f * g) = tensor(F(f), F(g))")
def _f_tensor(t: Trial) -> tuple[Any, Any]:
    a, c = t.ob(), t.ob()
    f, g = t.arrow(a, t.ob(a)), t.arrow(c, t.ob(c))
    return t(f * g), t.cat.tensor(t(f), t(g), t(a), t(c))


@_functor("copair", "F(copair(f, g)) = copair(F(f), F(g))", "coproducts")
def _f_copair(t: Trial) -> tuple[Any, Any]:
    f, g = _cofork(t)
    return t(ar_.copair(f, g)), t.cat.copair(t(f), t(g))


@_functor("sum", "F(f + g) = sum(F(f), F(g))", "coproducts")
def _f_sum(t: Trial) -> tuple[Any, Any]:
    a, c = t.ob(), t.ob()
    f, g = t.arrow(a, t.ob(a)), t.arrow(c, t.ob(c))
    return t(f + g), t.cat.sum(t(f), t(g), t(f.cod), t(g.cod))


@_functor("curry", "F(curry(m)) = curry(F(m))", "exponentials")
def _f_curry(t: Trial) -> tuple[Any, Any]:
    x, a = t.ob(), t.ob()
    m = t.arrow(x * a, t.ob(x * a))
    return t(ar_.curry(m)), t.cat.curry(t(m), t(x), t(a), t(m.cod))


_STRUCTURE: list[tuple[str, str, Callable[[Trial, Ob, Ob], tuple[Any, Any]]]] = [
    ("fst", "", lambda t, a, b: (t(ar_.fst(a, b)), t.cat.fst(t(a), t(b)))),
    ("snd", "", lambda t, a, b: (t(ar_.snd(a, b)), t.cat.snd(t(a), t(b)))),
    ("swap", "", lambda t, a, b: (t(ar_.swap(a, b)), t.cat.swap(t(a), t(b)))),
    ("copy", "", lambda t, a, b: (t(ar_.copy(a)), t.cat.copy(t(a)))),
    ("discard", "", lambda t, a, b: (t(ar_.discard(a)), t.cat.discard(t(a)))),
    ("inl", "coproducts", lambda t, a, b: (t(ar_.inl(a, b)), t.cat.inl(t(a), t(b)))),
    ("inr", "coproducts", lambda t, a, b: (t(ar_.inr(a, b)), t.cat.inr(t(a), t(b)))),
    ("absurd", "coproducts", lambda t, a, b: (t(ar_.absurd(a)), t.cat.absurd(t(a)))),
    ("ev", "exponentials", lambda t, a, b: (t(ar_.ev(a, b)), t.cat.ev(t(a), t(b)))),
    ("product", "", lambda t, a, b: (t(a * b), t.cat.product(t(a), t(b)))),
    ("coproduct", "coproducts", lambda t, a, b: (t(a + b), t.cat.coproduct(t(a), t(b)))),
    ("exp", "exponentials", lambda t, a, b: (t(a**b), t.cat.exp(t(a), t(b)))),
    ("one", "", lambda t, a, b: (t(One), t.cat.one())),
    ("zero", "coproducts", lambda t, a, b: (t(Zero), t.cat.zero())),
    ("omega", "logic", lambda t, a, b: (t(Omega), t.cat.omega())),
]
_OBJECT_LAWS = {"product", "coproduct", "exp", "one", "zero", "omega"}


def _on_two_objects(
    sides: Callable[[Trial, Ob, Ob], tuple[Any, Any]],
) -> Callable[[Trial], tuple[Any, Any]]:
    return lambda t: sides(t, t.ob(), t.ob())


for _name, _needs, _sides in _STRUCTURE:
    _what = "object" if _name in _OBJECT_LAWS else "map"
    _functor(_name, f"F of the structural {_what} {_name} is the target's {_name}", _needs)(
        _on_two_objects(_sides)
    )


_OPS = st.sampled_from(["true", "false", "conj", "disj", "implies", "neg"])


@_functor("logic", "F(op) = logic(op) for the maps of Omega", "logic")
def _f_logic(t: Trial) -> tuple[Any, Any]:
    op = t.draw(_OPS)
    return t(Logic(op)), t.cat.logic(op)


#: The laws of each theory, in order: ``THEORIES["cartesian"]`` ...
THEORIES: dict[str, tuple[Law, ...]] = {k: tuple(v) for k, v in _LAWS.items()}


# ---------------------------------------------------------------------------------
# Running


def check(
    semantics: Semantics,
    laws: str | Law | Iterable[str | Law],
    *,
    settings: hypothesis.settings | None = None,
) -> list[str]:
    """Check laws (a theory name, a ``Law``, or a list of them) as hypothesis properties.

    Laws that need the target category are skipped when ``semantics`` has none, and
    so are those about structure it switched off (``Law.needs``).
    Returns the names of the laws checked; raises ``LawError`` on the first that
    fails, after hypothesis has shrunk the instance. Don't call it from inside a
    ``@given`` test (hypothesis does not nest).

    >>> from hypothesis import settings
    >>> from topos.finite import random_model
    >>> model = Semantics.of(random_model(seed=0))
    >>> check(model, "category", settings=settings(max_examples=5, database=None))
    ['category.assoc', 'category.left_unit', 'category.right_unit', ...]
    """
    if not isinstance(semantics, Semantics):
        raise TypeError(f"check: expected a Semantics, got {type(semantics).__name__}")
    done = []
    for law in _resolve(laws):
        if (law.target and not semantics.has_category) or law.needs - semantics.features:
            continue
        _run(semantics, law, settings)
        done.append(f"{law.theory}.{law.name}")
    return done


def _resolve(laws: str | Law | Iterable[str | Law]) -> list[Law]:
    items: Iterable[str | Law] = [laws] if isinstance(laws, (str, Law)) else laws
    out: list[Law] = []
    for item in items:
        if isinstance(item, Law):
            out.append(item)
        elif item in THEORIES:
            out.extend(THEORIES[item])
        else:
            raise ValueError(f"check: unknown theory {item!r}, expected one of {sorted(THEORIES)}")
    return out


def _run(semantics: Semantics, law: Law, settings: hypothesis.settings | None) -> None:
    def prop(data: st.DataObject) -> None:
        interpret, category = data.draw(semantics.models, label="model")
        t = Trial(semantics, data.draw, interpret, category)
        sides: tuple[Any, Any] | None = None
        try:
            sides = law.sides(t)
            lhs, rhs = sides
            left, right = (lhs, rhs) if law.target else (t(lhs), t(rhs))
            same = semantics.ob_eq if law.target and law.name in _OBJECT_LAWS else semantics.eq
            holds = same(left, right)
        except (LawError, hypothesis.errors.HypothesisException):
            raise
        except Exception as e:  # a crash is a failure of the law, shown with its instance
            shown = _instance(law, t, sides)
            raise LawError(
                f"{law} raises {type(e).__name__} in {semantics.name}: {short(e, 300)}{shown}"
            ) from e
        if not holds:
            shown = _instance(law, t, sides)
            raise LawError(
                f"{law} fails in {semantics.name}{shown}\n"
                f"  interpreted lhs: {short(repr(left), 300)}\n"
                f"  interpreted rhs: {short(repr(right), 300)}"
            )

    prop.__name__ = prop.__qualname__ = f"{law.theory}_{law.name}"  # hypothesis's database key
    # The explain phase traces every line run and costs minutes on diagrams; our
    # message already shows the instance, so it is left out.
    base = hypothesis.settings() if settings is None else settings
    phases = tuple(p for p in base.phases if p is not hypothesis.Phase.explain)
    # One failure, the first law broken, reads better than a group of them.
    run = hypothesis.settings(base, phases=phases, report_multiple_bugs=False)
    run(hypothesis.given(st.data())(prop))()


def _show(f: Arrow) -> str:
    return f"{short(repr(f), 400)}\n       : {f.dom} -> {f.cod}"


def _instance(law: Law, t: Trial, sides: tuple[Any, Any] | None) -> str:
    """The instance of ``law``: both sides when they are free arrows, else what was drawn."""
    if sides is not None and not law.target:
        return f"\n  lhs: {_show(sides[0])}\n  rhs: {_show(sides[1])}"
    drawn = [x for x in t.drawn if isinstance(x, (Ob, Arrow))]
    return "".join(
        f"\n  drawn: {_show(x) if isinstance(x, Arrow) else short(repr(x), 400)}" for x in drawn
    )


def check_category(semantics: Semantics, **kw: Any) -> list[str]:
    """Associativity and units. See ``check``."""
    return check(semantics, "category", **kw)


def check_cartesian(semantics: Semantics, **kw: Any) -> list[str]:
    """Pairs (beta, eta, naturality), the terminal object, tensor, copy, swap."""
    return check(semantics, "cartesian", **kw)


def check_cocartesian(semantics: Semantics, **kw: Any) -> list[str]:
    """Copairs (beta, eta, naturality), the initial object, sum."""
    return check(semantics, "cocartesian", **kw)


def check_closed(semantics: Semantics, **kw: Any) -> list[str]:
    """Curry and ev (beta, eta, naturality), uncurry."""
    return check(semantics, "closed", **kw)


def check_heyting(semantics: Semantics, **kw: Any) -> list[str]:
    """Omega is an internal Heyting algebra (on predicates ``X -> Omega``)."""
    return check(semantics, "heyting", **kw)


def check_boolean(semantics: Semantics, **kw: Any) -> list[str]:
    """Omega is Boolean: excluded middle, double negation (fails in presheaves)."""
    return check(semantics, "boolean", **kw)


def check_functor(semantics: Semantics, **kw: Any) -> list[str]:
    """Each constructor is interpreted by the target's operation (needs ``category``)."""
    return check(semantics, "functor", **kw)
