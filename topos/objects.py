"""Objects of the free bicartesian closed category with a subobject classifier.

Generating objects are Euclidean spaces ``R(*shape)`` and label arrays
``Fin(n, *shape)``; the structure adds the terminal object ``One``, the initial
object ``Zero``, binary products ``A * B``, binary coproducts ``A + B``,
exponentials ``B ** A`` (the object of maps A -> B) and the subobject classifier
``Omega``.

Products and coproducts are **binary and not strict**: ``A * B * C`` is
``(A * B) * C``, which differs from ``A * (B * C)``; ``A * One`` differs from
``A``. The canonical isomorphisms between them are arrows (``topos.arrows``).
This makes every projection, injection and ``curry`` unambiguous: ``curry(m)``
for ``m: X * A -> B`` always abstracts the right factor ``A``.

``Fin(n)`` is the coproduct of ``n`` copies of ``One`` up to the isomorphism
sending label ``i`` to the ``i``-th injection of ``One + (One + (... + One))``
(right-nested); ``Fin(n, *shape)`` is an array of such labels (tokens).

Objects are immutable and hashable, ``eval(repr(x)) == x``, and printing uses
Python's precedence (``**`` binds tighter than ``*``, which binds tighter than
``+``; ``**`` nests to the right):

>>> A, B, C = R(3), R(4), R(16, 64)
>>> A * B * C == (A * B) * C != A * (B * C)
True
>>> A * (B * C)
R(3) * (R(4) * R(16, 64))
>>> B ** A, (B ** A) ** C, C ** B ** A
(R(4) ** R(3), (R(4) ** R(3)) ** R(16, 64), R(16, 64) ** R(4) ** R(3))
>>> Fin(65, 16), R(2, dtype="bfloat16"), One + One * Omega
(Fin(65, 16), R(2, dtype='bfloat16'), One + One * Omega)
>>> all(eval(repr(x)) == x for x in [A * B + C, C ** (A + B), Fin(2) * Zero])
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from topos.errors import not_a

__all__ = [
    "DTYPES",
    "Coproduct",
    "Dim",
    "Empty",
    "Exp",
    "Fin",
    "One",
    "Ob",
    "Omega",
    "Product",
    "R",
    "Truth",
    "Unit",
    "Zero",
    "factors",
    "is_symbolic",
]

#: dtypes an ``R`` may carry (names as in NumPy / JAX).
DTYPES = ("float32", "float64", "float16", "bfloat16")

# Python precedence of the operators used to print objects (higher binds tighter).
_ATOM, _POW, _MUL, _ADD = 4, 3, 2, 1


class Ob:
    """An object. Subclasses are immutable values with structural equality."""

    __slots__ = ("_hash", "_alias")
    _prec: ClassVar[int] = _ATOM

    def _fields(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    def _seal(self) -> None:
        object.__setattr__(self, "_hash", hash((type(self).__name__, self._fields())))
        object.__setattr__(self, "_alias", None)  # an equal object, once one is found

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(self) is not type(other) or hash(self) != hash(other):
            return False
        assert isinstance(other, Ob)
        if _canonical(self) is _canonical(other):
            return True
        mine, theirs = self._fields(), other._fields()
        if all(a is b for a, b in zip(mine, theirs, strict=True)):
            return True
        # Iterative: parameter objects of deep models nest 10,000 products deep.
        # Memoised: a pair of shared parts is compared once, so objects with 2**60
        # parts stored as 60 shared nodes compare in linear time.
        seen: set[tuple[int, int]] = set()
        found: dict[int, Ob] = {}
        stack: list[tuple[Ob, object]] = [(self, other)]
        while stack:
            x, y = stack.pop()
            if x is y or (id(x), id(y)) in seen:
                continue
            if type(x) is not type(y) or hash(x) != hash(y):
                return False
            assert isinstance(y, Ob)
            if _canonical(x) is _canonical(y):
                continue
            seen.add((id(x), id(y)))
            found[id(x)], found[id(y)] = x, y
            for a, b in zip(x._fields(), y._fields(), strict=True):
                if isinstance(a, Ob):
                    stack.append((a, b))
                elif a != b:
                    return False
        # Equal: remember it, so comparing these parts again (the parameter object
        # of a deep model is compared once per layer) costs O(1), not their size.
        for x_id, y_id in seen:
            _link(found[x_id], found[y_id])
        return True

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __mul__(self, other: Ob) -> Product:
        return Product(self, other)

    def __add__(self, other: Ob) -> Coproduct:
        return Coproduct(self, other)

    def __pow__(self, other: Ob) -> Exp:
        return Exp(self, other)

    def _operands(self) -> tuple[tuple[Ob, int], ...]:
        """For a composite object: each operand with the precedence it needs unbracketed."""
        return ()

    def __repr__(self) -> str:
        return shared_repr(lambda: self._prefix(None))

    def _prefix(self, limit: int | None, show: Any = repr) -> str:
        """The text of this object, or its first ``limit`` characters at bounded cost.

        Streamed token by token, iteratively: parameter objects of deep models nest
        thousands of products deep, and the text of each level is not copied. Inside
        ``shared_repr``, a large object printed more than once is printed by name.
        """
        out: list[str] = []
        length = 0
        naming = _NAMING.stack[-1] if _NAMING.stack else None
        todo: list[str | Ob] = [self]
        while todo and (limit is None or length <= limit):
            x = todo.pop()
            if isinstance(x, str):
                out.append(x)
                length += len(x)
                continue
            ops = x._operands()
            if not ops:
                todo.append(x._leaf_repr())
                continue
            if naming is not None:
                instead = naming.visit(x)
                if instead is not None:
                    todo.append(instead)
                    continue
            tokens: list[str | Ob] = []
            named = naming.names if naming is not None else {}  # names print as atoms
            for i, (y, p) in enumerate(ops):
                tokens += [f" {x._symbol} "] if i else []
                tokens += ["(", y, ")"] if y._prec < p and y not in named else [y]
            todo.extend(reversed(tokens))
        text = "".join(out)
        return text if limit is None else text[:limit]

    def _leaf_repr(self) -> str:
        raise NotImplementedError

    _symbol: ClassVar[str] = ""

    def __str__(self) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (repr(self),))


# ---------------------------------------------------------------------------------
# Sharing-aware printing: a large object printed more than once is named once.

SHARE_LEAVES = 16  # objects with at least this many leaves (counted with repeats) are named


class _Naming:
    """One sharing-aware ``repr``: a counting pass, then a pass that names.

    Counting: every large object met is counted, and expanded only at its first
    occurrence (a later occurrence prints a placeholder and asks for the naming
    pass). Naming: the large objects met more than once are defined first, each
    once and innermost first, in a flat tuple that evaluates to the text:
    ``(_ob1 := ..., _ob2 := ... _ob1 ..., text)[-1]``. Flat, so that a chain of
    thousands of definitions stays within Python's parser's nesting limit.
    """

    def __init__(self) -> None:
        self.counting = True
        self.counts: dict[Ob, int] = {}
        self.leaves: dict[Ob, int] = {}
        self.names: dict[Ob, str] = {}
        self.repeated = False  # a large object was met twice: the naming pass is needed
        self.events = 0  # large objects met: printing that met none can be cached
        self.expanding: Ob | None = None

    def visit(self, x: Ob) -> str | None:
        """What to print for ``x`` instead of expanding it, if anything."""
        if self.expanding is x:  # its definition: expand it
            self.expanding = None
            return None
        if _leaves(x, self.leaves) < SHARE_LEAVES:
            return None
        self.events += 1
        if self.counting:
            seen = self.counts.get(x, 0)
            self.counts[x] = seen + 1
            if seen:
                self.repeated = True
                return "…"
            return None
        return self.names.get(x)

    def name_repeated(self) -> None:
        """Name the objects counted more than once, innermost first."""
        repeated = {x for x, n in self.counts.items() if n > 1}
        order: list[Ob] = []
        seen: set[int] = set()
        for root in repeated:
            stack: list[tuple[Ob, bool]] = [(root, False)]
            while stack:
                x, done = stack.pop()
                if done:
                    if x in repeated:
                        order.append(x)
                    continue
                if id(x) in seen:
                    continue
                seen.add(id(x))
                stack.append((x, True))
                stack.extend((y, False) for y, _ in x._operands())
        self.names = {x: f"_ob{i + 1}" for i, x in enumerate(order)}

    def definitions(self) -> list[str]:
        out = []
        for x, name in self.names.items():
            self.expanding = x
            out.append(f"{name} := {x._prefix(None)}")
        return out


class _Stack:
    def __init__(self) -> None:
        self.stack: list[_Naming] = []


_NAMING = _Stack()


def naming_events() -> int:
    """How many large objects the active sharing-aware ``repr`` has met (0 if none)."""
    return _NAMING.stack[-1].events if _NAMING.stack else 0


def shared_repr(render: Callable[[], str]) -> str:
    """``render()`` with large objects printed more than once named (see ``_Naming``).

    Nested calls (an arrow printing its objects, a Para its arrow) join the
    outermost one, so a name defined for one part is used in the next. Text that
    repeats no large object is the plain text, rendered once.

    >>> x = R(1)
    >>> for _ in range(60):  # 2**60 leaves in 61 objects
    ...     x = x * x
    >>> text = repr(x)
    >>> text[:52]
    '(_ob1 := R(1) * R(1) * (R(1) * R(1)) * (R(1) * R(1) '
    >>> text[-42:]
    '_ob56 := _ob55 * _ob55, _ob56 * _ob56)[-1]'
    >>> eval(repr(x)) == x
    True
    """
    if _NAMING.stack:
        return render()
    naming = _Naming()
    _NAMING.stack.append(naming)
    try:
        text = render()
        if not naming.repeated:
            return text
        naming.counting = False
        naming.name_repeated()
        text = render()
        return f"({', '.join([*naming.definitions(), text])})[-1]"
    finally:
        _NAMING.stack.pop()


def _leaves(x: Ob, memo: dict[Ob, int]) -> int:
    """The number of leaves of ``x`` written out (shared parts counted each time)."""
    hit = memo.get(x)
    if hit is not None:
        return hit
    stack = [x]
    while stack:
        y = stack[-1]
        if y in memo:
            stack.pop()
            continue
        parts = [p for p, _ in y._operands()]
        todo = [p for p in parts if p not in memo]
        if todo:
            stack += todo
            continue
        stack.pop()
        memo[y] = sum(memo[p] for p in parts) if parts else 1
    return memo[x]


def _canonical(x: Ob) -> Ob:
    """The representative of the objects proved equal to ``x`` (union-find, compressed)."""
    root = x
    while root._alias is not None:  # type: ignore[attr-defined]
        root = root._alias  # type: ignore[attr-defined]
    while x is not root:
        nxt = x._alias  # type: ignore[attr-defined]
        object.__setattr__(x, "_alias", root)
        x = nxt
    return root


def _link(x: Ob, y: Ob) -> None:
    """Record that ``x`` and ``y`` are equal."""
    a, b = _canonical(x), _canonical(y)
    if a is not b:
        object.__setattr__(b, "_alias", a)


def _rebuild(text: str) -> Ob:
    value = eval(text, {k: globals()[k] for k in ("R", "Fin", "One", "Zero", "Omega", "Dim")})
    assert isinstance(value, Ob)
    return value


class Dim:
    """A dimension variable: a named length, bounded by ``max``, e.g. the sequence length.

    A ``Dim`` may stand for an axis in ``R`` and ``Fin`` shapes: ``R(seq, 64)`` is
    a family of objects, one for each length ``1 <= n <= seq.max``. Dims are
    values (equal when name and bound are), compared by equality in every shape
    check; ``topos.dims.specialise`` substitutes lengths for them. Parameters
    never have symbolic shapes: a table the length indexes has the bound as its
    size and is sliced (``slice_axis(R(128, d), 0, seq, axis=0)``).

    >>> seq = Dim("seq", 128)
    >>> R(seq, 64), R(seq, 64) == R(Dim("seq", 128), 64) != R(128, 64)
    (R(Dim('seq', 128), 64), True)
    >>> Fin(50, seq).shape, seq.max, R(seq, 64).size        # the size at the bound
    ((Dim('seq', 128),), 128, 8192)
    >>> Dim("seq", 0)
    Traceback (most recent call last):
    ...
    TypeError: Dim: the bound must be a positive int, got 0
    """

    __slots__ = ("name", "max")
    name: str
    max: int

    def __init__(self, name: str, max: int) -> None:  # noqa: A002 - the bound's name
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"Dim: the name must be an identifier, got {name!r}")
        if isinstance(max, bool) or not isinstance(max, int) or max < 1:
            raise TypeError(f"Dim: the bound must be a positive int, got {max!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "max", max)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Dim is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is Dim and (self.name, self.max) == (other.name, other.max)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(("Dim", self.name, self.max))

    def __repr__(self) -> str:
        return f"Dim({self.name!r}, {self.max})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Dim, (self.name, self.max))


def is_symbolic(shape: tuple[Any, ...]) -> bool:
    """Whether a shape has a ``Dim`` entry.

    >>> is_symbolic((Dim("seq", 8), 4)), is_symbolic((8, 4))
    (True, False)
    """
    return any(isinstance(n, Dim) for n in shape)


def _check_shape(op: str, shape: tuple[Any, ...]) -> tuple[Any, ...]:
    for n in shape:
        if isinstance(n, Dim):
            continue
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise TypeError(
                f"{op}: shape entries must be non-negative ints, got {shape!r} (or Dims)"
            )
    return tuple(shape)


class R(Ob):
    """The Euclidean space of real arrays of a given shape: ``R(3)``, ``R(16, 64)``.

    ``R()`` is the real line (a scalar). The dtype is explicit and part of the
    type: ``R(3) != R(3, dtype="float64")``.

    >>> R(16, 64).shape, R(16, 64).dtype, R(16, 64).size
    ((16, 64), 'float32', 1024)
    """

    __slots__ = ("shape", "dtype")
    shape: tuple[int, ...]
    dtype: str

    def __init__(self, *shape: int | Dim, dtype: str = "float32") -> None:
        object.__setattr__(self, "shape", _check_shape("R", shape))
        if dtype not in DTYPES:
            raise TypeError(f"R: dtype must be one of {DTYPES}, got {dtype!r}")
        object.__setattr__(self, "dtype", dtype)
        self._seal()

    def _fields(self) -> tuple[Any, ...]:
        return (self.shape, self.dtype)

    @property
    def size(self) -> int:
        """The number of real entries (at the bound of each ``Dim``)."""
        out = 1
        for n in self.shape:
            out *= n.max if isinstance(n, Dim) else n
        return out

    def _leaf_repr(self) -> str:
        args = [repr(n) for n in self.shape]
        if self.dtype != "float32":
            args.append(f"dtype={self.dtype!r}")
        return f"R({', '.join(args)})"


class Fin(Ob):
    """Arrays of labels in ``{0, ..., n-1}``: ``Fin(65, 16)`` is 16 tokens from 65.

    ``Fin(n)`` (no shape) is one label: the coproduct of ``n`` copies of ``One``
    up to the isomorphism described in the module docstring.

    >>> Fin(65, 16).n, Fin(65, 16).shape, Fin(2).shape
    (65, (16,), ())
    """

    __slots__ = ("n", "shape")
    n: int
    shape: tuple[int, ...]

    def __init__(self, n: int, *shape: int | Dim) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise TypeError(f"Fin: the number of labels must be a non-negative int, got {n!r}")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "shape", _check_shape("Fin", shape))
        self._seal()

    def _fields(self) -> tuple[Any, ...]:
        return (self.n, self.shape)

    def _leaf_repr(self) -> str:
        return f"Fin({', '.join(repr(k) for k in (self.n, *self.shape))})"


class _Constant(Ob):
    """A structural object with no fields, printed by its public name."""

    __slots__ = ()
    _name: ClassVar[str]
    _instance: ClassVar[Any] = None

    def __new__(cls) -> Any:
        if cls._instance is None:
            inst = object.__new__(cls)
            type.__setattr__(cls, "_instance", inst)
            inst._seal()
        return cls._instance

    def _fields(self) -> tuple[Any, ...]:
        return ()

    def _leaf_repr(self) -> str:
        return self._name


class Unit(_Constant):
    """The type of ``One``, the terminal object (the empty product)."""

    __slots__ = ()
    _name = "One"


class Empty(_Constant):
    """The type of ``Zero``, the initial object (the empty coproduct)."""

    __slots__ = ()
    _name = "Zero"


class Truth(_Constant):
    """The type of ``Omega``, the subobject classifier (truth values)."""

    __slots__ = ()
    _name = "Omega"


One: Unit = Unit()
Zero: Empty = Empty()
Omega: Truth = Truth()


class _Binary(Ob):
    __slots__ = ("left", "right")
    left: Ob
    right: Ob

    def __init__(self, left: Ob, right: Ob) -> None:
        for side in (left, right):
            if not isinstance(side, Ob):
                raise not_a(type(self).__name__, "an object (R, Fin, One, ...)", side)
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)
        self._seal()

    def _fields(self) -> tuple[Any, ...]:
        return (self.left, self.right)

    def __iter__(self) -> Iterator[Ob]:
        yield self.left
        yield self.right

    def _operands(self) -> tuple[tuple[Ob, int], ...]:
        return ((self.left, self._prec), (self.right, self._prec + 1))


class Product(_Binary):
    """The binary product ``left * right`` (pairs; tuples in the JAX backend)."""

    __slots__ = ()
    _prec = _MUL
    _symbol = "*"


class Coproduct(_Binary):
    """The binary coproduct ``left + right`` (tagged unions)."""

    __slots__ = ()
    _prec = _ADD
    _symbol = "+"


class Exp(Ob):
    """The exponential ``base ** exponent``: the object of maps exponent -> base.

    >>> (R(4) ** R(3)).base, (R(4) ** R(3)).exponent
    (R(4), R(3))
    """

    __slots__ = ("base", "exponent")
    base: Ob
    exponent: Ob
    _prec = _POW
    _symbol = "**"

    def __init__(self, base: Ob, exponent: Ob) -> None:
        for side in (base, exponent):
            if not isinstance(side, Ob):
                raise not_a("Exp", "an object (R, Fin, One, ...)", side)
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "exponent", exponent)
        self._seal()

    def _fields(self) -> tuple[Any, ...]:
        return (self.base, self.exponent)

    def _operands(self) -> tuple[tuple[Ob, int], ...]:
        return ((self.base, _POW + 1), (self.exponent, _POW))


def factors(x: Ob) -> list[Ob]:
    """The leaves of a left- or right-nested product tree, left to right.

    >>> factors(R(1) * (R(2) * R(3)) * One)
    [R(1), R(2), R(3), One]
    """
    out: list[Ob] = []
    stack = [x]
    while stack:
        y = stack.pop()
        if isinstance(y, Product):
            stack.append(y.right)
            stack.append(y.left)
        else:
            out.append(y)
    return out
