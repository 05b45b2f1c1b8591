"""Polyhedra ``{y : A y <= b}``: the shape of an activation region, and its facets.

A region of a PL network arrives as one inequality per branch condition, most
of them redundant. ``facets`` keeps exactly the rows that are facets of the
polyhedron (within a box): a row is certified by a point on its hyperplane
strictly inside every other wall, found by projections from the centre of the
largest inscribed ball (``chebyshev_centre``), or else by a linear program whose
optimum crosses it. ``Region`` is the result, one name per row.

>>> import numpy as np
>>> A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])   # x <= 1, y <= 1, x <= 2
>>> b = np.array([1.0, 1.0, 2.0])
>>> lo, hi = as_box([-1, 3], 2)
>>> facets(A, b, lo, hi, np.zeros(2)).tolist()            # x <= 2 is implied
[0, 1]
>>> r = Region(A[:2], b[:2], ("x", "y"))
>>> r.contains([0.5, 0.5]), r.contains([1.5, 0.5])
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.jax.logic.solver import linprog, load_highspy, solve_lp

__all__ = [
    "TOL",
    "Region",
    "as_box",
    "chebyshev_centre",
    "facet_point",
    "facets",
    "optional_bounds",
    "unit_rows",
]

#: how far past a wall a point may be and still count as on it
TOL = 1e-9


@dataclass(frozen=True, eq=False)
class Region:
    """An H-polytope ``{y : A y <= b}`` (rows of unit norm), one name per row.

    ``names[i]`` says which branch condition row ``i`` is (``relu1[3] on`` means
    unit 3 of the first relu is active: its pre-activation is ``>= 0``).

    >>> import numpy as np
    >>> print(Region(np.array([[1.0, 0.0]]), np.array([0.5]), ("relu1[0] off",)))
    +1*x[0] <= 0.5   (relu1[0] off)
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


def as_box(box: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The lower and upper bounds of a box in ``n`` coordinates (``None``: unbounded).

    >>> as_box([0, 1], 2)
    (array([0., 0.]), array([1., 1.]))
    >>> as_box([[0, 1]], 2)
    Traceback (most recent call last):
    ...
    ValueError: box: expected (low, high) or 2 pairs, got shape (1, 2)

    Args:
        box: ``(low, high)`` for every coordinate, ``n`` pairs, or None.
        n: the number of coordinates.

    Returns:
        ``(lo, hi)``, two float arrays of shape ``(n,)`` (``∓inf`` for no box).
    """
    if box is None:
        return np.full(n, -np.inf), np.full(n, np.inf)
    arr = np.asarray(box, np.float64)
    if arr.shape == (2,):
        arr = np.tile(arr, (n, 1))
    if arr.shape != (n, 2):
        raise ValueError(f"box: expected (low, high) or {n} pairs, got shape {arr.shape}")
    return arr[:, 0], arr[:, 1]


def optional_bounds(lo: np.ndarray, hi: np.ndarray) -> list[tuple[float | None, float | None]]:
    """The box as ``linprog`` bounds: one ``(low, high)`` per coordinate, None if infinite.

    >>> optional_bounds(np.array([0.0, -np.inf]), np.array([1.0, np.inf]))
    [(0.0, 1.0), (None, None)]

    Args:
        lo: the lower bounds.
        hi: the upper bounds.

    Returns:
        A list of pairs of floats or None.
    """
    return [
        (float(u) if np.isfinite(u) else None, float(v) if np.isfinite(v) else None)
        for u, v in zip(lo, hi, strict=True)
    ]


def unit_rows(gjac: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``G y + g >= 0`` as unit rows ``A y <= b``; constant rows dropped.

    >>> A, b, idx = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]), np.array([5.0, 1.0]))
    >>> A.tolist(), b.tolist(), idx.tolist()
    ([[-0.6, -0.8]], [1.0], [0])

    Args:
        gjac: ``G``, one branch condition per row, shape ``(m, n)``.
        g: its constants, shape ``(m,)``.

    Returns:
        ``(A, b, idx)``: the rows kept, normalised, and their indices in ``G``.
    """
    norms = np.linalg.norm(gjac, axis=1)
    keep = norms > 1e-12
    A, b = -gjac[keep] / norms[keep, None], g[keep] / norms[keep]
    return A, b, np.flatnonzero(keep)


def facets(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    x: np.ndarray,
    reference: bool = False,
) -> np.ndarray:
    """Indices of the rows of ``A y <= b`` that are facets of the polytope within the box.

    Duplicates keep their first row; rows the box implies go first (by bounds).
    Most facets are then certified by projections from the Chebyshev centre, the
    rest decided by linear programs.

    >>> A = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    >>> facets(A, np.array([0.5, 0.5, 5.0]), *as_box([-1, 1], 2), np.zeros(2)).tolist()
    [0]

    Args:
        A: unit rows, shape ``(m, n)``.
        b: right-hand sides, shape ``(m,)``.
        lo: the box's lower bounds (``-inf`` allowed).
        hi: the box's upper bounds (``inf`` allowed).
        x: a point of the polytope (the start when it has no inscribed ball).
        reference: the earlier, slower certification (one shallow projection
            pass, many more LPs): the same facets, kept for the side-by-side
            benchmark.

    Returns:
        The sorted indices of the facet rows.
    """
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
    alive &= ~(boxmax <= b - TOL)
    # certify most facets cheaply, from a deep point (the centre of the largest ball)
    deep = chebyshev_centre(A, b, optional_bounds(lo, hi), not reference)
    start = x if deep is None else deep
    inside = np.all(A @ start < b - TOL) and np.all((lo < start) & (start < hi))
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
    highspy = load_highspy()
    n = A.shape[1]
    inf = highspy.kHighsInf
    h = highspy.Highs()
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
            status == highspy.HighsModelStatus.kOptimal and top > b[i] + TOL
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


def chebyshev_centre(
    A: np.ndarray, b: np.ndarray, bounds: list[Any], primal: bool = False
) -> np.ndarray | None:
    """The centre of the largest ball in ``{A y <= b}`` ∩ box; None if it has no interior.

    >>> chebyshev_centre(np.array([[1.0, 0.0]]), np.array([0.0]), [(-2, 2), (0, 2)]).tolist()
    [-1.0, 1.0]
    >>> chebyshev_centre(np.array([[1.0, 0.0]]), np.array([-3.0]), [(-2, 2), (0, 2)]) is None
    True

    Args:
        A: unit rows, shape ``(m, n)``.
        b: right-hand sides.
        bounds: the box, one ``(low, high)`` per coordinate (None: unbounded).
        primal: solve by primal simplex without presolve (see ``LPModel``).

    Returns:
        The centre, shape ``(n,)``, or None when the ball has radius 0.
    """
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
    res = solve_lp(cost, np.c_[AA, np.ones(len(AA))], bb, lower, upper, primal)
    if not res.ok or res.x[-1] <= 1e-12:
        return None
    return res.x[:n]


def facet_point(A: np.ndarray, b: np.ndarray, i: int, bounds: list[Any]) -> np.ndarray | None:
    """A point of facet ``i`` as far as possible from the other walls (within a bounded box).

    >>> A = np.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> facet_point(A, np.array([0.5, 0.5]), 0, [(-1, 1), (0, 0.5)]).tolist()
    [0.5, 0.25]

    Args:
        A: unit rows, shape ``(m, n)``.
        b: right-hand sides.
        i: the facet's row.
        bounds: the box, one finite ``(low, high)`` per coordinate.

    Returns:
        The point, or None when the facet has no relative interior in the box.
    """
    n = A.shape[1]
    others = np.delete(np.arange(len(b)), i)
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    lo = np.array([u for u, _ in bounds])
    hi = np.array([v for _, v in bounds])
    AA = np.r_[A[others], np.eye(n), -np.eye(n)]
    bb = np.r_[b[others], hi, -lo]
    res = linprog(
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
