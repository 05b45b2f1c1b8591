"""Values of objects in the JAX backend: the representation, checking, zeros, select.

Every object of ``topos`` has a per-example representation as a JAX pytree:

==================  =========================================================
object              value
==================  =========================================================
``R(*s, dtype)``    a floating array of shape ``s`` (dtype kind checked)
``Fin(n, *s)``      an integer array of shape ``s`` (``int32`` when built here)
                    (for ``Fin(2, *s)`` a boolean array too: ``Fin(2)`` is ``1 + 1``)
``Omega``           a boolean array of shape ``()``
``One``             the empty tuple ``()``
``A * B``           a pair ``(a, b)``
``A + B``           a triple ``(tag, a, b)``: ``tag`` a boolean array of shape
                    ``()``, ``True`` for the right summand; *both* branches are
                    materialised and the inactive one holds zeros
``B ** A``          a Python callable from values of ``A`` to values of ``B``,
                    resolved at trace time (it never reaches compiled code)
``Zero``            no value; inside a coproduct its slot holds ``None``
==================  =========================================================

The tagged representation of coproducts is what makes case analysis work under
``jax.jit`` and ``jax.vmap``: a ``copair`` computes both branches and selects
with ``jnp.where`` on the tag, broadcast over the output pytree. Its cost is
that of both branches; its gradient is exact (the inactive branch gets a zero
cotangent), provided the inactive branch stays finite on zeros.

>>> import jax.numpy as jnp
>>> from topos import R, Fin, One, Omega
>>> zeros(R(2) + Fin(5, 3))
(Array(False, dtype=bool), Array([0., 0.], dtype=float32), Array([0, 0, 0], dtype=int32))
>>> check(R(2) * One, (jnp.ones(2), ()))
>>> check(R(2) * One, (jnp.ones(3), ()))
Traceback (most recent call last):
...
ValueError: input[0]: expected shape (2,) for R(2), got shape (3,)
>>> u, v = zeros(R(2) + One), (jnp.array(True), jnp.ones(2), ())
>>> select(R(2) + One, jnp.array(True), u, v)[0]
Array(True, dtype=bool)

Token ids of ``Fin(n)`` must lie in ``0..n-1``; an id outside is not clamped
silently but refused. ``check`` tests concrete values eagerly. Under ``jax.jit``
and ``jax.vmap`` the values are abstract: ``checked_ids(x, value)`` adds a test
that raises at run time (``equinox.error_if``), which ``compile(f)(x)``,
``apply``, ``batched`` and ``decode_step`` embed by default (``check_ids=False``
leaves it out). On several devices a raising test would stall the devices that
do not run it, so there an example with an id out of range gets NaN outputs
instead (``run_checked``):

>>> from topos import Fin
>>> check(Fin(7, 2), jnp.array([3, 100]))
Traceback (most recent call last):
...
ValueError: input: token ids of Fin(7, 2) must be in 0..6, got 100 at index (1,)
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from topos.objects import Coproduct, Empty, Exp, Fin, Ob, Product, R, Truth, Unit

__all__ = [
    "Unstacked",
    "check",
    "checked_ids",
    "describe",
    "dtype_of",
    "has_tracer",
    "HostIds",
    "ids_on_host",
    "leaves",
    "has_unstacked",
    "ids_in_range",
    "is_unstacked",
    "kind_ok",
    "layer",
    "on_several_devices",
    "poisoned",
    "run_checked",
    "select",
    "shape_of",
    "zeros",
]

KIND = {R: "floating", Fin: "integer", Truth: "boolean"}


def dtype_of(x: Ob) -> Any:
    """The JAX dtype that values of a generating object ``x`` are built with.

    >>> from topos import R, Fin, Omega
    >>> dtype_of(R(3)), dtype_of(R(3, dtype="bfloat16")), dtype_of(Fin(4)), dtype_of(Omega)
    (dtype('float32'), dtype(bfloat16), dtype('int32'), dtype('bool'))
    """
    if isinstance(x, R):
        return jnp.dtype(x.dtype)
    if isinstance(x, Fin):
        return jnp.dtype("int32")
    if isinstance(x, Truth):
        return jnp.dtype("bool")
    raise TypeError(f"dtype_of: {x!r} is not a generating object (R, Fin or Omega)")


def shape_of(x: Ob) -> tuple[int, ...]:
    return x.shape if isinstance(x, (R, Fin)) else ()


def zeros(x: Ob) -> Any:
    """The zero value of ``x``: what fills the inactive branch of a coproduct.

    ``Zero`` has no value; its placeholder is ``None``. An exponential's zero is
    the constant function to the zero of its base.

    >>> from topos import R, One, Omega
    >>> zeros(R(2) * (One * Omega))
    (Array([0., 0.], dtype=float32), ((), Array(False, dtype=bool)))
    >>> zeros(R(1) ** R(3))(None)
    Array([0.], dtype=float32)
    """
    if isinstance(x, (R, Fin, Truth)):
        return jnp.zeros(shape_of(x), dtype_of(x))
    if isinstance(x, Unit):
        return ()
    if isinstance(x, Empty):
        return None
    if isinstance(x, Product):
        return (zeros(x.left), zeros(x.right))
    if isinstance(x, Coproduct):
        return (jnp.zeros((), bool), zeros(x.left), zeros(x.right))
    if isinstance(x, Exp):
        base = x.base
        return lambda _: zeros(base)
    raise TypeError(f"zeros: unknown object {x!r}")


def select(x: Ob, tag: Any, left: Any, right: Any) -> Any:
    """The value of ``x`` equal to ``right`` where ``tag`` is true, else ``left``.

    ``tag`` is a boolean scalar (per example); it is broadcast over the pytree of
    ``x``. Exponentials are selected pointwise (a new closure), so the choice is
    resolved when the function is applied, still at trace time.

    >>> import jax.numpy as jnp
    >>> from topos import R, One
    >>> select(R(2) * One, jnp.array(False), (jnp.zeros(2), ()), (jnp.ones(2), ()))
    (Array([0., 0.], dtype=float32), ())
    """
    if isinstance(x, (R, Fin, Truth)):
        return jnp.where(tag, right, left)
    if isinstance(x, Unit):
        return ()
    if isinstance(x, Empty):
        return None
    if isinstance(x, Product):
        return (select(x.left, tag, left[0], right[0]), select(x.right, tag, left[1], right[1]))
    if isinstance(x, Coproduct):
        return (
            jnp.where(tag, right[0], left[0]),
            select(x.left, tag, left[1], right[1]),
            select(x.right, tag, left[2], right[2]),
        )
    if isinstance(x, Exp):
        base = x.base
        return lambda a: select(base, tag, left(a), right(a))
    raise TypeError(f"select: unknown object {x!r}")


def describe(value: Any) -> str:
    """A short description of a value for error messages: type, shape, dtype.

    >>> import numpy as np
    >>> describe(np.zeros((2, 3), np.float32)), describe(()), describe([1, 2])
    ('float32 array of shape (2, 3)', 'tuple of length 0', 'list')
    """
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{value.dtype} array of shape {tuple(value.shape)}"
    if isinstance(value, tuple):
        return f"tuple of length {len(value)}"
    return type(value).__name__


def kind_ok(want: str, dtype: Any) -> bool:
    if want == "floating":
        return bool(jnp.issubdtype(dtype, jnp.floating))
    if want == "integer":
        return bool(jnp.issubdtype(dtype, jnp.integer))
    return bool(jnp.issubdtype(dtype, jnp.bool_))


_SCALAR_DTYPE = {bool: np.dtype(bool), int: np.dtype("int32"), float: np.dtype("float32")}


def _array_meta(value: Any) -> tuple[tuple[int, ...], Any] | None:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return tuple(value.shape), value.dtype
    if type(value) in _SCALAR_DTYPE:
        return (), _SCALAR_DTYPE[type(value)]
    return None


def check(x: Ob, value: Any, where: str = "input") -> None:
    """Check that ``value`` represents an element of ``x``; raise naming the position.

    Tuple arity for products and coproducts, shape and dtype kind (floating for
    ``R``, integer for ``Fin``, boolean for ``Omega``) for arrays, callability for
    exponentials. Errors are ``TypeError`` (wrong kind of value) or ``ValueError``
    (wrong shape), and name the position like ``input[1][0]``.

    >>> import jax.numpy as jnp
    >>> from topos import R, Fin
    >>> check(R(2) * Fin(3, 4), (jnp.ones(2), jnp.ones(4)))
    Traceback (most recent call last):
    ...
    TypeError: input[1]: expected an integer array for Fin(3, 4), got float32 array of shape (4,)
    """
    stack: list[tuple[Ob, Any, str]] = [(x, value, where)]
    while stack:
        ob, v, at = stack.pop()
        if isinstance(ob, (R, Fin, Truth)):
            _check_array(ob, v, at)
        elif isinstance(ob, Unit):
            if not (isinstance(v, tuple) and len(v) == 0):
                raise TypeError(f"{at}: expected () for One, got {describe(v)}")
        elif isinstance(ob, Empty):
            if v is not None:
                raise TypeError(
                    f"{at}: Zero has no values (its slot holds None), got {describe(v)}"
                )
        elif isinstance(ob, Product):
            _check_tuple(ob, v, at, 2, "a pair (a, b)")
            stack += [(ob.right, v[1], f"{at}[1]"), (ob.left, v[0], f"{at}[0]")]
        elif isinstance(ob, Coproduct):
            _check_tuple(ob, v, at, 3, "a triple (tag, left, right)")
            stack += [(ob.right, v[2], f"{at}[2]"), (ob.left, v[1], f"{at}[1]")]
            _check_tag(v[0], f"{at}[0]")
        elif isinstance(ob, Exp):
            if not callable(v):
                raise TypeError(f"{at}: expected a callable for {ob!r}, got {describe(v)}")
        else:
            raise TypeError(f"{at}: unknown object {ob!r}")


def _check_tuple(ob: Ob, v: Any, at: str, n: int, what: str) -> None:
    if not isinstance(v, tuple) or len(v) != n:
        raise TypeError(f"{at}: expected {what} for {ob!r}, got {describe(v)}")


def _check_tag(v: Any, at: str) -> None:
    meta = _array_meta(v)
    if meta is None or meta[0] != () or not kind_ok("boolean", meta[1]):
        raise TypeError(f"{at}: expected a boolean scalar coproduct tag, got {describe(v)}")


def _check_array(ob: Ob, v: Any, at: str) -> None:
    want = KIND[type(ob)]
    meta = _array_meta(v)
    if meta is not None and isinstance(ob, Fin) and ob.n == 2 and kind_ok("boolean", meta[1]):
        want = "boolean"  # Fin(2) is 1 + 1: a boolean array is one of its representations
    if meta is None or not kind_ok(want, meta[1]):
        article = "an" if want == "integer" else "a"
        raise TypeError(f"{at}: expected {article} {want} array for {ob!r}, got {describe(v)}")
    shape = meta[0]
    expect = shape_of(ob)
    if shape != expect:
        hint = ""
        if shape[1:] == expect:
            hint = " (a leading batch axis? values are per example: use jax.vmap)"
        raise ValueError(f"{at}: expected shape {expect} for {ob!r}, got shape {shape}{hint}")
    if isinstance(ob, Fin) and not isinstance(v, jax.core.Tracer):
        _check_ids(ob, np.asarray(v), at)


def _check_ids(ob: Fin, ids: np.ndarray, at: str) -> None:
    bad = (ids < 0) | (ids >= ob.n)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{at}: token ids of {ob!r} must be in 0..{ob.n - 1}, got {ids[index]} at index {index}"
        )


def has_tracer(value: Any) -> bool:
    """Whether a value (nested tuples, lists, dicts of arrays) holds a JAX tracer.

    Iterative: ``jax.tree.leaves`` recurses in C++ along a deep Para's nesting.

    >>> import jax, jax.numpy as jnp
    >>> seen = []
    >>> _ = jax.jit(lambda v: seen.append(has_tracer({"a": (v,)})) or v)(1.0)
    >>> has_tracer((jnp.ones(2), [1.0])), seen
    (False, [True])
    """
    return any(isinstance(y, jax.core.Tracer) for y in leaves(value))


def leaves(*values: Any) -> Iterator[Any]:
    """The leaves of nested tuples, lists and dicts, iteratively (deep nestings are fine).

    >>> list(leaves((1, [2, {"a": 3}]), 4))
    [4, 1, 2, 3]
    """
    stack = list(values)
    while stack:
        y = stack.pop()
        if isinstance(y, (tuple, list)):
            stack.extend(reversed(y))
        elif isinstance(y, dict):
            stack.extend(reversed(list(y.values())))
        else:
            yield y


def checked_ids(x: Ob, value: Any, where: str = "input") -> Any:
    """``value`` with a run-time check that every ``Fin`` id in it is in range.

    The checked mode for jitted code: where ``check`` cannot see abstract values,
    this adds ``equinox.error_if`` to each traced ``Fin`` leaf, so an out-of-range
    id raises when the function runs (with the message naming the position; under
    ``equinox.filter_jit`` that message is all the error says, under ``jax.jit``
    it is inside a longer runtime error). A concrete ``Fin`` leaf, of any shape
    (a batch too), is checked at once as ``check`` does (``ValueError``). Other
    leaves pass through unchanged. ``apply``, ``batched``, ``compile`` and
    ``decode_step`` call it on traced inputs on one device (``run_checked``)
    unless told ``check_ids=False``; ``EQX_ON_ERROR=off`` turns every such test
    off (``equinox.error_if``).

    Args:
        x: the object ``value`` represents.
        value: a per-example value of ``x`` (concrete or traced).
        where: the name of the position, for the message.

    Returns:
        ``value``, with the checks attached.

    >>> import jax, jax.numpy as jnp
    >>> from topos import Fin, R
    >>> f = jax.jit(lambda v: checked_ids(Fin(5, 2) * R(1), v)[0].sum())
    >>> int(f((jnp.array([1, 4]), jnp.ones(1))))
    5
    >>> try:
    ...     f((jnp.array([1, 5]), jnp.ones(1)))
    ... except Exception as err:
    ...     print("input[0]: a token id of Fin(5, 2) is outside 0..4" in str(err))
    True
    """
    if isinstance(x, Fin) and not isinstance(value, jax.core.Tracer):
        _check_ids(x, np.asarray(value), where)
        return value
    if isinstance(x, Fin):
        host = _HOST.get()
        if host is not None and host.claim(x, value, where):
            return value  # a leaf of the batch: its caller checks it on the host
        bad = ~_in_range(x, value)
        return eqx.error_if(value, bad, f"{where}: a token id of {x!r} is outside 0..{x.n - 1}")
    if isinstance(x, Product):
        return (
            checked_ids(x.left, value[0], f"{where}[0]"),
            checked_ids(x.right, value[1], f"{where}[1]"),
        )
    if isinstance(x, Coproduct):
        tag, left, right = value
        return (
            tag,
            checked_ids(x.left, left, f"{where}[1]"),
            checked_ids(x.right, right, f"{where}[2]"),
        )
    return value


class HostIds:
    """The token-id leaves of a batch that its caller checks on the host, found at trace time.

    While a step is traced under ``ids_on_host(batch_leaves)``, ``checked_ids``
    leaves out the run-time test of a ``Fin`` value that *is* one of those leaves
    (the same tracer, or a ``vmap`` of it: the same ids) and records the leaf's
    index with its ``Fin`` here; any other traced ids (a slice, a sum) keep the
    run-time test. ``check(batch_leaves)`` then tests the recorded leaves of a
    concrete batch before the compiled step runs: NumPy's min and max for a NumPy
    array (no device round trip), the same on the fetched array for a JAX one.

    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from topos import Fin
    >>> host = HostIds()
    >>> def f(t, u):
    ...     with ids_on_host(host, [t, u]):
    ...         return checked_ids(Fin(5, 2), t).sum() + checked_ids(Fin(5, 2), u[::-1]).sum()
    >>> int(jax.jit(f)(jnp.array([1, 4]), jnp.array([0, 1])))  # u[::-1] is checked in the step
    6
    >>> [(i, x) for i, x, _ in host.found]
    [(0, Fin(5, 2))]
    >>> host.check([np.array([1, 4]), np.array([9, 9])], "batch")
    >>> host.check([np.array([1, 5]), np.array([0, 1])], "batch")
    Traceback (most recent call last):
    ...
    ValueError: batch leaf 0 (input): token ids of Fin(5, 2) must be in 0..4, got 5 at index (1,)
    """

    def __init__(self) -> None:
        self.found: list[tuple[int, Fin, str]] = []
        self.leaves: dict[int, int] = {}
        self.traced = False

    def claim(self, x: Fin, value: Any, where: str) -> bool:
        """Whether ``value`` is a batch leaf (recorded with ``x``), or a ``vmap`` of one."""
        while True:
            i = self.leaves.get(id(value))
            if i is not None:
                if all(j != i or y != x for j, y, _ in self.found):
                    self.found.append((i, x, where))
                return True
            inner = getattr(value, "val", None)  # a BatchTracer of the vmap
            if inner is None or type(value).__name__ != "BatchTracer":
                return False
            value = inner

    def check(self, batch_leaves: list[Any], where: str) -> None:
        """Refuse (``ValueError`` naming the leaf, index and value) an id out of range."""
        for i, x, at in self.found:
            v = batch_leaves[i]
            if not isinstance(v, np.ndarray):
                v = np.asarray(jax.device_get(v))
            lo, hi = v.min(initial=0), v.max(initial=0)
            if lo < 0 or hi >= x.n:
                _check_ids(x, v, f"{where} leaf {i} ({at})")


_HOST: contextvars.ContextVar[HostIds | None] = contextvars.ContextVar("host_ids", default=None)


@contextlib.contextmanager
def ids_on_host(host: HostIds, batch_leaves: list[Any]) -> Iterator[HostIds]:
    """Trace under this to leave the id test of ``batch_leaves`` to ``host.check``."""
    host.leaves = {id(v): i for i, v in enumerate(batch_leaves)}
    token = _HOST.set(host)
    try:
        yield host
    finally:
        _HOST.reset(token)
        host.leaves = {}


def _in_range(x: Fin, value: Any) -> Any:
    """Elementwise ``0 <= value < x.n``; no upper test where ``n`` exceeds the dtype (seeds)."""
    low = value >= 0
    if x.n > np.iinfo(jnp.result_type(value)).max:
        return low
    return low & (value < x.n)


def ids_in_range(x: Ob, value: Any) -> Any:
    """Whether every ``Fin`` id in ``value`` is in range: a boolean scalar, ``None`` if none.

    >>> import jax.numpy as jnp
    >>> from topos import Fin, R
    >>> ids_in_range(Fin(5, 2) * R(1), (jnp.array([1, 5]), jnp.ones(1)))
    Array(False, dtype=bool)
    >>> ids_in_range(R(1), jnp.ones(1)) is None
    True
    """
    found: list[Any] = []
    stack: list[tuple[Ob, Any]] = [(x, value)]
    while stack:
        ob, v = stack.pop()
        if isinstance(ob, Fin):
            found.append(jnp.all(_in_range(ob, v)))
        elif isinstance(ob, Product):
            stack += [(ob.left, v[0]), (ob.right, v[1])]
        elif isinstance(ob, Coproduct):
            stack += [(ob.left, v[1]), (ob.right, v[2])]
    if not found:
        return None
    return jnp.all(jnp.stack(found))


def poisoned(x: Ob, value: Any, ok: Any) -> Any:
    """``value`` with its floating leaves NaN where ``ok`` is false (others unchanged).

    >>> import jax.numpy as jnp
    >>> from topos import Fin, R
    >>> poisoned(R(2) * Fin(3, 1), (jnp.ones(2), jnp.array([1])), jnp.array(False))
    (Array([nan, nan], dtype=float32), Array([1], dtype=int32))
    """
    if ok is None:
        return value
    if isinstance(x, R):
        return jnp.where(ok, value, jnp.asarray(jnp.nan, value.dtype))
    if isinstance(x, Product):
        return (poisoned(x.left, value[0], ok), poisoned(x.right, value[1], ok))
    if isinstance(x, Coproduct):
        return (value[0], poisoned(x.left, value[1], ok), poisoned(x.right, value[2], ok))
    return value


def on_several_devices(*values: Any) -> bool:
    """Whether an array in ``values`` (nested tuples, lists, dicts) lies on several devices.

    Traced ones too: under ``jax.jit`` an argument's type keeps the mesh it is on.

    >>> import jax.numpy as jnp
    >>> on_several_devices({"w": jnp.ones(2)}, (jnp.ones(3), ()))
    False
    """
    for y in leaves(*values):
        if isinstance(y, jax.Array):
            mesh = getattr(jax.typeof(y).sharding, "mesh", None)
            if mesh is not None and mesh.size > 1:
                return True
    return False


def run_checked(
    x: Ob, value: Any, cod: Ob, run: Callable[[Any], Any], where: str, *context: Any
) -> Any:
    """``run(value)``, with the token ids of ``value`` checked at run time if they are traced.

    On one device an id out of range raises when the program runs
    (``checked_ids``). XLA runs a callback on one device only, and in a
    program spread over several devices a raising one leaves the others
    waiting (the run aborts), so where ``value`` or the ``context`` (the
    parameters) lie on a mesh of more than one device, the floating leaves of
    the result (of ``cod``) are NaN instead, for each example with an id out
    of range (``poisoned``). Concrete values are run as they are (``check``
    refuses them at once).

    >>> import jax, jax.numpy as jnp
    >>> from topos import Fin, R
    >>> f = jax.jit(lambda v: run_checked(Fin(3), v, R(), lambda i: i * 1.0, "input"))
    >>> float(f(jnp.array(2)))
    2.0
    """
    if not has_tracer(value):
        return run(value)
    if on_several_devices(value, *context):
        return poisoned(cod, run(value), ids_in_range(x, value))
    return run(checked_ids(x, value, where))


# -- a stacked parameter held one array per layer (the layer layout) -------------------


class Unstacked(tuple[Any, ...]):
    """The slices ``(a_0, ..., a_{n-1})`` of a stacked parameter, one array per layer.

    Another representation of a value of a stacked ``R(n, *s)``: ``n`` arrays of
    shape ``s`` instead of one of shape ``(n, *s)`` (``backends.jax.core.layout``
    says when it is used). A pytree node whose children are the slices (keys
    ``[0]``, ``[1]``, ...).

    >>> import jax, jax.numpy as jnp
    >>> ls = Unstacked((jnp.zeros(2), jnp.ones(2)))
    >>> len(jax.tree.leaves(ls)), layer({"w": ls}, 1)["w"]
    (2, Array([1., 1.], dtype=float32))
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Unstacked({list(self)!r})"


def _flatten_with_keys(ls: Unstacked) -> tuple[list[tuple[Any, Any]], None]:
    return [(jax.tree_util.SequenceKey(i), x) for i, x in enumerate(ls)], None


jax.tree_util.register_pytree_with_keys(
    Unstacked,
    _flatten_with_keys,
    lambda _, children: Unstacked(children),
    flatten_func=lambda ls: (tuple(ls), None),
)


def is_unstacked(x: Any) -> bool:
    """Whether ``x`` is ``Unstacked`` (the ``is_leaf`` that stops ``jax.tree`` at one)."""
    return isinstance(x, Unstacked)


def layer(tree: Any, i: int) -> Any:
    """Layer ``i`` of a tree of stacked arrays or ``Unstacked`` (either layout)."""
    return jax.tree.map(lambda leaf: leaf[i], tree, is_leaf=is_unstacked)


def has_unstacked(tree: Any) -> bool:
    """Whether ``tree`` holds an ``Unstacked`` anywhere."""
    return any(is_unstacked(x) for x in jax.tree.leaves(tree, is_leaf=is_unstacked))
