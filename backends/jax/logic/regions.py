"""The numeric side of the logic: activation patterns, regions, local affine maps.

A PL network (``analyze`` says "PL pretopos") cuts its input space into convex
*activation regions*; on each, the network is one affine map. With ``net =
PLNet(p, params)`` (see ``backends.jax.logic.pl``):

- ``pattern(net, x)``: which branch every ``relu``/``max`` takes at ``x``;
- ``region(net, x)``: the region of ``x`` as ``{y : A y <= b}``, redundant rows removed;
- ``local_map(net, x)``: ``(J, c)`` with ``net(y) = J y + c`` on that region, exact;
- ``regions(net, box)``: the regions meeting a box (exact in 2-D);
- ``explain(net, x)``: the rule, the local linear model, a counterfactual;
- ``predicates(net, cells)``: the Boolean algebra the neurons generate, as a
  ``topos.finite`` model for ``topos.logic``'s connectives.

>>> import jax, numpy as np
>>> from topos.nn import mlp
>>> from backends.jax import init
>>> p = mlp([2, 8, 1])
>>> net = PLNet(p, init(p, jax.random.key(0)))
>>> x = np.array([0.2, -0.4])
>>> lm = local_map(net, x)
>>> bool(np.allclose(lm(x), net(x)))
True
>>> region(net, x).contains(x)
True
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from backends.jax.logic.pl import NotPiecewiseLinear, PLNet

__all__ = [
    "Cell",
    "Counterfactual",
    "Explanation",
    "LocalMap",
    "NotPiecewiseLinear",
    "PLNet",
    "Pattern",
    "Region",
    "Regions",
    "Chosen",
    "TwoLevel",
    "explain",
    "explain_two_level",
    "local_map",
    "pattern",
    "plot_regions",
    "predicates",
    "region",
    "regions",
]

_TOL = 1e-9
_F = TypeVar("_F", bound=Callable[..., Any])


@functools.cache
def _threads() -> Any:
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController()


def _linprog(*args: Any, **kwargs: Any) -> Any:
    """``scipy.optimize.linprog`` (imported on first use: ``import backends.jax`` stays light)."""
    from scipy.optimize import linprog as solve  # type: ignore[import-untyped]

    return solve(*args, **kwargs)


def _highs(highspy: Any) -> Any:
    """A silent ``highspy.Highs()`` (its first construction prints a banner to fd 1)."""
    if _BANNER_SHOWN:
        return highspy.Highs()
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    _BANNER_SHOWN.append(True)
    return h


_BANNER_SHOWN: list[bool] = []


@dataclass(frozen=True)
class _Solved:
    """The result of ``_lp``: ``ok`` when optimal, then the point and the objective."""

    ok: bool
    x: np.ndarray
    fun: float


class _Model:
    """``A y <= b``, ``lower <= y <= upper`` as one HiGHS model, minimised for many costs
    (each solve warm-starts from the last basis)."""

    def __init__(
        self,
        A_ub: np.ndarray,
        b_ub: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        primal: bool = False,
    ) -> None:
        import highspy

        self.hs, inf = highspy, highspy.kHighsInf
        self.h = h = _highs(highspy)
        for option, value in (("output_flag", False), ("threads", 1)):
            h.setOptionValue(option, value)
        if primal:  # small dense LPs: presolve finds nothing, primal simplex is faster here
            h.setOptionValue("presolve", "off")
            h.setOptionValue("simplex_strategy", 4)
        m, n = A_ub.shape
        self.n = n
        h.addVars(
            n, np.where(np.isfinite(lower), lower, -inf), np.where(np.isfinite(upper), upper, inf)
        )
        nz = A_ub != 0
        starts = np.r_[0, np.cumsum(nz.sum(axis=1))[:-1]].astype(np.int32)
        cols = np.nonzero(nz)[1].astype(np.int32)
        h.addRows(m, np.full(m, -inf), np.asarray(b_ub, np.float64), int(nz.sum()), starts, cols,
                  np.ascontiguousarray(A_ub[nz], np.float64))  # fmt: skip

    def bound(self, row: int, upper: float) -> None:
        """Set the right-hand side of ``row`` (``inf`` relaxes it)."""
        inf = self.hs.kHighsInf
        self.h.changeRowBounds(row, -inf, upper if np.isfinite(upper) else inf)

    def minimise(self, cost: np.ndarray) -> np.ndarray | None:
        """The optimal point for ``cost``, or None (infeasible, unbounded)."""
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), np.asarray(cost, float))
        self.h.run()
        if self.h.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
            return None
        return np.asarray(self.h.getSolution().col_value, np.float64)


def _lp(
    cost: np.ndarray,
    A_ub: np.ndarray,
    b_ub: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    primal: bool = False,
) -> _Solved:
    """``min cost . y`` s.t. ``A_ub y <= b_ub``, ``lower <= y <= upper`` (±inf allowed), by
    HiGHS directly: the dense rows are passed once, without ``linprog``'s conversions."""
    y = _Model(A_ub, b_ub, lower, upper, primal).minimise(cost)
    if y is None:
        return _Solved(False, np.zeros(A_ub.shape[1]), np.inf)
    return _Solved(True, y, float(np.asarray(cost) @ y))


def _one_blas_thread(fn: _F) -> _F:
    """Run ``fn`` with one BLAS thread: its matrices are small, and threads only contend."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _threads().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Pattern:
    """The branches taken at the PL boxes: a mask per ``relu``, an argmax per ``max``.

    Two patterns are equal when every branch is the same; ``key`` is a hashable digest.
    """

    decisions: tuple[np.ndarray, ...]

    @property
    def key(self) -> bytes:
        """The pattern as bytes (equal patterns, equal keys)."""
        return _key(self.decisions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def active(self) -> int:
        """The number of active ReLU units (``True`` entries of the masks)."""
        return int(sum(d.sum() for d in self.decisions if d.dtype == bool))


def _key(decisions: Iterable[np.ndarray]) -> bytes:
    return b"".join(np.ascontiguousarray(d, np.int32).tobytes() for d in decisions)


@dataclass(frozen=True, eq=False)
class LocalMap:
    """The affine map ``y -> J y + c`` the network is on one region (inputs flattened)."""

    J: np.ndarray
    c: np.ndarray

    def __call__(self, y: Any) -> np.ndarray:
        return np.asarray(self.J @ np.ravel(y) + self.c)


@dataclass(frozen=True, eq=False)
class Region:
    """An H-polytope ``{y : A y <= b}`` (rows of unit norm), one name per row.

    ``names[i]`` says which branch condition row ``i`` is (``relu1[3] on`` means
    unit 3 of the first relu is active: its pre-activation is ``>= 0``).
    """

    A: np.ndarray
    b: np.ndarray
    names: tuple[str, ...]

    def contains(self, y: Any, tol: float = 1e-9) -> bool:
        """Whether ``y`` satisfies every inequality (up to ``tol``)."""
        return bool(np.all(self.A @ np.ravel(y) <= self.b + tol))

    def __len__(self) -> int:
        return len(self.b)

    def __str__(self) -> str:
        return "\n".join(
            f"{_affine_text(a)} <= {bi:.4g}   ({nm})"
            for a, bi, nm in zip(self.A, self.b, self.names, strict=True)
        )


def _affine_text(a: np.ndarray, terms: int = 4) -> str:
    order = np.argsort(-np.abs(a))[:terms]
    text = " ".join(f"{a[i]:+.3g}*x[{i}]" for i in order if abs(a[i]) > 0)
    return text + (" ..." if np.count_nonzero(a) > terms else "")


# -- one point -------------------------------------------------------------------------------


def pattern(net: PLNet, x: Any) -> Pattern:
    """The activation pattern of ``net`` at ``x``.

    >>> import jax, numpy as np
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 4, 1])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> pattern(net, [0.5, 0.5]) == pattern(net, [0.5, 0.5])
    True
    >>> [d.shape for d in pattern(net, [0.5, 0.5]).decisions]
    [(4,)]

    Args:
        net: the network.
        x: an input (any array of ``net.n`` numbers).

    Returns:
        The ``Pattern``: a boolean mask per relu, an argmax array per max.
    """
    return Pattern(net.record(x)[2])


def local_map(net: PLNet, x: Any) -> LocalMap:
    """The affine map ``(J, c)`` equal to ``net`` on the activation region of ``x``.

    ``J`` is the Jacobian of the pattern-fixed network (an affine map, so exact:
    the product of the weights and the 0/1 masks).

    >>> import jax, numpy as np
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([3, 5, 2])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> lm = local_map(net, [0.1, 0.2, 0.3])
    >>> lm.J.shape, bool(np.allclose(lm([0.1, 0.2, 0.3]), net([0.1, 0.2, 0.3])))
    ((2, 3), True)

    Args:
        net: the network.
        x: an input.

    Returns:
        A ``LocalMap`` with ``J`` of shape ``(n_out, n)`` and ``c`` of shape ``(n_out,)``.
    """
    jac, c, _, _ = net.affine(net.record(x)[2])
    return LocalMap(jac, c)


def _rows(net: PLNet, gjac: np.ndarray, g: np.ndarray, decisions: Sequence[np.ndarray]) -> Any:
    """``G y + g >= 0`` as unit rows ``A y <= b``; constant rows dropped; with names."""
    norms = np.linalg.norm(gjac, axis=1)
    keep = norms > 1e-12
    A, b = -gjac[keep] / norms[keep, None], g[keep] / norms[keep]
    return A, b, np.flatnonzero(keep)


def _row_names(net: PLNet, decisions: Sequence[np.ndarray], idx: np.ndarray) -> tuple[str, ...]:
    """``relu1[3] on``: the unit and its state; ``max_pool1[5] <= max (#2)`` for a max."""
    base = net.row_names()
    states: list[str] = []
    for (name, k), d in zip(net.sites, decisions, strict=True):
        if name == "relu":
            states += ["on" if v else "off" for v in np.ravel(d)]
        else:  # a max: one row per entry of its window, all below the chosen one
            per = k // max(1, np.size(d))
            states += [f"<= max (#{int(v)})" for v in np.ravel(d) for _ in range(per)]
    return tuple(f"{base[i]} {states[i]}" for i in idx)


@_one_blas_thread
def region(net: PLNet, x: Any, box: Any = None) -> Region:
    """The activation region of ``x``: ``{y : A y <= b}``, redundant rows removed.

    A row is kept only if it is a facet (of the region, or of the region within
    ``box`` when given): certified by a point on its hyperplane that satisfies every
    other row strictly (found by projecting the centre of the region's largest ball
    onto it, past the other walls), or else by a linear program (HiGHS) whose
    optimum crosses it. Rows the box implies are dropped by bounds first.

    >>> import jax, numpy as np
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 16, 1])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> r = region(net, [0.1, 0.1], box=[[-1, 1], [-1, 1]])
    >>> r.contains([0.1, 0.1]), 0 < len(r) <= 16
    (True, True)

    Args:
        net: the network.
        x: an input.
        box: optional bounds, one ``(low, high)`` per input coordinate (or one pair
            for all); rows implied by the box are then dropped too.

    Returns:
        A ``Region``; rows name their unit (``relu1[3] on``).
    """
    x = np.ravel(np.asarray(x, np.float64))
    dec = net.record(x)[2]
    _, _, gjac, g = net.affine(dec)
    A, b, idx = _rows(net, gjac, g, dec)
    lo, hi = _box(box, net.n)
    keep = _facets(A, b, lo, hi, x)
    return Region(A[keep], b[keep], _row_names(net, dec, idx[keep]))


def _box(box: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    if box is None:
        return np.full(n, -np.inf), np.full(n, np.inf)
    arr = np.asarray(box, np.float64)
    if arr.shape == (2,):
        arr = np.tile(arr, (n, 1))
    if arr.shape != (n, 2):
        raise ValueError(f"box: expected (low, high) or {n} pairs, got shape {arr.shape}")
    return arr[:, 0], arr[:, 1]


def _facets(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    x: np.ndarray,
    reference: bool = False,
) -> np.ndarray:
    """Indices of the rows of ``A y <= b`` that are facets of the polytope within the box.

    ``reference`` selects the earlier, slower certification (one shallow projection
    pass, many more LPs): the same facets, kept for the side-by-side benchmark."""
    m, n = A.shape
    if m == 0:
        return np.zeros(0, int)
    # duplicates: keep the first of (almost) equal rows
    _, first = np.unique(np.round(np.c_[A, b], 10), axis=0, return_index=True)
    alive = np.zeros(m, bool)
    alive[first] = True
    # rows the box implies: their maximum over the box is below b
    with np.errstate(invalid="ignore"):
        boxmax = np.where(A == 0, 0.0, np.where(A > 0, A * hi, A * lo)).sum(axis=1)
    alive &= ~(boxmax <= b - _TOL)
    # certify most facets cheaply, from a deep point (the centre of the largest ball)
    deep = _chebyshev(A, b, [_bound(u, v) for u, v in zip(lo, hi, strict=True)], not reference)
    start = x if deep is None else deep
    inside = np.all(A @ start < b - _TOL) and np.all((lo < start) & (start < hi))
    facet = np.zeros(m, bool)
    if inside and reference:
        facet = _on_plane_points(A, b, lo, hi, start, alive)
    elif inside:
        # aim at points a quarter of the inner radius deep inside the other walls: the
        # projections then overshoot into the facet instead of creeping along a wall;
        # a second, shallower pass takes the thin facets the first one missed
        radius = float(np.min(np.r_[b - A @ start, start - lo, hi - start]))
        for depth, sweeps in ((0.25 * radius, 600), (0.02 * radius, 600)):
            facet |= _on_plane_points(A, b, lo, hi, start, alive & ~facet, sweeps, depth)
            if not np.any(alive & ~facet):
                break
    unknown = np.flatnonzero(alive & ~facet)
    if len(unknown):
        alive &= _lp_facets(A, b, lo, hi, alive, unknown) | facet
    return np.flatnonzero(alive)


def _lp_facets(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    alive: np.ndarray,
    unknown: np.ndarray,
) -> np.ndarray:
    """Decide the ``unknown`` rows by linear programs: row ``i`` cuts iff dropping it lets
    ``max a_i y`` over the other rows (and the box) exceed ``b_i``. One HiGHS model,
    rows relaxed one at a time (redundant ones stay relaxed), warm-started."""
    import highspy

    n = A.shape[1]
    inf = highspy.kHighsInf
    h = _highs(highspy)
    for option, value in (("output_flag", False), ("presolve", "off"), ("threads", 1)):
        h.setOptionValue(option, value)
    h.addVars(n, np.where(np.isfinite(lo), lo, -inf), np.where(np.isfinite(hi), hi, inf))
    rows = np.flatnonzero(alive)
    k = len(rows)
    h.addRows(
        k,
        np.full(k, -inf),
        b[rows],
        k * n,
        np.arange(0, k * n, n, dtype=np.int32),
        np.tile(np.arange(n, dtype=np.int32), k),
        np.ascontiguousarray(A[rows]).ravel(),
    )
    where = {int(r): i for i, r in enumerate(rows)}
    cols = np.arange(n, dtype=np.int32)
    cuts = np.zeros(len(b), bool)
    for i in unknown:
        h.changeColsCost(n, cols, -A[i])
        h.changeRowBounds(where[int(i)], -inf, inf)
        h.run()
        status = h.getModelStatus()
        top = -h.getInfo().objective_function_value
        if status == highspy.HighsModelStatus.kUnbounded or (
            status == highspy.HighsModelStatus.kOptimal and top > b[i] + _TOL
        ):
            cuts[i] = True
            h.changeRowBounds(where[int(i)], -inf, float(b[i]))
    return cuts


def _on_plane_points(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    x: np.ndarray,
    alive: np.ndarray,
    sweeps: int = 100,
    margin: float = 1e-7,
) -> np.ndarray:
    """Rows certified as facets: a point on the row's hyperplane strictly inside all others.

    For every candidate row at once, start at the projection of ``x`` on its
    hyperplane and repeatedly project, within that hyperplane, onto the most
    violated other wall (box walls included), ``margin`` beyond it. A row whose
    point ends strictly inside the other walls is a facet; the rest are left to
    linear programs.
    """
    n = A.shape[1]
    fin_lo, fin_hi = np.isfinite(lo), np.isfinite(hi)
    walls = np.r_[A, -np.eye(n)[fin_lo], np.eye(n)[fin_hi]]
    wall_b = np.r_[b, -lo[fin_lo], hi[fin_hi]]
    rows = np.flatnonzero(alive)
    normal = A[rows]
    P = x + (b[rows] - normal @ x)[:, None] * normal
    dots = normal @ walls.T  # (r, M): a_i . w_j
    sq = np.maximum(1.0 - dots**2, 0.0)  # |w_j - (w_j . a_i) a_i|^2 for unit walls
    ok = np.zeros(len(rows), bool)
    wallsT = np.ascontiguousarray(walls.T)
    # the rows neither certified nor stuck, kept compact: their points, normals, own walls
    live, own, nrm, dts, sqs = np.arange(len(rows)), rows.copy(), normal, dots, sq
    at = np.arange(len(rows))
    for _ in range(sweeps):
        V = P @ wallsT
        V -= wall_b
        V[at, own] = -np.inf
        j = V.argmax(axis=1)
        worst = V[at, j]
        done = worst <= -1e-10
        stuck = sqs[at, j] <= 1e-12
        if done.any() or stuck.any():
            ok[live[done]] = True
            keep = ~done & ~stuck
            live, own, nrm, dts, sqs = live[keep], own[keep], nrm[keep], dts[keep], sqs[keep]
            P, j, worst = P[keep], j[keep], worst[keep]
            at = np.arange(len(live))
            if len(live) == 0:
                break
        q = walls[j] - dts[at, j][:, None] * nrm
        P -= ((worst + margin) / sqs[at, j])[:, None] * q
    facet = np.zeros(len(b), bool)
    facet[rows[ok]] = True
    return facet


# -- enumeration -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Cell:
    """One activation region met by the box: its pattern, a point inside, its affine map.

    ``polygon`` (2-D only) lists the vertices of region ∩ box, counter-clockwise.
    """

    key: bytes
    point: np.ndarray
    J: np.ndarray
    c: np.ndarray
    polygon: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Regions:
    """The result of ``regions``: the cells found, whether the count is exact, the time."""

    cells: tuple[Cell, ...]
    exact: bool
    seconds: float

    def __len__(self) -> int:
        return len(self.cells)

    def __str__(self) -> str:
        kind = "exact" if self.exact else "a certified lower bound"
        return f"{len(self)} regions ({kind}) in {self.seconds:.3f} s"


@_one_blas_thread
def regions(
    net: PLNet,
    box: Any,
    *,
    limit: int = 100_000,
    seconds: float = 60.0,
    progress: bool | None = None,
) -> Regions:
    """The activation regions of ``net`` that meet ``box`` (with nonempty interior).

    In 2-D the traversal is exact: every edge of every region polygon is crossed,
    and the far side of each edge is covered interval by interval, so every region
    is found. In more dimensions the search is LP-guided (facets by linear
    programs, a step across each facet); every region counted has a witness
    point, so the count is a certified lower bound, exact when the search ends
    before ``limit`` and ``seconds``.

    >>> import jax
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 8, 1])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> found = regions(net, [-1, 1])
    >>> found.exact, len(found) >= 1
    (True, True)

    Args:
        net: the network.
        box: ``(low, high)`` for every coordinate, or one pair per coordinate.
        limit: stop after this many regions (the count is then a lower bound).
        seconds: stop after this long (likewise).
        progress: print a progress line to stderr every second; default: when
            stderr is a terminal.

    Returns:
        ``Regions``: the cells (pattern key, a point inside, ``J``, ``c``, and the
        polygon in 2-D), ``exact``, and the time taken.
    """
    lo, hi = _box(box, net.n)
    if not np.all(np.isfinite(lo) & np.isfinite(hi) & (lo < hi)):
        raise ValueError("regions: the box must be bounded with low < high in every coordinate")
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(show)
    if net.n == 2:
        return _regions_2d(net, lo, hi, bar)
    return _regions_nd(net, lo, hi, limit, seconds, bar)


class _Progress:
    def __init__(self, show: bool) -> None:
        self.show, self.start, self.last = show, time.perf_counter(), 0.0

    def __call__(self, found: int, queued: int, final: bool = False) -> None:
        now = time.perf_counter() - self.start
        if self.show and (final or now - self.last >= 1.0):
            self.last = now
            end = "\n" if final else "\r"
            print(
                f"regions: {found} found, {queued} to visit, {now:.1f} s",
                end=end,
                file=sys.stderr,
                flush=True,
            )


def _clip(
    poly: np.ndarray, labels: list[int], a: np.ndarray, b: float, label: int
) -> tuple[np.ndarray, list[int]]:
    """Sutherland-Hodgman: ``poly`` ∩ ``{y : a y <= b}``; edge ``i`` starts at vertex ``i``."""
    s = (poly @ a - b).tolist()
    if max(s) <= _TOL:
        return poly, labels
    if min(s) > -_TOL:
        return poly[:0], []
    pts = poly.tolist()  # a handful of vertices: plain floats beat numpy here
    out, out_labels = [], []
    k = len(pts)
    for i in range(k):
        j = i + 1 if i + 1 < k else 0
        p_in, q_in = s[i] <= _TOL, s[j] <= _TOL
        if p_in:
            out.append(pts[i])
            out_labels.append(labels[i])
        if p_in != q_in:
            t = s[i] / (s[i] - s[j])
            (px, py), (qx, qy) = pts[i], pts[j]
            out.append([px + t * (qx - px), py + t * (qy - py)])
            out_labels.append(label if p_in else labels[i])
    return np.array(out).reshape(-1, 2), out_labels


def _polygon(A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Any:
    """Region ∩ box as a polygon; edge labels are row indices (``-1`` for the box)."""
    poly = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    labels = [-1, -1, -1, -1]
    while True:  # clip by the most violated row until none is: about one step per edge
        worst = (poly @ A.T - b).max(axis=0)
        i = int(worst.argmax()) if len(worst) else -1
        if i < 0 or worst[i] <= _TOL:
            return poly, labels
        poly, labels = _clip(poly, labels, A[i], b[i], i)
        if len(poly) < 3:
            return poly[:0], []


def _area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    x2, y2 = np.concatenate((x[1:], x[:1])), np.concatenate((y[1:], y[:1]))
    return float(0.5 * (x @ y2 - y @ x2))


def _regions_2d(net: PLNet, lo: np.ndarray, hi: np.ndarray, bar: _Progress) -> Regions:
    start = time.perf_counter()
    scale = float(np.linalg.norm(hi - lo))
    eps = 1e-9 * scale
    cells: dict[bytes, Cell] = {}
    polys: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # key -> (poly, A, b)
    # an edge to cover: (p0, p1, normal, uncovered intervals in t)
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[float, float]]]] = []
    seeds = np.random.default_rng(0).uniform(lo, hi, size=(4, 2))
    points = list(seeds)  # generic points: no hyperplane goes through them
    owners: list[int] = [-1] * len(points)
    exact = True
    while points:
        _, _, dec = net.record_many(np.array(points))
        keys = [_key(d[i] for d in dec) for i in range(len(points))]
        new = sorted({k: i for i, k in enumerate(keys) if k not in polys}.items())
        if new:
            pick = np.array([i for _, i in new])
            jac, c, gjac, g = net.affine_many([d[pick] for d in dec])
            for (k, _), J, cc, G, gg in zip(new, jac, c, gjac, g, strict=True):
                A, b, _ = _rows(net, G, gg, ())
                poly, labels = _polygon(A, b, lo, hi)
                polys[k] = (poly, A, b)
                if _area(poly) <= 1e-14 * scale**2:
                    continue
                cells[k] = Cell(k, np.mean(poly, axis=0), J, cc, poly)
                for e, lab in enumerate(labels):
                    if lab < 0:
                        continue
                    p0, p1 = poly[e], poly[(e + 1) % len(poly)]
                    if np.linalg.norm(p1 - p0) > eps:
                        edges.append((p0, p1, A[lab], [(0.0, 1.0)]))
        # cover each edge's far side with the region found beyond its midpoint
        for k, own in zip(keys, owners, strict=True):
            if own < 0:
                continue
            p0, p1, normal, gaps = edges[own]
            ta, tb = _segment_in(polys[k][1], polys[k][2], p0, p1, eps)
            mid = _first_mid(gaps)
            if not ta - 1e-6 <= mid <= tb + 1e-6:
                exact, (ta, tb) = False, (mid - 1e-6, mid + 1e-6)  # a sliver: step over it
            edges[own] = (p0, p1, normal, _subtract(gaps, ta, tb))
        points, owners = [], []
        for o, (p0, p1, normal, gaps) in enumerate(edges):
            if gaps:
                t = _first_mid(gaps)
                points.append(p0 + t * (p1 - p0) + eps * normal)
                owners.append(o)
        bar(len(cells), len(points))
    bar(len(cells), 0, final=True)
    return Regions(tuple(cells.values()), exact, time.perf_counter() - start)


def _first_mid(gaps: list[tuple[float, float]]) -> float:
    a, b = gaps[0]
    return (a + b) / 2


def _segment_in(
    A: np.ndarray, b: np.ndarray, p0: np.ndarray, p1: np.ndarray, eps: float
) -> tuple[float, float]:
    """The interval of ``t`` with ``p0 + t (p1 - p0)`` in ``{A y <= b + 2 eps}``."""
    s0, s1 = A @ p0 - b - 2 * eps, A @ p1 - b - 2 * eps
    out0, out1 = s0 > 0, s1 > 0
    if (out0 & out1).any():
        return 1.0, 0.0
    cross = out0 != out1
    if not cross.any():
        return 0.0, 1.0
    t = s0[cross] / (s0[cross] - s1[cross])
    enter = out0[cross]
    ta = float(t[enter].max()) if enter.any() else 0.0
    tb = float(t[~enter].min()) if not enter.all() else 1.0
    return ta, tb


def _subtract(gaps: list[tuple[float, float]], ta: float, tb: float) -> list[tuple[float, float]]:
    out = []
    for a, b in gaps:
        for u, v in ((a, min(b, ta)), (max(a, tb), b)):
            if v - u > 1e-9:
                out.append((u, v))
    return out


def _regions_nd(
    net: PLNet, lo: np.ndarray, hi: np.ndarray, limit: int, seconds: float, bar: _Progress
) -> Regions:
    start = time.perf_counter()
    scale = float(np.linalg.norm(hi - lo))
    eps = 1e-7 * scale
    cells: dict[bytes, Cell] = {}
    queue = [(lo + hi) / 2]
    seen: set[bytes] = set()
    exact = True
    bounds = list(zip(lo, hi, strict=True))
    while queue:
        if len(cells) >= limit or time.perf_counter() - start > seconds:
            exact = False
            break
        x = queue.pop()
        _, _, dec = net.record(x)
        k = _key(dec)
        if k in seen:
            continue
        seen.add(k)
        jac, c, gjac, g = net.affine(dec)
        A, b, _ = _rows(net, gjac, g, dec)
        inner = _chebyshev(A, b, bounds)
        if inner is None:
            continue
        cells[k] = Cell(k, inner, jac, c)
        for i in _facets(A, b, lo, hi, inner):
            y = _on_facet(A, b, i, bounds)
            if y is not None:
                queue.append(y + eps * A[i])
        bar(len(cells), len(queue))
    bar(len(cells), len(queue), final=True)
    return Regions(tuple(cells.values()), exact, time.perf_counter() - start)


def _chebyshev(
    A: np.ndarray, b: np.ndarray, bounds: list[Any], primal: bool = False
) -> np.ndarray | None:
    """The centre of the largest ball in region ∩ box; None if it has no interior."""
    n = A.shape[1]
    walls, wall_b = [A], [b]
    for j, (u, v) in enumerate(bounds):
        e = np.zeros((1, n))
        e[0, j] = 1.0
        if u is not None:
            walls.append(-e)
            wall_b.append(np.array([-u]))
        if v is not None:
            walls.append(e)
            wall_b.append(np.array([v]))
    AA, bb = np.concatenate(walls), np.concatenate(wall_b)
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    lower, upper = np.r_[np.full(n, -np.inf), 0.0], np.r_[np.full(n, np.inf), 1e6]
    res = _lp(cost, np.c_[AA, np.ones(len(AA))], bb, lower, upper, primal)
    if not res.ok or res.x[-1] <= 1e-12:
        return None
    return res.x[:n]


def _on_facet(A: np.ndarray, b: np.ndarray, i: int, bounds: list[Any]) -> np.ndarray | None:
    """A point of facet ``i`` as far as possible from the other walls."""
    n = A.shape[1]
    others = np.delete(np.arange(len(b)), i)
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    lo = np.array([u for u, _ in bounds])
    hi = np.array([v for _, v in bounds])
    AA = np.r_[A[others], np.eye(n), -np.eye(n)]
    bb = np.r_[b[others], hi, -lo]
    res = _linprog(
        cost,
        A_ub=np.c_[AA, np.ones(len(AA))],
        b_ub=bb,
        A_eq=np.r_[A[i], 0.0][None],
        b_eq=[b[i]],
        bounds=[(None, None)] * n + [(0, None)],
        method="highs",
    )
    if res.status != 0 or res.x[-1] <= 1e-12:
        return None
    return np.asarray(res.x[:n])


# -- explanations ------------------------------------------------------------------------------


def _decide(out: np.ndarray) -> int:
    """The decision: the argmax of the outputs, or ``out > 0`` for one output."""
    return int(out[0] > 0) if len(out) == 1 else int(np.argmax(out))


def _scores(J: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The affine scores whose argmax is the decision (``[0, f]`` for one output)."""
    if len(c) == 1:
        return np.r_[np.zeros_like(J), J], np.r_[0.0, c]
    return J, c


@dataclass(frozen=True, eq=False)
class Counterfactual:
    """An input with a different decision, the nearest in the regions searched (L∞).

    ``verified`` says that the network, evaluated at ``point``, decides ``decision``.
    """

    point: np.ndarray
    distance: float
    decision: int
    verified: bool
    regions_visited: int


@dataclass(frozen=True, eq=False)
class Explanation:
    """Why the network decided ``decision`` at ``x``: rule, local model, counterfactual."""

    x: np.ndarray
    decision: int
    outputs: np.ndarray
    rule: Region
    local: LocalMap
    contributions: tuple[tuple[int, float], ...]
    runner_up: int
    counterfactual: Counterfactual | None

    def __str__(self) -> str:
        lines = [f"decision: {self.decision} (runner-up {self.runner_up})"]
        lines.append(f"rule: x is in its activation region, {len(self.rule)} facets (A x <= b):")
        lines += [f"  {line}" for line in str(self.rule).splitlines()[:8]]
        if len(self.rule) > 8:
            lines.append(f"  ... and {len(self.rule) - 8} more")
        what = f"score {self.decision} - score {self.runner_up}"
        tops = ", ".join(f"x[{i}] {v:+.3g}" for i, v in self.contributions)
        lines.append(f"local linear model: {what} = sum_i w_i x_i + c; top inputs w_i x_i: {tops}")
        cf = self.counterfactual
        if cf is None:
            lines.append("counterfactual: none found in the regions searched")
        else:
            delta = cf.point - self.x
            moved = np.argsort(-np.abs(delta))[:5]
            changes = ", ".join(f"x[{i}] {delta[i]:+.3g}" for i in moved if abs(delta[i]) > 1e-12)
            ok = "verified by the network" if cf.verified else "NOT verified"
            lines.append(
                f"counterfactual: decides {cf.decision} at L∞ distance {cf.distance:.4g}"
                f" ({ok}; {cf.regions_visited} region(s) searched); changes: {changes}"
            )
        return "\n".join(lines)


@_one_blas_thread
def explain(net: PLNet, x: Any, box: Any = None, *, top: int = 5, steps: int = 20) -> Explanation:
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

    >>> import jax
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 8, 3])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> e = explain(net, [0.3, -0.2], box=[-1, 1])
    >>> e.counterfactual.verified, e.counterfactual.decision != e.decision
    (True, True)

    Args:
        net: the network.
        x: the input to explain.
        box: the input domain, ``(low, high)`` or one pair per coordinate.
        top: how many inputs the local model lists.
        steps: how many regions the counterfactual search may visit.

    Returns:
        An ``Explanation``; ``str`` of it reads as a short report.
    """
    return _explain(net, x, box, top, steps, reference=False)


@_one_blas_thread
def _explain_reference(
    net: PLNet, x: Any, box: Any = None, *, top: int = 5, steps: int = 20
) -> Explanation:
    """``explain`` by the earlier, slower facet certification (the side-by-side benchmark
    and the tests compare the two: same rule, same counterfactual)."""
    return _explain(net, x, box, top, steps, reference=True)


def _explain(net: PLNet, x: Any, box: Any, top: int, steps: int, reference: bool) -> Explanation:
    x = np.ravel(np.asarray(x, np.float64))
    lo, hi = _box(box, net.n)
    out, _, dec = net.record(x)
    y = _decide(out)
    J, c, gjac, g = net.affine(dec)
    A, b, idx = _rows(net, gjac, g, dec)
    keep = _facets(A, b, lo, hi, x, reference)
    rule = Region(A[keep], b[keep], _row_names(net, dec, idx[keep]))
    SJ, Sc = _scores(J, c)
    s = SJ @ x + Sc
    r = int(np.argsort(-s)[1]) if s.argmax() == y else int(s.argmax())
    w = SJ[y] - SJ[r]
    order = np.argsort(-np.abs(w * x))[:top]
    contributions = tuple((int(i), float(w[i] * x[i])) for i in order)
    cf = _counterfactual(net, x, y, lo, hi, steps, reference)
    return Explanation(x, y, out, rule, LocalMap(J, c), contributions, r, cf)


def _counterfactual(
    net: PLNet,
    x: np.ndarray,
    y: int,
    lo: np.ndarray,
    hi: np.ndarray,
    steps: int,
    reference: bool = False,
) -> Counterfactual | None:
    bounds = [_bound(u, v) for u, v in zip(lo, hi, strict=True)]
    cur = x
    for visited in range(1, steps + 1):
        _, _, dec = net.record(cur)
        J, c, gjac, g = net.affine(dec)
        A, b, _ = _rows(net, gjac, g, dec)
        SJ, Sc = _scores(J, c)
        found = _flip_lp(x, y, SJ, Sc, A, b, bounds, reference=reference)
        if found is not None:
            point, dist = found
            k = _decide(net(point))
            return Counterfactual(point, dist, k, k != y, visited)
        target = _flip_lp(x, y, SJ, Sc, A[:0], b[:0], bounds, reference=reference)
        if target is None:
            return None
        d = target[0] - cur
        speed = A @ d
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(speed > 1e-15, (b - A @ cur) / speed, np.inf)
        t_exit = float(t.min(initial=np.inf))
        if not np.isfinite(t_exit) or t_exit >= 1:
            return None  # the target is in this region, yet no flip here: numerical edge
        cur = cur + (t_exit + 1e-7 / max(float(np.abs(d).max()), 1e-12)) * d
    return None


def _bound(u: float, v: float) -> tuple[float | None, float | None]:
    return (float(u) if np.isfinite(u) else None, float(v) if np.isfinite(v) else None)


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
) -> tuple[np.ndarray, float] | None:
    """Min ``|x' - x|∞`` over ``A x' <= b`` with some score beating ``y``'s (LP per rival).

    Rivals are tried nearest first by a lower bound on their LP, and skipped once the
    bound reaches the best distance found: the bound is the exact optimum without the
    region's rows (``_box_flip``), or (``reference``) without the box either."""
    n = len(x)
    s = SJ @ x + Sc
    best: tuple[np.ndarray, float] | None = None
    rivals = [k for k in range(len(Sc)) if k != y]
    w = {k: SJ[y] - SJ[k] for k in rivals}
    lower = {k: max(0.0, s[y] - s[k] + margin) / max(np.abs(w[k]).sum(), 1e-300) for k in rivals}
    box_lo = np.array([-np.inf if u is None else u for u, _ in bounds])
    box_hi = np.array([np.inf if v is None else v for _, v in bounds])
    if not reference and np.all((box_lo <= x) & (x <= box_hi)):
        lower = {k: _box_flip(w[k], s[y] - s[k] + margin, x - box_lo, box_hi - x) for k in rivals}
    eye = np.eye(n)
    ub_a = np.r_[np.c_[eye, -np.ones(n)], np.c_[-eye, -np.ones(n)], np.c_[A, np.zeros(len(A))]]
    ub_b = np.r_[x, -x, b]
    cost = np.r_[np.zeros(n), 1.0]
    lo = np.r_[[-np.inf if u is None else u for u, _ in bounds], 0.0]
    hi = np.r_[[np.inf if v is None else v for _, v in bounds], np.inf]
    # one model, a row per rival (relaxed until its turn): each solve warm-starts
    rival_rows = np.array([np.r_[w[k], 0.0] for k in rivals]).reshape(len(rivals), n + 1)
    model: _Model | None = None
    for k in sorted(rivals, key=lower.__getitem__):
        if best is not None and lower[k] >= best[1] + (0.0 if reference else 1e-12):
            break
        if model is None:
            relaxed = np.full(len(rivals), np.inf)
            model = _Model(np.r_[ub_a, rival_rows], np.r_[ub_b, relaxed], lo, hi, not reference)
        row = len(ub_b) + rivals.index(k)
        model.bound(row, Sc[k] - Sc[y] - margin)
        point = model.minimise(cost)
        model.bound(row, np.inf)
        if point is not None and (best is None or point[n] < best[1]):
            best = (point[:n], float(point[n]))
    return best


def _box_flip(w: np.ndarray, gap: float, down: np.ndarray, up: np.ndarray) -> float:
    """The least ``t`` with ``w . d <= -gap`` for some ``|d|∞ <= t`` with ``-down <= d <= up``
    (``inf`` if none): each coordinate moves by ``t`` against ``w`` until the box stops it.

    >>> _box_flip(np.array([1.0, -2.0]), 3.0, np.array([5.0, 5.0]), np.array([0.5, 5.0]))
    1.0
    >>> _box_flip(np.array([1.0, -2.0]), 3.0, np.array([0.5, 5.0]), np.array([5.0, 0.5]))
    inf
    >>> _box_flip(np.array([1.0, -2.0]), 3.0, np.array([0.5, 5.0]), np.array([5.0, np.inf]))
    1.25
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


# -- the Boolean algebra ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Predicates:
    """The predicates a PL network defines on a box, as ``topos.logic`` values.

    - ``units[name]``: ``Box(name, dom, Omega)``, the half-space where that ReLU
      unit is active (its pre-activation ``> 0``);
    - ``decisions[k]``: ``Box("decides k", dom, Omega)``, where the network decides ``k``;
    - ``model``: a functor into ``topos.finite.Sets`` sending ``dom`` to the finite
      set of *atoms* (an atom is an activation region cut by the decision: a pair
      ``(region key, decision)`` with nonempty interior) and each predicate to its
      truth on each atom.

    Every Boolean combination built with ``both``, ``either``, ``negation``,
    ``entails`` is then computed exactly by ``model``: the predicates form a
    Boolean algebra, the subsets of the atoms.
    """

    units: dict[str, Any]
    decisions: tuple[Any, ...]
    atoms: tuple[tuple[bytes, int], ...]
    model: Any

    def atom(self, net: PLNet, x: Any) -> tuple[bytes, int]:
        """The atom containing the point ``x``."""
        out, _, dec = net.record(x)
        return _key(dec), _decide(out)


def predicates(net: PLNet, found: Regions) -> Predicates:
    """The Boolean algebra generated by ``net``'s units and decisions on the regions ``found``.

    >>> import jax
    >>> from topos import logic
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 4, 1])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> pr = predicates(net, regions(net, [-1, 1]))
    >>> u = pr.units["relu1[0]"]
    >>> logic.holds(pr.model, logic.either(u, logic.negation(u)))
    True
    >>> pr.model(logic.negation(logic.negation(u))) == pr.model(u)
    True

    Args:
        net: the network.
        found: its regions on a box (``regions(net, box)``).

    Returns:
        ``Predicates``: the unit and decision predicates (arrows into ``Omega``)
        and the exact finite model in which to evaluate their combinations.
    """
    from topos.arrows import Box
    from topos.finite import FinSet, interpret
    from topos.objects import Omega

    names = net.row_names()
    relu_rows = []
    offset = 0
    for name, k in net.sites:
        if name == "relu":
            relu_rows += list(range(offset, offset + k))
        offset += k
    truth: dict[tuple[bytes, int], np.ndarray] = {}
    for cell in found.cells:
        for k in _decisions_in(cell, net.n_out, found):
            bits = np.frombuffer(cell.key, np.int32)
            truth[(cell.key, k)] = bits
    atoms = tuple(truth)
    dom = net.dom
    units = {names[r]: Box(names[r], dom, Omega) for r in relu_rows}
    n_classes = 2 if net.n_out == 1 else net.n_out
    decisions = tuple(Box(f"decides {k}", dom, Omega) for k in range(n_classes))
    # a relu's mask is the first entries of the key, in row order (argmax entries follow theirs)
    position = _relu_positions(net)
    table: dict[Any, Any] = {}
    for r in relu_rows:
        at = position[r]
        table[units[names[r]]] = {a: bool(truth[a][at]) for a in atoms}
    for k, box in enumerate(decisions):
        table[box] = {a: a[1] == k for a in atoms}
    model = interpret(ob={dom: FinSet(atoms)}, ar=table)
    return Predicates(units, decisions, atoms, model)


def _relu_positions(net: PLNet) -> dict[int, int]:
    """Row index of each relu unit -> its entry in a pattern key (argmax entries count one)."""
    _, _, dec = net.record(np.zeros(net.n))
    out: dict[int, int] = {}
    row = entry = 0
    for (name, k), d in zip(net.sites, dec, strict=True):
        if name == "relu":
            out.update({row + i: entry + i for i in range(k)})
        row, entry = row + k, entry + int(np.size(d))
    return out


def _decisions_in(cell: Cell, n_out: int, found: Regions) -> list[int]:
    """The decisions taken on parts of ``cell`` with interior (exact via LP / clipping)."""
    SJ, Sc = _scores(cell.J, cell.c)
    classes = []
    for k in range(len(Sc)):
        rows = [(SJ[j] - SJ[k], Sc[k] - Sc[j]) for j in range(len(Sc)) if j != k]
        if cell.polygon is not None:
            poly, labels = cell.polygon, [-1] * len(cell.polygon)
            for a, b in rows:
                norm = float(np.linalg.norm(a))
                if norm > 0:
                    poly, labels = _clip(poly, labels, a / norm, b / norm, -2)
                elif b < 0:
                    poly = poly[:0]
                if len(poly) < 3:
                    break
            if len(poly) >= 3 and _area(poly) > 1e-14:
                classes.append(k)
        elif _decide(cell.J @ cell.point + cell.c) == k:
            classes.append(k)  # n-D: the decision at the witness point (a lower bound)
    return classes


# -- pictures ------------------------------------------------------------------------------------


def _class_pieces(cell: Cell) -> list[tuple[int, np.ndarray, list[int]]]:
    """The parts of a 2-D cell where each class wins: ``(class, polygon, edge labels)``.

    Edge label ``-2`` marks a piece of the decision boundary (two scores tie there).
    """
    assert cell.polygon is not None
    SJ, Sc = _scores(cell.J, cell.c)
    pieces = []
    for k in range(len(Sc)):
        poly, labels = cell.polygon, [-1] * len(cell.polygon)
        for j in range(len(Sc)):
            a, b = SJ[j] - SJ[k], Sc[k] - Sc[j]
            norm = float(np.linalg.norm(a))
            if j == k or norm == 0:
                continue
            poly, labels = _clip(poly, labels, a / norm, b / norm, -2)
            if len(poly) < 3:
                break
        if len(poly) >= 3 and _area(poly) > 1e-14:
            pieces.append((k, poly, labels))
    return pieces


def plot_regions(
    net: PLNet,
    box: Any,
    path: str | None = None,
    *,
    found: Regions | None = None,
    points: Any = None,
    labels: Any = None,
    title: str | None = None,
) -> Any:
    """Draw a 2-D network's activation regions and its decision boundary.

    Each region is filled with its decision's colour, in a shade of its own; thin
    lines are region edges (where a unit switches), the thick black line is the
    decision boundary (computed exactly per region: where two scores tie). The
    figure is saved to ``path`` when given (PNG or SVG, by the suffix).

    >>> import jax, tempfile, os
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 8, 1])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> out = os.path.join(tempfile.mkdtemp(), "regions.svg")
    >>> fig = plot_regions(net, [-1, 1], out)
    >>> os.path.getsize(out) > 0
    True

    Args:
        net: a network with 2 inputs.
        box: the square or rectangle to draw, ``(low, high)`` or two pairs.
        path: where to save the figure (``.png`` or ``.svg``); not saved if None.
        found: regions already enumerated on ``box`` (computed if None).
        points: optional data points to overlay, shape ``(k, 2)``.
        labels: their classes (colours), shape ``(k,)``.
        title: the figure title (default: the number of regions).

    Returns:
        The matplotlib ``Figure``.
    """
    if net.n != 2:
        raise ValueError(f"plot_regions: the network must have 2 inputs, it has {net.n}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PolyCollection

    lo, hi = _box(box, 2)
    found = regions(net, box, progress=False) if found is None else found
    palette = plt.get_cmap("tab10")
    rng = np.random.default_rng(0)
    fills, colours, edges, boundary = [], [], [], []
    for cell in found.cells:
        assert cell.polygon is not None
        shade = 0.55 + 0.35 * rng.random()
        for k, poly, labs in _class_pieces(cell):
            base = np.array(palette(k % 10)[:3])
            fills.append(poly)
            colours.append((*(1 - shade * (1 - base)), 1.0))
            for e, lab in enumerate(labs):
                if lab == -2:
                    boundary.append([poly[e], poly[(e + 1) % len(poly)]])
        poly = cell.polygon
        edges += [[poly[e], poly[(e + 1) % len(poly)]] for e in range(len(poly))]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.add_collection(PolyCollection(fills, facecolors=colours, edgecolors="none"))
    ax.add_collection(LineCollection(edges, colors="0.35", linewidths=0.4))
    ax.add_collection(LineCollection(boundary, colors="black", linewidths=2.0))
    if points is not None:
        pts = np.asarray(points)
        cls = np.zeros(len(pts), int) if labels is None else np.asarray(labels)
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            c=[palette(int(k) % 10) for k in cls],
            s=8,
            edgecolors="white",
            linewidths=0.3,
        )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    kind = "exact" if found.exact else "at least"
    ax.set_title(title or f"{len(found)} activation regions ({kind}); decision boundary in black")
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


# -- two-level explanations: the maps chosen by the input, then the PL rest ------------------


@dataclass(frozen=True, eq=False)
class Chosen:
    """A function the network builds from its input with ``curry`` (attention's mixing
    map), evaluated at the explained input: ``value`` is its environment there (for
    attention, the mixing matrix ``A(x)``), ``where`` names the layers around it."""

    where: str
    value: np.ndarray


@dataclass(frozen=True, eq=False)
class TwoLevel:
    """A two-level explanation (see ``explain_two_level``)."""

    chosen: tuple[Chosen, ...]
    rest: Explanation
    frozen: Any  # the Para with every chosen map held at its value at x

    def __str__(self) -> str:
        lines = [f"level 1: {len(self.chosen)} linear map(s) chosen by the input at x"]
        for c in self.chosen:
            top = np.asarray(c.value, np.float64).reshape(-1, c.value.shape[-1])[:4]
            lines.append(f"  in {c.where or 'the top level'}: shape {c.value.shape}; first rows")
            lines += ["    " + " ".join(f"{v:.3f}" for v in row[:8]) for row in top]
        lines.append("level 2: with those maps fixed, the network is PL near x:")
        lines += [f"  {line}" for line in str(self.rest).splitlines()]
        return "\n".join(lines)


def _freeze(f: Any, values: list[Any], where: tuple[str, ...], sites: list[str]) -> Any:
    """``f`` with each ``curry(m)`` replaced by ``curry`` of ``m`` at a constant environment.

    With ``values`` empty the environments are not known yet: each curry gets a tap (a
    linear identity box that records its input) and ``sites`` its layer names."""
    from backends.jax.core.compile import constant
    from topos import arrows as ar_
    from topos.arrows import Box

    def go(g: Any, where: tuple[str, ...]) -> Any:
        if isinstance(g, ar_.Compose):
            out = go(g.children[0], where)
            for h in g.children[1:]:
                out = out >> go(h, where)
            return out
        if isinstance(g, ar_.Pair):
            return ar_.pair(go(g.left, where), go(g.right, where))
        if isinstance(g, ar_.Tensor):
            return go(g.left, where) * go(g.right, where)
        if isinstance(g, ar_.Copair):
            return ar_.copair(go(g.left, where), go(g.right, where))
        if isinstance(g, ar_.Sum):
            return go(g.left, where) + go(g.right, where)
        if isinstance(g, ar_.Group):
            return ar_.group(g.name, go(g.body, (*where, g.name)), **g.attrs)
        if isinstance(g, ar_.Repeat):
            return go(g.unroll(), where)
        if isinstance(g, ar_.Curry):
            env = g.dom
            body = go(g.arrow, where)
            i = len(sites)
            sites.append(" > ".join(where))
            if not values:
                return Box("pl.tap", env, env, cls="linear", site=i) >> ar_.curry(body)
            value = np.asarray(values[i])
            const = constant(value, name=f"chosen[{i}]", dtype=str(value.dtype))
            if const.cod != env:
                raise TypeError(f"explain_two_level: chosen map {i} has type {env}, not one array")
            return ar_.discard(env) >> const >> ar_.curry(body)
        return g

    return go(f, where)


_TAPPED: list[Any] = []


def _tap(box: Any, x: Any) -> Any:
    _TAPPED.append((box.attrs["site"], x))
    return x


def explain_two_level(p: Any, params: Any, x: Any, box: Any = None, **kw: Any) -> TwoLevel:
    """Explain a transformer-like network at ``x`` in two levels.

    A transformer is not PL: attention *chooses* a linear map from the input (its
    mixing matrix ``A(x)``, built by ``curry``) and applies it. At a given ``x``
    that choice is one matrix. So:

    1. **the chosen maps**: every ``curry`` of the network is evaluated at ``x``;
       its environment there (for attention, ``A(x)``: who attends to whom) is
       reported, named by the layers around it;
    2. **the rest**: the network with every chosen map *held fixed* at its value at
       ``x`` is PL when the rest is (ReLU MLPs, max-pool ...), and is explained by
       ``explain`` — rule, local linear model, counterfactual.

    What this is, precisely: level 2 explains the *frozen* network ``x' ↦
    N_{A(x)}(x')``, which agrees with the network at ``x`` and only there in general
    — the counterfactual is a point where the frozen network decides otherwise (it
    is reported for the frozen network; ``rest.counterfactual.verified`` checks it
    on that network). It is a local explanation of how the rest of the network uses
    what attention selected, not a region of the original network. Code that only
    computes a chosen map (the scores, the softmax) becomes dead in the frozen
    network, so its smooth boxes do not count; a ``relu`` inside it would still add
    (redundant) rows to the rule.

    Args:
        p: the network, a Para whose input is one ``R(...)``.
        params: its parameter dict.
        x: the input to explain.
        box: the input domain for level 2, as for ``explain``.
        **kw: passed to ``explain`` (``top``, ``steps``).

    Returns:
        A ``TwoLevel``: ``chosen`` (level 1), ``rest`` (an ``Explanation``), ``frozen``.
    """
    from backends.jax.core.compile import CONSTANTS
    from backends.jax.core.params import cartesian, param_value
    from backends.jax.core.registry import lookup, register
    from backends.jax.logic.pl import _Unrolled
    from topos.functor import Functor
    from topos.para import Para

    q = cartesian(p)
    sites: list[str] = []
    tapped = _freeze(q.arrow, [], (), sites)
    register("pl.tap", _tap, cls="linear")
    fn = Functor(ob=lambda o: o, ar=lambda b: _fn(b, lookup), cod=_Unrolled())(tapped).fn
    import jax.numpy as jnp

    _TAPPED.clear()
    xv = jnp.reshape(jnp.asarray(np.asarray(x, np.float32)), q.dom.shape)
    token = CONSTANTS.set(dict(params))
    try:
        fn((param_value(q, dict(params)), xv))
    finally:
        CONSTANTS.reset(token)
    seen = dict(_TAPPED)
    _TAPPED.clear()
    if len(seen) != len(sites):
        raise ValueError(f"explain_two_level: {len(sites) - len(seen)} chosen map(s) never applied")
    values = [np.asarray(seen[i]) for i in range(len(sites))]
    frozen_arrow = _freeze(q.arrow, values, (), [])
    frozen = Para._make(q.P, frozen_arrow, q.dom, q.actegory, q._own, q._consts, q._parts)
    net = PLNet(frozen, params)
    chosen = tuple(Chosen(w, v) for w, v in zip(sites, values, strict=True))
    return TwoLevel(chosen, explain(net, x, box, **kw), frozen)


def _fn(b: Any, lookup: Any) -> Any:
    from backends.jax.core.compile import Fn
    from topos.arrows import Box

    if not isinstance(b, Box):  # constants and slices: the category interprets them
        raise KeyError(b)
    impl = lookup(b).fn
    return Fn(lambda v: impl(b, v), b.dom, b.cod)
