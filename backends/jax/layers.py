"""The layer layout: a parameter stacked by a short ``repeat`` held as one array per layer.

``init`` stacks the parameters of a ``repeat`` of ``n`` layers into one array
with a leading axis of length ``n``: that is the *stacked* layout, the one
``init``, ``apply``, checkpoints and the JSON forms speak. ``compile`` runs a
repeat of at most ``UNROLL_MAX`` layers unrolled, so each layer reads its slice
of the stacked array, and the gradient of each slice is a padded copy summed back
into the stack: on the demo transformer XLA takes about 0.3 s longer to compile
a train step over stacked parameters than over the same arrays kept apart.

The *layer layout* keeps them apart: ``unstack(p, params)`` replaces every
parameter of ``p`` stacked by an unrolled ``repeat`` with ``Layers``, a tuple
of its ``n`` slices (a pytree node, so optimisers and ``jax.jit`` see ``n``
arrays). Every consumer of parameters in this backend takes either layout
(``apply``, ``batched``, ``Model``, ``generate``, ``explain``); ``restack``
turns any tree back (parameters, optimiser states) and ``fit(...,
layers=...)`` trains in the layer layout while its checkpoints, results and
``eval_fn`` see the stacked one.

The two layouts hold the same numbers: ``restack`` after ``unstack`` is the
identity, and a Para gives the same outputs on both.

>>> import jax, jax.numpy as jnp
>>> from topos.nn import linear
>>> from topos.para import repeat
>>> from backends.jax import apply, init
>>> p = repeat(linear(3, 3, name="l"), 2)
>>> params = init(p, jax.random.key(0))
>>> split = unstack(p, params)
>>> type(split["l.w"]).__name__, [a.shape for a in split["l.w"]]
('Layers', [(3, 3), (3, 3)])
>>> bool((restack(split)["l.w"] == params["l.w"]).all())
True
>>> x = jnp.ones(3)
>>> bool(jnp.allclose(apply(p, split, x), apply(p, params, x)))
True
>>> stacked_paths(p, unrolled=True)
('l.b', 'l.w')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["Layers", "is_layers", "restack", "stacked_paths", "to_layout", "unstack"]


class Layers(tuple[Any, ...]):
    """The slices ``(a_0, ..., a_{n-1})`` of a stacked parameter, one array per layer.

    A pytree node whose children are the slices (keys ``[0]``, ``[1]``, ...).

    >>> import jax.numpy as jnp
    >>> ls = Layers((jnp.zeros(2), jnp.ones(2)))
    >>> len(jax.tree.leaves(ls)), stack(ls).shape
    (2, (2, 2))
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Layers({list(self)!r})"


def _flatten_with_keys(ls: Layers) -> tuple[list[tuple[Any, Any]], None]:
    return [(jax.tree_util.SequenceKey(i), x) for i, x in enumerate(ls)], None


jax.tree_util.register_pytree_with_keys(
    Layers,
    _flatten_with_keys,
    lambda _, children: Layers(children),
    flatten_func=lambda ls: (tuple(ls), None),
)


def is_layers(x: Any) -> bool:
    """Whether ``x`` is a ``Layers`` (the ``is_leaf`` that stops ``jax.tree`` at one)."""
    return isinstance(x, Layers)


def stack(ls: Layers) -> Any:
    """The stacked array of ``ls`` (leading axis: the layers)."""
    return jnp.stack(list(ls))


def split(x: Any) -> Layers:
    """The slices of the stacked array ``x`` along its leading axis."""
    return Layers(tuple(x[i] for i in range(x.shape[0])))


def layer(tree: Any, i: int) -> Any:
    """Layer ``i`` of a tree of stacked arrays or ``Layers`` (either layout)."""
    return jax.tree.map(lambda leaf: leaf[i], tree, is_leaf=is_layers)


def has_layers(tree: Any) -> bool:
    """Whether ``tree`` holds a ``Layers`` anywhere."""
    return any(is_layers(x) for x in jax.tree.leaves(tree, is_leaf=is_layers))


def stacked_paths(p: Any, *, unrolled: bool = False) -> tuple[str, ...]:
    """The paths of ``p``'s parameters stacked by a ``repeat``, sorted.

    With ``unrolled=True``, only those whose outermost repeat ``compile`` unrolls
    (at most ``UNROLL_MAX`` layers): the ones the layer layout splits.
    """
    from backends.jax.compile import UNROLL_MAX  # noqa: PLC0415 - compile imports this module
    from backends.jax.params import _check_para, _param_ob, _stack_depth  # noqa: PLC0415
    from backends.jax.values import _shape_of  # noqa: PLC0415 - likewise

    _check_para("stacked_paths", p)
    out = []
    for path, param in p.parameters().items():
        if _stack_depth(param) < 1:
            continue
        if unrolled and _shape_of(_param_ob(path, param))[0] > UNROLL_MAX:
            continue
        out.append(path)
    return tuple(sorted(out))


def unstack(p: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` (stacked layout, checked against ``p``) in the layer layout.

    Every parameter stacked by a repeat that ``compile`` unrolls becomes a
    ``Layers`` of its slices; the others are kept as they are (the arrays
    themselves, not copies). Already split parameters stay split.
    """
    from backends.jax.params import param_value  # noqa: PLC0415 - params imports this module

    param_value(p, params)  # paths, kinds and shapes, named on a mismatch
    split_at = set(stacked_paths(p, unrolled=True))
    return {k: split(v) if k in split_at and not is_layers(v) else v for k, v in params.items()}


def restack(tree: Any) -> Any:
    """``tree`` with every ``Layers`` stacked back into one array (either layout in)."""
    return jax.tree.map(lambda x: stack(x) if is_layers(x) else x, tree, is_leaf=is_layers)


def to_layout(tree: Any, like: Any) -> Any:
    """The stacked ``tree`` in the layout of ``like``: split where ``like`` has ``Layers``.

    ``tree`` and ``restack(like)`` have one structure (an optimiser state saved
    stacked, read back into a run that trains in the layer layout).
    """
    leaves, treedef = jax.tree.flatten(like, is_leaf=is_layers)
    given = jax.tree.leaves(tree)
    if len(given) != len(leaves):
        raise ValueError(f"to_layout: {len(given)} arrays for a tree of {len(leaves)}")
    out = []
    for mine, ref in zip(given, leaves, strict=True):
        if is_layers(ref):
            if jnp.shape(mine)[:1] != (len(ref),):
                raise ValueError(
                    f"to_layout: expected a stack of {len(ref)} layers, got shape {jnp.shape(mine)}"
                )
            out.append(split(mine))
        else:
            out.append(mine)
    return jax.tree.unflatten(treedef, out)
