"""The linear-programming solvers the region computations call: HiGHS, and one BLAS thread.

Every exact step of the logic (is a row a facet? the centre of a region, the
nearest counterfactual) is a small dense linear program. ``LPModel`` holds one
``A y <= b, lower <= y <= upper`` system in HiGHS and minimises it for many
costs, each solve warm-started from the last basis; ``solve_lp`` is the one-shot
form. The solvers are imported on first use (``import backends.jax`` stays light).

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

__all__ = ["LPModel", "Solved", "linprog", "load_highspy", "one_blas_thread", "solve_lp"]

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
    side between solves (``inf`` relaxes the row).

    >>> m = LPModel(np.array([[1.0, 1.0]]), np.array([1.0]), np.zeros(2), np.full(2, np.inf))
    >>> m.minimise(np.array([-1.0, -2.0])).tolist()
    [0.0, 1.0]
    >>> m.bound(0, np.inf)
    >>> m.minimise(np.array([-1.0, -2.0])) is None
    True

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
