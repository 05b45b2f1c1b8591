"""Drafts: an arrow simplified for drawing, before any geometry.

A draft is a tuple ``(w0, c1, w1, c2, ..., wk)`` alternating *wirings* and *cores*,
beginning and ending with a wiring (possibly the identity). A wiring is pure
plumbing: a map sending each output wire to the input wire it copies (identities,
projections, copies, discards, swaps, and their composites, tensors and pairs all
become one ``Wiring``). A core is everything else: a box, a side-by-side stack, a
case box, a curry bubble or a frame around a named sub-diagram.

Pushing the plumbing outwards is what keeps drawings clean: ``pair(fst >> f,
snd >> g)`` draws as ``f`` and ``g`` side by side on the two wires, with no copy
and no discard, because the leading wirings of a pair are merged.

Wires are the factors of an object, except ``One``, which is no wire:

>>> from topos import R, One, Box, fst, snd, pair
>>> wires(R(1) * (One * R(2)))
(R(1), R(2))
>>> A, B = R(1), R(2)
>>> d = build(pair(fst(A, B) >> Box("f", A, A), snd(A, B) >> Box("g", B, B)))
>>> [type(x).__name__ for x in d], d[0].srcs
(['Wiring', 'HStack', 'Wiring'], (0, 1))

Named sub-diagrams (``group(name, g)``) and repeats become frames around ``g``'s
draft as deep as ``depth`` allows, and boxes below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from topos import arrows as ar_
from topos.arrows import Arrow, Box, fold
from topos.objects import Ob, Product, Unit, factors

__all__ = [
    "Atom",
    "Bubble",
    "Case",
    "Chain",
    "Core",
    "Draft",
    "Frame",
    "HStack",
    "Ident",
    "Wiring",
    "build",
    "wire_steps",
    "wires",
]


def wires(x: Ob) -> tuple[Ob, ...]:
    """The wires of an object: its product factors, leaving out ``One``."""
    return tuple(y for y in factors(x) if not isinstance(y, Unit))


@dataclass(frozen=True, slots=True)
class Wiring:
    """Plumbing: output ``j`` carries input ``srcs[j]``; inputs used twice are copied,
    inputs never used are discarded."""

    srcs: tuple[int, ...]
    ins: tuple[Ob, ...]

    @property
    def outs(self) -> tuple[Ob, ...]:
        return tuple(self.ins[i] for i in self.srcs)

    @property
    def is_id(self) -> bool:
        return self.srcs == tuple(range(len(self.ins)))

    @staticmethod
    def id(obs: tuple[Ob, ...]) -> Wiring:
        return Wiring(tuple(range(len(obs))), obs)

    def then(self, other: Wiring) -> Wiring:
        return Wiring(tuple(self.srcs[j] for j in other.srcs), self.ins)

    def tensor(self, other: Wiring) -> Wiring:
        n = len(self.ins)
        return Wiring(self.srcs + tuple(n + j for j in other.srcs), self.ins + other.ins)

    def pair(self, other: Wiring) -> Wiring:
        return Wiring(self.srcs + other.srcs, self.ins)


@dataclass(frozen=True, slots=True, eq=False)
class Core:
    """A node of a draft that is not plumbing; ``ins``/``outs`` are its wires."""

    ins: tuple[Ob, ...]
    outs: tuple[Ob, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Atom(Core):
    """A box-like node. ``kind``: box, group (collapsed named sub-diagram), repeat,
    small (injections, absurd, logic), clasp (ev)."""

    kind: str = "box"
    label: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Ident(Core):
    """Wires passing straight through (one side of a stack that does nothing)."""


@dataclass(frozen=True, slots=True, eq=False)
class Chain(Core):
    """A composite: ``items`` alternate cores and wirings, starting with a core."""

    items: tuple[Wiring | Core, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class HStack(Core):
    """Cores side by side; each takes the next ``len(part.ins)`` wires."""

    parts: tuple[Core, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Case(Core):
    """A case box: ``copair(f, g)`` (branch outputs join wire by wire) or ``f + g``
    (``kind == "sum"``: everything joins into the one coproduct wire)."""

    left: Draft = ()
    right: Draft = ()
    kind: str = "copair"


@dataclass(frozen=True, slots=True, eq=False)
class Bubble(Core):
    """``curry(m)``: the bubble around ``m``; the first ``n_x`` inner wires enter
    from outside, the rest (the abstracted argument) start inside."""

    inner: Draft = ()
    n_x: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class Frame(Core):
    """An expanded named sub-diagram (``stacked`` for ``repeat``), ports one to one."""

    inner: Draft = ()
    label: str = ""
    stacked: bool = False
    names: tuple[str, ...] = ()  # a labelling group: no frame, its output wires named


Draft = tuple[Wiring | Core, ...]


# ---------------------------------------------------------------------------------
# Algebra of drafts


def _atom(core: Core) -> Draft:
    return (Wiring.id(core.ins), core, Wiring.id(core.outs))


def _seq(parts: list[Draft]) -> Draft:
    out: list[Wiring | Core] = list(parts[0])
    for d in parts[1:]:
        last, first = out[-1], d[0]
        assert isinstance(last, Wiring) and isinstance(first, Wiring)
        out[-1] = last.then(first)
        out.extend(d[1:])
    return tuple(out)


def _middle(d: Draft) -> Core:
    """The part of ``d`` between its leading and trailing wirings, as one core."""
    first = d[0]
    if len(d) == 1:
        assert isinstance(first, Wiring)
        return Ident(first.outs, first.outs)
    mid = d[1:-1]
    if len(mid) == 1:
        core = mid[0]
        assert isinstance(core, Core)
        return core
    head, tail = mid[0], mid[-1]
    assert isinstance(head, Core) and isinstance(tail, Core)
    return Chain(head.ins, tail.outs, mid)


def _trail(d: Draft) -> Wiring:
    last = d[-1]
    assert isinstance(last, Wiring)
    if len(d) == 1:
        return Wiring.id(last.outs)
    return last


def _stack(a: Core, b: Core) -> HStack:
    parts = [*(a.parts if isinstance(a, HStack) else (a,))]
    parts += b.parts if isinstance(b, HStack) else (b,)
    return HStack(a.ins + b.ins, a.outs + b.outs, tuple(parts))


def _side_by_side(a: Draft, b: Draft, lead: Wiring) -> Draft:
    if len(a) == 1 and len(b) == 1:
        return (lead,)
    core = _stack(_middle(a), _middle(b))
    return (lead, core, _trail(a).tensor(_trail(b)))


def _tensor(a: Draft, b: Draft) -> Draft:
    la, lb = a[0], b[0]
    assert isinstance(la, Wiring) and isinstance(lb, Wiring)
    return _side_by_side(a, b, la.tensor(lb))


def _pair(a: Draft, b: Draft) -> Draft:
    la, lb = a[0], b[0]
    assert isinstance(la, Wiring) and isinstance(lb, Wiring)
    return _side_by_side(a, b, la.pair(lb))


def _structural(f: ar_._Structural) -> Draft | None:
    ws = [wires(x) for x in f.obs]
    if isinstance(f, ar_.Id):
        return (Wiring.id(ws[0]),)
    if isinstance(f, ar_.Discard):
        return (Wiring((), ws[0]),)
    if isinstance(f, ar_.Copy):
        n = tuple(range(len(ws[0])))
        return (Wiring(n + n, ws[0]),)
    if not isinstance(f, (ar_.Fst, ar_.Snd, ar_.Swap)):
        return None
    na, nb = len(ws[0]), len(ws[1])
    left, right = tuple(range(na)), tuple(range(na, na + nb))
    srcs = left if isinstance(f, ar_.Fst) else right if isinstance(f, ar_.Snd) else right + left
    return (Wiring(srcs, ws[0] + ws[1]),)


_SMALL = {ar_.Inl: "ι₁", ar_.Inr: "ι₂", ar_.Absurd: "¡"}


def _leaf(f: Arrow) -> Draft:
    ins, outs = wires(f.dom), wires(f.cod)
    title = f"{f}: {f.dom} → {f.cod}"
    if isinstance(f, ar_.Ev):
        return _atom(Atom(ins, outs, "clasp", "ev", title))
    if isinstance(f, ar_.Logic):
        return _atom(Atom(ins, outs, "small", str(f), title))
    for cls, label in _SMALL.items():
        if isinstance(f, cls):
            return _atom(Atom(ins, outs, "small", label, title))
    name = str(f) if isinstance(f, (Box, ar_.Layer, ar_.Stack, ar_.Const)) else repr(f)
    if isinstance(f, ar_.Const) and hasattr(f.value, "path"):
        name = f"{f.value.path} (frozen)"  # a frozen parameter of topos.para
    return _atom(Atom(ins, outs, "box", name, title))


class _Builder:
    """Builds drafts, expanding named sub-diagrams down to a depth (memoised)."""

    def __init__(self) -> None:
        self.memo: dict[tuple[int, int | None], Draft] = {}
        self.keep: list[Arrow] = []  # keeps ids in memo valid

    def build(self, f: Arrow, depth: int | None) -> Draft:
        key = (id(f), depth)
        if key not in self.memo:
            self.keep.append(f)
            self.memo[key] = fold(
                f, lambda node, kids: self.step(node, kids, depth), enter=_not_named
            )
        return self.memo[key]

    def step(self, f: Arrow, kids: list[Draft], depth: int | None) -> Draft:
        if isinstance(f, ar_.Compose):
            return _seq(kids)
        if isinstance(f, ar_.Tensor):
            return _tensor(kids[0], kids[1])
        if isinstance(f, ar_.Pair):
            return _pair(kids[0], kids[1])
        if isinstance(f, (ar_.Copair, ar_.Sum)):
            kind = "copair" if isinstance(f, ar_.Copair) else "sum"
            return _atom(Case(wires(f.dom), wires(f.cod), kids[0], kids[1], kind))
        if isinstance(f, ar_.Curry):
            n_x = len(wires(f.dom))
            return _atom(Bubble(wires(f.dom), wires(f.cod), kids[0], n_x))
        if isinstance(f, ar_._Structural):
            wiring = _structural(f)
            if wiring is not None:
                return wiring
        if isinstance(f, (ar_.Group, ar_.Repeat, ar_.Recur)):
            return self.named(f, depth)
        return _leaf(f)

    def named(self, f: ar_.Group | ar_.Repeat | ar_.Recur, depth: int | None) -> Draft:
        body = f.cell if isinstance(f, ar_.Recur) else f.body
        ins, outs = wires(f.dom), wires(f.cod)
        names = _wire_names(f, outs)
        if names:  # a variable of a traced function (topos.syntax): transparent, wires named
            inner = self.build(body, depth)
            return _atom(Frame(ins, outs, inner, f.name, False, names))
        repeat = isinstance(f, (ar_.Repeat, ar_.Recur))
        if isinstance(f, ar_.Repeat):
            inner_name = body.name if isinstance(body, ar_.Group) else ""
            label = f"{inner_name} ×{f.n}".strip()
        elif isinstance(f, ar_.Recur):  # the cell once; the carried state named on the frame
            label = f"{f.name} · state {f.state} carried"
        else:
            label = f.name
        title = f"{label}: {f.dom} → {f.cod}"
        if depth is not None and depth <= 0:
            return _atom(Atom(ins, outs, "repeat" if repeat else "group", label, title))
        if repeat and isinstance(body, ar_.Group):
            body = body.body  # "block ×n" is one level
        inner = self.build(body, None if depth is None else depth - 1)
        first, last = inner[0], inner[-1]
        assert isinstance(first, Wiring) and isinstance(last, Wiring)
        if len(first.ins) != len(ins) or len(last.outs) != len(outs):
            return _atom(Atom(ins, outs, "repeat" if repeat else "group", label, title))
        return _atom(Frame(ins, outs, inner, label, isinstance(f, ar_.Repeat)))


def _wire_names(f: ar_.Group | ar_.Repeat | ar_.Recur, outs: tuple[Ob, ...]) -> tuple[str, ...]:
    """The names a group's ``wires`` attribute gives its output wires (one per wire)."""
    if not isinstance(f, ar_.Group):
        return ()
    names = f.attrs.get("wires")
    if not isinstance(names, tuple) or len(names) != len(outs):
        return ()
    strings = tuple(n for n in names if isinstance(n, str))
    return strings if len(strings) == len(outs) else ()


def _not_named(f: Arrow) -> bool:
    return not isinstance(f, (ar_.Group, ar_.Repeat, ar_.Recur))


def wire_steps(f: Arrow, depth: int | None = None) -> int:
    """The wires of every node ``build(f, depth)`` drafts, added up: the work of drawing.

    Linear to compute (each node once, wire counts memoised per object). A Para
    composed of ``n`` layers (``topos.para.unroll``) nests its parameter object ``n``
    deep and each layer's plumbing carries all of it, so this grows as ``n ** 2``;
    a ``repeat`` of the same layers stays the size of one layer.

    >>> from topos import R, Box
    >>> wire_steps(Box("f", R(1) * R(2), R(3)))   # two wires in, one out
    3
    """
    counts: dict[int, int] = {}
    total = 0
    todo: list[tuple[Arrow, int | None]] = [(f, depth)]
    seen: set[tuple[int, int | None]] = set()
    while todo:
        g, d = todo.pop()
        if (id(g), d) in seen:
            continue
        seen.add((id(g), d))
        for node in _nodes(g):
            total += _count(node.dom, counts) + _count(node.cod, counts)
            if not _not_named(node) and (d is None or d > 0):
                body = node.children[0]
                todo.append((body, None if d is None else d - 1))
    return total


def _nodes(f: Arrow) -> list[Arrow]:
    """The nodes of ``f``, each once, not entering named sub-diagrams."""
    out: list[Arrow] = []
    fold(f, lambda node, _kids: out.append(node), enter=_not_named)
    return out


def _count(x: Ob, counts: dict[int, int]) -> int:
    """``len(wires(x))``, memoised on the parts of ``x`` by identity (they stay alive in
    the diagram being measured)."""
    stack = [x]
    while stack:
        y = stack[-1]
        if id(y) in counts:
            stack.pop()
            continue
        if isinstance(y, Product):
            todo = [z for z in (y.left, y.right) if id(z) not in counts]
            if todo:
                stack.extend(todo)
                continue
            counts[id(y)] = counts[id(y.left)] + counts[id(y.right)]
        else:
            counts[id(y)] = 0 if isinstance(y, Unit) else 1
        stack.pop()
    return counts[id(x)]


def build(f: Arrow, depth: int | None = None) -> Draft:
    """The draft of ``f``, expanding named sub-diagrams ``depth`` levels deep."""
    return _Builder().build(f, depth)
