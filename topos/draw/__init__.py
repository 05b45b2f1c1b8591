"""String diagrams: ``draw(f)`` returns SVG text for any arrow or Para.

Conventions (one throughout):

- **Composition runs top to bottom**: ``f >> g`` draws ``f`` above ``g``; the
  domain's wires enter at the top, the codomain's leave at the bottom.
- **Products run side by side**: a wire per factor of a product (``factors``),
  ``One`` is no wire at all; coproducts and exponentials are single wires.
- ``copy`` and ``discard`` are dots, ``swap`` is crossing wires, ``fst``/``snd``
  discard a side; ``curry(m)`` is a bubble enclosing ``m`` with the exponential wire
  leaving its bottom (the abstracted wire starts inside it), ``ev`` is a clasp;
  ``copair``/``+`` are case boxes with one compartment per alternative.
- A ``Para`` draws its parameters entering each box **from the left side**; the
  reparametrisations (tying: a copy dot on a parameter wire; freezing: a constant
  box) are drawn on the parameter wires, left of the diagram.

Named sub-diagrams and stacks of layers are constructors of ``topos.arrows``:

- ``group(name, g)`` (a ``Group``) *is* ``g`` with a name: ``draw`` shows a box
  labelled ``name`` when collapsed, or a frame labelled ``name`` around ``g``'s
  diagram when expanded.
- ``Repeat(g, n)`` with ``g: P * A -> A`` is ``n`` applications of ``g`` with
  stacked parameters ``stacked(P, n) * A -> A``; it is drawn as a box labelled
  ``×n`` (``name ×n`` when ``g`` is a group) that expands to a stacked frame
  around ``g``.
- ``Recur(c, n)`` (a fold over a sequence, ``topos.recur``) is drawn as the cell
  ``c`` once, in a frame labelled ``c ⟲n · state S carried``: the state wires
  entering and leaving the frame are the one state carried from step to step.
- A group with the attribute ``wires=(name, ...)`` (one name per output wire) is
  drawn as its body, without a frame, its output wires labelled with the names: the
  variables of a function traced by ``topos.syntax``.
- ``draw(f, depth=k)`` expands named sub-diagrams ``k`` levels deep and collapses
  the ones below; ``depth=0`` collapses every named sub-diagram, ``None`` (default)
  expands all of them.

>>> from topos import R, Box
>>> X = R(8)
>>> mlp = Box("up", X, R(32)) >> Box("relu", R(32), R(32)) >> Box("down", R(32), X)
>>> block = group("mlp", mlp)
>>> block.body == mlp and (block.dom, block.cod) == (mlp.dom, mlp.cod)
True
>>> draw(block, depth=0).count("<svg")
1
"""

from __future__ import annotations

from typing import Any

from topos.arrows import Arrow, group
from topos.draw.draft import build, wire_steps, wires
from topos.draw.layout import Block, Kind, Leaf, run, text_width
from topos.draw.params import Column
from topos.draw.svg import to_svg
from topos.errors import not_a, too_many_wires
from topos.objects import Ob, Product

__all__ = ["MAX_WIRE_STEPS", "draw", "group", "png"]

#: The most wires a drawing's nodes may carry in all (``topos.draw.draft.wire_steps``):
#: laying out costs about a second per million. Past it ``draw`` refuses, naming it:
#: a Para of ``n`` composed layers carries ``~n**2`` (its parameter object nests ``n``
#: deep and each layer's plumbing carries all of it), its ``repeat`` one layer's worth.
MAX_WIRE_STEPS = 4_000_000

_MARGIN = 14.0
_STUB = 30.0


def _subject(f: Any) -> tuple[Arrow, list[Kind], list[tuple[str, Ob]] | None, bool]:
    """The arrow to draw, the kinds of its input wires, the parameter names, and
    whether it is a Para."""
    if isinstance(f, Arrow):
        return f, [None] * len(wires(f.dom)), None, False
    arrow, params = getattr(f, "arrow", None), getattr(f, "P", None)
    if not isinstance(arrow, Arrow) or not isinstance(params, Ob):
        raise not_a("draw", "an arrow or a Para", f)
    dom = arrow.dom
    before: Ob | None = None  # data wires left of the parameters (a global input)
    if isinstance(dom, Product) and dom.left == params:
        rest = dom.right  # P * A, the cartesian action
    elif isinstance(dom, Product) and isinstance(dom.right, Product) and dom.right.left == params:
        before, rest = dom.left, dom.right.right  # E * (P * A), as in topos.para.Global
    else:  # an action that is not a product: every wire is data
        return arrow, [None] * len(wires(dom)), None, False
    n_p = len(wires(params))
    kinds: list[Kind] = [None] * (len(wires(before)) if before is not None else 0)
    kinds += [Leaf(i) for i in range(n_p)]
    kinds += [None] * len(wires(rest))
    names: list[tuple[str, Ob]] = []
    listing = getattr(f, "parameters", None)
    if callable(listing):
        for path, param in listing().items():
            names += [(path, w) for w in wires(getattr(param, "ob", params))]
    return arrow, kinds, names if len(names) == n_p else None, True


def _check_depth(depth: object) -> int | None:
    if depth is None or (isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0):
        return depth
    raise TypeError(f"draw: depth must be None or a non-negative int, got {depth!r}")


def draw(f: Any, depth: int | None = None, *, labels: bool = True) -> str:
    """The string diagram of an arrow or a Para, as SVG text.

    ``depth`` expands named sub-diagrams that many levels (``None``: all);
    ``labels=False`` leaves out the wire types.

    >>> from topos import R, Box, copy
    >>> X = R(3)
    >>> svg = draw(copy(X) >> Box("f", X, X) * Box("g", X, X))
    >>> svg.startswith("<svg") and svg.count('class="box box"'), svg.count('class="dot copy"')
    (2, 1)

    Past ``MAX_WIRE_STEPS`` wires carried in all, ``draw`` refuses (``TooLarge``)
    and says what to draw instead: a Para of 2,000 composed layers carries
    ``5 * 10**7``, its ``repeat`` a few.
    """
    depth = _check_depth(depth)
    arrow, kinds, names, para = _subject(f)
    steps = wire_steps(arrow, depth)
    if steps > MAX_WIRE_STEPS:
        raise too_many_wires(steps, MAX_WIRE_STEPS)
    _, block = run(build(arrow, depth), kinds, labels=labels, para=para)
    return _render(block, names, labels)


def _render(block: Block, names: list[tuple[str, Ob]] | None, labels: bool) -> str:
    column = Column(block.rows, names) if block.rows else None
    top = _STUB if block.ins else 8.0
    bottom = _STUB if block.outs else 8.0
    data_x = _MARGIN + (column.width if column else 0.0)
    data_y = _MARGIN + top
    width = data_x + max(block.w, 1.0) + _MARGIN
    height = data_y + block.h + bottom + _MARGIN
    extra = column.items(data_x, data_y) if column else []
    for x, ob in zip(block.ins, block.in_obs, strict=True):
        x += data_x
        extra.append(("line", x, _MARGIN, x, data_y, _kind(ob)))
        if labels:
            extra.append(("text", x + 4, _MARGIN + 10, str(ob), "wire", "start"))
            width = max(width, x + 4 + text_width(str(ob)) + _MARGIN)
    y0 = data_y + block.h
    for x, ob in zip(block.outs, block.out_obs, strict=True):
        x += data_x
        extra.append(("line", x, y0, x, y0 + bottom, _kind(ob)))
        if labels:
            extra.append(("text", x + 4, y0 + bottom - 4, str(ob), "wire", "start"))
            width = max(width, x + 4 + text_width(str(ob)) + _MARGIN)
    return to_svg(block, data_x, data_y, width, height, extra)


def _kind(ob: Ob) -> str:
    from topos.objects import Exp

    return "fn" if isinstance(ob, Exp) else "data"


def png(f: Any, depth: int | None = None, *, labels: bool = True, scale: float = 2.0) -> bytes:
    """The diagram as PNG bytes, through ``cairosvg`` (the ``draw`` extra).

    Raises ``ImportError`` naming the extra when ``cairosvg`` is not installed.
    """
    try:
        import cairosvg  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "topos.draw.png needs cairosvg: pip install 'topos[draw]' (or pip install cairosvg);"
            " draw(f) gives the SVG text without it"
        ) from err
    data: bytes = cairosvg.svg2png(bytestring=draw(f, depth, labels=labels).encode(), scale=scale)
    return data
