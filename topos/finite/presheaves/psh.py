"""The topos of presheaves ``Presheaves(C)``: limits, exponentials, the subobject classifier."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import topos.finite.presheaves as package  # MAX_ELEMENTS lives there
from topos.errors import compose_mismatch, not_a, short, too_many
from topos.finite.presheaves.categories import (
    FiniteCategory,
    sierpinski,  # noqa: F401  (the doctests use it)
)
from topos.finite.presheaves.presheaf import (
    Nat,
    Presheaf,
    nat_transformations,
)
from topos.finite.sets import FinSet
from topos.functor import Category

if TYPE_CHECKING:
    from topos.finite.presheaves.heyting import Subobject

# ---------------------------------------------------------------------------------
# The topos of presheaves


class Presheaves(Category[Presheaf, Nat]):
    """The topos of presheaves on a finite category, as a ``Category`` for functors.

    Everything is lazy: a constructed presheaf computes a set ``F[c]`` or a
    restriction when first asked, and a transformation computes a value when
    applied, so an exponential is enumerated only if something iterates over it.
    Constructions are cached per category (keyed by the operands' identity), so the
    image of an object is one Python object and comparing it with itself is free.

    >>> S = Presheaves(sierpinski())
    >>> y1 = S.yoneda(1)
    >>> E = S.exp(S.omega(), y1)   # (Omega^y1)(c) = Nat(y c × y1, Omega)
    >>> [len(E[c]) for c in (0, 1)]
    [2, 3]
    >>> S.compose([S.copy(y1), S.fst(y1, y1)]) == S.id(y1)
    True
    >>> S.exp(E, E) is S.exp(E, E)
    True
    """

    def __init__(self, category: FiniteCategory) -> None:
        if not isinstance(category, FiniteCategory):
            raise not_a("Presheaves", "a FiniteCategory", category)
        self.category = category
        self._cache = _cache_for(category)  # shared: equal constructions are one object

    def __repr__(self) -> str:
        return f"Presheaves({self.category!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Presheaves) and other.category == self.category

    def __hash__(self) -> int:
        return hash(("Presheaves", self.category))

    def _build(
        self,
        parts: tuple[Any, ...],
        sets: Callable[[Hashable], Iterable[Any]],
        act: Callable[[Any, Hashable], Any],
    ) -> Presheaf:
        """The presheaf ``parts`` names (cached), with sets and restrictions on demand."""
        key = tuple(("id", id(p)) if isinstance(p, Presheaf) else p for p in parts)
        found = self._cache.get(key)
        if found is None:
            built = Presheaf._lazy(self.category, lambda c: _bounded(sets(c), built, c), act, parts)
            self._cache[key] = found = built  # its _parts keep the operands (and ids) alive
        return found

    # -- special presheaves -----------------------------------------------------------
    def yoneda(self, c: Hashable) -> Presheaf:
        """The representable ``y c = Hom(-, c)``; restriction is precomposition.

        >>> Presheaves(sierpinski()).yoneda(1)[0]
        FinSet(['0≤1'])
        """
        C = self.category
        C.id(c)  # checks that c is an object
        return self._build(("y", c), lambda b: C.hom(b, c), lambda h, g: C.then(g, h))

    def constant(self, elements: Iterable[Hashable]) -> Presheaf:
        """The constant presheaf ``Δ S``: the same set everywhere, identity restrictions.

        >>> Presheaves(sierpinski()).constant("ab")[1]
        FinSet(['a', 'b'])
        """
        s = elements if isinstance(elements, FinSet) else FinSet(elements)
        return self._build(("Δ", repr(s)), lambda c: s, lambda x, f: x)

    # -- objects ----------------------------------------------------------------------
    def one(self) -> Presheaf:
        return self.constant([()])

    def zero(self) -> Presheaf:
        return self.constant([])

    def product(self, a: Presheaf, b: Presheaf) -> Presheaf:
        return self._build(
            ("*", a, b),
            lambda c: itertools.product(a[c], b[c]),
            lambda p, f: (a.act(p[0], f), b.act(p[1], f)),
        )

    def coproduct(self, a: Presheaf, b: Presheaf) -> Presheaf:
        def sets(c: Hashable) -> Iterator[Any]:
            yield from ((False, x) for x in a[c])
            yield from ((True, y) for y in b[c])

        def act(t: Any, f: Hashable) -> Any:
            return (t[0], (b if t[0] else a).act(t[1], f))

        return self._build(("+", a, b), sets, act)

    def _yoneda_times(self, c: Hashable, a: Presheaf) -> Presheaf:
        return self.product(self.yoneda(c), a)

    def exp(self, base: Presheaf, exponent: Presheaf) -> Presheaf:
        """``(base ^ exponent)(c) = Nat(y c × exponent, base)``; restriction precomposes.

        An element ``θ`` at ``c`` restricts along ``f: c' -> c`` to
        ``(h, a) ↦ θ(h >> f, a)``.
        """
        C = self.category

        def sets(c: Hashable) -> Iterator[Nat]:
            return nat_transformations(self._yoneda_times(c, exponent), base)

        def act(t: Nat, f: Hashable) -> Nat:
            yc = self._yoneda_times(C.dom(f), exponent)
            comps = {e: {(h, a): t(e, (C.then(h, f), a)) for h, a in yc[e]} for e in C.objects}
            return Nat._make(yc, base, comps)

        return self._build(("**", base, exponent), sets, act)

    def omega(self) -> Presheaf:
        """The subobject classifier: ``Omega(c)`` is the set of sieves on ``c``.

        A sieve is a frozenset of arrow names into ``c``, closed under precomposition.
        """
        C = self.category

        def act(s: frozenset[Hashable], f: Hashable) -> frozenset[Hashable]:
            return frozenset(h for h in C.into(C.dom(f)) if C.then(h, f) in s)

        return self._build(("Ω",), lambda c: _sieves(C, c), act)

    # -- category ---------------------------------------------------------------------
    def _nat(self, dom: Presheaf, cod: Presheaf, fn: Callable[[Hashable, Any], Any]) -> Nat:
        return Nat._lazy(dom, cod, fn)

    def id(self, a: Presheaf) -> Nat:
        return self._nat(a, a, lambda c, x: x)

    def compose(self, fs: Sequence[Nat]) -> Nat:
        chain = list(fs)
        if not chain:
            raise TypeError("Presheaves.compose: needs at least one transformation")
        _check_nats("Presheaves.compose", *chain)
        for f, g in itertools.pairwise(chain):
            if f.cod != g.dom:
                raise compose_mismatch(">>", f, g, f.cod, g.dom)

        def run(c: Hashable, x: Any) -> Any:
            for f in chain:
                x = f(c, x)
            return x

        return self._nat(chain[0].dom, chain[-1].cod, run)

    # -- cartesian --------------------------------------------------------------------
    def pair(self, f: Nat, g: Nat) -> Nat:
        _check_nats("Presheaves.pair", f, g)
        if f.dom != g.dom:
            raise compose_mismatch("pair", f, g, f.dom, g.dom)
        return self._nat(f.dom, self.product(f.cod, g.cod), lambda c, x: (f(c, x), g(c, x)))

    def fst(self, a: Presheaf, b: Presheaf) -> Nat:
        return self._nat(self.product(a, b), a, lambda c, p: p[0])

    def snd(self, a: Presheaf, b: Presheaf) -> Nat:
        return self._nat(self.product(a, b), b, lambda c, p: p[1])

    def discard(self, a: Presheaf) -> Nat:
        return self._nat(a, self.one(), lambda c, x: ())

    def tensor(self, f: Nat, g: Nat, a: Presheaf, b: Presheaf) -> Nat:
        _check_nats("Presheaves.tensor", f, g)
        dom, cod = self.product(f.dom, g.dom), self.product(f.cod, g.cod)
        return self._nat(dom, cod, lambda c, p: (f(c, p[0]), g(c, p[1])))

    # -- cocartesian ------------------------------------------------------------------
    def copair(self, f: Nat, g: Nat) -> Nat:
        _check_nats("Presheaves.copair", f, g)
        if f.cod != g.cod:
            raise compose_mismatch("copair", f, g, f.cod, g.cod)
        dom = self.coproduct(f.dom, g.dom)
        return self._nat(dom, f.cod, lambda c, t: g(c, t[1]) if t[0] else f(c, t[1]))

    def inl(self, a: Presheaf, b: Presheaf) -> Nat:
        return self._nat(a, self.coproduct(a, b), lambda c, x: (False, x))

    def inr(self, a: Presheaf, b: Presheaf) -> Nat:
        return self._nat(b, self.coproduct(a, b), lambda c, x: (True, x))

    def absurd(self, a: Presheaf) -> Nat:
        return self._nat(self.zero(), a, lambda c, x: x)

    # -- closed -----------------------------------------------------------------------
    def curry(self, m: Nat, x: Presheaf, a: Presheaf, b: Presheaf) -> Nat:
        """Λm: x ⇒ b^a, sending u ∈ x(c) to θ with θ_e(h, v) = m_e(u·h, v)."""
        _check_nats("Presheaves.curry", m)
        C = self.category

        def transpose(c: Hashable, u: Any) -> Nat:
            yc = self._yoneda_times(c, a)
            comps = {e: {(h, v): m(e, (x.act(u, h), v)) for h, v in yc[e]} for e in C.objects}
            return Nat._make(yc, b, comps)

        return self._nat(x, self.exp(b, a), transpose)

    def ev(self, b: Presheaf, a: Presheaf) -> Nat:
        """ev: b^a × a ⇒ b, (θ, v) ↦ θ_c(id_c, v)."""
        C = self.category
        dom = self.product(self.exp(b, a), a)
        return self._nat(dom, b, lambda c, p: p[0](c, (C.id(c), p[1])))

    # -- subobject classifier ---------------------------------------------------------
    def logic(self, op: str) -> Nat:
        """The Heyting structure of ``Omega``: intersection, union, implication of sieves."""
        C, omega = self.category, self.omega()
        rules: dict[str, tuple[Presheaf, Callable[[Hashable, Any], Any]]] = {
            "true": (self.one(), lambda c, _: frozenset(C.into(c))),
            "false": (self.one(), lambda c, _: frozenset()),
            "conj": (self.product(omega, omega), lambda c, p: p[0] & p[1]),
            "disj": (self.product(omega, omega), lambda c, p: p[0] | p[1]),
            "implies": (
                self.product(omega, omega),
                lambda c, p: _sieve_implies(C, c, p[0], p[1]),
            ),
            "neg": (omega, lambda c, s: _sieve_implies(C, c, s, frozenset())),
        }
        if op not in rules:
            raise ValueError(
                f"Presheaves.logic: unknown connective {op!r}, expected one of {sorted(rules)}"
            )
        dom, rule = rules[op]
        return self._nat(dom, omega, rule)

    # -- subobjects -------------------------------------------------------------------
    def subobject(self, chi: Nat) -> Subobject:
        """The subobject classified by ``chi: F ⇒ Omega``: the pullback of ``true``."""
        from topos.finite.presheaves.heyting import Subobject  # it builds on this module

        return Subobject.classified_by(chi)


@functools.lru_cache(maxsize=64)
def _cache_for(category: FiniteCategory) -> dict[Hashable, Presheaf]:
    return {}


def _bounded(items: Iterable[Any], presheaf: Presheaf, c: Hashable) -> FinSet:
    out: list[Any] = []
    for x in items:
        out.append(x)
        if len(out) > package.MAX_ELEMENTS:
            raise too_many(
                f"the presheaf {short(str(presheaf), 80)} at {c!r}", package.MAX_ELEMENTS
            )
    return FinSet(out)


def _check_nats(op: str, *fs: object) -> None:
    for f in fs:
        if not isinstance(f, Nat):
            raise not_a(op, "a Nat", f)


def _sieves(C: FiniteCategory, c: Hashable) -> list[frozenset[Hashable]]:
    """Every sieve on ``c``: unions of the principal sieves of the arrows into ``c``."""
    found: dict[frozenset[Hashable], None] = {frozenset(): None}
    for h in C.into(c):
        principal = frozenset(C.then(g, h) for g in C.into(C.dom(h)))
        for s in list(found):
            found.setdefault(s | principal, None)
    return sorted(found, key=lambda s: (len(s), sorted(map(repr, s))))


def _sieve_implies(
    C: FiniteCategory, c: Hashable, s: frozenset[Hashable], t: frozenset[Hashable]
) -> frozenset[Hashable]:
    """(s ⇒ t) = {h into c | for every g into dom h: g >> h ∈ s implies g >> h ∈ t}."""
    return frozenset(
        h
        for h in C.into(c)
        if all(C.then(g, h) in t for g in C.into(C.dom(h)) if C.then(g, h) in s)
    )
