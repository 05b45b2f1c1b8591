"""The layer layout: a parameter stacked by a short ``repeat`` held as one array per layer.

``init`` stacks the parameters of a ``repeat`` of ``n`` layers into one array
with a leading axis of length ``n``: that is the *stacked* layout, the one
``init``, ``apply``, checkpoints and the JSON forms speak. ``compile`` runs a
repeat of at most ``UNROLL_MAX`` layers unrolled, so each layer reads its slice
of the stacked array, and the gradient of each slice is a padded copy summed back
into the stack: on the demo transformer XLA takes about 0.3 s longer to compile
a train step over stacked parameters than over the same arrays kept apart.

The *layer layout* keeps them apart: ``unstack(p, params)`` replaces every
parameter of ``p`` stacked by an unrolled ``repeat`` with ``Unstacked``, a tuple
of its ``n`` slices (a pytree node, so optimisers and ``jax.jit`` see ``n``
arrays). Every consumer of parameters in this backend takes either layout
(``apply``, ``batched``, ``Model``, ``generate``, ``explain``); ``restack``
turns any tree back (parameters, optimiser states) and ``fit(...,
unstack=...)`` trains in the layer layout while its checkpoints, results and
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
('Unstacked', [(3, 3), (3, 3)])
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

from backends.jax.core.limits import UNROLL_MAX
from backends.jax.core.params import check_para, param_ob, param_value, stack_depth
from backends.jax.core.values import Unstacked, is_unstacked, shape_of
from topos.para import Para

__all__ = ["Unstacked", "restack", "stacked_paths", "to_layout", "unstack"]


def stack(ls: Unstacked) -> Any:
    """The stacked array of ``ls`` (leading axis: the layers).

    >>> import jax.numpy as jnp
    >>> stack(Unstacked((jnp.zeros(2), jnp.ones(2)))).shape
    (2, 2)
    """
    return jnp.stack(list(ls))


def split(x: Any) -> Unstacked:
    """The slices of the stacked array ``x`` along its leading axis."""
    return Unstacked(tuple(x[i] for i in range(x.shape[0])))


def stacked_paths(p: Para, *, unrolled: bool = False) -> tuple[str, ...]:
    """The paths of ``p``'s parameters stacked by a ``repeat``, sorted.

    With ``unrolled=True``, only those whose outermost repeat ``compile`` unrolls
    (at most ``UNROLL_MAX`` layers): the ones the layer layout splits.
    """
    check_para("stacked_paths", p)
    out = []
    for path, param in p.parameters().items():
        if stack_depth(param) < 1:
            continue
        if unrolled and shape_of(param_ob(path, param))[0] > UNROLL_MAX:
            continue
        out.append(path)
    return tuple(sorted(out))


def unstack(p: Para, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` (stacked layout, checked against ``p``) in the layer layout.

    Every parameter stacked by a repeat that ``compile`` unrolls becomes a
    ``Unstacked`` of its slices; the others are kept as they are (the arrays
    themselves, not copies). Already split parameters stay split.
    """
    param_value(p, params)  # paths, kinds and shapes, named on a mismatch
    split_at = set(stacked_paths(p, unrolled=True))
    return {k: split(v) if k in split_at and not is_unstacked(v) else v for k, v in params.items()}


def restack(tree: Any) -> Any:
    """``tree`` with every ``Unstacked`` stacked back into one array (either layout in)."""
    return jax.tree.map(lambda x: stack(x) if is_unstacked(x) else x, tree, is_leaf=is_unstacked)


def to_layout(tree: Any, like: Any) -> Any:
    """The stacked ``tree`` in the layout of ``like``: split where ``like`` has ``Unstacked``.

    ``tree`` and ``restack(like)`` have one structure (an optimiser state saved
    stacked, read back into a run that trains in the layer layout).
    """
    leaves, treedef = jax.tree.flatten(like, is_leaf=is_unstacked)
    given = jax.tree.leaves(tree)
    if len(given) != len(leaves):
        raise ValueError(f"to_layout: {len(given)} arrays for a tree of {len(leaves)}")
    out = []
    for mine, ref in zip(given, leaves, strict=True):
        if is_unstacked(ref):
            if jnp.shape(mine)[:1] != (len(ref),):
                raise ValueError(
                    f"to_layout: expected a stack of {len(ref)} layers, got shape {jnp.shape(mine)}"
                )
            out.append(split(mine))
        else:
            out.append(mine)
    return jax.tree.unflatten(treedef, out)
