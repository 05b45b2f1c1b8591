"""Routed mixtures of experts: top-k routing with index dispatch, its dense form, and Mixtral.

A router scores each of ``n`` tokens against ``E`` experts, ``top_k`` keeps the
``k`` best, and a softmax over those ``k`` scores gives the gates ``g``. The
layer is ``y_t = Σ_j g_tj · expert_{e_tj}(x_t)`` (Shazeer et al. 2017; Fedus et
al. 2021; Jiang et al. 2024). Two forms of the *same* map, one parameter dict:

- ``routed=True`` (the default): ``dispatch`` gives every choice a slot in its
  expert's buffer of ``capacity`` rows, ``scatter_add`` moves the tokens there,
  each expert runs on its ``capacity`` rows only, and ``gather`` brings the
  results back. The work is ``E · capacity ≈ k · n · capacity_factor`` rows: it
  grows with ``k``, not with ``E``. A choice past its expert's capacity is
  *dropped* (it contributes 0; the residual stream carries the token on).
- ``routed=False``: the dense-masked form, every expert on every token, the
  outputs mixed by the gates scattered onto all ``E`` experts (zero off the
  top ``k``). It is the reference: the two forms agree on every token whose
  choices all got a slot (tested), and on all tokens when nothing is dropped
  (``capacity_factor=None``: capacity ``n``, dropless, as Mixtral).

Laws, as doctests: the paths are the same in both forms, and with ``aux=True``
the layer also returns ``R(2)``: the load-balancing loss ``E Σ_e f_e P_e``
(``f_e`` the fraction of choices routed to ``e``, summed over the ``k`` ranks,
``P_e`` the mean router probability; ``k`` when perfectly balanced) and the
number of dropped choices.

>>> from topos import R
>>> from topos.analysis import analyze
>>> layer = experts(6, 8, 16, n_experts=4, k=2, capacity_factor=1.0)
>>> layer.dom, layer.cod, list(layer.parameters())
(R(6, 8), R(6, 8), ['moe.router.w', 'moe.experts.gate', 'moe.experts.up', 'moe.experts.down'])
>>> capacity(6, 4, 2, 1.0), capacity(6, 4, 2, None)
(3, 6)
>>> dense = experts(6, 8, 16, n_experts=4, k=2, routed=False)
>>> dense.parameters() == layer.parameters()
True
>>> experts(6, 8, 16, n_experts=4, k=2, aux=True).cod
R(6, 8) * R(2)
>>> from topos.objects import Dim
>>> experts(Dim("seq", 6), 8, 16, n_experts=4, k=2, aux=True).cod
R(Dim('seq', 6), 8) * R(2)

The router chooses an expert by the input: ``top_k``'s indices are a map into
the coproduct ``Fin(E)``, a case split, so ``analyze`` names it in a
``coproduct`` witness (the map is piecewise: on each cell of the split it is
the chosen experts' map). The gates then mix the chosen experts' outputs with
input-dependent weights: higher order, like the soft mixture and attention.

>>> from topos import Fin, snd
>>> choice = router(6, 8, 4, 2) >> snd(R(6, 2), Fin(4, 6, 2))    # which experts, alone
>>> report = analyze(choice)
>>> report.cls, report.lives_in
('pl', 'PL pretopos')
>>> [w.kind for w in report.witnesses]
['class', 'coproduct']
>>> for part in report.witnesses[-1].reason.split(": "): print(part)
top_k chooses a label of Fin(4) by the input
a case split, the map is a coproduct of its pieces (piecewise)
>>> analyze(layer).order
'higher'
"""

from __future__ import annotations

import math

from topos.arrows import Arrow, Id, copy, discard, fst, pair, snd, swap
from topos.nn import primitives as P
from topos.nn.feedforward import elementwise
from topos.nn.layers import _dims, grouped, linear, weight
from topos.objects import Dim, Fin, Ob, Product, R
from topos.para import Init, Para, glorot_uniform

__all__ = ["capacity", "experts", "router", "stacked_experts"]


def capacity(n: int | Dim, n_experts: int, k: int, capacity_factor: float | None) -> int:
    """Rows per expert: ``ceil(capacity_factor · n · k / E)``, or ``n`` (dropless) for ``None``.

    ``n`` may be a ``Dim``: its bound counts. At most ``n`` (no expert can get a
    token twice).

    >>> capacity(4096, 8, 2, 1.25), capacity(10, 8, 2, 100.0)
    (1280, 10)
    """
    tokens = n.max if isinstance(n, Dim) else n
    if capacity_factor is None:
        return tokens
    if not capacity_factor > 0:
        raise ValueError(f"capacity: capacity_factor must be positive, got {capacity_factor!r}")
    return max(1, min(tokens, math.ceil(capacity_factor * tokens * k / n_experts)))


def router(
    n: int | Dim, d: int, n_experts: int, k: int, *, init: Init = glorot_uniform
) -> Para:
    """Scores, top-k and gates: ``R(n, d) -> R(n, k) * Fin(E, n, k)``; path ``router.w``.

    The gates are the softmax of the ``k`` kept scores (Mixtral's renormalised
    top-k); the labels say which experts.

    >>> router(5, 8, 4, 2).cod
    R(5, 2) * Fin(4, 5, 2)
    """
    scores = linear(d, n_experts, lead=(n,), bias=False, init=init, name="router")
    top = P.top_k(R(n, n_experts), k)
    return scores >> top >> (P.softmax(R(n, k), -1) * Id(Fin(n_experts, n, k)))


def stacked_experts(
    rows: tuple[int | Dim, ...],
    d: int,
    hidden: int,
    n_experts: int,
    *,
    activation: str = "silu",
    init: Init = glorot_uniform,
) -> Para:
    """``E`` SwiGLU experts side by side on ``R(E, *rows, d)``: expert ``e`` maps slab ``e``.

    Paths ``experts.gate``, ``experts.up`` (``R(E, d, hidden)``) and
    ``experts.down`` (``R(E, hidden, d)``); each slab is
    ``down_e(act(gate_e(x)) ⊙ up_e(x))``, a batched ``einsum`` per weight.

    >>> stacked_experts((3,), 8, 16, 4).dom
    R(4, 3, 8)
    """
    x, h = R(n_experts, *rows, d), R(n_experts, *rows, hidden)
    lead = "abc"[: len(rows)]

    def project(path: str, src: R, din: int, dout: int, out: R) -> Para:
        w = R(n_experts, din, dout)
        spec = f"e{lead}i,eio->e{lead}o"
        return weight(path, w, init, swap(w, src) >> P.einsum(spec, src, w))

    gate = project("gate", x, d, hidden, h) >> elementwise(activation, h)
    both = copy(x) >> (gate * project("up", x, d, hidden, h)) >> P.mul(h, h)
    return grouped("experts", both >> project("down", h, hidden, d, x))


def _projections(ob: Ob) -> list[Arrow]:
    """The projections of a nested product onto its leaves (non-products), left to right."""
    if not isinstance(ob, Product):
        return [Id(ob)]
    left = [fst(ob.left, ob.right) >> p for p in _projections(ob.left)]
    return left + [snd(ob.left, ob.right) >> p for p in _projections(ob.right)]


def _pick(ob: Ob, *idx: int) -> Arrow:
    """``⟨π_i, π_j, ...⟩``: the leaves ``idx`` of the nested product ``ob``, left-nested."""
    leaves = _projections(ob)
    out = leaves[idx[0]]
    for i in idx[1:]:
        out = pair(out, leaves[i])
    return out


def experts(
    n: int | Dim,
    d: int,
    hidden: int,
    *,
    n_experts: int,
    k: int,
    capacity_factor: float | None = None,
    routed: bool = True,
    aux: bool = False,
    activation: str = "silu",
    init: Init = glorot_uniform,
    name: str = "moe",
) -> Para:
    """A top-``k`` mixture of ``n_experts`` SwiGLU experts on ``R(n, d)`` (see the module doc).

    Args:
        n: the number of tokens (the sequence length).
        d: the model width.
        hidden: each expert's hidden width.
        n_experts: the number of experts ``E``.
        k: how many experts each token uses.
        capacity_factor: rows per expert ``ceil(cf · n · k / E)``; ``None``: dropless.
        routed: index dispatch (``True``) or the dense-masked form (``False``).
        aux: also return ``R(2)``: the load-balancing loss and the dropped choices.
        activation: the experts' gate nonlinearity (``"silu"``: SwiGLU).
        init: the initialiser of the weights.
        name: the layer's name (paths ``name.router.w``, ``name.experts.*``).

    Returns:
        A Para ``R(n, d) -> R(n, d)``, or ``R(n, d) -> R(n, d) * R(2)`` with ``aux``.
    """
    _dims("experts", n=n, d=d, hidden=hidden, n_experts=n_experts, k=k)
    if k > n_experts:
        raise ValueError(f"experts: k = {k} is more than n_experts = {n_experts}")
    x, g, lab, s = R(n, d), R(n, k), Fin(n_experts, n, k), R(n, n_experts)
    cap = capacity(n, n_experts, k, capacity_factor)
    disp = P.dispatch(lab, cap)
    slots, keep = disp.cod.left, disp.cod.right  # type: ignore[attr-defined]
    scores = linear(d, n_experts, lead=(n,), bias=False, init=init, name="router")
    gates = P.top_k(s, k) >> (P.softmax(g, -1) * (copy(lab) >> (Id(lab) * disp)))
    # leaves: 0 x, 1 gates, 2 labels, 3 slots, 4 keep, 5 router probabilities
    routing = Id(x) * (copy(s) >> (gates * P.softmax(s, -1)))
    state = copy(x) >> (Id(x) * scores) >> routing
    t = state.cod
    ffn = stacked_experts((cap,) if routed else (n,), d, hidden, n_experts,
                          activation=activation, init=init)  # fmt: skip
    mix = _routed(t, x, g, slots, cap, ffn) if routed else _dense(t, x, g, lab, ffn)
    if aux:
        mix = copy(t) >> (mix * _aux(t, lab, keep, n_experts))
    return grouped(name, state >> mix)


def _routed(t: Ob, x: R, g: R, slots: Fin, cap: int, ffn: Para) -> Para:
    """The state ``t`` to ``y``: scatter the tokens to their slots, run, gather, mix by gates."""
    n, d = x.shape
    e, k = (slots.n - 1) // cap, g.shape[1]
    buf, out = R(e * cap + 1, d), R(e * cap, d)
    spread = P.reshape(x, n, 1, d) >> P.broadcast(R(n, 1, d), n, k, d)
    into = (spread * Id(slots)) >> P.scatter_add(R(n, k, d), slots)
    slab = P.slice_axis(buf, 0, e * cap, axis=0) >> P.reshape(out, e, cap, d)
    run = into >> slab >> ffn >> P.reshape(R(e, cap, d), e * cap, d)
    padded = pair(Id(out), discard(out) >> P.full(R(1, d), 0.0)) >> P.concat(out, R(1, d), 0)
    back = copy(x * slots) >> ((run >> padded) * snd(x, slots)) >> P.gather(buf, slots)
    combine = P.einsum("nk,nkd->nd", g, R(n, k, d))
    return copy(t) >> (_pick(t, 1) * (_pick(t, 0, 3) >> back)) >> combine


def _dense(t: Ob, x: R, g: R, lab: Fin, ffn: Para) -> Para:
    """The state ``t`` to ``y``: every expert on every token, mixed by the scattered gates."""
    n, d = x.shape
    e, k = lab.n, g.shape[1]
    spread = P.reshape(x, 1, n, d) >> P.broadcast(R(1, n, d), e, n, d)
    weights = (Id(g) * P.one_hot(lab)) >> P.einsum("nk,nke->ne", g, R(n, k, e))
    mix = P.einsum("ne,end->nd", R(n, e), R(e, n, d))
    return copy(t) >> ((_pick(t, 1, 2) >> weights) * (_pick(t, 0) >> spread >> ffn)) >> mix


def _aux(t: Ob, lab: Fin, keep: R, e: int) -> Arrow:
    """The state ``t`` to ``R(2)``: ``[E Σ_e f_e P_e, dropped choices]``."""
    n, k = keep.shape  # n may be a Dim: nothing here needs its size
    hot = R(n, k, e)
    frac = P.one_hot(lab) >> P.reduce_sum(hot, 1) >> P.reduce_mean(R(n, e), 0)
    prob = P.reduce_mean(R(n, e), 0)
    loss = (frac * prob) >> P.einsum("e,e->", R(e), R(e)) >> P.scale(R(), float(e))
    lost = pair(discard(keep) >> P.full(R(), 1.0), Id(keep)) >> P.sub(R(), keep)  # 1 - keep
    dropped = lost >> P.reduce_sum(keep, -1) >> P.reduce_sum(R(n), -1)
    one = P.reshape(R(), 1)
    both = (_pick(t, 2, 5) >> loss >> one) * (_pick(t, 4) >> dropped >> one)
    return copy(t) >> both >> P.concat(R(1), R(1), 0)
