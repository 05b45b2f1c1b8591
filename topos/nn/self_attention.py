"""Multi-, grouped- and multi-query self-attention, as choose ; ev, with RoPE and padding masks.

``heads`` query heads share ``kv_heads`` key/value heads (``heads % kv_heads == 0``):
``kv_heads == heads`` is multi-head attention, ``1 < kv_heads < heads`` grouped-query
attention (Ainslie et al. 2023), ``kv_heads == 1`` multi-query attention. The heads
live on array axes: queries ``R(seq, kv_heads, group, head_dim)`` with
``group = heads // kv_heads``, keys and values ``R(seq, kv_heads, head_dim)``.

As in ``topos.nn.attention``, the input *chooses* the attention pattern
``A = softmax(mask(q kᵀ / √head_dim))`` and ``curry(mix)`` turns it into the mixing
map ``v ↦ A v``, which ``ev`` applies to the values:

    attention = copy ; (choose ; curry(mix)) * v ; ev ; merge heads ; o

With ``padding_mask=True`` the input is ``R(seq, d) * R(seq)``: the second factor
is 1 at real tokens and 0 at padding, and keys at padding get score ``-1e9``
(a ``where``) before the softmax, so no query attends to them.

>>> from topos import R
>>> from topos.analysis import analyze
>>> gqa = self_attention(8, 32, 4, kv_heads=2, rope=True, bias=False)
>>> [(k, v.ob) for k, v in gqa.parameters().items()]
[('attn.q.w', R(32, 32)), ('attn.k.w', R(32, 16)), ('attn.v.w', R(32, 16)), ('attn.o.w', R(32, 32))]
>>> analyze(gqa).order
'higher'
>>> self_attention(8, 32, 4, padding_mask=True).dom
R(8, 32) * R(8)
"""

from __future__ import annotations

import math

from topos.arrows import Arrow, Id, copy, curry, discard, ev, fst, pair, swap
from topos.nn import primitives as P
from topos.nn.layers import _dims, grouped, linear
from topos.nn.rotary import rotary
from topos.objects import Dim, Ob, R
from topos.para import Init, Para, glorot_uniform

__all__ = ["MASKED", "self_attention"]

#: The score that masked positions get before the softmax.
MASKED = -1e9


def self_attention(
    seq: int | Dim,
    d: int,
    heads: int,
    *,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    causal: bool = True,
    bias: bool = True,
    rope: bool = False,
    rope_dims: int | None = None,
    rope_base: float = 10_000.0,
    padding_mask: bool = False,
    init: Init = glorot_uniform,
    name: str = "attn",
) -> Para:
    """Self-attention on ``R(seq, d)`` with ``heads`` query and ``kv_heads`` key/value heads.

    Paths ``name.q.w: R(d, heads * head_dim)``, ``name.k.w`` and ``name.v.w:
    R(d, kv_heads * head_dim)``, ``name.o.w: R(heads * head_dim, d)``, and their
    biases ``name.*.b`` when ``bias``. Head ``h`` of group ``g`` is column block
    ``g * (heads // kv_heads) + h`` of ``q.w`` (the layout of Penzai and Hugging Face).

    >>> mqa = self_attention(4, 16, 4, kv_heads=1, head_dim=8, causal=False)
    >>> mqa.parameters()["attn.k.w"].ob, mqa.parameters()["attn.o.w"].ob
    (R(16, 8), R(32, 16))

    Args:
        seq: the sequence length.
        d: the model width.
        heads: the number of query heads.
        kv_heads: the number of key/value heads (default ``heads``); divides ``heads``.
        head_dim: the width of one head (default ``d // heads``).
        causal: whether position ``i`` attends to ``j <= i`` only.
        bias: whether the four projections have biases.
        rope: whether queries and keys get rotary position embeddings.
        rope_dims: how many leading entries of each head RoPE rotates (default all).
        rope_base: the RoPE maximal wavelength.
        padding_mask: whether a second input ``R(seq)`` marks the real tokens.
        init: the initialiser of the projection weights.
        name: the layer's name.

    Returns:
        A Para ``R(seq, d) -> R(seq, d)`` (``R(seq, d) * R(seq) -> R(seq, d)`` with a mask).
    """
    kv = heads if kv_heads is None else kv_heads
    if head_dim is None and d % heads:
        raise ValueError(f"self_attention: d = {d} is not divisible by heads = {heads}")
    dh = d // heads if head_dim is None else head_dim
    _dims("self_attention", seq=seq, d=d, heads=heads, kv_heads=kv, head_dim=dh)
    if heads % kv:
        raise ValueError(f"self_attention: heads = {heads} is not a multiple of kv_heads = {kv}")
    g = heads // kv
    x = R(seq, d)
    qs, ks = R(seq, kv, g, dh), R(seq, kv, dh)

    def project(which: str, width: int, out: R) -> Para:
        lin = linear(d, width, lead=(seq,), bias=bias, init=init, name=which)
        moved = lin >> P.reshape(R(seq, width), *out.shape)
        if rope and which in ("q", "k"):  # positions rotate queries and keys, not values
            return moved >> rotary(out.shape, dims=rope_dims, base=rope_base)
        return moved

    scores = P.einsum("skgd,tkd->kgst", qs, ks)
    a = scores.cod
    assert isinstance(a, R)
    pattern: Arrow = scores >> P.scale(a, 1.0 / math.sqrt(dh))
    if causal:
        pattern = pattern >> P.causal_mask(a, MASKED)
    raw = copy(x) >> (project("q", heads * dh, qs) * project("k", kv * dh, ks)) >> pattern
    m = R(seq)
    if padding_mask:
        fill = pair(Id(m * a), discard(m * a) >> P.full(R(), MASKED))
        chooser = (raw * Id(m)) >> swap(a, m) >> fill >> P.where(m, a, R())
        values: Para | Arrow = fst(x, m) >> project("v", kv * dh, ks)
        inp: Ob = x * m
    else:
        chooser, values, inp = raw, project("v", kv * dh, ks), x
    choose = grouped("choose", chooser >> P.softmax(a, -1), prefix=False)
    mix = P.einsum("kgst,tkd->skgd", a, ks)
    out = copy(inp) >> ((choose >> curry(mix)) * values) >> ev(qs, ks)
    merged = out >> P.reshape(qs, seq, heads * dh)
    return grouped(
        name, merged >> linear(heads * dh, d, lead=(seq,), bias=bias, init=init, name="o")
    )
