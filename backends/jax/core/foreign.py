"""Foreign primitives: a JAX operation kept as it is, run by calling it back.

``topos.nn.primitives.foreign(op, dom, cod, cls, call=...)`` is the box an
importer makes for an operation the vocabulary has no box for. Its ``call``
attribute is a ``Bind``: the JAX primitive, its parameters and the dtypes of
its operands, so the backend runs the box by ``primitive.bind(*operands,
**params)`` — the very operation the imported program ran, with its derivative
and batching rules. Operands arrive as the box's per-example value (one array,
or left-nested pairs for several) and results leave the same way.

``Bind`` is hashable (by the primitive and a frozen view of the parameters), as
box attributes must be; two binds of the same primitive with equal parameters
are equal.

>>> import jax.numpy as jnp
>>> from jax import lax
>>> from topos import R
>>> from topos.nn.primitives import foreign
>>> from backends.jax import compile
>>> call = Bind(lax.cumsum_p, {"axis": 0, "reverse": False}, ("float32",))
>>> box = foreign("cumsum", R(3), R(3), cls="linear", call=call)
>>> compile(box)(jnp.array([1.0, 2.0, 3.0]))
Array([1., 3., 6.], dtype=float32)
>>> call == Bind(lax.cumsum_p, {"reverse": False, "axis": 0}, ("float32",))
True
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from topos.arrows import Box

__all__ = ["Bind", "Value", "freeze", "run_foreign"]


def freeze(value: Any) -> Any:
    """A hashable stand-in for a parameter value: dicts, lists and arrays by content.

    >>> freeze({"b": [1, 2], "a": None})
    (('a', None), ('b', (1, 2)))
    """
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return ("array", value.shape, str(value.dtype), value.tobytes())
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))  # unhashable and opaque: equal to itself only
    return value


class Bind:
    """A JAX primitive with its parameters: what a ``foreign`` box computes.

    ``in_dtypes`` are the operands' dtypes in the imported program; an operand of
    another *kind* (a boolean held as a label array, an integer constant) is cast
    back to its dtype before the call, so the primitive sees what it saw there.
    """

    __slots__ = ("primitive", "params", "in_dtypes", "_key")

    def __init__(self, primitive: Any, params: dict[str, Any], in_dtypes: tuple[str, ...]) -> None:
        self.primitive = primitive
        self.params = dict(params)
        self.in_dtypes = tuple(in_dtypes)
        self._key = (primitive.name, id(primitive), freeze(self.params), self.in_dtypes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bind) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_brief(v)}" for k, v in sorted(self.params.items()))
        return f"Bind({self.primitive.name}[{shown}])"

    def __call__(self, x: Any) -> Any:
        operands = _unnest(x, len(self.in_dtypes))
        cast = [_as_kind(v, d) for v, d in zip(operands, self.in_dtypes, strict=True)]
        out = self.primitive.bind(*cast, **self.params)
        if self.primitive.multiple_results:
            return _nest(list(out))
        return out


class Value:
    """A constant array held by the backend (an integer or boolean literal of a jaxpr).

    >>> Value(np.array([1, -2], np.int32))(())
    Array([ 1, -2], dtype=int32)
    """

    __slots__ = ("array", "_key")

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.asarray(array)
        self._key = freeze(self.array)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Value) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Value({self.array.dtype}{list(self.array.shape)})"

    def __call__(self, x: Any) -> Any:
        return jnp.asarray(self.array)


def _brief(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_kind(v: Any, dtype: str) -> Any:
    want = np.dtype(dtype)
    have = getattr(v, "dtype", None)
    if have is None:
        return jnp.asarray(v, want)
    if have == want or (jnp.issubdtype(have, jnp.floating) and jnp.issubdtype(want, jnp.floating)):
        return v  # floats keep their precision: a float64 run of a float32 import stays float64
    return v.astype(want)


def _unnest(x: Any, n: int) -> list[Any]:
    """The ``n`` operands of a left-nested pair ``((a, b), c)``."""
    if n == 0:
        return []
    out: list[Any] = []
    for _ in range(n - 1):
        x, last = x
        out.append(last)
    out.append(x)
    return out[::-1]


def _nest(xs: list[Any]) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = (out, x)
    return out


def run_foreign(box: Box, x: Any) -> Any:
    """The JAX implementation of the ``foreign`` box: call its ``call`` attribute back.

    A ``foreign`` box without one (read back from JSON, say) cannot run: the
    error names the operation and says how to get a runnable box.
    """
    call = box.attrs.get("call")
    if not callable(call):
        raise TypeError(
            f"the foreign box {box.attrs.get('op')!r} ({box.dom!r} -> {box.cod!r}) carries no"
            " JAX operation to call back (call=...); import the function again with"
            " backends.jax.from_jax, or register a box of the vocabulary for it"
        )
    return call(x)
