"""The facets of a polytope, by certificates and Clarkson's LPs, agree with one LP per row.

``classify`` decides most rows without a linear program over all the rows (rays,
projections, a bounding box, dual multipliers shared between rows, the dual
simplex stopped early); each of those shortcuts is checked here against the
plain definition, solved with ``scipy.optimize.linprog``: row ``i`` is a facet iff
without it ``max a_i y`` over the other rows and the box exceeds ``b_i``. Under a
budget the rows kept must still contain every facet, so the region is exact.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from backends.jax.logic import facets as facets_module
from backends.jax.logic.budget import Budget
from backends.jax.logic.facets import classify
from backends.jax.logic.polyhedra import as_box


def _polytope(seed: int, n: int, m: int, centre: float) -> tuple[np.ndarray, np.ndarray]:
    """``m`` random unit rows around the point ``centre * 1`` (strictly inside)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n))
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    b = A @ np.full(n, centre) + rng.uniform(0.05, 1.0, m)
    return A, b


def _lp_only_facets(A: np.ndarray, b: np.ndarray, bounds: Any) -> set[int]:
    out = set()
    for i in range(len(b)):
        rest = np.delete(np.arange(len(b)), i)
        res = linprog(-A[i], A_ub=A[rest], b_ub=b[rest], bounds=bounds, method="highs")
        if res.status == 3 or (res.status == 0 and -res.fun > b[i] + 1e-9):
            out.add(i)
    return out


class _Countdown(Budget):
    """A budget that runs out after ``checks`` calls of ``expired``: a deterministic cut."""

    def __init__(self, checks: int) -> None:
        super().__init__(None, progress=False)
        self.checks = checks

    def expired(self) -> bool:
        self.checks -= 1
        self.ran_out = self.ran_out or self.checks < 0
        return self.ran_out


BOXES = {"open": None, "symmetric": (-1.0, 1.0), "unit": (0.0, 1.0)}


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 6),
    m=st.integers(3, 90),
    box=st.sampled_from(sorted(BOXES)),
    rays=st.booleans(),
)
def test_classify_equals_one_lp_per_row(seed: int, n: int, m: int, box: str, rays: bool) -> None:
    """Both certificate paths (projections, rays), with and without the bounding-box
    screen (more than ``4 n`` rows), bounded and open boxes (unbounded LPs capped)."""
    limits = BOXES[box]
    A, b = _polytope(seed, n, m, 0.0 if limits is None else sum(limits) / 2)
    lo, hi = as_box(limits, n)
    x = np.full(n, 0.0 if limits is None else sum(limits) / 2)
    with patch.object(facets_module, "PROJECTED", 0 if rays else 10**6):
        found = classify(A, b, lo, hi, x)
    assert found.complete
    bounds = [(None, None) if limits is None else limits] * n
    assert set(np.flatnonzero(found.facet).tolist()) == _lp_only_facets(A, b, bounds)


def test_classify_without_certificates_runs_clarkson_alone() -> None:
    """Many rows in few dimensions: the screen, the shared multipliers and the early
    stops decide most rows; the facets are still exactly the LP-only ones."""
    A, b = _polytope(3, 4, 400, 0.5)
    lo, hi = as_box([0, 1], 4)
    with patch.object(facets_module, "_rays", lambda *a, **k: np.zeros(len(b), bool)):
        found = classify(A, b, lo, hi, np.full(4, 0.5))
    assert found.complete
    assert set(np.flatnonzero(found.facet).tolist()) == _lp_only_facets(A, b, [(0, 1)] * 4)


def test_a_cut_budget_keeps_every_facet() -> None:
    A, b = _polytope(7, 5, 300, 0.5)
    lo, hi = as_box([0, 1], 5)
    x = np.full(5, 0.5)
    every = set(np.flatnonzero(classify(A, b, lo, hi, x).facet).tolist())
    partial = 0
    for checks in (0, 1, 3, 20, 60, 10**6):
        found = classify(A, b, lo, hi, x, _Countdown(checks))
        certified = set(np.flatnonzero(found.facet).tolist())
        assert certified <= every  # what it certifies is a facet
        assert every <= set(found.kept().tolist())  # what it drops is redundant: region exact
        assert not (found.facet & found.undecided).any()
        partial += not found.complete
    assert partial >= 3
    assert found.complete  # the last one had time to finish


def _no_rays(*args: Any, **kwargs: Any) -> np.ndarray:
    return np.zeros(len(args[1]), bool)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), m=st.integers(2, 8))
def test_clarkson_caps_the_lps_of_an_unbounded_region(seed: int, m: int) -> None:
    """Few rows, no box: the region is unbounded and so are some of its LPs."""
    A, b = _polytope(seed, 4, m, 0.0)
    lo, hi = as_box(None, 4)
    with patch.object(facets_module, "_rays", _no_rays):
        found = classify(A, b, lo, hi, np.zeros(4))
    assert found.complete
    assert set(np.flatnonzero(found.facet).tolist()) == _lp_only_facets(A, b, [(None, None)] * 4)


def test_near_duplicate_walls_keep_the_region_exact() -> None:
    """A ray leaving through two walls at once (a wall and its near-copy, 6e-11 apart:
    one LP tolerance) adds both as cuts; the region kept is still the polytope."""
    A, b = _polytope(5, 3, 40, 0.5)
    copies = np.arange(0, 40, 3)
    A2, b2 = np.r_[A, A[copies]], np.r_[b, b[copies] + 6e-11]
    lo, hi = as_box([0, 1], 3)
    with patch.object(facets_module, "_rays", _no_rays):
        found = classify(A2, b2, lo, hi, np.full(3, 0.5))
    assert found.complete
    kept = found.kept()
    for i in np.setdiff1d(np.arange(len(b2)), kept):  # every row dropped is implied
        res = linprog(-A2[i], A_ub=A2[kept], b_ub=b2[kept], bounds=[(0, 1)] * 3, method="highs")
        assert -res.fun <= b2[i] + 1e-7
    every = _lp_only_facets(A, b, [(0, 1)] * 3)  # each facet of the original, or its copy
    for i in every:
        twin = [40 + k for k, c in enumerate(copies) if c == i]
        assert i in kept or any(t in kept for t in twin)
