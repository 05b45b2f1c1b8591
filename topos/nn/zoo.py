"""The architecture zoo: the paper's examples, built from ``topos.nn``, with their verdicts.

Each entry is a ``Para`` built only from the vocabulary (primitives, layers and the
categorical structure). ``table()`` runs ``analyze`` on every entry; the claims of
"The Topos of Transformer Networks" become rows you can check:

- ReLU / max networks (MLP, CNN, RNN unrolled, GCN with the adjacency global) are
  first-order piecewise-linear maps: they live in the PL pretopos;
- their GELU / tanh versions are first order but smooth: outside PL;
- the transformer and the hypernetwork are higher order: an ``ev`` applies a function
  chosen by the input, so they need exponentials (the topos completion);
- linear attention is higher order too, and polynomial of degree 3;
- the soft-gated mixture of experts is higher order: its gate chooses a linear map of
  the experts' outputs (an ``einsum`` summing over the experts, both factors
  input-dependent), as attention's rows choose a mixture of tokens;
- gating (SwiGLU) and normalisation (RMSNorm) multiply two input-dependent factors
  pointwise: order ``diagonal``, first order among smooth maps (see
  ``topos.analysis``);
- a Llama-style language model (RMSNorm, SwiGLU, grouped-query attention) is higher
  order, like the transformer: the verdict does not depend on how attention is spelt;
- routed top-2 experts (``topos.nn.moe``) are higher order like the soft mixture
  (the gates mix the chosen experts' outputs), and their router is a case split:
  ``top_k`` chooses a summand of the coproduct ``Fin(E)``, which ``analyze`` names
  in a ``coproduct`` witness.

>>> rows = {row.name: row for row in table(small=True)}
>>> rows["mlp (relu)"].lives_in, rows["transformer"].lives_in
('PL pretopos', 'topos completion')
>>> rows["linear attention"].cls, rows["linear attention"].degree
('polynomial', 3)
>>> [w.kind for w in rows["routed experts (top-2)"].report.witnesses]
['order', 'class', 'coproduct']

Real configurations, built without weights: their parameter counts are the
published ones (``PUBLISHED``).

>>> gpt2("small").num_params() == PUBLISHED["gpt2-small"] == 124_439_808
True
>>> all(preset(name).num_params() == n for name, n in PUBLISHED.items())
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from topos.analysis import Analysis, analyze
from topos.arrows import Id, copy, curry, ev
from topos.nn import primitives as P
from topos.nn.decoder import language_model
from topos.nn.feedforward import feedforward
from topos.nn.layers import conv, gcn, grouped, linear, max_pool, mlp, relu, residual, rnn, softmax
from topos.nn.layers import gelu as gelu_layer
from topos.nn.layers import tanh as tanh_layer
from topos.nn.moe import experts
from topos.nn.norms import rms_norm
from topos.nn.transformer import attention, transformer
from topos.nn.vit import vision_transformer
from topos.objects import Dim, R
from topos.para import Para

__all__ = [
    "ARCHITECTURES",
    "GPT2",
    "LLAMA",
    "MIXTRAL",
    "PUBLISHED",
    "VIT",
    "Row",
    "cnn",
    "gpt2",
    "hypernetwork",
    "llama",
    "mixtral",
    "mixture_of_experts",
    "preset",
    "resnet",
    "table",
    "vit",
]


def _act(kind: str, *shape: int) -> Para:
    return {"relu": relu, "gelu": gelu_layer, "tanh": tanh_layer}[kind](*shape)


def cnn(side: int = 8, channels: int = 8, classes: int = 10, activation: str = "relu") -> Para:
    """conv 3x3 -> activation -> 2x2 max-pool -> flatten -> linear, on ``R(side, side, 1)``.

    >>> cnn().dom, cnn().cod
    (R(8, 8, 1), R(10))
    """
    c = conv((side, side, 1), channels, (3, 3), name="conv1")
    pooled = max_pool((side, side, channels), (2, 2))
    flat = pooled.cod
    assert isinstance(flat, R)
    size = flat.size
    return (
        c
        >> _act(activation, side, side, channels)
        >> pooled
        >> P.reshape(flat, size)
        >> linear(size, classes, name="head")
    )


def resnet(side: int = 8, channels: int = 16, blocks: int = 3, classes: int = 10) -> Para:
    """A small ResNet on ``R(side, side, 1)``: a stem, residual conv blocks, max-pool, mean-pool.

    conv 3x3 -> relu, then ``blocks`` times ``x + conv(relu(conv(x)))`` -> relu,
    then a 2x2 max-pool, the mean over the positions (a linear map) and a linear
    head. Every box is linear or a ReLU/max, so the network is piecewise linear.
    With the defaults on 8x8 digits its region of an image has about 8,000 rows
    (``backends.jax.logic``).

    >>> net = resnet()
    >>> net.dom, net.cod, len(net.parameters())
    (R(8, 8, 1), R(10), 16)

    Args:
        side: the images' side, in pixels.
        channels: the channels of every convolution.
        blocks: how many residual blocks.
        classes: how many outputs.

    Returns:
        The network, a ``Para``; the parameters are ``stem.*``, ``block<k>.conv<j>.*``
        and ``head.*``.
    """
    shape = (side, side, channels)
    net = conv((side, side, 1), channels, (3, 3), name="stem") >> relu(*shape)
    for k in range(1, blocks + 1):
        body = conv(shape, channels, (3, 3), name="conv1") >> relu(*shape)
        body = body >> conv(shape, channels, (3, 3), name="conv2")
        net = net >> grouped(f"block{k}", residual(body)) >> relu(*shape)
    pooled = max_pool(shape, (2, 2))
    cells = pooled.cod
    assert isinstance(cells, R)
    positions = R(cells.shape[0] * cells.shape[1], channels)
    mean = P.reshape(cells, *positions.shape) >> P.reduce_mean(positions, 0)
    return net >> pooled >> mean >> linear(channels, classes, name="head")


def hypernetwork(d: int = 4, hidden: int = 16, activation: str = "relu") -> Para:
    """A network whose weight matrix is *produced from the input* by another network.

    ``x ↦ W(x) x`` with ``W = reshape ∘ mlp``: the input chooses the linear map
    (``curry`` of the matrix-vector product) and ``ev`` applies it.

    >>> hypernetwork().dom, hypernetwork().cod
    (R(4), R(4))
    """
    x, w = R(d), R(d, d)
    hyper = mlp([d, hidden, d * d], activation=activation, name="hyper")
    make_w = hyper >> P.reshape(R(d * d), d, d)
    apply_w = curry(P.einsum("ij,j->i", w, x))
    return copy(x) >> ((make_w >> apply_w) * Id(x)) >> ev(x, x)


def mixture_of_experts(d: int = 4, out: int = 3, experts: int = 2, hidden: int = 8) -> Para:
    """Soft-gated experts: ``Σ_k softmax(g(x))_k e_k(x)`` (Jacobs et al. 1991).

    >>> mixture_of_experts().dom, mixture_of_experts().cod
    (R(4), R(3))
    """
    x = R(d)
    stacked: Para | None = None
    for k in range(experts):
        e = mlp([d, hidden, out], name=f"expert{k}") >> P.reshape(R(out), 1, out)
        if stacked is None:
            stacked = e
        else:
            rows = stacked.cod
            assert isinstance(rows, R)
            stacked = (copy(x) >> (stacked * e)) >> P.concat(rows, R(1, out), axis=0)
    assert stacked is not None
    gate = linear(d, experts, name="gate") >> softmax(experts)
    mixed = P.einsum("k,ko->o", R(experts), R(experts, out))
    return copy(x) >> (gate * stacked) >> mixed


def _routed_experts() -> Para:
    return experts(6, 8, 16, n_experts=4, k=2, capacity_factor=1.25)


def _linear_attention() -> Para:
    return attention(8, 4, 4, softmax=False, bias=False)


def _gcn(activation: str) -> Para:
    first = gcn(5, 3, 8, activation=activation, name="g1")
    return first >> gcn(5, 8, 2, activation=None, name="g2")


#: name -> builder; ``small=True`` asks for the quick-to-analyse size.
ARCHITECTURES: dict[str, Callable[[bool], Para]] = {
    "mlp (relu)": lambda s: mlp([4, 8, 2] if s else [64, 128, 10]),
    "mlp (tanh)": lambda s: mlp([4, 8, 2] if s else [64, 128, 10], activation="tanh"),
    "cnn (relu)": lambda s: cnn(),
    "cnn (gelu)": lambda s: cnn(activation="gelu"),
    "rnn (relu)": lambda s: rnn(3, 8, 5, activation="relu"),
    "rnn (tanh)": lambda s: rnn(3, 8, 5, activation="tanh"),
    "gcn (relu)": lambda s: _gcn("relu"),
    "gcn (tanh)": lambda s: _gcn("tanh"),
    "transformer": lambda s: transformer(vocab=65, seq=16 if s else 64, d=32, heads=4, layers=2),
    "linear attention": lambda s: _linear_attention(),
    "hypernetwork": lambda s: hypernetwork(),
    "mixture of experts": lambda s: mixture_of_experts(),
    "swiglu mlp": lambda s: feedforward(8, 24, activation="swiglu", bias=False),
    "rmsnorm": lambda s: rms_norm(8),
    "routed experts (top-2)": lambda s: _routed_experts(),
    "llama-style lm": lambda s: (
        llama(17, 8, 16, 2, 1, 32, kv_heads=1) if s else preset("tinyllama-1.1b")
    ),
}


@dataclass(frozen=True)
class Row:
    """One line of the zoo table."""

    name: str
    model: Para
    parameters: int
    report: Analysis

    @property
    def cls(self) -> str:
        return self.report.cls

    @property
    def order(self) -> str:
        return self.report.order

    @property
    def lives_in(self) -> str:
        return self.report.lives_in

    @property
    def degree(self) -> int | None:
        return self.report.degree

    @property
    def witness(self) -> str:
        if not self.report.witnesses:
            return ""
        w = self.report.witnesses[0]
        return f"{w.kind}: {w.arrow} in {w.where or 'the top level'}"


def _count(p: Para) -> int:
    return sum(q.ob.size for q in p.parameters().values() if isinstance(q.ob, R))


def table(small: bool = False) -> list[Row]:
    """Build and analyse every architecture of the zoo."""
    rows = []
    for name, build in ARCHITECTURES.items():
        model = build(small)
        rows.append(Row(name, model, _count(model), analyze(model)))
    return rows


# -- real configurations -------------------------------------------------------------------

#: GPT-2 (Radford et al. 2019): name -> (d, layers, heads); vocab 50257, context 1024.
GPT2 = {
    "small": (768, 12, 12),
    "medium": (1024, 24, 16),
    "large": (1280, 36, 20),
    "xl": (1600, 48, 25),
}

#: Llama-style models: name -> (vocab, seq, d, heads, kv_heads, layers, hidden, rope_base).
LLAMA: dict[str, tuple[int, int, int, int, int, int, int, float]] = {
    "tinyllama-1.1b": (32000, 2048, 2048, 32, 4, 22, 5632, 10_000.0),
    "llama2-7b": (32000, 4096, 4096, 32, 32, 32, 11008, 10_000.0),
    "llama2-13b": (32000, 4096, 5120, 40, 40, 40, 13824, 10_000.0),
    "llama3-8b": (128256, 8192, 4096, 32, 8, 32, 14336, 500_000.0),
}

#: ViT (Dosovitskiy et al. 2021), 224x224x3 images, 1000 classes: name -> (patch, d, layers, heads).
VIT = {"b/16": (16, 768, 12, 12), "l/16": (16, 1024, 24, 16)}

#: Published parameter counts (Hugging Face ``num_parameters()`` of the released checkpoints;
#: GPT-2's logits head is tied to its token embedding).
PUBLISHED = {
    "gpt2-small": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
    "tinyllama-1.1b": 1_100_048_384,
    "llama2-7b": 6_738_415_616,
    "llama2-13b": 13_015_864_320,
    "llama3-8b": 8_030_261_248,
    "vit-b/16": 86_567_656,
    "vit-l/16": 304_326_632,
    "mixtral-8x7b": 46_702_792_704,
}

#: Mixtral (Jiang et al. 2024): name -> (vocab, seq, d, heads, kv_heads, layers, hidden,
#: experts, k, rope_base); the published ``config.json`` of Mixtral-8x7B-v0.1.
MIXTRAL: dict[str, tuple[int, int, int, int, int, int, int, int, int, float]] = {
    "mixtral-8x7b": (32000, 32768, 4096, 32, 8, 32, 14336, 8, 2, 1_000_000.0),
}


def gpt2(size: str = "small", *, seq: int = 1024, vocab: int = 50257) -> Para:
    """GPT-2: learned positions, pre-norm GELU blocks with biases, the head tied to the embedding.

    >>> m = gpt2("medium", seq=16)
    >>> m.dom, m.parameters()["blocks.attn.q.w"].ob
    (Fin(50257, 16), R(24, 1024, 1024))

    Args:
        size: one of ``GPT2`` (``"small"``, ``"medium"``, ``"large"``, ``"xl"``).
        seq: the context length (1024 in the released models).
        vocab: the vocabulary size.

    Returns:
        The language model ``Fin(vocab, seq) -> R(seq, vocab)``; no weights are drawn.
    """
    if size not in GPT2:
        raise ValueError(f"gpt2: unknown size {size!r}, expected one of {sorted(GPT2)}")
    d, layers, heads = GPT2[size]
    return language_model(vocab, seq, d, heads, layers, tie=True, activation="gelu")


def llama(
    vocab: int,
    seq: int | Dim,
    d: int,
    heads: int,
    layers: int,
    hidden: int,
    *,
    kv_heads: int | None = None,
    rope_base: float = 10_000.0,
    eps: float = 1e-5,
    tie: bool = False,
) -> Para:
    """A Llama-style model: RMSNorm, RoPE, SwiGLU, grouped-query attention, no biases.

    >>> m = llama(50, 8, 32, 4, 2, 64, kv_heads=2)
    >>> m.dom, m.cod, m.parameters()["blocks.attn.k.w"].ob
    (Fin(50, 8), R(8, 50), R(2, 32, 16))

    Args:
        vocab: the vocabulary size.
        seq: the context length.
        d: the model width.
        heads: query heads.
        layers: the number of blocks.
        hidden: the SwiGLU hidden width.
        kv_heads: key/value heads (default ``heads``).
        rope_base: the RoPE maximal wavelength.
        eps: the RMSNorm constant.
        tie: whether the logits head is the transposed embedding.

    Returns:
        The language model ``Fin(vocab, seq) -> R(seq, vocab)``.
    """
    return language_model(
        vocab, seq, d, heads, layers, kv_heads=kv_heads, mlp_hidden=hidden, positional="rope",
        norm="rms", eps=eps, activation="swiglu", bias=False, tie=tie, rope_base=rope_base,
    )  # fmt: skip


def mixtral(
    vocab: int,
    seq: int | Dim,
    d: int,
    heads: int,
    kv_heads: int,
    layers: int,
    hidden: int,
    n_experts: int,
    k: int,
    rope_base: float = 1_000_000.0,
    *,
    capacity_factor: float | None = None,
    eps: float = 1e-5,
) -> Para:
    """A Mixtral-style model: Llama's blocks with a routed top-``k`` mixture of SwiGLU experts.

    >>> m = mixtral(50, 8, 32, 4, 2, 2, 64, 4, 2)
    >>> m.parameters()["blocks.moe.experts.up"].ob, m.parameters()["blocks.moe.router.w"].ob
    (R(2, 4, 32, 64), R(2, 32, 4))

    Args:
        vocab: the vocabulary size.
        seq: the context length.
        d: the model width.
        heads: query heads.
        kv_heads: key/value heads.
        layers: the number of blocks.
        hidden: each expert's SwiGLU hidden width.
        n_experts: experts per block.
        k: experts per token.
        rope_base: the RoPE maximal wavelength.
        capacity_factor: the experts' capacity factor (``None``: dropless, as released).
        eps: the RMSNorm constant.

    Returns:
        The language model ``Fin(vocab, seq) -> R(seq, vocab)``.
    """
    return language_model(
        vocab, seq, d, heads, layers, kv_heads=kv_heads, mlp_hidden=hidden, positional="rope",
        norm="rms", eps=eps, activation="swiglu", bias=False, rope_base=rope_base,
        moe=(n_experts, k), capacity_factor=capacity_factor,
    )  # fmt: skip


def vit(size: str = "b/16", *, image: int = 224, classes: int = 1000) -> Para:
    """ViT-B/16 or ViT-L/16 on ``R(image, image, 3)``.

    >>> vit("b/16", image=32, classes=10).cod
    R(10)

    Args:
        size: one of ``VIT``.
        image: the side of the (square, RGB) image.
        classes: the number of classes.

    Returns:
        The classifier ``R(image, image, 3) -> R(classes)``.
    """
    if size not in VIT:
        raise ValueError(f"vit: unknown size {size!r}, expected one of {sorted(VIT)}")
    patch, d, layers, heads = VIT[size]
    return vision_transformer((image, image, 3), patch, d, heads, layers, classes)


def preset(name: str) -> Para:
    """The released configuration ``name`` (a key of ``PUBLISHED``), without weights.

    >>> preset("vit-b/16").num_params()
    86567656

    Args:
        name: ``"gpt2-small"``, ``"llama2-7b"``, ``"vit-b/16"``, ... (see ``PUBLISHED``).

    Returns:
        The model as a Para.
    """
    family, _, size = name.partition("-")
    if family == "gpt2":
        return gpt2(size)
    if family == "vit":
        return vit(size)
    if name in MIXTRAL:
        return mixtral(*MIXTRAL[name])
    if name in LLAMA:
        vocab, seq, d, heads, kv, layers, hidden, base = LLAMA[name]
        return llama(vocab, seq, d, heads, layers, hidden, kv_heads=kv, rope_base=base)
    raise ValueError(f"preset: unknown {name!r}, expected one of {sorted(PUBLISHED)}")
