"""Configurable transformer blocks and language models: GPT-2, Llama and GPT-NeoX in one vocabulary.

``block`` is a residual block whose every part is an option: the normalisation
(layer norm or RMSNorm), the attention (heads, key/value heads, head width,
biases, RoPE), the MLP (plain or gated) and the wiring (sequential pre-norm,
``x + attn(n1(x))`` then ``+ mlp(n2(·))``, or GPT-NeoX's parallel form
``x + attn(n1(x)) + mlp(n2(x))``). ``language_model`` stacks ``layers`` of them
with ``repeat`` between a token embedding (plus learned positions, or none when
RoPE carries the positions) and a final norm and logits head, optionally tied to
the embedding (a reparametrisation along ``transpose``: ``head.w = embed.tableᵀ``).

>>> from topos import R
>>> lm = language_model(50, 8, 32, 4, 2, kv_heads=2, positional="rope", norm="rms",
...                     activation="swiglu", bias=False, mlp_hidden=64)
>>> lm.dom, lm.cod
(Fin(50, 8), R(8, 50))
>>> [p for p in lm.parameters() if p.startswith("blocks.")][:4]
['blocks.ln1.scale', 'blocks.attn.q.w', 'blocks.attn.k.w', 'blocks.attn.v.w']
>>> tied = language_model(50, 8, 32, 4, 2, tie=True)
>>> untied = language_model(50, 8, 32, 4, 2, head_bias=False)
>>> "head.w" in tied.parameters(), untied.num_params() - tied.num_params()   # 32 * 50
(False, 1600)
"""

from __future__ import annotations

from topos.arrows import Arrow, Id, copy, fst, snd
from topos.nn import norms
from topos.nn import primitives as P
from topos.nn.feedforward import feedforward
from topos.nn.layers import SMALL, _check_name, _dims, embedding, grouped, linear
from topos.nn.layers import positional as learned_positions
from topos.nn.self_attention import self_attention
from topos.objects import R
from topos.para import Init, Para, repeat

__all__ = ["POSITIONAL", "block", "language_model"]

#: The positional schemes ``language_model`` knows.
POSITIONAL = ("learned", "rope", "none")


def block(
    seq: int,
    d: int,
    heads: int,
    *,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp_hidden: int | None = None,
    causal: bool = True,
    bias: bool = True,
    norm_kind: str = "layer",
    eps: float = 1e-5,
    activation: str = "gelu",
    rope: bool = False,
    rope_dims: int | None = None,
    rope_base: float = 10_000.0,
    parallel: bool = False,
    padding_mask: bool = False,
    init: Init = SMALL,
    name: str = "block",
) -> Para:
    """A residual transformer block on ``R(seq, d)``; paths ``ln1``, ``attn``, ``ln2``, ``mlp``.

    With ``padding_mask`` the block maps ``R(seq, d) * R(seq)`` to itself (the
    mask passes through, so blocks ``repeat``).

    >>> blk = block(8, 16, 2, norm_kind="rms", activation="geglu", bias=False)
    >>> list(blk.parameters())[:5]
    ['ln1.scale', 'attn.q.w', 'attn.k.w', 'attn.v.w', 'attn.o.w']
    >>> list(blk.parameters())[5:]
    ['ln2.scale', 'mlp.gate.w', 'mlp.up.w', 'mlp.down.w']
    >>> block(8, 16, 2, padding_mask=True).cod
    R(8, 16) * R(8)

    Args:
        seq: the sequence length.
        d: the model width.
        heads: the number of query heads.
        kv_heads: the number of key/value heads (default ``heads``).
        head_dim: the width of a head (default ``d // heads``).
        mlp_hidden: the MLP's hidden width (default ``4 * d``).
        causal: whether attention is causal.
        bias: whether projections have biases.
        norm_kind: ``"layer"`` or ``"rms"``.
        eps: the normalisation's constant.
        activation: the MLP's nonlinearity, one of ``topos.nn.feedforward.FEEDFORWARDS``.
        rope: whether attention uses rotary embeddings.
        rope_dims: how many entries of each head RoPE rotates (default all).
        rope_base: the RoPE maximal wavelength.
        parallel: GPT-NeoX's parallel attention and MLP.
        padding_mask: whether the block reads (and passes on) a padding mask.
        init: the initialiser of the weights.
        name: the group's name (paths are not prefixed by it).

    Returns:
        A Para ``R(seq, d) -> R(seq, d)``, or ``R(seq, d) * R(seq) -> R(seq, d) * R(seq)``.
    """
    _check_name("block", name)
    _dims("block", seq=seq, d=d)
    x, m = R(seq, d), R(seq)
    attn = self_attention(
        seq, d, heads, kv_heads=kv_heads, head_dim=head_dim, causal=causal, bias=bias,
        rope=rope, rope_dims=rope_dims, rope_base=rope_base, padding_mask=padding_mask,
        init=init, name="attn",
    )  # fmt: skip
    hidden = 4 * d if mlp_hidden is None else mlp_hidden
    ffn = feedforward(d, hidden, lead=(seq,), activation=activation, bias=bias, init=init)
    n1 = norms.norm(norm_kind, d, lead=(seq,), eps=eps, name="ln1")
    n2 = norms.norm(norm_kind, d, lead=(seq,), eps=eps, name="ln2")
    inp = x * m if padding_mask else x
    proj: Arrow = fst(x, m) if padding_mask else Id(x)
    attn_part = ((n1 * Id(m)) if padding_mask else n1) >> attn
    mlp_part = n2 >> ffn
    add = P.add(x, x)
    if parallel:
        both = copy(inp) >> (attn_part * (proj >> mlp_part)) >> add
        body = copy(inp) >> (proj * both) >> add
    else:
        body = copy(inp) >> (proj * attn_part) >> add
        body = body >> copy(x) >> (Id(x) * mlp_part) >> add
    if padding_mask:
        body = copy(inp) >> (body * snd(x, m))
    return grouped(name, body, prefix=False)


def language_model(
    vocab: int,
    seq: int,
    d: int,
    heads: int,
    layers: int,
    *,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp_hidden: int | None = None,
    positional: str = "learned",
    norm: str = "layer",
    eps: float = 1e-5,
    final_eps: float | None = None,
    activation: str = "gelu",
    bias: bool = True,
    head_bias: bool | None = None,
    tie: bool = False,
    parallel: bool = False,
    rope_dims: int | None = None,
    rope_base: float = 10_000.0,
    padding_mask: bool = False,
    init: Init = SMALL,
) -> Para:
    """A decoder-only language model ``Fin(vocab, seq) -> R(seq, vocab)``, every part an option.

    Paths: ``embed.table`` (and ``pos.table`` with ``positional="learned"``),
    ``blocks.*`` stacked over ``layers``, ``ln_f.*``, ``head.w`` (unless ``tie``)
    and ``head.b`` (when ``head_bias``; default: ``bias and not tie``). With
    ``padding_mask`` the input is ``Fin(vocab, seq) * R(seq)``.

    >>> gpt = language_model(50, 8, 32, 4, 2, tie=True)
    >>> list(gpt.parameters())[:2], list(gpt.parameters())[-2:]
    (['embed.table', 'pos.table'], ['ln_f.scale', 'ln_f.bias'])

    Args:
        vocab: the number of tokens.
        seq: the sequence length.
        d: the model width.
        heads: query heads per block.
        layers: the number of blocks.
        kv_heads: key/value heads (GQA/MQA; default ``heads``).
        head_dim: the width of a head (default ``d // heads``).
        mlp_hidden: the MLP's hidden width (default ``4 * d``).
        positional: ``"learned"`` (a table added), ``"rope"`` or ``"none"``.
        norm: ``"layer"`` or ``"rms"``.
        eps: the normalisations' constant.
        final_eps: the final norm's constant (default ``eps``).
        activation: the MLP's nonlinearity (see ``block``).
        bias: whether the blocks' projections have biases.
        head_bias: whether the logits head has a bias.
        tie: whether ``head.w`` is the transposed embedding table.
        parallel: GPT-NeoX's parallel blocks.
        rope_dims: how many entries of each head RoPE rotates.
        rope_base: the RoPE maximal wavelength.
        padding_mask: whether a second input ``R(seq)`` marks the real tokens.
        init: the initialiser of weights, embeddings and head.

    Returns:
        A Para ``Fin(vocab, seq) -> R(seq, vocab)`` of logits.
    """
    if positional not in POSITIONAL:
        raise ValueError(
            f"language_model: positional must be one of {POSITIONAL}, got {positional!r}"
        )
    _dims("language_model", vocab=vocab, seq=seq, d=d, layers=layers)
    blk = block(
        seq, d, heads, kv_heads=kv_heads, head_dim=head_dim, mlp_hidden=mlp_hidden,
        bias=bias, norm_kind=norm, eps=eps, activation=activation,
        rope=positional == "rope", rope_dims=rope_dims, rope_base=rope_base,
        parallel=parallel, padding_mask=padding_mask, init=init,
    )  # fmt: skip
    x, m = R(seq, d), R(seq)
    embed: Para = embedding(vocab, d, lead=(seq,), init=init, name="embed")
    if positional == "learned":
        embed = embed >> learned_positions(seq, d, init=init, name="pos")
    stack = repeat(blk, layers).named("blocks")
    if padding_mask:
        body = (embed * Id(m)) >> stack >> fst(x, m)
    else:
        body = embed >> stack
    with_bias = (bias and not tie) if head_bias is None else head_bias
    last = eps if final_eps is None else final_eps
    final = norms.norm(norm, d, lead=(seq,), eps=last, name="ln_f")
    out = body >> final >> linear(d, vocab, lead=(seq,), bias=with_bias, init=init, name="head")
    if tie:
        out = out.tie("embed.table", "head.w", via=P.transpose(R(vocab, d), (1, 0)))
    return out
