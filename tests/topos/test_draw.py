"""String diagrams: structure, not pixels.

Every drawing is parsed back with ``xml.etree``; the checks read the classes the
writer puts on each element (``box``, ``wire``, ``dot``, ``label``, ``frame``).
Invariants are hypothesis properties over generated diagrams: boxes never overlap,
no wire passes through a box, no label sits on a box, every generator is drawn.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos import Box, Id, One, R, copair, copy, curry, discard, ev, fst, pair, snd, swap
from topos import arrows as ar_
from topos.arrows import Arrow, fold
from topos.draw import draw, group, png
from topos.draw.layout import text_width
from topos.objects import Exp, Ob, Product
from topos.para import Para, normal, repeat, zeros
from topos.testing import arrows, composable, objects

NS = "{http://www.w3.org/2000/svg}"

# ---------------------------------------------------------------------------------
# Reading a drawing back

Rect = tuple[float, float, float, float]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def classes(el: ET.Element) -> list[str]:
    return el.get("class", "").split()


def elements(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if cls in classes(el)[:1]]


def boxes(root: ET.Element) -> list[tuple[Rect, str]]:
    """Each box's rectangle and its label (the text centred in it)."""
    texts = [t for t in elements(root, "label") if "box" in classes(t)]
    out = []
    for el in elements(root, "box"):
        x, y, w, h = (float(v) for v in el.get("data-bbox", "").split())
        inside = [t.text or "" for t in texts if _within(t, (x, y, w, h))]
        out.append(((x, y, w, h), inside[0] if inside else ""))
    return out


def _within(t: ET.Element, r: Rect) -> bool:
    x, y = float(t.get("x", 0)), float(t.get("y", 0))
    return r[0] <= x <= r[0] + r[2] and r[1] <= y <= r[1] + r[3]


def labels(root: ET.Element, kind: str) -> list[str]:
    """The labels of a kind, top to bottom, then left to right."""
    found = [t for t in elements(root, "label") if kind in classes(t)]
    found.sort(key=lambda t: (float(t.get("y", 0)), float(t.get("x", 0))))
    return [t.text or "" for t in found]


def _numbers(d: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]


def wire_points(el: ET.Element) -> Iterator[tuple[float, float]]:
    """Points along a wire path (M/L/V/C commands), densely sampled."""
    d = el.get("d", "")
    x = y = 0.0
    for cmd, args in re.findall(r"([MLVC])([^MLVC]*)", d):
        v = _numbers(args)
        if cmd == "M":
            x, y = v
            yield x, y
        elif cmd in "LV":
            x1, y1 = (x, v[0]) if cmd == "V" else (v[0], v[1])
            n = max(2, int(max(abs(x1 - x), abs(y1 - y)) / 2))
            for i in range(n + 1):
                yield x + (x1 - x) * i / n, y + (y1 - y) * i / n
            x, y = x1, y1
        else:
            (ax, ay, bx, by, cx, cy), p0 = v, (x, y)
            for i in range(41):
                t = i / 40
                s = 1 - t
                yield (
                    s**3 * p0[0] + 3 * s * s * t * ax + 3 * s * t * t * bx + t**3 * cx,
                    s**3 * p0[1] + 3 * s * s * t * ay + 3 * s * t * t * by + t**3 * cy,
                )
            x, y = cx, cy


def strictly_inside(px: float, py: float, r: Rect, tol: float = 0.75) -> bool:
    x, y, w, h = r
    return x + tol < px < x + w - tol and y + tol < py < y + h - tol


def overlap(a: Rect, b: Rect, tol: float = 0.5) -> bool:
    return (
        a[0] + tol < b[0] + b[2]
        and b[0] + tol < a[0] + a[2]
        and a[1] + tol < b[1] + b[3]
        and b[1] + tol < a[1] + a[3]
    )


def check_layout(svg: str) -> ET.Element:
    """Well-formed; no box overlaps a box; no wire or wire label crosses a box."""
    root = parse(svg)
    rects = [r for r, _ in boxes(root)]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not overlap(a, b), f"boxes overlap: {a} and {b}"
    for el in elements(root, "wire"):
        for px, py in wire_points(el):
            for r in rects:
                assert not strictly_inside(px, py, r), f"wire {el.get('d')} crosses box {r}"
    for t in elements(root, "label"):
        if "box" in classes(t):
            continue
        x, y, text = float(t.get("x", 0)), float(t.get("y", 0)), t.text or ""
        width = text_width(text)
        left = x - width if t.get("text-anchor") == "end" else x
        bbox = (left, y - 8, width, 9)
        for r in rects:
            assert not overlap(bbox, r, tol=1.0), f"label {text!r} at {bbox} overlaps box {r}"
    return root


# ---------------------------------------------------------------------------------
# What should be drawn


def atoms(f: Arrow) -> int:
    """How many boxes the fully expanded drawing of ``f`` has (shared parts twice)."""

    def step(node: Arrow, kids: list[int]) -> int:
        kinds = (Box, ar_.Ev, ar_.Logic, ar_.Inl, ar_.Inr, ar_.Absurd, ar_.Const, ar_.Layer)
        return int(isinstance(node, kinds)) + sum(kids)

    return fold(f, step)


def names(f: Arrow) -> set[str]:
    def step(node: Arrow, kids: list[set[str]]) -> set[str]:
        out = set().union(*kids) if kids else set()
        if isinstance(node, Box):
            out.add(node.name)
        return out

    return fold(f, step)


# ---------------------------------------------------------------------------------
# Generated diagrams: the public strategies, plus named sub-diagrams and Para


@st.composite
def named(draw_: Any, depth: int = 2, x: Ob | None = None) -> Arrow:
    """Endomorphisms with named sub-diagrams (and repeat boxes) nested up to ``depth``."""
    if x is None:
        x = draw_(st.sampled_from([R(2), R(3), R(2) * R(3)]))
    f = draw_(arrows(x, x))
    kind = draw_(st.sampled_from(["group", "group", "repeat", "plain"]))
    if kind == "group":
        inner = group(draw_(st.sampled_from(["attn", "mlp", "block"])), f)
        if depth and draw_(st.booleans()):
            inner = group("outer", inner >> draw_(named(depth - 1, x)))
        return inner
    if kind == "repeat":
        p = R(2, 2)
        body = Box("step", p * x, x)
        n = draw_(st.integers(1, 24))
        return pair(Box("weights", x, R(n, 2, 2)), Id(x)) >> ar_.Repeat(body, n)
    return f


def linear(a: int, b: int) -> Para:
    w = R(a, b)
    f = Box("matmul", w * R(a), R(b))
    return Para(w, f, params={"w": normal(0.02)})


def affine(a: int, b: int) -> Para:
    w, v = R(a, b), R(b)
    p = w * v
    x = snd(p, R(a))
    mm = pair(fst(p, R(a)) >> fst(w, v), x) >> Box("matmul", w * R(a), R(b))
    arrow = pair(mm, fst(p, R(a)) >> snd(w, v)) >> Box("add", R(b) * R(b), R(b))
    return Para(p, arrow, params={"w": normal(0.02), "b": zeros})


@st.composite
def paras(draw_: Any) -> Para:
    """Composites, tensors, ties and freezes of small layers."""
    n = draw_(st.integers(1, 4))
    net: Para | None = None
    for i in range(n):
        layer = draw_(st.sampled_from([linear(3, 3), affine(3, 3)])).named(f"l{i}")
        if draw_(st.booleans()):
            layer = layer * linear(2, 2).named(f"s{i}")
            layer = pair(Id(R(3)), Box("side", R(3), R(2))) >> layer >> fst(R(3), R(2))
        if draw_(st.booleans()):
            layer = layer >> Box("relu", R(3), R(3))
        net = layer if net is None else net >> layer
    assert net is not None
    paths = [p for p in net.parameters() if p.endswith(".w")]
    if len(paths) >= 2 and draw_(st.booleans()):
        a, b = draw_(st.permutations(paths))[:2]
        if net.parameters()[a].ob == net.parameters()[b].ob:
            net = net.tie(a, b)
    if draw_(st.booleans()):
        net = net.freeze(draw_(st.sampled_from(sorted(net.parameters()))))
    return net


# ---------------------------------------------------------------------------------
# Properties


@given(objects().flatmap(lambda a: objects().flatmap(lambda b: arrows(a, b))))
def test_generated_arrows_lay_out_cleanly(f: Arrow) -> None:
    root = check_layout(draw(f))
    drawn = boxes(root)
    assert len(drawn) == atoms(f)
    shown = {label for _, label in drawn}
    assert names(f) <= shown


@given(composable(3))
def test_composites_lay_out_cleanly(fs: list[Arrow]) -> None:
    f, g, h = fs
    root = check_layout(draw(f >> g >> h))
    assert len(boxes(root)) == atoms(f) + atoms(g) + atoms(h)


@given(named())
def test_named_sub_diagrams_lay_out_cleanly_at_every_depth(f: Arrow) -> None:
    for depth in (0, 1, None):
        check_layout(draw(f, depth=depth))
    assert len(boxes(parse(draw(f)))) == atoms(f)


@given(paras())
def test_para_lays_out_cleanly_and_names_each_parameter_once(p: Para) -> None:
    root = check_layout(draw(p))
    shown = labels(root, "param")
    for path, param in p.parameters().items():
        assert shown.count(f"{path} : {param.ob}") == 1
    frozen = [label for _, label in boxes(root) if label.endswith("(frozen)")]
    assert sorted(frozen) == sorted(f"{path} (frozen)" for path in p.constants())


# ---------------------------------------------------------------------------------
# The notation, case by case

X, Y = R(3), R(4)


def test_boxes_wires_and_type_labels() -> None:
    f, g = Box("f", X, Y), Box("g", Y, X)
    root = check_layout(draw(f >> g))
    assert sorted(label for _, label in boxes(root)) == ["f", "g"]
    assert labels(root, "wire") == ["R(3)", "R(4)", "R(3)"]
    (rf, _), (rg, _) = sorted(boxes(root), key=lambda b: b[0][1])
    assert rf[1] + rf[3] < rg[1]  # composition runs top to bottom
    assert not labels(parse(draw(f >> g, labels=False)), "wire")


def test_products_are_side_by_side() -> None:
    root = check_layout(draw(Box("f", X, X) * Box("g", Y, Y)))
    (rf, lf), (rg, lg) = sorted(boxes(root), key=lambda b: b[0][0])
    assert (lf, lg) == ("f", "g") and rf[0] + rf[2] < rg[0]
    assert abs(rf[1] - rg[1]) < 1e-6


def test_copy_and_discard_are_dots() -> None:
    f = Box("f", X, Y)
    root = check_layout(draw(copy(X) >> f * Id(X) >> Id(Y) * discard(X)))
    assert len(elements_with(root, "dot", "copy")) == 1
    assert len(elements_with(root, "dot", "discard")) == 1


def elements_with(root: ET.Element, cls: str, sub: str) -> list[ET.Element]:
    return [el for el in elements(root, cls) if sub in classes(el)]


def test_projections_are_discards_and_plumbing_is_pushed_outward() -> None:
    f, g = Box("f", X, X), Box("g", Y, Y)
    root = check_layout(draw(pair(fst(X, Y) >> f, snd(X, Y) >> g)))
    # the same picture as f * g: no copy, no discard
    assert not elements(root, "dot")
    assert len(elements_with(root, "dot", "discard")) == 0
    root = check_layout(draw(fst(X, Y) >> f))
    assert len(elements_with(root, "dot", "discard")) == 1


def test_swap_crosses_wires() -> None:
    root = check_layout(draw(Box("f", X, X) * Box("g", Y, Y) >> swap(X, Y)))
    ends = []
    for el in elements(root, "wire"):
        v = _numbers(el.get("d", ""))
        if "C" in el.get("d", ""):
            ends.append(((v[0], v[1]), (v[-2], v[-1])))
    crossing = [
        (a, b)
        for a in ends
        for b in ends
        if a[0][1] == b[0][1] and a[1][1] == b[1][1] and a[0][0] < b[0][0] and a[1][0] > b[1][0]
    ]
    assert len(crossing) == 1  # two wires leave in one order and arrive in the other


def test_curry_is_a_bubble_and_ev_a_clasp() -> None:
    scores = Box("scores", X, R(3, 3))
    mix = Box("mix", R(3, 3) * X, X)
    attn = copy(X) >> (scores >> curry(mix)) * Id(X) >> ev(X, X)
    root = check_layout(draw(attn))
    (bubble,) = elements_with(root, "frame", "bubble")
    bx, by, bw, bh = (float(bubble.get(k, 0)) for k in ("x", "y", "width", "height"))
    inside = {label for r, label in boxes(root) if overlap(r, (bx, by, bw, bh))}
    assert inside == {"mix"}  # the bubble encloses the curried part only
    assert len(elements_with(root, "box", "clasp")) == 1
    assert len(elements_with(root, "dot", "hollow")) == 2  # abstracted wire in, result out
    fn_wires = elements_with(root, "wire", "fn")
    assert fn_wires and all(float(w) > 2 for w in [el.get("stroke-width", 0) for el in fn_wires])
    assert str(Exp(X, X)) in labels(root, "wire")


def test_copair_and_sum_are_case_boxes() -> None:
    f, g = Box("f", X, Y), Box("g", R(2), Y)
    root = check_layout(draw(copair(f, g)))
    (case,) = elements_with(root, "frame", "case")
    assert len(elements(root, "divider")) == 1
    assert len(elements_with(root, "dot", "split")) == 2  # the case split, the join
    assert {label for _, label in boxes(root)} == {"f", "g"}
    assert "R(3) + R(2)" in labels(root, "wire")
    root = check_layout(draw(f + g))
    assert len(elements_with(root, "frame", "case")) == 1
    assert "R(4) + R(4)" in labels(root, "wire")
    assert case is not None


def test_depth_collapses_named_sub_diagrams() -> None:
    up, down = Box("up", X, Y), Box("down", Y, X)
    block = group("block", group("mlp", up >> Box("act", Y, Y) >> down) >> Box("norm", X, X))
    net = block >> block
    collapsed = check_layout(draw(net, depth=0))
    assert [label for _, label in boxes(collapsed)] == ["block", "block"]
    assert len(elements_with(collapsed, "box", "group")) == 2
    one = check_layout(draw(net, depth=1))
    assert sorted(label for _, label in boxes(one)) == ["mlp", "mlp", "norm", "norm"]
    assert labels(one, "frame") == ["block", "block"]
    full = check_layout(draw(net))
    assert len(boxes(full)) == 8
    assert labels(full, "frame") == ["block", "mlp", "block", "mlp"]


def test_repeat_is_a_box_labelled_times_n_that_expands() -> None:
    blk = Para(R(3, 3), Box("matmul", R(3, 3) * X, X), {"w": normal(0.02)})
    deep = repeat(blk, 24)
    root = check_layout(draw(deep, depth=0))
    assert [label for _, label in boxes(root)] == ["×24"]
    assert len(elements_with(root, "box", "repeat")) == 1
    assert labels(root, "param") == ["w : R(24, 3, 3)"]
    root = check_layout(draw(deep))
    assert [label for _, label in boxes(root)] == ["matmul"]
    assert labels(root, "frame") == ["×24"]
    assert len(elements_with(root, "frame", "shadow")) == 1
    named_body = repeat(Para(blk.P, group("block", blk.arrow), {"w": normal(0.02)}), 4)
    assert [label for _, label in boxes(parse(draw(named_body, depth=0)))] == ["block ×4"]


def test_para_parameters_enter_from_the_left() -> None:
    net = affine(3, 4).named("l1") >> Box("relu", R(4), R(4)) >> linear(4, 2).named("l2")
    root = check_layout(draw(net))
    assert labels(root, "param") == ["l1.w : R(3, 4)", "l1.b : R(4)", "l2.w : R(4, 2)"]
    rects = [r for r, label in boxes(root) if label in ("matmul", "add")]
    entering = set()
    for el in elements_with(root, "wire", "param"):
        x0, y0, x1, y1 = _numbers(el.get("d", ""))
        assert y0 == y1 and x0 < x1  # horizontal, left to right
        (target,) = [r for r in rects if abs(r[0] - x1) < 1e-6 and r[1] < y0 < r[1] + r[3]]
        entering.add(target)
    assert len(entering) == 3  # into the left side of matmul, add, matmul


def test_tied_weights_share_one_wire_with_a_copy_dot() -> None:
    enc = Para(R(3, 3), Box("enc", R(3, 3) * X, X), {"enc.w": normal(0.02)})
    dec = Para(R(3, 3), Box("dec", R(3, 3) * X, X), {"dec.w": normal(0.02)})
    tied = (enc >> dec).tie("enc.w", "dec.w")
    root = check_layout(draw(tied))
    assert labels(root, "param") == ["enc.w : R(3, 3)"]
    assert len(elements_with(root, "dot", "tie")) == 1
    via = (enc >> dec).tie("enc.w", "dec.w", via=Box("transpose", R(3, 3), R(3, 3)))
    root = check_layout(draw(via))
    assert len(elements_with(root, "box", "param")) == 1  # the transpose, on the wire


def test_frozen_weights_are_constants_on_the_parameter_wire() -> None:
    net = (linear(3, 3).named("a") >> linear(3, 3).named("b")).freeze("a.w")
    root = check_layout(draw(net))
    assert labels(root, "param") == ["b.w : R(3, 3)"]
    assert [label for r, label in boxes(root) if "frozen" in label] == ["a.w (frozen)"]
    assert len(elements_with(root, "box", "param")) == 1


def test_long_chains_and_deep_nesting_do_not_recurse() -> None:
    f = Box("f", X, X)
    chain = f
    for _ in range(3000):
        chain = chain >> f
    assert len(elements(parse(draw(chain)), "box")) == 3001
    nested = f
    for _ in range(1500):
        nested = nested * Id(X)
    root = parse(draw(nested))
    assert len(elements(root, "box")) == 1 and len(labels(root, "wire")) == 2 * 1501


def test_repr_svg_for_arrows_and_para() -> None:
    f = Box("f", X, Y)
    assert f._repr_svg_() == draw(f)
    p = linear(3, 3)
    assert p._repr_svg_() == draw(p)


def test_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="draw: expected an arrow or a Para, got int 3"):
        draw(3)
    with pytest.raises(TypeError, match="depth must be None or a non-negative int, got -1"):
        draw(Box("f", X, X), depth=-1)
    with pytest.raises(TypeError, match="group\\('g'\\): expected an arrow as the body"):
        group("g", "f")  # type: ignore[arg-type]


def test_png_names_the_extra_when_cairosvg_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cairosvg", None)
    with pytest.raises(ImportError, match=r"topos\[draw\]"):
        png(Box("f", X, X))


def test_png_renders_when_cairosvg_is_installed() -> None:
    pytest.importorskip("cairosvg")
    data = png(Box("f", X, X))
    assert data.startswith(b"\x89PNG")


def test_objects_of_product_type_become_several_wires() -> None:
    f = Box("f", (X * One) * Y, Product(Y, X))
    root = check_layout(draw(f))
    assert labels(root, "wire") == ["R(3)", "R(4)", "R(4)", "R(3)"]


def test_para_over_a_global_input_keeps_the_global_wire_as_data() -> None:
    from topos.para import Global, glorot_uniform

    e, x, w = R(5, 5), R(5, 3), R(3, 3)
    g = Global(e)
    layer = Para(
        w,
        g.then(g.act_on(w, Box("propagate", e * x, x)), g.embed(Box("matmul", w * x, x))),
        params={"w": glorot_uniform},
        actegory=g,
    )
    root = check_layout(draw(layer.named("l1") >> layer.named("l2")))
    assert labels(root, "param") == ["l1.w : R(3, 3)", "l2.w : R(3, 3)"]
    assert labels(root, "wire")[:2] == ["R(5, 5)", "R(5, 3)"]  # the graph, then the input


def test_an_alternative_without_wires_is_reached_by_a_dotted_line() -> None:
    from topos import One

    root = check_layout(draw(copair(Box("zero", One, X), Box("f", Y, X))))
    assert len(elements_with(root, "wire", "unit")) == 1


def test_names_xml_cannot_hold_are_written_out() -> None:
    # Issue 11, item 8: a NUL in a name made malformed SVG; a lone surrogate crashed draw.
    import xml.dom.minidom

    from topos import Box, R

    for name, shown in (("a\x00b", "a\\x00b"), ("a\ud800b", "a\\ud800b"), ("a\x1fb", "a\\x1fb")):
        svg = draw(Box(name, R(2), R(2)))
        xml.dom.minidom.parseString(svg.encode())  # well-formed
        assert f">{shown}</text>" in svg


def test_a_drawing_too_large_to_lay_out_is_refused_saying_what_to_draw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 22, item 8: a Para of n composed layers carries its whole parameter object
    # (n layers' worth of wires) through each layer's plumbing, so laying it out took
    # ~n**2 (2,000 layers: 21.6 s and 1.7 GB). draw now measures that first, in linear
    # time, and refuses past MAX_WIRE_STEPS, pointing to the repeat.
    import topos.draw
    from topos.draw.draft import wire_steps
    from topos.errors import TooLarge
    from topos.nn import linear, tanh
    from topos.para import unroll

    block = linear(2, 2) >> tanh(2)
    monkeypatch.setattr(topos.draw, "MAX_WIRE_STEPS", 100_000)
    small, large = unroll(repeat(block, 50)), unroll(repeat(block, 100))
    assert wire_steps(small.arrow) < 100_000 < wire_steps(large.arrow)
    assert draw(small).startswith("<svg")
    with pytest.raises(TooLarge, match=r"MAX_WIRE_STEPS = 100000.*draw the repeat"):
        draw(large)
    monkeypatch.undo()
    with pytest.raises(TooLarge, match=r"carry 52052065 wires in all, more than MAX_WIRE_STEPS"):
        draw(unroll(repeat(block, 2_000)))
    assert draw(repeat(block, 2_000)).count('class="box ') < 10  # the repeat: one layer
