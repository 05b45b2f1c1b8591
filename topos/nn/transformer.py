"""Attention as choose ; ev, and the decoder-only transformer built from it.

Self-attention is higher order: the input *chooses* a linear map on sequences and
``ev`` applies it. For a sequence ``x: R(seq, d)``,

- ``choose(x) = softmax(mask(q(x) k(x)ᵀ / √d_head))``, the attention pattern ``A``;
- ``curry(mix): A ↦ (v ↦ A v)`` turns the pattern into an element of the
  exponential ``V ** V`` (``V`` the value sequences): the mixing map;
- ``ev`` applies it to the values ``v(x)``:

    attention = copy ; (choose ; curry(mix)) * v ; ev ; o

Multi-head attention is the product of ``heads`` such maps. The heads live on an
array axis, ``R(seq, heads, d_head) ≅ R(seq, d_head) ^ heads``, and the mixing map
of the product is the product of the mixing maps (one batched ``einsum``), so the
compiled program is the one a hand-written model runs; ``multi_head`` builds the
literal product of single-head attentions and the tests check the two agree.

>>> from topos.analysis import analyze
>>> attn = attention(8, 16, heads=4, causal=True)
>>> attn.dom, attn.cod, list(attn.parameters())[:2], len(attn.parameters())
(R(8, 16), R(8, 16), ['attn.q.w', 'attn.q.b'], 8)
>>> report = analyze(attn)
>>> report.order, report.lives_in
('higher', 'topos completion')
>>> print(report.witnesses[0])
order: ev applies a function that depends on the input, in attn
"""

from __future__ import annotations

import math

from topos.arrows import copy, curry, ev, group
from topos.nn import primitives as P
from topos.nn.decoder import language_model
from topos.nn.layers import (
    SMALL,
    _check_name,
    _dims,
    embedding,
    grouped,
    layer_norm,
    linear,
    mlp,
    residual,
)
from topos.nn.layers import (
    positional as learned_positions,
)
from topos.nn.self_attention import self_attention
from topos.objects import Dim, R
from topos.para import Init, Para, glorot_uniform, repeat

__all__ = ["attention", "multi_head", "transformer", "transformer_block"]


def attention(
    seq: int | Dim,
    d: int,
    heads: int = 1,
    *,
    causal: bool = False,
    softmax: bool = True,
    bias: bool = True,
    init: Init = glorot_uniform,
    name: str = "attn",
    kv_heads: int | None = None,
    head_dim: int | None = None,
    rope: bool = False,
    padding_mask: bool = False,
) -> Para:
    """Multi-head self-attention on ``R(seq, d)``, built as choose ; ev.

    ``kv_heads`` (grouped- or multi-query attention), ``head_dim``, ``rope`` and
    ``padding_mask`` select ``topos.nn.self_attention.self_attention`` (same
    paths; see there); they need ``softmax=True``.

    Paths ``name.{q,k,v,o}.w: R(d, d)`` (``init``) and ``name.{q,k,v,o}.b: R(d)``
    (zeros; none with ``bias=False``). Scores are scaled by ``1/√(d/heads)``; with
    ``causal=True`` position ``i`` attends to ``j <= i`` only (the others get
    ``-1e9`` before the softmax). ``softmax=False`` is *linear attention*: the
    scaled scores mix the values directly (masked positions get 0), a polynomial
    of degree 3 in the input.

    >>> a = attention(4, 6, heads=2, causal=True, name="self")
    >>> [p for p in a.parameters()][::2]
    ['self.q.w', 'self.k.w', 'self.v.w', 'self.o.w']
    >>> a.arrow.name
    'self'
    """
    if kv_heads is not None or head_dim is not None or rope or padding_mask:
        if not softmax:
            raise ValueError("attention: kv_heads, head_dim, rope and padding_mask need softmax")
        return self_attention(
            seq, d, heads, kv_heads=kv_heads, head_dim=head_dim, causal=causal, bias=bias,
            rope=rope, padding_mask=padding_mask, init=init, name=name,
        )  # fmt: skip
    _dims("attention", seq=seq, d=d, heads=heads)
    if d % heads:
        raise ValueError(f"attention: d = {d} is not divisible by heads = {heads}")
    dh = d // heads
    x = R(seq, d)

    def project(which: str) -> Para:
        lin = linear(d, d, lead=(seq,), bias=bias, init=init, name=which)
        return lin if heads == 1 else lin >> P.reshape(x, seq, heads, dh)

    v = x if heads == 1 else R(seq, heads, dh)
    if heads == 1:
        scores = P.einsum("sd,td->st", x, x)
        mix = P.einsum("st,td->sd", scores.cod, x)
    else:
        scores = P.einsum("shd,thd->hst", v, v)
        mix = P.einsum("hst,thd->shd", scores.cod, v)
    a = scores.cod
    pattern = scores >> P.scale(a, 1.0 / math.sqrt(dh))
    if causal:
        pattern = pattern >> P.causal_mask(a, -1e9 if softmax else 0.0)
    if softmax:
        pattern = pattern >> P.softmax(a, -1)
    choose = grouped("choose", copy(x) >> (project("q") * project("k")) >> pattern, prefix=False)
    mixing = choose >> curry(group("mix", mix))
    out = copy(x) >> (mixing * project("v")) >> ev(v, v)
    if heads > 1:
        out = out >> P.reshape(v, seq, d)
    return grouped(name, out >> linear(d, d, lead=(seq,), bias=bias, init=init, name="o"))


def multi_head(heads: list[Para], *, name: str = "mha") -> Para:
    """The literal product of attention heads ``R(seq, d) -> R(seq, d_h)``, concatenated.

    ``copy ; (h_1 * (h_2 * ...)) ; concat``: each head reads the whole input.

    >>> h = [attention(4, 3, name=f"h{i}") for i in range(2)]
    >>> mh = multi_head(h)
    >>> mh.dom, mh.cod, list(mh.parameters())[0]
    (R(4, 3), R(4, 6), 'mha.h0.q.w')
    """
    if not heads:
        raise ValueError("multi_head: needs at least one head")
    x = heads[0].dom
    out = heads[-1]
    for head in reversed(heads[:-1]):
        if head.dom != x:
            raise TypeError(f"multi_head: heads read {x} and {head.dom}")
        both = copy(x) >> (head * out)
        a, b = head.cod, out.cod
        out = both >> P.concat(a, b, -1)
    return grouped(name, out)


def transformer_block(
    seq: int | Dim,
    d: int,
    heads: int,
    *,
    mlp_ratio: int = 4,
    causal: bool = True,
    init: Init = SMALL,
    name: str = "block",
) -> Para:
    """A pre-norm block ``x + attn(ln1(x))`` then ``x + mlp(ln2(x))`` on ``R(seq, d)``.

    Paths ``ln1.{scale,bias}``, ``attn.{q,k,v,o}.{w,b}``, ``ln2.{scale,bias}``,
    ``mlp.fc1.{w,b}`` (``d -> mlp_ratio * d``, GELU) and ``mlp.fc2.{w,b}``, weights
    drawn from ``init``; no prefix of its own (``repeat`` and ``transformer`` add
    ``blocks.``).

    >>> blk = transformer_block(8, 16, 2)
    >>> list(blk.parameters())[:3], len(blk.parameters())
    (['ln1.scale', 'ln1.bias', 'attn.q.w'], 16)
    """
    _check_name("transformer_block", name)
    attn = attention(seq, d, heads, causal=causal, init=init, name="attn")
    ffn = mlp([d, mlp_ratio * d, d], lead=(seq,), activation="gelu", init=init, name="mlp")
    body = residual(layer_norm(d, lead=(seq,), name="ln1") >> attn) >> residual(
        layer_norm(d, lead=(seq,), name="ln2") >> ffn
    )
    return grouped(name, body, prefix=False)


def transformer(
    vocab: int,
    seq: int | Dim,
    d: int,
    heads: int,
    layers: int,
    mlp_ratio: int = 4,
    *,
    bias: bool = True,
    tie: bool = False,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    positional: str = "learned",
    norm: str = "layer",
    activation: str = "gelu",
) -> Para:
    """A decoder-only transformer language model: ``Fin(vocab, seq) -> R(seq, vocab)`` logits.

    The options select ``topos.nn.decoder.language_model`` (same paths): ``bias``
    (of every projection), ``tie`` (``head.w`` the transposed ``embed.table``,
    no head bias), ``kv_heads``/``head_dim`` (grouped- or multi-query attention),
    ``positional`` (``"learned"``, ``"rope"``, ``"none"``), ``norm`` (``"layer"``,
    ``"rms"``), ``activation`` (``"gelu"``, ``"relu"``, ``"swiglu"``, ``"geglu"``).

    >>> llama_like = transformer(50, 8, 32, 4, 2, kv_heads=2, positional="rope", norm="rms",
    ...                          activation="swiglu", bias=False)
    >>> "pos.table" in llama_like.parameters(), llama_like.parameters()["blocks.attn.k.w"].ob
    (False, R(2, 32, 16))

    Token embedding ``embed.table: R(vocab, d)`` and positions ``pos.table: R(seq, d)``
    (normal(0.02)); ``layers`` causal pre-norm blocks, ``repeat``-ed (stacked
    parameters ``blocks.*`` with a leading axis ``layers``, one scan); final layer
    norm ``ln_f``; head ``head.w: R(d, vocab)`` (normal(0.02)), ``head.b`` (zeros).

    >>> lm = transformer(vocab=65, seq=16, d=32, heads=4, layers=2)
    >>> lm.dom, lm.cod
    (Fin(65, 16), R(16, 65))
    >>> ps = lm.parameters()
    >>> ps["blocks.attn.q.w"].ob, ps["head.w"].ob
    (R(2, 32, 32), R(32, 65))
    >>> list(ps)[:3]
    ['embed.table', 'pos.table', 'blocks.ln1.scale']
    >>> list(ps)[-4:]
    ['ln_f.scale', 'ln_f.bias', 'head.w', 'head.b']
    """
    _dims("transformer", vocab=vocab, seq=seq, d=d, heads=heads, layers=layers, mlp_ratio=mlp_ratio)
    options = (bias, tie, kv_heads, head_dim, positional, norm, activation)
    if options != (True, False, None, None, "learned", "layer", "gelu"):
        return language_model(
            vocab, seq, d, heads, layers, kv_heads=kv_heads, head_dim=head_dim,
            mlp_hidden=mlp_ratio * d, positional=positional, norm=norm, activation=activation,
            bias=bias, tie=tie,
        )  # fmt: skip
    block = transformer_block(seq, d, heads, mlp_ratio=mlp_ratio, causal=True)
    return (
        embedding(vocab, d, lead=(seq,), init=SMALL, name="embed")
        >> learned_positions(seq, d, init=SMALL, name="pos")
        >> repeat(block, layers).named("blocks")
        >> layer_norm(d, lead=(seq,), name="ln_f")
        >> linear(d, vocab, lead=(seq,), init=SMALL, name="head")
    )
