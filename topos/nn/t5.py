"""Encoder–decoders, T5-style: relative position buckets, RMS norm, no biases, cross-attention.

T5 (Raffel et al. 2020) is a stack of encoder blocks over the source and a stack
of decoder blocks over the target, the decoder reading the encoder's output
through cross-attention (``topos.nn.cross_attention``):

    encoder block: x ↦ x + attn(n1(x), bias_enc);  x ↦ x + ffn(n2(x))
    decoder block: y ↦ y + causal_attn(n1(y), bias_dec);  y ↦ y + cross(n2(y), memory);
                   y ↦ y + ffn(n3(y))

The norms are RMS norms without bias (``eps = 1e-6``), no projection has a bias,
the scores are not scaled by ``1/√d_kv``, and positions enter only as a learned
scalar per head and *bucket* of the distance ``j - i``, added to the scores
(``relative_buckets``: exact for small distances, logarithmic up to
``max_distance``; the encoder's buckets are bidirectional, the decoder's causal).
The bias is computed once per stack, by the first layer's table, and reused by
every layer, so it travels with the blocks through the ``repeat``. The logits
head is the shared embedding transposed, after scaling by ``d^-1/2``
(``tie=True``, T5 v1.0), or its own matrix (``tie=False``, T5 v1.1).

Laws (doctests): ``t5("small")`` has the published 60,506,624 parameters, split as
the shared embedding, the encoder and the decoder; one arrow
``Fin(V, src) * Fin(V, tgt) -> R(tgt, V)``; higher order (attention).

>>> m = t5("small", src=16, tgt=8)
>>> m.dom, m.cod
(Fin(32128, 16) * Fin(32128, 8), R(8, 32128))
>>> m.num_params(), [count(m, part) for part in ("shared", "encoder", "decoder")]
(60506624, [16449536, 18881280, 25175808])
>>> tiny = encoder_decoder(40, 6, 5, 16, 2, 8, 32, layers=1, tie=False)
>>> sorted(p for p in tiny.parameters() if ".blocks." not in p)  # doctest: +NORMALIZE_WHITESPACE
['decoder.ln_f.scale', 'decoder.rel_bias', 'encoder.ln_f.scale', 'encoder.rel_bias',
 'head.w', 'shared.table']
"""

from __future__ import annotations

from topos.arrows import Id, copy, discard, fst, swap
from topos.nn import primitives as P
from topos.nn.cross_attention import cross_attention
from topos.nn.feedforward import feedforward
from topos.nn.layers import STANDARD, _dims, embedding, grouped, linear, weight
from topos.nn.moe import _pick
from topos.nn.norms import rms_norm
from topos.objects import Dim, Fin, Ob, R
from topos.para import Init, Para, normal, repeat

__all__ = [
    "T5", "count", "decoder", "encoder", "encoder_decoder", "halves", "position_bias", "t5",
]  # fmt: skip

#: Released T5 sizes: name -> (d_model, d_kv, heads, d_ff, layers); vocabulary 32128.
T5 = {
    "small": (512, 64, 8, 2048, 6),
    "base": (768, 64, 12, 3072, 12),
}

_EPS = 1e-6
#: ``normal(0.05)``: the default initialiser of the projections.
T5_INIT = normal(0.05)


def count(model: Para, prefix: str) -> int:
    """The number of parameters whose path starts with ``prefix.`` (or is ``prefix``).

    >>> count(t5("small", src=4, tgt=4), "shared")
    16449536
    """
    return sum(
        p.ob.size
        for path, p in model.parameters().items()
        if (path == prefix or path.startswith(prefix + ".")) and isinstance(p.ob, R)
    )


def position_bias(
    rows: int | Dim,
    cols: int | Dim,
    heads: int,
    *,
    bidirectional: bool,
    buckets: int = 32,
    max_distance: int = 128,
    init: Init = STANDARD,
    name: str = "rel_bias",
) -> Para:
    """T5's relative-position bias ``One -> R(heads, rows, cols)`` from a table ``name``.

    The table is ``R(buckets, heads)``.

    ``bias[h, i, j] = table[bucket(j - i), h]``: a ``gather`` of the learned
    table by the constant buckets, then heads first.

    >>> position_bias(3, 4, 2, bidirectional=True).cod
    R(2, 3, 4)
    """
    _dims("position_bias", heads=heads, buckets=buckets)
    table, labels = R(buckets, heads), Fin(buckets, rows, cols)
    lookup = (Id(table) * P.relative_buckets(rows, cols, buckets, max_distance,
                                             bidirectional=bidirectional))  # fmt: skip
    heads_first = P.transpose(R(rows, cols, heads), (2, 0, 1))
    return weight(name, table, init, lookup >> P.gather(table, labels) >> heads_first)


def _update(t: Ob, n: int, branch: Para) -> Para:
    """``t -> t`` (leaves ``n``, the first the residual stream): ``x ↦ x + branch(t)``."""
    leaves = list(range(1, n))
    x = _leaf(t, 0)
    res = copy(t) >> (_pick(t, 0) * branch) >> P.add(x, x)
    rest = _pick(t, *leaves)
    both = copy(t) >> (res * rest)
    return both >> _pick(both.cod, *range(n))


def _leaf(t: Ob, i: int) -> Ob:
    return _pick(t, i).cod


def _ffn(x: R, d: int, d_ff: int, init: Init) -> Para:
    n = rms_norm(d, lead=x.shape[:1], eps=_EPS, name="ln_ff")
    return n >> feedforward(d, d_ff, lead=x.shape[:1], activation="relu", bias=False,
                            init=init)  # fmt: skip


def _self(t: Ob, x: R, d: int, d_kv: int, heads: int, causal: bool, init: Init) -> Para:
    """``t -> R(s, d)``: self-attention of ``norm(x)`` with the bias (leaf 2 or 1 of ``t``)."""
    s = x.shape[0]
    a = R(heads, s, s)
    attn = cross_attention(s, s, d, heads, head_dim=d_kv, bias=False, scale=1.0,
                           position_bias=True, causal=causal, init=init, name="attn")  # fmt: skip
    norm = rms_norm(d, lead=(s,), eps=_EPS, name="ln_attn")
    bias_leaf = 2 if causal else 1
    return _pick(t, 0, bias_leaf) >> (norm * Id(a)) >> (copy(x) * Id(a)) >> attn


def encoder(
    vocab: int, src: int | Dim, d: int, d_kv: int, heads: int, d_ff: int, layers: int,
    *, init: Init = T5_INIT,
) -> Para:  # fmt: skip
    """The encoder stack ``R(src, d) -> R(src, d)`` (after the embedding); paths ``encoder.*``.

    >>> list(encoder(10, 4, 8, 4, 2, 16, 2).parameters())[:3]
    ['encoder.rel_bias', 'encoder.blocks.ln_attn.scale', 'encoder.blocks.attn.q.w']
    """
    _dims("encoder", vocab=vocab, src=src, d=d, layers=layers)
    x, a = R(src, d), R(heads, src, src)
    t = x * a
    block = _update(t, 2, _self(t, x, d, d_kv, heads, False, init))
    block = block >> _update(t, 2, _pick(t, 0) >> _ffn(x, d, d_ff, init))
    bias = position_bias(src, src, heads, bidirectional=True)
    with_bias = copy(x) >> (Id(x) * (discard(x) >> bias))
    stack = repeat(grouped("block", block, prefix=False), layers).named("blocks")
    final = rms_norm(d, lead=(src,), eps=_EPS, name="ln_f")
    return grouped("encoder", with_bias >> stack >> fst(x, a) >> final)


def decoder(
    tgt: int | Dim, src: int | Dim, d: int, d_kv: int, heads: int, d_ff: int, layers: int,
    *, init: Init = T5_INIT,
) -> Para:  # fmt: skip
    """The decoder stack ``R(tgt, d) * R(src, d) -> R(tgt, d)`` (target, memory); ``decoder.*``.

    >>> decoder(3, 5, 8, 4, 2, 16, 1).dom
    R(3, 8) * R(5, 8)
    """
    _dims("decoder", tgt=tgt, src=src, d=d, layers=layers)
    y, m, a = R(tgt, d), R(src, d), R(heads, tgt, tgt)
    t = y * m * a
    cross = cross_attention(tgt, src, d, heads, head_dim=d_kv, bias=False, scale=1.0,
                            init=init, name="cross")  # fmt: skip
    n2 = rms_norm(d, lead=(tgt,), eps=_EPS, name="ln_cross")
    block = _update(t, 3, _self(t, y, d, d_kv, heads, True, init))
    block = block >> _update(t, 3, _pick(t, 0, 1) >> (n2 * Id(m)) >> cross)
    block = block >> _update(t, 3, _pick(t, 0) >> _ffn(y, d, d_ff, init))
    bias = position_bias(tgt, tgt, heads, bidirectional=False)
    with_bias = copy(y * m) >> (Id(y * m) * (discard(y * m) >> bias))
    stack = repeat(grouped("block", block, prefix=False), layers).named("blocks")
    final = rms_norm(d, lead=(tgt,), eps=_EPS, name="ln_f")
    return grouped("decoder", with_bias >> stack >> _pick(t, 0) >> final)


def encoder_decoder(
    vocab: int,
    src: int | Dim,
    tgt: int | Dim,
    d: int,
    heads: int,
    d_kv: int,
    d_ff: int,
    *,
    layers: int,
    decoder_layers: int | None = None,
    tie: bool = True,
    init: Init = T5_INIT,
) -> Para:
    """A T5-style encoder–decoder ``Fin(vocab, src) * Fin(vocab, tgt) -> R(tgt, vocab)``.

    Paths ``shared.table`` (the embedding of both sides), ``encoder.*``,
    ``decoder.*``, and ``head.w`` unless ``tie`` (then the logits are
    ``d^-1/2 · y sharedᵀ``).

    >>> encoder_decoder(40, 6, 5, 16, 2, 8, 32, layers=1).cod
    R(5, 40)

    Args:
        vocab: the shared vocabulary.
        src: the source length.
        tgt: the target length.
        d: the model width.
        heads: attention heads.
        d_kv: the width of a head.
        d_ff: the feed-forward hidden width.
        layers: encoder blocks (and decoder blocks unless ``decoder_layers``).
        decoder_layers: decoder blocks.
        tie: whether the head is the shared embedding (scaled input, T5 v1.0).
        init: the initialiser of the weights.

    Returns:
        The model, a Para.
    """
    x = R(src, d)
    cfg = (vocab, src, tgt, d, heads, d_kv, d_ff, layers, decoder_layers, tie, init)
    encode, decode = _halves(*cfg, embed_name="dec_embed")
    body = (encode * Id(Fin(vocab, tgt))) >> swap(x, Fin(vocab, tgt)) >> decode
    out = body.tie("shared.table", "dec_embed.table")
    if tie:
        out = out.tie("shared.table", "head.w", via=P.transpose(R(vocab, d), (1, 0)))
    return out


def halves(
    vocab: int,
    src: int | Dim,
    tgt: int | Dim,
    d: int,
    heads: int,
    d_kv: int,
    d_ff: int,
    *,
    layers: int,
    decoder_layers: int | None = None,
    tie: bool = True,
    init: Init = T5_INIT,
) -> tuple[Para, Para]:
    """The two halves of ``encoder_decoder(...)``, with its parameter paths.

    ``encode: Fin(vocab, src) -> R(src, d)`` (``shared``, ``encoder.*``) and
    ``decode: Fin(vocab, tgt) * R(src, d) -> R(tgt, vocab)`` (``shared``,
    ``decoder.*``, ``head``): one parameter dict serves the model and both halves,
    and ``encode`` then ``decode`` is the model. ``backends.jax.decoding.seq2seq``
    decodes with them.

    >>> enc, dec = halves(40, 6, 5, 16, 2, 8, 32, layers=1)
    >>> enc.dom, enc.cod, dec.dom, dec.cod
    (Fin(40, 6), R(6, 16), Fin(40, 5) * R(6, 16), R(5, 40))
    """
    cfg = (vocab, src, tgt, d, heads, d_kv, d_ff, layers, decoder_layers, tie, init)
    encode, decode = _halves(*cfg, embed_name="shared")
    if tie:
        decode = decode.tie("shared.table", "head.w", via=P.transpose(R(vocab, d), (1, 0)))
    return encode, decode


def _halves(
    vocab: int, src: int | Dim, tgt: int | Dim, d: int, heads: int, d_kv: int, d_ff: int,
    layers: int, decoder_layers: int | None, tie: bool, init: Init, *, embed_name: str,
) -> tuple[Para, Para]:  # fmt: skip
    _dims("encoder_decoder", vocab=vocab, src=src, tgt=tgt, d=d, heads=heads, d_kv=d_kv)
    x, y = R(src, d), R(tgt, d)
    shared = embedding(vocab, d, lead=(src,), init=normal(1.0), name="shared")
    dec_embed = embedding(vocab, d, lead=(tgt,), init=normal(1.0), name=embed_name)
    enc = encoder(vocab, src, d, d_kv, heads, d_ff, layers, init=init)
    dec = decoder(tgt, src, d, d_kv, heads, d_ff, decoder_layers or layers, init=init)
    lin = linear(d, vocab, lead=(tgt,), bias=False, init=init, name="head")
    head: Para = P.scale(y, d**-0.5) >> lin if tie else lin
    return shared >> enc, (dec_embed * Id(x)) >> dec >> head


def t5(size: str = "small", *, src: int | Dim = 512, tgt: int | Dim = 512) -> Para:
    """The released T5 configuration ``size`` (``"small"``, ``"base"``), tied head, no weights.

    >>> t5("base", src=4, tgt=4).num_params()
    222903552

    Args:
        size: one of ``T5``.
        src: the source length.
        tgt: the target length.

    Returns:
        The encoder–decoder.
    """
    if size not in T5:
        raise ValueError(f"t5: unknown size {size!r}, expected one of {sorted(T5)}")
    d, d_kv, heads, d_ff, layers = T5[size]
    return encoder_decoder(32128, src, tgt, d, heads, d_kv, d_ff, layers=layers)
