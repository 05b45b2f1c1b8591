"""Symbolic values: what a traced function computes with, and the tape that records it.

A ``Value`` stands for an element of an object (``R(...)``, ``Fin(...)``, a
product ...) inside a function being traced. Every operation on it appends a
*node* to the tape of its ``Tape``: the application of an arrow of the free
category to earlier values. ``topos.syntax.wiring`` turns the tape into one arrow.

>>> from topos import R
>>> tape = Tape()
>>> x = tape.input(R(2, 3))
>>> y = tape.apply(P.relu(R(2, 3)), (x,))
>>> y.ob, len(tape.nodes)
(R(2, 3), 2)
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Union

from topos.arrows import Arrow, fst, snd
from topos.errors import TypeMismatch
from topos.nn import primitives as P
from topos.objects import Fin, Ob, Product, R
from topos.para import Init, Para, Param

__all__ = ["Args", "Tape", "TraceError", "Value", "active", "located", "user_code"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_TOPOS = os.path.dirname(_HERE)


class TraceError(TypeMismatch):
    """A construct of a traced function that does not type, located at the user's line.

    The message starts with ``file:line`` of the offending expression and names
    the operation and the types of its operands.
    """


_LIBRARY = tuple({os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix, _TOPOS)})


def user_code(frame: FrameType) -> bool:
    """Whether ``frame`` runs the user's code: not topos, not an installed library,
    not Python's own (``<frozen ...>``), not code topos generates at run time (a
    dataclass ``__init__``, whose file is ``<string>``)."""
    filename = frame.f_code.co_filename
    if filename.startswith("<"):
        module = str(frame.f_globals.get("__name__", ""))
        generated = filename == "<string>" and (module == "topos" or module.startswith("topos."))
        return not filename.startswith("<frozen") and not generated
    return not os.path.abspath(filename).startswith(_LIBRARY)


def _user_frame() -> tuple[str, int]:
    """``(file, line)`` of the innermost caller in the user's code."""
    frame = sys._getframe(1)
    while frame is not None:
        if user_code(frame):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>", 0


def located(message: str) -> TraceError:
    """A ``TraceError`` whose message is prefixed with the user's ``file:line``."""
    file, line = _user_frame()
    return TraceError(f"{file}:{line}: {message}")


# -- the tape -----------------------------------------------------------------------

#: A tree of values matching a product object: a value, or a tuple of trees
#: (``(a, b, c)`` stands for ``(A * B) * C``, as Python's ``*`` nests), ``()`` for One.
Args = Union["Value", tuple[Any, ...]]


@dataclass(eq=False)
class Node:
    """``arrow`` applied to the values ``args`` (``None``: an input leaf of the tape)."""

    arrow: Arrow | None
    args: Args
    out: Value | None = None


@dataclass(eq=False)
class Group:
    """Parameters entering together: a layer's whole ``P`` or one inline ``param``."""

    ob: Ob
    params: tuple[Param, ...]
    value: Value | None = None


@dataclass(eq=False)
class Tape:
    """The nodes of one trace, in order, and its parameter groups."""

    nodes: list[Node] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    by_path: dict[str, Group] = field(default_factory=dict)

    def input(self, ob: Ob) -> Value:
        """A fresh input leaf of type ``ob``."""
        node = Node(None, ())
        node.out = Value(self, ob, len(self.nodes))
        self.nodes.append(node)
        return node.out

    def apply(self, arrow: Arrow, args: Args) -> Value:
        """``arrow`` applied to ``args`` (a tree whose object is ``arrow.dom``)."""
        node = Node(arrow, args)
        node.out = Value(self, arrow.cod, len(self.nodes))
        self.nodes.append(node)
        return node.out

    def params_of(self, p: Para) -> Value:
        """The value of a layer's parameters; one per set of paths (calls share weights)."""
        paths = [x.path for x in p.params]
        known = [self.by_path[x] for x in paths if x in self.by_path]
        if known:
            first = known[0]
            if first.ob == p.P and first.params == p.params:
                assert first.value is not None
                return first.value
            raise located(
                f"the parameters {', '.join(x.path for x in first.params)} of one layer"
                f" and {', '.join(paths)} of another overlap; name the layers apart"
                " (name=... or .named('...'))"
            )
        return self._group(p.P, p.params)

    def param(self, path: str, ob: Ob, init: Init) -> Value:
        """The inline parameter ``path``; declared again with the same type, the same one."""
        if path in self.by_path:
            known = self.by_path[path]
            if known.params == (Param(path, ob, init),):
                assert known.value is not None
                return known.value
            raise located(
                f"param {path!r} is declared as {ob!r} here and as"
                f" {known.params[0].ob!r} before (or by a layer)"
            )
        return self._group(ob, (Param(path, ob, init),))

    def _group(self, ob: Ob, params: tuple[Param, ...]) -> Value:
        group = Group(ob, params)
        group.value = self.input(ob)
        self.groups.append(group)
        for x in params:
            self.by_path[x.path] = group
        return group.value


_STACK = threading.local()


def active() -> Tape:
    """The tape of the innermost trace running on this thread (refused outside one)."""
    tapes: list[Tape] = getattr(_STACK, "tapes", [])
    if not tapes:
        raise located(
            "symbolic operations (param, layer calls on values ...) work only inside a"
            " function traced by topos.trace or @topos.diagram"
        )
    return tapes[-1]


def push(tape: Tape) -> None:
    """Start recording on ``tape`` (this thread)."""
    if not hasattr(_STACK, "tapes"):
        _STACK.tapes = []
    _STACK.tapes.append(tape)


def pop() -> None:
    """Stop recording on the innermost tape."""
    _STACK.tapes.pop()


# -- values -------------------------------------------------------------------------

Scalar = (int, float)


class Value:
    """A symbolic element of ``ob`` inside a traced function; operators record boxes.

    Arithmetic follows NumPy: ``+ - * /`` broadcast (a number operand becomes a
    constant, or ``scale`` for ``*`` and ``/``), ``@`` is the matrix product,
    ``x[...]`` indexes and slices, ``.T``/``.transpose``/``.reshape`` move entries.
    """

    __slots__ = ("tape", "ob", "index", "name")
    tape: Tape
    ob: Ob
    index: int
    name: str | None

    def __init__(self, tape: Tape, ob: Ob, index: int) -> None:
        self.tape, self.ob, self.index, self.name = tape, ob, index, None

    def __repr__(self) -> str:
        label = f"{self.name}: " if self.name else ""
        return f"<{label}{self.ob!r}>"

    def __bool__(self) -> bool:
        raise located(
            f"a symbolic value {self.ob!r} has no truth value while tracing; use"
            " where(cond, x, y) instead of if/and/or"
        )

    # -- shape --------------------------------------------------------------------
    @property
    def shape(self) -> tuple[Any, ...]:
        """The shape of an array value (``R`` or ``Fin``)."""
        if not isinstance(self.ob, (R, Fin)):
            raise located(f".shape: {self.ob!r} is not an array object")
        return self.ob.shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return len(self.shape)

    @property
    def T(self) -> Value:  # noqa: N802 (NumPy's name)
        """The axes reversed (``transpose``)."""
        from topos.syntax.ops import transpose

        return transpose(self)

    def transpose(self, *perm: int) -> Value:
        """``x.transpose(1, 0, 2)``: the axes permuted (reversed with no argument)."""
        from topos.syntax.ops import transpose

        return transpose(self, perm[0] if len(perm) == 1 and isinstance(perm[0], tuple) else perm)

    def reshape(self, *shape: Any) -> Value:
        """``x.reshape(4, -1)``: the entries in row-major order with another shape."""
        from topos.syntax.ops import reshape

        return reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape)

    def sum(self, axis: int = -1, keepdims: bool = False) -> Value:
        """The sum over ``axis``."""
        from topos.syntax.ops import sum as total

        return total(self, axis, keepdims)

    def mean(self, axis: int = -1, keepdims: bool = False) -> Value:
        """The mean over ``axis``."""
        from topos.syntax.ops import mean

        return mean(self, axis, keepdims)

    def max(self, axis: int = -1, keepdims: bool = False) -> Value:
        """The maximum over ``axis``."""
        from topos.syntax.ops import max as most

        return most(self, axis, keepdims)

    # -- products -----------------------------------------------------------------
    def __iter__(self) -> Iterator[Value]:
        """A value of a product ``(A * B) * C`` unpacks into its factors ``a, b, c``."""
        if not isinstance(self.ob, Product):
            raise located(f"only a value of a product type unpacks, not one of {self.ob!r}")
        return iter(_unpack(self))

    # -- arithmetic ---------------------------------------------------------------
    def __add__(self, other: Any) -> Value:
        return _binary("add", "+", self, other)

    def __radd__(self, other: Any) -> Value:
        return _binary("add", "+", other, self)

    def __sub__(self, other: Any) -> Value:
        return _binary("sub", "-", self, other)

    def __rsub__(self, other: Any) -> Value:
        return _binary("sub", "-", other, self)

    def __mul__(self, other: Any) -> Value:
        if isinstance(other, Scalar) and not isinstance(other, bool):
            return _unary("*", lambda a: P.scale(a, float(other)), self)
        return _binary("mul", "*", self, other)

    def __rmul__(self, other: Any) -> Value:
        if isinstance(other, Scalar) and not isinstance(other, bool):
            return _unary("*", lambda a: P.scale(a, float(other)), self)
        return _binary("mul", "*", other, self)

    def __truediv__(self, other: Any) -> Value:
        if isinstance(other, Scalar) and not isinstance(other, bool):
            if other == 0:
                raise located(f"/: division of {self.ob!r} by the number 0")
            return _unary("/", lambda a: P.scale(a, 1.0 / float(other)), self)
        return _binary("div", "/", self, other)

    def __rtruediv__(self, other: Any) -> Value:
        return _binary("div", "/", other, self)

    def __neg__(self) -> Value:
        return _unary("-", lambda a: P.scale(a, -1.0), self)

    def __pos__(self) -> Value:
        return self

    def __pow__(self, k: Any) -> Value:
        if k == 0.5:
            return _unary("**", P.sqrt, self)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise located(f"**: only powers 1, 2, 3 ... and 0.5 of {self.ob!r}, got {k!r}")
        out = self
        for _ in range(k - 1):
            out = _binary("mul", "*", out, self)
        return out

    def __matmul__(self, other: Any) -> Value:
        from topos.syntax.ops import matmul

        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Value:
        from topos.syntax.ops import matmul

        return matmul(other, self)

    def __lt__(self, other: Any) -> Value:
        return _binary("compare", "<", self, other, op="lt")

    def __le__(self, other: Any) -> Value:
        return _binary("compare", "<=", self, other, op="le")

    def __gt__(self, other: Any) -> Value:
        return _binary("compare", ">", self, other, op="gt")

    def __ge__(self, other: Any) -> Value:
        return _binary("compare", ">=", self, other, op="ge")

    __hash__ = object.__hash__

    def __getitem__(self, index: Any) -> Value:
        from topos.syntax.ops import getitem

        return getitem(self, index)


def _unpack(v: Value) -> list[Value]:
    """The factors of the left spine of a product: ``(A * B) * C`` gives three."""
    out: list[Value] = []
    while isinstance(v.ob, Product):
        a, b = v.ob.left, v.ob.right
        out.append(record(f"unpack {v.ob!r}", snd(a, b), (v,)))
        v = record(f"unpack {v.ob!r}", fst(a, b), (v,))
    out.append(v)
    return out[::-1]


def tape_of(*xs: Any) -> Tape:
    """The tape of the values among ``xs`` (the active one when there is none)."""
    tapes = {id(x.tape): x.tape for x in xs if isinstance(x, Value)}
    if len(tapes) > 1:
        raise located("values of two different traces meet in one operation")
    if tapes:
        tape = next(iter(tapes.values()))
        if getattr(_STACK, "tapes", []) and _STACK.tapes[-1] is not tape:
            raise located(
                "a value of an enclosing trace is used inside another traced function;"
                " pass it as an argument"
            )
        return tape
    return active()


def constant(value: float, ob: R | None = None) -> Value:
    """The number ``value`` as a constant value (``full``) of ``R()`` or ``ob``."""
    tape = active()
    return tape.apply(P.full(ob if ob is not None else R(), float(value)), ())


def lift(x: Any, what: str) -> Value:
    """``x`` as a value: values stay, numbers become constants ``R()``."""
    if isinstance(x, Value):
        return x
    if isinstance(x, Scalar) and not isinstance(x, bool):
        return constant(float(x))
    raise located(f"{what}: expected a symbolic value or a number, got {type(x).__name__} {x!r}")


def record(what: str, build: Arrow | Callable[..., Arrow], args: Sequence[Value]) -> Value:
    """Apply ``build`` (an arrow, or a function of the operands' objects giving one).

    A ``TypeMismatch`` while building becomes a ``TraceError`` at the user's line
    naming ``what`` and the operands' types.
    """
    tape = tape_of(*args)
    try:
        arrow = build if isinstance(build, Arrow) else build(*(a.ob for a in args))
    except (TypeMismatch, ValueError) as err:
        types = " and ".join(repr(a.ob) for a in args)
        raise located(f"{what} of {types}: {err}") from None
    tree: Args = args[0] if len(args) == 1 else tuple(args)
    return tape.apply(arrow, tree)


def _unary(what: str, build: Callable[..., Arrow], x: Value) -> Value:
    return record(what, build, [x])


def _binary(name: str, what: str, a: Any, b: Any, **kw: Any) -> Value:
    x, y = lift(a, what), lift(b, what)
    box = getattr(P, name)
    return record(what, lambda s, t: box(s, t, **kw), [x, y])
