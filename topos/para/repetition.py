"""Repetition, scan over layers: ``repeat`` and ``unroll``."""

from __future__ import annotations

from topos import arrows as _arrows
from topos.arrows import (  # Box: the doctests use the module's names
    Box,  # noqa: F401
    Repeat,
    stacked,
)
from topos.errors import TypeMismatch, not_a, short, too_many_layers
from topos.objects import R
from topos.para.actegory import CARTESIAN
from topos.para.core import (
    Para,
    _scan_consts,
)

# ---------------------------------------------------------------------------------
# Repetition: scan over layers
from topos.para.init import (
    Param,
    normal,  # noqa: F401  (the doctests use it)
)
from topos.para.leaves import (
    _param_leaves,
)


def repeat(block: Para, n: int) -> Para:
    """The ``n``-fold composite of an endomorphism ``block: A -> A``, parameters stacked.

    Each parameter leaf ``R(*s)`` becomes ``R(n, *s)`` (same path, same init per
    slice, ``stacked`` one more); the arrow is ``Repeat(block.arrow, n)``
    (``topos.arrows``), which a backend runs as a scan and every other semantics
    as its unrolling. Constants and frozen parameters inside the block are shared
    by all layers (not stacked). ``unroll`` gives the explicit composite.

    >>> blk = Para(R(4, 4), Box("matmul", R(4, 4) * R(4), R(4)), {"w": normal(0.02)})
    >>> deep = repeat(blk, 3)
    >>> deep.parameters()["w"]
    Param('w', R(3, 4, 4), normal(0.02), stacked=1)
    >>> type(deep.arrow).__name__, deep.arrow.n
    ('Repeat', 3)
    """
    if not isinstance(block, Para):
        raise not_a("repeat", "a Para", block)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError(f"repeat: n must be an int >= 1, got {n!r}")
    if block.actegory != CARTESIAN:
        raise TypeMismatch(f"repeat: needs a Para over CARTESIAN, got one over {block.actegory!r}")
    if block.dom != block.cod:
        raise TypeMismatch(
            f"repeat: the block must be an endomorphism A -> A, got {block.dom!r} -> {block.cod!r}"
        )
    params = block.params
    for x, leaf in zip(params, _param_leaves(block.P), strict=True):
        if not isinstance(leaf, R):
            raise TypeMismatch(
                f"repeat: parameter {x.path!r} is {leaf!r}; only R(...) leaves can be stacked"
            )
    p = stacked(block.P, n)
    own = tuple(
        Param(x.path, leaf, x.init, x.stacked + 1)
        for x, leaf in zip(params, _param_leaves(p), strict=True)
    )
    arrow = Repeat(block.arrow, n)
    consts = tuple(block.constants().values())
    return Para._make(p, arrow, block.dom, CARTESIAN, own=own, consts=consts, op="repeat")


def unroll(p: Para) -> Para:
    """The explicit composite ``b.named("0") >> ... >> b.named(str(n-1))`` of ``repeat(b, n)``.

    Slice ``i`` of the stacked parameter ``path`` is the parameter ``f"{i}.{path}"``;
    frozen parameters of the block stay shared (their paths unchanged). Refused
    (``TooLarge``) past ``topos.arrows.MAX_UNROLLED_LAYERS`` layers.

    >>> blk = Para(R(4, 4), Box("matmul", R(4, 4) * R(4), R(4)), {"w": normal(0.02)})
    >>> list(unroll(repeat(blk, 3)).parameters())
    ['0.w', '1.w', '2.w']
    """
    f = p.arrow
    if not (isinstance(p, Para) and isinstance(f, Repeat) and f.dom == p.P * p.dom):
        raise TypeError(f"unroll: expected a Para built by repeat(block, n), got {short(p)}")
    if f.n > _arrows.MAX_UNROLLED_LAYERS:
        raise too_many_layers("unroll", f.n, _arrows.MAX_UNROLLED_LAYERS)
    q = f.params
    own = tuple(
        Param(x.path, leaf, x.init, x.stacked - 1)
        for x, leaf in zip(p.params, _param_leaves(q), strict=True)
    )
    # The block's frozen parameters are shared: listed once, on the whole chain.
    block = Para._make(q, f.body, p.dom, CARTESIAN, own=own)
    out = block.named("0")
    for i in range(1, f.n):
        out = out >> block.named(str(i))
    shared = _scan_consts(f.body)
    return Para._make(out.P, out.arrow, out.dom, CARTESIAN, own=out.params, consts=shared)
