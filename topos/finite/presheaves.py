"""Presheaves on a finite category: an exact topos whose logic is not Boolean.

A ``FiniteCategory`` is given by objects, arrows ``name: (dom, cod)`` and the
composition of every composable pair of non-identity arrows (identities are
implicit, named ``id_<object>``). A ``Presheaf`` ``F: C^op -> FinSet`` gives a set
``F[c]`` per object and, for each arrow ``f: c -> d``, a restriction
``F[d] -> F[c]`` written ``x ↦ x·f`` (``F.act(x, f)``), with ``x·id = x`` and
``(x·g)·f = x·(f >> g)``. A ``Nat`` is a natural transformation ``α: F ⇒ G``:
components ``α_c: F[c] -> G[c]`` with ``α_c(x·f) = α_d(x)·f``.

``Presheaves(C)`` is a ``topos.functor.Category``: products and coproducts are
pointwise; the exponential is ``(G^F)(c) = Nat(y c × F, G)`` with ``y c`` the
representable ``Hom(-, c)``; ``Omega(c)`` is the set of sieves on ``c`` (sets of
arrows into ``c`` closed under precomposition), ``true`` picks the maximal sieve,
and the connectives are intersection, union, and the Heyting implication and
negation of sieves. Subobjects (``Subobject``) form a Heyting algebra, classified
by the maps into ``Omega``.

On the Sierpinski topos (presheaves on the arrow category ``0 -> 1``),
``Omega(1)`` has three truth values, and the logic is not Boolean: double
negation is not the identity and excluded middle fails.

>>> from topos import Omega, Id, neg, disj, pair, discard, true
>>> from topos.functor import Functor
>>> S = Presheaves(sierpinski())
>>> len(S.omega()[1]), len(S.omega()[0])
(3, 2)
>>> F = Functor(ob={}, ar={}, cod=S)
>>> F(neg >> neg) == F(Id(Omega))
False
>>> F(pair(Id(Omega), neg) >> disj) == F(discard(Omega) >> true)
False

On a discrete category every presheaf is a family of sets and the logic is Boolean:

>>> D = Functor(ob={}, ar={}, cod=Presheaves(discrete(["a", "b"])))
>>> D(neg >> neg) == D(Id(Omega))
True

Every transformation built here is natural; the cartesian closed laws hold exactly:

>>> from topos import R, Box, curry, ev
>>> A, B = R(1), R(2)
>>> m = Box("m", A * B, A)
>>> G = random_presheaf_model(sierpinski(), seed=0)
>>> G(curry(m) * Id(B) >> ev(A, B)) == G(m), G(curry(m)).is_natural()
(True, True)
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from topos.arrows import Box
from topos.errors import compose_mismatch, not_a, not_functorial, not_natural, short, too_many
from topos.finite.sets import FinSet, Function
from topos.functor import Category, Functor
from topos.objects import Ob

__all__ = [
    "MAX_ELEMENTS",
    "FiniteCategory",
    "Nat",
    "Presheaf",
    "Presheaves",
    "Subobject",
    "discrete",
    "nat_transformations",
    "poset",
    "random_presheaf_model",
    "sierpinski",
    "subobjects",
]

_MISSING = object()


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


# ---------------------------------------------------------------------------------
# Presheaves and natural transformations


_Table = Mapping[Any, Any] | Callable[[Any], Any]


class Presheaf:
    """A presheaf ``F: C^op -> FinSet``: sets ``F[c]`` and restrictions ``x ↦ x·f``.

    ``restrict`` maps each non-identity arrow ``f: c -> d`` to a table (or
    function) ``F[d] -> F[c]``; it may also be one function ``(f, x) -> x·f``.
    Totality, codomains and functoriality are checked. (Presheaves built by
    ``Presheaves`` are lazy: their sets and restrictions are computed on demand.)

    >>> C = sierpinski()
    >>> F = Presheaf(C, {0: ["a", "b"], 1: ["u"]}, {"0≤1": {"u": "a"}})
    >>> F[0], F.act("u", "0≤1")
    (FinSet(['a', 'b']), 'a')
    >>> Presheaf(C, {0: ["a"], 1: ["u"]}, {"0≤1": {"u": "z"}})
    Traceback (most recent call last):
    ...
    ValueError: Function F(0≤1): 'u' -> 'z' lands outside the codomain {'a'}
    """

    __slots__ = ("category", "_sets", "_restrict", "_sets_rule", "_act_rule", "_parts")
    category: FiniteCategory
    _sets: dict[Hashable, FinSet]
    _restrict: dict[Hashable, dict[Any, Any]]
    _sets_rule: Callable[[Hashable], FinSet] | None
    _act_rule: Callable[[Any, Hashable], Any] | None
    _parts: tuple[Any, ...] | None

    def __init__(
        self,
        category: FiniteCategory,
        sets: Mapping[Hashable, Iterable[Hashable]],
        restrict: Mapping[Hashable, _Table] | Callable[[Hashable, Any], Any] | None = None,
    ) -> None:
        if not isinstance(category, FiniteCategory):
            raise not_a("Presheaf", "a FiniteCategory", category)
        fsets = {c: _set_of(sets, c) for c in category.objects}
        maps: dict[Hashable, dict[Any, Any]] = {}
        for f in category.arrows:
            c, d = category.dom(f), category.cod(f)
            table = _restriction_table(category, restrict, f)
            maps[f] = dict(Function(fsets[d], fsets[c], table, name=f"F({f})").table)
        self._set(category, fsets, maps, None, None, None)
        self._check_functorial()

    @classmethod
    def _lazy(
        cls,
        category: FiniteCategory,
        sets: Callable[[Hashable], FinSet],
        act: Callable[[Any, Hashable], Any],
        parts: tuple[Any, ...],
    ) -> Presheaf:
        """A presheaf computed on demand; ``parts`` names its construction (see ``_same``)."""
        out = object.__new__(cls)
        out._set(category, {}, {f: {} for f in category.arrows}, sets, act, parts)
        return out

    def _set(self, category: FiniteCategory, *fields: Any) -> None:
        object.__setattr__(self, "category", category)
        for name, value in zip(self.__slots__[1:], fields, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Presheaf is immutable")

    def _functoriality_failure(self) -> tuple[Any, ...] | None:
        C = self.category
        for (f, g), fg in C._comp.items():
            for x in self[C.cod(g)]:
                step, whole = self.act(self.act(x, g), f), self.act(x, fg)
                if step != whole:
                    return (f, g, x, step, whole)
        return None

    def _check_functorial(self) -> None:
        failure = self._functoriality_failure()
        if failure is not None:
            raise not_functorial("Presheaf", *failure)

    def is_functorial(self) -> bool:
        """Whether ``x·id = x`` and ``(x·g)·f = x·(f >> g)`` for all composable arrows."""
        C = self.category
        identities = all(self.act(x, C.id(c)) == x for c in C.objects for x in self[c])
        return identities and self._functoriality_failure() is None

    # -- the presheaf -----------------------------------------------------------------
    def __getitem__(self, c: Hashable) -> FinSet:
        """The set ``F[c]``."""
        found = self._sets.get(c)
        if found is not None:
            return found
        if self._sets_rule is None or c not in self.category.objects:
            raise KeyError(f"Presheaf: {c!r} is not an object of {self.category!r}")
        found = self._sets[c] = self._sets_rule(c)
        return found

    def act(self, x: Any, f: Hashable) -> Any:
        """The restriction ``x·f`` of ``x ∈ F[cod f]`` along ``f``, an element of ``F[dom f]``."""
        table = self._restrict[f]
        if x in table:
            return table[x]
        if self._act_rule is None:
            raise KeyError(f"Presheaf: {x!r} is not an element at the codomain of {f!r}")
        y = table[x] = self._act_rule(x, f)
        return y

    def map(self, f: Hashable) -> Function:
        """The restriction along ``f: c -> d`` as a ``Function`` ``F[d] -> F[c]``."""
        C = self.category
        dom, cod = self[C.cod(f)], self[C.dom(f)]
        return Function(dom, cod, {x: self.act(x, f) for x in dom}, name=f"F({f})")

    def size(self) -> int:
        """The number of elements over all objects."""
        return sum(len(self[c]) for c in self.category.objects)

    def _tables(self) -> dict[Hashable, dict[Any, Any]]:
        C = self.category
        return {f: {x: self.act(x, f) for x in self[C.cod(f)]} for f in C.arrows}

    # -- values -----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Presheaf):
            return NotImplemented
        if _same(self._parts, other._parts):
            return True
        C = self.category
        if C != other.category or any(self[c] != other[c] for c in C.objects):
            return False
        return all(self.act(x, f) == other.act(x, f) for f in C.arrows for x in self[C.cod(f)])

    def __hash__(self) -> int:
        # Only the category is cheap for every representation (lazy ones included).
        return hash(("Presheaf", self.category))

    def __repr__(self) -> str:
        C = self.category
        sets = {c: list(self[c]) for c in C.objects}
        identities = {C.id(c) for c in C.objects}
        maps = {f: m for f, m in self._tables().items() if f not in identities}
        return f"Presheaf({C!r}, {sets!r}, {maps!r})"

    def __str__(self) -> str:
        parts = self._parts
        if parts is None or parts[0] == "Δ":
            return "⟨" + ", ".join(f"{c}: {self[c]}" for c in self.category.objects) + "⟩"
        op, *args = parts
        if op in ("*", "+", "**"):
            return f"({args[0]} {op} {args[1]})"
        return f"{op}({', '.join(map(repr, args))})" if args else str(op)


def _same(p: tuple[Any, ...] | None, q: tuple[Any, ...] | None) -> bool:
    """Whether two constructions are the same: same operation on the same operands."""
    if p is None or q is None or len(p) != len(q):
        return False
    return all(a is b if isinstance(a, Presheaf) else a == b for a, b in zip(p, q, strict=True))


def _set_of(sets: Mapping[Hashable, Iterable[Hashable]], c: Hashable) -> FinSet:
    if c not in sets:
        raise ValueError(f"Presheaf: no set given for the object {c!r}")
    value = sets[c]
    return value if isinstance(value, FinSet) else FinSet(value)


def _restriction_table(
    C: FiniteCategory,
    restrict: Mapping[Hashable, _Table] | Callable[[Hashable, Any], Any] | None,
    f: Hashable,
) -> _Table:
    if f == C.id(C.cod(f)):
        return _identity
    if restrict is None:
        raise ValueError(f"Presheaf: no restriction given along the arrow {f!r}")
    if isinstance(restrict, Mapping):
        if f not in restrict:
            raise ValueError(f"Presheaf: no restriction given along the arrow {f!r}")
        return restrict[f]
    return functools.partial(restrict, f)


def _identity(x: Any) -> Any:
    return x


class Nat:
    """A natural transformation ``α: F ⇒ G`` between presheaves on one category.

    ``components`` maps each object ``c`` to a table (or function) ``F[c] -> G[c]``;
    it may also be one function ``(c, x) -> α_c(x)``. Naturality is checked unless
    ``check=False`` (then ``is_natural()`` tells). Transformations built by
    ``Presheaves`` are lazy: a component value is computed when asked for.

    >>> C = sierpinski()
    >>> F = Presheaf(C, {0: ["a", "b"], 1: ["u"]}, {"0≤1": {"u": "a"}})
    >>> G = Presheaf(C, {0: [0, 1], 1: [0]}, {"0≤1": {0: 0}})
    >>> Nat(F, G, {0: {"a": 0, "b": 1}, 1: {"u": 0}})(0, "b")
    1
    >>> Nat(F, G, {0: {"a": 1, "b": 1}, 1: {"u": 0}})
    Traceback (most recent call last):
    ...
    ValueError: Nat: not natural at the arrow '0≤1' and the element 'u': restricting then mapping
    gives 1, mapping then restricting gives 0
    """

    __slots__ = ("dom", "cod", "_components", "_rule", "_hash")
    dom: Presheaf
    cod: Presheaf
    _components: dict[Hashable, dict[Any, Any]]
    _rule: Callable[[Hashable, Any], Any] | None
    _hash: int | None

    def __init__(
        self,
        dom: Presheaf,
        cod: Presheaf,
        components: Mapping[Hashable, _Table] | Callable[[Hashable, Any], Any],
        *,
        check: bool = True,
    ) -> None:
        for side in (dom, cod):
            if not isinstance(side, Presheaf):
                raise not_a("Nat", "a Presheaf", side)
        if dom.category != cod.category:
            raise ValueError("Nat: the presheaves live on different categories")
        comps: dict[Hashable, dict[Any, Any]] = {}
        for c in dom.category.objects:
            table = _component(components, c)
            comps[c] = dict(Function(dom[c], cod[c], table, name=f"Nat at {c!r}").table)
        self._set(dom, cod, comps, None)
        if check:
            self.check_natural()

    @classmethod
    def _make(cls, dom: Presheaf, cod: Presheaf, comps: dict[Hashable, dict[Any, Any]]) -> Nat:
        out = object.__new__(cls)
        out._set(dom, cod, comps, None)
        return out

    @classmethod
    def _lazy(cls, dom: Presheaf, cod: Presheaf, rule: Callable[[Hashable, Any], Any]) -> Nat:
        out = object.__new__(cls)
        out._set(dom, cod, {c: {} for c in dom.category.objects}, rule)
        return out

    def _set(self, dom: Presheaf, cod: Presheaf, comps: Any, rule: Any) -> None:
        object.__setattr__(self, "dom", dom)
        object.__setattr__(self, "cod", cod)
        object.__setattr__(self, "_components", comps)
        object.__setattr__(self, "_rule", rule)
        object.__setattr__(self, "_hash", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Nat is immutable")

    def __call__(self, c: Hashable, x: Any) -> Any:
        """The component at ``c`` applied to ``x ∈ dom[c]``."""
        table = self._components[c]
        if x in table:
            return table[x]
        if self._rule is None:
            raise KeyError(f"Nat: {x!r} is not in the domain at {c!r}")
        y = table[x] = self._rule(c, x)
        return y

    def _full(self) -> dict[Hashable, dict[Any, Any]]:
        for c in self.dom.category.objects:
            for x in self.dom[c]:
                self(c, x)
        return self._components

    def component(self, c: Hashable) -> Function:
        """The component ``α_c: dom[c] -> cod[c]`` as a ``Function``."""
        table = {x: self(c, x) for x in self.dom[c]}
        return Function(self.dom[c], self.cod[c], table, name=f"Nat at {c!r}")

    def _naturality_failure(self) -> tuple[Any, ...] | None:
        C, F, G = self.dom.category, self.dom, self.cod
        for f in C.arrows:
            c, d = C.dom(f), C.cod(f)
            for x in F[d]:
                left, right = self(c, F.act(x, f)), G.act(self(d, x), f)
                if left != right:
                    return (f, x, left, right)
        return None

    def check_natural(self) -> Nat:
        """Raise a ``ValueError`` naming an arrow and an element where naturality fails."""
        failure = self._naturality_failure()
        if failure is not None:
            raise not_natural("Nat", *failure)
        return self

    def is_natural(self) -> bool:
        """Whether ``α_c(x·f) = α_d(x)·f`` for every arrow ``f: c -> d`` and ``x ∈ F[d]``.

        >>> S = Presheaves(sierpinski())
        >>> S.logic("implies").is_natural()
        True
        """
        return self._naturality_failure() is None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Nat):
            return NotImplemented
        return self.dom == other.dom and self.cod == other.cod and self._full() == other._full()

    def __hash__(self) -> int:
        if self._hash is None:
            key = frozenset((c, frozenset(t.items())) for c, t in self._full().items())
            object.__setattr__(self, "_hash", hash(key))
        assert self._hash is not None
        return self._hash

    def __repr__(self) -> str:
        return f"Nat({self.dom!r}, {self.cod!r}, {self._full()!r})"

    def __str__(self) -> str:
        return f"{self.dom} ⇒ {self.cod}"


def _component(
    components: Mapping[Hashable, _Table] | Callable[[Hashable, Any], Any], c: Hashable
) -> _Table:
    if isinstance(components, Mapping):
        if c not in components:
            raise ValueError(f"Nat: no component given at the object {c!r}")
        return components[c]
    return functools.partial(components, c)


def nat_transformations(
    dom: Presheaf, cod: Presheaf, rng: random.Random | None = None
) -> Iterator[Nat]:
    """Every natural transformation ``dom ⇒ cod``, by backtracking with propagation.

    Choosing ``α(x) = y`` fixes ``α(x·f) = y·f`` for every arrow ``f``; a clash
    prunes the branch. With ``rng``, choices are tried in a random order (the first
    result is then a random transformation).

    >>> C = sierpinski()
    >>> S = Presheaves(C)
    >>> len(list(nat_transformations(S.yoneda(0), S.omega())))  # Omega(0): 2 sieves
    2
    """
    C = dom.category
    order = sorted(C.objects, key=lambda c: -len(C.into(c)))
    items = [(c, x) for c in order for x in dom[c]]
    assign: dict[Hashable, dict[Any, Any]] = {c: {} for c in C.objects}

    def fix(c: Hashable, x: Any, y: Any) -> list[tuple[Hashable, Any]] | None:
        new: list[tuple[Hashable, Any]] = []
        for f in C.into(c):
            b = C.dom(f)
            xb, yb = dom.act(x, f), cod.act(y, f)
            now = assign[b].get(xb, _MISSING)
            if now is _MISSING:
                assign[b][xb] = yb
                new.append((b, xb))
            elif now != yb:
                undo(new)
                return None
        return new

    def undo(new: list[tuple[Hashable, Any]]) -> None:
        for b, xb in new:
            del assign[b][xb]

    def open_from(i: int) -> int:  # the next element whose value is not yet fixed
        while i < len(items) and items[i][1] in assign[items[i][0]]:
            i += 1
        return i

    def choices(i: int) -> Iterator[Any]:
        out = list(cod[items[i][0]])
        if rng is not None:
            rng.shuffle(out)
        return iter(out)

    def search() -> Iterator[Nat]:
        # Depth-first, with an explicit stack (a domain may have thousands of elements):
        # a frame is [position, remaining choices, what the current choice fixed].
        i = open_from(0)
        stack: list[list[Any]] = [[i, choices(i), None]] if i < len(items) else []
        if not stack:
            yield Nat._make(dom, cod, {c: dict(t) for c, t in assign.items()})
        while stack:
            frame = stack[-1]
            if frame[2] is not None:
                undo(frame[2])
                frame[2] = None
            c, x = items[frame[0]]
            frame[2] = next((new for y in frame[1] if (new := fix(c, x, y)) is not None), None)
            if frame[2] is None:
                stack.pop()
                continue
            j = open_from(frame[0] + 1)
            if j < len(items):
                stack.append([j, choices(j), None])
            else:
                yield Nat._make(dom, cod, {c: dict(t) for c, t in assign.items()})

    return search()


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
        return Subobject.classified_by(chi)


@functools.lru_cache(maxsize=64)
def _cache_for(category: FiniteCategory) -> dict[Hashable, Presheaf]:
    return {}


#: The most elements a constructed presheaf enumerates at one object.
MAX_ELEMENTS = 20_000


def _bounded(items: Iterable[Any], presheaf: Presheaf, c: Hashable) -> FinSet:
    out: list[Any] = []
    for x in items:
        out.append(x)
        if len(out) > MAX_ELEMENTS:
            raise too_many(f"the presheaf {short(str(presheaf), 80)} at {c!r}", MAX_ELEMENTS)
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


# ---------------------------------------------------------------------------------
# Subobjects: a Heyting algebra


class Subobject:
    """A subpresheaf ``S ↪ F``: subsets ``S[c] ⊆ F[c]`` closed under restriction.

    Subobjects of ``F`` form a Heyting algebra: ``&`` (meet), ``|`` (join),
    ``implies``, ``~`` (negation), ``<=`` (inclusion), ``top``, ``bottom``; each is
    classified by ``characteristic()``, a map ``F ⇒ Omega``.

    >>> S = Presheaves(sierpinski())
    >>> y1 = S.yoneda(1)
    >>> U = Subobject(y1, {0: ["0≤1"], 1: []})   # the part living at 0 only
    >>> ~U == Subobject.bottom(y1), ~~U == Subobject.top(y1)
    (True, True)
    >>> (U | ~U) == Subobject.top(y1)   # excluded middle fails
    False
    >>> Subobject.classified_by(U.characteristic()) == U
    True
    """

    __slots__ = ("presheaf", "_parts")
    presheaf: Presheaf
    _parts: dict[Hashable, frozenset[Any]]

    def __init__(self, presheaf: Presheaf, parts: Mapping[Hashable, Iterable[Any]]) -> None:
        if not isinstance(presheaf, Presheaf):
            raise not_a("Subobject", "a Presheaf", presheaf)
        C = presheaf.category
        own = {c: frozenset(parts.get(c, ())) for c in C.objects}
        for c, part in own.items():
            outside = [x for x in part if x not in presheaf[c]]
            if outside:
                raise ValueError(f"Subobject: {outside[0]!r} is not in {presheaf[c]} at {c!r}")
        for f in C.arrows:
            for x in own[C.cod(f)]:
                if presheaf.act(x, f) not in own[C.dom(f)]:
                    raise ValueError(
                        f"Subobject: not closed under restriction: {x!r}·{f!r} ="
                        f" {presheaf.act(x, f)!r} is missing at {C.dom(f)!r}"
                    )
        object.__setattr__(self, "presheaf", presheaf)
        object.__setattr__(self, "_parts", own)

    @classmethod
    def _make(cls, presheaf: Presheaf, parts: dict[Hashable, frozenset[Any]]) -> Subobject:
        out = object.__new__(cls)
        object.__setattr__(out, "presheaf", presheaf)
        object.__setattr__(out, "_parts", parts)
        return out

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Subobject is immutable")

    def __getitem__(self, c: Hashable) -> frozenset[Any]:
        """The part ``S[c] ⊆ F[c]``."""
        return self._parts[c]

    @classmethod
    def top(cls, presheaf: Presheaf) -> Subobject:
        """The whole of ``presheaf``."""
        return cls._make(presheaf, {c: frozenset(presheaf[c]) for c in presheaf.category.objects})

    @classmethod
    def bottom(cls, presheaf: Presheaf) -> Subobject:
        """The empty subobject."""
        return cls._make(presheaf, {c: frozenset() for c in presheaf.category.objects})

    @classmethod
    def classified_by(cls, chi: Nat) -> Subobject:
        """``{x | chi(x) is the maximal sieve}``: the subobject ``chi`` classifies."""
        C = chi.dom.category
        parts = {
            c: frozenset(x for x in chi.dom[c] if chi(c, x) == frozenset(C.into(c)))
            for c in C.objects
        }
        return cls._make(chi.dom, parts)

    def characteristic(self) -> Nat:
        """χ: F ⇒ Omega, sending ``x ∈ F[c]`` to the sieve ``{h | x·h ∈ S}``."""
        F = self.presheaf
        C = F.category
        omega = Presheaves(C).omega()
        comps = {
            c: {x: frozenset(h for h in C.into(c) if F.act(x, h) in self[C.dom(h)]) for x in F[c]}
            for c in C.objects
        }
        return Nat._make(F, omega, comps)

    def pullback(self, alpha: Nat) -> Subobject:
        """The inverse image ``α*(S) = {x | α(x) ∈ S}`` along ``α: G ⇒ F``."""
        if alpha.cod != self.presheaf:
            raise ValueError(
                "Subobject.pullback: the transformation does not land in this presheaf"
            )
        G = alpha.dom
        parts = {
            c: frozenset(x for x in G[c] if alpha(c, x) in self[c]) for c in G.category.objects
        }
        return Subobject._make(G, parts)

    # -- the Heyting algebra ------------------------------------------------------------
    def _same(self, other: Subobject, op: str) -> None:
        if not isinstance(other, Subobject) or other.presheaf != self.presheaf:
            raise TypeError(f"Subobject.{op}: both sides must be subobjects of one presheaf")

    def __and__(self, other: Subobject) -> Subobject:
        self._same(other, "meet")
        return Subobject._make(self.presheaf, {c: p & other[c] for c, p in self._parts.items()})

    def __or__(self, other: Subobject) -> Subobject:
        self._same(other, "join")
        return Subobject._make(self.presheaf, {c: p | other[c] for c, p in self._parts.items()})

    def meet(self, other: Subobject) -> Subobject:
        """``S ∧ T``, the intersection."""
        return self & other

    def join(self, other: Subobject) -> Subobject:
        """``S ∨ T``, the union."""
        return self | other

    def implies(self, other: Subobject) -> Subobject:
        """``S ⇒ T``: the largest ``U`` with ``U ∧ S ≤ T`` (x such that every x·h in S is in T)."""
        self._same(other, "implies")
        F = self.presheaf
        C = F.category

        def keep(c: Hashable, x: Any) -> bool:
            return all(
                F.act(x, h) in other[C.dom(h)] for h in C.into(c) if F.act(x, h) in self[C.dom(h)]
            )

        return Subobject._make(F, {c: frozenset(x for x in F[c] if keep(c, x)) for c in C.objects})

    def negate(self) -> Subobject:
        """``¬S = S ⇒ ⊥``: the largest subobject disjoint from ``S``."""
        return self.implies(Subobject.bottom(self.presheaf))

    def __invert__(self) -> Subobject:
        return self.negate()

    def __le__(self, other: Subobject) -> bool:
        self._same(other, "<=")
        return all(p <= other[c] for c, p in self._parts.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Subobject):
            return NotImplemented
        return self.presheaf == other.presheaf and self._parts == other._parts

    def __hash__(self) -> int:
        return hash(frozenset(self._parts.items()))

    def __repr__(self) -> str:
        parts = {c: sorted(p, key=repr) for c, p in self._parts.items()}
        return f"Subobject({self.presheaf!r}, {parts!r})"


def subobjects(presheaf: Presheaf) -> list[Subobject]:
    """Every subobject of ``presheaf``, one per map into ``Omega``.

    >>> len(subobjects(Presheaves(sierpinski()).yoneda(1)))   # = |Omega(1)|
    3
    """
    omega = Presheaves(presheaf.category).omega()
    return [Subobject.classified_by(chi) for chi in nat_transformations(presheaf, omega)]


# ---------------------------------------------------------------------------------
# Random models


def random_presheaf_model(
    category: FiniteCategory,
    seed: int = 0,
    *,
    max_size: int = 2,
    min_size: int = 1,
    ob: Mapping[Ob, Presheaf] | None = None,
    ar: Mapping[Box, Nat] | None = None,
) -> Functor[Presheaf, Nat]:
    """A functor into ``Presheaves(category)`` interpreting every generator at random.

    ``random_presheaf_model(category, seed=0, *, max_size=2, min_size=1, ob=None,
    ar=None) -> Functor``. A generating object becomes a coproduct of ``k`` pieces
    (``k`` in ``[min_size, max_size]``): the terminal presheaf, then representables
    ``y c`` or terminal presheaves at random; a box becomes a random natural
    transformation (with ``min_size=0`` there may be none: ``ValueError``). Draws
    are seeded by ``(seed, repr(generator))``, so the model does not depend on the
    order of interpretation. ``ob``/``ar`` fix chosen generators.

    >>> from topos import R, Box
    >>> F = random_presheaf_model(sierpinski(), seed=3)
    >>> f = Box("f", R(1), R(2))
    >>> F(f).is_natural(), F(f).dom == F(R(1))
    (True, True)
    """
    if not 0 <= min_size <= max_size:
        raise ValueError(
            f"random_presheaf_model: need 0 <= min_size <= max_size, got {min_size}, {max_size}"
        )
    topos = Presheaves(category)
    fixed_ob, fixed_ar = dict(ob or {}), dict(ar or {})
    boxes: dict[Box, Nat] = {}
    functor: Functor[Presheaf, Nat]

    def on_ob(x: Ob) -> Presheaf:
        if x in fixed_ob:
            return fixed_ob[x]
        rng = random.Random(f"{seed}|{x!r}")
        pieces = [topos.one()] + [topos.yoneda(c) for c in category.objects]
        size = rng.randint(min_size, max_size)
        if size == 0:
            return topos.zero()
        # A global element (the piece One) makes a map into every model exist.
        out = topos.one()
        for _ in range(size - 1):
            out = topos.coproduct(out, rng.choice(pieces))
        return out

    def on_ar(box: Box) -> Nat:
        if box in boxes:
            return boxes[box]
        dom, cod = functor(box.dom), functor(box.cod)
        if box in fixed_ar:
            boxes[box] = fixed_ar[box]
            return boxes[box]
        found = _random_nat(topos, dom, cod, random.Random(f"{seed}|{box!r}"))
        if found is None:
            raise ValueError(
                f"random_presheaf_model: no natural transformation {box!r}: {dom} ⇒ {cod}"
            )
        boxes[box] = found
        return found

    functor = Functor(ob=on_ob, ar=on_ar, cod=topos)
    return functor


def _random_nat(topos: Presheaves, dom: Presheaf, cod: Presheaf, rng: random.Random) -> Nat | None:
    """A random transformation ``dom ⇒ cod``, or None; into exponentials and products it is
    built from its transpose and its projections, so no exponential is enumerated."""
    parts = cod._parts
    if parts is not None and parts[0] == "**":
        base, exponent = parts[1], parts[2]
        m = _random_nat(topos, topos.product(dom, exponent), base, rng)
        return None if m is None else topos.curry(m, dom, exponent, base)
    if parts is not None and parts[0] == "*":
        f, g = (_random_nat(topos, dom, side, rng) for side in parts[1:])
        return None if f is None or g is None else topos.pair(f, g)
    return next(nat_transformations(dom, cod, rng), None)
