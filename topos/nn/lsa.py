"""Linear self-attention (LSA) as choose ; ev, and the weights that make it gradient descent.

Von Oswald et al. 2023 ("Transformers learn in-context by gradient descent",
arXiv 2212.07677) feed a sequence of tokens ``e_j = (x_j, y_j)``, ``j < N``, and a
query ``(x, y_q)``; a linear self-attention layer without softmax updates every token

    e_i <- e_i + P Σ_{j < N} (W_V e_j) (W_K e_j)ᵀ (W_Q e_i)

(only the ``N`` context tokens are keys and values). Here a token is a row of
``Z: R(N + 1, D)``, ``D = d_x + d_y``, and a weight acts on the right (``z @ w``,
so ``w = Wᵀ``). The layer is choose ; ev, like softmax attention
(``topos.nn.transformer``): the input *chooses* the mixing matrix
``A(Z) = (Z w_q)(Z w_k)ᵀ ⊙ mask`` (the mask zeroes the query's column), ``curry``
turns it into a linear map on value sequences, and ``ev`` applies it to
``Z w_v``; then ``w_p`` and the residual connection.

With ``gd_weights(eta, ...)`` the layer performs *exactly* one step of gradient
descent on the in-context least-squares loss ``L(W) = 1/(2N) Σ_j |W x_j - y_j|²``
(the construction ``W_K = W_Q = [[I, 0], [0, 0]]``, ``W_V = [[0, 0], [W0, -I]]``,
``P = (eta / N) I``): the query's ``y``-entry becomes ``-(W1 - W0) x`` with
``W1 = W0 - eta ∇L(W0)``, so the prediction is ``W0 x - y``-entry. ``K``
stacked layers (``lsa_stack``) perform ``K`` steps.

>>> from topos.analysis import analyze
>>> layer = lsa(10, 11, context=9)
>>> layer.dom, layer.cod, list(layer.parameters())
(R(10, 11), R(10, 11), ['lsa.q.w', 'lsa.k.w', 'lsa.v.w', 'lsa.p.w'])
>>> report = analyze(layer)
>>> report.order, report.cls, report.degree, report.lives_in
('higher', 'polynomial', 3, 'topos completion')
"""

from __future__ import annotations

from typing import Any

from topos.arrows import Arrow, Id, copy, curry, discard, ev, pair
from topos.draw import group
from topos.nn import primitives as P
from topos.nn.layers import SMALL, _dims, grouped, linear, residual
from topos.objects import R
from topos.para import Init, Para, repeat

__all__ = ["context_mask", "gd_weights", "lsa", "lsa_stack"]


def context_mask(seq: int, context: int) -> Arrow:
    """The constant row ``One -> R(1, seq)``: ``1`` for the first ``context`` positions, else ``0``.

    Multiplying attention scores by it keeps the context tokens as keys and values.

    >>> context_mask(4, 3).cod
    R(1, 4)
    """
    _dims("context_mask", seq=seq, context=context)
    if context > seq:
        raise ValueError(f"context_mask: context = {context} exceeds seq = {seq}")
    ones = P.full(R(1, context), 1.0)
    if context == seq:
        return ones
    zeros = P.full(R(1, seq - context), 0.0)
    return pair(ones, zeros) >> P.concat(R(1, context), R(1, seq - context), -1)


def lsa(
    seq: int,
    d: int,
    *,
    context: int | None = None,
    init: Init = SMALL,
    name: str = "lsa",
) -> Para:
    """One linear self-attention layer with a residual connection, ``R(seq, d) -> R(seq, d)``.

    ``Z + (A(Z) (Z w_v)) w_p`` with ``A(Z) = (Z w_q)(Z w_k)ᵀ ⊙ mask``, no softmax, no
    scaling, no biases; the mask keeps the first ``context`` positions as keys
    (all of them when ``context`` is None). Paths ``name.{q,k,v,p}.w: R(d, d)``.

    Args:
        seq: the number of tokens (context plus queries).
        d: the width of a token (``d_x + d_y`` for in-context regression).
        context: how many leading tokens are keys and values; default ``seq``.
        init: the initialiser of the four weights.
        name: the prefix of the parameter paths.

    Returns:
        A ``Para`` whose arrow is the named sub-diagram ``name``.

    >>> layer = lsa(3, 2, context=2, name="l0")
    >>> [p.ob for p in layer.parameters().values()]
    [R(2, 2), R(2, 2), R(2, 2), R(2, 2)]
    """
    _dims("lsa", seq=seq, d=d)
    ctx = seq if context is None else context
    x = R(seq, d)
    scores = P.einsum("sd,td->st", x, x)
    a = scores.cod
    pattern: Arrow = scores
    if ctx != seq:
        keep = context_mask(seq, ctx)
        pattern = scores >> pair(Id(a), discard(a) >> keep) >> P.mul(a, keep.cod)

    def project(which: str) -> Para:
        return linear(d, d, lead=(seq,), bias=False, init=init, name=which)

    choose = grouped("choose", copy(x) >> (project("q") * project("k")) >> pattern, prefix=False)
    mixing = choose >> curry(group("mix", P.einsum("st,td->sd", a, x)))
    update = copy(x) >> (mixing * project("v")) >> ev(x, x) >> project("p")
    return grouped(name, residual(update))


def lsa_stack(seq: int, d: int, layers: int, *, context: int | None = None) -> Para:
    """``layers`` LSA layers, ``repeat``-ed: stacked paths ``lsa.{q,k,v,p}.w: R(layers, d, d)``.

    Args:
        seq: the number of tokens.
        d: the width of a token.
        layers: how many layers (each with its own weights).
        context: how many leading tokens are keys and values; default ``seq``.

    Returns:
        A ``Para`` ``R(seq, d) -> R(seq, d)``.

    >>> lsa_stack(11, 11, 3, context=10).parameters()["lsa.v.w"].ob
    R(3, 11, 11)
    """
    _dims("lsa_stack", layers=layers)
    return repeat(lsa(seq, d, context=context), layers)


def _identity(n: int) -> list[list[float]]:
    return [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]


def gd_weights(
    eta: float,
    n: int,
    d_x: int,
    d_y: int = 1,
    *,
    w0: Any = None,
    layers: int | None = None,
    name: str = "lsa",
) -> dict[str, list[Any]]:
    """The LSA weights of one gradient-descent step with learning rate ``eta`` (nested lists).

    In the paper's column convention ``W_K = W_Q = [[I, 0], [0, 0]]``,
    ``W_V = [[0, 0], [W0, -I]]`` and ``P = (eta / n) I``; returned transposed
    (a token is a row, ``z @ w``). ``w0`` is the starting point ``W0: d_y × d_x``
    (zeros by default). With ``layers`` the weights are stacked for ``lsa_stack``:
    ``K`` layers with ``W0`` in each perform ``K`` steps from ``W0``.

    Args:
        eta: the learning rate of the step.
        n: the number of context points ``N``.
        d_x: the input dimension.
        d_y: the output dimension.
        w0: the starting weights, a ``d_y × d_x`` nested sequence; zeros if None.
        layers: stack ``layers`` copies along a leading axis (for ``lsa_stack``).
        name: the prefix of the paths (as in ``lsa``).

    Returns:
        ``{name.q.w, name.k.w, name.v.w, name.p.w}`` as nested lists of floats
        (the core stays free of numpy; a backend turns them into arrays).

    >>> w = gd_weights(0.5, 2, 1)
    >>> w["lsa.q.w"], w["lsa.v.w"], w["lsa.p.w"]
    ([[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, -1.0]], [[0.25, 0.0], [0.0, 0.25]])
    >>> gd_weights(0.5, 2, 1, w0=[[3.0]])["lsa.v.w"]
    [[0.0, 3.0], [0.0, -1.0]]
    """
    _dims("gd_weights", n=n, d_x=d_x, d_y=d_y)
    d = d_x + d_y
    start = [[0.0] * d_x for _ in range(d_y)] if w0 is None else [list(map(float, r)) for r in w0]
    if len(start) != d_y or any(len(r) != d_x for r in start):
        raise ValueError(f"gd_weights: w0 must be {d_y} x {d_x}, got {w0!r}")
    qk = [[1.0 if i == j and i < d_x else 0.0 for j in range(d)] for i in range(d)]
    v_col = [[0.0] * d for _ in range(d_x)]
    v_col += [[*start[i], *(-1.0 if i == j else 0.0 for j in range(d_y))] for i in range(d_y)]
    v = [[v_col[j][i] for j in range(d)] for i in range(d)]  # transposed: tokens are rows
    p = [[eta / n * e for e in row] for row in _identity(d)]
    out: dict[str, list[Any]] = {"q.w": qk, "k.w": qk, "v.w": v, "p.w": p}
    if layers is not None:
        _dims("gd_weights", layers=layers)
        out = {k: [w] * layers for k, w in out.items()}
    return {f"{name}.{k}": w for k, w in out.items()}
