"""Why a PL network decided what it did: the rule, the local linear model, a counterfactual.

``explain(net, x, box)`` answers in three parts: the region of ``x`` as its
facets (every input satisfying them is treated by the same affine map), the
decision margin as an exact linear function on that region, and the nearest
input (L∞) with another decision that linear programs find region by region,
checked by evaluating the network there. It runs within a time budget and says
what it finished: rows of the rule not yet classified stay in it, marked, so
the region it describes is exact either way.

>>> import jax, numpy as np
>>> from topos.nn import mlp
>>> from backends.jax import init
>>> from backends.jax.logic.pl import PLNet
>>> p = mlp([2, 8, 3])
>>> net = PLNet(p, init(p, jax.random.key(0)))
>>> e = explain(net, [0.3, -0.2], box=[-1, 1])
>>> e.decision == int(np.argmax(net([0.3, -0.2]))), e.rule.contains([0.3, -0.2])
(True, True)
>>> cf = e.counterfactual
>>> cf.verified, bool(np.isclose(cf.distance, np.abs(cf.point - [0.3, -0.2]).max()))
(True, True)
>>> e.complete, e.undecided.any()
(True, np.False_)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from backends.jax.logic.budget import Budget
from backends.jax.logic.facets import classify
from backends.jax.logic.local import LocalMap, decide, row_labels, scores
from backends.jax.logic.pl import PLNet
from backends.jax.logic.polyhedra import Region, as_box, optional_bounds, unit_rows
from backends.jax.logic.solver import LPModel, RowGeneration, one_blas_thread

__all__ = ["Counterfactual", "Explanation", "box_flip", "explain", "explain_reference"]


@dataclass(frozen=True, eq=False)
class Counterfactual:
    """An input with a different decision, the nearest in the regions searched (L∞).

    ``verified`` says that the network, evaluated at ``point``, decides
    ``decision``. ``nearest`` says that ``distance`` is the optimum over the
    region where it was found; it is False when the budget ran out before every
    rival class was tried there (the distance is then an upper bound).
    """

    point: np.ndarray
    distance: float
    decision: int
    verified: bool
    regions_visited: int
    nearest: bool = True


@dataclass(frozen=True, eq=False)
class Explanation:
    """Why the network decided ``decision`` at ``x``: rule, local model, counterfactual.

    ``rule`` is the region of ``x``, exactly: its facets, and the rows not yet
    classified when the budget ran out (``undecided``, one flag per row of the
    rule; each is a facet or implied by the others). ``complete`` says that
    every row was classified and the counterfactual search ran to its end;
    ``seconds`` is the time taken, ``budget`` the time allowed (None: no limit).
    """

    x: np.ndarray
    decision: int
    outputs: np.ndarray
    rule: Region
    local: LocalMap
    contributions: tuple[tuple[int, float], ...]
    runner_up: int
    counterfactual: Counterfactual | None
    undecided: np.ndarray
    searched: bool
    budget: float | None
    seconds: float

    @property
    def complete(self) -> bool:
        """Whether every stage finished within the budget."""
        return self.searched and not bool(self.undecided.any())

    def __str__(self) -> str:
        lines = [f"decision: {self.decision} (runner-up {self.runner_up})"]
        lines += self._rule_lines()
        what = f"score {self.decision} - score {self.runner_up}"
        tops = ", ".join(f"x[{i}] {v:+.3g}" for i, v in self.contributions)
        lines.append(f"local linear model: {what} = sum_i w_i x_i + c; top inputs w_i x_i: {tops}")
        lines.append(self._counterfactual_line())
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self) -> str:
        """The budget's verdict: what finished in time, and what did not."""
        limit = "no limit" if self.budget is None else f"budget {self.budget:g} s"
        if self.complete:
            return f"budget: complete in {self.seconds:.3g} s ({limit})"
        cut = []
        if not self.searched:
            cut.append("the counterfactual search was cut short")
        left = int(self.undecided.sum())
        if left:
            cut.append(
                f"certified {len(self.rule) - left} of the rule's {len(self.rule)} rows as facets;"
                f" {left} not yet classified (kept, so the region is exact)"
            )
        return f"budget: {limit} reached after {self.seconds:.3g} s: " + "; ".join(cut)

    def _rule_lines(self) -> list[str]:
        left = int(self.undecided.sum())
        if left:
            head = (
                f"rule: x is in its activation region, {len(self.rule)} rows (A x <= b):"
                f" {len(self.rule) - left} certified facets, {left} not yet classified"
            )
        else:
            head = f"rule: x is in its activation region, {len(self.rule)} facets (A x <= b):"
        text = str(self.rule).splitlines()
        order = np.argsort(self.undecided, kind="stable")  # certified facets first
        shown = [text[i] + ("  [not yet classified]" if self.undecided[i] else "") for i in order]
        lines = [head] + [f"  {line}" for line in shown[:8]]
        if len(self.rule) > 8:
            lines.append(f"  ... and {len(self.rule) - 8} more")
        return lines

    def _counterfactual_line(self) -> str:
        cf = self.counterfactual
        if cf is None:
            why = "in the regions searched" if self.searched else "before the budget ran out"
            return f"counterfactual: none found {why}"
        delta = cf.point - self.x
        moved = np.argsort(-np.abs(delta))[:5]
        changes = ", ".join(f"x[{i}] {delta[i]:+.3g}" for i in moved if abs(delta[i]) > 1e-12)
        ok = "verified by the network" if cf.verified else "NOT verified"
        near = "" if cf.nearest else "; not proven nearest in its region (budget)"
        return (
            f"counterfactual: decides {cf.decision} at L∞ distance {cf.distance:.4g}"
            f" ({ok}; {cf.regions_visited} region(s) searched{near}); changes: {changes}"
        )


@one_blas_thread
def explain(
    net: PLNet,
    x: Any,
    box: Any = None,
    *,
    top: int = 5,
    steps: int = 20,
    budget: float | None = 60.0,
    progress: bool | TextIO | None = None,
) -> Explanation:
    """Why ``net`` decided what it did at ``x``.

    - **rule**: the region of ``x`` (within ``box``): its facets, in input
      coordinates; every input satisfying them gets the same affine map;
    - **local linear model**: on that region the decision margin (the score of
      the decision minus the runner-up's) is ``w . y + c`` exactly; the inputs
      with the largest ``w_i x_i`` are listed;
    - **counterfactual**: the nearest input (L∞) with another decision, found by
      linear programs region by region: in the region of ``x`` first, then in the
      regions met walking towards the local model's nearest flip (at most
      ``steps``). It is the exact optimum within the region where it is found
      and is checked by evaluating the network there; a globally nearest one
      would need a mixed-integer program over all regions.

    The decision is the argmax of the outputs (``output > 0`` for one output).

    It runs within ``budget`` seconds: the decision and the local model first
    (one forward pass and one Jacobian, never cut short), then the
    counterfactual search, then the rule's rows, nearest first. When time runs
    out, what is left is reported, never guessed: rows not yet classified stay
    in the rule (``undecided``; the region is exact either way), a
    counterfactual found before every rival was tried is marked not proven
    nearest, and ``complete`` is False. The text form ends with the verdict.

    >>> import jax
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 8, 3])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> e = explain(net, [0.3, -0.2], box=[-1, 1])
    >>> e.counterfactual.verified, e.counterfactual.decision != e.decision, e.complete
    (True, True, True)
    >>> rushed = explain(net, [0.3, -0.2], box=[-1, 1], budget=0.0)
    >>> rushed.complete, rushed.counterfactual, bool(rushed.undecided.all())
    (False, None, True)
    >>> print(rushed.verdict())  # doctest: +ELLIPSIS
    budget: budget 0 s reached after ... s: the counterfactual search was cut short; ...

    Args:
        net: the network.
        x: the input to explain.
        box: the input domain, ``(low, high)`` or one pair per coordinate.
        top: how many inputs the local model lists.
        steps: how many regions the counterfactual search may visit.
        budget: the seconds allowed (None: no limit). Checked between linear
            programs, so it may be overrun by one of them.
        progress: where to show progress: a stream, ``True`` for stderr,
            ``False`` for nowhere; ``None``: stderr when it is a terminal (a live
            bar there; plain lines on a stream that is not a terminal).

    Returns:
        An ``Explanation``; ``str`` of it reads as a short report.
    """
    return _explain(net, x, box, top, steps, False, Budget(budget, progress))


@one_blas_thread
def explain_reference(
    net: PLNet,
    x: Any,
    box: Any = None,
    *,
    top: int = 5,
    steps: int = 20,
    budget: float | None = 60.0,
    progress: bool | TextIO | None = None,
) -> Explanation:
    """``explain`` by the earlier, slower facet certification and counterfactual LPs.

    The side-by-side benchmark (``benchmarks/regions.py``) and the tests compare
    the two: same rule, same counterfactual distance.

    >>> import jax
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 8, 3])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> e, r = explain(net, [0.3, -0.2], [-1, 1]), explain_reference(net, [0.3, -0.2], [-1, 1])
    >>> e.rule.names == r.rule.names
    True

    Args:
        net: the network.
        x: the input to explain.
        box: the input domain, as for ``explain``.
        top: how many inputs the local model lists.
        steps: how many regions the counterfactual search may visit.
        budget: the seconds allowed, as for ``explain``.
        progress: where to show progress, as for ``explain``.

    Returns:
        An ``Explanation``, as from ``explain``.
    """
    return _explain(net, x, box, top, steps, True, Budget(budget, progress))


def _explain(
    net: PLNet, x: Any, box: Any, top: int, steps: int, reference: bool, clock: Budget
) -> Explanation:
    with clock:
        x = np.ravel(np.asarray(x, np.float64))
        lo, hi = as_box(box, net.n)
        out, _, dec = net.record(x)
        y = decide(out)
        here = net.affine(dec)
        J, c, gjac, g = here
        SJ, Sc = scores(J, c)
        s = SJ @ x + Sc
        r = int(np.argsort(-s)[1]) if s.argmax() == y else int(s.argmax())
        w = SJ[y] - SJ[r]
        order = np.argsort(-np.abs(w * x))[:top]
        contributions = tuple((int(i), float(w[i] * x[i])) for i in order)
        cf, searched = _counterfactual(net, x, y, lo, hi, steps, reference, clock, here)
        A, b, idx = unit_rows(gjac, g)
        found = classify(A, b, lo, hi, x, clock, reference)
        keep = found.kept()
        rule = Region(A[keep], b[keep], row_labels(net, dec, idx[keep]))
        local = LocalMap(J, c)
        left = found.undecided[keep]
        e = Explanation(
            x, y, out, rule, local, contributions, r, cf, left, searched, clock.seconds,
            clock.elapsed(),
        )  # fmt: skip
        clock.say(e.verdict())
    return e


def _counterfactual(
    net: PLNet,
    x: np.ndarray,
    y: int,
    lo: np.ndarray,
    hi: np.ndarray,
    steps: int,
    reference: bool,
    clock: Budget,
    here: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[Counterfactual | None, bool]:
    """The nearest flip in the region of ``x``, else in the regions met walking towards
    the local model's nearest flip (at most ``steps`` regions); and whether the search
    ran to its end (False: the budget cut it short)."""
    bounds = optional_bounds(lo, hi)
    cur = x
    clock.stage("counterfactual: regions", steps)
    for visited in range(1, steps + 1):
        if clock.expired():
            return None, False
        J, c, gjac, g = here if visited == 1 else net.affine(net.record(cur)[2])
        A, b, _ = unit_rows(gjac, g)
        SJ, Sc = scores(J, c)
        found, whole = _flip_lp(x, y, SJ, Sc, A, b, bounds, reference=reference, clock=clock)
        clock.update(visited, f"{len(b)} rows")
        if found is not None:
            point, dist = found
            k = decide(net(point))
            return Counterfactual(point, dist, k, k != y, visited, whole), whole
        if not whole:
            return None, False
        target, _ = _flip_lp(x, y, SJ, Sc, A[:0], b[:0], bounds, reference=reference)
        if target is None:
            return None, True
        d = target[0] - cur
        speed = A @ d
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(speed > 1e-15, (b - A @ cur) / speed, np.inf)
        t_exit = float(t.min(initial=np.inf))
        if not np.isfinite(t_exit) or t_exit >= 1:
            return None, True  # the target is in this region, yet no flip here: numerical edge
        cur = cur + (t_exit + 1e-7 / max(float(np.abs(d).max()), 1e-12)) * d
    return None, True


def _flip_lp(
    x: np.ndarray,
    y: int,
    SJ: np.ndarray,
    Sc: np.ndarray,
    A: np.ndarray,
    b: np.ndarray,
    bounds: list[Any],
    margin: float = 1e-7,
    reference: bool = False,
    clock: Budget | None = None,
) -> tuple[tuple[np.ndarray, float] | None, bool]:
    """Min ``|x' - x|∞`` over ``A x' <= b`` with some score beating ``y``'s (LP per rival),
    and whether every rival was decided before ``clock`` ran out.

    Rivals are tried nearest first by a lower bound on their LP, and skipped once the
    bound reaches the best distance found: the bound is the exact optimum without the
    region's rows (``box_flip``), or (``reference``) without the box either. The
    region's rows join the LP only when its optimum violates them (``RowGeneration``),
    or (``reference``) all at once."""
    n = len(x)
    s = SJ @ x + Sc
    best: tuple[np.ndarray, float] | None = None
    rivals = [k for k in range(len(Sc)) if k != y]
    w = {k: SJ[y] - SJ[k] for k in rivals}
    lower = {k: max(0.0, s[y] - s[k] + margin) / max(np.abs(w[k]).sum(), 1e-300) for k in rivals}
    box_lo = np.array([-np.inf if u is None else u for u, _ in bounds])
    box_hi = np.array([np.inf if v is None else v for _, v in bounds])
    if not reference and np.all((box_lo <= x) & (x <= box_hi)):
        lower = {k: box_flip(w[k], s[y] - s[k] + margin, x - box_lo, box_hi - x) for k in rivals}
    cost = np.r_[np.zeros(n), 1.0]
    lp: LPModel | RowGeneration | None = None
    for k in sorted(rivals, key=lower.__getitem__):
        if best is not None and lower[k] >= best[1] + (0.0 if reference else 1e-12):
            break
        if clock is not None and clock.expired():
            return best, False
        if lp is None:
            lp = _flip_model(x, SJ, y, rivals, A, b, box_lo, box_hi, reference)
        model = lp if isinstance(lp, LPModel) else lp.model
        row = (2 * n + len(A) if reference else 2 * n) + rivals.index(k)
        model.bound(row, Sc[k] - Sc[y] - margin)
        point = lp.minimise(cost)
        model.bound(row, np.inf)
        if point is not None and (best is None or point[n] < best[1]):
            best = (point[:n], float(point[n]))
    return best, True


def _flip_model(
    x: np.ndarray,
    SJ: np.ndarray,
    y: int,
    rivals: list[int],
    A: np.ndarray,
    b: np.ndarray,
    box_lo: np.ndarray,
    box_hi: np.ndarray,
    reference: bool,
) -> LPModel | RowGeneration:
    """The counterfactual LP in ``(x', t)``: ``|x' - x|∞ <= t``, the box, a row per rival
    (relaxed until its turn), and the region's rows (lazily unless ``reference``)."""
    n = len(x)
    eye = np.eye(n)
    linf_a = np.r_[np.c_[eye, -np.ones(n)], np.c_[-eye, -np.ones(n)]]
    rival_rows = np.array([np.r_[SJ[y] - SJ[k], 0.0] for k in rivals]).reshape(len(rivals), n + 1)
    relaxed = np.full(len(rivals), np.inf)
    region = np.c_[A, np.zeros(len(A))]
    lo, hi = np.r_[box_lo, 0.0], np.r_[box_hi, np.inf]
    if reference:  # one model, every row in it: each solve warm-starts
        rows = np.r_[linf_a, region, rival_rows]
        return LPModel(rows, np.r_[x, -x, b, relaxed], lo, hi, False)
    model = LPModel(np.r_[linf_a, rival_rows], np.r_[x, -x, relaxed], lo, hi, True)
    start = np.arange(len(b)) if len(b) <= 4 * n else np.argsort(b - A @ x)[: 2 * n]
    return RowGeneration(model, region, b, start, batch=2 * n)


def box_flip(w: np.ndarray, gap: float, down: np.ndarray, up: np.ndarray) -> float:
    """The least ``t`` with ``w . d <= -gap`` for some ``|d|∞ <= t`` with ``-down <= d <= up``.

    Each coordinate moves by ``t`` against ``w`` until the box stops it; this is
    the exact optimum of the counterfactual LP without the region's rows, so a
    lower bound for each rival class.

    >>> box_flip(np.array([1.0, -2.0]), 3.0, np.array([5.0, 5.0]), np.array([0.5, 5.0]))
    1.0
    >>> box_flip(np.array([1.0, -2.0]), 3.0, np.array([0.5, 5.0]), np.array([5.0, 0.5]))
    inf
    >>> box_flip(np.array([1.0, -2.0]), 3.0, np.array([0.5, 5.0]), np.array([5.0, np.inf]))
    1.25

    Args:
        w: the margin's gradient.
        gap: how far the margin must fall.
        down: how far each coordinate may decrease (``inf`` allowed).
        up: how far each may increase.

    Returns:
        The least L∞ step, or ``inf`` when the box forbids a flip.
    """
    if gap <= 0:
        return 0.0
    weight = np.abs(w)
    cap = np.where(w > 0, down, up)[weight > 0]
    weight = weight[weight > 0]
    order = np.argsort(cap)
    cap, weight = cap[order], weight[order]
    # D(t) = sum_i weight_i min(t, cap_i): piecewise linear; find where it reaches gap
    done = np.r_[0.0, np.cumsum(weight * np.where(np.isfinite(cap), cap, 0.0))]
    free = weight.sum() - np.r_[0.0, np.cumsum(weight)]
    finite = np.isfinite(cap)
    at_cap = np.full(len(cap), np.inf)  # D at each breakpoint
    at_cap[finite] = done[1:][finite] + cap[finite] * free[1:][finite]
    reached = at_cap >= gap
    if not reached.any():
        return np.inf
    j = int(np.argmax(reached))
    return float(max((gap - done[j]) / free[j], 0.0))
