"""Generation with a key–value cache derived from the diagram.

``generate(model, params, prompt, steps, key)`` continues prompts with a causal
language model ``Fin(V, seq) -> R(seq, V)`` whose sequence length is a dimension
variable ``seq = Dim("seq", max)`` (every builder of ``topos.nn`` takes one).
The cache is not written per model: it is derived from the diagram by reading
each box along the ``seq`` axis, which the ``Dim`` labels in every object.

**Decoding functor.** Decoding runs the *same* diagram on the new rows only: a
value whose ``seq`` axis has the number of new rows ``n`` holds the rows at the
absolute positions ``offset .. offset + n - 1``; one whose ``seq`` axis has the
bound ``L = seq.max`` holds every position ``0 .. L - 1`` (the cache). Each box
is one of three kinds along that axis:

- *position-wise*: row ``t`` of the output depends only on row ``t`` of the
  inputs (linear maps, norms, activations, embedding ``gather``, reshapes that
  keep the axis, elementwise arithmetic): run as they are on the new rows, with
  ``seq := n`` in their attributes (``topos.dims.specialise`` of the box);
- *position-dependent*: ``arange`` of length ``seq`` (positions, hence RoPE
  tables), a ``slice`` of a table to ``seq`` rows (learned positions) and the
  ``causal_mask``: they read the absolute offset;
- *mixing*: an ``einsum`` that pairs the ``seq`` axis of one operand with a
  different one of the other (attention scores ``q kᵀ``) or contracts a full
  ``seq`` axis against new rows (``A v``, the ``ev`` of the mixing map). The
  operand that must be seen at every position goes through the **cache**: its
  new rows are written at ``offset`` into a per-site buffer of length ``L``,
  and the whole buffer is used. The cached sites are exactly the keys and
  values of each attention. A buffer holds the positions on its second-to-last
  axis (heads first), the layout the attention dots read without a copy.

So the decode step is a stateful morphism ``state × new rows → state × new
outputs``; the interpretation is a functor into JAX functions whose ``repeat``
is a ``lax.scan`` over layers carrying each layer's caches (scanned inputs and
outputs). A ``softmax`` or reduction along new rows, or rows meeting cached
positions elementwise, would mix positions in a way a cache cannot serve: it
is refused with the box named.

**Causality.** The cache holds zeros at the positions not yet written, and an
uncached run of a non-causal model lets a row read later positions: either way
a new row may read only the positions up to its own. So the *scores* a mixing
``einsum`` makes (new rows against cached positions) are followed to the box
that sums or reduces over the cached positions, with the value that a
``causal_mask`` (rows on its second-to-last axis, cached positions on its last)
put at the hidden positions, through ``scale``, ``transpose``, reductions over
other axes and a ``softmax`` along the positions (which turns a fill of at most
``-1e4`` into 0). The sum of an ``einsum`` needs hidden zeros, a ``softmax`` or
``reduce_max`` a fill of at most ``-1e4``, ``reduce_sum`` zeros, and
``reduce_mean`` is refused (it divides by the cache's length). A box summing
over positions that nothing hid (``attention(..., causal=False)``, an einsum
attention without the mask, a mask with a fill its reduction does not ignore)
is refused with the box named.

**Law** (tested for every stock architecture): decoding with the cache equals
the uncached run, i.e. the logits of the new rows are the last rows of
``apply(model, params, ids[:offset + n])``, within float32 round-off, and
greedy tokens are identical. Batched prompts are left-padded; each example has
a ``start`` (its number of pads): positions count from it (``slot - start``)
and the causal mask also hides the pads, so each row equals its prompt alone.

>>> import jax
>>> from topos import nn
>>> from topos.objects import Dim
>>> from backends.jax import init
>>> lm = nn.language_model(11, Dim("seq", 16), 16, 2, 1)
>>> params = init(lm, jax.random.key(0))
>>> ids = generate(lm, params, [[1, 2, 3], [4]], 5, jax.random.key(1), temperature=0)
>>> ids.shape, ids.dtype
((2, 5), dtype('int32'))
>>> bool((ids[1] == generate(lm, params, [4], 5, jax.random.key(2), temperature=0)).all())
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from backends.jax.core.compile import CONSTANTS, Fn, JaxCategory
from backends.jax.core.layout import restack, split
from backends.jax.core.limits import DECODE_UNROLL_MAX
from backends.jax.core.params import cartesian, param_value
from backends.jax.core.registry import lookup
from backends.jax.core.values import (
    check,
    checked_ids,
    has_tracer,
    ids_in_range,
    is_unstacked,
    layer,
    on_several_devices,
    poisoned,
)
from backends.jax.decoding.recurrent import recur_decoder
from topos.arrows import Box, Recur
from topos.dims import dims, dims_in, specialise
from topos.functor import Functor
from topos.objects import Dim, Fin, Ob, Product, R
from topos.para import Para

__all__ = ["DecodeError", "decode_step", "generate"]


class DecodeError(TypeError):
    """A diagram the cache cannot decode (a box that mixes positions otherwise)."""


@dataclass
class _Context:
    dim: Dim
    n: int  # new rows (static)
    offset: Any  # absolute slot of the first new row (traced scalar)
    start: Any  # this example's number of left pads (traced scalar)
    #: the values with rows against cached positions (scores), by id: the value (kept, so
    #: that its id is not reused while decoding) and what a causal_mask put at the later
    #: positions (None: nothing hides them)
    scores: dict[int, tuple[Any, float | None]] = field(default_factory=dict)


class _Frame:
    """The caches one (layer of a) diagram reads, and those it writes, in call order."""

    def __init__(self, read: Mapping[int, Any]) -> None:
        self.read, self.count = read, 0
        self.write: dict[int, Any] = {}

    def next(self) -> int:
        self.count += 1
        return self.count - 1


_CTX: ContextVar[_Context | None] = ContextVar("topos_decode", default=None)
_FRAME: ContextVar[_Frame | None] = ContextVar("topos_decode_frame", default=None)


def _ctx() -> _Context:
    ctx = _CTX.get()
    if ctx is None:
        raise RuntimeError("decode: a decoding function ran outside decode_step")
    return ctx


def _frame() -> _Frame:
    frame = _FRAME.get()
    assert frame is not None
    return frame


# -- the values of a box's operands, with their seq axes -------------------------------


def _leaves(ob: Ob, value: Any) -> list[tuple[Ob, Any]]:
    out: list[tuple[Ob, Any]] = []
    stack = [(ob, value)]
    while stack:
        x, v = stack.pop()
        if isinstance(x, Product):
            stack += [(x.right, v[1]), (x.left, v[0])]
        else:
            out.append((x, v))
    return out


def _seq_axes(ob: Ob, dim: Dim) -> list[int]:
    if not isinstance(ob, (R, Fin)):
        return []
    for d in ob.shape:
        if isinstance(d, Dim) and d != dim:
            raise DecodeError(f"decode: only the dim {dim!r} may vary, {ob!r} has {d!r}")
    return [k for k, d in enumerate(ob.shape) if d == dim]


def _full(value: Any, axis: int, ctx: _Context) -> bool:
    """Whether the ``seq`` axis of ``value`` holds every position (else: the new rows)."""
    size = value.shape[axis]
    return bool(size == ctx.dim.max and size != ctx.n)


def _where(box: Box) -> str:
    return f"the box {box.name!r}: {box.dom!r} -> {box.cod!r}"


def _crossed(ob: Ob, value: Any, ctx: _Context) -> bool:
    """Whether ``value`` has both new rows and cached positions (attention scores)."""
    return {_full(value, k, ctx) for k in _seq_axes(ob, ctx.dim)} == {True, False}


#: A fill at most this hides a position from a ``softmax`` or a ``reduce_max``.
_HIDES = -1e4


def _hidden(value: Any, ctx: _Context) -> float | None:
    """What the positions after each row hold in the scores ``value`` (None: not hidden)."""
    seen = ctx.scores.get(id(value))
    return seen[1] if seen is not None and seen[0] is value else None


def _mark(cod: Ob, out: Any, hidden: float | None, ctx: _Context) -> Any:
    """Record the scores among the leaves of a box's output, with their hidden value."""
    for ob, v in _leaves(cod, out):
        if _crossed(ob, v, ctx):
            ctx.scores[id(v)] = (v, hidden)
    return out


def _not_causal(box: Box, what: str) -> DecodeError:
    return DecodeError(
        f"decode: {_where(box)} {what} that no causal_mask hides from it: the model is not"
        " causal (a cache decodes causal attention only; build it with causal=True)"
    )


@functools.lru_cache(maxsize=4096)
def _at(box: Box, name: str, n: int) -> Box:
    return specialise(box, **{name: n})  # type: ignore[no-any-return]


def _cache(value: Any, axis: int, ctx: _Context, last: bool = False) -> Any:
    """Write the new rows of ``value`` into this site's cache; return all positions.

    The buffer keeps the positions on its second-to-last axis (keys of shape
    ``(seq, heads, width)`` are held as ``(heads, seq, width)``), or on its last
    with ``last`` (values, which the einsum sums over the positions: ``(heads,
    width, seq)``): the layouts the attention ``einsum``s read as matrix products
    without a transpose, where the diagram's own layout made XLA copy the whole
    cache, transposed, for every new token. The value returned is a transposed
    view of it, which XLA folds into the ``einsum``.
    """
    frame = _frame()
    key = frame.next()
    at = value.ndim - 1 if last else max(value.ndim - 2, 0)
    rows = jnp.moveaxis(value, axis, at)
    old = frame.read.get(key)
    if old is None:
        shape = list(rows.shape)
        shape[at] = ctx.dim.max
        old = jnp.zeros(shape, value.dtype)
    new = _write_rows(at)(old, rows.astype(old.dtype), ctx.offset)
    frame.write[key] = new
    return jnp.moveaxis(new, at, axis)


@functools.cache
def _write_rows(at: int) -> Callable[[Any, Any, Any], Any]:
    """``write(buffer, rows, offset)``: ``rows`` written into ``buffer`` from ``offset``
    along axis ``at`` (a ``dynamic_update_slice``), and still one under ``jax.vmap``.

    ``jax.vmap`` turns a ``dynamic_update_slice`` into a ``scatter``, which XLA lowers
    to a bounds-checked select around the update, one more read of each cache's
    row per write. The offset is the same for every example of a batch, so the
    batched write is the same slice update one axis down (a batched offset falls
    back to ``jax.vmap``'s scatter).

    >>> import jax, jax.numpy as jnp
    >>> buf, rows = jnp.zeros((2, 3, 4)), jnp.ones((2, 1, 4))
    >>> out = jax.vmap(_write_rows(0), in_axes=(0, 0, None))(buf, rows, 1)
    >>> out[:, :, 0].tolist()
    [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    """

    @jax.custom_batching.custom_vmap
    def write(buffer: Any, rows: Any, offset: Any) -> Any:
        start = [jnp.zeros((), jnp.int32)] * buffer.ndim
        start[at] = offset
        return jax.lax.dynamic_update_slice(buffer, rows, start)

    @write.def_vmap
    def batched(size: int, flags: Any, buffer: Any, rows: Any, offset: Any) -> Any:
        in_buffer, in_rows, in_offset = flags
        if in_offset:  # a per-example offset: jax.vmap's own rule (a scatter)
            axes = tuple(0 if f else None for f in flags)
            return jax.vmap(write.fun, in_axes=axes)(buffer, rows, offset), True
        if not in_buffer:
            buffer = jnp.broadcast_to(buffer, (size, *buffer.shape))
        if not in_rows:
            rows = jnp.broadcast_to(rows, (size, *rows.shape))
        return _write_rows(at + 1)(buffer, rows, offset), True

    return write


def _positions(ctx: _Context, full: bool) -> Any:
    """The positions of the rows of an axis, counted from the example's first real token."""
    if full:
        return jnp.arange(ctx.dim.max) - ctx.start
    return ctx.offset + jnp.arange(ctx.n) - ctx.start


# -- decoding each kind of box ----------------------------------------------------------


def _einsum(box: Box, x: Any, ctx: _Context) -> Any:
    a_ob, b_ob = _leaves(box.dom, (0, 1))[0][0], _leaves(box.dom, (0, 1))[1][0]
    a, b = x
    spec = box.attrs["spec"]
    (sa, sb), out = spec.split("->")[0].split(","), spec.split("->")[1]
    letters_a = _letters(sa, a.ndim)
    letters_b = _letters(sb, b.ndim)
    seq_a = {letters_a[k]: _full(a, k, ctx) for k in _seq_axes(a_ob, ctx.dim)}
    seq_b = {letters_b[k]: _full(b, k, ctx) for k in _seq_axes(b_ob, ctx.dim)}
    cache_b = cache_a = False
    for c in set(seq_a) & set(seq_b):
        if seq_a[c] != seq_b[c]:  # new rows contracted against every position: cache them
            cache_a, cache_b = cache_a or not seq_a[c], cache_b or not seq_b[c]
        elif c not in out and not seq_a[c]:
            raise DecodeError(f"decode: {_where(box)} sums over the new rows of both operands")
    only_a = [c for c in seq_a if c not in seq_b and not seq_a[c]]
    only_b = [c for c in seq_b if c not in seq_a and not seq_b[c]]
    if only_a and only_b:  # two row axes meet (scores): the later one in the output is cached
        first = min(only_a + only_b, key=lambda c: out.find(c) if c in out else len(out))
        cache_b, cache_a = cache_b or first in only_a, cache_a or first in only_b
    if cache_a:
        a = _cache_all(a, a_ob, ctx, _summed_rows(a, a_ob, letters_a, out, ctx))
    if cache_b:
        b = _cache_all(b, b_ob, ctx, _summed_rows(b, b_ob, letters_b, out, ctx))
    operands = ((a_ob, a, letters_a), (b_ob, b, letters_b))
    _check_causal(box, operands, out, ctx)
    zeros = any(_crossed(ob, v, ctx) and _hidden(v, ctx) == 0 for ob, v, _ in operands)
    return _mark(box.cod, lookup(box).fn(box, (a, b)), 0.0 if zeros else None, ctx)


def _check_causal(box: Box, operands: Any, out: str, ctx: _Context) -> None:
    """Refuse an einsum summing over cached positions that no operand holds zeros at."""
    for ob, v, letters in operands:
        for k in _seq_axes(ob, ctx.dim):
            c = letters[k]
            if c not in out and _full(v, k, ctx) and not _zeros_at(c, operands, ctx):
                raise _not_causal(box, "sums over cached positions")


def _zeros_at(c: str, operands: Any, ctx: _Context) -> bool:
    """Whether an operand is scores with cached positions ``c`` and zeros where hidden."""
    return any(
        c in ls and _crossed(o, w, ctx) and _full(w, ls.index(c), ctx) and _hidden(w, ctx) == 0
        for o, w, ls in operands
    )


def _letters(spec: str, ndim: int) -> str:
    head, dots, tail = spec.partition("...")
    return head + "." * (ndim - len(head) - len(tail)) + tail if dots else spec


def _cache_all(value: Any, ob: Ob, ctx: _Context, last: bool = False) -> Any:
    axes = [k for k in _seq_axes(ob, ctx.dim) if not _full(value, k, ctx)]
    if len(axes) != 1:
        raise DecodeError(f"decode: cannot cache {ob!r} with {len(axes)} axes of new rows")
    return _cache(value, axes[0], ctx, last)


def _summed_rows(value: Any, ob: Ob, letters: str, out: str, ctx: _Context) -> bool:
    """Whether the einsum sums over the positions of the operand it caches (values)."""
    axes = [k for k in _seq_axes(ob, ctx.dim) if not _full(value, k, ctx)]
    return len(axes) == 1 and letters[axes[0]] not in out


def _causal_mask(box: Box, x: Any, ctx: _Context) -> Any:
    axes = _seq_axes(box.dom, ctx.dim)
    nd = x.ndim
    if sorted(axes) != [nd - 2, nd - 1]:
        raise DecodeError(f"decode: {_where(box)} must mask two {ctx.dim.name} axes")
    rows = _positions(ctx, _full(x, nd - 2, ctx))
    cols = _positions(ctx, _full(x, nd - 1, ctx))
    keep = (cols[None, :] <= rows[:, None]) & (cols[None, :] >= 0)
    out = jnp.where(keep, x, jnp.asarray(box.attrs["fill"], x.dtype))
    causal = not _full(x, nd - 2, ctx) and _full(x, nd - 1, ctx)  # rows, then cached positions
    return _mark(box.cod, out, float(box.attrs["fill"]) if causal else None, ctx)


def _arange(box: Box, x: Any, ctx: _Context) -> Any:
    k = _positions(ctx, False).astype(jnp.dtype(getattr(box.cod, "dtype", "float32")))
    return box.attrs["start"] + box.attrs["step"] * k


def _slice(box: Box, x: Any, ctx: _Context) -> Any:
    axis, size = box.attrs["axis"], x.shape[box.attrs["axis"]]
    rows = jnp.clip(_positions(ctx, False), 0, size - 1)  # pads read row 0; they are masked
    return jnp.take(x, rows, axis=axis)


_POSITIONAL: dict[str, Callable[[Box, Any, _Context], Any]] = {
    "einsum": _einsum,
    "causal_mask": _causal_mask,
}
_REDUCING = ("softmax", "reduce_sum", "reduce_mean", "reduce_max")


def _generic(box: Box, x: Any, ctx: _Context) -> Any:
    """A position-wise box, run on the new rows (or on all positions) with ``seq`` bound."""
    full: set[bool] = set()
    kinds: set[tuple[bool, ...]] = set()
    for ob, v in _leaves(box.dom, x):
        here = tuple(_full(v, k, ctx) for k in _seq_axes(ob, ctx.dim))
        full.update(here)
        if here:
            kinds.add(here)
    if len(kinds) > 1:
        raise DecodeError(f"decode: {_where(box)} meets new rows and cached positions elementwise")
    if box.name in _REDUCING:
        _check_reduction(box, _leaves(box.dom, x)[0][1], ctx)
    if box.name in ("concat", "take") and box.attrs["axis"] in _seq_axes(
        _leaves(box.dom, x)[0][0], ctx.dim
    ):
        raise DecodeError(f"decode: {_where(box)} acts along the {ctx.dim.name} axis")
    n = ctx.dim.max if full == {True} else ctx.n
    if len(full) > 1:  # rows against all positions (scores): only shape-free boxes
        if _in_attrs(box) or box.name in ("full", "bernoulli"):
            raise DecodeError(f"decode: {_where(box)} needs one length for rows and cache")
        hidden = _hidden_after(box, _leaves(box.dom, x), ctx)
        return _mark(box.cod, lookup(box).fn(box, x), hidden, ctx)
    concrete = _at(box, ctx.dim.name, n) if _mentions(box) else box
    return lookup(concrete).fn(concrete, x)


def _check_reduction(box: Box, value: Any, ctx: _Context) -> None:
    axis = box.attrs["axis"]
    if axis not in _seq_axes(box.dom, ctx.dim):
        return
    if not _full(value, axis, ctx):
        raise DecodeError(f"decode: {_where(box)} reduces along the new rows")
    if box.name == "reduce_mean":
        raise _not_causal(box, "averages over every cached position (the cache's length)")
    hidden = _hidden(value, ctx)
    ignored = hidden == 0 if box.name == "reduce_sum" else hidden is not None and hidden <= _HIDES
    if not ignored:
        raise _not_causal(box, "reduces along cached positions")


def _hidden_after(box: Box, leaves: list[tuple[Ob, Any]], ctx: _Context) -> float | None:
    """The hidden value of the scores a shape-free box makes of one input of scores."""
    scores = [(ob, v) for ob, v in leaves if _crossed(ob, v, ctx)]
    h = _hidden(scores[0][1], ctx) if len(scores) == 1 else None
    if h is None:
        return None
    ob, v = scores[0]
    along = box.attrs.get("axis") in _seq_axes(ob, ctx.dim)  # (the new rows' axis is refused)
    if box.name == "scale":
        return h * float(box.attrs["by"])
    if box.name == "transpose" or (box.name in ("reduce_max", "reduce_mean") and not along):
        return h
    if box.name == "relu":
        return max(h, 0.0)
    if box.name == "reduce_sum" and not along:
        return h * float(v.shape[box.attrs["axis"]])
    if box.name == "softmax" and along and h <= _HIDES:
        return 0.0
    return None


@functools.lru_cache(maxsize=4096)
def _mentions(box: Box) -> bool:
    return bool(dims(box))


def _in_attrs(box: Box) -> bool:
    found: dict[Dim, None] = {}
    dims_in(tuple(box.attrs.values()), found)
    return bool(found)


def _decode_box(box: Box) -> Fn:
    if not isinstance(box, Box):
        raise KeyError(box)
    attrs = box.attrs
    kind: Callable[[Box, Any, _Context], Any]
    if box.name == "arange" and isinstance(getattr(box.cod, "shape", (0,))[0], Dim):
        kind = _arange
    elif box.name == "slice" and isinstance(attrs.get("stop"), Dim):
        kind = _slice
    else:
        kind = _POSITIONAL.get(box.name, _generic)
    lookup(box)  # an unregistered box is named now, not while tracing

    def run(x: Any) -> Any:
        ctx = _ctx()
        try:
            return kind(box, x, ctx)
        except DecodeError:
            raise
        except Exception as e:
            e.add_note(f"while decoding {_where(box)}")
            raise

    return Fn(run, box.dom, box.cod)


def _in_frame(step: Callable[[Any], Any], x: Any, caches: Any) -> tuple[Any, Any]:
    """``step(x)`` reading one layer's ``caches``: its output and the caches it wrote."""
    inner = _Frame(caches)
    token = _FRAME.set(inner)
    try:
        out = step(x)
    finally:
        _FRAME.reset(token)
    return out, inner.write


class DecodeCategory(JaxCategory):
    """``JaxCategory`` whose ``repeat`` runs the layers carrying each layer's caches, and
    whose folds over the sequence carry their state from step to step.

    A repeat of at most ``DECODE_UNROLL_MAX`` layers is unrolled and its state is a
    tuple of each layer's caches (separate buffers, updated in place); a deeper one
    is a ``lax.scan`` over the stacked layers and caches.
    """

    def repeat(self, body: Fn, n: int, p: Ob, a: Ob) -> Fn:
        step = body.fn

        def one(ps: Any, c: Any, caches: Any) -> tuple[Any, Any]:
            return _in_frame(step, (ps, c), caches)

        def run(x: Any) -> Any:
            params, carry = x
            frame = _frame()
            key = frame.next()
            if n <= DECODE_UNROLL_MAX:
                read: Any = frame.read.get(key) or ({},) * n
                written = []
                for i in range(n):
                    carry, caches = one(layer(params, i), carry, read[i])
                    written.append(caches)
                frame.write[key] = tuple(written)
                return carry
            params = restack(params)  # the scan takes stacked layers (either layout in)

            def scanned(c: Any, xs: Any) -> tuple[Any, Any]:
                return one(xs[0], c, xs[1])

            stacked = frame.read.get(key, {})
            out, frame.write[key] = jax.lax.scan(scanned, carry, (params, stacked), length=n)
            return out

        return Fn(run, body.dom, a)

    def recur(self, cell: Fn, node: Recur, p: Ob, s: Ob, x: Ob, y: Ob) -> Fn:
        """A fold over the decoded axis: its carried state is the cache (``.recurrent``)."""
        if not isinstance(node.n, Dim):  # over another axis: position-wise, as compiled
            return super().recur(cell, node, p, s, x, y)
        if node.reverse:
            raise DecodeError(f"decode: {node!s:.60} folds from the end of the sequence")
        return recur_decoder(cell, node, _frame, _ctx)


_DECODE: Functor[Ob, Fn] = Functor(ob=lambda x: x, ar=_decode_box, cod=DecodeCategory())


@functools.lru_cache(maxsize=64)
def _decoder(arrow: Any) -> Fn:
    return _DECODE(arrow)  # type: ignore[no-any-return]


def _seq_dim(model: object, op: str) -> tuple[int, Dim]:
    dom, cod = getattr(model, "dom", None), getattr(model, "cod", None)
    if not (isinstance(dom, Fin) and len(dom.shape) == 1 and isinstance(cod, R)):
        raise TypeError(f"{op}: expected a Para Fin(V, seq) -> R(seq, V), got {dom!r} -> {cod!r}")
    seq = dom.shape[0]
    if not isinstance(seq, Dim):
        raise TypeError(
            f"{op}: the model's length is fixed ({dom!r}); build it with a variable length,"
            f" e.g. seq=Dim('seq', {seq}), so that it runs on the new rows"
        )
    if cod.shape != (seq, dom.n):
        raise TypeError(f"{op}: expected a Para {dom!r} -> R({seq!r}, {dom.n}), got {cod!r}")
    if seq.max < 2:
        raise ValueError(f"{op}: the model has one position ({seq!r}): nothing to cache; use apply")
    return dom.n, seq


def decode_step(
    model: Para,
    params: Mapping[str, Any],
    ids: Any,
    state: Any,
    offset: Any,
    start: Any = 0,
    *,
    check_ids: bool = True,
) -> tuple[Any, Any]:
    """One decoding step of one example: ``(state, new ids) -> (state, logits of the new rows)``.

    ``ids`` are the tokens at slots ``offset .. offset + len(ids) - 1``; ``state``
    the caches (``{}`` before the first step; each held with the positions on its
    second-to-last axis); ``start`` the number of left pads.
    ``jax.vmap`` it over a batch. Returns ``(logits, state)``. A step of ``max``
    rows (a prompt that fills the context) decodes all rows but the last, then
    the last: rows and cache must differ in length to be told apart.

    Ids outside ``0..V-1`` and an ``offset`` past ``max - len(ids)`` are refused:
    at once when they are concrete, at run time under ``jax.jit`` and ``jax.vmap``
    (``backends.jax.core.values.run_checked``: an error on one device, NaN
    logits where the ids or parameters lie on several). ``check_ids=False``
    drops the run-time test, for inputs known to be good (``generate`` checks
    its prompts before decoding and draws in range).

    >>> import jax, jax.numpy as jnp
    >>> from topos import nn
    >>> from topos.objects import Dim
    >>> from backends.jax import apply, init
    >>> lm = nn.language_model(11, Dim("seq", 8), 16, 2, 1, positional="rope")
    >>> params = init(lm, jax.random.key(0))
    >>> ids = jnp.array([3, 1, 4, 1, 5, 9])
    >>> step = jax.jit(decode_step, static_argnums=0)
    >>> first, state = step(lm, params, ids[:3], {}, 0)
    >>> rest, state = step(lm, params, ids[3:], state, 3)
    >>> whole = apply(lm, params, ids)
    >>> bool(jnp.allclose(jnp.concatenate([first, rest]), whole, atol=1e-5))
    True
    """
    vocab, seq = _seq_dim(model, "decode_step")
    ids, offset, ok = _step_input(Fin(vocab, seq), ids, offset, check_ids, params)
    n = int(ids.shape[0])
    if n == seq.max:  # rows and cache of one length: all rows but the last, then the last
        head, state = decode_step(model, params, ids[:-1], state, offset, start, check_ids=False)
        last, state = decode_step(
            model, params, ids[-1:], state, offset + n - 1, start, check_ids=False
        )
        return poisoned(model.cod, jnp.concatenate([head, last]), ok), state
    q = cartesian(model)
    fn = _decoder(q.arrow)
    pv = param_value(q, params)
    ctx = _Context(seq, n, jnp.asarray(offset, jnp.int32), jnp.asarray(start, jnp.int32))
    frame = _Frame(state)
    tokens = (_CTX.set(ctx), _FRAME.set(frame), CONSTANTS.set(params))
    try:
        out = fn.fn((pv, ids))
    finally:
        CONSTANTS.reset(tokens[2])
        _FRAME.reset(tokens[1])
        _CTX.reset(tokens[0])
    return poisoned(model.cod, out, ok), frame.write


def _step_input(
    dom: Fin, ids: Any, offset: Any, checked: bool, params: Any
) -> tuple[Any, Any, Any]:
    """The new ids of one step and its offset, checked (at run time where they are traced),
    and, on several devices, whether they are good (else ``None``): see ``run_checked``."""
    bound = dom.shape[0]
    assert isinstance(bound, Dim)
    shape = tuple(jnp.shape(ids))
    if len(shape) != 1 or not 1 <= shape[0] <= bound.max:
        raise ValueError(
            f"decode_step: expected 1..{bound.max} new ids (one example), got shape {shape}"
        )
    check(Fin(dom.n, shape[0]), ids, "decode_step: ids")
    last = bound.max - shape[0]  # the last offset at which the new rows fit
    if not isinstance(offset, jax.core.Tracer) and not 0 <= int(offset) <= last:
        raise ValueError(
            f"decode_step: {shape[0]} new rows at offset {int(offset)} do not fit in the"
            f" {bound.max} positions of {bound!r}"
        )
    offset = jnp.asarray(offset, jnp.int32)
    fits = (offset >= 0) & (offset <= last)
    if not (checked and has_tracer((ids, offset))):
        return ids, offset, None
    if on_several_devices(ids, offset, params):  # a raising test would stall the other devices
        return ids, offset, ids_in_range(dom, ids) & fits
    if isinstance(ids, jax.core.Tracer):
        ids = checked_ids(dom, ids, "decode_step: ids")
    if isinstance(offset, jax.core.Tracer):
        message = f"decode_step: the new rows do not fit in the {bound.max} positions"
        offset = eqx.error_if(offset, ~fits, message)
    return ids, offset, None


def generate(
    model: Para,
    params: Mapping[str, Any],
    prompt: Any,
    steps: int,
    key: jax.Array,
    temperature: float = 1.0,
    top_k: int | None = None,
    *,
    lengths: Sequence[int] | None = None,
    return_logits: bool = False,
) -> Any:
    """``steps`` new tokens after each prompt, decoded with the diagram's key–value cache.

    Args:
        model: a causal Para ``Fin(V, seq) -> R(seq, V)`` with ``seq = Dim(name, max)``.
        params: its parameters.
        prompt: one prompt (a list or 1-D array of ids), a list of prompts of any
            lengths (left-padded here), or a 2-D array of left-padded prompts
            with their ``lengths``.
        steps: how many tokens to draw (``>= 1``); the prompt and the new tokens
            but the last must fit in ``max`` positions.
        key: a ``jax.random`` key; the same key gives the same tokens.
        temperature: ``0`` for greedy (argmax) decoding, else ``> 0``.
        top_k: draw among the ``top_k`` most likely tokens only.
        lengths: with a 2-D ``prompt``, the number of real tokens in each row
            (its last ``lengths[i]`` entries; the rest is padding).
        return_logits: also return the logits each token was drawn from.

    Returns:
        ``int32`` ids of shape ``(steps,)`` for one prompt, ``(batch, steps)``
        for several; with ``return_logits``, ``(ids, logits)`` with logits of
        shape ``(..., steps, V)``.

    >>> import jax
    >>> from topos import nn
    >>> from topos.objects import Dim
    >>> from backends.jax import init
    >>> lm = nn.language_model(11, Dim("seq", 4), 8, 2, 1)
    >>> generate(lm, init(lm, jax.random.key(0)), [1, 2, 3], 3, jax.random.key(0))
    Traceback (most recent call last):
    ...
    ValueError: generate: 3 prompt tokens and 3 steps need 5 positions, the model has 4 ...
    """
    vocab, seq = _seq_dim(model, "generate")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"generate: steps must be an int >= 1, got {steps!r}")
    if not (isinstance(temperature, (int, float)) and 0 <= temperature < math.inf):
        raise ValueError(f"generate: temperature must be a number >= 0, got {temperature!r}")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= vocab
    ):
        raise ValueError(f"generate: top_k must be an int in 1..{vocab}, got {top_k!r}")
    ids, lens, single = _prompts(prompt, lengths, vocab)
    bad = np.argwhere(
        ((ids < 0) | (ids >= vocab)) & (np.arange(ids.shape[1]) >= ids.shape[1] - lens[:, None])
    )
    if len(bad):
        i, j = (int(k) for k in bad[0])
        raise ValueError(
            f"generate: token ids must be in 0..{vocab - 1}, got {ids[i, j]}"
            f" (prompt {i}, position {j - (ids.shape[1] - int(lens[i]))})"
        )
    width = ids.shape[1]
    if width + steps - 1 > seq.max:
        raise ValueError(
            f"generate: {width} prompt tokens and {steps} steps need {width + steps - 1}"
            f" positions, the model has {seq.max} ({seq!r})"
        )
    ids = np.where(np.arange(width) >= width - lens[:, None], ids, 0).astype(np.int32)
    start = (width - lens).astype(np.int32)
    rows = _bucket(width, seq.max)
    kept = min(1 << (steps - 1).bit_length(), seq.max) if return_logits else 0
    run = _compiled(model, rows, float(temperature), top_k, kept)
    padded = np.zeros((ids.shape[0], rows), np.int32)
    padded[:, :width] = ids
    out, logits = run(params, padded, start, np.int32(width), np.int32(steps), key)
    out, logits = np.asarray(out)[:, :steps], np.asarray(logits)[:, :steps]
    if single:
        out, logits = out[0], logits[0]
    return (out, logits) if return_logits else out


def _prompts(
    prompt: Any, lengths: Sequence[int] | None, vocab: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Left-padded ids ``(batch, width)``, the real lengths, and whether it was one prompt."""
    if isinstance(prompt, np.ndarray | jax.Array) and np.ndim(prompt) == 2:
        ids = np.asarray(prompt)
        lens = _lengths(lengths, *ids.shape)
        single = False
    else:
        if lengths is not None:
            raise ValueError("generate: lengths go with a 2-D array of left-padded prompts")
        rows: list[Any]
        single = not (isinstance(prompt, Sequence) and len(prompt) and not np.isscalar(prompt[0]))
        rows = [prompt] if single else list(prompt)
        arrays = [_row(r, i, vocab) for i, r in enumerate(rows)]
        if not arrays or any(a.ndim != 1 or len(a) < 1 for a in arrays):
            raise ValueError(
                f"generate: expected prompts of at least one token id, got {_short(prompt)}"
            )
        if any(not np.issubdtype(a.dtype, np.integer) for a in arrays):
            raise ValueError(f"generate: token ids must be integers, got {_short(prompt)}")
        lens = np.array([len(a) for a in arrays])
        ids = np.zeros((len(arrays), int(lens.max())), np.int64)
        for i, a in enumerate(arrays):
            ids[i, ids.shape[1] - len(a) :] = a
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"generate: token ids must be integers, got dtype {ids.dtype}")
    return ids, lens.astype(np.int64), single


def _row(row: Any, i: int, vocab: int) -> np.ndarray:
    """One prompt as an array; an int beyond 64 bits is an id out of range, named as such."""
    try:
        a = np.asarray(row)
    except OverflowError:
        a = np.asarray(row, dtype=object)
    if a.dtype == object and a.ndim == 1:
        huge = [(j, v) for j, v in enumerate(a.tolist()) if _int(v) and not 0 <= v < 2**63]
        if huge:
            j, v = huge[0]
            raise ValueError(
                f"generate: token ids must be in 0..{vocab - 1}, got {v} (prompt {i}, position {j})"
            )
    return a


def _int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _lengths(lengths: Any, batch: int, width: int) -> np.ndarray:
    """The real lengths of a 2-D batch of prompts: ``batch`` ints in ``1..width`` each."""
    if lengths is None:
        return np.full(batch, width, np.int64)
    values: list[Any] | None = None
    if isinstance(lengths, np.ndarray | jax.Array):
        if np.issubdtype(lengths.dtype, np.integer) and lengths.ndim == 1:
            values = np.asarray(lengths).tolist()
    elif isinstance(lengths, Sequence) and not isinstance(lengths, str):
        values = list(lengths)
    if values is None or len(values) != batch or not all(_length_ok(v, width) for v in values):
        raise ValueError(
            f"generate: lengths must give 1..{width} real tokens for each of the {batch}"
            f" prompts (an int each), got {_short(lengths)}"
        )
    return np.array(values, np.int64)


def _length_ok(v: Any, width: int) -> bool:
    return _int(v) and 1 <= v <= width


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def _pick(logits: Any, key: Any, temperature: float, top_k: int | None) -> Any:
    if temperature == 0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    scaled = logits / temperature
    if top_k is not None:
        kth = jax.lax.top_k(scaled, top_k)[0][..., -1:]
        scaled = jnp.where(scaled < kth, -jnp.inf, scaled)
    return jax.random.categorical(key, scaled, axis=-1).astype(jnp.int32)


def _bucket(n: int, most: int) -> int:
    """The rows a prompt of ``n`` tokens is right-padded to, so that prompts of nearby
    lengths share one compiled decoder: at least 8, else ``n`` rounded up to an eighth
    of its power of two (at most 1/8 more rows), and below ``most`` when ``n`` is (a
    prefill of ``most`` rows would run in two passes).

    >>> [_bucket(n, 2048) for n in (1, 8, 9, 17, 100, 1792, 1793, 2047, 2048)]
    [8, 8, 16, 24, 112, 1792, 2047, 2047, 2048]
    """
    step = max(8, 1 << max(0, (n - 1).bit_length() - 3))
    rows = -(-n // step) * step
    return min(rows, most - 1) if n < most else most


def _split_layers(model: Para, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with each parameter stacked by a repeat that decoding unrolls split into
    its layers (``Unstacked``), outside the loop over tokens: each layer reads its own
    arrays instead of a slice of the stack at every token."""
    out = dict(params)
    for path, param in model.parameters().items():
        v = out.get(path)
        if v is None or is_unstacked(v) or getattr(param, "stacked", 0) < 1:
            continue
        if 1 <= v.shape[0] <= DECODE_UNROLL_MAX:
            out[path] = split(v)
    return out


@functools.lru_cache(maxsize=32)
def _compiled(
    model: Para, width: int, temperature: float, top_k: int | None, logits: int
) -> Callable[..., Any]:
    """The jitted decoder of ``model`` for prompts right-padded to ``width`` rows.

    One program serves every prompt length up to ``width`` and every number of
    steps (both are run-time scalars: the prompt's last real row is read at
    ``length - 1``, the rows after it are overwritten by the new tokens before a
    causal mask lets anyone read them, and the loop over tokens runs ``steps - 1``
    times); JAX compiles it once per batch size. The new ids go into a buffer of
    ``max`` slots, the logits (with ``return_logits``) into one of ``logits`` rows.
    """
    most = model.dom.shape[0].max  # type: ignore[attr-defined]

    def one(params: Any, ids: Any, state: Any, offset: Any, start: Any) -> Any:
        return decode_step(model, params, ids, state, offset, start, check_ids=False)

    many = jax.vmap(one, in_axes=(None, 0, 0, None, 0))

    def batch(params: Any, ids: Any, state: Any, offset: Any, start: Any) -> Any:
        if ids.shape[0] != 1:
            return many(params, ids, state, offset, start)
        # one example runs unmapped, its caches without a batch axis of length 1: XLA
        # drops such an axis where the attention reads a cache, and then wrote each key
        # cache twice (once per shape) and copied it whole four times per new token
        out, state = one(params, ids[0], state, offset, start[0])
        return out[None], state

    def run(params: Any, ids: Any, start: Any, length: Any, steps: Any, key: Any) -> Any:
        params = _split_layers(model, params)
        out, state = batch(params, ids, {}, 0, start)
        last = jax.lax.dynamic_index_in_dim(out, length - 1, axis=1, keepdims=False)
        key, sub = jax.random.split(key)
        tok = _pick(last, sub, temperature, top_k)
        toks = jnp.zeros((ids.shape[0], most), jnp.int32).at[:, 0].set(tok)
        lgs = jnp.zeros((ids.shape[0], logits, last.shape[-1]), last.dtype)
        if logits:
            lgs = lgs.at[:, 0].set(last)

        def body(i: Any, carry: Any) -> Any:
            state, tok, key, toks, lgs = carry
            out, state = batch(params, tok[:, None], state, length + i, start)
            key, sub = jax.random.split(key)
            nxt = _pick(out[:, 0], sub, temperature, top_k)
            toks = jax.lax.dynamic_update_slice(toks, nxt[:, None], (0, i + 1))
            if logits:
                lgs = jax.lax.dynamic_update_slice(lgs, out[:, :1], (0, i + 1, 0))
            return state, nxt, key, toks, lgs

        carry = jax.lax.fori_loop(0, steps - 1, body, (state, tok, key, toks, lgs))
        return carry[3], carry[4]

    return jax.jit(run)
