"""Feed-forward blocks: plain and gated MLPs (SwiGLU, GeGLU), and dropout with an explicit key.

A gated linear unit (Shazeer 2020) multiplies two projections of the same input,
one passed through a nonlinearity:

    glu(x) = down(act(gate(x)) ⊙ up(x))

built as ``copy ; ((gate ; act) * up) ; mul ; down``. SwiGLU uses ``silu``, GeGLU
``gelu`` (tanh form). The product of two input-dependent factors makes it
polynomial-times-smooth: smooth, and of order ``diagonal`` (the gate is an
input-chosen diagonal map, see ``topos.analysis``).

>>> from topos import R
>>> from topos.analysis import analyze
>>> ffn = feedforward(8, 24, lead=(4,), activation="swiglu", bias=False)
>>> list(ffn.parameters())
['mlp.gate.w', 'mlp.up.w', 'mlp.down.w']
>>> analyze(ffn).order, analyze(ffn).cls
('diagonal', 'smooth')
>>> list(feedforward(8, 32, activation="gelu").parameters())
['mlp.fc1.w', 'mlp.fc1.b', 'mlp.fc2.w', 'mlp.fc2.b']
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from topos.arrows import Arrow, Id, copy, discard, fst, pair
from topos.nn import primitives as P
from topos.nn.layers import _dims, _shape, grouped, linear
from topos.objects import Dim, Fin, R
from topos.para import Init, Para, glorot_uniform

__all__ = [
    "FEEDFORWARDS",
    "GATED",
    "SEED",
    "dropout",
    "elementwise",
    "feedforward",
    "gated_mlp",
    "gelu_exact",
]

#: The gated variants and their nonlinearity.
GATED = {"swiglu": "silu", "geglu": "gelu"}
#: Every ``activation`` that ``feedforward`` accepts.
FEEDFORWARDS = ("relu", "gelu", "gelu_exact", "tanh", "silu", "swiglu", "geglu")
#: The object of dropout keys: one seed label, as ``jax.random.key`` takes.
SEED = Fin(2**31)


def gelu_exact(x: R) -> Arrow:
    """The exact GELU ``x/2 (1 + erf(x/√2))`` on ``x``, as a diagram of primitives.

    ``copy ; (id * (scale ; erf ; + 1)) ; mul ; scale(1/2)``; the tanh form is the
    ``gelu`` primitive.

    >>> gelu_exact(R(3)).dom, gelu_exact(R(3)).cod
    (R(3), R(3))

    Args:
        x: the object it acts on.

    Returns:
        An arrow ``x -> x``.
    """
    plus_one = pair(Id(x), discard(x) >> P.full(R(), 1.0)) >> P.add(x, R())
    cdf = P.scale(x, 1.0 / math.sqrt(2.0)) >> P.erf(x) >> plus_one
    return copy(x) >> (Id(x) * cdf) >> P.mul(x, x) >> P.scale(x, 0.5)


def elementwise(kind: str, x: R) -> Arrow:
    """The nonlinearity ``kind`` (``relu``, ``gelu``, ``gelu_exact``, ``tanh``, ``silu``) on ``x``.

    A primitive box, except ``gelu_exact`` (a diagram, see ``gelu_exact``).

    >>> elementwise("silu", R(3)).name
    'silu'

    Args:
        kind: the name of the nonlinearity.
        x: the object it acts on.

    Returns:
        An arrow ``x -> x``.
    """
    makers = {
        "relu": P.relu,
        "gelu": P.gelu,
        "gelu_exact": gelu_exact,
        "tanh": P.tanh,
        "silu": P.silu,
    }
    if kind not in makers:
        raise ValueError(f"elementwise: unknown {kind!r}, expected one of {sorted(makers)}")
    return makers[kind](x)


def gated_mlp(
    d: int,
    hidden: int,
    *,
    lead: Sequence[int | Dim] = (),
    activation: str = "silu",
    bias: bool = False,
    init: Init = glorot_uniform,
    name: str = "mlp",
) -> Para:
    """``down(act(gate(x)) ⊙ up(x))`` on ``R(*lead, d)``; paths ``name.{gate,up,down}.w``.

    >>> glu = gated_mlp(4, 6, lead=(3,), activation="gelu")
    >>> glu.dom, glu.parameters()["mlp.up.w"].ob
    (R(3, 4), R(4, 6))

    Args:
        d: the model width (input and output).
        hidden: the width of the gated hidden layer.
        lead: the axes the block is applied over.
        activation: the nonlinearity of the gate (``"silu"`` for SwiGLU, ``"gelu"`` for GeGLU).
        bias: whether the three projections have biases (``name.*.b``).
        init: the initialiser of the weights.
        name: the layer's name.

    Returns:
        A Para ``R(*lead, d) -> R(*lead, d)``.
    """
    _dims("gated_mlp", d=d, hidden=hidden)
    lead = _shape("gated_mlp", lead)
    x, h = R(*lead, d), R(*lead, hidden)
    gate = linear(d, hidden, lead=lead, bias=bias, init=init, name="gate")
    up = linear(d, hidden, lead=lead, bias=bias, init=init, name="up")
    down = linear(hidden, d, lead=lead, bias=bias, init=init, name="down")
    both = copy(x) >> ((gate >> elementwise(activation, h)) * up) >> P.mul(h, h)
    return grouped(name, both >> down)


def feedforward(
    d: int,
    hidden: int,
    *,
    lead: Sequence[int | Dim] = (),
    activation: str = "gelu",
    bias: bool = True,
    init: Init = glorot_uniform,
    name: str = "mlp",
) -> Para:
    """The transformer's MLP: ``fc2(act(fc1(x)))``, or a gated one for ``swiglu``/``geglu``.

    >>> feedforward(4, 16, activation="geglu").parameters()["mlp.gate.w"].ob
    R(4, 16)

    Args:
        d: the model width.
        hidden: the hidden width.
        lead: the axes the block is applied over.
        activation: one of ``FEEDFORWARDS``.
        bias: whether the projections have biases.
        init: the initialiser of the weights.
        name: the layer's name.

    Returns:
        A Para ``R(*lead, d) -> R(*lead, d)``.
    """
    if activation in GATED:
        act = GATED[activation]
        return gated_mlp(d, hidden, lead=lead, activation=act, bias=bias, init=init, name=name)
    if activation not in FEEDFORWARDS:
        raise ValueError(f"feedforward: unknown {activation!r}, expected one of {FEEDFORWARDS}")
    _dims("feedforward", d=d, hidden=hidden)
    lead = _shape("feedforward", lead)
    fc1 = linear(d, hidden, lead=lead, bias=bias, init=init, name="fc1")
    fc2 = linear(hidden, d, lead=lead, bias=bias, init=init, name="fc2")
    return grouped(name, fc1 >> elementwise(activation, R(*lead, hidden)) >> fc2)


def dropout(shape: Sequence[int], rate: float, *, train: bool = True) -> Para:
    """Dropout with explicit randomness: ``R(*shape) * SEED -> R(*shape)``.

    Training: ``x ⊙ bernoulli(seed) / (1 - rate)``, the same mask for the same
    seed (deterministic given the key). Inference (``train=False``): the
    identity, the seed discarded, so one parameter dict and one input type
    serve both modes.

    >>> drop = dropout((4, 3), 0.1)
    >>> drop.dom, drop.cod
    (R(4, 3) * Fin(2147483648), R(4, 3))
    >>> inference = dropout((4, 3), 0.1, train=False)
    >>> (inference.dom, inference.cod) == (drop.dom, drop.cod)
    True

    Args:
        shape: the shape of the dropped array.
        rate: the probability of zeroing an entry, in ``[0, 1)``.
        train: whether to drop (``True``) or pass through (``False``).

    Returns:
        A parameter-free Para ``R(*shape) * SEED -> R(*shape)``.
    """
    x = R(*_shape("dropout", shape))
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    if not train or rate == 0.0:
        return Para.lift(fst(x, SEED))
    mask: Arrow = P.bernoulli(SEED, x.shape, rate)
    kept = (Id(x) * mask) >> P.mul(x, x)
    return Para.lift(kept >> P.scale(x, 1.0 / (1.0 - rate)))
