"""From a tape of applications to one point-free arrow: projections and pairs, derived.

The wires between the steps are the *live* values: those a later step or the
result still reads. Step ``k`` maps the live values before it to the live values
after it, ``⟨π_1, ..., π_m, args ; f_k⟩``, the survivors by projections and the
new value by ``f_k`` on its arguments; a value nobody reads is never computed.
Where a step only rewires the whole context, it is the identity, so a chain of
one-argument calls is literally the composite ``f_1 >> ... >> f_n``; the result
reads the last step's parts directly (``(f(x), y)`` is ``⟨π_1 ; f, π_2⟩``).

>>> from topos import R, Box
>>> from topos.syntax.values import Tape
>>> f, g = Box("f", R(2), R(3)), Box("g", R(3), R(4))
>>> tape = Tape()
>>> x = tape.input(R(2))
>>> y = tape.apply(g, tape.apply(f, x))
>>> wire(tape, x, y) == f >> g
True
"""

from __future__ import annotations

from typing import Any

from topos.arrows import Arrow, Id, compose, copy, discard, fst, group, pair, snd
from topos.objects import Exp, Ob, One, Product
from topos.syntax.values import Args, Tape, Value

__all__ = ["binary", "tree_ob", "wire"]

Tree = Any  # a Value, () or a pair (left, right) of trees


def binary(tree: Args) -> Tree:
    """``tree`` with every tuple of ``n >= 2`` entries nested to the left in pairs."""
    if isinstance(tree, Value):
        return tree
    items = [binary(x) for x in tree]
    if not items:
        return ()
    if len(items) == 1:
        return items[0]
    out = items[0]
    for x in items[1:]:
        out = (out, x)
    return out


def tree_ob(tree: Tree) -> Ob:
    """The object of a binary tree of values."""
    if isinstance(tree, Value):
        return tree.ob
    if tree == ():
        return One
    return tree_ob(tree[0]) * tree_ob(tree[1])


def _leaves(tree: Tree) -> list[Value]:
    if isinstance(tree, Value):
        return [tree]
    return [v for x in tree for v in _leaves(x)]


def _access(ctx: Tree) -> dict[int, Arrow]:
    """For each value of the context, the projection reading it from ``tree_ob(ctx)``."""
    out: dict[int, Arrow] = {}
    stack: list[tuple[Tree, Arrow]] = [(ctx, Id(tree_ob(ctx)))]
    while stack:
        t, path = stack.pop()
        if isinstance(t, Value):
            out.setdefault(t.index, path)
        elif t != ():
            a, b = tree_ob(t[0]), tree_ob(t[1])
            stack.append((t[1], path >> snd(a, b)))
            stack.append((t[0], path >> fst(a, b)))
    return out


def _same(a: Tree, b: Tree) -> bool:
    if isinstance(a, Value) or isinstance(b, Value):
        return a is b
    if a == () or b == ():
        return bool(a == b)
    return _same(a[0], b[0]) and _same(a[1], b[1])


def _read(tree: Tree, ctx: Tree, access: dict[int, Arrow]) -> Arrow:
    """The arrow ``tree_ob(ctx) -> tree_ob(tree)`` reading ``tree`` from the context."""
    if _same(tree, ctx):
        return Id(tree_ob(ctx))
    if isinstance(tree, Value):
        return access[tree.index]
    if tree == ():
        return discard(tree_ob(ctx))
    left, right = _read(tree[0], ctx, access), _read(tree[1], ctx, access)
    if isinstance(left, Id) and left == right:
        return copy(left.dom)
    return pair(left, right)


def _labelled(v: Value, f: Arrow) -> Arrow:
    """``f`` wrapped as a group naming its output wire after the user's variable."""
    if v.name is None or isinstance(v.ob, (Product, Exp)) or v.ob == One:
        return f
    return group(v.name, f, wires=(v.name,))


def wire(tape: Tape, dom: Args, out: Args, *, labels: bool = True) -> Arrow:
    """The arrow ``tree_ob(dom) -> tree_ob(out)`` computing ``out`` from ``dom`` on ``tape``.

    ``labels``: named values leave their step inside a group naming the wire
    (``group(name, f, wires=(name,))``, transparent to every semantics).
    """
    ctx, result = binary(dom), binary(out)
    nodes = tape.nodes
    end = len(nodes)
    last: dict[int, int] = {v.index: end for v in _leaves(result)}
    for i in range(end - 1, -1, -1):
        node = nodes[i]
        if i in last and node.arrow is not None:
            for a in _leaves(binary(node.args)):
                last[a.index] = max(last.get(a.index, -1), i)
    steps: list[Arrow] = []
    fused: tuple[Tree, dict[int, Arrow], int] | None = None  # the last step, as its parts
    for i, node in enumerate(nodes):
        if node.arrow is None or i not in last:
            continue
        assert node.out is not None
        access = _access(ctx)
        app = _read(binary(node.args), ctx, access) >> (
            _labelled(node.out, node.arrow) if labels else node.arrow
        )
        survivors = [v for v in _leaves(ctx) if last.get(v.index, -1) > i]
        parts = {v.index: access[v.index] for v in survivors}
        parts[node.out.index] = app
        fused = (ctx, parts, node.out.index)
        if survivors:
            kept = binary(tuple(survivors))
            steps.append(pair(_read(kept, ctx, access), app))
            ctx = (kept, node.out)
        else:
            steps.append(app)
            ctx = node.out
    outs = [v.index for v in _leaves(result)]
    if fused is not None and outs.count(fused[2]) <= 1:
        # the result reads the last step's parts directly (its new value is not copied)
        return compose(*steps[:-1], _read(result, fused[0], fused[1]))
    steps.append(_read(result, ctx, _access(ctx)))
    return compose(*steps)
