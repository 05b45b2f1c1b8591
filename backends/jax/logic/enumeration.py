"""All the activation regions of a PL network that meet a box.

``regions(net, box)`` finds them. In 2-D the traversal is exact: every edge of
every region polygon is crossed, and the far side of each edge is covered
interval by interval, so the polygons tile the box. In more dimensions the
search is LP-guided (the facets of each region, a step across each); every
region counted has a witness point, so the count is a certified lower bound.

>>> import jax, numpy as np
>>> from topos.nn import mlp
>>> from backends.jax import init
>>> from backends.jax.logic.pl import PLNet
>>> from backends.jax.logic.polygons import area
>>> p = mlp([2, 8, 1])
>>> net = PLNet(p, init(p, jax.random.key(0)))
>>> found = regions(net, [-1, 1], progress=False)
>>> found.exact, round(sum(area(c.polygon) for c in found.cells), 9)
(True, 4.0)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backends.jax.logic.facets import facets
from backends.jax.logic.local import pattern_key
from backends.jax.logic.pl import PLNet
from backends.jax.logic.polygons import area, polygon
from backends.jax.logic.polyhedra import as_box, chebyshev_centre, facet_point, unit_rows
from backends.jax.logic.solver import one_blas_thread

__all__ = ["Cell", "Regions", "regions"]


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
    """The result of ``regions``: the cells found, whether the count is exact, the time.

    >>> print(Regions((), True, 0.25))
    0 regions (exact) in 0.250 s
    """

    cells: tuple[Cell, ...]
    exact: bool
    seconds: float

    def __len__(self) -> int:
        return len(self.cells)

    def __str__(self) -> str:
        kind = "exact" if self.exact else "a certified lower bound"
        return f"{len(self)} regions ({kind}) in {self.seconds:.3f} s"


@one_blas_thread
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
    lo, hi = as_box(box, net.n)
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


# an edge to cover: (p0, p1, normal, the intervals of t in [0, 1] not yet covered)
_Edge = tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[float, float]]]


class _Traversal2D:
    """The state of the 2-D traversal: the cells found, each pattern's polygon, the edges.

    A point just beyond the middle of an edge's first uncovered interval is
    visited; the region found there covers part of the edge; repeat until every
    edge is covered.
    """

    def __init__(self, net: PLNet, lo: np.ndarray, hi: np.ndarray) -> None:
        self.net, self.lo, self.hi = net, lo, hi
        self.scale = float(np.linalg.norm(hi - lo))
        self.eps = 1e-9 * self.scale
        self.cells: dict[bytes, Cell] = {}
        self.polys: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # (poly, A, b)
        self.edges: list[_Edge] = []
        self.exact = True

    def visit(self, points: list[np.ndarray]) -> list[bytes]:
        """The patterns at ``points``; the regions not met before are added."""
        _, _, dec = self.net.record_many(np.array(points))
        keys = [pattern_key(d[i] for d in dec) for i in range(len(points))]
        new = sorted({k: i for i, k in enumerate(keys) if k not in self.polys}.items())
        if new:
            pick = np.array([i for _, i in new])
            jac, c, gjac, g = self.net.affine_many([d[pick] for d in dec])
            for (k, _), J, cc, G, gg in zip(new, jac, c, gjac, g, strict=True):
                self._add(k, J, cc, G, gg)
        return keys

    def _add(self, k: bytes, J: np.ndarray, c: np.ndarray, G: np.ndarray, g: np.ndarray) -> None:
        A, b, _ = unit_rows(G, g)
        poly, labels = polygon(A, b, self.lo, self.hi)
        self.polys[k] = (poly, A, b)
        if area(poly) <= 1e-14 * self.scale**2:
            return
        self.cells[k] = Cell(k, np.mean(poly, axis=0), J, c, poly)
        for e, lab in enumerate(labels):
            p0, p1 = poly[e], poly[(e + 1) % len(poly)]
            if lab >= 0 and np.linalg.norm(p1 - p0) > self.eps:
                self.edges.append((p0, p1, A[lab], [(0.0, 1.0)]))

    def cover(self, keys: list[bytes], owners: list[int]) -> None:
        """Cover each edge's far side with the region found beyond its midpoint."""
        for k, own in zip(keys, owners, strict=True):
            if own < 0:
                continue
            p0, p1, normal, gaps = self.edges[own]
            ta, tb = _segment_in(self.polys[k][1], self.polys[k][2], p0, p1, self.eps)
            mid = _first_mid(gaps)
            if not ta - 1e-6 <= mid <= tb + 1e-6:
                self.exact, (ta, tb) = False, (mid - 1e-6, mid + 1e-6)  # a sliver: step over it
            self.edges[own] = (p0, p1, normal, _subtract(gaps, ta, tb))

    def frontier(self) -> tuple[list[np.ndarray], list[int]]:
        """The next points to visit, just beyond each uncovered edge, and their edges."""
        points, owners = [], []
        for o, (p0, p1, normal, gaps) in enumerate(self.edges):
            if gaps:
                t = _first_mid(gaps)
                points.append(p0 + t * (p1 - p0) + self.eps * normal)
                owners.append(o)
        return points, owners


def _regions_2d(net: PLNet, lo: np.ndarray, hi: np.ndarray, bar: _Progress) -> Regions:
    start = time.perf_counter()
    walk = _Traversal2D(net, lo, hi)
    points = list(np.random.default_rng(0).uniform(lo, hi, size=(4, 2)))  # generic points
    owners: list[int] = [-1] * len(points)
    while points:
        keys = walk.visit(points)
        walk.cover(keys, owners)
        points, owners = walk.frontier()
        bar(len(walk.cells), len(points))
    bar(len(walk.cells), 0, final=True)
    return Regions(tuple(walk.cells.values()), walk.exact, time.perf_counter() - start)


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
    """The intervals ``gaps`` with ``(ta, tb)`` taken out (pieces shorter than 1e-9 dropped)."""
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
        k = pattern_key(dec)
        if k in seen:
            continue
        seen.add(k)
        jac, c, gjac, g = net.affine(dec)
        A, b, _ = unit_rows(gjac, g)
        inner = chebyshev_centre(A, b, bounds)
        if inner is None:
            continue
        cells[k] = Cell(k, inner, jac, c)
        for i in facets(A, b, lo, hi, inner):
            y = facet_point(A, b, i, bounds)
            if y is not None:
                queue.append(y + eps * A[i])
        bar(len(cells), len(queue))
    bar(len(cells), len(queue), final=True)
    return Regions(tuple(cells.values()), exact, time.perf_counter() - start)
