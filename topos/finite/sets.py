"""Finite sets and functions: an exact semantics for the whole structure.

Objects are ``FinSet``s, arrows are ``Function``s; ``Sets`` is the
``topos.functor.Category`` that interprets every constructor:

- ``One`` is ``{()}`` and ``Zero`` is the empty set;
- ``A * B`` is the set of pairs ``(a, b)``;
- ``A + B`` is the set of tagged values ``(False, a)`` and ``(True, b)`` (the tag
  says "right", as in the JAX backend);
- ``B ** A`` is the set of *all* functions ``A -> B``, each a ``Function``;
- ``Omega`` is ``{False, True}`` with the Boolean connectives.

Equality of functions is equality of their tables, so every law is checked
exactly, without floating point. Structural sets and functions are lazy: a
function set ``B ** A`` is enumerated only when something iterates over it, and
a composite is evaluated point by point, so exponentials cost only what is used.

The laws of a category, cartesian closed with coproducts, hold on the nose:

>>> from topos import R, Box, Id, pair, fst, curry, ev, copair, inl
>>> A, B = R(1), R(2)
>>> f, g, m = Box("f", A, B), Box("g", B, A), Box("m", A * B, A)
>>> F = random_model(seed=0)
>>> F(f >> g) == Sets().compose([F(f), F(g)])
True
>>> F(pair(f, Id(A)) >> fst(B, A)) == F(f)
True
>>> F(curry(m) * Id(B) >> ev(A, B)) == F(m)
True
>>> F(inl(A, B) >> copair(Id(A), g)) == F(Id(A))
True

Models are built from a user's data with ``interpret`` or drawn at random with
``random_model``; Omega is Boolean here (not in ``topos.finite.presheaves``):

>>> from topos import neg, Omega
>>> F(neg >> neg) == F(Id(Omega))
True
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from topos.arrows import Box
from topos.errors import (
    TypeMismatch,
    compose_mismatch,
    not_a,
    not_in_domain,
    not_total,
    outside_codomain,
    short,
    too_large,
    too_many,
)
from topos.functor import Category, Functor
from topos.objects import Fin, Ob

__all__ = [
    "HUGE",
    "MAX_ENUMERATION",
    "CoproductSet",
    "FinSet",
    "Function",
    "FunctionSet",
    "ProductSet",
    "Sets",
    "interpret",
    "random_element",
    "random_model",
]

#: The most elements a lazy set (e.g. a function set ``B ** A``) will enumerate.
MAX_ENUMERATION = 1_000_000

#: Sizes are exact below this bound; above it a set only knows it is at least this big.
HUGE = 2**64

# Printing precedence, as for objects: ** binds tighter than *, which binds tighter than +.
_ATOM, _POW, _MUL, _ADD = 4, 3, 2, 1


class FinSet:
    """A finite set of hashable elements, in a fixed order (the order given).

    Equality is equality of sets; ``A * B``, ``A + B`` and ``B ** A`` build the
    product, the tagged coproduct and the set of all functions ``A -> B``.

    >>> A = FinSet([0, 1, 1])
    >>> A, len(A), 1 in A, FinSet([1, 0]) == A
    (FinSet([0, 1]), 2, True, True)
    >>> print(A * FinSet("ab"))
    {0, 1} * {'a', 'b'}
    >>> sorted((A * FinSet("ab")).elements)[:2]
    [(0, 'a'), (0, 'b')]
    >>> len(A ** FinSet("abc")), len(A + A)
    (8, 4)
    """

    __slots__ = ("_elements", "_members")
    _elements: tuple[Any, ...] | None
    _members: frozenset[Any] | None
    _prec: ClassVar[int] = _ATOM

    def __init__(self, elements: Iterable[Hashable] = ()) -> None:
        items = list(elements)
        try:
            unique = tuple(dict.fromkeys(items))
        except TypeError:
            bad = next(x for x in items if not isinstance(x, Hashable))
            raise not_a("FinSet", "hashable elements", bad) from None
        object.__setattr__(self, "_elements", unique)
        object.__setattr__(self, "_members", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    # -- the set ----------------------------------------------------------------
    @property
    def elements(self) -> tuple[Any, ...]:
        """The elements, in order (enumerated on first use for lazy sets)."""
        if self._elements is None:
            if self._count() > MAX_ENUMERATION:
                raise self._too_big(MAX_ENUMERATION)
            object.__setattr__(self, "_elements", tuple(self._enumerate()))
        assert self._elements is not None
        return self._elements

    def _enumerate(self) -> Iterator[Any]:
        raise NotImplementedError

    def _count(self) -> int:
        """The number of elements, or ``HUGE`` if there are at least that many."""
        return min(len(self.elements), HUGE)

    @property
    def size(self) -> int:
        """The number of elements (``ValueError`` past ``HUGE``), without enumerating.

        >>> (FinSet([0, 1]) ** FinSet(range(10))).size
        1024
        """
        n = self._count()
        if n >= HUGE:
            raise self._too_big(HUGE - 1)
        return n

    def _too_big(self, limit: int) -> ValueError:
        n = self._count()
        return too_large(self, n, limit) if n < HUGE else too_many(short(self), limit)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Any]:
        return iter(self.elements)

    def __contains__(self, x: object) -> bool:
        members = self._members
        if members is None:
            members = frozenset(self.elements)
            object.__setattr__(self, "_members", members)
        try:
            return x in members
        except TypeError:  # unhashable
            return False

    # -- values -----------------------------------------------------------------
    def _structure(self) -> tuple[Any, ...] | None:
        """A key such that equal keys mean equal sets (None for explicit sets)."""
        return None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, FinSet):
            return NotImplemented
        key = self._structure()
        if key is not None and key == other._structure():
            return True
        return self._count() == other._count() and all(x in other for x in self)

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        # The size is the only invariant cheap for every representation of a set.
        return hash(("FinSet", self._count()))

    def __mul__(self, other: FinSet) -> ProductSet:
        return ProductSet(self, other)

    def __add__(self, other: FinSet) -> CoproductSet:
        return CoproductSet(self, other)

    def __pow__(self, other: FinSet) -> FunctionSet:
        return FunctionSet(self, other)

    def __repr__(self) -> str:
        return f"FinSet({list(self.elements)!r})"

    def __str__(self) -> str:
        return "{" + ", ".join(repr(x) for x in self.elements) + "}"


def _paren(x: FinSet, prec: int, show: Callable[[object], str]) -> str:
    return f"({show(x)})" if x._prec < prec else show(x)


class ProductSet(FinSet):
    """``left * right``: the pairs ``(a, b)``, enumerated lazily.

    >>> P = FinSet([0, 1]) * FinSet("a")
    >>> (1, "a") in P, (2, "a") in P, len(P)
    (True, False, 2)
    """

    __slots__ = ("left", "right")
    left: FinSet
    right: FinSet
    _prec = _MUL

    def __init__(self, left: FinSet, right: FinSet) -> None:
        _check_sets("*", left, right)
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)
        object.__setattr__(self, "_elements", None)
        object.__setattr__(self, "_members", None)

    def _enumerate(self) -> Iterator[Any]:
        return itertools.product(self.left.elements, self.right.elements)

    def _count(self) -> int:
        return min(self.left._count() * self.right._count(), HUGE)

    def __contains__(self, x: object) -> bool:
        return isinstance(x, tuple) and len(x) == 2 and x[0] in self.left and x[1] in self.right

    def _structure(self) -> tuple[Any, ...]:
        return ("*", self.left, self.right)

    def __repr__(self) -> str:
        return f"{_paren(self.left, _MUL, repr)} * {_paren(self.right, _MUL + 1, repr)}"

    def __str__(self) -> str:
        return f"{_paren(self.left, _MUL, str)} * {_paren(self.right, _MUL + 1, str)}"


class CoproductSet(FinSet):
    """``left + right``: ``(False, a)`` for ``a`` in left, ``(True, b)`` for ``b`` in right.

    >>> S = FinSet([0]) + FinSet([0, 1])
    >>> S.elements
    ((False, 0), (True, 0), (True, 1))
    """

    __slots__ = ("left", "right")
    left: FinSet
    right: FinSet
    _prec = _ADD

    def __init__(self, left: FinSet, right: FinSet) -> None:
        _check_sets("+", left, right)
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)
        object.__setattr__(self, "_elements", None)
        object.__setattr__(self, "_members", None)

    def _enumerate(self) -> Iterator[Any]:
        yield from ((False, a) for a in self.left.elements)
        yield from ((True, b) for b in self.right.elements)

    def _count(self) -> int:
        return min(self.left._count() + self.right._count(), HUGE)

    def __contains__(self, x: object) -> bool:
        if not (isinstance(x, tuple) and len(x) == 2 and x[0] in (False, True)):
            return False
        return x[1] in (self.right if x[0] else self.left)

    def _structure(self) -> tuple[Any, ...]:
        return ("+", self.left, self.right)

    def __repr__(self) -> str:
        return f"{_paren(self.left, _ADD, repr)} + {_paren(self.right, _ADD + 1, repr)}"

    def __str__(self) -> str:
        return f"{_paren(self.left, _ADD, str)} + {_paren(self.right, _ADD + 1, str)}"


class FunctionSet(FinSet):
    """``base ** exponent``: every total function ``exponent -> base``, as ``Function``s.

    Its size is known without enumerating it; enumeration happens on iteration only.

    >>> E = FinSet([False, True]) ** FinSet([0, 1, 2])
    >>> len(E), Function(FinSet([0, 1, 2]), FinSet([False, True]), bool) in E
    (8, True)
    """

    __slots__ = ("base", "exponent")
    base: FinSet
    exponent: FinSet
    _prec = _POW

    def __init__(self, base: FinSet, exponent: FinSet) -> None:
        _check_sets("**", base, exponent)
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "exponent", exponent)
        object.__setattr__(self, "_elements", None)
        object.__setattr__(self, "_members", None)

    def _enumerate(self) -> Iterator[Any]:
        dom, cod = self.exponent, self.base
        for outs in itertools.product(cod.elements, repeat=len(dom)):
            yield Function._trusted(dom, cod, dict(zip(dom.elements, outs, strict=True)))

    def _count(self) -> int:
        b, e = self.base._count(), self.exponent._count()
        if b <= 1 or e == 0:
            return 1 if e == 0 else b
        return HUGE if e >= 64 else min(b**e, HUGE)

    def __contains__(self, x: object) -> bool:
        if not isinstance(x, Function) or x.dom != self.exponent or x.cod != self.base:
            return False
        x.check()
        return True

    def _structure(self) -> tuple[Any, ...]:
        return ("**", self.base, self.exponent)

    def __repr__(self) -> str:
        return f"{_paren(self.base, _POW + 1, repr)} ** {_paren(self.exponent, _POW, repr)}"

    def __str__(self) -> str:
        return f"{_paren(self.base, _POW + 1, str)} ** {_paren(self.exponent, _POW, str)}"


def _check_sets(op: str, *xs: object) -> None:
    for x in xs:
        if not isinstance(x, FinSet):
            raise not_a(op, "a FinSet", x)


_Rule = Callable[[Any], Any]


class Function:
    """A total function ``dom -> cod`` between finite sets, equal to another by its table.

    ``table`` is a mapping (checked at once: total, into ``cod``) or a Python
    callable (evaluated on demand; each value is checked when computed).

    >>> A, O = FinSet([0, 1, 2]), FinSet([False, True])
    >>> odd = Function(A, O, lambda n: n % 2 == 1)
    >>> odd(1), odd == Function(A, O, {0: False, 1: True, 2: False})
    (True, True)
    >>> Function(A, O, {0: True, 1: False})
    Traceback (most recent call last):
    ...
    ValueError: Function: the table is not total, it misses 2 of the domain {0, 1, 2}
    >>> Function(A, O, {0: True, 1: 0.5, 2: False})
    Traceback (most recent call last):
    ...
    ValueError: Function: 1 -> 0.5 lands outside the codomain {False, True}
    """

    __slots__ = ("dom", "cod", "name", "_rule", "_table", "_hash")
    dom: FinSet
    cod: FinSet
    name: str
    _rule: _Rule | None
    _table: dict[Any, Any] | None
    _hash: int | None

    def __init__(
        self,
        dom: FinSet,
        cod: FinSet,
        table: Mapping[Any, Any] | _Rule,
        *,
        name: str = "",
    ) -> None:
        _check_sets(f"Function {name}".rstrip(), dom, cod)
        self._set(dom, cod, name)
        if isinstance(table, Mapping):
            object.__setattr__(self, "_rule", None)
            object.__setattr__(self, "_table", self._checked(table))
        elif callable(table):
            object.__setattr__(self, "_rule", table)
            object.__setattr__(self, "_table", None)
        else:
            raise not_a(self._label(), "a mapping or a callable as table", table)

    def _set(self, dom: FinSet, cod: FinSet, name: str) -> None:
        object.__setattr__(self, "dom", dom)
        object.__setattr__(self, "cod", cod)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_hash", None)

    @classmethod
    def _trusted(cls, dom: FinSet, cod: FinSet, table: dict[Any, Any], name: str = "") -> Function:
        out = object.__new__(cls)
        out._set(dom, cod, name)
        object.__setattr__(out, "_rule", None)
        object.__setattr__(out, "_table", table)
        return out

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Function is immutable")

    def _label(self) -> str:
        return f"Function {self.name}" if self.name else "Function"

    def _checked(self, table: Mapping[Any, Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for x in self.dom.elements:
            if x not in table:
                raise not_total(self._label(), x, self.dom)
            y = table[x]
            if y not in self.cod:
                raise outside_codomain(self._label(), x, y, self.cod)
            out[x] = y
        if len(table) != len(out):
            extra = next(x for x in table if x not in self.dom)
            raise not_in_domain(self._label(), extra, self.dom)
        return out

    # -- evaluation ---------------------------------------------------------------
    def __call__(self, x: Any) -> Any:
        table = self._table
        if table is not None:
            try:
                return table[x]
            except (KeyError, TypeError):
                raise not_in_domain(self._label(), x, self.dom) from None
        if x not in self.dom:
            raise not_in_domain(self._label(), x, self.dom)
        assert self._rule is not None
        y = self._rule(x)
        if y not in self.cod:
            raise outside_codomain(self._label(), x, y, self.cod)
        return y

    @property
    def table(self) -> Mapping[Any, Any]:
        """The graph ``{x: f(x)}`` over the whole domain (computed once, read-only)."""
        table = self._table
        if table is None:
            table = {x: self(x) for x in self.dom.elements}
            object.__setattr__(self, "_table", table)
        return MappingProxyType(table)

    def check(self) -> Function:
        """Evaluate everywhere, raising ``ValueError`` if some value is outside ``cod``.

        >>> f = Function(FinSet([0, 1]), FinSet([0]), lambda n: n)
        >>> f.check()
        Traceback (most recent call last):
        ...
        ValueError: Function: 1 -> 1 lands outside the codomain {0}
        """
        _ = self.table
        return self

    # -- values -------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Function):
            return NotImplemented
        if self.dom != other.dom or self.cod != other.cod:
            return False
        theirs = other.table
        return all(theirs[x] == y for x, y in self.table.items())

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self.table.items())))
        assert self._hash is not None
        return self._hash

    def __repr__(self) -> str:
        extra = f", name={self.name!r}" if self.name else ""
        return f"Function({self.dom!r}, {self.cod!r}, {dict(self.table)!r}{extra})"

    def __str__(self) -> str:
        return self.name or f"({self.dom} -> {self.cod})"


class Sets(Category[FinSet, Function]):
    """The category of finite sets and total functions, with all the structure.

    A ``Functor(ob=..., ar=..., cod=Sets())`` interprets diagrams exactly.

    >>> S = Sets()
    >>> A = FinSet([0, 1])
    >>> S.compose([S.copy(A), S.swap(A, A), S.fst(A, A)]) == S.id(A)
    True
    >>> e = S.curry(S.fst(A, A), A, A, A)
    >>> e(1)(0), len(S.exp(A, A))
    (1, 4)
    >>> S.logic("implies")((True, False))
    False
    """

    _ONE: ClassVar[FinSet] = FinSet([()])
    _ZERO: ClassVar[FinSet] = FinSet([])
    _OMEGA: ClassVar[FinSet] = FinSet([False, True])

    def __repr__(self) -> str:
        return "Sets()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sets)

    def __hash__(self) -> int:
        return hash("Sets")

    # -- objects ----------------------------------------------------------------
    def one(self) -> FinSet:
        return self._ONE

    def zero(self) -> FinSet:
        return self._ZERO

    def product(self, a: FinSet, b: FinSet) -> FinSet:
        return a * b

    def coproduct(self, a: FinSet, b: FinSet) -> FinSet:
        return a + b

    def exp(self, base: FinSet, exponent: FinSet) -> FinSet:
        return base**exponent

    def omega(self) -> FinSet:
        return self._OMEGA

    # -- category ---------------------------------------------------------------
    def id(self, a: FinSet) -> Function:
        return Function(a, a, _identity, name="id")

    def compose(self, fs: Any) -> Function:
        chain: list[Function] = list(fs)
        if not chain:
            raise TypeError("Sets.compose: needs at least one function")
        _check_functions("Sets.compose", *chain)
        for f, g in itertools.pairwise(chain):
            if f.cod != g.dom:
                raise compose_mismatch(">>", f, g, f.cod, g.dom)

        def run(x: Any) -> Any:
            for f in chain:
                x = f(x)
            return x

        return Function(chain[0].dom, chain[-1].cod, run)

    # -- cartesian --------------------------------------------------------------
    def pair(self, f: Function, g: Function) -> Function:
        _check_functions("Sets.pair", f, g)
        if f.dom != g.dom:
            raise compose_mismatch("pair", f, g, f.dom, g.dom)
        return Function(f.dom, f.cod * g.cod, lambda x: (f(x), g(x)))

    def fst(self, a: FinSet, b: FinSet) -> Function:
        return Function(a * b, a, _first, name="π₁")

    def snd(self, a: FinSet, b: FinSet) -> Function:
        return Function(a * b, b, _second, name="π₂")

    def discard(self, a: FinSet) -> Function:
        return Function(a, self._ONE, _unit, name="!")

    def tensor(self, f: Function, g: Function, a: FinSet, b: FinSet) -> Function:
        _check_functions("Sets.tensor", f, g)
        return Function(f.dom * g.dom, f.cod * g.cod, lambda p: (f(p[0]), g(p[1])))

    def copy(self, a: FinSet) -> Function:
        return Function(a, a * a, lambda x: (x, x), name="Δ")

    def swap(self, a: FinSet, b: FinSet) -> Function:
        return Function(a * b, b * a, lambda p: (p[1], p[0]), name="σ")

    # -- cocartesian ------------------------------------------------------------
    def copair(self, f: Function, g: Function) -> Function:
        _check_functions("Sets.copair", f, g)
        if f.cod != g.cod:
            raise compose_mismatch("copair", f, g, f.cod, g.cod)
        return Function(f.dom + g.dom, f.cod, lambda t: g(t[1]) if t[0] else f(t[1]))

    def inl(self, a: FinSet, b: FinSet) -> Function:
        return Function(a, a + b, lambda x: (False, x), name="ι₁")

    def inr(self, a: FinSet, b: FinSet) -> Function:
        return Function(b, a + b, lambda x: (True, x), name="ι₂")

    def absurd(self, a: FinSet) -> Function:
        return Function(self._ZERO, a, {}, name="¡")

    def sum(self, f: Function, g: Function, c: FinSet, d: FinSet) -> Function:
        _check_functions("Sets.sum", f, g)
        return Function(
            f.dom + g.dom, f.cod + g.cod, lambda t: (True, g(t[1])) if t[0] else (False, f(t[1]))
        )

    # -- closed -----------------------------------------------------------------
    def curry(self, m: Function, x: FinSet, a: FinSet, b: FinSet) -> Function:
        _check_functions("Sets.curry", m)
        return Function(x, b**a, lambda u: Function(a, b, lambda v: m((u, v))))

    def ev(self, b: FinSet, a: FinSet) -> Function:
        return Function((b**a) * a, b, lambda p: p[0](p[1]), name="ev")

    # -- subobject classifier ---------------------------------------------------
    def logic(self, op: str) -> Function:
        one, omega = self._ONE, self._OMEGA
        both = omega * omega
        tables: dict[str, tuple[FinSet, _Rule]] = {
            "true": (one, lambda _: True),
            "false": (one, lambda _: False),
            "conj": (both, lambda p: p[0] and p[1]),
            "disj": (both, lambda p: p[0] or p[1]),
            "implies": (both, lambda p: (not p[0]) or p[1]),
            "neg": (omega, lambda p: not p),
        }
        if op not in tables:
            raise ValueError(
                f"Sets.logic: unknown connective {op!r}, expected one of {sorted(tables)}"
            )
        dom, rule = tables[op]
        return Function(dom, omega, {x: rule(x) for x in dom}, name=op)


def _identity(x: Any) -> Any:
    return x


def _first(p: Any) -> Any:
    return p[0]


def _second(p: Any) -> Any:
    return p[1]


def _unit(_: Any) -> tuple[()]:
    return ()


def _check_functions(op: str, *fs: object) -> None:
    for f in fs:
        if not isinstance(f, Function):
            raise not_a(op, "a Function", f)


# ---------------------------------------------------------------------------------
# Models: functors into Sets from a user's data, or at random.


def _as_set(value: Any, what: object) -> FinSet:
    if isinstance(value, FinSet):
        return value
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return FinSet(value)
    raise not_a(f"interpret: the image of {what!r}", "a FinSet or an iterable of elements", value)


def interpret(
    ob: Mapping[Ob, Any] | Callable[[Ob], Any],
    ar: Mapping[Box, Any] | Callable[[Box], Any],
) -> Functor[FinSet, Function]:
    """The functor into ``Sets`` given by the images of generating objects and boxes.

    ``ob`` maps each generating object (``R``, ``Fin``) to a ``FinSet`` (or any
    iterable of elements); a label object ``Fin(n)`` without an image is
    ``{0, ..., n-1}``. ``ar`` maps each box to a ``Function``, a table (a mapping)
    or a Python callable on the elements of its domain's image. Structure is
    interpreted by ``Sets``.

    >>> from topos import R, Fin, Box, Omega, pair, conj
    >>> even = Box("even", Fin(4), Omega)
    >>> small = Box("small", Fin(4), Omega)
    >>> F = interpret(ob={}, ar={even: lambda n: n % 2 == 0, small: lambda n: n < 2})
    >>> F(pair(even, small) >> conj).table
    mappingproxy({0: True, 1: False, 2: False, 3: False})
    >>> b = Box("b", R(1), R(1))
    >>> bad = interpret(ob={R(1): [0]}, ar={b: Function(FinSet([0]), FinSet([1]), {0: 1})})
    >>> bad(b)
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: interpret: Box('b', R(1), R(1)) is a function {0} -> {1},
    expected {0} -> {0}
    """
    functor: Functor[FinSet, Function]

    def on_ob(x: Ob) -> FinSet:
        if isinstance(ob, Mapping):
            if x in ob:
                return _as_set(ob[x], x)
            if isinstance(x, Fin) and not x.shape:
                return FinSet(range(x.n))
            raise KeyError(x)
        return _as_set(ob(x), x)

    def on_ar(box: Box) -> Function:
        value = ar[box] if isinstance(ar, Mapping) else ar(box)
        return _as_function(box, value, functor(box.dom), functor(box.cod))

    functor = Functor(ob=on_ob, ar=on_ar, cod=Sets())
    return functor


def _as_function(box: Box, value: Any, dom: FinSet, cod: FinSet) -> Function:
    if isinstance(value, Function):
        if value.dom != dom or value.cod != cod:
            raise TypeMismatch(
                f"interpret: {box!r} is a function {value.dom} -> {value.cod},"
                f" expected {dom} -> {cod}"
            )
        return value
    if isinstance(value, Mapping) or callable(value):
        return Function(dom, cod, value, name=box.name)
    raise not_a(f"interpret: the image of {box!r}", "a Function, a mapping or a callable", value)


def random_element(s: FinSet, rng: random.Random) -> Any:
    """An element of ``s`` drawn with ``rng``, without enumerating function sets.

    >>> random_element(FinSet([0, 1]) ** FinSet("ab"), random.Random(0)).dom
    FinSet(['a', 'b'])
    >>> random_element(FinSet([]), random.Random(0))
    Traceback (most recent call last):
    ...
    ValueError: random_element: the set {} is empty
    """
    if s._count() == 0:
        raise ValueError(f"random_element: the set {s} is empty")
    if isinstance(s, ProductSet):
        return (random_element(s.left, rng), random_element(s.right, rng))
    if isinstance(s, CoproductSet):
        right = rng.randrange(s._count()) >= s.left._count()
        return (right, random_element(s.right if right else s.left, rng))
    if isinstance(s, FunctionSet):
        table = {a: random_element(s.base, rng) for a in s.exponent.elements}
        return Function._trusted(s.exponent, s.base, table)
    return s.elements[rng.randrange(s._count())]


def random_model(
    seed: int = 0,
    *,
    max_size: int = 3,
    min_size: int = 1,
    ob: Mapping[Ob, Any] | None = None,
    ar: Mapping[Box, Any] | None = None,
) -> Functor[FinSet, Function]:
    """A functor into ``Sets`` that interprets *every* generator at random, reproducibly.

    ``random_model(seed=0, *, max_size=3, min_size=1, ob=None, ar=None) -> Functor``.

    Each generating object ``X`` becomes ``{0, ..., k-1}`` with ``k`` drawn from
    ``[min_size, max_size]``, each box a random total function, both drawn from a
    generator seeded by ``(seed, repr(generator))`` (and, for a box, the input), so
    the model does not depend on the order in which diagrams are interpreted.
    Functions are lazy: a box out of a large set only computes the values asked for.
    ``ob`` and ``ar`` fix chosen generators (as in ``interpret``). Use one model for
    both sides of an equation: ``F(lhs) == F(rhs)`` checks it exactly in this model.
    A box from a non-empty set into an empty one has no model: ``ValueError``.

    >>> from topos import R, Box, Id, copy, fst
    >>> A = R(3)
    >>> f = Box("f", A, A)
    >>> F = random_model(seed=1)
    >>> F(copy(A) >> fst(A, A) >> f) == F(f)
    True
    >>> random_model(seed=1)(f) == F(f)
    True
    """
    if not 0 <= min_size <= max_size:
        raise ValueError(
            f"random_model: need 0 <= min_size <= max_size, got {min_size}, {max_size}"
        )
    fixed_ob, fixed_ar = dict(ob or {}), dict(ar or {})
    boxes: dict[Box, Function] = {}
    functor: Functor[FinSet, Function]

    def on_ob(x: Ob) -> FinSet:
        if x in fixed_ob:
            return _as_set(fixed_ob[x], x)
        rng = random.Random(f"{seed}|{x!r}")
        return FinSet(range(rng.randint(min_size, max_size)))

    def on_ar(box: Box) -> Function:
        if box in boxes:
            return boxes[box]
        dom, cod = functor(box.dom), functor(box.cod)
        if box in fixed_ar:
            out = _as_function(box, fixed_ar[box], dom, cod)
        else:
            if cod._count() == 0 and dom._count() > 0:
                raise ValueError(
                    f"random_model: no function {box!r} from the non-empty set {dom}"
                    f" into the empty set {cod}"
                )
            out = Function(dom, cod, _random_rule(f"{seed}|{box!r}", cod), name=box.name)
        boxes[box] = out
        return out

    functor = Functor(ob=on_ob, ar=on_ar, cod=Sets())
    return functor


def _random_rule(key: str, cod: FinSet) -> _Rule:
    memo: dict[Any, Any] = {}

    def rule(x: Any) -> Any:
        if x not in memo:
            memo[x] = random_element(cod, random.Random(f"{key}|{x!r}"))
        return memo[x]

    return rule
