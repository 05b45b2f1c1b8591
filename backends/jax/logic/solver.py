"""The linear-programming solvers the region computations call: HiGHS, and one BLAS thread.

Every exact step of the logic (is a row a facet? the centre of a region, the
nearest counterfactual) is a small dense linear program. ``LPModel`` holds one
``A y <= b, lower <= y <= upper`` system in HiGHS and minimises it for many
costs, each solve warm-started from the last basis; ``solve_lp`` is the one-shot
form. ``RowGeneration`` solves an LP with thousands of rows, most of which never
bind, by adding to the model only the rows its optimum violates. The solvers are
imported on first use (``import backends.jax`` stays light).

>>> import numpy as np
>>> A, b = np.array([[1.0, 1.0]]), np.array([1.0])
>>> res = solve_lp(np.array([-1.0, -2.0]), A, b, np.zeros(2), np.full(2, np.inf))
>>> res.ok, res.x.tolist(), res.fun
(True, [0.0, 1.0], -2.0)

An infeasible system is ``ok=False`` with objective ``inf``:

>>> solve_lp(np.zeros(1), np.array([[1.0]]), np.array([-1.0]), np.zeros(1), np.ones(1)).ok
False
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "LPModel",
    "RowGeneration",
    "Solved",
    "linprog",
    "load_highspy",
    "one_blas_thread",
    "solve_lp",
]

_F = TypeVar("_F", bound=Callable[..., Any])


@functools.cache
def _threads() -> Any:
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController()


def one_blas_thread(fn: _F) -> _F:
    """Run ``fn`` with one BLAS thread: its matrices are small, and threads only contend.

    >>> one_blas_thread(lambda a: a @ a)(np.eye(2)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]

    Args:
        fn: any function.

    Returns:
        ``fn`` wrapped to hold the BLAS thread pools at one thread while it runs.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _threads().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


def linprog(*args: Any, **kwargs: Any) -> Any:
    """``scipy.optimize.linprog``, imported on first use.

    >>> linprog([1.0], bounds=[(2.0, 3.0)], method="highs").x.tolist()
    [2.0]

    Args:
        *args: passed to ``scipy.optimize.linprog``.
        **kwargs: likewise.

    Returns:
        Its ``OptimizeResult``.
    """
    from scipy.optimize import linprog as solve  # type: ignore[import-untyped]

    return solve(*args, **kwargs)


@functools.cache  # once per process: the banner is printed by the first Highs() only
def load_highspy() -> Any:
    """The ``highspy`` module, its start-up banner already silenced.

    The first ``highspy.Highs()`` of a process prints a banner to file descriptor 1;
    this builds that first one with fd 1 sent to ``/dev/null``, so every later
    ``Highs()`` is silent.

    >>> load_highspy().Highs().getNumCol()
    0

    Returns:
        The imported ``highspy`` module.
    """
    import highspy

    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    return highspy


@dataclass(frozen=True)
class Solved:
    """The result of ``solve_lp``: ``ok`` when optimal, then the point and the objective."""

    ok: bool
    x: np.ndarray
    fun: float


class LPModel:
    """``A y <= b``, ``lower <= y <= upper`` as one HiGHS model, minimised for many costs.

    Each solve warm-starts from the last basis; ``bound`` changes one right-hand
    side between solves (``inf`` relaxes the row), ``add_rows`` appends rows, and
    ``status`` says how the last solve ended.

    >>> m = LPModel(np.array([[1.0, 1.0]]), np.array([1.0]), np.zeros(2), np.full(2, np.inf))
    >>> m.minimise(np.array([-1.0, -2.0])).tolist()
    [0.0, 1.0]
    >>> m.bound(0, np.inf)
    >>> m.minimise(np.array([-1.0, -2.0])) is None, m.status
    (True, 'unbounded')
    >>> m.add_rows(np.array([[0.0, 1.0]]), np.array([3.0]))
    >>> m.minimise(np.array([0.0, -1.0])).tolist(), m.rows
    ([0.0, 3.0], 2)

    Args:
        A_ub: the rows, shape ``(m, n)``.
        b_ub: their right-hand sides, shape ``(m,)``.
        lower: the lower bounds of ``y`` (``-inf`` for none).
        upper: the upper bounds of ``y`` (``inf`` for none).
        primal: primal simplex without presolve (faster on small dense LPs).
    """

    def __init__(
        self,
        A_ub: np.ndarray,
        b_ub: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        primal: bool = False,
    ) -> None:
        highspy = load_highspy()
        self.hs, inf = highspy, highspy.kHighsInf
        self.h = h = highspy.Highs()
        for option, value in (("output_flag", False), ("threads", 1)):
            h.setOptionValue(option, value)
        self._strategy = 4 if primal else 1
        if primal:  # small dense LPs: presolve finds nothing, primal simplex is faster here
            h.setOptionValue("presolve", "off")
            h.setOptionValue("simplex_strategy", 4)
        self.n = A_ub.shape[1]
        self.rows = 0
        self.status = "not solved"
        self._solution: Any = None
        h.addVars(
            self.n,
            np.where(np.isfinite(lower), lower, -inf),
            np.where(np.isfinite(upper), upper, inf),
        )
        self.add_rows(A_ub, b_ub)

    def add_rows(self, A_ub: np.ndarray, b_ub: np.ndarray) -> None:
        """Append the rows ``A_ub y <= b_ub`` (the basis is kept: the next solve warm-starts)."""
        m = len(A_ub)
        if m == 0:
            return
        nz = A_ub != 0
        starts = np.r_[0, np.cumsum(nz.sum(axis=1))[:-1]].astype(np.int32)
        cols = np.nonzero(nz)[1].astype(np.int32)
        values = np.ascontiguousarray(A_ub[nz], np.float64)
        lower = np.full(m, -self.hs.kHighsInf)
        self.h.addRows(m, lower, np.asarray(b_ub, np.float64), len(values), starts, cols, values)
        self.rows += m

    def bound(self, row: int, upper: float) -> None:
        """Set the right-hand side of ``row`` (``inf`` relaxes it)."""
        inf = self.hs.kHighsInf
        self.h.changeRowBounds(row, -inf, upper if np.isfinite(upper) else inf)

    def minimise(self, cost: np.ndarray, above: float | None = None) -> np.ndarray | None:
        """The optimal point for ``cost``, or None (``status`` says: infeasible, unbounded).

        With ``above``, the dual simplex runs and stops as soon as the minimum is
        proven to exceed ``above`` (None, status ``"above"``): the dual objective
        only rises, so a row is often shown redundant long before the optimum.
        """
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), np.asarray(cost, float))
        if above is not None:
            self.h.setOptionValue("simplex_strategy", 1)
            self.h.setOptionValue("objective_bound", float(above))
        try:
            self.h.run()
        finally:
            if above is not None:
                self.h.setOptionValue("simplex_strategy", self._strategy)
                self.h.setOptionValue("objective_bound", self.hs.kHighsInf)
        self._solution = self.h.getSolution()
        got = self.h.getModelStatus()
        kinds = self.hs.HighsModelStatus
        if got != kinds.kOptimal:
            self.status = {
                kinds.kInfeasible: "infeasible",
                kinds.kUnbounded: "unbounded",
                kinds.kUnboundedOrInfeasible: "unbounded or infeasible",
                kinds.kObjectiveBound: "above",
            }.get(got, "failed")
            return None
        self.status = "optimal"
        return np.asarray(self._solution.col_value, np.float64)

    def duals(self) -> np.ndarray:
        """The multipliers of the rows at the last solve, ``>= 0`` (one per row).

        For ``min cost . y`` they certify the bound ``cost . y >= -duals . b`` on
        the rows (the variable bounds add their own terms); any ``duals >= 0``
        gives a valid bound, the optimal ones the tightest.
        """
        return np.maximum(-np.asarray(self._solution.row_dual, np.float64), 0.0)

    def restrict(self, lower: np.ndarray, upper: np.ndarray) -> None:
        """Set the variables' bounds (``inf`` for none)."""
        inf = self.hs.kHighsInf
        lo = np.where(np.isfinite(lower), lower, -inf)
        hi = np.where(np.isfinite(upper), upper, inf)
        self.h.changeColsBounds(self.n, np.arange(self.n, dtype=np.int32), lo, hi)

    def basis(self) -> Any:
        """The basis of the last solve (to start a later solve from, with ``start_from``)."""
        return self.h.getBasis()

    def start_from(self, basis: Any) -> None:
        """Start the next solve from ``basis`` (taken from this model, with as many rows)."""
        self.h.setBasis(basis)


class RowGeneration:
    """``min cost . y`` over an ``LPModel`` and many more rows ``A y <= b``, added lazily.

    Most rows of a large region never bind. Each solve starts from the model's own
    rows and the lazy rows added so far; while the optimum violates a lazy row (by
    more than ``tol``), the ``batch`` most violated join the model and it is solved
    again, warm-started. The point returned satisfies every row, and it is optimal
    for a relaxation, so it is optimal for the whole LP. The model must keep each
    relaxation bounded (variable bounds, or a cost bounded below by its own rows).

    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> lp = RowGeneration(LPModel(np.zeros((0, 2)), np.zeros(0), np.zeros(2), np.full(2, 5.0)),
    ...                    A, np.array([3.0, 3.0, 4.0]))
    >>> lp.minimise(np.array([-1.0, -1.0])) @ np.ones(2), sorted(lp.added)
    (np.float64(4.0), [0, 1, 2])

    Args:
        model: the LP's fixed part (its variables, bounds and rows).
        A: the lazy rows, one column per variable of ``model``.
        b: their right-hand sides.
        start: the lazy rows to add at once (indices into ``A``).
        batch: how many violated rows join per round.
        tol: how far a point may violate a row and still count as on it.
    """

    def __init__(
        self,
        model: LPModel,
        A: np.ndarray,
        b: np.ndarray,
        start: np.ndarray | None = None,
        batch: int = 32,
        tol: float = 1e-9,
    ) -> None:
        self.model, self.A, self.b, self.batch, self.tol = model, A, b, batch, tol
        self.out = np.ones(len(b), bool)
        self.added: list[int] = []
        if start is not None:
            self._add(np.asarray(start, int))

    def _add(self, rows: np.ndarray) -> None:
        rows = rows[self.out[rows]]
        self.model.add_rows(self.A[rows], self.b[rows])
        self.out[rows] = False
        self.added += rows.tolist()

    def minimise(self, cost: np.ndarray) -> np.ndarray | None:
        """The optimum over all the rows, or None (infeasible; see ``model.status``)."""
        while True:
            y = self.model.minimise(cost)
            if y is None:
                return None
            rest = np.flatnonzero(self.out)
            over = self.A[rest] @ y - self.b[rest]
            bad = over > self.tol
            if not bad.any():
                return y
            worst = np.argsort(-over[bad])[: self.batch]
            self._add(rest[bad][worst])


def solve_lp(
    cost: np.ndarray,
    A_ub: np.ndarray,
    b_ub: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    primal: bool = False,
) -> Solved:
    """``min cost . y`` s.t. ``A_ub y <= b_ub``, ``lower <= y <= upper`` (±inf allowed).

    HiGHS is called directly: the dense rows are passed once, without
    ``linprog``'s conversions.

    >>> solve_lp(np.array([1.0]), np.zeros((0, 1)), np.zeros(0), np.ones(1), np.full(1, 2.0)).fun
    1.0

    Args:
        cost: the objective, shape ``(n,)``.
        A_ub: the rows, shape ``(m, n)``.
        b_ub: their right-hand sides.
        lower: the lower bounds of ``y``.
        upper: the upper bounds of ``y``.
        primal: as for ``LPModel``.

    Returns:
        ``Solved``: ``ok``, the optimal point ``x`` and the objective ``fun``
        (zeros and ``inf`` when not optimal).
    """
    y = LPModel(A_ub, b_ub, lower, upper, primal).minimise(cost)
    if y is None:
        return Solved(False, np.zeros(A_ub.shape[1]), np.inf)
    return Solved(True, y, float(np.asarray(cost) @ y))
