"""Parameter trees: their leaves, paths to them, and the canonical maps between them."""

from __future__ import annotations

from collections.abc import Sequence

from topos.arrows import (
    Arrow,
    Id,
    assoc,
    compose,
    discard,
    fst,
    pair,
    snd,
    swap,
)

# ---------------------------------------------------------------------------------
# Parameter trees
from topos.objects import (
    Ob,
    One,
    Product,
    R,  # noqa: F401  (the doctests use it)
    Unit,
    factors,
)
from topos.para.actegory import _tensor


def parameter_leaves(x: Ob) -> list[Ob]:
    """The parameter leaves of a product tree, left to right (``One`` is not one).

    >>> parameter_leaves((R(1) * One) * (R(2) * R(3)))
    [R(1), R(2), R(3)]
    """
    return [y for y in factors(x) if not isinstance(y, Unit)]


_param_leaves = parameter_leaves


def _path_to(x: Ob, index: int) -> list[bool]:
    """The way down to parameter leaf ``index`` of ``x``: False = left, True = right."""
    way: list[bool] = []
    stack: list[tuple[Ob, int, bool]] = [(x, 0, False)]  # (node, depth, came right)
    count = 0
    while stack:
        y, depth, right = stack.pop()
        if depth:
            del way[depth - 1 :]
            way.append(right)
        if isinstance(y, Product):
            stack.append((y.right, depth + 1, True))
            stack.append((y.left, depth + 1, False))
            continue
        if isinstance(y, Unit):
            continue
        if count == index:
            return way
        count += 1
    raise IndexError(index)


def _descend(x: Ob, way: Sequence[bool]) -> list[Ob]:
    """The nodes met going down ``way`` from ``x`` (``x`` first)."""
    nodes = [x]
    for right in way:
        y = nodes[-1]
        assert isinstance(y, Product)
        nodes.append(y.right if right else y.left)
    return nodes


def _project(x: Ob, way: Sequence[bool]) -> Arrow:
    """The projection of ``x`` onto the node at ``way``."""
    nodes = _descend(x, way)
    steps: list[Arrow] = [Id(x)]
    for y, right in zip(nodes, way, strict=False):
        assert isinstance(y, Product)
        steps.append(snd(y.left, y.right) if right else fst(y.left, y.right))
    return compose(*steps)


def _remove(x: Ob, way: Sequence[bool], new: Ob) -> tuple[Ob, Arrow]:
    """Remove the leaf at ``way`` (of object ``new``) from ``x``.

    Returns ``Q`` (the tree without it, products collapsed) and ``ins: Q * new -> x``
    putting a value back in its place. Cost linear in the depth.
    """
    nodes = _descend(x, way)
    if not way:
        return One, snd(One, new)
    # The leaf's parent collapses to the sibling.
    parent = nodes[-2]
    assert isinstance(parent, Product)
    ins: Arrow
    if way[-1]:
        q, ins = parent.left, Id(parent.left * new)
    else:
        q, ins = parent.right, swap(parent.right, new)
    for y, right in zip(reversed(nodes[:-2]), reversed(way[:-1]), strict=True):
        assert isinstance(y, Product)
        if right:  # (L * Q') * X -> L * (Q' * X) -> L * R
            ins = assoc(y.left, q, new) >> _tensor(Id(y.left), ins)
            q = y.left * q
        else:  # (Q' * R) * X -> (Q' * X) * R -> L * R
            qr = q * y.right
            ins = pair(
                pair(fst(qr, new) >> fst(q, y.right), snd(qr, new)), fst(qr, new) >> snd(q, y.right)
            ) >> _tensor(ins, Id(y.right))
            q = q * y.right
    return q, ins


def _way_after_removal(way: list[bool], removed: list[bool]) -> list[bool]:
    """Where a leaf at ``way`` ends up once the leaf at ``removed`` is taken out."""
    parent = removed[:-1]
    if way[: len(parent)] == parent:
        return parent + way[len(parent) + 1 :]
    return way


def _canonical(q: Ob, p: Ob) -> Arrow:
    """The canonical isomorphism ``q -> p`` between two trees of the same parameter leaves.

    Built from projections (associators and unitors); linear in the size of the trees.
    """
    projections: list[Arrow] = []
    stack: list[tuple[Ob, Arrow]] = [(q, Id(q))]
    while stack:
        y, proj = stack.pop()
        if isinstance(y, Product):
            stack.append((y.right, proj >> snd(y.left, y.right)))
            stack.append((y.left, proj >> fst(y.left, y.right)))
        elif not isinstance(y, Unit):
            projections.append(proj)
    it = iter(projections)
    done: list[Arrow] = []
    todo: list[tuple[Ob, bool]] = [(p, False)]
    while todo:
        y, ready = todo.pop()
        if ready:
            right, left = done.pop(), done.pop()
            done.append(pair(left, right))
        elif isinstance(y, Product):
            todo += [(y, True), (y.right, False), (y.left, False)]
        elif isinstance(y, Unit):
            done.append(discard(q))
        else:
            done.append(next(it))
    return done[0]
