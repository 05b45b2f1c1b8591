"""SVG text from a laid-out block: one walk adding up offsets, no recursion.

Every element carries a ``class`` saying what it is, so tools and tests can read
the drawing back:

- ``box`` (second class ``box``, ``group``, ``repeat``, ``small``, ``clasp``, ``param``);
- ``wire`` (``data``, ``fn`` for exponential wires, ``param``, ``unit``: the dotted
  way into a case alternative that carries no wire);
- ``dot`` (``copy``, ``discard``, ``split``, ``hollow``, ``tie``);
- ``label`` (``wire``, ``box``, ``frame``, ``param``, ``name``: a wire's variable name);
- ``frame`` (``group``, ``stack``, ``shadow``, ``bubble``, ``case``).

Every box has ``data-bbox="x y w h"``. Colours are attributes, not a stylesheet, so an SVG
inlined in a notebook cannot restyle the page around it.

>>> from topos.draw.layout import Block
>>> b = Block(40.0, 30.0, [20.0], [20.0], [], [])
>>> b.items.append(("box", 0.0, 0.0, 40.0, 30.0, "f", "f: A → B", "box"))
>>> text = to_svg(b, 0.0, 0.0, 40.0, 30.0, [])
>>> text.startswith("<svg") and 'class="box box"' in text and ">f</text>" in text
True
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape as _xml_escape

from topos.draw.layout import BOX_FONT, FONT, Block, Item

__all__ = ["to_svg"]

# Characters XML 1.0 cannot hold (controls, lone surrogates, U+FFFE/U+FFFF): shown escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    r"""``text`` for an SVG text node: markup escaped, characters XML forbids written out.

    >>> escape("a<b\x00\ud800")
    'a&lt;b\\x00\\ud800'
    """
    text = _NOT_XML.sub(lambda m: ascii(m.group())[1:-1], text)
    return _xml_escape(text)


_WIRE = {
    "data": 'stroke="#2d2d2d" stroke-width="1.4"',
    "fn": 'stroke="#7d3cc0" stroke-width="2.8"',
    "param": 'stroke="#d06a10" stroke-width="1.3"',
    "unit": 'stroke="#8a8a8a" stroke-width="1" stroke-dasharray="2 2"',
}
_BOX = {
    "box": ('fill="#e8f0fb" stroke="#2f4d7e"', 4.0),
    "group": ('fill="#e3f3e8" stroke="#2e7d4f"', 4.0),
    "repeat": ('fill="#fff1d2" stroke="#a87400"', 4.0),
    "small": ('fill="#ffffff" stroke="#555555"', -1.0),
    "param": ('fill="#fdeedd" stroke="#d06a10"', 3.0),
}
_FRAME = {
    "group": ('fill="#f6f9fd" stroke="#9aabc4" stroke-dasharray="5 3"', 6.0),
    "stack": ('fill="#fdf9f0" stroke="#c9a25a" stroke-dasharray="5 3"', 6.0),
    "shadow": ('fill="#fdf9f0" stroke="#dcc08a"', 6.0),
    "bubble": ('fill="#f8f2fd" stroke="#8e5cc7" stroke-dasharray="4 3"', 16.0),
    "case": ('fill="#f5f5f5" stroke="#8a8a8a"', 8.0),
}
_TEXT = {
    "wire": f'font-size="{FONT:g}" fill="#666666"',
    "frame": f'font-size="{FONT + 1:g}" fill="#4d5d78" font-weight="bold"',
    "param": f'font-size="{FONT:g}" fill="#a4530c"',
    "name": f'font-size="{FONT + 1:g}" fill="#1f5fa8" font-style="italic"',
}


def _n(v: float) -> str:
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


class _Writer:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.wires: list[str] = []
        self.boxes: list[str] = []
        self.dots: list[str] = []
        self.texts: list[str] = []

    def item(self, it: Item, ox: float, oy: float) -> None:
        getattr(self, "_" + it[0])(it, ox, oy)

    def _frame(self, it: Item, ox: float, oy: float) -> None:
        _, x, y, w, h, style, _title = it
        attrs, rx = _FRAME[style]
        self.frames.append(
            f'<rect class="frame {style}" x="{_n(x + ox)}" y="{_n(y + oy)}" width="{_n(w)}"'
            f' height="{_n(h)}" rx="{_n(rx)}" {attrs}/>'
        )

    def _divider(self, it: Item, ox: float, oy: float) -> None:
        _, x, y0, y1 = it
        self.frames.append(
            f'<path class="divider" d="M{_n(x + ox)} {_n(y0 + oy)}V{_n(y1 + oy)}"'
            ' stroke="#9a9a9a" stroke-dasharray="3 3" fill="none"/>'
        )

    def _wire(self, d: str, kind: str) -> None:
        self.wires.append(f'<path class="wire {kind}" d="{d}" fill="none" {_WIRE[kind]}/>')

    def _line(self, it: Item, ox: float, oy: float) -> None:
        _, x0, y0, x1, y1, kind = it
        self._wire(f"M{_n(x0 + ox)} {_n(y0 + oy)}L{_n(x1 + ox)} {_n(y1 + oy)}", kind)

    def _curve(self, it: Item, ox: float, oy: float) -> None:
        _, x0, y0, x1, y1, kind = it
        x0, y0, x1, y1 = x0 + ox, y0 + oy, x1 + ox, y1 + oy
        ym = (y0 + y1) / 2
        d = f"M{_n(x0)} {_n(y0)}C{_n(x0)} {_n(ym)} {_n(x1)} {_n(ym)} {_n(x1)} {_n(y1)}"
        self._wire(d, kind)

    def _box(self, it: Item, ox: float, oy: float) -> None:
        _, x, y, w, h, label, title, style = it
        x, y = x + ox, y + oy
        bbox = f'data-bbox="{_n(x)} {_n(y)} {_n(w)} {_n(h)}"'
        tip = f"<title>{escape(title)}</title>" if title else ""
        size = BOX_FONT
        if style == "clasp":
            d = (
                f"M{_n(x)} {_n(y)}H{_n(x + w)}V{_n(y + h * 0.35)}"
                f"A{_n(w / 2)} {_n(h * 0.65)} 0 0 1 {_n(x)} {_n(y + h * 0.35)}Z"
            )
            self.boxes.append(
                f'<path class="box clasp" d="{d}" {bbox} fill="#7d3cc0" stroke="#5b2590">'
                f"{tip}</path>"
            )
            colour, size, ty = "#ffffff", FONT + 1, y + h * 0.5
        else:
            attrs, rx = _BOX[style]
            rx = h / 2 if rx < 0 else rx
            self.boxes.append(
                f'<rect class="box {style}" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}"'
                f' height="{_n(h)}" rx="{_n(rx)}" {bbox} {attrs} stroke-width="1.3">{tip}</rect>'
            )
            if style in ("group", "repeat"):
                self.boxes.append(
                    f'<rect class="deco" x="{_n(x + 3)}" y="{_n(y + 3)}" width="{_n(w - 6)}"'
                    f' height="{_n(h - 6)}" rx="2" fill="none" {attrs.split(" ")[1]}'
                    ' stroke-width="0.7"/>'
                )
            colour, ty = "#111111", y + h / 2
            if style in ("small", "param"):
                size = FONT + 1
        self.texts.append(
            f'<text class="label box" x="{_n(x + w / 2)}" y="{_n(ty + size * 0.35)}"'
            f' text-anchor="middle" font-size="{_n(size)}" fill="{colour}">{escape(label)}</text>'
        )

    def _dot(self, it: Item, ox: float, oy: float) -> None:
        _, x, y, style = it
        x, y = x + ox, y + oy
        if style == "split":
            d = f"M{_n(x)} {_n(y - 4)}L{_n(x + 4)} {_n(y)}L{_n(x)} {_n(y + 4)}L{_n(x - 4)} {_n(y)}Z"
            self.dots.append(f'<path class="dot split" d="{d}" fill="#555555"/>')
        elif style == "hollow":
            self.dots.append(
                f'<circle class="dot hollow" cx="{_n(x)}" cy="{_n(y)}" r="3"'
                ' fill="#ffffff" stroke="#7d3cc0" stroke-width="1.3"/>'
            )
        else:
            fill = "#d06a10" if style == "tie" else "#222222"
            self.dots.append(
                f'<circle class="dot {style}" cx="{_n(x)}" cy="{_n(y)}" r="3.3" fill="{fill}"/>'
            )

    def _text(self, it: Item, ox: float, oy: float) -> None:
        _, x, y, text, style, anchor = it
        self.texts.append(
            f'<text class="label {style}" x="{_n(x + ox)}" y="{_n(y + oy)}"'
            f' text-anchor="{anchor}" {_TEXT[style]}>{escape(text)}</text>'
        )


def to_svg(
    block: Block, ox: float, oy: float, width: float, height: float, extra: list[Item]
) -> str:
    """The SVG document for ``block`` placed at ``(ox, oy)`` plus ``extra`` items
    (in document coordinates) on a ``width`` x ``height`` canvas."""
    out = _Writer()
    for it in extra:
        out.item(it, 0.0, 0.0)
    stack: list[tuple[Block, float, float]] = [(block, ox, oy)]
    while stack:
        b, x, y = stack.pop()
        for it in b.items:
            out.item(it, x, y)
        stack.extend((kid, x + dx, y + dy) for dx, dy, kid in reversed(b.kids))
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}"'
        f' viewBox="0 0 {_n(width)} {_n(height)}"'
        ' font-family="Helvetica, Arial, sans-serif">'
    )
    body = [
        head,
        f'<rect class="background" width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>',
        *out.frames,
        *out.wires,
        *out.boxes,
        *out.dots,
        *out.texts,
        "</svg>",
    ]
    return "\n".join(body)
