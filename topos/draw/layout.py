"""Geometry: a draft laid out as nested blocks, without recursion along chains.

A ``Block`` is a rectangle ``[0, w] x [0, h]`` whose input wires enter its top edge
at ``ins`` and whose output wires leave its bottom edge at ``outs``. It holds
drawing items in its own coordinates and placed children ``(dx, dy, block)``; the
SVG writer adds the offsets up once, at the end. Laying out never copies a child's
items, so it is linear in the size of the drawing.

Invariants every layout keeps (the tests check them on generated diagrams):

- no two boxes overlap, and a wire never passes through a box: wires change
  position only in *bands* (between the blocks of a composite) and in wiring
  blocks, which hold no box;
- each port has room for its wire label to its right, inside the block;
- *rows* (parameter wires entering a box from the left) have a clear way to the
  block's left edge: side-by-side blocks that take parameters are staggered down
  (a staircase) below the boxes on their left.

Each wire has a *kind*: ``None`` for data (drawn as a wire), or a ``Ref`` to the
parameter it carries (a ``Leaf`` of the Para's parameter object, or ``Derived``
from leaves by a reparametrisation box). Parameter wires are not drawn inside the
diagram; the boxes they reach get rows, drawn by ``topos.draw.params``.

Layout is written as generators (one per node, yielding its children) and run by
``run``, a trampoline with an explicit stack, so deep nesting and long chains never
hit Python's recursion limit:

>>> from topos import R, Box
>>> from topos.draw.draft import build
>>> f = Box("f", R(2), R(3)) >> Box("g", R(3), R(2))
>>> kinds, block = run(build(f), [None])
>>> kinds, len(block.ins), len(block.outs), block.h > 2 * BOX_H
([None], 1, 1, True)
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Union

from topos.draw.draft import (
    Atom,
    Bubble,
    Case,
    Chain,
    Core,
    Draft,
    Frame,
    HStack,
    Ident,
    Wiring,
)
from topos.objects import Exp, Ob

__all__ = [
    "BAND",
    "BOX_H",
    "Block",
    "Derived",
    "Kind",
    "Leaf",
    "Ref",
    "Row",
    "label_width",
    "ref_half",
    "run",
    "text_width",
]

FONT = 10.0  # wire labels
BOX_FONT = 12.0  # box labels
BOX_H = 30.0
SMALL_H = 22.0
BAND = 30.0  # between the blocks of a composite
LABEL_ROOM = 14.0  # the straight end of a bent wire, beside its label
NAME_STUB = 16.0  # the stretch of wire below a named value (topos.syntax), beside its name
WIRING_H = 24.0
GAP = 18.0  # between side-by-side blocks
PAD = 10.0  # inside frames
ROW = 18.0  # per parameter row entering a box
MIN_SEP = 22.0  # between neighbouring wires

# ---------------------------------------------------------------------------------
# Text metrics (a sans-serif estimate; generous, so labels never collide)

_NARROW = set("il.,:;|!'()[]{} ")
_WIDE = set("mwMW@%")


def text_width(text: str, size: float = FONT) -> float:
    """The estimated width of ``text`` at font ``size`` (sans-serif).

    >>> text_width("mm") > text_width("ii")
    True
    """
    units = 0.0
    for ch in text:
        if ch in _NARROW:
            units += 0.38
        elif ch in _WIDE:
            units += 0.92
        elif ch.isupper() or ch.isdigit():
            units += 0.7
        else:
            units += 0.63
    return units * size


@lru_cache(maxsize=4096)
def _ob_width(ob: Ob) -> float:
    return text_width(str(ob))


def label_width(ob: Ob, labels: bool = True) -> float:
    """The width of a wire's type label (0 when labels are off)."""
    return _ob_width(ob) if labels else 0.0


# ---------------------------------------------------------------------------------
# Parameter references


@dataclass(frozen=True, slots=True)
class Leaf:
    """The ``index``-th wire of a Para's parameter object."""

    index: int


@dataclass(frozen=True, slots=True, eq=False)
class Derived:
    """Output ``out`` of a reparametrisation box ``atom`` applied to ``args``."""

    atom: Atom
    args: tuple[Ref, ...]
    out: int = 0


Ref = Union[Leaf, Derived]  # noqa: UP007 (a runtime alias)
Kind = Union[Ref, None]  # noqa: UP007


def ref_half(ref: Ref) -> float:
    """Half the height a parameter row needs (reparametrisation boxes need more).

    Reparametrisations nest shallowly (a tie, a transpose), so this recursion is
    bounded by that nesting, never by the length of the diagram.
    """
    if isinstance(ref, Leaf):
        return ROW / 2
    inner = sum(2 * ref_half(a) for a in ref.args)
    return max(SMALL_H / 2 + 3, inner / 2 + 3)


# ---------------------------------------------------------------------------------
# Blocks

Item = tuple[Any, ...]


@dataclass(slots=True, eq=False)
class Row:
    """A parameter wire entering a box's left side at ``(x, y)``."""

    y: float
    x: float
    ref: Ref
    ob: Ob
    half: float


@dataclass(slots=True, eq=False)
class Block:
    """A laid-out sub-diagram; see the module docstring."""

    w: float
    h: float
    ins: list[float]
    outs: list[float]
    in_obs: list[Ob]
    out_obs: list[Ob]
    floor: float = 0.0  # below it: only vertical wires (no box, no frame)
    rows: list[Row] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    kids: list[tuple[float, float, Block]] = field(default_factory=list)

    def place(self, dx: float, dy: float, kid: Block) -> None:
        self.kids.append((dx, dy, kid))
        for r in kid.rows:
            self.rows.append(Row(r.y + dy, r.x + dx, r.ref, r.ob, r.half))

    @property
    def empty(self) -> bool:
        return self.w == 0 and self.h == 0 and not self.ins and not self.outs and not self.rows

    @property
    def passthrough(self) -> bool:
        """Wires straight through and nothing else (a block of height 0 has no box)."""
        return self.h == 0 and not self.rows and self.ins == self.outs


def wire_kind(ob: Ob) -> str:
    return "fn" if isinstance(ob, Exp) else "data"


def _ports(obs: Sequence[Ob], labels: bool) -> tuple[list[float], float]:
    """Port positions for wires of types ``obs`` (first at 0), and the room they
    need to the right of the first port (labels included)."""
    xs: list[float] = []
    x = 0.0
    for k in range(len(obs)):
        if k:
            x += max(MIN_SEP, label_width(obs[k - 1], labels) + 14)
        xs.append(x)
    right = (xs[-1] + label_width(obs[-1], labels) + 10) if xs else 0.0
    return xs, right


def _centred(obs: Sequence[Ob], centre: float, labels: bool) -> tuple[list[float], float]:
    """Ports centred on ``centre``; returns them and the right edge they need."""
    xs, right = _ports(obs, labels)
    if not xs:
        return [], 0.0
    shift = centre - (xs[0] + xs[-1]) / 2
    return [x + shift for x in xs], right + shift


def _curve(x0: float, y0: float, x1: float, y1: float, kind: str) -> Item:
    if abs(x0 - x1) < 0.5:
        return ("line", x0, y0, x1, y1, kind)
    return ("curve", x0, y0, x1, y1, kind)


def _bend(x0: float, y0: float, x1: float, y1: float, kind: str) -> list[Item]:
    """A wire from ``(x0, y0)`` to ``(x1, y1)`` that ends with a straight stretch
    (where its label goes)."""
    if abs(x0 - x1) < 0.5:
        return [("line", x0, y0, x1, y1, kind)]
    ym = y1 - LABEL_ROOM
    return [("curve", x0, y0, x1, ym, kind), ("line", x1, ym, x1, y1, kind)]


# ---------------------------------------------------------------------------------
# The trampoline

Request = tuple[Any, list[Kind]]
Result = tuple[list[Kind], Block]
Gen = Generator[Request, Result, Result]


def run(draft: Draft, kinds: list[Kind], *, labels: bool = True, para: bool = False) -> Result:
    """Lay out ``draft`` whose input wires have ``kinds``; returns the output kinds
    and the block. ``para``: constants (boxes without inputs) count as parameters."""
    ctx = _Ctx(labels, para)
    stack: list[Gen] = [ctx.lay(draft, kinds)]
    value: Any = None
    while True:
        try:
            node, sub_kinds = stack[-1].send(value)
        except StopIteration as stop:
            stack.pop()
            if not stack:
                result: Result = stop.value
                return result
            value = stop.value
            continue
        stack.append(ctx.lay(node, sub_kinds))
        value = None


class _Ctx:
    def __init__(self, labels: bool, para: bool) -> None:
        self.labels = labels
        self.para = para

    def lay(self, node: Any, kinds: list[Kind]) -> Gen:
        if isinstance(node, tuple):
            return self.chain(list(node), kinds)
        if isinstance(node, Wiring):
            return self.wiring(node, kinds)
        if isinstance(node, Chain):
            return self.chain(list(node.items), kinds)
        kind = type(node).__name__.lower()
        method = getattr(self, kind)
        gen: Gen = method(node, kinds)
        return gen

    # -- plumbing -----------------------------------------------------------------
    def wiring(self, w: Wiring, kinds: list[Kind]) -> Gen:
        out_kinds = [kinds[i] for i in w.srcs]
        vis_in = [i for i, k in enumerate(kinds) if k is None]
        pos = {i: n for n, i in enumerate(vis_in)}
        srcs = [pos[w.srcs[j]] for j, k in enumerate(out_kinds) if k is None]
        in_obs = [w.ins[i] for i in vis_in]
        out_obs = [in_obs[s] for s in srcs]
        if srcs == list(range(len(vis_in))):
            return out_kinds, self._straight(in_obs)
        xi, ri = _ports(in_obs, self.labels)
        xo, ro = _ports(out_obs, self.labels)
        w_ = max(ri, ro, 1.0)
        xi = [x + (w_ - ri) / 2 + 6 for x in xi]
        xo = [x + (w_ - ro) / 2 + 6 for x in xo]
        block = Block(w_ + 12, WIRING_H, xi, xo, in_obs, out_obs)
        uses: dict[int, list[int]] = {}
        for j, s in enumerate(srcs):
            uses.setdefault(s, []).append(j)
        h = WIRING_H
        for i, x in enumerate(xi):
            kind = wire_kind(in_obs[i])
            targets = uses.get(i, [])
            if not targets:
                block.items.append(("line", x, 0.0, x, 8.0, kind))
                block.items.append(("dot", x, 8.0, "discard"))
            elif len(targets) == 1:
                block.items.append(_curve(x, 0.0, xo[targets[0]], h, kind))
            else:
                block.items.append(("line", x, 0.0, x, 7.0, kind))
                block.items.append(("dot", x, 7.0, "copy"))
                block.items.extend(_curve(x, 7.0, xo[j], h, kind) for j in targets)
        return out_kinds, block
        yield  # a generator without children

    def _straight(self, obs: list[Ob]) -> Block:
        xs, right = _ports(obs, self.labels)
        xs = [x + 8 for x in xs]
        return Block(right + 8 if xs else 0.0, 0.0, xs, list(xs), obs, list(obs))

    def ident(self, node: Ident, kinds: list[Kind]) -> Gen:
        obs = [ob for ob, k in zip(node.ins, kinds, strict=True) if k is None]
        return list(kinds), self._straight(obs)
        yield

    # -- boxes --------------------------------------------------------------------
    def atom(self, a: Atom, kinds: list[Kind]) -> Gen:
        refs = [k for k in kinds if k is not None]
        if self.para and (refs and len(refs) == len(kinds) or not kinds and _frozen(a)):
            derived: list[Kind] = [Derived(a, tuple(refs), j) for j in range(len(a.outs))]
            return derived, Block(0.0, 0.0, [], [], [], [])
        in_obs = [ob for ob, k in zip(a.ins, kinds, strict=True) if k is None]
        out_obs = list(a.outs)
        small = a.kind in ("small", "clasp")
        font = BOX_FONT if not small else FONT + 1
        bw = max(text_width(a.label, font) + (16 if small else 24), 24 if small else 40)
        xi, ri = _ports(in_obs, self.labels)
        xo, ro = _ports(out_obs, self.labels)
        for xs in (xi, xo):
            if xs:
                bw = max(bw, xs[-1] - xs[0] + (24 if small else 28))
        centre = bw / 2
        xi, ri = _centred(in_obs, centre, self.labels)
        xo, ro = _centred(out_obs, centre, self.labels)
        sides = [(ob, k) for ob, k in zip(a.ins, kinds, strict=True) if k is not None]
        halves = [ref_half(k) for _, k in sides]
        bh = SMALL_H if small else BOX_H
        bh = max(bh, 2 * sum(halves) + 8)
        block = Block(max(bw, ri, ro), bh, xi, xo, in_obs, out_obs, floor=bh)
        y = (bh - 2 * sum(halves)) / 2
        for (ob, ref), half in zip(sides, halves, strict=True):
            block.rows.append(Row(y + half, 0.0, ref, ob, half))
            y += 2 * half
        style = a.kind
        block.items.append(("box", 0.0, 0.0, bw, bh, a.label, a.title, style))
        return [None] * len(a.outs), block
        yield

    # -- composites ---------------------------------------------------------------
    def chain(self, items: list[Any], kinds: list[Kind]) -> Gen:
        blocks: list[Block] = []
        for item in items:
            if isinstance(item, Wiring) and item.is_id:
                continue
            kinds, b = yield (item, kinds)
            if not b.empty and not b.passthrough:
                blocks.append(b)
        if not blocks:
            obs = [ob for ob, k in zip(_outs_of(items), kinds, strict=True) if k is None]
            return kinds, self._straight(obs)
        if len(blocks) == 1:
            return kinds, blocks[0]
        return kinds, self._vstack(blocks)

    def _vstack(self, blocks: list[Block]) -> Block:
        xs = [0.0]
        for a, b in zip(blocks, blocks[1:], strict=False):
            if a.outs and b.ins:
                xs.append(xs[-1] + sum(a.outs) / len(a.outs) - sum(b.ins) / len(b.ins))
            else:
                xs.append(xs[-1] + (a.w - b.w) / 2)
        left = min(xs)
        xs = [x - left for x in xs]
        width = max(x + b.w for x, b in zip(xs, blocks, strict=True))
        first = blocks[0]
        out = Block(width, 0.0, [xs[0] + x for x in first.ins], [], first.in_obs, [])
        y = 0.0
        for k, b in enumerate(blocks):
            if k:
                a, ax = blocks[k - 1], xs[k - 1]
                y0 = y
                y += self._band(out, a, ax, b, xs[k], y0)
            out.place(xs[k], y, b)
            if b.floor > 0:
                out.floor = y + b.floor
            y += b.h
        last = blocks[-1]
        out.h = y
        out.outs = [xs[-1] + x for x in last.outs]
        out.out_obs = last.out_obs
        return out

    def _band(self, out: Block, a: Block, ax: float, b: Block, bx: float, y0: float) -> float:
        if len(a.outs) != len(b.ins):
            raise AssertionError("draw: internal error, wires do not line up")
        if not a.outs:
            return 10.0
        shifts = [abs((ax + p) - (bx + q)) for p, q in zip(a.outs, b.ins, strict=True)]
        h = BAND + min(36.0, max(shifts) * 0.15)
        for p, q, ob in zip(a.outs, b.ins, b.in_obs, strict=True):
            out.items.extend(_bend(ax + p, y0, bx + q, y0 + h, wire_kind(ob)))
            if self.labels:
                out.items.append(("text", bx + q + 4, y0 + h - 5, str(ob), "wire", "start"))
        return h

    def _row(self, blocks: list[Block], gap: float) -> tuple[list[tuple[float, float]], float]:
        """Side-by-side positions (staircase for blocks with rows) and total height."""
        pos: list[tuple[float, float]] = []
        x, bottom, seen = 0.0, 0.0, False
        for b in blocks:
            if seen and b.w > 0:
                x += gap
            shift = 0.0
            if b.rows and seen:
                top = min(r.y - r.half for r in b.rows)
                shift = max(0.0, bottom + 8 - top) if bottom > 0 else 0.0
            pos.append((x, shift))
            bottom = max(bottom, shift + b.floor, *(shift + r.y + r.half for r in b.rows))
            x += b.w
            seen = seen or b.w > 0
        height = max((dy + b.h for (_, dy), b in zip(pos, blocks, strict=True)), default=0.0)
        return pos, height

    def hstack(self, node: HStack, kinds: list[Kind]) -> Gen:
        blocks: list[Block] = []
        out_kinds: list[Kind] = []
        k = 0
        for part in node.parts:
            n = len(part.ins)
            sub, b = yield (part, kinds[k : k + n])
            k += n
            out_kinds += sub
            blocks.append(b)
        pos, height = self._row(blocks, GAP)
        width = max((x + b.w for (x, _), b in zip(pos, blocks, strict=True)), default=0.0)
        out = Block(width, height, [], [], [], [])
        for (x, dy), b in zip(pos, blocks, strict=True):
            self._extend(out, x, dy, b, height)
            out.floor = max(out.floor, dy + b.floor)
        return out_kinds, out

    def _extend(self, out: Block, x: float, dy: float, b: Block, height: float) -> None:
        """Place ``b`` at ``(x, dy)`` in a block of ``height``, wires drawn to both edges."""
        out.place(x, dy, b)
        for p, ob in zip(b.ins, b.in_obs, strict=True):
            out.ins.append(x + p)
            out.in_obs.append(ob)
            if dy > 0:
                out.items.append(("line", x + p, 0.0, x + p, dy, wire_kind(ob)))
        for p, ob in zip(b.outs, b.out_obs, strict=True):
            out.outs.append(x + p)
            out.out_obs.append(ob)
            if dy + b.h < height:
                out.items.append(("line", x + p, dy + b.h, x + p, height, wire_kind(ob)))

    # -- frames -------------------------------------------------------------------
    def case(self, node: Case, kinds: list[Kind]) -> Gen:
        left_d, right_d = node.left, node.right
        lk: list[Kind] = [None] * _n_ins(left_d)
        rk: list[Kind] = [None] * _n_ins(right_d)
        _, lb = yield (left_d, lk)
        _, rb = yield (right_d, rk)
        head, foot = 40.0, 30.0
        pos, ch = self._row([lb, rb], 2 * PAD + 2)
        cw = max((x + b.w for (x, _), b in zip(pos, [lb, rb], strict=True)), default=0.0)
        in_ob = node.ins[0]
        out_obs = list(node.outs)
        w = max(cw + 2 * PAD, 2 * (label_width(in_ob, self.labels) + 12), 40.0)
        xo, ro = _centred(out_obs, w / 2, self.labels)
        w = max(w, ro + 4)
        cx, x0 = w / 2, (w - cw) / 2
        hh = head + max(ch, 8.0) + foot
        out = Block(w, hh, [cx], xo, [in_ob], out_obs, floor=hh)
        out.items.append(("frame", 0.0, 0.0, w, hh, "case", ""))
        ref = kinds[0] if kinds else None
        if ref is None:
            out.items.append(("line", cx, 0.0, cx, 10.0, wire_kind(in_ob)))
        else:  # a parameter of coproduct type: it enters the case from the left
            out.ins, out.in_obs = [], []
            out.rows.append(Row(10.0, 0.0, ref, in_ob, ref_half(ref)))
            out.items.append(("line", 0.0, 10.0, cx, 10.0, "param"))
        out.items.append(("dot", cx, 10.0, "split"))
        if lb.w > 0 and rb.w > 0:
            xd = x0 + pos[1][0] - PAD - 1
            out.items.append(("divider", xd, head - 6, head + ch + 6))
        for (bx, dy), b in zip(pos, [lb, rb], strict=True):
            inner = Block(b.w, ch, [], [], [], [])
            self._extend(inner, 0.0, dy, b, ch)
            out.place(x0 + bx, head, inner)
            if not inner.ins and b.w > 0:  # this alternative carries no wire (One)
                out.items.append(_curve(cx, 10.0, x0 + bx + b.w / 2, head, "unit"))
            for p, ob in zip(inner.ins, inner.in_obs, strict=True):
                out.items.extend(_bend(cx, 10.0, x0 + bx + p, head, wire_kind(ob)))
                if self.labels:
                    out.items.append(("text", x0 + bx + p + 4, head - 5, str(ob), "wire", "start"))
            for j, (p, ob) in enumerate(zip(inner.outs, inner.out_obs, strict=True)):
                jx = xo[j] if node.kind == "copair" else xo[0]
                out.items.append(_curve(x0 + bx + p, head + ch, jx, hh - 10, wire_kind(ob)))
        for jx, ob in zip(xo, out_obs, strict=True):
            out.items.append(("line", jx, hh - 10, jx, hh, wire_kind(ob)))
            out.items.append(("dot", jx, hh - 10, "split"))
        return [None] * len(node.outs), out

    def bubble(self, node: Bubble, kinds: list[Kind]) -> Gen:
        inner_kinds = list(kinds) + [None] * (_n_ins(node.inner) - node.n_x)
        vis_x = sum(1 for k in kinds if k is None)
        _, ib = yield (node.inner, inner_kinds)
        top, bot = 30.0, 30.0
        exp = node.outs[0]
        w = max(ib.w + 2 * PAD, 2 * (label_width(exp, self.labels) + 14), 48.0)
        x0 = (w - ib.w) / 2
        hh = top + ib.h + bot
        out = Block(w, hh, [], [w / 2], [], [exp], floor=hh)
        out.items.append(("frame", 0.0, 0.0, w, hh, "bubble", ""))
        out.place(x0, top, ib)
        for k, (p, ob) in enumerate(zip(ib.ins, ib.in_obs, strict=True)):
            x, kind = x0 + p, wire_kind(ob)
            if k < vis_x:
                out.ins.append(x)
                out.in_obs.append(ob)
                out.items.append(("line", x, 0.0, x, top, kind))
                continue
            out.items.append(("line", x, 12.0, x, top, kind))
            out.items.append(("dot", x, 9.0, "hollow"))
            if self.labels:
                out.items.append(("text", x + 4, top - 6, str(ob), "wire", "start"))
        for p, ob in zip(ib.outs, ib.out_obs, strict=True):
            x = x0 + p
            out.items.append(("line", x, top + ib.h, x, hh - 12, wire_kind(ob)))
            out.items.append(("dot", x, hh - 9, "hollow"))
            if self.labels:
                out.items.append(("text", x + 4, top + ib.h + 14, str(ob), "wire", "start"))
        return [None], out

    def frame(self, node: Frame, kinds: list[Kind]) -> Gen:
        sub, ib = yield (node.inner, list(kinds))
        if node.names:
            return sub, self._named_wires(ib, node.names)
        head, bot = 24.0, PAD
        lw = text_width(node.label, FONT + 1)
        x0 = PAD
        if ib.ins:
            x0 = max(x0, PAD + lw + 12 - ib.ins[0])
        w = max(x0 + ib.w + PAD, lw + 2 * PAD + 8)
        hh = head + ib.h + bot
        shadow = 6.0 if node.stacked else 0.0
        ins = [x0 + p for p in ib.ins]
        outs = [x0 + p for p in ib.outs]
        out = Block(w + shadow, hh + shadow, ins, outs, ib.in_obs, ib.out_obs)
        out.floor = hh + shadow
        if node.stacked:
            out.items.append(("frame", shadow, shadow, w, hh, "shadow", ""))
        out.items.append(("frame", 0.0, 0.0, w, hh, "stack" if node.stacked else "group", ""))
        out.items.append(("text", PAD, 16.0, node.label, "frame", "start"))
        out.place(x0, head, ib)
        for p, ob in zip(ins, ib.in_obs, strict=True):
            out.items.append(("line", p, 0.0, p, head, wire_kind(ob)))
        for p, ob in zip(outs, ib.out_obs, strict=True):
            out.items.append(("line", p, head + ib.h, p, hh + shadow, wire_kind(ob)))
        return sub, out


    def _named_wires(self, ib: Block, names: tuple[str, ...]) -> Block:
        """``ib`` with a short stretch below each output wire, labelled by its name."""
        stub = NAME_STUB
        ends = [p + 4 + text_width(n, FONT + 1) for p, n in zip(ib.outs, names, strict=True)]
        w = max([ib.w, *ends])
        out = Block(w, ib.h + stub, list(ib.ins), list(ib.outs), ib.in_obs, ib.out_obs)
        out.floor = ib.h + stub
        out.place(0.0, 0.0, ib)
        for p, ob, name in zip(ib.outs, ib.out_obs, names, strict=True):
            out.items.append(("line", p, ib.h, p, ib.h + stub, wire_kind(ob)))
            out.items.append(("text", p + 4, ib.h + stub - 4, name, "name", "start"))
        return out


def _frozen(a: Atom) -> bool:
    """A frozen parameter (``topos.para``'s ``const`` box) sits on the parameter side;
    other constants are drawn where they are used."""
    return a.label.endswith(" (frozen)")


def _n_ins(d: Draft) -> int:
    first = d[0]
    return len(first.ins)


def _outs_of(items: list[Any]) -> tuple[Ob, ...]:
    last = items[-1]
    assert isinstance(last, (Wiring, Core))
    return last.outs
