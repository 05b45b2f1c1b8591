"""Polyhedra ``{y : A y <= b}``: the shape of an activation region.

A region of a PL network arrives as one inequality per branch condition
(``unit_rows``), inside an optional box (``as_box``). ``Region`` is a polytope
with one name per row; ``chebyshev_centre`` finds the centre of its largest
inscribed ball and ``facet_point`` a deep point of one facet. Which rows are
facets is decided in ``backends.jax.logic.facets``.

>>> import numpy as np
>>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> b = np.array([1.0, 1.0])
>>> r = Region(A, b, ("x", "y"))
>>> r.contains([0.5, 0.5]), r.contains([1.5, 0.5])
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.jax.logic.solver import LPModel, RowGeneration, linprog, solve_lp

__all__ = [
    "TOL",
    "Region",
    "as_box",
    "chebyshev_centre",
    "facet_point",
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


def chebyshev_centre(
    A: np.ndarray,
    b: np.ndarray,
    bounds: list[Any],
    primal: bool = False,
    near: np.ndarray | None = None,
) -> np.ndarray | None:
    """The centre of the largest ball in ``{A y <= b}`` ∩ box; None if it has no interior.

    With many rows (more than ``4 n``) and a point ``near`` the region, the LP
    starts from the ``2 n`` rows nearest that point and takes the others only
    when its optimum violates them (``RowGeneration``): the same centre, from a
    much smaller LP.

    >>> chebyshev_centre(np.array([[1.0, 0.0]]), np.array([0.0]), [(-2, 2), (0, 2)]).tolist()
    [-1.0, 1.0]
    >>> chebyshev_centre(np.array([[1.0, 0.0]]), np.array([-3.0]), [(-2, 2), (0, 2)]) is None
    True

    Args:
        A: unit rows, shape ``(m, n)``.
        b: right-hand sides.
        bounds: the box, one ``(low, high)`` per coordinate (None: unbounded).
        primal: solve by primal simplex without presolve (see ``LPModel``).
        near: a point of (or near) the region, to start the row generation from.

    Returns:
        The centre, shape ``(n,)``, or None when the ball has radius 0.
    """
    m, n = A.shape
    walls, wall_b = [], []
    for j, (u, v) in enumerate(bounds):
        e = np.zeros((1, n))
        e[0, j] = 1.0
        if u is not None:
            walls.append(-e)
            wall_b.append(np.array([-u]))
        if v is not None:
            walls.append(e)
            wall_b.append(np.array([v]))
    box = np.concatenate(walls) if walls else np.zeros((0, n))
    box_b = np.concatenate(wall_b) if wall_b else np.zeros(0)
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    lower, upper = np.r_[np.full(n, -np.inf), 0.0], np.r_[np.full(n, np.inf), 1e6]
    rows = np.c_[A, np.ones(m)]
    if near is None or m <= 4 * n:
        res = solve_lp(cost, np.r_[rows, np.c_[box, np.ones(len(box))]], np.r_[b, box_b],
                       lower, upper, primal)  # fmt: skip
        y = res.x if res.ok else None
    else:
        model = LPModel(np.c_[box, np.ones(len(box))], box_b, lower, upper, primal)
        start = np.argsort(b - A @ near)[: 2 * n]
        y = RowGeneration(model, rows, b, start, batch=2 * n).minimise(cost)
    if y is None or y[-1] <= 1e-12:
        return None
    return y[:n]


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
