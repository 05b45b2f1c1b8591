"""Layers as Para morphisms, built from the primitives and the categorical structure.

A layer is a ``Para`` (``topos.para``): a parameter object ``P`` whose leaves are
named, initialised weights, and an arrow ``P * A -> B``. Weights enter as
parameter leaves of one-box Para (a matrix product, a bias sum); the layer is
their composite (``>>``), side by side (``*``), fanned out (``copy``), or summed
back (``residual``). Each layer is a *named sub-diagram*: its arrow is
``topos.arrows.group(name, body)``, which every semantics reads as its body, and
its paths are prefixed with ``name``.

>>> from topos import R, equal
>>> lin = linear(3, 4, name="fc")
>>> lin.dom, lin.cod, list(lin.parameters())
(R(3), R(4), ['fc.w', 'fc.b'])
>>> lin.arrow.name, lin.arrow.body.dom
('fc', R(3, 4) * R(4) * R(3))
>>> net = mlp([3, 8, 2], activation="relu")
>>> list(net.parameters()), (net.dom, net.cod)
(['mlp.fc1.w', 'mlp.fc1.b', 'mlp.fc2.w', 'mlp.fc2.b'], (R(3), R(2)))

Laws: a residual block is ``x + f(x)``; composites list their parameters first
layer first; every layer is an arrow out of ``P * A`` with ``A`` its input:

>>> blk = residual(linear(4, 4, name="f"))
>>> (blk.dom, blk.cod, list(blk.parameters()))
(R(4), R(4), ['f.w', 'f.b'])
>>> all(p.arrow.dom == p.P * p.dom for p in (lin, net, blk, layer_norm(4)))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from topos.arrows import (
    Arrow,
    Box,
    Id,
    copair,
    copy,
    curry,
    discard,
    ev,
    fst,
    group,
    pair,
    snd,
    swap,
)
from topos.nn import primitives as P
from topos.objects import Dim, Fin, Ob, One, Product, R
from topos.para import Global, Init, Para, glorot_uniform, normal, ones, zeros

__all__ = [
    "ACTIVATIONS",
    "SMALL",
    "STANDARD",
    "activation",
    "conv",
    "embedding",
    "embedding_cases",
    "gcn",
    "gelu",
    "grouped",
    "labels",
    "layer_norm",
    "linear",
    "max_pool",
    "mlp",
    "positional",
    "relu",
    "residual",
    "rnn",
    "softmax",
    "tanh",
    "weight",
]

#: The elementwise nonlinearities a layer may name, by name.
ACTIVATIONS = ("relu", "gelu", "tanh")

#: ``normal(0.02)``: the GPT-style initialiser of transformer weights and embeddings.
SMALL = normal(0.02)
#: ``normal(1.0)``: the default initialiser of embedding tables.
STANDARD = normal(1.0)


def _check_name(op: str, name: str) -> str:
    if not isinstance(name, str) or not name or "." in name:
        raise TypeError(f"{op}: name must be a non-empty string without dots, got {name!r}")
    if name in P.PRIMITIVES:
        raise ValueError(
            f"{op}: name {name!r} is the name of a primitive box; a layer needs another name"
        )
    return name


def _dims(op: str, **sizes: int | Dim) -> None:
    for key, n in sizes.items():
        if isinstance(n, Dim):
            continue
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TypeError(f"{op}: {key} must be a positive int, got {n!r}")


def _shape(op: str, shape: Sequence[int | Dim]) -> tuple[int, ...]:
    """``shape`` checked: positive ints, or ``Dim``s (a length that varies).

    Typed ``int`` out: the builders only pass a ``Dim`` on to ``R`` and to
    primitives that take one (``topos.dims``); arithmetic on it is refused there.
    """
    out = tuple(shape)
    for n in out:
        if isinstance(n, Dim):
            continue
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TypeError(f"{op}: shape entries must be positive ints, got {out!r}")
    return cast(tuple[int, ...], out)


def weight(path: str, ob: Ob, init: Init, f: Arrow) -> Para:
    """The one-leaf Para ``(ob, f)`` whose parameter is called ``path``.

    ``f: ob * A -> B`` uses the weight; the other layers are built from these.

    >>> from topos.nn.primitives import add
    >>> b = weight("b", R(3), zeros, swap(R(3), R(3)) >> add(R(3), R(3)))
    >>> b.parameters()["b"]
    Param('b', R(3), zeros)
    """
    return Para(ob, f, params={path: init})


def grouped(name: str, p: Para, *, prefix: bool = True) -> Para:
    """``p`` with its arrow wrapped as the named sub-diagram ``name``, paths prefixed by it.

    With ``prefix=False`` the paths stay as they are (a group for the eye only).
    Frozen parameters inside ``p`` stay frozen (and prefixed like the others).

    >>> g = grouped("enc", weight("w", R(2, 2), zeros, P.einsum("io,i->o", R(2, 2), R(2))))
    >>> g.arrow.name, list(g.parameters())
    ('enc', ['enc.w'])
    """
    _check_name("grouped", name)
    inner = Para(p.P, group(name, p.arrow), params=p.params, actegory=p.actegory)
    return inner.named(name) if p.params and prefix else inner


def labels(n: int) -> Ob:
    """``One + (One + (... + One))``, ``n`` summands: the coproduct that ``Fin(n)`` stands for.

    >>> labels(3)
    One + (One + One)
    """
    _dims("labels", n=n)
    out: Ob = One
    for _ in range(n - 1):
        out = One + out
    return out


# -- elementwise ------------------------------------------------------------------------


def activation(kind: str, *shape: int) -> Box:
    """The primitive box of the nonlinearity ``kind`` (one of ``ACTIVATIONS``) on ``R(*shape)``.

    >>> activation("gelu", 4).name
    'gelu'
    """
    if kind not in ACTIVATIONS:
        raise ValueError(f"activation: unknown {kind!r}, expected one of {ACTIVATIONS}")
    return {"relu": P.relu, "gelu": P.gelu, "tanh": P.tanh}[kind](R(*_shape(kind, shape)))


_activation = activation  # for the layers whose keyword argument is called ``activation``


def relu(*shape: int) -> Para:
    """``max(x, 0)`` on ``R(*shape)``: a parameter-free layer (piecewise linear).

    >>> relu(2, 3).dom, relu(2, 3).P
    (R(2, 3), One)
    """
    return Para.lift(activation("relu", *shape))


def gelu(*shape: int) -> Para:
    """GELU (tanh form) on ``R(*shape)``: a parameter-free layer (smooth).

    >>> gelu(3).cod
    R(3)
    """
    return Para.lift(activation("gelu", *shape))


def tanh(*shape: int) -> Para:
    """``tanh`` on ``R(*shape)``: a parameter-free layer (smooth).

    >>> tanh(3).cod
    R(3)
    """
    return Para.lift(activation("tanh", *shape))


def softmax(*shape: int, axis: int = -1, built: bool = False) -> Para:
    """``e^x / Σ e^x`` along ``axis`` on ``R(*shape)``, parameter-free (smooth).

    By default the ``softmax`` primitive (fast and stable). ``built=True`` gives the
    same map as a diagram: shift by the maximum (``softmax`` is invariant under
    shifts), ``exp``, then divide by the sum.

    >>> [b.name for b in softmax(4, built=True).arrow.children if isinstance(b, Box)]
    ['sub', 'exp', 'div']
    """
    x = R(*_shape("softmax", shape))
    if not built:
        return Para.lift(P.softmax(x, axis))
    m = P.reduce_max(x, axis, keepdims=True).cod
    shift = copy(x) >> (Id(x) * P.reduce_max(x, axis, keepdims=True)) >> P.sub(x, m)
    norm = copy(x) >> (Id(x) * P.reduce_sum(x, axis, keepdims=True)) >> P.div(x, m)
    return Para.lift(shift >> P.exp(x) >> norm)


# -- affine layers ----------------------------------------------------------------------


def _bias(y: R, init: Init) -> Para:
    b = R(y.shape[-1], dtype=y.dtype)
    return weight("b", b, init, swap(b, y) >> P.add(y, b))


def linear(
    din: int,
    dout: int,
    *,
    lead: Sequence[int | Dim] = (),
    bias: bool = True,
    init: Init = glorot_uniform,
    bias_init: Init = zeros,
    name: str = "linear",
) -> Para:
    """The affine map ``x @ w + b``, ``R(*lead, din) -> R(*lead, dout)``; paths ``name.w/b``.

    ``w: R(din, dout)`` (``init``, Glorot uniform by default) acts on the last axis;
    ``lead`` are the axes it is applied over (sequence positions, say).

    >>> lin = linear(3, 5, lead=(7,), init=normal(0.02), name="q")
    >>> lin.dom, lin.cod, lin.parameters()["q.w"]
    (R(7, 3), R(7, 5), Param('q.w', R(3, 5), normal(0.02)))
    """
    return grouped(name, _affine(din, dout, lead, bias, init, bias_init))


def _affine(
    din: int, dout: int, lead: Sequence[int | Dim], bias: bool, init: Init, bias_init: Init
) -> Para:
    _dims("linear", din=din, dout=dout)
    x = R(*_shape("linear", lead), din)
    w = R(din, dout)
    mm = weight("w", w, init, swap(w, x) >> P.matmul(x, w))
    return mm >> _bias(R(*x.shape[:-1], dout), bias_init) if bias else mm


def layer_norm(
    d: int, *, lead: Sequence[int | Dim] = (), eps: float = 1e-5, name: str = "ln"
) -> Para:
    """Layer normalisation over the last axis: ``(x - μ) / √(σ² + eps) * scale + bias``.

    Built from ``reduce_mean``, ``sub``, ``mul`` (the square is ``copy ; mul``),
    ``full`` (``eps``) and ``rsqrt``; ``scale`` starts at ones, ``bias`` at zeros.

    >>> ln = layer_norm(8, lead=(4,), name="ln1")
    >>> ln.dom, list(ln.parameters())
    (R(4, 8), ['ln1.scale', 'ln1.bias'])
    """
    _dims("layer_norm", d=d)
    x = R(*_shape("layer_norm", lead), d)
    mean = P.reduce_mean(x, -1, keepdims=True)
    m = mean.cod
    center = copy(x) >> (Id(x) * mean) >> P.sub(x, m)
    plus_eps = pair(Id(m), discard(m) >> P.full(R(), eps)) >> P.add(m, R())
    inv_std = copy(x) >> P.mul(x, x) >> mean >> plus_eps >> P.rsqrt(m)
    normalise = center >> copy(x) >> (Id(x) * inv_std) >> P.mul(x, m)
    v = R(d)
    scale = weight("scale", v, ones, swap(v, x) >> P.mul(x, v))
    shift = weight("bias", v, zeros, swap(v, x) >> P.add(x, v))
    return grouped(name, normalise >> scale >> shift)


def residual(p: Para) -> Para:
    """The residual connection ``x + p(x)``: ``copy ; (id * p) ; add``.

    >>> residual(linear(3, 3)).cod
    R(3)
    """
    if not isinstance(p.dom, R) or p.dom != p.cod:
        raise TypeError(f"residual: needs a layer A -> A on a real space, got {p.dom} -> {p.cod}")
    x = p.dom
    return copy(x) >> (Id(x) * p) >> P.add(x, x)


def mlp(
    sizes: Sequence[int],
    *,
    lead: Sequence[int | Dim] = (),
    activation: str = "relu",
    init: Init = glorot_uniform,
    name: str = "mlp",
) -> Para:
    """Linear layers ``fc1, fc2, ...`` of the given ``sizes``, the nonlinearity between them.

    >>> net = mlp([4, 16, 16, 2], activation="tanh")
    >>> net.dom, net.cod, len(net.parameters())
    (R(4), R(2), 6)
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise TypeError(f"mlp: needs at least two sizes (input and output), got {sizes!r}")
    lead = _shape("mlp", lead)
    out: Para | None = None
    for i, (m, n) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layer = linear(m, n, lead=lead, init=init, name=f"fc{i + 1}")
        if i < len(sizes) - 2:
            layer = layer >> _activation(activation, *lead, n)
        out = layer if out is None else out >> layer
    assert out is not None
    return grouped(name, out)


# -- tokens -------------------------------------------------------------------------------


def embedding(
    vocab: int,
    d: int,
    *,
    lead: Sequence[int | Dim] = (),
    init: Init = STANDARD,
    name: str = "embed",
) -> Para:
    """One learned vector per label: ``Fin(vocab, *lead) -> R(*lead, d)``, path ``name.table``.

    For one label this is the copairing ``[e_0, ..., e_{V-1}]: One + ... + One -> R(d)``
    of the rows of ``table: R(V, d)`` (``Fin(V) ≅ labels(V)``); on an array of labels
    it acts labelwise, which is one ``gather`` (a table lookup). ``embedding_cases``
    builds the copairing itself; tests check the two agree.

    >>> emb = embedding(65, 16, lead=(32,))
    >>> emb.dom, emb.cod, list(emb.parameters())
    (Fin(65, 32), R(32, 16), ['embed.table'])
    """
    _dims("embedding", vocab=vocab, d=d)
    table = R(vocab, d)
    tokens = Fin(vocab, *_shape("embedding", lead))
    return grouped(name, weight("table", table, init, P.gather(table, tokens)))


def embedding_cases(vocab: int, d: int, *, init: Init = STANDARD, name: str = "embed") -> Para:
    """The embedding of one label as a literal copairing out of ``labels(vocab)``.

    The label is first turned into ``table ↦ table[i]`` (an element of
    ``R(d) ** R(V, d)``) by the copairing of the ``V`` constant maps, then applied
    to the table with ``ev``: ``P * labels(V) -> R(d)``. Equal to ``embedding`` up to
    ``Fin(V) ≅ labels(V)``.

    >>> emb = embedding_cases(3, 2)
    >>> emb.dom, emb.cod, list(emb.parameters())
    (One + (One + One), R(2), ['embed.table'])
    """
    _dims("embedding_cases", vocab=vocab, d=d)
    table, row = R(vocab, d), R(d)
    cases = [curry(snd(One, table) >> P.take(table, i, 0)) for i in range(vocab)]
    choose: Arrow = cases[-1]
    for case in reversed(cases[:-1]):
        choose = copair(case, choose)
    arrow = swap(table, labels(vocab)) >> (choose * Id(table)) >> ev(row, table)
    return grouped(name, weight("table", table, init, arrow))


def positional(seq: int | Dim, d: int, *, init: Init = SMALL, name: str = "pos") -> Para:
    """A learned vector per position added to a sequence: ``x + table``, path ``name.table``.

    Adding ``table: R(seq, d)`` is embedding the positions ``0, ..., seq-1`` and
    adding the result. For a variable length ``seq = Dim(..., max)`` the table is
    ``R(max, d)`` and the diagram adds its first ``seq`` rows.

    >>> from topos.objects import Dim
    >>> positional(Dim("seq", 16), 8).parameters()["pos.table"].ob
    R(16, 8)

    >>> positional(16, 8).dom, list(positional(16, 8).parameters())
    (R(16, 8), ['pos.table'])
    """
    _dims("positional", seq=seq, d=d)
    x = R(seq, d)
    if isinstance(seq, Dim):  # the table has the bound's length; the diagram slices it
        table = R(seq.max, d)
        cut = P.slice_axis(table, 0, seq, axis=0) * Id(x)
        return grouped(name, weight("table", table, init, cut >> swap(x, x) >> P.add(x, x)))
    return grouped(name, weight("table", x, init, swap(x, x) >> P.add(x, x)))


# -- convolution and pooling --------------------------------------------------------------


def conv(
    shape: Sequence[int],
    cout: int,
    window: Sequence[int],
    *,
    stride: Sequence[int] | None = None,
    padding: str = "SAME",
    bias: bool = True,
    init: Init = glorot_uniform,
    name: str = "conv2d",
) -> Para:
    """A 1-D or 2-D convolution of ``R(*spatial, cin)`` (``shape``) into ``cout`` channels.

    Paths ``name.w: R(*window, cin, cout)`` and ``name.b: R(cout)``. Channels last.

    >>> c = conv((28, 28, 1), 8, (3, 3))
    >>> c.dom, c.cod, list(c.parameters())
    (R(28, 28, 1), R(28, 28, 8), ['conv2d.w', 'conv2d.b'])
    >>> conv((32, 4), 6, (5,), padding="VALID", name="conv1d").cod
    R(28, 6)
    """
    _dims("conv", cout=cout)
    x = R(*_shape("conv", shape))
    w = R(*_shape("conv", window), x.shape[-1], cout)
    box = P.conv(x, w, None if stride is None else tuple(stride), padding)
    out = weight("w", w, init, swap(w, x) >> box)
    y = box.cod
    assert isinstance(y, R)
    return grouped(name, out >> _bias(y, zeros) if bias else out)


def max_pool(
    shape: Sequence[int], window: Sequence[int], stride: Sequence[int] | None = None
) -> Para:
    """The maximum over windows of ``R(*spatial, c)``: parameter-free, piecewise linear.

    >>> max_pool((28, 28, 8), (2, 2)).cod
    R(14, 14, 8)
    """
    x = R(*_shape("max_pool", shape))
    return Para.lift(P.max_pool(x, tuple(window), None if stride is None else tuple(stride)))


# -- recurrence and graphs ----------------------------------------------------------------


def _diagonal(p: Ob, q: Ob) -> Arrow:
    """``p -> q`` copying ``p`` into every non-unit subtree of ``q`` equal to it."""
    if q == p:
        return Id(p)
    if q == One:
        return discard(p)
    if not isinstance(q, Product):
        raise TypeError(f"rnn: cannot copy {p!r} into {q!r}")
    return copy(p) >> (_diagonal(p, q.left) * _diagonal(p, q.right))


def rnn(
    din: int,
    dh: int,
    steps: int,
    *,
    activation: str = "tanh",
    init: Init = glorot_uniform,
    name: str = "rnn",
) -> Para:
    """An Elman RNN unrolled over ``steps``: ``R(steps, din) -> R(dh)``, the last state.

    ``h_{t+1} = act(x_t @ x.w + x.b + h_t @ h.w)`` from ``h_0 = 0``. The unrolled
    composite of the ``steps`` cells has one copy of the weights per step; sharing
    them is reparametrising along the diagonal ``copy`` (weight tying), so the
    paths are ``name.x.w``, ``name.x.b``, ``name.h.w`` once.

    >>> r = rnn(3, 8, 5)
    >>> r.dom, r.cod, list(r.parameters())
    (R(5, 3), R(8), ['rnn.x.w', 'rnn.x.b', 'rnn.h.w'])
    """
    _dims("rnn", din=din, dh=dh, steps=steps)
    xs, h = R(steps, din), R(dh)
    state = xs * h
    start = pair(Id(xs), discard(xs) >> P.full(h, 0.0))
    chain: Para | None = None
    cell: Para | None = None
    for t in range(steps):
        lin_x = linear(din, dh, init=init, name="x")
        lin_h = linear(dh, dh, bias=False, init=init, name="h")
        update = (P.take(xs, t, 0) >> lin_x) * lin_h >> P.add(h, h)
        cell = update >> _activation(activation, dh)
        step = pair(fst(xs, h), Id(state)) >> (Id(xs) * cell)
        step = step.named(str(t))
        chain = step if chain is None else chain >> step
    assert chain is not None and cell is not None
    unrolled = start >> chain >> snd(xs, h)
    shared = unrolled.reparam(_diagonal(cell.P, unrolled.P), params=cell.params)
    return grouped(name, shared)


def gcn(
    nodes: int,
    din: int,
    dout: int,
    *,
    activation: str | None = "relu",
    bias: bool = True,
    init: Init = glorot_uniform,
    name: str = "gcn",
) -> Para:
    """A graph convolution ``act(Â x w + b)`` over ``Global(R(nodes, nodes))``.

    The (normalised) adjacency ``Â`` is a *global* input read by every layer: the
    Para lives over the actegory ``Global(E)``, so ``gcn(...) >> gcn(...)`` shares
    one ``Â``. ``p.as_cartesian()`` is the same network as a function of
    ``(Â, x)``, which is how the JAX backend runs it.

    >>> g = gcn(5, 3, 4, name="g1") >> gcn(5, 4, 2, activation=None, name="g2")
    >>> g.dom, g.as_cartesian().dom, list(g.parameters())
    (R(5, 3), R(5, 5) * R(5, 3), ['g1.w', 'g1.b', 'g2.w', 'g2.b'])
    """
    _dims("gcn", nodes=nodes, din=din, dout=dout)
    e, x = R(nodes, nodes), R(nodes, din)
    glob = Global(e)
    lin = _affine(din, dout, (nodes,), bias, init, zeros)
    propagate = P.einsum("nm,mi->ni", e, x)
    arrow = glob.then(glob.act_on(lin.P, propagate), glob.embed(lin.arrow))
    if activation is not None:
        arrow = glob.then(arrow, glob.embed(_activation(activation, nodes, dout)))
    layer = Para(lin.P, group(_check_name("gcn", name), arrow), params=lin.params, actegory=glob)
    return layer.named(name)
