"""The values a constant may hold: literals, arrays held by content, and their identity.

A ``Const(cod, value)`` holds a *literal* (a number, a bool, nested tuples of
them), an ``ArrayData`` (shape, dtype and raw bytes), or a reference a library
defines (a frozen parameter, an opaque handle a semantics gives meaning to).
Literals and arrays are checked against their object when the constant is
built: the shape must be the object's, and the entries of its kind (real
numbers in ``R``, labels ``0 .. n-1`` in ``Fin(n)``, bools in ``Omega``):

>>> from topos.objects import R, Fin
>>> misfit(R(3), (1.0, 2.0))
"shape (2,), the object's shape is (3,)"
>>> misfit(Fin(3, 2), (0, 2)) is None
True

A value is compared by what it computes, so a float by its bits: ``0.0`` and
``-0.0`` are different constants (``1 / x`` tells them apart) and NaN is equal
to itself:

>>> value_key(0.0) == value_key(-0.0), value_key(float("nan")) == value_key(float("nan"))
(False, True)
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from topos.errors import array_size, brief
from topos.objects import DTYPES, Dim, Fin, Ob, R, Truth

__all__ = ["ITEMSIZE", "LABEL_DTYPES", "ArrayData", "misfit", "value_key"]

#: Bytes per entry of each dtype an ``ArrayData`` may hold.
ITEMSIZE: dict[str, int] = {
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
    "int8": 1,
    "int16": 2,
    "int32": 4,
    "int64": 8,
    "uint8": 1,
    "uint16": 2,
    "uint32": 4,
    "uint64": 8,
    "bool": 1,
}
#: The dtypes of label arrays (``Fin``), with their ``memoryview`` formats.
LABEL_DTYPES: dict[str, str] = {
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "uint8": "B",
    "uint16": "H",
    "uint32": "I",
    "uint64": "Q",
}


class ArrayData:
    """An array-valued constant held by content: shape, dtype and raw bytes (C order).

    Equality and hashing use a digest of the bytes, so a 1024×64 table is stored
    once and compared in constant time; backends turn it into an array. The
    dtype must be one of ``ITEMSIZE`` and the bytes exactly fill the shape.

    >>> a = ArrayData((2,), "float32", bytes(8))
    >>> a == ArrayData((2,), "float32", bytes(8)), a.nbytes, a
    (True, 8, ArrayData((2,), 'float32', <8 bytes ...>))
    >>> ArrayData((10**12,), "float64", bytes(8))
    Traceback (most recent call last):
    ...
    ValueError: ArrayData: shape (1000000000000,) of float64 takes 8000000000000 bytes, got 8
    """

    __slots__ = ("shape", "dtype", "data", "digest")
    shape: tuple[int, ...]
    dtype: str
    data: bytes
    digest: str

    def __init__(self, shape: tuple[int, ...], dtype: str, data: bytes) -> None:
        shape = tuple(shape)
        if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in shape):
            raise TypeError(f"ArrayData: shape must be non-negative ints, got {shape!r}")
        if not isinstance(data, bytes):
            raise TypeError(f"ArrayData: data must be bytes, got {type(data).__name__}")
        if not isinstance(dtype, str) or dtype not in ITEMSIZE:
            raise TypeError(f"ArrayData: dtype must be one of {tuple(ITEMSIZE)}, got {dtype!r}")
        need = ITEMSIZE[dtype]
        for k in shape:
            need *= k
        if need != len(data):
            raise array_size(shape, dtype, need, len(data))
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "data", data)
        digest = hashlib.sha256(repr((shape, dtype)).encode() + data).hexdigest()
        object.__setattr__(self, "digest", digest)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ArrayData is immutable")

    @property
    def nbytes(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayData) and self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return (
            f"ArrayData({self.shape!r}, {self.dtype!r}, <{self.nbytes} bytes {self.digest[:8]}...>)"
        )


def value_key(value: Any) -> Any:
    """What a constant's value is compared and hashed by.

    A float by its bits (NaN as one value), a number with its type (``1``,
    ``1.0`` and ``True`` differ), a tuple entry by entry, a dataclass (a frozen
    parameter) field by field; anything else by its own ``==``.

    >>> value_key((1, -0.0))
    (('int', 1), ('float', '-0x0.0p+0'))
    """
    if isinstance(value, tuple):
        return tuple(value_key(v) for v in value)
    if isinstance(value, float):
        return (type(value).__name__, "nan" if value != value else value.hex())
    if isinstance(value, complex):
        return (type(value).__name__, value_key(value.real), value_key(value.imag))
    if isinstance(value, (bool, int, str)):
        return (type(value).__name__, value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value).__name__, tuple(value_key(getattr(value, f.name)) for f in fields))
    return value


def _is_literal(value: Any) -> bool:
    return isinstance(value, (bool, int, float, complex, tuple))


def misfit(cod: Ob, value: Any) -> str | None:
    """Why ``value`` cannot be a constant of ``cod``, or ``None`` when it can.

    Literals and arrays are checked; a reference (any other value) is opaque
    here: the semantics that reads it gives it meaning.

    >>> misfit(R(2), (1.0, True))
    'the entry True is not a real number'
    """
    if isinstance(value, ArrayData):
        return _array_misfit(cod, value)
    if not _is_literal(value):
        return None
    if not isinstance(cod, (R, Fin, Truth)):
        return "a literal needs R, Fin or Omega"
    shape = () if isinstance(cod, Truth) else cod.shape
    for k in shape:
        if isinstance(k, Dim):
            return f"a literal has fixed lengths, the object has the variable length {k!r}"
    got, leaves = _shape_and_leaves(value)
    if got is None:
        return "ragged: nested tuples of different lengths"
    if got != shape:
        return f"shape {got}, the object's shape is {shape}"
    for x in leaves:
        why = _entry_misfit(cod, x)
        if why is not None:
            return why
    return None


def _shape_and_leaves(value: Any) -> tuple[tuple[int, ...] | None, list[Any]]:
    """The shape of nested tuples (``None`` when ragged) and their entries, level by level."""
    shape: list[int] = []
    level = [value]
    while level and all(isinstance(x, tuple) for x in level):
        sizes = {len(x) for x in level}
        if len(sizes) != 1:
            return None, []
        shape.append(sizes.pop())
        level = [y for x in level for y in x]
    if any(isinstance(x, tuple) for x in level):
        return None, []
    return tuple(shape), level


def _entry_misfit(cod: Ob, x: Any) -> str | None:
    if isinstance(cod, R):
        real = isinstance(x, (int, float)) and not isinstance(x, bool)
        return None if real else f"the entry {brief(x, 40)} is not a real number"
    if isinstance(cod, Fin):
        label = isinstance(x, int) and not isinstance(x, bool) and 0 <= x < cod.n
        return None if label else f"the entry {brief(x, 40)} is not a label in {_labels(cod)}"
    return None if isinstance(x, bool) else f"the entry {brief(x, 40)} is not a truth value"


def _labels(cod: Fin) -> str:
    return f"{{0, ..., {cod.n - 1}}}" if cod.n else "{} (Fin(0) has no labels)"


def _array_misfit(cod: Ob, a: ArrayData) -> str | None:
    if isinstance(cod, R):
        kind_ok, holds = a.dtype in DTYPES, cod.dtype
    elif isinstance(cod, Fin):
        kind_ok, holds = a.dtype in LABEL_DTYPES, "labels"
    elif isinstance(cod, Truth):
        kind_ok, holds = a.dtype == "bool", "truth values (bool)"
    else:
        return "an array needs R, Fin or Omega"
    if not kind_ok:
        return f"{a.dtype} entries, the object holds {holds}"
    shape = () if isinstance(cod, Truth) else cod.shape
    if a.shape != shape:
        return f"shape {a.shape}, the object's shape is {shape}"
    if isinstance(cod, Fin) and a.data:
        labels = memoryview(a.data).cast(LABEL_DTYPES[a.dtype])  # type: ignore[call-overload]
        for x in (min(labels), max(labels)):
            if not 0 <= x < cod.n:
                return f"the label {x} is not in {_labels(cod)}"
    return None
