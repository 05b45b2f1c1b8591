"""Diagrams read as tensor terms, and terms written back as diagrams.

``read(f)`` runs the arrow ``f`` on a symbolic input, as the JAX functor runs
it on arrays: a projection picks a component, a pairing builds a tuple,
``curry`` builds a closure and ``ev`` calls it. What remains are the boxes,
applied to terms: a DAG in which a copied value is one shared node (common
subexpressions are computed once) and a discarded one is absent (dead code is
gone). Primitives with an algebraic reading (see ``topos.rewrite.theory``)
become operations of the term language; every other box is an opaque node.

>>> from topos import R, copy, pair, fst, snd
>>> from topos.nn import primitives as P
>>> x, w = R(4, 3), R(3, 5)
>>> f = P.matmul(x, w) >> P.scale(R(4, 5), 2.0)
>>> print(read(f))
(Scale 2.0 (MM x.0 x.1))
>>> g = copy(x) >> (P.exp(x) * P.exp(x)) >> P.add(x, x)   # exp computed twice
>>> print(read(g))
(Add (Exp x) (Exp x))
>>> read(g).args[0] is read(g).args[1]                    # ... read as one node
True
>>> h = write(f.dom, read(f))
>>> print(h)
⟨π₁, π₂⟩ >> einsum >> scale

Terms are interned: equal terms are one object, so ``is`` compares them.
"""

from __future__ import annotations

import string
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

from topos.arrows import (
    Arrow,
    Box,
    Compose,
    Const,
    Copy,
    Curry,
    Discard,
    Ev,
    Fst,
    Group,
    Id,
    Layer,
    Pair,
    Recur,
    Repeat,
    Snd,
    Stack,
    Swap,
    Tensor,
    compose,
    discard,
    fst,
    pair,
    snd,
)
from topos.literals import value_key
from topos.nn import primitives as P
from topos.objects import Exp, Ob, Product, R, Unit
from topos.rewrite.theory import scalar_ok

__all__ = ["NotATensorTerm", "Term", "Value", "nodes", "read", "write"]

#: The operations of the term language (``topos.rewrite.theory``), besides inputs and boxes.
ALGEBRA = ("MM", "Tr", "Add", "Scale", "Mul", "Exp", "SumRows", "SumCols", "Bcast", "Softmax")


class NotATensorTerm(TypeError):
    """The diagram uses structure the term language does not read (coproducts, logic)."""


class Term:
    """A node: ``op`` applied to ``args``, with non-term ``data``, of object ``ob``.

    ``op`` is ``"in"`` (a component of the input, ``data`` its path), ``"box"``
    (an opaque box, ``data`` the box), ``"get"`` (a component of a box's product
    output, ``data`` its path) or an operation of the term language (``data`` the
    number of ``Scale`` and ``Bcast``).
    """

    __slots__ = ("op", "data", "args", "ob", "__weakref__")
    op: str
    data: Any
    args: tuple[Term, ...]
    ob: Ob

    _table: weakref.WeakValueDictionary[tuple[Any, ...], Term] = weakref.WeakValueDictionary()

    def __new__(cls, op: str, data: Any, args: tuple[Term, ...], ob: Ob) -> Term:
        # A number by its bits: Scale 0.0 and Scale -0.0 are two terms.
        key = (op, value_key(data), tuple(id(a) for a in args), ob)
        found = cls._table.get(key)
        if found is not None:
            return found
        self = object.__new__(cls)
        self.op, self.data, self.args, self.ob = op, data, args, ob
        cls._table[key] = self
        return self

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        return f"Term({self})"

    def __str__(self) -> str:
        return _show(self)


def _show(t: Term) -> str:
    done: dict[int, str] = {}
    for node in nodes([t]):
        kids = [done[id(a)] for a in node.args]
        if node.op == "in":
            text = "x" + "".join(f".{i}" for i in node.data)
        elif node.op == "box":
            text = f"({node.data.name} {' '.join(kids)})" if kids else node.data.name
        elif node.op == "get":
            text = kids[0] + "".join(f"[{i}]" for i in node.data)
        elif node.op in ("Scale", "Bcast"):
            text = f"({node.op} {node.data} {kids[0]})"
        else:
            text = f"({node.op} {' '.join(kids)})"
        done[id(node)] = text
    return done[id(t)]


def nodes(roots: list[Term], enter: Callable[[Term], bool] | None = None) -> list[Term]:
    """Every node reachable from ``roots``, children before parents, each once.

    Nodes for which ``enter(node)`` is false are listed but not descended into.
    """
    out: list[Term] = []
    seen: set[int] = set()
    stack: list[tuple[Term, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        t, ready = stack.pop()
        if ready:
            out.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if enter is None or enter(t):
            stack.extend((a, False) for a in reversed(t.args) if id(a) not in seen)
    return out


def algebra(op: str, data: Any, *args: Term) -> Term:
    """The term ``op(data, *args)`` of the term language, its object inferred.

    >>> a, b = Term("in", (0,), (), R(4, 3)), Term("in", (1,), (), R(3, 5))
    >>> algebra("MM", None, a, b).ob, algebra("Tr", None, a).ob
    (R(4, 5), R(3, 4))
    >>> h = Term("in", (0,), (), R(2, 8, 4, 3))           # batch axes (2, 8) lead
    >>> algebra("MM", None, h, algebra("Tr", None, h)).ob
    R(2, 8, 4, 4)
    """
    x = args[0].ob
    assert isinstance(x, R)
    s, dt = x.shape, x.dtype
    if op == "MM":  # on the last two axes; the leading ones are shared batch axes
        y = args[1].ob
        assert isinstance(y, R)
        ob = R(*s[:-1], y.shape[-1], dtype=dt)
    elif op == "Tr":
        ob = R(*s[:-2], s[-1], s[-2], dtype=dt)
    elif op == "SumRows":
        ob = R(1, s[1], dtype=dt)
    elif op == "SumCols":
        ob = R(s[0], 1, dtype=dt)
    elif op == "Bcast":
        ob = R(s[0], int(data), dtype=dt)
    else:
        ob = x
    return Term(op, data, tuple(args), ob)


# -- reading -------------------------------------------------------------------------

#: A symbolic value: a term, a tuple (products; ``()`` is ``One``) or a closure.
Value: TypeAlias = "Term | tuple[Any, ...] | Callable[[Any], Any]"


def read(f: Arrow) -> Any:
    """The output of ``f`` on a symbolic input: terms in the shape of ``f.cod``.

    The input's components are ``Term("in", path)``; ``path`` says which factor
    of ``f.dom`` (0 left, 1 right, nested). Raises ``NotATensorTerm`` for
    coproducts, exponential inputs or outputs, and logic.
    """
    return _run(f, _input(f.dom, ()))


def _input(ob: Ob, path: tuple[int, ...]) -> Any:
    if isinstance(ob, Product):
        return (_input(ob.left, (*path, 0)), _input(ob.right, (*path, 1)))
    if isinstance(ob, Unit):
        return ()
    if isinstance(ob, Exp) or not hasattr(ob, "shape"):
        raise NotATensorTerm(f"read: cannot read an input of type {ob!r}")
    return Term("in", path, (), ob)


_STEPS: dict[type, Callable[[Any, Any], Any]] = {
    Id: lambda f, x: x,
    Fst: lambda f, x: x[0],
    Snd: lambda f, x: x[1],
    Copy: lambda f, x: (x, x),
    Discard: lambda f, x: (),
    Swap: lambda f, x: (x[1], x[0]),
    Ev: lambda f, x: x[0](x[1]),
    Tensor: lambda f, x: (_run(f.left, x[0]), _run(f.right, x[1])),
    Pair: lambda f, x: (_run(f.left, x), _run(f.right, x)),
    Curry: lambda f, x: lambda a: _run(f.arrow, (x, a)),
    Box: lambda f, x: _box(f, x),
    Group: lambda f, x: _run(f.body, x),  # a group is its body
    Repeat: lambda f, x: _opaque(f, x),  # optimised through its body, elsewhere
    Const: lambda f, x: _opaque(f, x),
    Layer: lambda f, x: _opaque(f, x),
    Recur: lambda f, x: _opaque(f, x),  # a fold over a sequence: one opaque node
    Stack: lambda f, x: _opaque(f, x),
}


def _run(f: Arrow, x: Any) -> Any:
    for g in f.children if isinstance(f, Compose) else (f,):
        step = _STEPS.get(type(g))
        if step is None:
            raise NotATensorTerm(f"read: {type(g).__name__} is outside the tensor terms: {g}")
        x = step(g, x)
    return x


def _box(b: Box, x: Any) -> Any:
    args = _flatten(b.dom, x)
    known = _recognise(b, args)
    if known is not None:
        return known
    return _output(b.cod, Term("box", b, tuple(args), b.cod), ())


def _opaque(b: Arrow, x: Any) -> Any:
    """An arrow the term language keeps as it is (a repeat, a constant, a slice)."""
    return _output(b.cod, Term("box", b, tuple(_flatten(b.dom, x)), b.cod), ())


def _flatten(ob: Ob, v: Any) -> list[Term]:
    if isinstance(ob, Product):
        return _flatten(ob.left, v[0]) + _flatten(ob.right, v[1])
    if isinstance(ob, Unit):
        return []
    if not isinstance(v, Term):
        raise NotATensorTerm(f"read: a box reads a function value of type {ob!r}")
    return [v]


def _output(ob: Ob, t: Term, path: tuple[int, ...]) -> Any:
    if isinstance(ob, Product):
        return (_output(ob.left, t, (*path, 0)), _output(ob.right, t, (*path, 1)))
    if isinstance(ob, Unit):
        return ()
    return t if not path else Term("get", path, (t,), ob)


def _batched(ob: Ob) -> bool:
    """An array of rank 2 or more: matrices, maybe under leading batch axes."""
    return isinstance(ob, R) and len(ob.shape) >= 2


def _swap_last(rank: int) -> tuple[int, ...]:
    return (*range(rank - 2), rank - 1, rank - 2)


def _recognise(b: Box, args: list[Term]) -> Term | None:
    """The term-language reading of a primitive box, or ``None`` (opaque).

    Attributes are read as the JAX backend reads them (a negative axis counts
    from the end), and a reading whose object is not the box's codomain stays
    opaque: a box is never read as something it does not compute.

    >>> from topos import Box
    >>> x = Term("in", (), (), R(3, 3))
    >>> print(_recognise(Box("reduce_sum", R(3, 3), R(1, 3), axis=-2, keepdims=True), [x]))
    (SumRows x)
    >>> _recognise(Box("reduce_sum", R(3, 3), R(3, 1), axis=-2, keepdims=True), [x]) is None
    True
    """
    if b.name == "einsum" and len(args) == 2 and all(_batched(a.ob) for a in args):
        spec = b.attrs.get("spec")
        read = _einsum(spec, args[0], args[1]) if isinstance(spec, str) else None
    elif args and isinstance(args[0].ob, R) and isinstance(b.cod, R):
        read = _elementary(b, args)
    else:
        read = None
    return read if read is not None and read.ob == b.cod else None


def _elementary(b: Box, args: list[Term]) -> Term | None:
    """The reading of a box other than an einsum, its codomain not yet compared."""
    name, at, a = b.name, b.attrs, args[0]
    assert isinstance(a.ob, R) and isinstance(b.cod, R)
    rank = len(a.ob.shape)
    if name in ("add", "mul"):
        same = len(args) == 2 and args[1].ob == a.ob
        return algebra("Add" if name == "add" else "Mul", None, *args) if same else None
    if name == "exp":
        return algebra("Exp", None, a)
    if name == "scale":
        by = at.get("by")
        return algebra("Scale", float(by), a) if scalar_ok(by, a.ob.dtype) else None
    if name == "transpose" and rank >= 2 and _axes(at.get("perm"), rank) == _swap_last(rank):
        return algebra("Tr", None, a)
    if rank != 2:
        return None
    if name == "softmax" and _axes((at.get("axis"),), 2) == (1,):
        return algebra("Softmax", None, a)
    if name == "reduce_sum" and at.get("keepdims") is True:
        axis = _axes((at.get("axis"),), 2)
        return None if axis is None else algebra(("SumRows", "SumCols")[axis[0]], None, a)
    shape = b.cod.shape
    if name == "broadcast" and a.ob.shape[1] == 1 and at.get("shape") == shape:
        wide = len(shape) == 2 and isinstance(shape[1], int)
        return algebra("Bcast", shape[1], a) if wide else None
    return None


def _axes(axes: Any, rank: int) -> tuple[int, ...] | None:
    """Axes as the backend reads them (``-1`` is the last), or ``None`` if they are not axes."""
    if not isinstance(axes, tuple):
        return None
    if not all(isinstance(k, int) and not isinstance(k, bool) and -rank <= k < rank for k in axes):
        return None
    return tuple(k % rank for k in axes)


def _einsum(spec: str, a: Term, b: Term) -> Term | None:
    """The (batched) matrix product an einsum of two arrays is, or ``None``.

    Read: ``k`` leading *batch* labels, the same (same order) in both operands and
    the output and kept there, then two labels per operand, one of them contracted
    (``"bhsd,bhtd->bhst"`` is ``Q Kᵀ`` for each ``b, h``). Anything else (labels
    in other places, an ellipsis, sums over a label of one operand) stays opaque.

    >>> q = Term("in", (0,), (), R(2, 8, 16, 4))
    >>> print(_einsum("bhsd,bhtd->bhst", q, q))
    (MM x.0 (Tr x.0))
    >>> _einsum("shd,thd->hst", q, q) is None
    True
    """
    if "..." in spec or spec.count("->") != 1 or spec.count(",") != 1:
        return None
    ins, out = spec.split("->")
    sa, sb = ins.split(",")
    k = len(sa) - 2
    if k > len(_BATCH_LABELS):  # more batch axes than ``write`` has labels for
        return None
    if not (len(sa) == len(sb) == len(out) == k + 2 >= 2) or len(set(sa + sb + out)) > k + 3:
        return None
    batch, ra, rb, ro = sa[:k], sa[k:], sb[k:], out[k:]
    if sb[:k] != batch or out[:k] != batch or len(set(batch)) != k or len(set(ro)) != 2:
        return None
    if set(batch) & set(ra + rb + ro) or len(set(ra)) != 2 or len(set(rb)) != 2:
        return None
    shared = set(ra) & set(rb)
    if len(shared) != 1 or shared & set(ro) or set(ro) != (set(ra) | set(rb)) - shared:
        return None
    assert isinstance(a.ob, R) and isinstance(b.ob, R)
    if a.ob.shape[:k] != b.ob.shape[:k]:
        return None
    (c,) = shared
    fa, fb = ra.replace(c, ""), rb.replace(c, "")
    left = a if ra[1] == c else algebra("Tr", None, a)
    right = b if rb[0] == c else algebra("Tr", None, b)
    m = algebra("MM", None, left, right)
    return m if ro == fa + fb else algebra("Tr", None, m)


# -- writing -------------------------------------------------------------------------


def write(dom: Ob, out: Any) -> Arrow:
    """An arrow out of ``dom`` computing the terms ``out`` (each node once).

    A node read more than once is computed once and kept in an environment
    ``dom * v₀ * v₁ * ...`` (a let-binding: ``pair(Id, e)``); the others are
    written in place. ``read(write(dom, t))`` is ``t`` again.
    """
    roots = list(_leaves(out))
    refs: dict[int, int] = {}
    for r in roots:
        refs[id(r)] = refs.get(id(r), 0) + 1
    order = nodes(roots)
    for t in order:
        for a in t.args:
            refs[id(a)] = refs.get(id(a), 0) + 1
    env = _Env(dom)
    steps: list[Arrow] = []
    for t in order:
        if refs[id(t)] > 1 and t.op not in ("in", "get"):
            steps.append(pair(Id(env.ob), env.expr(t)))
            env.bind(t)
    steps.append(env.structure(out, _cod(out)))
    return compose(*steps)


def _leaves(v: Any) -> Iterator[Term]:
    if isinstance(v, Term):
        yield v
    elif isinstance(v, tuple):
        for x in v:
            yield from _leaves(x)
    else:
        raise NotATensorTerm("write: the output holds a function value")


def _cod(v: Any) -> Ob:
    if isinstance(v, Term):
        return v.ob
    if v == ():
        from topos.objects import One

        return One
    return _cod(v[0]) * _cod(v[1])


def _project(ob: Ob, path: tuple[int, ...]) -> list[Arrow]:
    out: list[Arrow] = []
    for i in path:
        assert isinstance(ob, Product)
        out.append(fst(ob.left, ob.right) if i == 0 else snd(ob.left, ob.right))
        ob = ob.left if i == 0 else ob.right
    return out


class _Env:
    """The environment ``dom * v₀ * ... * v_{k-1}`` of the let-bound nodes."""

    def __init__(self, dom: Ob) -> None:
        self.dom, self.obs, self.envs = dom, [dom], [dom]
        self.index: dict[int, int] = {}
        self.bound: list[Term] = []

    @property
    def ob(self) -> Ob:
        return self.envs[-1]

    def bind(self, t: Term) -> None:
        self.index[id(t)] = len(self.bound)
        self.bound.append(t)
        self.envs.append(self.ob * t.ob)

    def _down(self, to: int) -> list[Arrow]:
        """Projections from the current environment to the one with ``to`` bindings."""
        k = len(self.bound)
        return [fst(self.envs[j - 1], self.bound[j - 1].ob) for j in range(k, to, -1)]

    def lookup(self, t: Term) -> Arrow:
        i = self.index[id(t)]
        return compose(Id(self.ob), *self._down(i + 1), snd(self.envs[i], t.ob))

    def expr(self, t: Term) -> Arrow:
        if id(t) in self.index:
            return self.lookup(t)
        if t.op == "in":
            return compose(Id(self.ob), *self._down(0), *_project(self.dom, t.data))
        if t.op == "get":
            (made,) = t.args
            return compose(self.expr(made), *_project(made.ob, t.data))
        box: Arrow = t.data if t.op == "box" else _primitive(t)
        return self.arguments(box.dom, list(t.args)) >> box

    def arguments(self, ob: Ob, args: list[Term]) -> Arrow:
        """The arrow into ``ob`` (a box's domain) that pairs ``args`` in order."""
        if isinstance(ob, Product):
            left = self.arguments(ob.left, args)
            return pair(left, self.arguments(ob.right, args))
        if isinstance(ob, Unit):
            return discard(self.ob)
        return self.expr(args.pop(0))

    def structure(self, v: Any, ob: Ob) -> Arrow:
        if isinstance(v, Term):
            return self.expr(v)
        if isinstance(ob, Product):
            return pair(self.structure(v[0], ob.left), self.structure(v[1], ob.right))
        return discard(self.ob)


#: Einsum labels for batch axes: every letter but the matrix product's ``i, j, k``.
#: An einsum read as ``MM`` has at most 49 batch labels (52 letters, 3 for the product).
_BATCH_LABELS = string.ascii_uppercase + "".join(
    c for c in string.ascii_lowercase if c not in "ijk"
)


def _primitive(t: Term) -> Box:
    """The primitive box that computes the term-language node ``t``."""
    a = t.args[0].ob
    assert isinstance(a, R) and isinstance(t.ob, R)
    op = t.op
    if op == "MM":
        batch = _BATCH_LABELS[: len(a.shape) - 2]
        return P.einsum(f"{batch}ij,{batch}jk->{batch}ik", a, t.args[1].ob)
    if op == "Tr":
        return P.transpose(a, _swap_last(len(a.shape)))
    if op in ("Add", "Mul"):
        return (P.add if op == "Add" else P.mul)(a, t.args[1].ob)
    if op == "Scale":
        return P.scale(a, t.data)
    if op == "Exp":
        return P.exp(a)
    if op == "Softmax":
        return P.softmax(a, -1)
    if op in ("SumRows", "SumCols"):
        return P.reduce_sum(a, 0 if op == "SumRows" else 1, keepdims=True)
    return P.broadcast(a, *t.ob.shape)
