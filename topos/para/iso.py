"""Deciding equality of Para up to 2-cells: ``equal_up_to``, ``canonical_iso``, ``isomorphic``."""

from __future__ import annotations

from topos.arrows import (  # Box: the doctests use the module's names
    Arrow,
    Box,  # noqa: F401
)
from topos.errors import TypeMismatch, short

# ---------------------------------------------------------------------------------
# Deciding equality of Para up to 2-cells
from topos.objects import Ob, One, R  # noqa: F401  (the doctests use them)
from topos.para.core import (
    Para,
)
from topos.para.leaves import (
    _canonical,
    _param_leaves,
)


def _check_same_type(op: str, p: Para, q: Para) -> None:
    if not isinstance(p, Para) or not isinstance(q, Para):
        raise TypeError(f"{op}: expected two Para")
    if p.actegory != q.actegory or p.dom != q.dom or p.cod != q.cod:
        raise TypeMismatch(
            f"{op}: {p.dom} -> {p.cod} over {p.actegory!r} and {q.dom} -> {q.cod}"
            f" over {q.actegory!r} are not parallel"
        )


def equal_up_to(p: Para, q: Para, r: Arrow) -> bool:
    """Whether ``q`` is ``p`` reparametrised along ``r: Q -> P`` (decided by ``topos.equal``).

    >>> lin = Para(R(2, 2), Box("matmul", R(2, 2) * R(2), R(2)), ["w"])
    >>> sym = Box("sym", R(2, 2), R(2, 2))
    >>> equal_up_to(lin, lin.reparam(sym), sym), equal_up_to(lin, lin, sym)
    (True, False)
    """
    from topos.normal import equal

    _check_same_type("equal_up_to", p, q)
    if not isinstance(r, Arrow) or r.dom != q.P or r.cod != p.P:
        raise TypeMismatch(
            f"equal_up_to: r must be an arrow {q.P!r} -> {p.P!r}, got {short(r)}"
            + (f": {r.dom!r} -> {r.cod!r}" if isinstance(r, Arrow) else "")
        )
    act = p.actegory
    return bool(equal(act.then(act.act_arrow(r, p.dom), p.arrow), q.arrow))


def canonical_iso(q: Ob, p: Ob) -> Arrow | None:
    """The canonical isomorphism ``q -> p`` (associators, unitors of M), if one exists.

    It exists when both trees have the same parameter leaves in the same order.

    >>> canonical_iso(R(1) * (R(2) * One), (R(1) * R(2)))
    pair(fst(R(1), R(2) * One), snd(R(1), R(2) * One) >> fst(R(2), One))
    >>> canonical_iso(R(1) * R(2), R(2) * R(1)) is None
    True
    """
    if _param_leaves(q) != _param_leaves(p):
        return None
    return _canonical(q, p)


def isomorphic(p: Para, q: Para) -> bool:
    """Whether ``p`` and ``q`` are equal up to the canonical isomorphism of their parameters.

    That is: ``q.P`` and ``p.P`` have the same leaves in order and ``q`` is ``p``
    reparametrised along the canonical isomorphism (associators and unitors).
    Parameter names are not compared.

    >>> f, g = Box("f", R(1), R(2)), Box("g", R(2), R(3))
    >>> isomorphic(Para.lift(f >> g), Para.lift(f) >> Para.lift(g))
    True
    """
    _check_same_type("isomorphic", p, q)
    r = canonical_iso(q.P, p.P)
    return r is not None and equal_up_to(p, q, r)
