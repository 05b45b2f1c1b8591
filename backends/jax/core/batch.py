"""A batch through an arrow, some inputs shared, some outputs summed over the batch.

``summed(f, shared, total)`` runs the arrow ``f`` on a batch: the input leaves
marked in ``shared`` are one value for every example (the parameters), the others
carry a leading batch axis; the output leaves marked in ``total`` come back summed
over the batch, the others batched. It equals
``jax.vmap`` of ``compile(f)`` (shared leaves unmapped) followed by ``sum(0)``
on the totals, but computes each total where it is cheapest.

The categorical reading. Running ``f: P * A -> C`` on a batch of ``B`` examples
with shared parameters is ``(Δ_B * id) ; f^B``: the parameters are copied to each
example. In the reverse derivative of that composite, ``R[Δ_B]`` is the sum of the
``B`` cotangents, so a parameter's cotangent is ``Σ_b`` of the per-example ones.
The sum is linear, so it moves backwards through the diagram until it meets the
point where the parameter wire met the batched one:

- through an additive box (``add``, ``reshape``, ``transpose``, ``concat``, ...):
  ``Σ_b L(x_b) = L(Σ_b x_b)`` (a shared operand counts ``B`` times);
- into an ``einsum`` of two batched operands, where it becomes one more contracted
  index: ``Σ_b x_b ⊗ g_b`` is one matrix product over the batch (``xᵀ g``), not
  ``B`` outer products materialised and then added;
- into a ``scatter_add`` (an embedding's gradient): one scatter of every
  example's rows, not one table per example;
- into a ``conv_filter`` (a convolution's kernel cotangent): one convolution with
  the batch as its contracted batch axis.

Everything else runs as ``jax.vmap`` runs it, box by box (structure at trace
time, each box mapped over the batched operands only). Totals are built only
where they are asked for, so unused batched intermediates are dead code for XLA.

>>> import jax, jax.numpy as jnp
>>> from topos import R, fst, snd, pair
>>> from topos.nn.primitives import einsum
>>> W, X = R(3, 2), R(3)
>>> f = pair(snd(W, X), fst(W, X)) >> einsum("i,io->o", X, W)
>>> w, xs = jnp.ones((3, 2)), jnp.arange(12.0).reshape(4, 3)
>>> ys = summed(f, (True, False), False)((w, xs))
>>> bool(jnp.allclose(ys, jax.vmap(lambda x: x @ w)(xs)))
True
>>> outer = pair(snd(X, R(2)), fst(X, R(2))) >> einsum("o,i->io", R(2), X)
>>> g = jnp.ones((4, 2))
>>> total = summed(outer, (False, False), True)((xs, g))
>>> bool(jnp.allclose(total, xs.T @ g))
True
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from backends.jax.core.compile import interpret
from backends.jax.core.primitives import conv_filter_total
from topos.arrows import (
    Arrow,
    Box,
    Compose,
    Copy,
    Discard,
    Fst,
    Group,
    Id,
    Pair,
    Snd,
    Stack,
    Swap,
    Tensor,
    fold,
)
from topos.normal import deep

__all__ = ["summed"]

#: Boxes additive in all their operands together, ``f(x + y) = f(x) + f(y)`` (and ``Stack``).
ADDITIVE = frozenset(
    {"add", "sub", "scale", "reshape", "transpose", "broadcast", "concat", "take", "slice"}
    | {"reduce_sum", "reduce_mean", "stack"}
)

Flags = Any  # a bool, or a tuple of Flags shaped like a value
Run = Callable[[Any], Any]


class Batched:
    """A leaf with a leading batch axis, and (lazily) its sum over the batch.

    ``make_total`` computes the sum cheaper than ``value.sum(0)`` where a rule
    knows how (see the module docstring); it is called at most once, and not at
    all when ``value`` itself is ``used`` (read by a box with no such rule): then
    summing the values the program computes anyway is the cheaper way.
    """

    __slots__ = ("value", "used", "_make", "_total")

    def __init__(self, value: Any, make_total: Callable[[], Any] | None = None) -> None:
        self.value, self.used, self._make, self._total = value, False, make_total, None

    @property
    def fused(self) -> bool:
        """Whether the total has a rule cheaper than summing ``value``."""
        return self._make is not None

    def total(self) -> Any:
        if self._total is None:
            fused = self._make is not None and not self.used
            self._total = self._make() if fused else self.value.sum(0)  # type: ignore[misc]
        return self._total


def _is_batched(v: Any) -> bool:
    return isinstance(v, Batched)


def _total(v: Any, size: int) -> Any:
    """``Σ_b v_b``: the batched total, or ``size`` copies of a shared value."""
    if isinstance(v, Batched):
        return v.total()
    return v * jnp.asarray(size, jnp.result_type(v))


def _use(x: Any) -> None:
    """Mark the batched leaves of ``x`` as read per example."""
    for v in jax.tree.leaves(x, is_leaf=_is_batched):
        if isinstance(v, Batched):
            v.used = True


def _mapped(per_example: Run, x: Any) -> Any:
    """``per_example`` over the batched leaves of ``x`` (the shared ones closed over)."""
    leaves, tree = jax.tree.flatten(x, is_leaf=_is_batched)
    where = [k for k, v in enumerate(leaves) if isinstance(v, Batched)]
    if not where:
        return per_example(x)

    def one(items: list[Any]) -> Any:
        at = list(leaves)
        for k, item in zip(where, items, strict=True):
            at[k] = item
        return per_example(jax.tree.unflatten(tree, at))

    out = jax.vmap(one)([leaves[k].value for k in where])
    return jax.tree.map(Batched, out)


def _box(box: Box | Stack, size: list[int]) -> Run:
    per_example = interpret(box).fn

    def run(x: Any) -> Any:
        out = _mapped(per_example, x)
        rule = _total_rule(box, per_example, x, size)
        if rule is None:
            _use(x)
            return out
        leaves, tree = jax.tree.flatten(out, is_leaf=_is_batched)
        totals = _Once(lambda: jax.tree.leaves(rule()))
        return jax.tree.unflatten(tree, [_leaf(v, totals, k) for k, v in enumerate(leaves)])

    return run


def _leaf(v: Batched, totals: _Once, k: int) -> Batched:
    return Batched(v.value, lambda: totals()[k])


class _Once:
    """A thunk evaluated at most once (a node's totals, shared by its output leaves)."""

    __slots__ = ("make", "value")

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make, self.value = make, None

    def __call__(self) -> Any:
        if self.value is None:
            self.value = self.make()
        return self.value


def _total_rule(
    box: Box | Stack, per_example: Run, x: Any, size: list[int]
) -> Callable[[], Any] | None:
    """How ``Σ_b box(x_b)`` is computed from the operands, where that is cheaper.

    A contraction over the batch (an ``einsum`` of two batched operands) is; the
    sum of an additive box is moved back to its operands only where one of those
    has a cheaper total. It stops at a product with a shared operand (``g Wᵀ``):
    moving it further would redo, as contractions, products the backward pass
    computes per example anyway.
    """
    if isinstance(box, Stack):
        name, masks_with_zero = "stack", False
    else:
        name, masks_with_zero = box.name, box.name == "causal_mask" and box.attrs["fill"] == 0.0
    if name in ADDITIVE or masks_with_zero:
        leaves = jax.tree.leaves(x, is_leaf=_is_batched)
        if not any(isinstance(v, Batched) and v.fused for v in leaves):
            return None
        return lambda: per_example(
            jax.tree.map(lambda v: _total(v, size[0]), x, is_leaf=_is_batched)
        )
    if not isinstance(box, Box) or name not in ("einsum", "scatter_add", "conv_filter"):
        return None
    a, b = x
    if name == "conv_filter" and isinstance(a, Batched) and isinstance(b, Batched):
        return lambda: conv_filter_total(box, a.value, b.value)
    if name == "scatter_add" and isinstance(a, Batched):  # every example's rows, one scatter
        labels = b.value if isinstance(b, Batched) else jnp.broadcast_to(b, (size[0], *b.shape))
        return lambda: per_example((a.value, labels))
    if isinstance(a, Batched) and isinstance(b, Batched):
        return lambda: _contract(box, a.value, b.value)
    return None


def _contract(box: Box, a: Any, b: Any) -> Any:
    """``Σ_b einsum(a_b, b_b)`` as one einsum with the batch index contracted.

    The operand whose axes lead the output goes first, so that the product comes
    out in the output's order (``xᵀ g`` for ``io``). Where both operands lead with
    the same contracted axis, the batch axis is merged into it (a reshape, free),
    as ``jax.vjp`` of the batched forward contracts ``[B·n, d]`` arrays.
    """
    spec = box.attrs["spec"]
    ins, out = spec.split("->")
    left, right = ins.split(",")
    if out and out[0] not in left and out[0] in right:
        left, right, a, b = right, left, b, a
    if left[:1] and left[0] == right[0] and left[0] not in out and "." not in spec:
        merged = (a.shape[0] * a.shape[1],)
        a, b = a.reshape(merged + a.shape[2:]), b.reshape(merged + b.shape[2:])
        return jnp.einsum(f"{left},{right}->{out}", a, b)
    letter = next(c for c in string.ascii_letters if c not in spec)
    return jnp.einsum(f"{letter}{left},{letter}{right}->{out}", a, b)


def _node(node: Arrow, kids: list[Run], size: list[int]) -> Run:  # noqa: PLR0911 - per constructor
    if isinstance(node, Compose):

        def chain(x: Any) -> Any:
            for k in kids:
                x = k(x)
            return x

        return chain
    if isinstance(node, Pair):
        left, right = kids
        return lambda x: (left(x), right(x))
    if isinstance(node, Tensor):
        left, right = kids
        return lambda x: (left(x[0]), right(x[1]))
    if isinstance(node, Group):
        return kids[0]
    if isinstance(node, Id):
        return lambda x: x
    if isinstance(node, Fst):
        return lambda x: x[0]
    if isinstance(node, Snd):
        return lambda x: x[1]
    if isinstance(node, Copy):
        return lambda x: (x, x)
    if isinstance(node, Discard):
        return lambda x: ()
    if isinstance(node, Swap):
        return lambda x: (x[1], x[0])
    if isinstance(node, (Box, Stack)):
        return _box(node, size)
    per_example = interpret(node).fn  # repeats, folds, constants, slices: as jax.vmap runs them

    def opaque(x: Any) -> Any:
        _use(x)
        return _mapped(per_example, x)

    return opaque


_OPEN = (Compose, Pair, Tensor, Group)


def summed(f: Arrow, shared: Flags, total: Flags) -> Run:
    """The batched function of ``f`` with ``shared`` inputs and ``total`` outputs.

    Args:
        f: the arrow, read per example.
        shared: a bool, or a tuple shaped like ``f.dom``'s value, true where the
            input is one value for the whole batch (no leading batch axis).
        total: a bool, or a tuple shaped like ``f.cod``'s value, true where the
            output is to be summed over the batch.

    Returns:
        A function of the batch (traceable: call it under ``jax.jit``).
    """
    size = [0]
    run = deep(
        lambda: fold(
            f,
            lambda node, kids: _node(node, kids, size),
            enter=lambda node: isinstance(node, _OPEN),
        ),
        f,
    )

    def call(x: Any) -> Any:
        marked = _mark(x, shared)
        leaves = [v.value for v in jax.tree.leaves(marked, is_leaf=_is_batched) if _is_batched(v)]
        if not leaves:
            raise ValueError("summed: every input is shared; nothing is batched")
        size[0] = leaves[0].shape[0]
        out = deep(lambda: run(marked), f, here=True)
        return _unmark(out, total, size[0])

    return call


def _mark(x: Any, shared: Flags) -> Any:
    if isinstance(shared, tuple):
        return tuple(_mark(v, s) for v, s in zip(x, shared, strict=True))
    return x if shared else jax.tree.map(Batched, x)


def _unmark(y: Any, total: Flags, size: int) -> Any:
    if isinstance(total, tuple):
        return tuple(_unmark(v, t, size) for v, t in zip(y, total, strict=True))
    if total:
        return jax.tree.map(lambda v: _total(v, size), y, is_leaf=_is_batched)
    return jax.tree.map(
        lambda v: v.value if _is_batched(v) else _spread(v, size), y, is_leaf=_is_batched
    )


def _spread(v: Any, size: int) -> Any:
    return jnp.broadcast_to(v, (size, *jnp.shape(v)))
