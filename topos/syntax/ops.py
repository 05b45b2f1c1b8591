"""The ``jax.numpy``-like functions of traced code, each one box of ``topos.nn.primitives``.

Types come from the operands: ``softmax(s)`` is ``P.softmax(s.ob, -1)`` applied to
``s``, never restated. Numbers mix with values as constants (``full``). Each
function states which primitive it records:

=====================================  =====================================
traced code                            primitive box
=====================================  =====================================
``x + y``, ``x - y``, ``x * y``,        ``add``, ``sub``, ``mul``, ``div``
``x / y`` (broadcasting)
``x * 0.5``, ``x / 2``, ``-x``          ``scale``
``x + 1e-5``                            ``add`` of a ``full`` constant
``x @ w``, ``matmul(x, w)``             ``einsum`` (``matmul`` for ``w: R(k, n)``)
``einsum(spec, x, y)``                  ``einsum``
``x.T``, ``transpose(x, axes)``         ``transpose``
``x.reshape(...)``                      ``reshape``
``x[i]``, ``x[:, 2:5]``, ``t[labels]``  ``take``, ``slice``, ``gather``
``sum``/``mean``/``max``                ``reduce_sum``/``reduce_mean``/``reduce_max``
``softmax``, ``exp``, ``relu`` ...      the elementwise box of that name
``concatenate([a, b, c], axis)``        ``concat`` (folded left)
``where(c, x, y)``, ``x < y``           ``where``, ``compare``
``causal_mask(s)``                      ``causal_mask``
=====================================  =====================================
"""

from __future__ import annotations

import builtins
import string
from collections.abc import Sequence
from typing import Any

from topos.arrows import Arrow
from topos.nn import primitives as P
from topos.objects import Dim, Fin, Ob, One, Product, R
from topos.para import CARTESIAN, DEFAULT_INIT, Init, Para
from topos.syntax.values import Args, Value, active, lift, located, record, tape_of

__all__ = [
    "call",
    "causal_mask",
    "concatenate",
    "cos",
    "einsum",
    "erf",
    "exp",
    "full",
    "gelu",
    "getitem",
    "log",
    "matmul",
    "max",
    "mean",
    "one_hot",
    "ones",
    "param",
    "relu",
    "reshape",
    "rsqrt",
    "sigmoid",
    "silu",
    "sin",
    "softmax",
    "sqrt",
    "sum",
    "tanh",
    "transpose",
    "where",
    "zeros",
]


def _value(x: Any, what: str) -> Value:
    if not isinstance(x, Value):
        raise located(f"{what}: expected a symbolic value, got {type(x).__name__} {x!r}")
    return x


def _real(x: Value, what: str) -> R:
    if not isinstance(x.ob, R):
        raise located(f"{what}: expected a real array R(...), got a value of {x.ob!r}")
    return x.ob


# -- parameters and calls -------------------------------------------------------------


def param(path: str, ob: Ob, init: Init = DEFAULT_INIT) -> Value:
    """A weight of the traced Para, declared where it is used: ``param("w", R(4, 8))``.

    Declaring the same ``path`` again with the same type gives the same weight
    (shared); ``init`` is its initialiser (``topos.para``), Glorot uniform by default.

    >>> from topos import trace
    >>> from topos.para import zeros
    >>> p = trace(lambda x: x @ param("w", R(3, 2)) + param("b", R(2), zeros), R(3))
    >>> p.parameters()["b"]
    Param('b', R(2), zeros)
    """
    if not isinstance(path, str) or not path:
        raise located(f"param: the path must be a non-empty string, got {path!r}")
    if not isinstance(ob, Ob):
        raise located(f"param {path!r}: expected an object such as R(4, 8), got {ob!r}")
    return active().param(path, ob, init)


def _tree_ob(tree: Args, what: str) -> Ob:
    if isinstance(tree, Value):
        return tree.ob
    if isinstance(tree, tuple):
        if not tree:
            return One
        out = _tree_ob(tree[0], what)
        for x in tree[1:]:
            out = out * _tree_ob(x, what)
        return out
    raise located(f"{what}: expected symbolic values as arguments, got {type(tree).__name__}")


def _leaves(tree: Args) -> list[Value]:
    if isinstance(tree, Value):
        return [tree]
    return [v for x in tree for v in _leaves(x)]


def call(f: Arrow | Para, *args: Any) -> Value:
    """``f(x, y, ...)`` on symbolic values: a box, an arrow, a Para layer or a traced function.

    Several arguments stand for the product of their types, nested to the left
    as ``A * B * C`` is. A Para's weights join the traced function's; calling the
    same layer again shares them.

    >>> from topos import Box, trace
    >>> f = Box("f", R(2) * R(3), R(1))
    >>> trace(lambda x, y: f(x, y), (R(2), R(3))) == f      # or call(f, x, y)
    True
    """
    tree: Args = args[0] if len(args) == 1 else tuple(args)
    what = f"calling {getattr(f, 'name', type(f).__name__)}"
    ob = _tree_ob(tree, what)
    tape = tape_of(*_leaves(tree))
    if ob != f.dom:
        raise located(f"{what}: it takes {f.dom!r}, got {ob!r}")
    if isinstance(f, Para):
        if f.actegory != CARTESIAN:
            raise located(f"{what}: only Para over CARTESIAN can be called, got {f.actegory!r}")
        weights = _unit(f.P) if not f.params else tape.params_of(f)
        return tape.apply(f.arrow, (weights, tree))
    return tape.apply(f, tree)


def _unit(ob: Ob) -> Any:
    """The only element of a parameter object without leaves (``One``, ``One * One`` ...)."""
    if isinstance(ob, Product):
        return (_unit(ob.left), _unit(ob.right))
    return ()


# -- moving entries ------------------------------------------------------------------


def transpose(x: Value, axes: Sequence[int] | None = None) -> Value:
    """The axes permuted (``jnp.transpose``; reversed by default): ``transpose``."""
    ob = _real(_value(x, "transpose"), "transpose")
    perm = tuple(reversed(range(len(ob.shape)))) if axes is None or axes == () else tuple(axes)
    return record("transpose", lambda a: P.transpose(a, perm), [x])


def reshape(x: Value, shape: Sequence[int | Dim]) -> Value:
    """The entries in row-major order with another shape (``-1`` once: inferred): ``reshape``."""
    ob = _real(_value(x, "reshape"), "reshape")
    want = list(shape)
    if want.count(-1) == 1:
        known = 1
        for n in want:
            known *= n if isinstance(n, int) and n != -1 else 1
        if any(isinstance(n, Dim) for n in (*ob.shape, *want)) or ob.size % known:
            raise located(f"reshape of {ob!r} to {tuple(shape)}: -1 cannot be inferred")
        want[want.index(-1)] = ob.size // known
    return record(f"reshape to {tuple(shape)}", lambda a: P.reshape(a, *want), [x])


def getitem(x: Value, index: Any) -> Value:
    """``x[...]``: ints (``take``), unit-step slices (``slice``), ``None``, ``...``;
    ``table[labels]`` with labels of a ``Fin`` type is a ``gather``.

    >>> from topos import trace
    >>> trace(lambda x: x[0, 1:3], R(4, 5)).cod, trace(lambda x: x[..., None], R(4)).cod
    (R(2), R(4, 1))
    """
    if isinstance(index, Value):
        if not isinstance(index.ob, Fin):
            raise located(f"indexing {x.ob!r} by a value of {index.ob!r}: needs labels Fin(...)")
        return record("indexing", P.gather, [x, index])
    ob = _real(x, "indexing")
    items = list(index) if isinstance(index, tuple) else [index]
    if items.count(Ellipsis) > 1:
        raise located("indexing: at most one ...")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        named = len([i for i in items if i is not None and i is not Ellipsis])
        items[at : at + 1] = [slice(None)] * (len(ob.shape) - named)
    out, k = x, 0
    for item in items:
        out, k = _index_one(out, item, k)
    return out


def _index_one(x: Value, item: Any, k: int) -> tuple[Value, int]:
    ob = _real(x, "indexing")
    if item is None:
        shape = (*ob.shape[:k], 1, *ob.shape[k:])
        return record("indexing with None", lambda a: P.reshape(a, *shape), [x]), k + 1
    if k >= len(ob.shape):
        raise located(f"indexing {ob!r}: too many indices")
    n = ob.shape[k]
    if isinstance(item, int) and not isinstance(item, bool) and isinstance(n, int):
        i = item + n if item < 0 else item
        return record(f"x[{item}] on axis {k}", lambda a: P.take(a, i, k), [x]), k
    if isinstance(item, slice) and item == slice(None):
        return x, k + 1
    if isinstance(item, slice) and isinstance(n, int):
        start, stop, step = item.indices(n)
        if step != 1:
            raise located(f"indexing {ob!r}: only slices of step 1, got {item}")
        if (start, stop) == (0, n):
            return x, k + 1
        return record(f"x[{start}:{stop}]", lambda a: P.slice_axis(a, start, stop, k), [x]), k + 1
    raise located(f"indexing {ob!r} on axis {k} by {item!r}: not supported")


def concatenate(xs: Sequence[Value], axis: int = -1) -> Value:
    """The arrays joined along ``axis`` (``jnp.concatenate``): ``concat``, folded left."""
    if not xs:
        raise located("concatenate: needs at least one array")
    out = _value(xs[0], "concatenate")
    for x in xs[1:]:
        out = record("concatenate", lambda a, b: P.concat(a, b, axis), [out, lift(x, "concat")])
    return out


# -- contractions --------------------------------------------------------------------


def einsum(spec: str, x: Value, y: Value) -> Value:
    """``jnp.einsum(spec, x, y)`` of two arrays: ``einsum``."""
    return record(f"einsum {spec!r}", lambda a, b: P.einsum(spec, a, b), [x, y])


def matmul(x: Any, y: Any) -> Value:
    """``x @ y``: ``matmul`` for a matrix ``y``; batched over leading axes otherwise."""
    a, b = _value(x, "@"), _value(y, "@")
    s, t = a.ob, b.ob
    if not isinstance(s, R) or not isinstance(t, R) or not s.shape or not t.shape:
        raise located(f"@ of {s!r} and {t!r}: needs two real arrays with at least one axis")
    if len(t.shape) == 2:
        return record("@", P.matmul, [a, b])
    lead = string.ascii_uppercase[: builtins.max(len(s.shape), len(t.shape))]
    if len(t.shape) == 1:
        spec = f"{lead[: len(s.shape) - 1]}i,i->{lead[: len(s.shape) - 1]}"
    elif len(s.shape) == len(t.shape):
        batch = lead[: len(s.shape) - 2]
        spec = f"{batch}mk,{batch}kn->{batch}mn"
    else:
        raise located(f"@ of {s!r} and {t!r}: batched products need equal ranks")
    return record("@", lambda p, q: P.einsum(spec, p, q), [a, b])


# -- reductions and maps ----------------------------------------------------------------


def _reduce(name: str, x: Value, axis: int | Sequence[int], keepdims: bool) -> Value:
    ob = _real(_value(x, name), name)
    axes = [axis] if isinstance(axis, int) else list(axis)
    n = len(ob.shape)
    box = getattr(P, f"reduce_{name}")
    out = x
    for k in sorted((a % n if -n <= a < n else a for a in axes), reverse=True):
        out = record(f"{name} over axis {k}", lambda a, k=k: box(a, k, keepdims), [out])
    return out


def sum(x: Value, axis: int | Sequence[int] = -1, keepdims: bool = False) -> Value:  # noqa: A001
    """The sum over ``axis`` (or axes): ``reduce_sum``."""
    return _reduce("sum", x, axis, keepdims)


def mean(x: Value, axis: int | Sequence[int] = -1, keepdims: bool = False) -> Value:
    """The mean over ``axis`` (or axes): ``reduce_mean``."""
    return _reduce("mean", x, axis, keepdims)


def max(x: Value, axis: int | Sequence[int] = -1, keepdims: bool = False) -> Value:  # noqa: A001
    """The maximum over ``axis`` (or axes): ``reduce_max``."""
    return _reduce("max", x, axis, keepdims)


def softmax(x: Value, axis: int = -1) -> Value:
    """``e^x / Σ e^x`` along ``axis``: ``softmax``."""
    return record("softmax", lambda a: P.softmax(a, axis), [_value(x, "softmax")])


def _elementwise(name: str) -> Any:
    box = getattr(P, name)

    def f(x: Value) -> Value:
        return record(name, box, [_value(x, name)])

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``{name}`` elementwise: the ``{name}`` box."
    return f


relu = _elementwise("relu")
gelu = _elementwise("gelu")
tanh = _elementwise("tanh")
exp = _elementwise("exp")
log = _elementwise("log")
sqrt = _elementwise("sqrt")
rsqrt = _elementwise("rsqrt")
sigmoid = _elementwise("sigmoid")
silu = _elementwise("silu")
sin = _elementwise("sin")
cos = _elementwise("cos")
erf = _elementwise("erf")


def causal_mask(x: Value, fill: float = -1e9) -> Value:
    """Scores above the diagonal replaced by ``fill``: ``causal_mask``."""
    return record("causal_mask", lambda a: P.causal_mask(a, fill), [_value(x, "causal_mask")])


def where(cond: Any, x: Any, y: Any) -> Value:
    """``x`` where ``cond != 0`` else ``y`` (numbers become constants): ``where``."""
    c, a, b = lift(cond, "where"), lift(x, "where"), lift(y, "where")
    return record("where", P.where, [c, a, b])


def one_hot(labels: Value) -> Value:
    """Indicator vectors of labels ``Fin(V, ...)``: ``one_hot``."""
    return record("one_hot", P.one_hot, [_value(labels, "one_hot")])


# -- constants -----------------------------------------------------------------------


def full(shape: Sequence[int | Dim], value: float) -> Value:
    """The constant array of ``shape`` filled with ``value``: ``full``."""
    return active().apply(P.full(R(*shape), float(value)), ())


def zeros(shape: Sequence[int | Dim]) -> Value:
    """The constant array of zeros: ``full`` with 0."""
    return full(shape, 0.0)


def ones(shape: Sequence[int | Dim]) -> Value:
    """The constant array of ones: ``full`` with 1."""
    return full(shape, 1.0)
