"""Rewrite traces: a path of law instances from one term to an equal one.

A ``Rewrite`` says: at ``path`` (argument positions from the root), the
subterm of ``before`` is an instance of one side of ``law`` and the same
subterm of ``after`` is the matching instance of the other side; the rest is
unchanged. ``find_trace`` searches such a path between two terms (breadth
first, from both ends, within a limit); ``checks`` re-verifies one step by
matching, without trusting the search.

>>> from topos import R
>>> from topos.rewrite.terms import Term, algebra
>>> from topos.rewrite.theory import LINEAR_ALGEBRA
>>> q, k, v = (Term("in", (i,), (), R(64, 8)) for i in range(3))
>>> left = algebra("MM", None, algebra("MM", None, q, algebra("Tr", None, k)), v)
>>> right = algebra("MM", None, q, algebra("MM", None, algebra("Tr", None, k), v))
>>> (step,) = find_trace(left, right, LINEAR_ALGEBRA)
>>> print(step)
mm-assoc at root: (MM (MM x.0 (Tr x.1)) x.2) -> (MM x.0 (MM (Tr x.1) x.2))
>>> checks(step, LINEAR_ALGEBRA)
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from topos.objects import R
from topos.rewrite.terms import ALGEBRA, Term, algebra, nodes
from topos.rewrite.theory import Law, Pattern, Theory, scalar_ok

__all__ = ["Rewrite", "checks", "find_trace", "scalars_ok"]

_NUMERIC = {"Scale", "Bcast"}  # their first argument is a number


@dataclass(frozen=True)
class Rewrite:
    """One law instance: ``before`` becomes ``after`` by ``law`` at ``path``."""

    law: str
    forward: bool
    path: tuple[int, ...]
    before: Term
    after: Term

    def __str__(self) -> str:
        where = "root" if not self.path else "arg " + ".".join(map(str, self.path))
        way = "" if self.forward else " (right to left)"
        old, new = _at(self.before, self.path), _at(self.after, self.path)
        return f"{self.law}{way} at {where}: {old} -> {new}"


def _at(t: Term, path: tuple[int, ...]) -> Term:
    for i in path:
        t = t.args[i]
    return t


def _replace(t: Term, path: tuple[int, ...], new: Term) -> Term:
    if not path:
        return new
    args = list(t.args)
    args[path[0]] = _replace(args[path[0]], path[1:], new)
    return algebra(t.op, t.data, *args)


def _match(p: Pattern, t: Term, s: dict[str, Any]) -> bool:
    if isinstance(p, str):
        if p in s:
            return s[p] is t
        s[p] = t
        return True
    if not isinstance(p, tuple) or t.op != p[0]:
        return False
    if p[0] in _NUMERIC:
        return _number(p[1], t.data, s) and _match(p[2], t.args[0], s)
    return len(t.args) == len(p) - 1 and all(
        _match(q, a, s) for q, a in zip(p[1:], t.args, strict=True)
    )


def _number(p: Pattern, value: Any, s: dict[str, Any]) -> bool:
    if isinstance(p, str):
        if p in s:
            return _close(s[p], value)
        s[p] = value
        return True
    if isinstance(p, tuple) and p[0] == "*":  # both factors are bound by the other side
        x, y = (s.get(q) if isinstance(q, str) else None for q in p[1:])
        return x is not None and y is not None and _close(x * y, value)
    return False


def _close(a: float, b: float) -> bool:
    """Equal to 12 significant digits (where a product of two numbers may round)."""
    return bool(abs(a - b) <= 1e-12 * max(1.0, abs(b)))


def scalars_ok(t: Term) -> bool:
    """Every ``Scale`` in the term-language part of ``t`` has a number ``scalar_ok`` allows."""
    for node in nodes([t], enter=lambda n: n.op in ALGEBRA):
        if node.op == "Scale" and not (
            isinstance(node.ob, R) and scalar_ok(node.data, node.ob.dtype)
        ):
            return False
    return True


def _build(p: Pattern, s: dict[str, Any]) -> Any:
    if isinstance(p, str):
        return s[p]
    assert isinstance(p, tuple)
    if p[0] == "*":
        return _build(p[1], s) * _build(p[2], s)
    if p[0] in _NUMERIC:
        return algebra(str(p[0]), _build(p[1], s), _build(p[2], s))
    return algebra(str(p[0]), None, *(_build(q, s) for q in p[1:]))


def _vars(p: Pattern) -> set[str]:
    if isinstance(p, tuple):
        return set().union(*(_vars(q) for q in p[1:]))
    return {p} if isinstance(p, str) else set()


def _edges(theory: Theory) -> list[tuple[Law, bool, Pattern, Pattern]]:
    """Each law in each direction that can be applied by matching its source side."""
    out: list[tuple[Law, bool, Pattern, Pattern]] = []
    for law in theory.tensor_laws():
        lhs, rhs = law.sides
        for forward, src, dst in ((True, lhs, rhs), (False, rhs, lhs)):
            if isinstance(src, str) or "*" in str(src) or not _vars(dst) <= _vars(src):
                continue
            out.append((law, forward, src, dst))
    return out


def _positions(t: Term, path: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    if t.op not in ALGEBRA:
        return
    yield path
    for i, a in enumerate(t.args):
        yield from _positions(a, (*path, i))


def _neighbours(t: Term, edges: list[tuple[Law, bool, Pattern, Pattern]]) -> Iterator[Rewrite]:
    for path in _positions(t):
        sub = _at(t, path)
        for law, forward, src, dst in edges:
            s: dict[str, Any] = {}
            if _match(src, sub, s):
                yield Rewrite(law.name, forward, path, t, _replace(t, path, _build(dst, s)))


def find_trace(
    before: Term, after: Term, theory: Theory, *, limit: int = 4000, depth: int = 8
) -> list[Rewrite] | None:
    """Law instances leading from ``before`` to ``after``, or ``None`` past the limits."""
    if before is after:
        return []
    edges = _edges(theory)
    seen: list[dict[Term, Rewrite | None]] = [{before: None}, {after: None}]
    fronts: list[list[Term]] = [[before], [after]]
    for _ in range(depth):
        side = 0 if len(fronts[0]) <= len(fronts[1]) else 1
        nxt: list[Term] = []
        for t in fronts[side]:
            for r in _neighbours(t, edges):
                if r.after in seen[side]:
                    continue
                seen[side][r.after] = r
                if r.after in seen[1 - side]:
                    return _join(seen, r.after)
                nxt.append(r.after)
                if len(seen[side]) > limit:
                    return None
        fronts[side] = nxt
    return None


def _join(seen: list[dict[Term, Rewrite | None]], meet: Term) -> list[Rewrite]:
    forward: list[Rewrite] = []
    t = meet
    while (r := seen[0][t]) is not None:
        forward.append(r)
        t = r.before
    forward.reverse()
    t = meet
    while (r := seen[1][t]) is not None:  # found from the far end: run it backwards
        forward.append(Rewrite(r.law, not r.forward, r.path, r.after, r.before))
        t = r.before
    return forward


def checks(r: Rewrite, theory: Theory) -> bool:
    """Whether ``r`` is an instance of its law: both subterms match, the rest is unchanged.

    The numbers of ``Scale`` on both sides must be ones the laws hold for
    (``scalar_ok``): ``x (y a) = (x y) a`` is refused where ``x y`` underflows.
    """
    if not isinstance(r, Rewrite) or r.law not in theory.names():
        return False
    law = theory[r.law]
    lhs, rhs = law.sides
    src, dst = (lhs, rhs) if r.forward else (rhs, lhs)
    try:
        old, new = _at(r.before, r.path), _at(r.after, r.path)
    except IndexError:
        return False
    s: dict[str, Any] = {}
    first, second = (src, old), (dst, new)
    if "*" in str(src):  # match the side that binds the numbers first
        first, second = second, first
    if not (_match(first[0], first[1], s) and _match(second[0], second[1], s)):
        return False
    if not (scalars_ok(old) and scalars_ok(new)):
        return False
    return _replace(r.before, r.path, new) is r.after
