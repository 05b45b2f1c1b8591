"""Hypothesis strategies for objects and arrows of the free structure.

``objects()`` draws objects built from small generating objects with products,
coproducts, exponentials, ``One``, ``Zero`` and ``Omega``; ``arrows(dom, cod)``
draws an arrow between two *given* objects, type-directed, so that every
constructor shows up (boxes, identities, composites, pairs, copairs, projections,
injections, copy, discard, swap, absurd, curry, ev, uncurry, tensors, sums and
the maps of ``Omega``); ``composable(n)`` draws ``n`` arrows where each next
domain is the previous codomain, so laws are tested on real composites.

Generated arrows make sense in every model where the generating objects are
non-empty: a sub-arrow ``X -> Y`` is only drawn when ``Y`` is not provably empty
or ``X`` is (see ``feasible``), so a box never has to map a point into ``Zero``.

Generated arrows can be checked by enumeration: every object an arrow passes
through (middle objects, curried and evaluated function spaces) has at most
``MAX_ELEMENTS`` elements in a finite model whose generators have at most
``GENERATOR_SIZE`` elements (see ``elements``), unless the types asked for are
larger themselves. ``objects(max_elements=...)`` bounds drawn objects the same way.

>>> from hypothesis import given, settings
>>> from topos import R
>>> @settings(max_examples=20, derandomize=True)
... @given(composable(3))
... def chains(fs):
...     f, g, h = fs
...     assert f.cod == g.dom and g.cod == h.dom
...     assert (f >> g) >> h == f >> (g >> h)
>>> chains()
>>> @settings(max_examples=20, derandomize=True)
... @given(arrows(R(2) * R(3), R(3) * R(2)))
... def typed(f):
...     assert (f.dom, f.cod) == (R(2) * R(3), R(3) * R(2))
>>> typed()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from topos import arrows as ar_
from topos.arrows import Arrow, Box, Id, Logic
from topos.errors import not_a
from topos.objects import Coproduct, Exp, Fin, Ob, Omega, One, Product, R, Zero

__all__ = [
    "ATOMS",
    "GENERATOR_SIZE",
    "MAX_ELEMENTS",
    "arrows",
    "atoms",
    "boxes",
    "composable",
    "elements",
    "empty",
    "feasible",
    "feasible_from",
    "objects",
]

#: The generating objects ``atoms()`` draws from by default: small and varied.
ATOMS: tuple[Ob, ...] = (R(1), R(2), R(3), R(2, 2), R(2, dtype="float64"), Fin(2), Fin(3, 2))

#: The generator size ``elements`` assumes (``random_model``'s default ``max_size``).
GENERATOR_SIZE = 3

#: The most elements (by ``elements``) of an object that generated arrows pass through.
MAX_ELEMENTS = 4096

_LOGIC_OPS = st.sampled_from(["conj", "disj", "implies", "neg", "true", "false"])
_LOGIC_TYPES = [(op, Logic(op)) for op in ("true", "false", "conj", "disj", "implies", "neg")]


def atoms(choices: Sequence[Ob] = ATOMS) -> SearchStrategy[Ob]:
    """Generating objects (``R``, ``Fin``), drawn from ``choices``.

    >>> atoms([R(1), R(2)])
    sampled_from((R(1), R(2)))
    """
    for x in choices:
        if not isinstance(x, Ob):
            raise not_a("atoms", "objects", x)
    return st.sampled_from(tuple(choices))


_atoms = atoms  # ``objects`` takes a parameter of that name


def objects(
    max_depth: int = 2,
    *,
    atoms: SearchStrategy[Ob] | None = None,
    products: bool = True,
    coproducts: bool = True,
    exponentials: bool = True,
    constants: Sequence[Ob] = (One, Zero, Omega),
    max_elements: int | None = None,
) -> SearchStrategy[Ob]:
    """Objects of nesting depth at most ``max_depth`` over ``atoms`` and ``constants``.

    ``products``, ``coproducts`` and ``exponentials`` switch the constructors on
    and off (a semantics without exponentials tests on the rest). With
    ``max_elements``, only objects with at most that many elements (``elements``)
    are drawn, so a finite semantics can enumerate them.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True)
    ... @given(objects(max_depth=1, coproducts=False, exponentials=False))
    ... def no_sums(x):
    ...     assert not isinstance(x, (Coproduct, Exp))
    >>> no_sums()
    """
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise ValueError(f"objects: max_depth must be a non-negative int, got {max_depth!r}")
    base = _atoms() if atoms is None else atoms
    if constants:
        base = st.one_of(base, st.sampled_from(tuple(constants)))
    out = base
    for _ in range(max_depth):
        sub = out
        options = [base]
        if products:
            options.append(st.builds(Product, sub, sub))
        if coproducts:
            options.append(st.builds(Coproduct, sub, sub))
        if exponentials:
            options.append(st.builds(Exp, sub, sub))
        out = st.one_of(*options)
    if max_elements is not None:
        out = out.filter(_Small(max_elements))
    return out


def elements(x: Ob, generators: int = GENERATOR_SIZE, cap: int = 1 << 64) -> int:
    """How many elements ``x`` has at most, if each generating object has ``generators``
    (``One`` has 1, ``Zero`` 0, ``Omega`` 2); counts above ``cap`` are reported as ``cap``.

    >>> elements(R(1) * Omega), elements(Omega ** (R(1) + One)), elements(Zero ** Zero)
    (6, 16, 1)
    >>> elements(Omega ** Omega ** Omega ** Omega ** R(1))
    18446744073709551616
    """
    stack, todo = [x], []
    while stack:  # post-order without recursion: objects may be deep
        y = stack.pop()
        todo.append(y)
        stack += _parts(y)
    out: dict[Ob, int] = {}
    for y in reversed(todo):
        if y in out:
            continue
        if isinstance(y, Product):
            n = out[y.left] * out[y.right]
        elif isinstance(y, Coproduct):
            n = out[y.left] + out[y.right]
        elif isinstance(y, Exp):
            n = _power(out[y.base], out[y.exponent], cap)
        else:
            n = _CONSTANT_SIZES.get(y, generators)
        out[y] = min(n, cap)
    return out[x]


_CONSTANT_SIZES: dict[Ob, int] = {One: 1, Zero: 0, Omega: 2}


def _power(base: int, exponent: int, cap: int) -> int:
    if base <= 1 or exponent == 0:
        return 1 if exponent == 0 else base
    return base**exponent if exponent < cap.bit_length() else cap


class _Small:
    # A callable object, not a lambda: hypothesis parses lambdas passed to filter.
    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, x: Ob) -> bool:
        return elements(x, cap=self.limit + 1) <= self.limit

    def __repr__(self) -> str:
        return f"at_most({self.limit})"


_objects = objects  # ``composable`` takes a parameter of that name


@lru_cache(maxsize=4096)
def empty(x: Ob) -> bool:
    """Whether ``x`` is empty in every model where the generating objects are non-empty.

    >>> empty(Zero), empty(R(2) * Zero), empty(Zero + Zero), empty(Zero ** Zero)
    (True, True, True, False)
    """
    stack, todo = [x], []
    while stack:  # post-order without recursion: objects may be deep
        y = stack.pop()
        todo.append(y)
        if isinstance(y, (Product, Coproduct)):
            stack += [y.left, y.right]
        elif isinstance(y, Exp):
            stack += [y.base, y.exponent]
    out: dict[Ob, bool] = {}
    for y in reversed(todo):
        if isinstance(y, Product):
            out[y] = out[y.left] or out[y.right]
        elif isinstance(y, Coproduct):
            out[y] = out[y.left] and out[y.right]
        elif isinstance(y, Exp):
            out[y] = out[y.base] and not out[y.exponent]
        else:
            out[y] = y == Zero
    return out[x]


def feasible(dom: Ob, cod: Ob) -> bool:
    """Whether an arrow ``dom -> cod`` exists in every model with non-empty generators.

    >>> feasible(R(1), Zero), feasible(Zero, R(1)), feasible(Zero * R(1), Zero)
    (False, True, True)
    """
    return empty(dom) or not empty(cod)


def boxes(
    dom: Ob,
    cod: Ob,
    names: Sequence[str] = ("f", "g", "h"),
    attrs: SearchStrategy[dict[str, Any]] | None = None,
) -> SearchStrategy[Box]:
    """Boxes ``dom -> cod`` with a name from ``names`` (so equal boxes recur).

    >>> from hypothesis import given
    >>> @given(boxes(R(1), R(2), names=["w"]))
    ... def named(box):
    ...     assert box == Box("w", R(1), R(2))
    >>> named()
    """
    kwargs = st.just({}) if attrs is None else attrs
    return st.builds(_Boxes(dom, cod), st.sampled_from(tuple(names)), kwargs)


class _Boxes:
    """``Box(name, dom, cod, **attrs)`` as a named callable (hypothesis inspects lambdas)."""

    def __init__(self, dom: Ob, cod: Ob) -> None:
        self.dom, self.cod = dom, cod

    def __call__(self, name: str, attrs: dict[str, Any]) -> Box:
        return Box(name, self.dom, self.cod, **attrs)

    def __repr__(self) -> str:
        return f"Box(..., {self.dom!r}, {self.cod!r})"


def arrows(
    dom: Ob,
    cod: Ob,
    *,
    max_depth: int = 3,
    names: Sequence[str] = ("f", "g", "h"),
    attrs: SearchStrategy[dict[str, Any]] | None = None,
    exponentials: bool = True,
    coproducts: bool = True,
    logic: bool = True,
) -> SearchStrategy[Arrow]:
    """Arrows ``dom -> cod`` built from every constructor, nested at most ``max_depth``.

    Boxes are named from ``names``, with keyword attributes drawn from ``attrs``
    if given. If no arrow ``dom -> cod`` exists in non-empty models (``feasible``
    is false), the only arrows drawn are boxes. ``exponentials=False`` leaves out
    curry, uncurry and ev, ``coproducts=False`` copair, sum and the injections,
    ``logic=False`` the maps of ``Omega`` (for a semantics without them, or where
    they are costly), except where the given types call for them.

    >>> from hypothesis import given, settings
    >>> from topos import Omega
    >>> @settings(max_examples=10, derandomize=True)
    ... @given(arrows(R(1) + R(2), Omega, max_depth=2))
    ... def into_omega(p):
    ...     assert p.dom == R(1) + R(2) and p.cod == Omega
    >>> into_omega()
    """
    _check_ob("arrows", dom, cod)
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise ValueError(f"arrows: max_depth must be a non-negative int, got {max_depth!r}")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"arrows: names must be non-empty strings, got {names!r}")
    gen = _generator(tuple(names), attrs, exponentials, coproducts, logic)
    return gen.arrow(dom, cod, max_depth)


def composable(
    n: int,
    *,
    objects: SearchStrategy[Ob] | None = None,
    max_depth: int = 2,
    names: Sequence[str] = ("f", "g", "h"),
    exponentials: bool = True,
    coproducts: bool = True,
    logic: bool = True,
) -> SearchStrategy[tuple[Arrow, ...]]:
    """Tuples of ``n`` arrows ``f1: X0 -> X1, f2: X1 -> X2, ...``, each next domain the
    previous codomain, the objects drawn from ``objects`` (``objects(max_depth=1)``);
    the other options are those of ``arrows``.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True)
    ... @given(composable(2))
    ... def pairs(fs):
    ...     assert len(fs) == 2 and fs[0].cod == fs[1].dom
    >>> pairs()
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"composable: n must be a positive int, got {n!r}")
    obs = _objects(max_depth=1) if objects is None else objects
    gen = _generator(tuple(names), None, exponentials, coproducts, logic)

    @st.composite
    def chain(draw: DrawFn) -> tuple[Arrow, ...]:
        xs = [draw(obs)]
        for _ in range(n):
            xs.append(draw(feasible_from(obs, xs[-1])))
        return tuple(draw(gen.arrow(a, b, max_depth)) for a, b in zip(xs, xs[1:], strict=False))

    return chain()


_FEASIBLE: dict[tuple[SearchStrategy[Ob], Ob], SearchStrategy[Ob]] = {}


def feasible_from(objects: SearchStrategy[Ob], x: Ob) -> SearchStrategy[Ob]:
    """The objects of ``objects`` that ``x`` has arrows into (``feasible(x, y)``).

    >>> from hypothesis import given
    >>> @given(feasible_from(st.sampled_from([Zero, R(1)]), R(2)))
    ... def test(y):
    ...     assert y == R(1)
    >>> test()
    """
    key = (objects, x)
    if key not in _FEASIBLE:  # strategies are cached: building one costs hypothesis work
        if len(_FEASIBLE) > 10_000:
            _FEASIBLE.clear()
        _FEASIBLE[key] = objects.filter(_FeasibleFrom(x))
    return _FEASIBLE[key]


class _FeasibleFrom:
    # A callable object, not a lambda: hypothesis parses lambdas passed to filter.
    def __init__(self, x: Ob) -> None:
        self.x = x

    def __call__(self, y: Ob) -> bool:
        return feasible(self.x, y)

    def __repr__(self) -> str:
        return f"feasible_from({self.x!r})"


def _check_ob(op: str, *xs: object) -> None:
    for x in xs:
        if not isinstance(x, Ob):
            raise not_a(op, "an object (R, Fin, One, ...)", x)


@lru_cache(maxsize=4096)
def _small(x: Ob) -> bool:
    """Whether a finite semantics can enumerate ``x`` (at most ``MAX_ELEMENTS`` elements)."""
    return elements(x, cap=MAX_ELEMENTS + 1) <= MAX_ELEMENTS


def _parts(x: Ob) -> list[Ob]:
    if isinstance(x, (Product, Coproduct)):
        return [x.left, x.right]
    if isinstance(x, Exp):
        return [x.base, x.exponent]
    return []


_Rule = Callable[[DrawFn], Arrow]


def _const(f: Arrow) -> _Rule:
    return lambda draw: f


def _after(first: Arrow) -> Callable[[list[Arrow]], Arrow]:
    return lambda fs: first >> fs[0]


def _before(last: Arrow) -> Callable[[list[Arrow]], Arrow]:
    return lambda fs: fs[0] >> last


@lru_cache(maxsize=256)
def _index(n: int) -> SearchStrategy[int]:
    return st.integers(0, n - 1)


def _pick(draw: DrawFn, n: int) -> int:
    """An index below ``n`` (shrinking towards 0, the simplest choice)."""
    return 0 if n == 1 else draw(_index(n))


@st.composite
def _arrow_strategy(draw: DrawFn, gen: _Gen, dom: Ob, cod: Ob, depth: int) -> Arrow:
    # One composite for all types (defining a composite per type costs hypothesis work).
    return gen.draw(draw, dom, cod, depth)


@lru_cache(maxsize=64)
def _generator(
    names: tuple[str, ...],
    attrs: SearchStrategy[dict[str, Any]] | None,
    exponentials: bool = True,
    coproducts: bool = True,
    logic: bool = True,
) -> _Gen:
    return _Gen(names, attrs, exponentials, coproducts, logic)


class _Gen:
    """Type-directed generation: the rules that can build an arrow ``dom -> cod``."""

    def __init__(
        self,
        names: tuple[str, ...],
        attrs: SearchStrategy[dict[str, Any]] | None,
        exponentials: bool,
        coproducts: bool,
        logic: bool,
    ) -> None:
        self.names, self.attrs = st.sampled_from(names), attrs
        self.exponentials, self.coproducts, self.logic = exponentials, coproducts, logic
        self.rules: dict[tuple[Ob, Ob, int], list[_Rule]] = {}
        self.strategies: dict[tuple[Ob, Ob, int], SearchStrategy[Arrow]] = {}

    def arrow(self, dom: Ob, cod: Ob, depth: int) -> SearchStrategy[Arrow]:
        key = (dom, cod, depth)
        if key not in self.strategies:
            self.strategies[key] = _arrow_strategy(self, dom, cod, depth)
        return self.strategies[key]

    def draw(self, draw: DrawFn, dom: Ob, cod: Ob, depth: int) -> Arrow:
        """Draw an arrow ``dom -> cod``: choose a rule that fits the types, then its parts."""
        key = (dom, cod, depth)
        rules = self.rules.get(key)
        if rules is None:  # the rules depend on the types only: build them once
            rules = self._leaves(dom, cod)
            if depth > 0 and feasible(dom, cod):
                rules += self._nodes(dom, cod, depth - 1)
            if len(self.rules) > 10_000:
                self.rules.clear()
            self.rules[key] = rules
        return rules[_pick(draw, len(rules))](draw)

    def _box(self, dom: Ob, cod: Ob) -> _Rule:
        def box(draw: DrawFn) -> Arrow:
            attrs = {} if self.attrs is None else draw(self.attrs)
            return Box(draw(self.names), dom, cod, **attrs)

        return box

    def _leaves(self, dom: Ob, cod: Ob) -> list[_Rule]:
        """Arrows with no sub-arrows: structural maps that fit, and boxes."""
        found: list[Arrow] = []
        if dom == cod:
            found.append(Id(dom))
        if cod == One:
            found.append(ar_.discard(dom))
        if dom == Zero:
            found.append(ar_.absurd(cod))
        if cod == dom * dom:
            found.append(ar_.copy(dom))
        if isinstance(dom, Product):
            a, b = dom.left, dom.right
            found += [ar_.fst(a, b)] if a == cod else []
            found += [ar_.snd(a, b)] if b == cod else []
            found += [ar_.swap(a, b)] if cod == b * a else []
            if a == cod**b:
                found.append(ar_.ev(cod, b))
        if isinstance(cod, Coproduct):
            found += [ar_.inl(cod.left, cod.right)] if dom == cod.left else []
            found += [ar_.inr(cod.left, cod.right)] if dom == cod.right else []
        found += [op for _, op in _LOGIC_TYPES if (op.dom, op.cod) == (dom, cod)]
        rules = [_const(f) for f in found]
        if feasible(dom, cod) or not rules:
            rules.append(self._box(dom, cod))
        return rules

    def _nodes(self, dom: Ob, cod: Ob, depth: int) -> list[_Rule]:
        """Arrows built from sub-arrows, each of a feasible type, at ``depth``."""
        rules: list[_Rule] = []

        def add(combine: Callable[[list[Arrow]], Arrow], *types: tuple[Ob, Ob]) -> None:
            if all(feasible(d, c) and _small(d) and _small(c) for d, c in types):
                rules.append(self._rule(combine, types, depth))

        # Middle objects and ev's arguments come from the types at hand, so a
        # semantics sees no object much larger than those it was given; and no
        # object passed through has more than MAX_ELEMENTS elements.
        extra = [One, Omega] if self.logic else [One]
        pool = list(dict.fromkeys([dom, cod, *_parts(dom), *_parts(cod), *extra]))
        pool = [m for m in pool if _small(m)]
        mids = [m for m in pool if feasible(dom, m) and feasible(m, cod)]
        if mids and _small(dom) and _small(cod):
            rules.append(partial(self._via, dom=dom, cod=cod, mids=mids, depth=depth))
        if self.exponentials and _small(dom):
            # not an exponential itself: (B ** A) ** (B ** A) is astronomically large in
            # every finite semantics; higher-order ev still comes from the given types
            args = [
                a
                for a in pool
                if feasible(dom, a) and not isinstance(a, Exp) and _small(cod**a) and _small(a)
            ]
            if args:
                rules.append(partial(self._ev, dom=dom, cod=cod, args=args, depth=depth))
        if isinstance(cod, Product):
            add(lambda fs: ar_.pair(fs[0], fs[1]), (dom, cod.left), (dom, cod.right))
        if isinstance(dom, Product) and isinstance(cod, Product):
            add(lambda fs: fs[0] * fs[1], (dom.left, cod.left), (dom.right, cod.right))
        if isinstance(dom, Coproduct) and self.coproducts:
            add(lambda fs: ar_.copair(fs[0], fs[1]), (dom.left, cod), (dom.right, cod))
        if isinstance(dom, Coproduct) and isinstance(cod, Coproduct) and self.coproducts:
            add(lambda fs: fs[0] + fs[1], (dom.left, cod.left), (dom.right, cod.right))
        if isinstance(cod, Exp) and self.exponentials:
            add(lambda fs: ar_.curry(fs[0]), (dom * cod.exponent, cod.base))
        if isinstance(dom, Product) and self.exponentials and not isinstance(dom.right, Exp):
            add(lambda fs: ar_.uncurry(fs[0]), (dom.left, cod**dom.right))
        if isinstance(dom, Product):
            x, a = dom.left, dom.right
            add(_after(ar_.fst(x, a)), (x, cod))
            add(_after(ar_.snd(x, a)), (a, cod))
            add(_after(ar_.swap(x, a)), (a * x, cod))
        if isinstance(cod, Coproduct) and self.coproducts:
            add(_before(ar_.inl(cod.left, cod.right)), (dom, cod.left))
            add(_before(ar_.inr(cod.left, cod.right)), (dom, cod.right))
        add(_after(ar_.copy(dom)), (dom * dom, cod))
        add(_after(ar_.discard(dom)), (One, cod))
        if cod == Omega and self.logic:
            rules.append(partial(self._logic, dom=dom, depth=depth))
        return rules

    def _rule(
        self, combine: Callable[[list[Arrow]], Arrow], types: tuple[tuple[Ob, Ob], ...], depth: int
    ) -> _Rule:
        return lambda draw: combine([self.draw(draw, d, c, depth) for d, c in types])

    def _via(self, draw: DrawFn, *, dom: Ob, cod: Ob, mids: list[Ob], depth: int) -> Arrow:
        m = mids[_pick(draw, len(mids))]
        return self.draw(draw, dom, m, depth) >> self.draw(draw, m, cod, depth)

    def _ev(self, draw: DrawFn, *, dom: Ob, cod: Ob, args: list[Ob], depth: int) -> Arrow:
        a = args[_pick(draw, len(args))]
        f, x = self.draw(draw, dom, cod**a, depth), self.draw(draw, dom, a, depth)
        return ar_.pair(f, x) >> ar_.ev(cod, a)

    def _logic(self, draw: DrawFn, *, dom: Ob, depth: int) -> Arrow:
        op = draw(_LOGIC_OPS)
        if op in ("true", "false"):
            return ar_.discard(dom) >> Logic(op)
        p = self.draw(draw, dom, Omega, depth)
        if op == "neg":
            return p >> ar_.neg
        return ar_.pair(p, self.draw(draw, dom, Omega, depth)) >> Logic(op)
