"""JAX implementations of the primitive boxes of ``topos.nn``.

Each primitive named in ``topos.nn.primitives.PRIMITIVES`` is registered here, once,
with the ``jax.numpy`` / ``jax.lax`` operation a hand-written model uses for it
(``einsum`` is ``jnp.einsum``, ``gelu`` is ``jax.nn.gelu``, ``softmax`` is
``jax.nn.softmax``, ``gather`` is ``table[labels]``), so a compiled diagram traces
to the program one would write by hand. Values are per example; batch with
``jax.vmap``. Bilinear primitives are declared ``polynomial`` (their worst case);
their boxes carry ``cls="bilinear"`` for the analysis.

>>> import jax.numpy as jnp
>>> from backends.jax import compile
>>> from topos.nn import primitives as P
>>> from topos import R, copy
>>> square = copy(R(3)) >> P.mul(R(3), R(3)) >> P.relu(R(3))
>>> compile(square)(jnp.array([-1.0, 2.0, 3.0]))
Array([1., 4., 9.], dtype=float32)
>>> sorted(set(P.PRIMITIVES) - set(IMPLEMENTATIONS))
[]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import erf as _erf

from backends.jax.core.fold import online_attention
from backends.jax.core.foreign import run_foreign
from backends.jax.core.registry import register
from backends.jax.core.scan import linear_scan as chunked_linear_scan
from topos.arrows import Box
from topos.nn.primitives import PRIMITIVES
from topos.objects import Fin, R

__all__ = ["IMPLEMENTATIONS", "bucket_table", "conv_filter_total"]


def _dtype(box: Box) -> Any:
    return jnp.dtype(getattr(box.cod, "dtype", "float32"))


def _einsum(box: Box, x: Any) -> Any:
    return jnp.einsum(box.attrs["spec"], x[0], x[1])


def _conv(box: Box, x: Any) -> Any:
    a, w = x
    return _convolve(a, w, box.attrs["stride"], box.attrs["padding"])


def _convolve(a: Any, w: Any, stride: tuple[int, ...], padding: str) -> Any:
    return _convolve_batch(a[None], w, stride, padding)[0]


def _convolve_batch(a: Any, w: Any, stride: tuple[int, ...], padding: str) -> Any:
    spatial = "HW"[: a.ndim - 2]
    dims = (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")
    return lax.conv_general_dilated(a, w, stride, padding, dimension_numbers=dims)


def _transposed(box: Box, fn: Callable[[Any], Any], ct: Any) -> Any:
    """The transpose of the linear map ``fn`` (into ``box.cod``) applied to ``ct``.

    ``jax.linear_transpose`` gives the operation ``jax.vjp`` itself uses (for ``conv``, the
    dilated and flipped convolutions; for ``max_pool``, select-and-scatter), so the
    reverse pass of a diagram is the program ``jax.grad`` builds.
    """
    cod = box.cod
    assert isinstance(cod, R)
    like = jnp.zeros(tuple(cod.shape), ct.dtype)  # only its shape and dtype are read
    (out,) = jax.linear_transpose(fn, like)(ct)
    return out


def _conv_transpose(box: Box, x: Any) -> Any:
    g, w = x
    at = box.attrs
    return _transposed(box, lambda a: _convolve(a, w, at["stride"], at["padding"]), g)


def _conv_filter(box: Box, x: Any) -> Any:
    a, g = x
    at = box.attrs
    return _transposed(box, lambda w: _convolve(a, w, at["stride"], at["padding"]), g)


def conv_filter_total(box: Box, a: Any, g: Any) -> Any:
    """``Σ_b conv_filter(a_b, g_b)`` for batches ``a``, ``g`` (leading axis): one convolution.

    The batch becomes the convolution's own batch axis, contracted as ``jax.vjp`` of the
    batched forward contracts it, instead of one kernel cotangent per example added up.
    """
    at = box.attrs
    return _transposed(box, lambda w: _convolve_batch(a, w, at["stride"], at["padding"]), g)


def _max_pool(box: Box, x: Any) -> Any:
    return _pool(x, box.attrs["window"], box.attrs["stride"])


def _pool(x: Any, window: tuple[int, ...], stride: tuple[int, ...]) -> Any:
    return lax.reduce_window(x, -jnp.inf, lax.max, (*window, 1), (*stride, 1), "VALID")


def _max_pool_select(box: Box, x: Any) -> Any:
    a, t = x
    window, stride = box.attrs["window"], box.attrs["stride"]
    return jax.jvp(lambda v: _pool(v, window, stride), (a,), (t,))[1]


def _max_pool_scatter(box: Box, x: Any) -> Any:
    a, g = x
    window, stride = box.attrs["window"], box.attrs["stride"]
    return _transposed(box, lambda t: jax.jvp(lambda v: _pool(v, window, stride), (a,), (t,))[1], g)


def _causal_mask(box: Box, x: Any) -> Any:
    n = x.shape[-1]
    keep = jnp.tril(jnp.ones((n, n), dtype=bool))
    return jnp.where(keep, x, jnp.asarray(box.attrs["fill"], x.dtype))


def _softmax_fold(box: Box, x: Any) -> Any:
    (q, k), v = x
    at = box.attrs
    return online_attention(
        q, k, v, scale=at["scale"], causal=at["causal"], fill=at["fill"], block=at["block"]
    )


def _reduction(fn: Callable[..., Any]) -> Callable[[Box, Any], Any]:
    def run(box: Box, x: Any) -> Any:
        return fn(x, axis=box.attrs["axis"], keepdims=box.attrs["keepdims"])

    return run


def _take(box: Box, x: Any) -> Any:
    return lax.index_in_dim(x, box.attrs["index"], box.attrs["axis"], keepdims=False)


def _full(box: Box, x: Any) -> Any:
    cod = box.cod
    assert isinstance(cod, (R, Fin))
    return jnp.full(cod.shape, box.attrs["value"], _dtype(box))


def _one_hot(box: Box, x: Any) -> Any:
    dom = box.dom
    assert isinstance(dom, Fin)
    return jax.nn.one_hot(x, dom.n, dtype=_dtype(box))


def _cod_shape(box: Box) -> tuple[int, ...]:
    return tuple(getattr(box.cod, "shape", ()))


def _arange(box: Box, x: Any) -> Any:
    k = jnp.arange(_cod_shape(box)[0], dtype=_dtype(box))
    return box.attrs["start"] + box.attrs["step"] * k


def _slice(box: Box, x: Any) -> Any:
    a = box.attrs
    return lax.slice_in_dim(x, a["start"], a["stop"], axis=a["axis"])


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "lt": jnp.less,
    "le": jnp.less_equal,
    "gt": jnp.greater,
    "ge": jnp.greater_equal,
    "eq": jnp.equal,
    "ne": jnp.not_equal,
}


def _compare(box: Box, x: Any) -> Any:
    return _COMPARE[box.attrs["op"]](x[0], x[1]).astype(_dtype(box))


def _where(box: Box, x: Any) -> Any:
    (c, a), b = x
    return jnp.where(c != 0, a, b)


def _bernoulli(box: Box, seed: Any) -> Any:
    keep = jax.random.bernoulli(jax.random.key(seed), 1.0 - box.attrs["rate"], _cod_shape(box))
    return keep.astype(_dtype(box))


def _fold_in(box: Box, seed: Any) -> Any:
    n = min(int(getattr(box.dom, "n", 2**31)), 2**31)
    key = jax.random.fold_in(jax.random.key(seed), box.attrs["salt"])
    bits = jax.random.bits(key, (), jnp.uint32) >> 1  # below 2**31
    return (bits % jnp.uint32(n)).astype(jnp.int32)


def _linear_scan(box: Box, x: Any) -> Any:
    return chunked_linear_scan(*x)  # the affine monoid's fold, in chunks (``scan``)


def _top_k(box: Box, x: Any) -> Any:
    values, indices = lax.top_k(x, box.attrs["k"])
    return values, indices.astype(jnp.int32)


def _dispatch(box: Box, labels: Any) -> Any:
    dom = box.dom
    assert isinstance(dom, Fin)
    experts, cap = dom.n, box.attrs["capacity"]
    order = labels.T.reshape(-1)  # choice first, then token: first choices are served first
    seen = jnp.cumsum(jax.nn.one_hot(order, experts, dtype=jnp.int32), axis=0)
    rank = jnp.take_along_axis(seen, order[:, None], axis=1)[:, 0] - 1
    keep = rank < cap
    slot = jnp.where(keep, order * cap + rank, experts * cap)
    back = labels.T.shape
    return slot.reshape(back).T.astype(jnp.int32), keep.reshape(back).T.astype(_dtype_of(box))


def _dtype_of(box: Box) -> Any:
    cod = box.cod
    right = getattr(cod, "right", cod)
    return jnp.dtype(getattr(right, "dtype", "float32"))


def _scatter_add(box: Box, x: Any) -> Any:
    values, labels = x
    cod = box.cod
    assert isinstance(cod, R)
    return jnp.zeros(cod.shape, values.dtype).at[labels].add(values)


def _relative_buckets(box: Box, x: Any) -> Any:
    cod = box.cod
    assert isinstance(cod, Fin)
    rows, cols = cod.shape
    table = bucket_table(
        rows, cols, cod.n, box.attrs["max_distance"], box.attrs["bidirectional"]
    )  # fmt: skip
    return jnp.asarray(table)


def bucket_table(
    rows: int, cols: int, buckets: int, max_distance: int, bidirectional: bool
) -> np.ndarray:
    """T5's bucket of ``j - i`` for every query ``i < rows`` and key ``j < cols`` (int32)."""
    rel = np.arange(cols)[None, :] - np.arange(rows)[:, None]
    out = np.zeros(rel.shape, np.int64)
    if bidirectional:
        buckets //= 2
        out += (rel > 0) * buckets
        dist = np.abs(rel)
    else:
        dist = np.maximum(-rel, 0)
    exact = buckets // 2
    with np.errstate(divide="ignore"):
        logs = np.log(np.maximum(dist, 1).astype(np.float32) / np.float32(exact))
    ratio = logs / np.float32(math.log(max_distance / exact)) * np.float32(buckets - exact)
    large = exact + ratio.astype(np.int64)
    out += np.where(dist < exact, dist, np.minimum(large, buckets - 1))
    return out.astype(np.int32)


IMPLEMENTATIONS: dict[str, Callable[[Box, Any], Any]] = {
    "einsum": _einsum,
    "mul": lambda box, x: x[0] * x[1],
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "conv_filter": _conv_filter,
    "linear_scan": _linear_scan,
    "add": lambda box, x: x[0] + x[1],
    "sub": lambda box, x: x[0] - x[1],
    "scale": lambda box, x: x * jnp.asarray(box.attrs["by"], x.dtype),
    "full": _full,
    "reshape": lambda box, x: jnp.reshape(x, box.attrs["shape"]),
    "transpose": lambda box, x: jnp.transpose(x, box.attrs["perm"]),
    "broadcast": lambda box, x: jnp.broadcast_to(x, box.attrs["shape"]),
    "concat": lambda box, x: jnp.concatenate(x, axis=box.attrs["axis"]),
    "take": _take,
    "gather": lambda box, x: x[0][x[1]],
    "one_hot": _one_hot,
    "reduce_sum": _reduction(jnp.sum),
    "reduce_mean": _reduction(jnp.mean),
    "reduce_max": _reduction(jnp.max),
    "causal_mask": _causal_mask,
    "relu": lambda box, x: jax.nn.relu(x),
    "max_pool": _max_pool,
    "max_pool_scatter": _max_pool_scatter,
    "max_pool_select": _max_pool_select,
    "div": lambda box, x: x[0] / x[1],
    "exp": lambda box, x: jnp.exp(x),
    "tanh": lambda box, x: jnp.tanh(x),
    "gelu": lambda box, x: jax.nn.gelu(x, approximate=True),
    "rsqrt": lambda box, x: lax.rsqrt(x),
    "softmax": lambda box, x: jax.nn.softmax(x, axis=box.attrs["axis"]),
    "softmax_fold": _softmax_fold,
    "arange": _arange,
    "slice": _slice,
    "bernoulli": _bernoulli,
    "fold_in": _fold_in,
    "compare": _compare,
    "where": _where,
    "sigmoid": lambda box, x: jax.nn.sigmoid(x),
    "silu": lambda box, x: jax.nn.silu(x),
    "sin": lambda box, x: jnp.sin(x),
    "cos": lambda box, x: jnp.cos(x),
    "log": lambda box, x: jnp.log(x),
    "sqrt": lambda box, x: jnp.sqrt(x),
    "erf": lambda box, x: _erf(x),
    "top_k": _top_k,
    "dispatch": _dispatch,
    "scatter_add": _scatter_add,
    "relative_buckets": _relative_buckets,
    "foreign": run_foreign,
}

for _name, _fn in IMPLEMENTATIONS.items():
    _cls = PRIMITIVES[_name]
    register(_name, _fn, cls="polynomial" if _cls == "bilinear" else _cls)
