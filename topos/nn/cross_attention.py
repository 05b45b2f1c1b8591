"""Cross-attention: queries from one input, keys and values from another, as choose ; ev.

The decoder of an encoder–decoder reads the encoder's output (the *memory*)
through cross-attention: with ``x: R(sq, d)`` and ``m: R(sk, d)``,

    A = softmax(mask(q(x) k(m)ᵀ · scale + bias)),   out = o(A v(m))

and, as for self-attention, the pair ``(x, m)`` *chooses* the mixing map
``v ↦ A v`` (``curry``), which ``ev`` applies to the values of the memory:

    cross_attention = copy ; (choose ; curry(mix)) * (snd ; v) ; ev ; merge heads ; o

Masks for both sides (``masks=True``): the input is ``(x * m) * (q_mask * k_mask)``
with ``q_mask: R(sq)``, ``k_mask: R(sk)`` (1 real, 0 padding); the pair
``q_mask[i] · k_mask[j]`` hides the score ``(i, j)`` (``-1e9`` before the softmax)
and a padded query's output row is zero. ``bias=True`` adds an input
``R(heads, sq, sk)`` to the scores (T5's relative-position bias); ``scale=None``
is ``1/√head_dim`` (T5 uses ``1.0``); ``causal`` hides ``j > i`` (self-attention
written as cross-attention of ``x`` with itself, ``copy ; attend``).

Laws (doctests): the memory's length is free of the queries'; the parameters
are those of self-attention; the map is higher order (the input chooses ``A``).

>>> from topos import R
>>> from topos.analysis import analyze
>>> ca = cross_attention(4, 6, 16, 2, bias=False)
>>> ca.dom, ca.cod
(R(4, 16) * R(6, 16), R(4, 16))
>>> list(ca.parameters())
['cross.q.w', 'cross.k.w', 'cross.v.w', 'cross.o.w']
>>> cross_attention(4, 6, 16, 2, masks=True).dom
R(4, 16) * R(6, 16) * (R(4) * R(6))
>>> analyze(ca).order
'higher'
"""

from __future__ import annotations

import math

from topos.arrows import Arrow, Id, copy, curry, discard, ev, fst, pair, snd, swap
from topos.nn import primitives as P
from topos.nn.layers import _dims, grouped, linear
from topos.nn.self_attention import MASKED
from topos.objects import Dim, Ob, R
from topos.para import Init, Para, glorot_uniform

__all__ = ["cross_attention"]


def cross_attention(
    sq: int | Dim,
    sk: int | Dim,
    d: int,
    heads: int,
    *,
    head_dim: int | None = None,
    d_memory: int | None = None,
    bias: bool = True,
    scale: float | None = None,
    position_bias: bool = False,
    causal: bool = False,
    masks: bool = False,
    init: Init = glorot_uniform,
    name: str = "cross",
) -> Para:
    """Attention of ``R(sq, d)`` queries over an ``R(sk, d_memory)`` memory.

    Paths ``name.q.w: R(d, heads * head_dim)``, ``name.k.w``, ``name.v.w:
    R(d_memory, heads * head_dim)``, ``name.o.w: R(heads * head_dim, d)`` (and
    ``name.*.b`` with ``bias``).

    >>> t5_like = cross_attention(3, 5, 8, 2, bias=False, scale=1.0, position_bias=True)
    >>> t5_like.dom
    R(3, 8) * R(5, 8) * R(2, 3, 5)

    Args:
        sq: the number of queries.
        sk: the length of the memory.
        d: the queries' width (and the output's).
        heads: the number of heads.
        head_dim: the width of a head (default ``d // heads``).
        d_memory: the memory's width (default ``d``).
        bias: whether the four projections have biases.
        scale: the factor of the scores (default ``1/√head_dim``).
        position_bias: whether an input ``R(heads, sq, sk)`` is added to the scores.
        causal: whether query ``i`` sees memory positions ``j <= i`` only (``sq == sk``).
        masks: whether two inputs ``R(sq)`` and ``R(sk)`` mark the real positions.
        init: the initialiser of the projections.
        name: the layer's name.

    Returns:
        A Para ``R(sq, d) * R(sk, d_memory) [* R(heads, sq, sk)] [* (R(sq) * R(sk))] -> R(sq, d)``.
    """
    if head_dim is None and d % heads:
        raise ValueError(f"cross_attention: d = {d} is not divisible by heads = {heads}")
    dh = d // heads if head_dim is None else head_dim
    dm = d if d_memory is None else d_memory
    _dims("cross_attention", sq=sq, sk=sk, d=d, heads=heads, head_dim=dh, d_memory=dm)
    if causal and sq != sk:
        raise ValueError(f"cross_attention: causal needs sq == sk, got {sq!r} and {sk!r}")
    x, m, qs, ks = R(sq, d), R(sk, dm), R(sq, heads, dh), R(sk, heads, dh)
    a = R(heads, sq, sk)

    def project(which: str, din: int, n: int | Dim, out: R) -> Para:
        lin = linear(din, heads * dh, lead=(n,), bias=bias, init=init, name=which)
        return lin >> P.reshape(R(n, heads * dh), *out.shape)

    factor = 1.0 / math.sqrt(dh) if scale is None else float(scale)
    raw: Para = (project("q", d, sq, qs) * project("k", dm, sk, ks)) >> P.einsum(
        "shd,thd->hst", qs, ks
    )
    if factor != 1.0:
        raw = raw >> P.scale(a, factor)
    qm, km = R(sq), R(sk)
    base: Ob = x * m * a if position_bias else x * m
    inp: Ob = base * (qm * km) if masks else base
    to_base: Arrow = fst(base, qm * km) if masks else Id(base)
    to_pair: Arrow = fst(x * m, a) if position_bias else Id(x * m)
    chooser: Para = (raw * Id(a)) >> P.add(a, a) if position_bias else raw
    if causal:
        chooser = chooser >> P.causal_mask(a, MASKED)
    if masks:
        both = P.einsum("s,t->st", qm, km)
        hide = pair(Id(R(sq, sk) * a), discard(R(sq, sk) * a) >> P.full(R(), MASKED))
        where = swap(a, R(sq, sk)) >> hide >> P.where(R(sq, sk), a, R())
        chooser = (chooser * both) >> where
    choose = grouped("choose", chooser >> P.softmax(a, -1), prefix=False)
    mix = P.einsum("hst,thd->shd", a, ks)
    values = to_base >> to_pair >> snd(x, m) >> project("v", dm, sk, ks)
    out = copy(inp) >> ((choose >> curry(mix)) * values) >> ev(qs, ks)
    merged = out >> P.reshape(qs, sq, heads * dh)
    if masks:  # a padded query's row is zero
        rows = snd(base, qm * km) >> fst(qm, km) >> P.reshape(qm, sq, 1)
        merged = copy(inp) >> (merged * rows) >> P.mul(R(sq, heads * dh), R(sq, 1))
    o = linear(heads * dh, d, lead=(sq,), bias=bias, init=init, name="o")
    return grouped(name, merged >> o)
