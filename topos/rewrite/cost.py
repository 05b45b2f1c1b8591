"""Cost models over tensor terms: floating-point operations or bytes moved.

A cost model prices one node from the objects of its arguments and result;
the cost of a term is the sum over its nodes, each counted once.

>>> from topos import R
>>> flops("MM", [R(4096, 64), R(64, 4096)], R(4096, 4096))
2147483648
>>> flops("MM", [R(4, 4096, 64), R(4, 64, 4096)], R(4, 4096, 4096))  # 4 heads
8589934592
>>> bytes_moved("MM", [R(4096, 64), R(64, 4096)], R(4096, 4096))
69206016
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from topos.objects import Ob, R

__all__ = ["COSTS", "CostModel", "bytes_moved", "flops"]

CostModel = Callable[[str, Sequence[Ob], Ob], int]

_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
#: Rough operation counts per entry of the elementwise maps.
_PER_ENTRY = {"Exp": 4, "Softmax": 8}


def _size(ob: Ob) -> int:
    return ob.size if isinstance(ob, R) else 0


def flops(op: str, args: Sequence[Ob], out: Ob) -> int:
    """Floating-point operations: ``2mkn`` for a matrix product (times its batch
    entries), one per entry otherwise.

    Inputs and opaque boxes cost nothing (they are the same on both sides of
    every law); a transpose or broadcast counts one per entry it writes.
    """
    if op in ("in", "box", "get", "Leaf"):
        return 0
    if op == "MM":  # leading axes are batch axes: one product per batch entry
        a, b = args
        assert isinstance(a, R) and isinstance(b, R)
        return 2 * a.size * b.shape[-1]
    if op in ("SumRows", "SumCols"):
        return _size(args[0])
    return _PER_ENTRY.get(op, 1) * _size(out)


def bytes_moved(op: str, args: Sequence[Ob], out: Ob) -> int:
    """Bytes read and written by the node (its arguments once, its result once)."""
    if op in ("in", "box", "get", "Leaf"):
        return 0
    item = _ITEMSIZE.get(out.dtype if isinstance(out, R) else "", 4)
    return item * (sum(_size(a) for a in args) + _size(out))


#: The cost models by name, for ``optimize(f, cost=...)``.
COSTS: dict[str, CostModel] = {"flops": flops, "bytes": bytes_moved}
