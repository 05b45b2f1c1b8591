"""The reverse derivatives of the primitives of ``topos.nn``, each declared once, as diagrams.

For a primitive ``f: A -> B`` the declaration builds ``R[f]: A * B -> A`` from the
primitives themselves (``topos.reverse.declare``). The formulas are written on
*wires*: a ``Wire`` is an arrow out of the context ``A * B`` (the point and the
output cotangent), with arithmetic that builds boxes (``x * g`` is ``⟨x, g⟩ >>
mul``). Broadcasting operands get their cotangent summed back to their shape
(``unbroadcast``); linear maps reverse to their transposes.

>>> from topos import R
>>> from topos.reverse import reverse
>>> print(reverse(tanh(R(3))))
⟨π₂, ⟨! >> full, ⟨π₁ >> tanh, π₁ >> tanh⟩ >> mul⟩ >> sub⟩ >> mul
>>> reverse(einsum("ij,jk->ik", R(2, 3), R(3, 4))).cod
R(2, 3) * R(3, 4)

Every primitive of ``PRIMITIVES`` has one:

>>> from topos.nn.primitives import PRIMITIVES
>>> from topos.reverse import DERIVATIVES
>>> sorted(set(PRIMITIVES) - set(DERIVATIVES))
[]

``conv`` reverses to its two transposes, ``conv_transpose`` (the input's cotangent)
and ``conv_filter`` (the kernel's), and the three reverse to one another, since each
is a partial derivative of the trilinear form ``<conv(x, w), g>``; ``max_pool``
reverses to ``max_pool_scatter`` (each window's cotangent sent to its maximum), whose
reverse is ``max_pool_select`` (the tangent read at the maximum) and back:

>>> from topos.nn.primitives import conv, max_pool
>>> print(reverse(max_pool(R(4, 4, 1), (2, 2))))
⟨π₁, π₂⟩ >> max_pool_scatter
>>> print(reverse(conv(R(6, 2), R(3, 2, 4))))
⟨⟨π₂, π₁ >> π₂⟩ >> conv_transpose, ⟨π₁ >> π₁, π₂⟩ >> conv_filter⟩

A ``foreign`` box (an operation imported from a jaxpr) is refused, naming the operation:

>>> from topos.nn.primitives import foreign
>>> reverse(foreign("cumsum", R(3), R(3)))
Traceback (most recent call last):
...
topos.reverse.NoDerivative: reverse: the imported operation 'cumsum' (a foreign box ...
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

from topos.arrows import Arrow, Box, Const, Id, discard, fst, pair, snd
from topos.nn.primitives import (
    add,
    causal_mask,
    compare,
    concat,
    conv,
    conv_filter,
    conv_transpose,
    cos,
    div,
    einsum,
    exp,
    full,
    gather,
    linear_scan,
    max_pool_scatter,
    max_pool_select,
    mul,
    one_hot,
    reduce_max,
    reduce_sum,
    reshape,
    rsqrt,
    scale,
    scatter_add,
    sigmoid,
    sin,
    slice_axis,
    softmax,
    sub,
    tanh,
    top_k,
    transpose,
    where,
)
from topos.objects import Dim, Fin, Product, R
from topos.reverse import NoDerivative, cotangent, declare, zero

__all__ = ["Wire", "materialised", "pad", "unbroadcast"]


class Wire:
    """An arrow out of a context, with arithmetic building primitive boxes.

    >>> x = Wire(fst(R(3), R(3)))
    >>> print((x * x + 1.0).arrow)
    ⟨⟨π₁, π₁⟩ >> mul, ! >> full⟩ >> add
    """

    __slots__ = ("arrow",)

    def __init__(self, arrow: Arrow) -> None:
        self.arrow = arrow

    @property
    def ob(self) -> R:
        cod = self.arrow.cod
        assert isinstance(cod, R)
        return cod

    def __rshift__(self, box: Arrow) -> Wire:
        return Wire(self.arrow >> box)

    def apply(self, make: Callable[..., Box], *others: Wire | float, **kw: Any) -> Wire:
        wires = [self, *(self._wire(o) for o in others)]
        arrow = wires[0].arrow
        for w in wires[1:]:
            arrow = pair(arrow, w.arrow)
        return Wire(arrow >> make(*(w.ob for w in wires), **kw))

    def const(self, value: float) -> Wire:
        return Wire(discard(self.arrow.dom) >> full(R(dtype=self.ob.dtype), value))

    def _wire(self, other: Wire | float) -> Wire:
        return other if isinstance(other, Wire) else self.const(other)

    def __mul__(self, other: Wire | float) -> Wire:
        if not isinstance(other, Wire):
            return Wire(self.arrow >> scale(self.ob, other))
        return self.apply(mul, other)

    __rmul__ = __mul__

    def __add__(self, other: Wire | float) -> Wire:
        return self.apply(add, other)

    __radd__ = __add__

    def __sub__(self, other: Wire | float) -> Wire:
        return self.apply(sub, other)

    def __rsub__(self, other: float) -> Wire:
        return self.const(other).apply(sub, self)

    def __truediv__(self, other: Wire | float) -> Wire:
        return self.apply(div, other)

    def __rtruediv__(self, other: float) -> Wire:
        return self.const(other).apply(div, self)

    def __neg__(self) -> Wire:
        return self * -1.0


def _ctx(box: Box) -> tuple[list[Wire], Wire]:
    """The input wires of ``box`` (its domain's factors, left-nested) and the cotangent."""
    dom, cb = box.dom, cotangent(box.cod)
    whole = fst(dom, cb)
    parts: list[Arrow] = [whole]
    k = _arity(box)
    while len(parts) < k:
        head = parts.pop(0)
        left = head.cod
        assert isinstance(left, Product)
        parts[:0] = [head >> fst(left.left, left.right), head >> snd(left.left, left.right)]
    return [Wire(p) for p in parts], Wire(snd(dom, cb))


_ARITY = {"where": 3}


def _arity(box: Box) -> int:
    if box.name in _ARITY:
        return _ARITY[box.name]
    return 2 if isinstance(box.dom, Product) else 1


def unbroadcast(w: Wire, shape: tuple[Any, ...]) -> Wire:
    """The cotangent ``w`` of a broadcast result, summed back to ``shape``."""
    while len(w.ob.shape) > len(shape):
        w = w >> reduce_sum(w.ob, 0)
    for k, (m, n) in enumerate(zip(shape, w.ob.shape, strict=True)):
        if m == 1 and n != 1:
            w = w >> reduce_sum(w.ob, k, keepdims=True)
    return w


def pad(x: R, into: R, axis: int, start: int) -> Arrow:
    """``x -> into``: ``x`` placed at ``start`` along ``axis`` of zeros (the transpose of a slice).

    ``x`` may lack ``axis`` (the transpose of ``take``): it is given size 1 first.

    >>> pad(R(2), R(3, 2), 0, 1).cod
    R(3, 2)
    """
    arrow: Arrow = _expand(x, into, axis)
    here = arrow.cod
    assert isinstance(here, R)
    size, total = here.shape[axis], into.shape[axis]
    if start > 0:
        before = R(*(start if k == axis else n for k, n in enumerate(into.shape)), dtype=x.dtype)
        arrow = pair(discard(x) >> full(before, 0.0), arrow) >> concat(before, here, axis)
        here = R(*arrow.cod.shape, dtype=x.dtype) if isinstance(arrow.cod, R) else here
    rest = total - start - size
    if rest > 0:
        after = R(*(rest if k == axis else n for k, n in enumerate(into.shape)), dtype=x.dtype)
        arrow = pair(arrow, discard(x) >> full(after, 0.0)) >> concat(here, after, axis)
    return arrow


def _expand(x: R, into: R, axis: int) -> Arrow:
    if len(x.shape) == len(into.shape):
        return Id(x)
    shape = (*x.shape[:axis], 1, *x.shape[axis:])
    return reshape(x, *shape)


# -- declarations ---------------------------------------------------------------------


def _elementwise(name: str, dfdx: Callable[[Wire], Wire]) -> None:
    def derivative(box: Box) -> Arrow:
        (x,), g = _ctx(box)
        return (g * dfdx(x)).arrow

    declare(name, derivative)


def _gelu_slope(x: Wire) -> Wire:
    c = math.sqrt(2.0 / math.pi)
    t = (c * (x + 0.044715 * (x * x * x))).apply(tanh)
    dt = (1.0 - t * t) * (c * (1.0 + (3 * 0.044715) * (x * x)))
    return 0.5 * (1.0 + t) + 0.5 * (x * dt)


def _sigmoid_slope(x: Wire) -> Wire:
    s = x.apply(sigmoid)
    return s * (1.0 - s)


def _silu_slope(x: Wire) -> Wire:
    s = x.apply(sigmoid)
    return s * (1.0 + x * (1.0 - s))


def _sqrt_slope(x: Wire) -> Wire:
    return 0.5 * x.apply(rsqrt)


def _rsqrt_slope(x: Wire) -> Wire:
    return -0.5 * (x.apply(rsqrt) / x)


def _relu_slope(x: Wire) -> Wire:
    return x.apply(compare, 0.0, op="gt")


def _tanh_slope(x: Wire) -> Wire:
    t = x.apply(tanh)
    return 1.0 - t * t


for _name, _slope in {
    "relu": _relu_slope,
    "tanh": _tanh_slope,
    "exp": lambda x: x.apply(exp),
    "gelu": _gelu_slope,
    "sigmoid": _sigmoid_slope,
    "silu": _silu_slope,
    "sin": lambda x: x.apply(cos),
    "cos": lambda x: -x.apply(sin),
    "log": lambda x: 1.0 / x,
    "sqrt": _sqrt_slope,
    "rsqrt": _rsqrt_slope,
    "erf": lambda x: (2.0 / math.sqrt(math.pi)) * (-(x * x)).apply(exp),
}.items():
    _elementwise(_name, _slope)


def _pair_of(left: Wire, right: Wire) -> Arrow:
    return pair(left.arrow, right.arrow)


def _add(box: Box) -> Arrow:
    (x, y), g = _ctx(box)
    return _pair_of(unbroadcast(g, x.ob.shape), unbroadcast(g, y.ob.shape))


def _sub(box: Box) -> Arrow:
    (x, y), g = _ctx(box)
    return _pair_of(unbroadcast(g, x.ob.shape), unbroadcast(-g, y.ob.shape))


def _mul(box: Box) -> Arrow:
    (x, y), g = _ctx(box)
    return _pair_of(unbroadcast(g * y, x.ob.shape), unbroadcast(g * x, y.ob.shape))


def _div(box: Box) -> Arrow:
    (x, y), g = _ctx(box)
    gx = g / y
    return _pair_of(unbroadcast(gx, x.ob.shape), unbroadcast(-(gx * (x / y)), y.ob.shape))


def _scale(box: Box) -> Arrow:
    _, g = _ctx(box)
    by: float = box.attrs["by"]
    return (g * by).arrow


def _softmax(box: Box) -> Arrow:
    (x,), g = _ctx(box)
    axis = box.attrs["axis"]
    y = x.apply(softmax, axis=axis)
    gy = g * y
    total = gy >> reduce_sum(gy.ob, axis, keepdims=True)
    return (y * (g - total)).arrow


def _reduce_sum(box: Box, factor: float = 1.0) -> Arrow:
    (x,), g = _ctx(box)
    axis = box.attrs["axis"]
    kept = tuple(1 if k == axis else n for k, n in enumerate(x.ob.shape))
    if not box.attrs["keepdims"]:
        g = g >> reshape(g.ob, *kept)
    spread = _spread(g, x)
    return (spread * factor if factor != 1.0 else spread).arrow


def _spread(g: Wire, x: Wire) -> Wire:
    """``g`` (with size-1 axes) broadcast to ``x``'s shape, as ``zeros + g``."""
    zeros = Wire(discard(g.arrow.dom) >> full(x.ob, 0.0))
    return zeros.apply(add, g)


def _reduce_mean(box: Box) -> Arrow:
    x = box.dom
    assert isinstance(x, R)
    return _reduce_sum(box, 1.0 / x.shape[box.attrs["axis"]])


def _reduce_max(box: Box) -> Arrow:
    (x,), g = _ctx(box)
    axis = box.attrs["axis"]
    top = x >> reduce_max(x.ob, axis, keepdims=True)
    hit = x.apply(compare, top, op="eq")
    count = hit >> reduce_sum(hit.ob, axis, keepdims=True)
    if not box.attrs["keepdims"]:
        g = g >> reshape(g.ob, *top.ob.shape)
    return (hit * (g / count)).arrow


def _reshape(box: Box) -> Arrow:
    (x,), g = _ctx(box)
    return (g >> reshape(g.ob, *x.ob.shape)).arrow


def _transpose(box: Box) -> Arrow:
    _, g = _ctx(box)
    perm = box.attrs["perm"]
    back = tuple(perm.index(k) for k in range(len(perm)))
    return (g >> transpose(g.ob, back)).arrow


def _broadcast(box: Box) -> Arrow:
    (x,), g = _ctx(box)
    return unbroadcast(g, x.ob.shape).arrow


def _concat(box: Box) -> Arrow:
    (x, y), g = _ctx(box)
    axis, n = box.attrs["axis"], x.ob.shape[box.attrs["axis"]]
    total = g.ob.shape[axis]
    return _pair_of(g >> slice_axis(g.ob, 0, n, axis), g >> slice_axis(g.ob, n, total, axis))


def _take(box: Box) -> Arrow:
    (x,), g = _ctx(box)
    return (g >> pad(g.ob, x.ob, box.attrs["axis"], box.attrs["index"])).arrow


def _slice(box: Box) -> Arrow:
    (x,), g = _ctx(box)
    stop = box.attrs["stop"]
    if not isinstance(stop, int):
        raise NoDerivative(f"reverse: slice to the variable length {stop!r} has no pad rule yet")
    return (g >> pad(g.ob, x.ob, box.attrs["axis"], box.attrs["start"])).arrow


def _causal_mask(box: Box) -> Arrow:
    _, g = _ctx(box)
    return (g >> causal_mask(g.ob, fill=0.0)).arrow


def _gather(box: Box) -> Arrow:
    """``R[gather]``: the rows' cotangents added back at their labels (``scatter_add``).

    The transpose of ``gather``'s matrix, ``table' = one_hotᵀ g``, computed in time
    linear in the number of labels (not as a product with a ``labels × V``
    one-hot matrix). The labels get ``One``.
    """
    table, labels = box.dom.left, box.dom.right  # type: ignore[attr-defined]
    assert isinstance(table, R) and isinstance(labels, Fin)
    cb = cotangent(box.cod)
    assert isinstance(cb, R)
    ids = fst(box.dom, cb) >> snd(table, labels)
    grad = pair(snd(box.dom, cb), ids) >> scatter_add(cb, labels)
    return pair(grad, discard(grad.dom))


def _where(box: Box) -> Arrow:
    (c, x, y), g = _ctx(box)
    none = g.const(0.0)
    gx = c.apply(where, g, none)
    gy = c.apply(where, none, g)
    zc = Wire(discard(g.arrow.dom) >> zero(c.ob))
    return pair(
        pair(zc.arrow, unbroadcast(gx, x.ob.shape).arrow), unbroadcast(gy, y.ob.shape).arrow
    )


def _compare(box: Box) -> Arrow:
    dom = box.dom
    assert isinstance(dom, Product)
    return discard(dom * cotangent(box.cod)) >> zero(cotangent(dom))


def _einsum(box: Box) -> Arrow:
    """``R[einsum]``: each operand's cotangent is an einsum of ``g`` with the other operand."""
    (x, y), g = _ctx(box)
    sa, sb, out = _explicit(box.attrs["spec"], x.ob, y.ob)
    gx = _ein_back(out, sb, sa, g, y, x.ob)
    gy = _ein_back(out, sa, sb, g, x, y.ob)
    return _pair_of(gx, gy)


def _ein_back(out: str, so: str, mine: str, g: Wire, other: Wire, ob: R) -> Wire:
    """``g`` contracted with the other operand back onto ``mine``'s axes.

    Axes summed within this operand alone get the result broadcast along them.
    """
    kept = "".join(c for c in mine if c in out or c in so)
    w = _ein(f"{out},{so}->{kept}", g, other)
    if kept == mine:
        return w
    shape = tuple(n if c in kept else 1 for c, n in zip(mine, ob.shape, strict=True))
    return (w >> reshape(w.ob, *shape)) >> _broadcast_to(R(*shape, dtype=ob.dtype), ob)


def _broadcast_to(x: R, ob: R) -> Box:
    from topos.nn.primitives import broadcast  # noqa: PLC0415

    return broadcast(x, *ob.shape)


def _ein(spec: str, a: Wire, b: Wire) -> Wire:
    return Wire(pair(a.arrow, b.arrow) >> einsum(spec, a.ob, b.ob))


def _explicit(spec: str, a: R, b: R) -> tuple[str, str, str]:
    """``spec`` with each ``...`` written out as letters (equal ellipsis shapes only)."""
    ins, out = spec.split("->")
    sa, sb = ins.split(",")
    if "..." not in spec:
        return sa, sb, out
    free = [c for c in string.ascii_letters if c not in spec]
    na = len(a.shape) - len(sa.replace("...", ""))
    nb = len(b.shape) - len(sb.replace("...", ""))
    width = max(na, nb)
    dots = "".join(free[:width])
    ea, eb = dots[width - na :], dots[width - nb :]
    shape_a = a.shape[sa.index("...") : sa.index("...") + na] if na else ()
    shape_b = b.shape[sb.index("...") : sb.index("...") + nb] if nb else ()
    if na and nb and tuple(shape_a[-min(na, nb) :]) != tuple(shape_b[-min(na, nb) :]):
        raise NoDerivative(
            f"reverse: einsum {spec!r} broadcasts its ellipsis axes {shape_a} and {shape_b};"
            " its reverse derivative is not declared"
        )
    return sa.replace("...", ea), sb.replace("...", eb), out.replace("...", dots)


def _scatter_add(box: Box) -> Arrow:
    """``R[scatter_add]``: values' cotangent: ``g`` gathered at the labels (theirs: ``One``)."""
    values, labels = box.dom.left, box.dom.right  # type: ignore[attr-defined]
    assert isinstance(values, R) and isinstance(labels, Fin)
    cb = cotangent(box.cod)
    assert isinstance(cb, R)
    ids = fst(box.dom, cb) >> snd(values, labels)
    grad = pair(snd(box.dom, cb), ids) >> gather(cb, labels)
    return pair(grad, discard(grad.dom))


def _top_k(box: Box) -> Arrow:
    """``R[top_k]``: the values' cotangent put back at the chosen positions (``one_hotᵀ g``).

    The indices are piecewise constant: their cotangent is ``One``.
    """
    x = box.dom
    assert isinstance(x, R)
    cb = cotangent(box.cod)
    assert isinstance(cb, Product) and isinstance(cb.left, R)
    chosen = top_k(x, box.attrs["k"])
    vals, ids = chosen.cod.left, chosen.cod.right  # type: ignore[attr-defined]
    assert isinstance(ids, Fin)
    hot = fst(x, cb) >> chosen >> snd(vals, ids) >> one_hot(ids, x.dtype)
    g = snd(x, cb) >> fst(cb.left, cb.right)
    letters = string.ascii_letters.replace("k", "").replace("m", "")
    lead = letters[: len(x.shape) - 1]
    return pair(g, hot) >> einsum(f"{lead}k,{lead}km->{lead}m", cb.left, hot.cod)


def _flip(x: R) -> Arrow:
    """``x -> x`` reversed along axis 0: ``gather`` at the constant labels ``n-1, ..., 0``."""
    n = x.shape[0]
    assert isinstance(n, int)
    labels = Fin(n, n)
    rev = Const(labels, tuple(range(n - 1, -1, -1)), name="reversed")
    return pair(Id(x), discard(x) >> rev) >> gather(x, labels)


def _shift(w: Wire, by: int) -> Wire:
    """``w`` moved ``by = ±1`` along axis 0, a zero entering (``w[t - by]``)."""
    ob = w.ob
    n = ob.shape[0]
    edge = R(1, *ob.shape[1:], dtype=ob.dtype)
    zeros = Wire(discard(w.arrow.dom) >> full(edge, 0.0))
    if n == 1:
        return zeros
    if by > 0:
        return zeros.apply(concat, w >> slice_axis(ob, 0, n - 1, 0), axis=0)
    return (w >> slice_axis(ob, 1, n, 0)).apply(concat, zeros, axis=0)


def _linear_scan(box: Box) -> Arrow:
    """``R[linear_scan]``: the adjoint recurrence, a ``linear_scan`` run from the end.

    With ``h = linear_scan(a, b)`` and the cotangent ``g``: ``λ_t = g_t + a_{t+1} λ_{t+1}``
    (read backwards, the same scan with the coefficients shifted by one), then
    ``b' = λ`` and ``a'_t = λ_t h_{t-1}`` (``h_{-1} = 0``).
    """
    (a, b), g = _ctx(box)
    n = a.ob.shape[0]
    if isinstance(n, Dim):
        raise NoDerivative(
            f"reverse: linear_scan over the variable length {n!r} has no reverse rule"
            " (it reverses the sequence by constant labels; specialise the length first)"
        )
    flip = _flip(a.ob)
    ahead = _shift(a, -1)  # a_{t+1}, 0 at the end
    lam = (ahead >> flip).apply(linear_scan, g >> flip) >> flip
    h = a.apply(linear_scan, b)
    return _pair_of(lam * _shift(h, 1), lam)


def _softmax_fold(box: Box) -> Arrow:
    """``R[softmax_fold]``: the reverse derivative of the materialised attention it equals.

    The backward pass materialises the ``s × t`` scores (memory quadratic in the
    length, unlike the fold's forward pass).
    """
    from topos.reverse import reverse  # noqa: PLC0415

    return reverse(materialised(box))


def materialised(box: Box) -> Arrow:
    """The dense attention ``softmax(mask(scale · q kᵀ)) v`` equal to a ``softmax_fold`` box."""
    dom = box.dom
    assert isinstance(dom, Product) and isinstance(dom.left, Product)
    qk, v = dom.left, dom.right
    q, k = qk.left, qk.right
    assert isinstance(q, R) and isinstance(k, R) and isinstance(v, R)
    at = box.attrs
    first = fst(qk, v)
    scores = pair(first >> fst(q, k), first >> snd(q, k)) >> einsum("skgd,tkd->kgst", q, k)
    s_ob = scores.cod
    assert isinstance(s_ob, R)
    scores = scores >> scale(s_ob, at["scale"])
    if at["causal"]:
        scores = scores >> causal_mask(s_ob, fill=at["fill"])
    weights = scores >> softmax(s_ob, axis=-1)
    return pair(weights, snd(qk, v)) >> einsum("kgst,tkd->skgd", s_ob, v)


def _conv_of(box: Box) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return box.attrs["stride"], {"padding": box.attrs["padding"]}


def _conv(box: Box) -> Arrow:
    """``R[conv](x, w; g) = (conv_transpose(g, w), conv_filter(x, g))``."""
    (x, w), g = _ctx(box)
    stride, pad_ = _conv_of(box)
    nd = len(x.ob.shape) - 1
    dx = g.apply(conv_transpose, w, size=x.ob.shape[:nd], stride=stride, **pad_)
    dw = x.apply(conv_filter, g, window=w.ob.shape[:nd], stride=stride, **pad_)
    return _pair_of(dx, dw)


def _conv_transpose(box: Box) -> Arrow:
    """``R[conv_transpose](g, w; d) = (conv(d, w), conv_filter(d, g))``."""
    (g, w), d = _ctx(box)
    stride, pad_ = _conv_of(box)
    nd = len(g.ob.shape) - 1
    return _pair_of(
        d.apply(conv, w, stride=stride, **pad_),
        d.apply(conv_filter, g, window=w.ob.shape[:nd], stride=stride, **pad_),
    )


def _conv_filter(box: Box) -> Arrow:
    """``R[conv_filter](x, g; d) = (conv_transpose(g, d), conv(x, d))``."""
    (x, g), d = _ctx(box)
    stride, pad_ = _conv_of(box)
    nd = len(x.ob.shape) - 1
    return _pair_of(
        g.apply(conv_transpose, d, size=x.ob.shape[:nd], stride=stride, **pad_),
        x.apply(conv, d, stride=stride, **pad_),
    )


def _pool_of(box: Box) -> dict[str, Any]:
    return {"window": box.attrs["window"], "stride": box.attrs["stride"]}


def _max_pool(box: Box) -> Arrow:
    """``R[max_pool](x; g) = max_pool_scatter(x, g)``: ``g`` routed to each window's maximum."""
    (x,), g = _ctx(box)
    return x.apply(max_pool_scatter, g, **_pool_of(box)).arrow


def _routed(box: Box, back: Callable[..., Box]) -> Arrow:
    """``R[route](x, t; d) = (0, back(x, d))``: linear in ``t``, piecewise constant in ``x``."""
    (x, _), d = _ctx(box)
    zx = Wire(discard(d.arrow.dom) >> zero(x.ob))
    return _pair_of(zx, x.apply(back, d, **_pool_of(box)))


def _foreign(box: Box) -> Arrow:
    """A ``foreign`` box is refused: its operation belongs to another library."""
    raise NoDerivative(
        f"reverse: the imported operation {box.attrs.get('op')!r} (a foreign box {box.dom!r}"
        f" -> {box.cod!r}) has no declared reverse derivative; write it with topos.nn"
        " primitives or declare one"
    )


def _discrete(box: Box) -> Arrow:
    dom = box.dom
    return discard(dom * cotangent(box.cod)) >> zero(cotangent(dom))


for _name, _derivative in {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "scale": _scale,
    "softmax": _softmax,
    "reduce_sum": _reduce_sum,
    "reduce_mean": _reduce_mean,
    "reduce_max": _reduce_max,
    "reshape": _reshape,
    "transpose": _transpose,
    "broadcast": _broadcast,
    "concat": _concat,
    "take": _take,
    "slice": _slice,
    "causal_mask": _causal_mask,
    "gather": _gather,
    "where": _where,
    "compare": _compare,
    "einsum": _einsum,
    "full": _discrete,
    "arange": _discrete,
    "one_hot": _discrete,
    "bernoulli": _discrete,
    "fold_in": _discrete,
    "dispatch": _discrete,
    "relative_buckets": _discrete,
    "scatter_add": _scatter_add,
    "top_k": _top_k,
    "linear_scan": _linear_scan,
    "softmax_fold": _softmax_fold,
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "conv_filter": _conv_filter,
    "max_pool": _max_pool,
    "foreign": _foreign,
    "max_pool_scatter": lambda box: _routed(box, max_pool_select),
    "max_pool_select": lambda box: _routed(box, max_pool_scatter),
}.items():
    declare(_name, _derivative)
