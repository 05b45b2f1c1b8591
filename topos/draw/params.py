"""The parameter column: where a Para's parameter wires come from.

Every row (a parameter wire entering a box from the left) is traced back to the
parameter leaves it is made of. From left to right the column holds:

- the parameter names, one per leaf, right-aligned (``path : type``);
- one vertical *lane* per parameter used more than once (a tied weight): the lane
  carries the parameter down to each of its uses, with a copy dot at each branch;
- reparametrisation boxes (a constant for a frozen weight, a transpose for an
  encoder/decoder tie ...), nearest the diagram for the last one applied;
- horizontal wires into the boxes' left sides.

Rows of different boxes occupy disjoint heights (the layout guarantees it), and a
reparametrisation box is no taller than the row it sits on, so the horizontal wires
cross no box.

>>> from topos import R
>>> from topos.draw.layout import Leaf, Row
>>> rows = [Row(40.0, 0.0, Leaf(0), R(3), 9.0), Row(90.0, 0.0, Leaf(0), R(3), 9.0)]
>>> col = Column(rows, [("w", R(3))])
>>> items = col.items(col.width + 10.0, 0.0)
>>> [it[3] for it in items if it[0] == "dot"]      # tied: one copy dot
['tie']
>>> [it[3] for it in items if it[0] == "text"]
['w : R(3)']
"""

from __future__ import annotations

from dataclasses import dataclass

from topos.draw.layout import FONT, SMALL_H, Derived, Item, Leaf, Ref, Row, ref_half, text_width
from topos.objects import Ob

__all__ = ["Column"]

_LANE = 10.0


@dataclass(slots=True)
class _Use:
    source: Leaf | Derived  # a parameter leaf, or a constant (a frozen parameter)
    y: float
    to: tuple[str, int | float]  # ("x", absolute x relative to data) or ("box", index)


@dataclass(slots=True)
class _Rebox:
    ref: Derived
    y: float
    half: float
    depth: int
    to: tuple[str, int | float]


class Column:
    """The parameter column for ``rows`` (in diagram coordinates); ``names[i]`` is
    the path and type of parameter wire ``i``."""

    def __init__(self, rows: list[Row], names: list[tuple[str, Ob]] | None) -> None:
        self.names = names
        self.uses: list[_Use] = []
        self.boxes: list[_Rebox] = []
        stack: list[tuple[Ref, float, float, int, tuple[str, int | float]]] = [
            (r.ref, r.y, r.half, 0, ("x", r.x)) for r in rows
        ]
        while stack:
            ref, y, half, depth, to = stack.pop()
            if isinstance(ref, Leaf) or not ref.args:
                self.uses.append(_Use(ref, y, to))
                continue
            self.boxes.append(_Rebox(ref, y, half, depth, to))
            index = len(self.boxes) - 1
            total = sum(2 * ref_half(a) for a in ref.args)
            yy = y - total / 2
            for a in ref.args:
                ha = ref_half(a)
                stack.append((a, yy + ha, ha, depth + 1, ("box", index)))
                yy += 2 * ha
        by_source: dict[Leaf | Derived, list[_Use]] = {}
        for u in self.uses:
            by_source.setdefault(u.source, []).append(u)
        for uses in by_source.values():
            uses.sort(key=lambda u: u.y)
        # sources top to bottom, by their first use
        self.sources = sorted(by_source.items(), key=lambda kv: kv[1][0].y)
        self.tied = [src for src, uses in self.sources if len(uses) > 1]
        self.label_w = max((self._source_width(src) for src, _ in self.sources), default=0.0)
        self.box_w = max((self._box_width(b.ref) for b in self.boxes), default=0.0)
        self.depth = max((b.depth + 1 for b in self.boxes), default=0)
        self.width = self.label_w + 8 + len(self.tied) * _LANE + self.depth * (self.box_w + 22) + 22

    def label(self, leaf: int) -> str:
        if self.names is not None and leaf < len(self.names):
            path, ob = self.names[leaf]
            return f"{path} : {ob}"
        return f"p{leaf}"

    def _source_width(self, src: Leaf | Derived) -> float:
        if isinstance(src, Leaf):
            return text_width(self.label(src.index))
        return self._box_width(src)

    @staticmethod
    def _box_width(ref: Derived) -> float:
        return max(text_width(ref.atom.label, FONT + 1) + 14, 26.0)

    def items(self, data_x: float, data_y: float) -> list[Item]:
        """Items in document coordinates, for a diagram placed at ``(data_x, data_y)``;
        the column ends at ``data_x`` and starts ``self.width`` to its left."""
        left = data_x - self.width
        label_x = left + self.label_w
        lane0 = label_x + 8
        right = data_x - 22
        out: list[Item] = []
        box_x: list[float] = []
        for b in self.boxes:
            bw = self._box_width(b.ref)
            x = right - b.depth * (self.box_w + 22) - bw
            box_x.append(x)
            h = min(2 * b.half - 6, SMALL_H + 2 * (len(b.ref.args) - 1) * 9)
            h = max(h, 16.0)
            y = data_y + b.y
            out.append(("box", x, y - h / 2, bw, h, b.ref.atom.label, b.ref.atom.title, "param"))

        def end(to: tuple[str, int | float]) -> float:
            kind, v = to
            return data_x + float(v) if kind == "x" else box_x[int(v)]

        for i, b in enumerate(self.boxes):
            y = data_y + b.y
            out.append(("line", box_x[i] + self._box_width(b.ref), y, end(b.to), y, "param"))
        for src, uses in self.sources:
            first = data_y + uses[0].y
            if isinstance(src, Leaf):
                out.append(("text", label_x, first + 3.5, self.label(src.index), "param", "end"))
                start = label_x + 4
            else:  # a constant: its box stands where a name would
                bw, h = self._box_width(src), 18.0
                out.append(
                    (
                        "box",
                        label_x - bw,
                        first - h / 2,
                        bw,
                        h,
                        src.atom.label,
                        src.atom.title,
                        "param",
                    )
                )
                start = label_x
            if src not in self.tied:
                out.append(("line", start, first, end(uses[0].to), first, "param"))
                continue
            lane = lane0 + self.tied.index(src) * _LANE
            last = data_y + uses[-1].y
            out.append(("line", start, first, lane, first, "param"))
            out.append(("line", lane, first, lane, last, "param"))
            for j, u in enumerate(uses):
                y = data_y + u.y
                out.append(("line", lane, y, end(u.to), y, "param"))
                if j < len(uses) - 1:
                    out.append(("dot", lane, y, "tie"))
        return out
