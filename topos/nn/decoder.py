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

**Dropout** (``dropout=p``) is explicit randomness: the training model takes a
key, a label of ``SEED = Fin(2**31)``, as a second input, and is a function of
it (the same key, the same masks). Each site draws its mask from its own seed,
``fold_in(key, salt)``: salt 1 the embedding, and in each block salt 1 the
attention branch and 2 the MLP branch, while salt 0 derives the key handed to
the next layer, so the ``repeat``-ed blocks stay one scan and every layer drops
independently. Feed a fresh key per training step (e.g. the step index).
Inference is selected when building: ``train=False`` gives the model without
dropout (no key input, the same parameters), so one parameter dict serves both.

>>> drop = language_model(50, 8, 32, 4, 2, dropout=0.1)
>>> drop.dom, drop.parameters() == language_model(50, 8, 32, 4, 2).parameters()
(Fin(50, 8) * Fin(2147483648), True)
>>> language_model(50, 8, 32, 4, 2, dropout=0.1, train=False) == language_model(50, 8, 32, 4, 2)
True
"""

from __future__ import annotations

from topos.arrows import Arrow, Id, copy, fst, snd
from topos.nn import norms
from topos.nn import primitives as P
from topos.nn.feedforward import SEED, feedforward
from topos.nn.feedforward import dropout as dropout_layer
from topos.nn.layers import SMALL, _check_name, _dims, embedding, grouped, linear
from topos.nn.layers import positional as learned_positions
from topos.nn.moe import experts
from topos.nn.self_attention import self_attention
from topos.objects import Dim, R
from topos.para import Init, Para, repeat

__all__ = ["POSITIONAL", "block", "language_model"]

#: The positional schemes ``language_model`` knows.
POSITIONAL = ("learned", "rope", "none")


def block(
    seq: int | Dim,
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
    dropout: float | None = None,
    train: bool = True,
    moe: tuple[int, int] | None = None,
    capacity_factor: float | None = None,
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
        dropout: the residual dropout rate (see ``language_model``); the block then
            maps ``R(seq, d) * SEED`` to itself (in training).
        train: with ``dropout``, whether to drop (``False``: the plain block).
        moe: ``(n_experts, k)``: the MLP is a routed top-``k`` mixture of SwiGLU
            experts (``topos.nn.moe.experts``, path ``moe``) instead of one MLP.
        capacity_factor: with ``moe``, the experts' capacity factor (``None``: dropless).
        init: the initialiser of the weights.
        name: the group's name (paths are not prefixed by it).

    Returns:
        A Para ``R(seq, d) -> R(seq, d)``, or ``R(seq, d) * R(seq) -> R(seq, d) * R(seq)``,
        or ``R(seq, d) * SEED -> R(seq, d) * SEED`` with ``dropout`` in training.
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
    ffn = (
        feedforward(d, hidden, lead=(seq,), activation=activation, bias=bias, init=init)
        if moe is None
        else experts(seq, d, hidden, n_experts=moe[0], k=moe[1],
                     capacity_factor=capacity_factor, init=init)  # fmt: skip
    )
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
    if dropout is not None and train:
        if padding_mask:
            raise ValueError("block: dropout with padding_mask is not supported")
        body = _dropout_body(x, attn_part, mlp_part, dropout, parallel)
    return grouped(name, body, prefix=False)


def _dropped(branch: Para, x: R, rate: float, salt: int) -> Para:
    """``x * SEED -> x``: ``branch`` then dropout keyed by ``fold_in(seed, salt)``."""
    return (branch * P.fold_in(SEED, salt)) >> dropout_layer(x.shape, rate)


def _dropout_body(x: R, attn_part: Para, mlp_part: Para, rate: float, parallel: bool) -> Para:
    """The block ``x * SEED -> x * SEED`` with dropout on both residual branches.

    Salts: 1 for the attention branch, 2 for the MLP's, 0 for the seed passed on
    (the next layer's), so every layer and site draws its own mask.
    """
    xk, add = x * SEED, P.add(x, x)
    keep = snd(x, SEED) >> P.fold_in(SEED, 0)
    attn_d = _dropped(attn_part, x, rate, 1)
    mlp_d = _dropped(mlp_part, x, rate, 2)
    if parallel:
        both = copy(xk) >> (attn_d * mlp_d) >> add
        return copy(xk) >> ((copy(xk) >> (fst(x, SEED) * both) >> add) * keep)
    attn_res = copy(xk) >> (fst(x, SEED) * attn_d) >> add  # x + drop(attn(n1(x)))
    mlp_res = copy(xk) >> (fst(x, SEED) * mlp_d) >> add  # the same seed, another salt
    return copy(xk) >> (attn_res * snd(x, SEED)) >> copy(xk) >> (mlp_res * keep)


def language_model(
    vocab: int,
    seq: int | Dim,
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
    dropout: float | None = None,
    train: bool = True,
    moe: tuple[int, int] | None = None,
    capacity_factor: float | None = None,
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
        dropout: the dropout rate, where GPT-2 puts it: on the embedding (after
            the positions are added) and on the output of every attention and MLP
            branch before it is added to the residual stream. The model then takes
            a key, ``Fin(vocab, seq) * SEED``; see "Dropout" above.
        train: with ``dropout``, ``True`` builds the training model (keyed);
            ``False`` the inference model, which is the model without dropout:
            no key, the same parameters, the same arrow.
        moe: ``(n_experts, k)``: every block's MLP is a routed mixture of experts
            (Mixtral; see ``block``).
        capacity_factor: with ``moe``, the experts' capacity factor (``None``: dropless).
        init: the initialiser of weights, embeddings and head.

    Returns:
        A Para ``Fin(vocab, seq) -> R(seq, vocab)`` of logits, or
        ``Fin(vocab, seq) * SEED -> R(seq, vocab)`` with ``dropout`` in training.
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
        dropout=dropout if train else None, moe=moe, capacity_factor=capacity_factor,
    )  # fmt: skip
    x, m = R(seq, d), R(seq)
    embed: Para = embedding(vocab, d, lead=(seq,), init=init, name="embed")
    if positional == "learned":
        embed = embed >> learned_positions(seq, d, init=init, name="pos")
    stack = repeat(blk, layers).named("blocks")
    if dropout is not None and train:
        if padding_mask:
            raise ValueError("language_model: dropout with padding_mask is not supported")
        keyed = copy(x * SEED) >> (
            _dropped(Para.lift(Id(x)), x, dropout, 1) * (snd(x, SEED) >> P.fold_in(SEED, 0))
        )
        body = (embed * Id(SEED)) >> keyed >> stack >> fst(x, SEED)
    elif padding_mask:
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
