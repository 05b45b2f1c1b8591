"""Recurrent layers as folds over the sequence axis: RNN, GRU, LSTM, linear and selective SSMs.

A recurrent layer is a *cell* ``c: P * (S * X) -> S * Y`` (a ``Para`` over the
carried state and one item) folded over the sequence by ``topos.recur``: the
list catamorphism ``P * (S * Xⁿ) -> S * Yⁿ``, one cell, parameters **shared** by
every step. The layers start from the zero state and return every output
(``Xⁿ -> Yⁿ``); ``recurrent(cell, n, final=True)`` also returns the last state,
which is what ``generate`` carries as its cache.

Laws (doctested here; property-tested and held against Equinox in
``tests/topos/nn/test_recurrent.py`` and ``tests/backends/jax/test_recurrent.py``):

- a layer's arrow is a fold (``Recur``), equal to its unrolling;
- the parameters are the cell's: their number does not grow with the length;
- the linear SSM's two forms, the fold and the scan (``parallel=True``,
  ``topos.nn.primitives.linear_scan``: the fold of the monoid of affine maps,
  reassociated), share their parameters and compute the same map;
- ``analyze`` reads the fold through its cell: a linear SSM is linear (first
  order, PL pretopos), an RNN smooth, GRU/LSTM gated (order ``diagonal``), and a
  selective SSM *higher order*: its input chooses the transition and the readout,
  so the map it applies to the state (over the sequence, a lower-triangular map
  ``y = M(x) x``, as attention's) is a function of the input.

>>> from topos.analysis import analyze
>>> from topos.normal import equal
>>> g = gru(3, 4, 6)
>>> g.dom, g.cod, list(g.parameters())
(R(6, 3), R(6, 4), ['gru.x.w', 'gru.x.b', 'gru.h.w', 'gru.h.bn'])
>>> gru(3, 4, 600).num_params() == g.num_params()
True
>>> fold = recur_of(g)
>>> fold.n, equal(fold, fold.unroll())
(6, True)
>>> [analyze(f(2, 3, 5)).order for f in (rnn, gru, lstm)]
['first', 'diagonal', 'diagonal']
>>> analyze(linear_ssm(2, 3, 5)).lives_in, analyze(selective_ssm(2, 3, 5)).order
('PL pretopos', 'higher')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from topos.arrows import Arrow, Id, Recur, compose, discard, fst, group, pair, snd
from topos.errors import not_a
from topos.nn import primitives as P
from topos.nn.decoder import block
from topos.nn.layers import _check_name, _dims, embedding, grouped, linear, residual
from topos.nn.norms import rms_norm
from topos.objects import Dim, Ob, One, Product, R
from topos.para import Init, Para, constant, glorot_uniform, normal, ones, uniform, zeros

__all__ = [
    "cell",
    "gru",
    "gru_cell",
    "linear_ssm",
    "linear_ssm_cell",
    "lstm",
    "lstm_cell",
    "recur_of",
    "recurrent",
    "KINDS",
    "recurrent_lm",
    "rnn",
    "rnn_cell",
    "selective_ssm",
    "selective_ssm_cell",
    "zero_state",
]


# -- a straight-line program over named wires, compiled to one arrow -------------------


class _Program:
    """Values named one by one, each a box applied to earlier ones: a chain of ``let``s.

    The context is left-nested, ``((dom * v1) * v2) * ...``; a name is read by
    projections. Structure only: what reaches a backend is the boxes.
    """

    def __init__(self, dom: Ob, inputs: dict[str, Arrow]) -> None:
        self.ctxs: list[Ob] = [dom]  # the context after each let
        self.made: dict[str, int] = {}  # name -> the let that made it (1-based)
        self.inputs = inputs  # name -> projection out of dom
        self.steps: list[Arrow] = []

    def read(self, name: str) -> Arrow:
        """The projection of the current context onto ``name``."""
        k = len(self.ctxs) - 1
        j = self.made.get(name, 0)
        out: list[Arrow] = []
        for m in range(k, j, -1):  # drop the values made after ``name``
            left = self.ctxs[m - 1]
            out.append(fst(left, self.ctxs[m].right))  # type: ignore[attr-defined]
        if j:
            ctx = self.ctxs[j]
            out.append(snd(ctx.left, ctx.right))  # type: ignore[attr-defined]
        else:
            out.append(self.inputs[name])
        return compose(*out) if len(out) > 1 else out[0]

    def let(self, name: str, box: Arrow, *args: str) -> None:
        ctx = self.ctxs[-1]
        arg: Arrow
        if not args:
            arg = discard(ctx)
        else:
            reads = [self.read(a) for a in args]
            arg = reads[0] if len(reads) == 1 else pair(reads[0], reads[1])
        self.steps.append(pair(Id(ctx), arg >> box))
        self.ctxs.append(ctx * box.cod)
        self.made[name] = len(self.ctxs) - 1

    def out(self, *names: str | tuple[str, str]) -> Arrow:
        parts = [
            pair(self.read(n[0]), self.read(n[1])) if isinstance(n, tuple) else self.read(n)
            for n in names
        ]
        last = parts[0] if len(parts) == 1 else pair(parts[0], parts[1])
        return compose(*self.steps, last) if self.steps else last


def _inputs(
    p_names: Sequence[tuple[str, Ob]], s_names: Sequence[tuple[str, Ob]], x: Ob
) -> tuple[Ob, dict[str, Arrow]]:
    """The domain ``P * (S * X)`` and the projection onto each named leaf."""
    pob = _right_nested([ob for _, ob in p_names])
    sob = _right_nested([ob for _, ob in s_names])
    rest = sob * x
    dom = pob * rest
    out: dict[str, Arrow] = {"x": snd(pob, rest) >> snd(sob, x)}
    for names, whole, into in (
        (p_names, pob, fst(pob, rest)),
        (s_names, sob, snd(pob, rest) >> fst(sob, x)),
    ):
        for i, (name, _) in enumerate(names):
            out[name] = into >> _leaf(whole, i, len(names))
    return dom, out


def _right_nested(obs: Sequence[Ob]) -> Ob:
    out = obs[-1]
    for ob in reversed(obs[:-1]):
        out = ob * out
    return out


def _leaf(ob: Ob, i: int, k: int) -> Arrow:
    """Leaf ``i`` of the right-nested product ``ob`` of ``k`` factors."""
    steps: list[Arrow] = []
    for _ in range(i):
        assert isinstance(ob, Product)
        steps.append(snd(ob.left, ob.right))
        ob = ob.right
    if i < k - 1:
        assert isinstance(ob, Product)
        steps.append(fst(ob.left, ob.right))
    return compose(*steps) if len(steps) > 1 else steps[0] if steps else Id(ob)


def cell(
    name: str,
    params: Sequence[tuple[str, Ob, Init]],
    state: Sequence[tuple[str, Ob]],
    x: Ob,
    body: Callable[[_Program], tuple[Sequence[str], str]],
) -> Para:
    """A cell ``S * X -> S * Y`` over the parameters ``params`` (path, object, init).

    ``body`` writes the step on a ``_Program`` whose inputs are the parameter
    names, the state names and ``"x"``, and returns the names of the new state
    (in the order of ``state``) and of the output.
    """
    _check_name(name, name)
    dom, inputs = _inputs([(p, ob) for p, ob, _ in params], state, x)
    prog = _Program(dom, inputs)
    new, y = body(prog)
    new_state: str | tuple[str, str] = new[0] if len(new) == 1 else (new[0], new[1])
    arrow = prog.out(new_state, y)
    assert isinstance(dom, Product)
    return Para(dom.left, group(name, arrow), params={p: init for p, _, init in params})


# -- folding a cell ----------------------------------------------------------------------


def zero_state(s: Ob) -> Arrow:
    """``One -> s``: the zero state (each ``R`` leaf filled with 0).

    >>> zero_state(R(2) * R(3)).cod
    R(2) * R(3)
    """
    if isinstance(s, Product):
        return pair(zero_state(s.left), zero_state(s.right))
    if s == One:
        return Id(One)
    return P.full(s, 0.0)


def recurrent(c: Para, n: int | Dim, *, reverse: bool = False, final: bool = False) -> Para:
    """The cell ``c: S * X -> S * Y`` folded over ``n`` items from the zero state.

    ``Xⁿ -> Yⁿ`` (every output), or ``Xⁿ -> S * Yⁿ`` with ``final=True``; the
    arrow is ``⟨π_P, ⟨0, π_X⟩⟩ ; Recur(c.arrow, n, reverse)`` and the parameters are
    the cell's, shared by every step.

    >>> r = recurrent(rnn_cell(3, 4), 7)
    >>> r.dom, r.cod, recur_of(r).n
    (R(7, 3), R(7, 4), 7)
    >>> recurrent(rnn_cell(3, 4), 7, final=True).cod
    R(4) * R(7, 4)
    """
    if not isinstance(c, Para):
        raise not_a("recurrent", "a cell Para S * X -> S * Y", c)
    dom, cod = c.dom, c.cod
    if not (isinstance(dom, Product) and isinstance(cod, Product) and dom.left == cod.left):
        raise TypeError(f"recurrent: expected a cell S * X -> S * Y, got {dom!r} -> {cod!r}")
    fold = Recur(c.arrow, n, reverse)
    p, s = c.P, dom.left
    xs = fold.dom.right.right  # type: ignore[attr-defined]
    start = pair(fst(p, xs), pair(discard(p * xs) >> zero_state(s), snd(p, xs)))
    arrow = start >> fold
    if not final:
        arrow = arrow >> snd(s, fold.cod.right)  # type: ignore[attr-defined]
    return Para(p, arrow, params=c.params)


def recur_of(p: Para | Arrow) -> Recur:
    """The fold inside a recurrent layer (its ``Recur`` node).

    >>> recur_of(rnn(2, 3, 4)).n
    4
    """
    arrow = p.arrow if isinstance(p, Para) else p
    stack = [arrow]
    while stack:
        a = stack.pop()
        if isinstance(a, Recur):
            return a
        stack.extend(a.children)
    raise TypeError(f"recur_of: no fold (Recur) in {arrow!s:.80}")


def _named(name: str, p: Para) -> Para:
    inner = Para(p.P, group(name, p.arrow), params=p.params)
    return inner.named(name)


# -- the cells ---------------------------------------------------------------------------


def _mv(prog: _Program, out: str, v: str, w: str, vob: R, wob: R) -> None:
    prog.let(out, P.einsum("i,io->o", vob, wob), v, w)


def rnn_cell(din: int, dh: int, *, init: Init = glorot_uniform, name: str = "rnn") -> Para:
    """``h' = tanh(x @ x.w + x.b + h @ h.w)``, output ``h'``: the Elman cell.

    >>> c = rnn_cell(3, 4)
    >>> c.dom, c.cod, list(c.parameters())
    (R(4) * R(3), R(4) * R(4), ['x.w', 'x.b', 'h.w'])
    """
    _dims("rnn_cell", din=din, dh=dh)
    x, h, wx, wh = R(din), R(dh), R(din, dh), R(dh, dh)

    def body(prog: _Program) -> tuple[Sequence[str], str]:
        _mv(prog, "xw", "x", "x.w", x, wx)
        prog.let("a", P.add(h, h), "xw", "x.b")
        _mv(prog, "hw", "h", "h.w", h, wh)
        prog.let("pre", P.add(h, h), "a", "hw")
        prog.let("new", P.tanh(h), "pre")
        return ["new"], "new"

    params = [("x.w", wx, init), ("x.b", h, zeros), ("h.w", wh, init)]
    return cell(name, params, [("h", h)], x, body)


def gru_cell(din: int, dh: int, *, init: Init | None = None, name: str = "gru") -> Para:
    """The GRU cell, gates ``r, z, n`` fused in one matrix each side (Equinox's layout).

    ``g = x @ x.w + x.b``, ``k = h @ h.w`` (each ``[r | z | n]``), ``r = σ(g_r + k_r)``,
    ``z = σ(g_z + k_z)``, ``n = tanh(g_n + r ⊙ (k_n + h.bn))``, ``h' = n + z ⊙ (h - n)``.
    Initialised ``U(±1/√dh)`` as Equinox's ``GRUCell``.

    >>> gru_cell(3, 4).parameters()["x.w"].ob
    R(3, 12)
    """
    _dims("gru_cell", din=din, dh=dh)
    init = init or uniform(dh**-0.5)
    x, h, g = R(din), R(dh), R(3 * dh)

    def body(prog: _Program) -> tuple[Sequence[str], str]:
        _mv(prog, "gx0", "x", "x.w", x, R(din, 3 * dh))
        prog.let("gx", P.add(g, g), "gx0", "x.b")
        _mv(prog, "gh", "h", "h.w", h, R(dh, 3 * dh))
        for i, part in enumerate("rzn"):
            prog.let(f"x{part}", P.slice_axis(g, i * dh, (i + 1) * dh), "gx")
            prog.let(f"h{part}", P.slice_axis(g, i * dh, (i + 1) * dh), "gh")
        for part in "rz":
            prog.let(f"{part}0", P.add(h, h), f"x{part}", f"h{part}")
            prog.let(part, P.sigmoid(h), f"{part}0")
        prog.let("hn1", P.add(h, h), "hn", "h.bn")
        prog.let("rn", P.mul(h, h), "r", "hn1")
        prog.let("n0", P.add(h, h), "xn", "rn")
        prog.let("n", P.tanh(h), "n0")
        prog.let("d", P.sub(h, h), "h", "n")
        prog.let("zd", P.mul(h, h), "z", "d")
        prog.let("new", P.add(h, h), "n", "zd")
        return ["new"], "new"

    params = [
        ("x.w", R(din, 3 * dh), init),
        ("x.b", g, init),
        ("h.w", R(dh, 3 * dh), init),
        ("h.bn", h, init),
    ]
    return cell(name, params, [("h", h)], x, body)


def lstm_cell(din: int, dh: int, *, init: Init | None = None, name: str = "lstm") -> Para:
    """The LSTM cell, state ``(h, c)``, gates ``[i | f | g | o]`` fused (Equinox's layout).

    ``z = x @ x.w + h @ h.w + b``; ``c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)``;
    ``h' = σ(o) ⊙ tanh(c')``; output ``h'``.

    >>> c = lstm_cell(3, 4)
    >>> c.dom, c.cod
    (R(4) * R(4) * R(3), R(4) * R(4) * R(4))
    """
    _dims("lstm_cell", din=din, dh=dh)
    init = init or uniform(dh**-0.5)
    x, h, g = R(din), R(dh), R(4 * dh)

    def body(prog: _Program) -> tuple[Sequence[str], str]:
        _mv(prog, "gx", "x", "x.w", x, R(din, 4 * dh))
        _mv(prog, "gh", "h", "h.w", h, R(dh, 4 * dh))
        prog.let("z0", P.add(g, g), "gx", "gh")
        prog.let("z", P.add(g, g), "z0", "b")
        for i, part in enumerate("ifgo"):
            prog.let(f"{part}0", P.slice_axis(g, i * dh, (i + 1) * dh), "z")
            act = P.tanh(h) if part == "g" else P.sigmoid(h)
            prog.let(part, act, f"{part}0")
        prog.let("fc", P.mul(h, h), "f", "c")
        prog.let("ig", P.mul(h, h), "i", "g")
        prog.let("c1", P.add(h, h), "fc", "ig")
        prog.let("tc", P.tanh(h), "c1")
        prog.let("h1", P.mul(h, h), "o", "tc")
        return ["h1", "c1"], "h1"

    params = [("x.w", R(din, 4 * dh), init), ("h.w", R(dh, 4 * dh), init), ("b", g, init)]
    return cell(name, params, [("h", h), ("c", h)], x, body)


def _ssm_params(d: int, state: int) -> list[tuple[str, Ob, Init]]:
    return [
        ("a_log", R(state), uniform(1.0)),  # a = exp(-exp(a_log)) in (0, 1): stable
        ("b", R(d, state), normal(d**-0.5)),
        ("c", R(state, d), normal(state**-0.5)),
        ("d", R(d), ones),
    ]


def _decay(prog: _Program, state: int) -> None:
    n = R(state)
    prog.let("ea", P.exp(n), "a_log")
    prog.let("nea", P.scale(n, -1.0), "ea")
    prog.let("a", P.exp(n), "nea")


def linear_ssm_cell(d: int, state: int, *, name: str = "ssm") -> Para:
    """A diagonal linear state-space cell (S4D-real / LRU style): linear in ``(h, x)``.

    ``h' = a ⊙ h + x @ b``, ``y = h' @ c + d ⊙ x`` with ``a = exp(-exp(a_log))``
    (a decay in ``(0, 1)``, computed from the parameters only).

    >>> linear_ssm_cell(3, 8).dom
    R(8) * R(3)
    """
    _dims("linear_ssm_cell", d=d, state=state)
    x, n = R(d), R(state)

    def body(prog: _Program) -> tuple[Sequence[str], str]:
        _decay(prog, state)
        prog.let("ah", P.mul(n, n), "a", "h")
        _mv(prog, "bx", "x", "b", x, R(d, state))
        prog.let("new", P.add(n, n), "ah", "bx")
        _mv(prog, "ch", "new", "c", n, R(state, d))
        prog.let("dx", P.mul(x, x), "d", "x")
        prog.let("y", P.add(x, x), "ch", "dx")
        return ["new"], "y"

    return cell(name, _ssm_params(d, state), [("h", n)], x, body)


def _parallel_ssm(d: int, state: int, n: int, name: str) -> Para:
    """The same map as ``recurrent(linear_ssm_cell(d, state), n)``, by one ``linear_scan``."""
    xs, hs = R(n, d), R(n, state)
    params = _ssm_params(d, state)
    pob = _right_nested([ob for _, ob, _ in params])
    dom = pob * xs
    inputs: dict[str, Arrow] = {"x": snd(pob, xs)}
    for i, (p, _, _) in enumerate(params):
        inputs[p] = fst(pob, xs) >> _leaf(pob, i, len(params))
    prog = _Program(dom, inputs)
    _decay(prog, state)
    prog.let("one", P.full(hs, 1.0))
    prog.let("as", P.mul(hs, R(state)), "one", "a")
    prog.let("bx", P.einsum("ti,in->tn", xs, R(d, state)), "x", "b")
    prog.let("h", P.linear_scan(hs, hs), "as", "bx")
    prog.let("ch", P.einsum("tn,nd->td", hs, R(state, d)), "h", "c")
    prog.let("dx", P.mul(xs, R(d)), "x", "d")
    prog.let("y", P.add(xs, xs), "ch", "dx")
    arrow = prog.out("y")
    return Para(pob, group(name, arrow), params={p: init for p, _, init in params})


def selective_ssm_cell(d: int, state: int, *, name: str = "mamba") -> Para:
    """A selective state-space cell (Mamba's S6, real diagonal): the input chooses the step.

    State ``h: R(d, state)``. From the item ``x``: ``Δ = softplus(x @ dt.w + dt.b)``,
    ``B = x @ w_b``, ``C = x @ w_c``; ``Ā = exp(Δ ⊗ A)`` with ``A = -exp(a_log)``;
    ``h' = Ā ⊙ h + (Δ ⊙ x) ⊗ B``; ``y = h' · C + d ⊙ x``. The transition ``Ā`` and the
    readout ``C`` are functions of the input: ``analyze`` says *higher order*.

    >>> selective_ssm_cell(3, 4).dom
    R(3, 4) * R(3)
    """
    _dims("selective_ssm_cell", d=d, state=state)
    x, n, dn = R(d), R(state), R(d, state)

    def body(prog: _Program) -> tuple[Sequence[str], str]:
        _mv(prog, "dt0", "x", "dt.w", x, R(d, d))
        prog.let("dt1", P.add(x, x), "dt0", "dt.b")
        prog.let("e", P.exp(x), "dt1")  # softplus(z) = log(1 + e^z)
        prog.let("one", P.full(x, 1.0))
        prog.let("e1", P.add(x, x), "one", "e")
        prog.let("dt", P.log(x), "e1")
        prog.let("ea", P.exp(dn), "a_log")
        prog.let("A", P.scale(dn, -1.0), "ea")
        prog.let("dA", P.einsum("i,in->in", x, dn), "dt", "A")
        prog.let("Ab", P.exp(dn), "dA")
        _mv(prog, "B", "x", "w_b", x, R(d, state))
        _mv(prog, "C", "x", "w_c", x, R(d, state))
        prog.let("dx", P.mul(x, x), "dt", "x")
        prog.let("Bx", P.einsum("i,n->in", x, n), "dx", "B")
        prog.let("Ah", P.mul(dn, dn), "Ab", "h")
        prog.let("new", P.add(dn, dn), "Ah", "Bx")
        prog.let("ch", P.einsum("in,n->i", dn, n), "new", "C")
        prog.let("skip", P.mul(x, x), "d", "x")
        prog.let("y", P.add(x, x), "ch", "skip")
        return ["new"], "y"

    params = [
        ("dt.w", R(d, d), normal(d**-0.5)),
        ("dt.b", x, constant_dt()),
        ("a_log", dn, uniform(1.0)),
        ("w_b", R(d, state), normal(d**-0.5)),
        ("w_c", R(d, state), normal(d**-0.5)),
        ("d", x, ones),
    ]
    return cell(name, params, [("h", dn)], x, body)


def constant_dt() -> Init:
    """The init of the step's bias: ``softplus(-2) ≈ 0.13``, a moderate step."""
    return constant(-2.0)


# -- the layers ---------------------------------------------------------------------------


def rnn(din: int, dh: int, n: int | Dim, *, reverse: bool = False, name: str = "rnn") -> Para:
    """An Elman RNN over ``n`` steps returning every state: ``R(n, din) -> R(n, dh)``.

    >>> rnn(3, 4, 5).cod, rnn(3, 4, Dim("t", 9)).dom
    (R(5, 4), R(Dim('t', 9), 3))
    """
    return _named(name, recurrent(rnn_cell(din, dh, name="cell"), n, reverse=reverse))


def gru(din: int, dh: int, n: int | Dim, *, reverse: bool = False, name: str = "gru") -> Para:
    """A GRU over ``n`` steps returning every state: ``R(n, din) -> R(n, dh)``."""
    return _named(name, (recurrent(gru_cell(din, dh, name="cell"), n, reverse=reverse)))


def lstm(din: int, dh: int, n: int | Dim, *, reverse: bool = False, name: str = "lstm") -> Para:
    """An LSTM over ``n`` steps returning every hidden state: ``R(n, din) -> R(n, dh)``."""
    return _named(name, (recurrent(lstm_cell(din, dh, name="cell"), n, reverse=reverse)))


def linear_ssm(
    d: int, state: int, n: int | Dim, *, parallel: bool = False, name: str = "ssm"
) -> Para:
    """A diagonal linear SSM over ``n`` steps: ``R(n, d) -> R(n, d)``.

    The fold of ``linear_ssm_cell`` (``parallel=False``), or the same map as one
    ``linear_scan`` (``parallel=True``), with the same parameter paths, so one
    parameter dict serves both. The state's update ``h ↦ a ⊙ h + B x_t`` is an affine
    map; affine maps form a monoid, ``(a, b) · (a', b') = (a a', a' b + b')``, and the
    states are the prefixes of its fold. The sequential form brackets that fold from
    the left, one step at a time; the parallel form may bracket it any way
    (associativity), and the JAX backend brackets it in chunks — every prefix within
    each chunk of 8 steps, then the chunks' products folded by a short scan, then each
    prefix corrected by the state entering its chunk (the "state passing" form of
    SSD; ``backends.jax.core.scan``):

    >>> from functools import reduce
    >>> steps = [(0.5, 1.0), (2.0, 1.0), (-1.0, 2.0), (0.0, 1.0), (3.0, -1.0)]
    >>> def then(f, g):
    ...     return f[0] * g[0], g[0] * f[1] + g[1]
    >>> left = reduce(then, steps)  # the sequential fold
    >>> chunked = reduce(then, [reduce(then, steps[i : i + 2]) for i in range(0, 5, 2)])
    >>> left == chunked, left[1]  # the final state h_4
    (True, 2.0)
    >>> seq, par = linear_ssm(2, 4, 8), linear_ssm(2, 4, 8, parallel=True)
    >>> list(seq.parameters()) == list(par.parameters()), seq.dom == par.dom
    (True, True)
    """
    if parallel:
        if isinstance(n, Dim):
            raise TypeError("linear_ssm: the parallel form needs a concrete length n")
        _dims("linear_ssm", d=d, state=state, n=n)
        return _named(name, (_parallel_ssm(d, state, n, "cell")))
    return _named(name, (recurrent(linear_ssm_cell(d, state, name="cell"), n)))


def selective_ssm(d: int, state: int, n: int | Dim, *, name: str = "mamba") -> Para:
    """A selective SSM (Mamba-style S6) over ``n`` steps: ``R(n, d) -> R(n, d)``."""
    return _named(name, (recurrent(selective_ssm_cell(d, state, name="cell"), n)))


# -- language models: recurrent, and hybrids of recurrence and attention ------------------

#: The recurrent layers ``recurrent_lm`` knows, by name.
KINDS = ("rnn", "gru", "lstm", "ssm", "mamba")


def _mixer(kind: str, d: int, seq: int | Dim, state: int, name: str) -> Para:
    if kind == "rnn":
        return rnn(d, d, seq, name=name)
    if kind == "gru":
        return gru(d, d, seq, name=name)
    if kind == "lstm":
        return lstm(d, d, seq, name=name)
    if kind == "ssm":
        return linear_ssm(d, state, seq, name=name)
    if kind == "mamba":
        return selective_ssm(d, state, seq, name=name)
    raise ValueError(f"recurrent_lm: unknown kind {kind!r}, expected one of {KINDS}")


def recurrent_lm(
    vocab: int,
    seq: int | Dim,
    d: int,
    layers: int,
    *,
    kind: str = "gru",
    state: int = 16,
    attention: Sequence[int] = (),
    heads: int = 2,
) -> Para:
    """A language model ``Fin(vocab, seq) -> R(seq, vocab)`` of recurrent layers.

    Token embedding, then ``layers`` residual layers ``x + mix(rms(x))`` where
    ``mix`` is the recurrent layer ``kind`` (one of ``KINDS``; ``state`` is the SSM
    state size) — or, for the layer indices in ``attention``, a causal transformer
    ``block`` (a hybrid, as Jamba or Griffin) — then an RMS norm and the logits head.
    Paths ``embed``, ``l{i}.norm``, ``l{i}.mix`` (or ``l{i}.block``), ``norm``, ``head``.
    With ``seq = Dim("seq", max)`` ``generate`` decodes it, the carried states being
    the recurrent layers' cache (and keys and values the attention's).

    >>> lm = recurrent_lm(11, Dim("seq", 32), 8, 2, kind="mamba", state=4, attention=[1])
    >>> lm.dom, lm.cod
    (Fin(11, Dim('seq', 32)), R(Dim('seq', 32), 11))
    >>> [p for p in lm.parameters()][:3]
    ['embed.table', 'l0.norm.scale', 'l0.mix.dt.w']
    """
    _dims("recurrent_lm", vocab=vocab, seq=seq, d=d, layers=layers, state=state)
    if kind not in KINDS:
        raise ValueError(f"recurrent_lm: unknown kind {kind!r}, expected one of {KINDS}")
    bad = [i for i in attention if not (isinstance(i, int) and 0 <= i < layers)]
    if bad:
        raise ValueError(f"recurrent_lm: attention layers must be in 0..{layers - 1}, got {bad}")
    net = embedding(vocab, d, lead=(seq,))
    for i in range(layers):
        if i in attention:
            part = block(seq, d, heads, name=f"l{i}")
        else:
            mix = rms_norm(d, lead=(seq,), name="norm") >> _mixer(kind, d, seq, state, "mix")
            part = residual(grouped(f"l{i}", mix))
        net = net >> part
    net = net >> rms_norm(d, lead=(seq,), name="norm")
    return net >> linear(d, vocab, lead=(seq,), bias=False, name="head")
