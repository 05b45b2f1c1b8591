"""Decoding folds over the sequence: the carried state is the cache.

A ``Recur`` over the decoded axis (``topos.recur(cell, seq)`` with ``seq`` the
model's ``Dim``) is a stateful morphism already: ``S × new items → S × new
outputs``. Decoding runs the cell over the new rows only, from the state the
previous step left (the diagram's initial state before the first step), and
leaves the final state for the next step. The cache of a recurrent layer is one
state, whatever the context: a decoding step costs the same at every offset.
Rows before ``start`` (left padding of a batch) leave the state as it was, so
each example of a batch decodes as its prompt alone. A reversed fold reads its
sequence from the end, which a causal decoder has not seen: it is refused.

Law (tested in ``tests/backends/jax/test_recurrent_decoding.py``): the logits
of cached decoding equal the uncached run of the whole prefix, for recurrent
models and for hybrids of recurrence and attention (whose attention keeps its
key–value cache beside the states).

>>> import jax
>>> from topos.nn.recurrent import recurrent_lm
>>> from topos.objects import Dim
>>> from backends.jax import apply, init
>>> from backends.jax.decoding import decode_step
>>> lm = recurrent_lm(11, Dim("seq", 16), 8, 1, kind="gru")
>>> params = init(lm, jax.random.key(0))
>>> ids = jax.numpy.array([3, 1, 4, 1, 5])
>>> step = jax.jit(decode_step, static_argnums=0)
>>> first, state = step(lm, params, ids[:3], {}, 0)
>>> rest, state = step(lm, params, ids[3:], state, 3)
>>> [v.shape for v in jax.tree.leaves(state)]   # one state of the GRU: 8 numbers
[(8,)]
>>> whole = jax.jit(lambda p, x: apply(lm, p, x))(params, ids)
>>> bool(jax.numpy.allclose(jax.numpy.concatenate([first, rest]), whole, atol=1e-5))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from backends.jax.core.compile import Fn
from topos.arrows import Recur

__all__ = ["recur_decoder"]


def recur_decoder(
    cell: Fn, node: Recur, frame_of: Callable[[], Any], ctx_of: Callable[[], Any]
) -> Fn:
    """The decoding of ``node`` (a fold over the decoded axis) with the cell ``cell``.

    ``frame_of()`` gives the caches of the step in progress (``read``, ``write``,
    ``next()``), ``ctx_of()`` its context (``n`` new rows from slot ``offset``, the
    example's ``start``); both are read when the step runs.
    """
    step = cell.fn

    def run(v: Any) -> Any:
        params, (initial, xs) = v
        frame, ctx = frame_of(), ctx_of()
        key = frame.next()
        state = frame.read.get(key, initial)  # before the first step: the diagram's own
        lengths = {int(leaf.shape[0]) for leaf in jax.tree.leaves(xs)}
        if lengths - {ctx.n}:
            raise TypeError(
                f"decode: the fold {node!s:.60} reads {sorted(lengths)} rows, not the"
                f" {ctx.n} new ones (a fold over cached positions cannot be decoded)"
            )
        slots = ctx.offset + jnp.arange(ctx.n, dtype=jnp.int32)

        def one(carry: Any, item: Any) -> tuple[Any, Any]:
            x, slot = item
            new, y = step((params, (carry, x)))
            real = slot >= ctx.start  # a pad leaves the state as it was
            new = jax.tree.map(lambda a, b: jnp.where(real, a, b), new, carry)
            return new, y

        final, ys = jax.lax.scan(one, state, (xs, slots))
        frame.write[key] = final
        return final, ys

    return Fn(run, node.dom, node.cod)
