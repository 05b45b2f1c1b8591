"""Finite categories: ``FiniteCategory`` and the ``discrete``, ``poset`` and ``sierpinski`` ones."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

# ---------------------------------------------------------------------------------
# Finite categories


class FiniteCategory:
    """A finite category: objects, arrows ``{name: (dom, cod)}``, and composition.

    ``compose`` maps each composable pair ``(f, g)`` of non-identity arrows (``f``
    then ``g``: ``cod f == dom g``) to the name of ``f >> g``. Identities are
    implicit and named ``id_<object>``. Types, totality and associativity are
    checked.

    The cyclic group of order 2 as a one-object category:

    >>> Z2 = FiniteCategory(["*"], {"s": ("*", "*")}, {("s", "s"): "id_*"})
    >>> Z2.then("s", "s"), Z2.hom("*", "*")
    ('id_*', ('id_*', 's'))
    >>> FiniteCategory(["*"], {"s": ("*", "*")}, {})
    Traceback (most recent call last):
    ...
    ValueError: FiniteCategory: the composite 's' >> 's' is missing from the table
    """

    __slots__ = ("objects", "_types", "_comp", "_into", "_given")
    objects: tuple[Hashable, ...]
    _types: dict[Hashable, tuple[Hashable, Hashable]]
    _comp: dict[tuple[Hashable, Hashable], Hashable]
    _into: dict[Hashable, tuple[Hashable, ...]]
    _given: tuple[dict[Hashable, tuple[Hashable, Hashable]], dict[Any, Hashable]]

    def __init__(
        self,
        objects: Iterable[Hashable],
        arrows: Mapping[Hashable, tuple[Hashable, Hashable]] | None = None,
        compose: Mapping[tuple[Hashable, Hashable], Hashable] | None = None,
    ) -> None:
        obs = tuple(dict.fromkeys(objects))
        given = dict(arrows or {})
        table = dict(compose or {})
        types: dict[Hashable, tuple[Hashable, Hashable]] = {self.identity(c): (c, c) for c in obs}
        for name, typ in given.items():
            _check_arrow_decl(name, typ, obs, types)
            types[name] = (typ[0], typ[1])
        object.__setattr__(self, "objects", obs)
        object.__setattr__(self, "_types", types)
        object.__setattr__(self, "_given", (given, table))
        object.__setattr__(self, "_comp", _composition(obs, given, table, types))
        into: dict[Hashable, tuple[Hashable, ...]] = {c: () for c in obs}
        for name, (_, cod) in types.items():
            into[cod] += (name,)
        object.__setattr__(self, "_into", into)
        self._check_associative()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FiniteCategory is immutable")

    @staticmethod
    def identity(c: Hashable) -> str:
        """The name of the identity arrow of ``c``: ``id_<c>``."""
        return f"id_{c}"

    def _check_associative(self) -> None:
        for f, g in self._comp:
            for h in self._out_of_cod(g):
                left = self.then(self.then(f, g), h)
                right = self.then(f, self.then(g, h))
                if left != right:
                    raise ValueError(
                        f"FiniteCategory: composition is not associative at {f!r}, {g!r}, {h!r}:"
                        f" ({f!r} >> {g!r}) >> {h!r} = {left!r} but"
                        f" {f!r} >> ({g!r} >> {h!r}) = {right!r}"
                    )

    def _out_of_cod(self, g: Hashable) -> Iterator[Hashable]:
        target = self._types[g][1]
        return (h for h, (dom, _) in self._types.items() if dom == target)

    # -- queries --------------------------------------------------------------------
    @property
    def arrows(self) -> tuple[Hashable, ...]:
        """Every arrow, identities included."""
        return tuple(self._types)

    def dom(self, f: Hashable) -> Hashable:
        """The domain of the arrow ``f``."""
        return self._types[f][0]

    def cod(self, f: Hashable) -> Hashable:
        """The codomain of the arrow ``f``."""
        return self._types[f][1]

    def id(self, c: Hashable) -> str:
        """The identity arrow of the object ``c``."""
        if c not in self._into:
            raise KeyError(f"FiniteCategory: {c!r} is not an object of {self!r}")
        return self.identity(c)

    def then(self, f: Hashable, g: Hashable) -> Hashable:
        """The composite ``f >> g`` (first ``f``, then ``g``)."""
        try:
            return self._comp[f, g]
        except KeyError:
            raise ValueError(f"FiniteCategory: {f!r} >> {g!r} is not composable") from None

    def hom(self, a: Hashable, b: Hashable) -> tuple[Hashable, ...]:
        """The arrows ``a -> b``."""
        return tuple(f for f in self._into[b] if self._types[f][0] == a)

    def into(self, c: Hashable) -> tuple[Hashable, ...]:
        """The arrows with codomain ``c`` (from any object): the maximal sieve on ``c``."""
        return self._into[c]

    # -- values ---------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, FiniteCategory):
            return NotImplemented
        return self.objects == other.objects and self._given == other._given

    def __hash__(self) -> int:
        return hash((self.objects, tuple(self._types.items())))

    def __repr__(self) -> str:
        given, table = self._given
        return f"FiniteCategory({list(self.objects)!r}, {given!r}, {table!r})"


def _check_arrow_decl(name: Hashable, typ: Any, obs: tuple[Hashable, ...], types: Any) -> None:
    if name in types:
        raise ValueError(f"FiniteCategory: the arrow name {name!r} is taken (by an identity)")
    if not (isinstance(typ, tuple) and len(typ) == 2):
        raise ValueError(f"FiniteCategory: arrow {name!r} needs a type (dom, cod), got {typ!r}")
    for end in typ:
        if end not in obs:
            raise ValueError(f"FiniteCategory: arrow {name!r} has {end!r}, not an object")


def _composition(
    obs: tuple[Hashable, ...],
    given: dict[Hashable, tuple[Hashable, Hashable]],
    table: dict[tuple[Hashable, Hashable], Hashable],
    types: dict[Hashable, tuple[Hashable, Hashable]],
) -> dict[tuple[Hashable, Hashable], Hashable]:
    comp: dict[tuple[Hashable, Hashable], Hashable] = {}
    for f, (a, b) in types.items():
        comp[FiniteCategory.identity(a), f] = f
        comp[f, FiniteCategory.identity(b)] = f
    for (f, g), h in table.items():
        if f not in given or g not in given or given[f][1] != given[g][0]:
            raise ValueError(f"FiniteCategory: the table composes {f!r} >> {g!r}, not composable")
        want = (given[f][0], given[g][1])
        if h not in types or types[h] != want:
            raise ValueError(
                f"FiniteCategory: {f!r} >> {g!r} = {h!r} must be an arrow"
                f" {want[0]!r} -> {want[1]!r}"
            )
        comp[f, g] = h
    for f, g in itertools.product(given, repeat=2):
        if given[f][1] == given[g][0] and (f, g) not in comp:
            raise ValueError(
                f"FiniteCategory: the composite {f!r} >> {g!r} is missing from the table"
            )
    return comp


def discrete(objects: Iterable[Hashable]) -> FiniteCategory:
    """The discrete category: the given objects and their identities only.

    >>> discrete(["a", "b"]).arrows
    ('id_a', 'id_b')
    """
    return FiniteCategory(objects)


def poset(elements: Iterable[Hashable], leq: Iterable[tuple[Hashable, Hashable]]) -> FiniteCategory:
    """The thin category of the preorder generated by the pairs ``x ≤ y`` in ``leq``.

    There is one arrow ``x -> y``, named ``"x≤y"``, whenever ``x ≤ y`` follows by
    reflexivity and transitivity.

    >>> V = poset("abc", [("a", "b"), ("b", "c")])
    >>> V.hom("a", "c"), V.then("a≤b", "b≤c")
    (('a≤c',), 'a≤c')
    """
    obs = tuple(dict.fromkeys(elements))
    below = {(x, y) for x, y in leq} | {(x, x) for x in obs}
    for x, y in below:
        if x not in obs or y not in obs:
            raise ValueError(f"poset: {x!r} ≤ {y!r} names something not among the elements")
    for k, i, j in itertools.product(obs, repeat=3):  # Floyd-Warshall: k is the pivot
        if (i, k) in below and (k, j) in below:
            below.add((i, j))

    def name(x: Hashable, y: Hashable) -> str:
        return FiniteCategory.identity(x) if x == y else f"{x}≤{y}"

    arrows = {name(x, y): (x, y) for x, y in below if x != y}
    table = {
        (name(x, y), name(y, z)): name(x, z)
        for (x, y), (y2, z) in itertools.product(below, repeat=2)
        if y == y2 and x != y and y != z
    }
    return FiniteCategory(obs, dict(sorted(arrows.items())), dict(sorted(table.items())))


def sierpinski() -> FiniteCategory:
    """The arrow category ``0 -> 1`` (one arrow ``"0≤1"``): presheaves on it, the Sierpinski topos.

    A presheaf on it is a map of sets ``F[1] -> F[0]`` (restriction along ``0≤1``).

    >>> sierpinski().into(1)
    ('id_1', '0≤1')
    """
    return poset([0, 1], [(0, 1)])
