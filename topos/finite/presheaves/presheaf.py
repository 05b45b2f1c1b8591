"""Presheaves on a finite category and the natural transformations between them."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

from topos.errors import not_a, not_functorial, not_natural
from topos.finite.presheaves.categories import (
    FiniteCategory,
    sierpinski,  # noqa: F401  (the doctests use it)
)
from topos.finite.sets import FinSet, Function

_MISSING = object()


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

        >>> from topos.finite.presheaves import Presheaves
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

    >>> from topos.finite.presheaves import Presheaves
    >>> C = sierpinski()
    >>> S = Presheaves(C)
    >>> len(list(nat_transformations(S.yoneda(0), S.omega())))  # Omega(0): 2 sieves
    2
    """
    return _Search(dom, cod, rng).run()


class _Search:
    """The backtracking of ``nat_transformations``: a partial assignment ``α`` and an
    explicit stack (a domain may have thousands of elements)."""

    def __init__(self, dom: Presheaf, cod: Presheaf, rng: random.Random | None) -> None:
        C = dom.category
        order = sorted(C.objects, key=lambda c: -len(C.into(c)))
        self.dom, self.cod, self.rng = dom, cod, rng
        self.items = [(c, x) for c in order for x in dom[c]]
        self.assign: dict[Hashable, dict[Any, Any]] = {c: {} for c in C.objects}

    def fix(self, c: Hashable, x: Any, y: Any) -> list[tuple[Hashable, Any]] | None:
        """Set ``α(x) = y`` and what it forces, ``α(x·f) = y·f``; ``None`` on a clash."""
        C, new = self.dom.category, []
        for f in C.into(c):
            b = C.dom(f)
            xb, yb = self.dom.act(x, f), self.cod.act(y, f)
            now = self.assign[b].get(xb, _MISSING)
            if now is _MISSING:
                self.assign[b][xb] = yb
                new.append((b, xb))
            elif now != yb:
                self.undo(new)
                return None
        return new

    def undo(self, new: list[tuple[Hashable, Any]]) -> None:
        for b, xb in new:
            del self.assign[b][xb]

    def open_from(self, i: int) -> int:
        """The next element whose value is not yet fixed."""
        items = self.items
        while i < len(items) and items[i][1] in self.assign[items[i][0]]:
            i += 1
        return i

    def choices(self, i: int) -> Iterator[Any]:
        out = list(self.cod[self.items[i][0]])
        if self.rng is not None:
            self.rng.shuffle(out)
        return iter(out)

    def found(self) -> Nat:
        return Nat._make(self.dom, self.cod, {c: dict(t) for c, t in self.assign.items()})

    def run(self) -> Iterator[Nat]:
        # Depth-first; a frame is [position, remaining choices, what the current choice fixed].
        i = self.open_from(0)
        if i == len(self.items):
            yield self.found()
            return
        stack: list[list[Any]] = [[i, self.choices(i), None]]
        while stack:
            frame = stack[-1]
            if frame[2] is not None:
                self.undo(frame[2])
                frame[2] = None
            c, x = self.items[frame[0]]
            frame[2] = next((new for y in frame[1] if (new := self.fix(c, x, y)) is not None), None)
            if frame[2] is None:
                stack.pop()
                continue
            j = self.open_from(frame[0] + 1)
            if j < len(self.items):
                stack.append([j, self.choices(j), None])
            else:
                yield self.found()
