"""Arrows of the free bicartesian closed category with a subobject classifier.

Generators are boxes ``Box(name, dom, cod, **attrs)``; everything else is
structure. Composition is written in diagrammatic order, ``f >> g`` ("f, then
g"). The laws of a category hold on the nose for ``==`` (composition is strict:
associativity and units are built into the representation):

>>> from topos.objects import R, One, Omega
>>> A, B, C, D = R(3), R(4), R(5), R(6)
>>> f, g, h = Box("f", A, B), Box("g", B, C), Box("h", C, D)
>>> assert (f >> g) >> h == f >> (g >> h)
>>> assert Id(A) >> f == f == f >> Id(B)

Cartesian, cocartesian and closed structure are constructors whose equations
hold up to ``topos.equal`` (decided by normal forms):

>>> from topos.normal import equal
>>> k = Box("k", C, B)
>>> assert equal(pair(f, f >> g) >> fst(B, C), f)
>>> assert equal(inl(A, C) >> copair(f, k), f)
>>> m = Box("m", A * C, B)
>>> assert equal(curry(m) * Id(C) >> ev(B, C), m)

Types are checked by every constructor; a mismatch raises ``TypeMismatch`` (a
``TypeError``) naming the operation and both types:

>>> f >> f
Traceback (most recent call last):
...
topos.errors.TypeMismatch: f >> f: codomain R(4) does not match domain R(3)

Arrows are immutable and hashable, ``eval(repr(f)) == f``, and ``str`` reads like
a blackboard:

>>> print(pair(f, Box("n", A, C)) >> swap(B, C) >> (Id(C) * Box("u", B, One)))
⟨f, n⟩ >> σ >> id * u
>>> curry(m)
curry(Box('m', R(3) * R(5), R(4)))

Every constructor runs in constant time and no algorithm here recurses along a
chain of compositions, so a chain of 100,000 boxes built one ``>>`` at a time is
fine to build, print, hash and compare.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from topos.errors import (
    TypeMismatch,
    brief,
    compose_mismatch,
    constant_misfit,
    expected,
    not_a,
    short,
    too_many_layers,
)
from topos.literals import ArrayData, misfit, value_key
from topos.objects import (
    Dim,
    Exp,
    Ob,
    Omega,
    One,
    Product,
    R,
    Unit,
    Zero,
    naming_events,
    shared_repr,
)

__all__ = [
    "Absurd",
    "Arrow",
    "ArrayData",
    "Box",
    "Compose",
    "Const",
    "Copair",
    "Copy",
    "Curry",
    "Discard",
    "Ev",
    "Fst",
    "Group",
    "Id",
    "Inl",
    "Inr",
    "Layer",
    "Logic",
    "MAX_UNROLLED_LAYERS",
    "Pair",
    "Recur",
    "Repeat",
    "Snd",
    "Stack",
    "Sum",
    "Swap",
    "Tensor",
    "absurd",
    "assoc",
    "compose",
    "conj",
    "copair",
    "copy",
    "curry",
    "discard",
    "disj",
    "ev",
    "false",
    "fold",
    "fst",
    "group",
    "implies",
    "inl",
    "inr",
    "neg",
    "pair",
    "recur",
    "reversal",
    "short",
    "snd",
    "stacked",
    "swap",
    "true",
    "uncurry",
    "unassoc",
]

# Composition is hashed with an associative polynomial hash, so that
# hash((f >> g) >> h) == hash(f >> (g >> h)) in O(1) per composition.
_MOD = (1 << 61) - 1
_BASE = 1_000_003

# Python operator precedence used for printing (higher binds tighter).
_SEQ, _ADD, _MUL, _ATOM = 1, 2, 3, 5

T = TypeVar("T")


def _check_ob(op: str, *xs: object) -> None:
    for x in xs:
        if not isinstance(x, Ob):
            raise not_a(op, "an object (R, Fin, One, ...)", x)


def _check_arrow(op: str, *fs: object) -> None:
    for f in fs:
        if not isinstance(f, Arrow):
            raise not_a(op, "an arrow", f)


class Arrow:
    """An arrow ``dom -> cod``. Subclasses are the constructors of the free structure.

    Each node has a *head* (its kind and non-arrow data) and *children* (arrows).
    ``Compose`` presents the whole flattened chain as its children.
    """

    __slots__ = ("dom", "cod", "_hash", "_poly")
    dom: Ob
    cod: Ob
    _hash: int
    _poly: tuple[int, int]

    _prec: ClassVar[int] = _ATOM

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _init(self, dom: Ob, cod: Ob) -> None:
        object.__setattr__(self, "dom", dom)
        object.__setattr__(self, "cod", cod)
        h = hash((type(self).__name__, self.head, tuple(hash(c) for c in self.children)))
        object.__setattr__(self, "_hash", h)
        object.__setattr__(self, "_poly", (h % _MOD, _BASE))

    # -- structure --------------------------------------------------------------
    @property
    def head(self) -> tuple[Any, ...]:
        """The non-arrow data of this node (names, objects, attributes)."""
        return ()

    @property
    def children(self) -> tuple[Arrow, ...]:
        """The arrows this node is built from."""
        return ()

    # -- values -----------------------------------------------------------------
    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Arrow):
            return NotImplemented
        return _structural_eq(self, other)

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __repr__(self) -> str:
        return shared_repr(lambda: _render(self, repr))

    def __str__(self) -> str:
        return _render(self, str)

    def _prefix(self, limit: int, show: Callable[[object], str] = str) -> str:
        """The first ``limit`` characters of ``str`` (or ``repr``), at bounded cost."""
        return _render(self, show, limit)

    def __reduce__(self) -> tuple[Any, ...]:
        from topos import serial

        return (serial.loads, (serial.dumps(self),))

    def _repr_svg_(self) -> str:
        """The string diagram as SVG (``topos.draw.draw``), shown by Jupyter."""
        from topos.draw import draw

        return draw(self)

    # -- operators --------------------------------------------------------------
    def __call__(self, *args: Any) -> Any:
        """Inside a traced function (``topos.syntax``): this arrow applied to symbolic values."""
        from topos.syntax.ops import call

        return call(self, *args)

    def __rshift__(self, other: Arrow) -> Arrow:
        if getattr(other, "_mixes_with_arrows", False):
            return NotImplemented  # e.g. f >> p for a Para p: Para.__rrshift__ lifts f
        return compose(self, other)

    def __mul__(self, other: Arrow) -> Tensor:
        if getattr(other, "_mixes_with_arrows", False):
            return NotImplemented  # f * p for a Para p: Para.__rmul__
        _check_arrow("*", other)
        return Tensor(self, other)

    def __add__(self, other: Arrow) -> Sum:
        _check_arrow("+", other)
        return Sum(self, other)

    # -- printing hooks ---------------------------------------------------------
    def _atom(self, show: Callable[[object], str]) -> str:
        raise NotImplementedError

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        return self._atom(show)


def _structural_eq(a: Arrow, b: Arrow) -> bool:
    # Memoised on pairs of nodes: shared sub-diagrams are compared once (linear time).
    seen: set[tuple[int, int]] = set()
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y or (id(x), id(y)) in seen:
            continue
        seen.add((id(x), id(y)))
        if type(x) is not type(y) or x._hash != y._hash or x.head != y.head:
            return False
        xs, ys = x.children, y.children
        if len(xs) != len(ys):
            return False
        stack.extend(zip(xs, ys, strict=True))
    return True


def fold(
    arrow: Arrow,
    fn: Callable[[Arrow, list[T]], T],
    *,
    enter: Callable[[Arrow], bool] | None = None,
) -> T:
    """Evaluate ``fn(node, [results of node.children])`` bottom-up, without recursion.

    Shared sub-arrows are visited once. A ``Compose`` node receives the results
    of its whole flattened chain, so long chains cost linear time. Nodes for which
    ``enter(node)`` is false are not descended into (``fn`` gets no results).

    >>> from topos.objects import R
    >>> f = Box("f", R(1), R(1))
    >>> fold(f >> f >> f, lambda node, kids: 1 + sum(kids))
    4
    >>> fold(group("g", f >> f) >> f, lambda node, kids: 1 + sum(kids),
    ...      enter=lambda node: not isinstance(node, Group))
    3
    """
    memo: dict[int, T] = {}
    kids: dict[int, tuple[Arrow, ...]] = {}
    stack: list[tuple[Arrow, bool]] = [(arrow, False)]
    while stack:
        node, ready = stack.pop()
        key = id(node)
        if key in memo:
            continue
        if ready:
            memo[key] = fn(node, [memo[id(c)] for c in kids[key]])
            continue
        children = node.children if enter is None or enter(node) else ()
        kids[key] = children
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(children) if id(c) not in memo)
    return memo[id(arrow)]


def _render(arrow: Arrow, show: Callable[[object], str], limit: int | None = None) -> str:
    """The text of ``arrow``, streamed piece by piece (linear in the printed size).

    With ``limit``, printing stops after ``limit`` characters: an error message
    shows a bounded prefix of an arrow at bounded cost. Each node's ``_text`` is
    asked once, with numbered holes for its children, and its pieces are cached,
    so a 10,000-deep nesting prints without copying its inner text at each level.
    A node that prints a large object is asked again at each occurrence: inside
    ``repr`` the object is named at its first occurrence and referred to by name
    after (``topos.objects.shared_repr``).
    """
    out: list[str] = []
    length = 0
    pieces: dict[int, list[str | Arrow]] = {}
    todo: list[str | Arrow] = [arrow]
    while todo and (limit is None or length <= limit):
        item = todo.pop()
        if isinstance(item, str):
            out.append(item)
            length += len(item)
            continue
        known = pieces.get(id(item))
        if known is None:
            events = naming_events()
            known = _pieces(item, show)
            if naming_events() == events:  # no large object in it: the same text each time
                pieces[id(item)] = known
        todo.extend(reversed(known))
    text = "".join(out)
    return text if limit is None else text[:limit]


_HOLE = "\x00"  # marks where a child's text goes in a node's ``_text`` (never in symbols)


def _pieces(node: Arrow, show: Callable[[object], str]) -> list[str | Arrow]:
    """``node._text`` as literal strings and the children that go between them."""
    kids = node.children
    if not kids:
        return [node._text(show, [])]
    holes = [(f"{_HOLE}{i}{_HOLE}", kid._prec) for i, kid in enumerate(kids)]
    split = node._text(show, holes).split(_HOLE)
    if len(split) != 2 * len(kids) + 1:  # a name holding the marker: print it whole
        return [_render_whole(node, show)]
    return [kids[int(p)] if i % 2 else p for i, p in enumerate(split) if p or i % 2]


def _render_whole(arrow: Arrow, show: Callable[[object], str]) -> str:
    def step(node: Arrow, parts: list[tuple[str, int]]) -> tuple[str, int]:
        return node._text(show, parts), node._prec

    return fold(arrow, step)[0]


def _wrap(part: tuple[str, int], prec: int) -> str:
    text, p = part
    return f"({text})" if p < prec else text


# ---------------------------------------------------------------------------------
# Generators


class Box(Arrow):
    """A generating arrow ``name: dom -> cod``; keyword attributes take part in equality.

    Attribute values are compared by type and value, as their ``repr`` tells them
    apart: ``1``, ``True`` and ``1.0`` are different attributes, as are ``0.0``
    and ``-0.0``; a NaN equals any NaN (so a box with ``k=nan`` equals itself
    after a JSON round trip). Tuples are compared entry by entry this way.

    >>> from topos.objects import R
    >>> Box("f", R(3), R(4), kind="linear")
    Box('f', R(3), R(4), kind='linear')
    >>> Box("f", R(3), R(4)) == Box("f", R(3), R(4), kind="linear")
    False
    >>> Box("f", R(3), R(4), kind="linear").attrs["kind"]
    'linear'
    >>> Box("f", R(3), R(4), k=1) == Box("f", R(3), R(4), k=True)
    False
    >>> Box("f", R(3), R(4), k=float("nan")) == Box("f", R(3), R(4), k=float("nan"))
    True
    """

    __slots__ = ("name", "_attrs", "_key")
    name: str
    _attrs: tuple[tuple[str, Any], ...]
    _key: tuple[Any, ...]

    def __init__(self, name: str, dom: Ob, cod: Ob, **attrs: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Box: name must be a non-empty string, got {name!r}")
        _check_ob(f"Box {name!r}", dom, cod)
        for key, value in attrs.items():
            try:
                hash(value)
            except TypeError:
                raise TypeError(
                    f"Box {name!r}: attribute {key}={value!r} is not hashable"
                    " (use tuples instead of lists)"
                ) from None
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_attrs", tuple(sorted(attrs.items())))
        typed = tuple((k, _attr_key(v)) for k, v in self._attrs)
        object.__setattr__(self, "_key", (name, dom, cod, typed))
        self._init(dom, cod)

    @property
    def attrs(self) -> dict[str, Any]:
        """The keyword attributes, as a fresh dict."""
        return dict(self._attrs)

    @property
    def head(self) -> tuple[Any, ...]:
        return self._key

    def _atom(self, show: Callable[[object], str]) -> str:
        if show is str:
            return self.name
        extra = "".join(f", {k}={v!r}" for k, v in self._attrs)
        return f"Box({self.name!r}, {self.dom!r}, {self.cod!r}{extra})"


def _attr_key(v: Any) -> Any:
    """What an attribute value is compared by: its type and value (a float by its bits)."""
    if isinstance(v, tuple):
        return (tuple, tuple(_attr_key(w) for w in v))
    if isinstance(v, float):
        return (type(v), "nan" if v != v else v.hex())
    return (type(v), v)


class _Structural(Arrow):
    """A structural arrow determined by objects (identity, projections, ev ...)."""

    __slots__ = ("obs",)
    obs: tuple[Ob, ...]
    _symbol: ClassVar[str]
    _fn: ClassVar[str]

    def __init__(self, *obs: Ob) -> None:
        _check_ob(self._fn, *obs)
        object.__setattr__(self, "obs", obs)
        dom, cod = self._type(*obs)
        self._init(dom, cod)

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        raise NotImplementedError

    @property
    def head(self) -> tuple[Any, ...]:
        return self.obs

    def _atom(self, show: Callable[[object], str]) -> str:
        if show is str:
            return self._symbol
        return f"{self._fn}({', '.join(repr(x) for x in self.obs)})"


class Id(_Structural):
    """The identity ``Id(A): A -> A``; ``Id(A) >> f == f``."""

    __slots__ = ()
    _symbol, _fn = "id", "Id"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return obs[0], obs[0]

    def __init__(self, dom: Ob) -> None:
        super().__init__(dom)


class Fst(_Structural):
    """The first projection ``fst(A, B): A * B -> A``."""

    __slots__ = ()
    _symbol, _fn = "π₁", "fst"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return obs[0] * obs[1], obs[0]


class Snd(_Structural):
    """The second projection ``snd(A, B): A * B -> B``."""

    __slots__ = ()
    _symbol, _fn = "π₂", "snd"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return obs[0] * obs[1], obs[1]


class Copy(_Structural):
    """The diagonal ``copy(A): A -> A * A`` (equal to ``pair(Id(A), Id(A))``)."""

    __slots__ = ()
    _symbol, _fn = "Δ", "copy"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return obs[0], obs[0] * obs[0]


class Discard(_Structural):
    """The unique map ``discard(A): A -> One``."""

    __slots__ = ()
    _symbol, _fn = "!", "discard"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return obs[0], One


class Swap(_Structural):
    """The symmetry ``swap(A, B): A * B -> B * A``."""

    __slots__ = ()
    _symbol, _fn = "σ", "swap"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return obs[0] * obs[1], obs[1] * obs[0]


class Inl(_Structural):
    """The left injection ``inl(A, B): A -> A + B``."""

    __slots__ = ()
    _symbol, _fn = "ι₁", "inl"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return obs[0], obs[0] + obs[1]


class Inr(_Structural):
    """The right injection ``inr(A, B): B -> A + B``."""

    __slots__ = ()
    _symbol, _fn = "ι₂", "inr"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return obs[1], obs[0] + obs[1]


class Absurd(_Structural):
    """The unique map ``absurd(A): Zero -> A``."""

    __slots__ = ()
    _symbol, _fn = "¡", "absurd"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return Zero, obs[0]


class Ev(_Structural):
    """Evaluation ``ev(B, A): B ** A * A -> B``: apply a function to an argument."""

    __slots__ = ()
    _symbol, _fn = "ev", "ev"

    def _type(self, *obs: Ob) -> tuple[Ob, Ob]:
        return (obs[0] ** obs[1]) * obs[1], obs[0]


_LOGIC = {
    "true": ("⊤", One, Omega),
    "false": ("⊥", One, Omega),
    "conj": ("∧", Omega * Omega, Omega),
    "disj": ("∨", Omega * Omega, Omega),
    "implies": ("⇒", Omega * Omega, Omega),
    "neg": ("¬", Omega, Omega),
}


class Logic(Arrow):
    """The structure maps of ``Omega``: true, false, conj, disj, implies, neg.

    They make ``Omega`` an internal Heyting algebra (Boolean in ``topos.finite``'s
    sets, not in presheaves).
    """

    __slots__ = ("op",)
    op: str

    def __init__(self, op: str) -> None:
        if op not in _LOGIC:
            raise ValueError(f"Logic: unknown connective {op!r}, expected one of {sorted(_LOGIC)}")
        object.__setattr__(self, "op", op)
        _, dom, cod = _LOGIC[op]
        self._init(dom, cod)

    @property
    def head(self) -> tuple[Any, ...]:
        return (self.op,)

    def _atom(self, show: Callable[[object], str]) -> str:
        return _LOGIC[self.op][0] if show is str else self.op


true, false = Logic("true"), Logic("false")
conj, disj, implies, neg = Logic("conj"), Logic("disj"), Logic("implies"), Logic("neg")


# ---------------------------------------------------------------------------------
# Binary constructors


class _Binary(Arrow):
    __slots__ = ("left", "right")
    left: Arrow
    right: Arrow

    @property
    def children(self) -> tuple[Arrow, ...]:
        return (self.left, self.right)

    def _set(self, left: Arrow, right: Arrow, dom: Ob, cod: Ob) -> None:
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)
        self._init(dom, cod)


class Compose(_Binary):
    """``left >> right``. Build it with ``>>`` or ``compose``, which drop identities.

    Its ``children`` are the whole flattened chain, so equality and hashing see
    composition as associative.
    """

    __slots__ = ()
    _prec = _SEQ

    def __init__(self, left: Arrow, right: Arrow) -> None:
        if left.cod != right.dom:
            raise compose_mismatch(">>", left, right, left.cod, right.dom)
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)
        object.__setattr__(self, "dom", left.dom)
        object.__setattr__(self, "cod", right.cod)
        (v1, p1), (v2, p2) = left._poly, right._poly
        poly = ((v1 * p2 + v2) % _MOD, (p1 * p2) % _MOD)
        object.__setattr__(self, "_poly", poly)
        object.__setattr__(self, "_hash", hash(("Compose", poly)))

    @property
    def children(self) -> tuple[Arrow, ...]:
        out: list[Arrow] = []
        stack: list[Arrow] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, Compose):
                stack.append(node.right)
                stack.append(node.left)
            else:
                out.append(node)
        return tuple(out)

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        return " >> ".join(_wrap(p, _SEQ + 1) for p in parts)


def compose(*arrows: Arrow) -> Arrow:
    """Diagrammatic composition ``f >> g >> ...``; identities are dropped.

    >>> from topos.objects import R
    >>> f = Box("f", R(1), R(2))
    >>> compose(Id(R(1)), f, Id(R(2))) is f
    True
    """
    if not arrows:
        raise TypeError("compose: needs at least one arrow")
    _check_arrow(">>", *arrows)
    out = arrows[0]
    for g in arrows[1:]:
        if out.cod != g.dom:
            raise compose_mismatch(">>", out, g, out.cod, g.dom)
        if isinstance(g, Id):
            continue
        out = g if isinstance(out, Id) else Compose(out, g)
    return out


class Tensor(_Binary):
    """``left * right: A * C -> B * D``, the two arrows side by side."""

    __slots__ = ()
    _prec = _MUL

    def __init__(self, left: Arrow, right: Arrow) -> None:
        _check_arrow("*", left, right)
        self._set(left, right, left.dom * right.dom, left.cod * right.cod)

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        return f"{_wrap(parts[0], _MUL)} * {_wrap(parts[1], _MUL + 1)}"


class Sum(_Binary):
    """``left + right: A + C -> B + D``, the two arrows as alternatives."""

    __slots__ = ()
    _prec = _ADD

    def __init__(self, left: Arrow, right: Arrow) -> None:
        _check_arrow("+", left, right)
        self._set(left, right, left.dom + right.dom, left.cod + right.cod)

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        return f"{_wrap(parts[0], _ADD)} + {_wrap(parts[1], _ADD + 1)}"


class Pair(_Binary):
    """``pair(f, g): X -> A * B`` for ``f: X -> A`` and ``g: X -> B``, written ⟨f, g⟩."""

    __slots__ = ()

    def __init__(self, left: Arrow, right: Arrow) -> None:
        _check_arrow("pair", left, right)
        if left.dom != right.dom:
            raise TypeMismatch(
                f"pair({short(left)}, {short(right)}): domain {brief(left.dom)} of the first"
                f" does not match domain {brief(right.dom)} of the second"
            )
        self._set(left, right, left.dom, left.cod * right.cod)

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        a, b = parts[0][0], parts[1][0]
        return f"⟨{a}, {b}⟩" if show is str else f"pair({a}, {b})"


class Copair(_Binary):
    """``copair(f, g): A + B -> X`` for ``f: A -> X`` and ``g: B -> X``, written [f, g]."""

    __slots__ = ()

    def __init__(self, left: Arrow, right: Arrow) -> None:
        _check_arrow("copair", left, right)
        if left.cod != right.cod:
            raise TypeMismatch(
                f"copair({short(left)}, {short(right)}): codomain {brief(left.cod)} of the first"
                f" does not match codomain {brief(right.cod)} of the second"
            )
        self._set(left, right, left.dom + right.dom, left.cod)

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        a, b = parts[0][0], parts[1][0]
        return f"[{a}, {b}]" if show is str else f"copair({a}, {b})"


class Curry(Arrow):
    """``curry(m): X -> B ** A`` for ``m: X * A -> B`` (Λm); it abstracts the right factor."""

    __slots__ = ("arrow",)
    arrow: Arrow

    def __init__(self, arrow: Arrow) -> None:
        _check_arrow("curry", arrow)
        if not isinstance(arrow.dom, Product):
            raise expected(f"curry({short(arrow)})", "an arrow out of a product X * A", arrow.dom)
        object.__setattr__(self, "arrow", arrow)
        self._init(arrow.dom.left, arrow.cod**arrow.dom.right)

    @property
    def children(self) -> tuple[Arrow, ...]:
        return (self.arrow,)

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        return f"Λ({parts[0][0]})" if show is str else f"curry({parts[0][0]})"


# ---------------------------------------------------------------------------------
# Constructor functions: the public vocabulary.


def pair(f: Arrow, g: Arrow) -> Pair:
    """⟨f, g⟩: X -> A * B, the arrow into a product. See ``Pair``."""
    return Pair(f, g)


def copair(f: Arrow, g: Arrow) -> Copair:
    """[f, g]: A + B -> X, the arrow out of a coproduct (case analysis). See ``Copair``."""
    return Copair(f, g)


def fst(a: Ob, b: Ob) -> Fst:
    """π₁: A * B -> A."""
    return Fst(a, b)


def snd(a: Ob, b: Ob) -> Snd:
    """π₂: A * B -> B."""
    return Snd(a, b)


def copy(a: Ob) -> Copy:
    """Δ: A -> A * A."""
    return Copy(a)


def discard(a: Ob) -> Discard:
    """!: A -> One."""
    return Discard(a)


def swap(a: Ob, b: Ob) -> Swap:
    """σ: A * B -> B * A."""
    return Swap(a, b)


def inl(a: Ob, b: Ob) -> Inl:
    """ι₁: A -> A + B."""
    return Inl(a, b)


def inr(a: Ob, b: Ob) -> Inr:
    """ι₂: B -> A + B."""
    return Inr(a, b)


def absurd(a: Ob) -> Absurd:
    """¡: Zero -> A."""
    return Absurd(a)


def ev(b: Ob, a: Ob) -> Ev:
    """ev: B ** A * A -> B."""
    return Ev(b, a)


def curry(m: Arrow) -> Curry:
    """Λm: X -> B ** A for m: X * A -> B. See ``Curry``."""
    return Curry(m)


def uncurry(c: Arrow) -> Arrow:
    """For ``c: X -> B ** A``, the arrow ``X * A -> B`` equal to ``c * Id(A) >> ev(B, A)``.

    >>> from topos.objects import R
    >>> from topos.normal import equal
    >>> m = Box("m", R(1) * R(2), R(3))
    >>> equal(uncurry(curry(m)), m)
    True
    """
    _check_arrow("uncurry", c)
    if not isinstance(c.cod, Exp):
        raise expected(f"uncurry({short(c)})", "an arrow into an exponential B ** A", c.cod)
    return Tensor(c, Id(c.cod.exponent)) >> ev(c.cod.base, c.cod.exponent)


def assoc(a: Ob, b: Ob, c: Ob) -> Arrow:
    """The associator ``(A * B) * C -> A * (B * C)``, built from projections."""
    ab = a * b
    return pair(fst(ab, c) >> fst(a, b), pair(fst(ab, c) >> snd(a, b), snd(ab, c)))


def unassoc(a: Ob, b: Ob, c: Ob) -> Arrow:
    """The inverse associator ``A * (B * C) -> (A * B) * C``."""
    bc = b * c
    return pair(pair(fst(a, bc), snd(a, bc) >> fst(b, c)), snd(a, bc) >> snd(b, c))


# ---------------------------------------------------------------------------------
# Structure as constructors: named sub-diagrams, stacks of layers, constants.
#
# Each has a default meaning in every ``topos.functor.Category`` (a group is its
# body, a repeat its unrolling), so functors, ``equal`` and the finite semantics
# need no special cases; drawing, the analysis and the JAX backend override the
# default where they can do better (a frame, a fixpoint, a ``lax.scan``).


def _check_attrs(op: str, attrs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    for key, value in attrs.items():
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"{op}: attribute {key}={value!r} is not hashable (use tuples instead of lists)"
            ) from None
    return tuple(sorted(attrs.items()))


class Group(Arrow):
    """A named sub-diagram: ``group(name, body)`` *is* ``body`` with a name on it.

    It has the body's type, every semantics interprets it as its body, and
    ``equal`` sees through it; drawing shows it as a frame and the analysis
    names the witnesses it contains by it. Attributes are documentation.

    >>> from topos.objects import R
    >>> from topos.normal import equal
    >>> f = Box("f", R(2), R(2))
    >>> blk = group("block", f >> f, role="mlp")
    >>> blk, str(blk), blk.body == f >> f
    (group('block', Box('f', R(2), R(2)) >> Box('f', R(2), R(2)), role='mlp'), 'block', True)
    >>> equal(blk, f >> f), blk == f >> f
    (True, False)
    """

    __slots__ = ("name", "body", "_attrs")
    name: str
    body: Arrow
    _attrs: tuple[tuple[str, Any], ...]

    def __init__(self, name: str, body: Arrow, **attrs: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"group: name must be a non-empty string, got {name!r}")
        if not isinstance(body, Arrow):
            raise not_a(f"group({name!r})", "an arrow as the body", body)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "_attrs", _check_attrs(f"group({name!r})", attrs))
        self._init(body.dom, body.cod)

    @property
    def attrs(self) -> dict[str, Any]:
        """The keyword attributes, as a fresh dict."""
        return dict(self._attrs)

    @property
    def head(self) -> tuple[Any, ...]:
        return (self.name, self._attrs)

    @property
    def children(self) -> tuple[Arrow, ...]:
        return (self.body,)

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        if show is str:
            return self.name
        extra = "".join(f", {k}={v!r}" for k, v in self._attrs)
        return f"group({self.name!r}, {parts[0][0]}{extra})"


def group(name: str, body: Arrow, **attrs: Any) -> Group:
    """The named sub-diagram ``name`` standing for ``body``. See ``Group``."""
    return Group(name, body, **attrs)


def stacked(x: Ob, n: int) -> Ob:
    """The object of ``n`` stacked copies of the parameter object ``x``.

    Each ``R(*s)`` leaf becomes ``R(n, *s)`` (an array with a leading layer axis,
    isomorphic to the ``n``-fold product); ``One`` leaves stay ``One``.

    >>> from topos.objects import R, One
    >>> stacked(R(4, 4) * (R(4) * One), 3)
    R(3, 4, 4) * (R(3, 4) * One)
    >>> stacked(Omega, 3)
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: stacked(Omega, 3): expected parameter leaves R(...) or One, got Omega
    """
    _check_ob("stacked", x)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError(f"stacked: n must be an int >= 1, got {n!r}")
    return _stacked(x, n)


@functools.lru_cache(maxsize=1024)  # one object per (x, n): each layer of an unrolling asks
def _stacked(x: Ob, n: int) -> Ob:
    return _leading(x, n, f"stacked({short(x)}, {n})", "parameter leaves R(...) or One")


def _leading(x: Ob, n: int | Dim, where: str, wanted: str) -> Ob:
    """``x`` with an axis of length ``n`` put before each ``R`` leaf; other leaves refused."""
    done: list[Ob] = []
    stack: list[tuple[Ob, bool]] = [(x, False)]
    while stack:
        y, ready = stack.pop()
        if ready:
            right, left = done.pop(), done.pop()
            done.append(left * right)
        elif isinstance(y, Product):
            stack += [(y, True), (y.right, False), (y.left, False)]
        elif isinstance(y, Unit):
            done.append(y)
        elif isinstance(y, R):
            done.append(R(n, *y.shape, dtype=y.dtype))
        else:
            raise expected(where, wanted, y)
    return done[0]


class Layer(Arrow):
    """``Layer(p, n, i): stacked(p, n) -> p``, the ``i``-th slice of a stack.

    The unrolling of a ``Repeat`` feeds layer ``i`` its slice of the parameters
    through it; the unrolling of a ``Recur`` reads item ``i`` of the sequence.

    >>> from topos.objects import R
    >>> Layer(R(4) * R(2), 3, 1).dom, str(Layer(R(4), 3, 1))
    (R(3, 4) * R(3, 2), 'layer[1]')
    """

    __slots__ = ("ob", "n", "index")
    ob: Ob
    n: int
    index: int

    def __init__(self, ob: Ob, n: int, index: int) -> None:
        dom = stacked(ob, n)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise TypeError(f"Layer: index must be an int in [0, {n}), got {index!r}")
        object.__setattr__(self, "ob", ob)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "index", index)
        self._init(dom, ob)

    @property
    def name(self) -> str:
        return f"layer[{self.index}]"

    @property
    def head(self) -> tuple[Any, ...]:
        return (self.ob, self.n, self.index)

    def _atom(self, show: Callable[[object], str]) -> str:
        return self.name if show is str else f"Layer({self.ob!r}, {self.n}, {self.index})"


#: The most layers of repeats written out where a semantics unrolls them (``unroll()``,
#: ``normal_form``, the finite semantics): past it they refuse, naming this limit. A
#: repeat of ``10**9`` layers is a few bytes; its unrolling would not fit anywhere.
MAX_UNROLLED_LAYERS = 100_000


class Repeat(Arrow):
    """``Repeat(body, n)``: the ``n``-fold composite of ``body: P * A -> A``, parameters stacked.

    Its type is ``stacked(P, n) * A -> A``: layer ``i`` reads slice ``i`` of each
    parameter. Every semantics interprets it as its unrolling (``unroll()``); the
    JAX backend runs it as a ``lax.scan``, drawing and the analysis take it whole,
    and ``equal`` compares two repeats by body and count before unrolling. What
    must unroll refuses past ``MAX_UNROLLED_LAYERS`` layers.

    >>> from topos.objects import R
    >>> from topos.normal import equal
    >>> body = Box("layer", R(2, 2) * R(2), R(2))
    >>> deep = Repeat(body, 3)
    >>> deep.dom, str(deep), deep.n
    (R(3, 2, 2) * R(2), 'layer×3', 3)
    >>> equal(deep, deep.unroll())
    True
    >>> huge = Repeat(body, 10**9)
    >>> equal(huge, group("g", huge))
    True
    >>> huge.unroll()
    Traceback (most recent call last):
    ...
    topos.errors.TooLarge: layer×1000000000.unroll(): unrolls to at least 1000000000 layers, ...
    """

    __slots__ = ("body", "n")
    body: Arrow
    n: int

    def __init__(self, body: Arrow, n: int) -> None:
        _check_arrow("Repeat", body)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TypeError(f"Repeat: n must be an int >= 1, got {n!r}")
        dom = body.dom
        if not isinstance(dom, Product) or dom.right != body.cod:
            raise expected(
                f"Repeat({short(body)}, {n})", f"a body P * A -> A with A = {body.cod!r}", dom
            )
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "n", n)
        self._init(stacked(dom.left, n) * dom.right, body.cod)

    @property
    def name(self) -> str:
        """``×n``, or ``block ×n`` when the body is the group ``block``."""
        inner = f"{self.body.name} " if isinstance(self.body, Group) else ""
        return f"{inner}×{self.n}"

    @property
    def params(self) -> Ob:
        """The parameter object ``P`` of one layer."""
        dom = self.body.dom
        assert isinstance(dom, Product)
        return dom.left

    @property
    def head(self) -> tuple[Any, ...]:
        return (self.n,)

    @property
    def children(self) -> tuple[Arrow, ...]:
        return (self.body,)

    def unroll(self) -> Arrow:
        """The explicit composite: ``⟨layer[i] ∘ π₁, state⟩ ; body`` for each ``i``, in order.

        Refused (``TooLarge``) past ``MAX_UNROLLED_LAYERS`` layers.
        """
        if self.n > MAX_UNROLLED_LAYERS:
            raise too_many_layers(f"{short(self)}.unroll()", self.n, MAX_UNROLLED_LAYERS)
        p, a, n = self.params, self.cod, self.n
        s = stacked(p, n)
        first, second = fst(s, a), snd(s, a)  # shared: each layer's types compare by identity
        steps = [pair(first >> Layer(p, n, i), second) >> self.body for i in range(n)]
        return compose(*(pair(first, step) for step in steps[:-1]), steps[-1])

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        if show is str:
            return f"{_wrap(parts[0], _ATOM)}×{self.n}"
        return f"Repeat({parts[0][0]}, {self.n})"


class Const(Arrow):
    """A constant ``One -> cod``: a global element whose value is an opaque, hashable handle.

    The value is a literal (a number, a boolean, nested tuples of them), an
    ``ArrayData`` held by content, or a reference a library defines (``topos.para``
    freezes a parameter as a ``Frozen`` reference read by path). Semantics give
    it meaning; a functor's ``ar`` map may too, like a generator's. A literal or
    an array must fit ``cod`` (its shape, and entries of its kind:
    ``topos.literals.misfit``), and a float is compared by its bits, so
    ``Const(R(), 0.0) != Const(R(), -0.0)`` and a NaN constant equals itself.

    >>> from topos.objects import R
    >>> c = Const(R(2), (1.0, 2.0), name="bias")
    >>> c, str(c), c.dom
    (Const(R(2), (1.0, 2.0), name='bias'), 'bias', One)
    >>> Const(R(3), (1.0, 2.0))
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: Const: the value (1.0, 2.0) does not fit the object R(3): shape ...
    """

    __slots__ = ("value", "name")
    value: Any
    name: str

    def __init__(self, cod: Ob, value: Any, name: str = "const") -> None:
        _check_ob("Const", cod)
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"Const: the value must be hashable (a number, tuples, ArrayData), got"
                f" {type(value).__name__}"
            ) from None
        if not isinstance(name, str) or not name:
            raise TypeError(f"Const: name must be a non-empty string, got {name!r}")
        why = misfit(cod, value)
        if why is not None:
            raise constant_misfit(value, cod, why)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "name", name)
        self._init(One, cod)

    @property
    def head(self) -> tuple[Any, ...]:
        return (self.cod, value_key(self.value), self.name)

    def _atom(self, show: Callable[[object], str]) -> str:
        if show is str:
            return self.name
        extra = "" if self.name == "const" else f", name={self.name!r}"
        return f"Const({self.cod!r}, {self.value!r}{extra})"


# ---------------------------------------------------------------------------------
# Recurrence: a fold over a sequence axis with shared parameters.


def _seq(op: str, x: Ob, n: int | Dim) -> Ob:
    """``stacked(x, n)`` where ``n`` may also be a ``Dim`` (the folded axis of a ``Recur``)."""
    if isinstance(n, Dim):
        return _leading(x, n, f"{op}: the sequence of {short(x)}", "leaves R(...) or One")
    try:
        return stacked(x, n)
    except TypeMismatch:
        raise expected(f"{op}: the sequence of {short(x)}", "leaves R(...) or One", x) from None


def _check_length(op: str, n: object) -> None:
    if isinstance(n, Dim):
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError(f"{op}: n must be an int >= 1 or a Dim, got {n!r}")


def _snoc(ob: Ob, n: int) -> Ob:
    """The left-nested product ``((ob * ob) * ob) ...`` of ``n`` copies (``ob`` for ``n = 1``)."""
    out = ob
    for _ in range(n - 1):
        out = out * ob
    return out


class Stack(Arrow):
    """``Stack(ob, n): ((ob * ob) * ...) -> stacked(ob, n)``: ``n`` items into one sequence.

    The inverse of the slices ``Layer(ob, n, i)``: its domain is the left-nested
    product of ``n`` copies of ``ob`` (item ``0`` innermost, the order a left fold
    appends them), its codomain the stacked sequence. ``equal`` knows
    ``Stack ; Layer(i)`` is the ``i``-th projection and ``⟨Layer(0), ...⟩ ; Stack`` is
    the identity. The unrolling of a ``Recur`` gathers its outputs through it.

    >>> from topos.objects import R
    >>> from topos.normal import equal
    >>> s = Stack(R(2), 3)
    >>> s.dom, s.cod, str(s)
    (R(2) * R(2) * R(2), R(3, 2), 'stack')
    >>> first = fst(R(2) * R(2), R(2)) >> fst(R(2), R(2))
    >>> equal(s >> Layer(R(2), 3, 0), first)
    True
    """

    __slots__ = ("ob", "n")
    ob: Ob
    n: int

    def __init__(self, ob: Ob, n: int) -> None:
        _check_ob("Stack", ob)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TypeError(f"Stack: n must be an int >= 1, got {n!r}")
        if n > MAX_UNROLLED_LAYERS:
            raise too_many_layers(f"Stack({short(ob)}, {n})", n, MAX_UNROLLED_LAYERS)
        cod = _seq("Stack", ob, n)
        object.__setattr__(self, "ob", ob)
        object.__setattr__(self, "n", n)
        self._init(_snoc(ob, n), cod)

    @property
    def head(self) -> tuple[Any, ...]:
        return (self.ob, self.n)

    def _atom(self, show: Callable[[object], str]) -> str:
        return "stack" if show is str else f"Stack({self.ob!r}, {self.n})"


class Recur(Arrow):
    """``Recur(cell, n)``: the fold of ``cell: P * (S * X) -> S * Y`` over a sequence of ``n``.

    The catamorphism of the list object, with outputs (a *map-accumulate*): the
    state ``S`` is carried along the sequence, each item ``X`` is read once and
    each step emits a ``Y``; the parameters ``P`` are **shared** by every step
    (unlike ``Repeat``, whose layers have their own, stacked). Its type is
    ``P * (S * Xⁿ) -> S * Yⁿ`` where ``Xⁿ = stacked(X, n)`` (a leading axis of
    length ``n`` on each ``R`` leaf): the final state and every output. With
    ``reverse=True`` the sequence is read from its end (``yᵢ`` still lands at
    index ``i``). ``n`` may be a ``Dim``: one diagram for every length.

    Laws (doctested here, property-tested in ``tests/topos/test_recur.py``):

    - it is its unrolling: ``equal(r, r.unroll())``;
    - two folds with equal cells, lengths and directions are equal without
      unrolling (``equal`` compares the cells);
    - ``Recur(c, n, reverse=True)`` is ``Recur(c, n)`` conjugated by the reversal
      of the sequence (``reversal``).

    >>> from topos.objects import R
    >>> from topos.normal import equal
    >>> cell = Box("cell", R(2, 2) * (R(2) * R(3)), R(2) * R(4))
    >>> r = Recur(cell, 5)
    >>> r.dom, r.cod, str(r)
    (R(2, 2) * (R(2) * R(5, 3)), R(2) * R(5, 4), 'cell⟲5')
    >>> equal(r, r.unroll()), equal(r, Recur(cell, 5, reverse=True))
    (True, False)
    >>> flip = Id(R(2, 2)) * (Id(R(2)) * reversal(R(3), 5))
    >>> equal(Recur(cell, 5, reverse=True), flip >> r >> Id(R(2)) * reversal(R(4), 5))
    True
    >>> Recur(Box("bad", R(2) * R(3), R(2)), 5)
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: Recur(bad, 5): expected a cell P * (S * X) -> S * Y, got ...
    """

    __slots__ = ("cell", "n", "reverse")
    cell: Arrow
    n: int | Dim
    reverse: bool

    def __init__(self, cell: Arrow, n: int | Dim, reverse: bool = False) -> None:
        _check_arrow("Recur", cell)
        _check_length("Recur", n)
        if not isinstance(reverse, bool):
            raise TypeError(f"Recur: reverse must be a bool, got {reverse!r}")
        dom, cod = cell.dom, cell.cod
        ok = (
            isinstance(dom, Product)
            and isinstance(dom.right, Product)
            and isinstance(cod, Product)
            and dom.right.left == cod.left
        )
        if not ok:
            why = ""
            if isinstance(dom, Product) and isinstance(dom.right, Product):
                if isinstance(cod, Product):
                    why = f" (the state {short(dom.right.left)} goes in, {short(cod.left)} out)"
            raise TypeMismatch(
                f"Recur({short(cell)}, {n}): expected a cell P * (S * X) -> S * Y,"
                f" got {short(dom)} -> {short(cod)}{why}"
            )
        assert isinstance(dom, Product) and isinstance(dom.right, Product)
        assert isinstance(cod, Product)
        op = f"Recur({short(cell)}, {n})"
        xs, ys = _seq(op, dom.right.right, n), _seq(op, cod.right, n)
        object.__setattr__(self, "cell", cell)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "reverse", reverse)
        self._init(dom.left * (cod.left * xs), cod.left * ys)

    def _part(self, i: int) -> Ob:
        dom = self.cell.dom
        assert isinstance(dom, Product) and isinstance(dom.right, Product)
        return (dom.left, dom.right.left, dom.right.right)[i]

    @property
    def params(self) -> Ob:
        """The parameter object ``P``, shared by every step."""
        return self._part(0)

    @property
    def state(self) -> Ob:
        """The carried state ``S``."""
        return self._part(1)

    @property
    def item(self) -> Ob:
        """The object ``X`` of one input item."""
        return self._part(2)

    @property
    def out(self) -> Ob:
        """The object ``Y`` of one output item."""
        cod = self.cell.cod
        assert isinstance(cod, Product)
        return cod.right

    @property
    def name(self) -> str:
        """``⟲n`` (``⟳n`` reversed), after the cell's name when it is a group."""
        inner = f"{self.cell.name} " if isinstance(self.cell, Group) else ""
        return f"{inner}{'⟳' if self.reverse else '⟲'}{self.n}"

    @property
    def head(self) -> tuple[Any, ...]:
        return (self.n, self.reverse)

    @property
    def children(self) -> tuple[Arrow, ...]:
        return (self.cell,)

    def unroll(self) -> Arrow:
        """The explicit composite: one application of the cell per item, in order.

        The context ``(P * Xⁿ) * (S * ys)`` is threaded along the chain, ``ys`` the
        outputs so far (left-nested), and gathered by ``Stack`` at the end; a
        reversed fold is the forward one conjugated by ``reversal``. Refused for a
        symbolic length (``specialise`` it first) and past ``MAX_UNROLLED_LAYERS``.
        """
        n = self.n
        if isinstance(n, Dim):
            raise TypeError(
                f"{short(self)}.unroll(): the length is the dim {n!r}; specialise it first"
                " (topos.specialise)"
            )
        if n > MAX_UNROLLED_LAYERS:
            raise too_many_layers(f"{short(self)}.unroll()", n, MAX_UNROLLED_LAYERS)
        if self.reverse:
            p, s = self.params, self.state
            flip = Id(p) * (Id(s) * reversal(self.item, n))
            return compose(flip, Recur(self.cell, n).unroll(), Id(s) * reversal(self.out, n))
        return _unroll_forward(self.cell, self.params, self.state, self.item, self.out, n)

    def _text(self, show: Callable[[object], str], parts: list[tuple[str, int]]) -> str:
        if show is str:
            return f"{_wrap(parts[0], _ATOM)}{'⟳' if self.reverse else '⟲'}{self.n}"
        rev = ", reverse=True" if self.reverse else ""
        return f"Recur({parts[0][0]}, {self.n!r}{rev})"


def _unroll_forward(cell: Arrow, p: Ob, s: Ob, x: Ob, y: Ob, n: int) -> Arrow:
    xs = stacked(x, n)
    e = p * xs
    # D = P * (S * Xs)  ->  E * S
    d_rest = s * xs
    start = pair(pair(fst(p, d_rest), snd(p, d_rest) >> snd(s, xs)), snd(p, d_rest) >> fst(s, xs))
    steps: list[Arrow] = [start]
    acc: Ob | None = None  # the outputs so far, left-nested
    for i in range(n):
        ctx_right = s if acc is None else s * acc
        ctx = e * ctx_right
        env = fst(e, ctx_right)
        state = snd(e, ctx_right) if acc is None else snd(e, ctx_right) >> fst(s, acc)
        cell_in = pair(env >> fst(p, xs), pair(state, env >> snd(p, xs) >> Layer(x, n, i)))
        applied = cell_in >> cell  # ctx -> S * Y
        if acc is None:
            # E * S -> E * (S * Y)
            steps.append(pair(env, applied))
            acc = y
        else:
            # ctx -> E * (acc * (S * Y)) -> E * (S * (acc * Y))
            kept = snd(e, ctx_right) >> snd(s, acc)
            mid_r = acc * (s * y)
            mid = e * mid_r
            steps.append(pair(env, pair(kept, applied)))
            r = snd(e, mid_r)
            steps.append(
                pair(
                    fst(e, mid_r),
                    pair(
                        r >> snd(acc, s * y) >> fst(s, y),
                        pair(r >> fst(acc, s * y), r >> snd(acc, s * y) >> snd(s, y)),
                    ),
                )
            )
            assert steps[-1].dom == mid
            acc = acc * y
        del ctx
    assert acc is not None
    steps.append(snd(e, s * acc) >> (Id(s) * Stack(y, n)))
    return compose(*steps)


def reversal(x: Ob, n: int) -> Arrow:
    """The reversal ``stacked(x, n) -> stacked(x, n)`` of a sequence: slices, restacked.

    >>> from topos.objects import R
    >>> from topos.normal import equal
    >>> rev = reversal(R(2), 3)
    >>> equal(rev >> rev, Id(R(3, 2))), equal(rev, Id(R(3, 2)))
    (True, False)
    """
    _check_ob("reversal", x)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError(f"reversal: n must be an int >= 1, got {n!r}")
    if n > MAX_UNROLLED_LAYERS:
        raise too_many_layers(f"reversal({short(x)}, {n})", n, MAX_UNROLLED_LAYERS)
    out: Arrow = Layer(x, n, n - 1)
    for i in range(n - 2, -1, -1):
        out = pair(out, Layer(x, n, i))
    return out >> Stack(x, n)


def recur(cell: Arrow, n: int | Dim, reverse: bool = False) -> Recur:
    """The fold of ``cell: P * (S * X) -> S * Y`` over ``n`` items. See ``Recur``."""
    return Recur(cell, n, reverse)
