"""Which rows of a region ``{y : A y <= b}`` are facets, within a time budget.

A region of a PL network arrives as one inequality per branch condition, most
of them redundant: the region of a digit image under a small ResNet has about
7,800 rows and under 300 facets. ``classify`` sorts the rows into facets,
redundant rows and, when the budget runs out first, undecided ones:

1. duplicates and rows the box implies are redundant by arithmetic;
2. facets are certified cheaply by a point on their hyperplane strictly inside
   every other wall: projections from the centre of the largest inscribed ball
   when the region has few rows, rays from that centre when it has many;
3. the rest are decided by Clarkson's algorithm, nearest first. Row ``i`` is
   redundant when ``max a_i y`` over the facets known so far stays below
   ``b_i``. Otherwise the optimum is a witness, and the ray from the centre
   to it leaves the region through a facet, certified and added. The linear
   programs hold the facets found, not all the rows; most redundant rows are
   dismissed without one, by the region's bounding box or by the dual
   multipliers of an earlier proof.

The facets and the undecided rows together describe the region exactly
(``Facets.kept``): only rows shown to be redundant are ever dropped.

>>> import numpy as np
>>> from backends.jax.logic.polyhedra import as_box
>>> A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])   # x <= 1, y <= 1, x <= 2
>>> b = np.array([1.0, 1.0, 2.0])
>>> lo, hi = as_box([-1, 3], 2)
>>> facets(A, b, lo, hi, np.zeros(2)).tolist()            # x <= 2 is implied
[0, 1]

With no time at all only arithmetic is done: here nothing is decided, and the
three rows still describe the region exactly.

>>> classify(A, b, lo, hi, np.zeros(2), Budget(0.0)).undecided.tolist()
[True, True, True]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.jax.logic.budget import Budget
from backends.jax.logic.polyhedra import TOL, chebyshev_centre, optional_bounds
from backends.jax.logic.solver import LPModel, load_highspy

__all__ = ["Facets", "classify", "facets"]

#: projection certificates up to this many rows per input coordinate; beyond, rays. The
#: projections certify the facets of an MLP's region (rows about as many as inputs, nearly
#: all facets) in a few sweeps, but sweep every redundant row of a deep net's region to the end
PROJECTED = 4

#: how far inside the other walls a certificate's point must be
MARGIN = 1e-10


@dataclass(frozen=True, eq=False)
class Facets:
    """What ``classify`` found about each row: a facet, or not yet decided (else redundant).

    >>> f = Facets(np.array([True, False, False]), np.array([False, False, True]))
    >>> f.kept().tolist(), f.complete
    ([0, 2], False)
    """

    facet: np.ndarray
    undecided: np.ndarray

    @property
    def complete(self) -> bool:
        """Whether every row was decided."""
        return not bool(self.undecided.any())

    def kept(self) -> np.ndarray:
        """The rows that describe the region exactly: the facets and the undecided rows."""
        return np.flatnonzero(self.facet | self.undecided)


def facets(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    x: np.ndarray,
    reference: bool = False,
) -> np.ndarray:
    """Indices of the rows of ``A y <= b`` that are facets of the polytope within the box.

    ``classify`` without a time limit. Duplicates keep their first row.

    >>> A = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    >>> from backends.jax.logic.polyhedra import as_box
    >>> facets(A, np.array([0.5, 0.5, 5.0]), *as_box([-1, 1], 2), np.zeros(2)).tolist()
    [0]

    Args:
        A: unit rows, shape ``(m, n)``.
        b: right-hand sides, shape ``(m,)``.
        lo: the box's lower bounds (``-inf`` allowed).
        hi: the box's upper bounds (``inf`` allowed).
        x: a point of the polytope (the start when it has no inscribed ball).
        reference: the earlier, slower certification (see ``classify``).

    Returns:
        The sorted indices of the facet rows.
    """
    return np.flatnonzero(classify(A, b, lo, hi, x, reference=reference).facet)


def classify(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    x: np.ndarray,
    budget: Budget | None = None,
    reference: bool = False,
) -> Facets:
    """The facets of ``{A y <= b}`` within the box, as many as ``budget`` allows.

    Rows are decided nearest the inscribed ball's centre first, so a budget
    that runs out leaves the far rows undecided. Without a budget every row
    is decided.

    >>> from backends.jax.logic.polyhedra import as_box
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> f = classify(A, np.array([1.0, 1.0, 3.0]), *as_box([-1, 2], 2), np.zeros(2))
    >>> f.facet.tolist(), f.complete
    ([True, True, False], True)

    Args:
        A: unit rows, shape ``(m, n)``.
        b: right-hand sides, shape ``(m,)``.
        lo: the box's lower bounds (``-inf`` allowed).
        hi: the box's upper bounds (``inf`` allowed).
        x: a point of the polytope (the start when it has no inscribed ball).
        budget: the deadline and progress display (None: no limit, silent).
        reference: the earlier, slower certification (one shallow projection
            pass, then a linear program over all the rows for each row left):
            the same facets, kept for the side-by-side benchmark.

    Returns:
        ``Facets``: a mask of the facets and a mask of the undecided rows.
    """
    budget = Budget(None, progress=False) if budget is None else budget
    m, n = A.shape
    alive = _distinct(A, b, lo, hi)
    facet = np.zeros(m, bool)
    if not alive.any() or budget.expired():
        return Facets(facet, alive)
    budget.stage("rule: facets", int(alive.sum()))
    deep = chebyshev_centre(A[alive], b[alive], optional_bounds(lo, hi), not reference, near=x)
    start = x if deep is None else deep
    inside = bool(np.all(A @ start < b - TOL) and np.all((lo < start) & (start < hi)))
    if inside:
        facet = _certificates(A, b, lo, hi, start, alive, reference, budget)
    if not inside or reference:
        decided, cuts = _lp_facets(A, b, lo, hi, alive, alive & ~facet, budget)
        return Facets(facet | cuts, alive & ~facet & ~decided)
    clarkson = _Clarkson(A, b, lo, hi, start, alive, facet, budget)
    clarkson.run()
    return Facets(clarkson.facet, alive & ~clarkson.facet & ~clarkson.redundant)


def _distinct(A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The rows left once duplicates (the first kept) and rows the box implies are out."""
    alive = np.zeros(len(b), bool)
    if len(b) == 0:
        return alive
    _, first = np.unique(np.round(np.c_[A, b], 10), axis=0, return_index=True)
    alive[first] = True
    with np.errstate(invalid="ignore"):
        boxmax = np.where(A == 0, 0.0, np.where(A > 0, A * hi, A * lo)).sum(axis=1)
    alive &= ~(boxmax <= b - TOL)
    return alive


def _certificates(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    start: np.ndarray,
    alive: np.ndarray,
    reference: bool,
    budget: Budget,
) -> np.ndarray:
    """Facets certified by points on them, from ``start`` strictly inside the region."""
    if reference:
        return _on_plane_points(A, b, lo, hi, start, alive, budget=budget)
    if alive.sum() > PROJECTED * A.shape[1]:
        return _rays(A, b, lo, hi, start, alive)
    # aim at points a quarter of the inner radius deep inside the other walls: the
    # projections then overshoot into the facet instead of creeping along a wall;
    # a second, shallower pass takes the thin facets the first one missed
    radius = float(np.min(np.r_[b - A @ start, start - lo, hi - start]))
    facet = np.zeros(len(b), bool)
    for depth in (0.25 * radius, 0.02 * radius):
        facet |= _on_plane_points(A, b, lo, hi, start, alive & ~facet, 600, depth, budget)
        if not np.any(alive & ~facet):
            break
    return facet


def _walls(
    A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``rows`` and the box's finite sides, as walls ``W y <= w``."""
    n = A.shape[1]
    fin_lo, fin_hi = np.isfinite(lo), np.isfinite(hi)
    walls = np.r_[A[rows], -np.eye(n)[fin_lo], np.eye(n)[fin_hi]]
    return walls, np.r_[b[rows], -lo[fin_lo], hi[fin_hi]]


def _rays(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    z: np.ndarray,
    alive: np.ndarray,
    count: int = 0,
    seed: int = 0,
) -> np.ndarray:
    """Facets hit first by random rays from ``z``: the hit point is on that wall alone.

    ``count`` rays (default ``8 n``), in one matrix product with the walls.
    """
    n = A.shape[1]
    rows = np.flatnonzero(alive)
    walls, wall_b = _walls(A, b, lo, hi, rows)
    slack = wall_b - walls @ z
    D = np.random.default_rng(seed).normal(size=(n, count or 8 * n))
    speed = walls @ D
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(speed > 1e-15, slack[:, None] / speed, np.inf)
    first = t.argmin(axis=0)
    reach = t[first, np.arange(t.shape[1])]
    after = slack[:, None] - reach[None] * speed  # the slack of every wall at the hit point
    after[first, np.arange(t.shape[1])] = np.inf
    clean = np.isfinite(reach) & (after.min(axis=0) > MARGIN) & (first < len(rows))
    facet = np.zeros(len(b), bool)
    facet[rows[first[clean]]] = True
    return facet


class _Clarkson:
    """Clarkson's redundancy removal: one small LP per row, over the facets known so far.

    The model holds the facets certified so far and, rarely, *cuts*: undecided
    rows added where a ray met two walls at once. A redundancy proof only uses
    rows not yet shown redundant, and a row shown redundant never enters the
    model, so no two rows are dropped for implying each other.
    """

    def __init__(
        self,
        A: np.ndarray,
        b: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        z: np.ndarray,
        alive: np.ndarray,
        facet: np.ndarray,
        budget: Budget,
    ) -> None:
        self.A, self.b, self.z, self.alive, self.budget = A, b, z, alive, budget
        self.lo, self.hi = lo, hi
        self.facet, self.redundant = facet.copy(), np.zeros(len(b), bool)
        self.rows = np.flatnonzero(alive)  # the walls a ray can meet (the box: below)
        self.slack = b[self.rows] - A[self.rows] @ z
        first = np.flatnonzero(facet)
        self.model = LPModel(A[first], b[first], lo, hi, primal=True)
        self.where = {int(r): k for k, r in enumerate(first)}  # row -> its row in the model
        self.held = [int(r) for r in first]  # model row -> its row (-1: a cap, or dropped)
        self.pool: list[object] = []  # bases of optima, to restart from
        self.points = np.zeros((64, len(z)))  # those optima, row by row
        self.outer = (lo.copy(), hi.copy())  # a box around the region (facets only)
        self.bounded = False  # whether the model's variables are bounded by that box
        self.mid, self.half = np.zeros(len(z)), np.full(len(z), np.inf)  # that box, for _share
        self.a_mid = np.zeros(len(b))
        self.open = np.flatnonzero(alive & ~facet)  # rows _share may still decide

    def run(self) -> None:
        """Decide the rows not certified yet, nearest ``z`` first, until the budget ends."""
        todo = self.rows[~self.facet[self.rows]]
        todo = todo[np.argsort(self.b[todo] - self.A[todo] @ self.z, kind="stable")]
        if len(todo) > 4 * self.A.shape[1]:
            self._screen_by_box()
        total = len(self.rows)
        for count, i in enumerate(todo):
            if self.budget.expired():
                break
            if not (self.facet[i] or self.redundant[i]):
                self._decide(int(i))
            if count % 16 == 0:
                self._report(total)
        self._report(total)

    def _report(self, total: int) -> None:
        f, r = int(self.facet.sum()), int(self.redundant[self.rows].sum())
        self.budget.update(f + r, f"{f} facets, {r} redundant", total)

    def _decide(self, i: int) -> None:
        """Row ``i``: redundant (an LP bound), or a facet (certified by a ray)."""
        while not (self.facet[i] or self.redundant[i]) and not self.budget.expired():
            y = self._optimum(i)
            if y is None:  # proven below b_i before the optimum
                self.redundant[i] = True
                self._share(self.model.duals())
            elif self.A[i] @ y <= self.b[i] + TOL:
                self.redundant[i] = True
                self._share(self.model.duals())
                self._drop(i)
            elif not self._cross(y, i):
                self._fallback(i)

    def _optimum(self, i: int) -> np.ndarray | None:
        """The maximiser of ``a_i . y`` over the model without row ``i``, or None once the
        dual simplex proves that max below ``b_i`` (with a margin): it stops early then.

        It restarts from the pooled optimum best for ``a_i``, so it takes fewer pivots.
        """
        if not self.bounded or i in self.where:
            return self._maximise(self.A[i], float(self.b[i]) + 1.0, i)[0]
        if len(self.pool) > 1:
            best = int(np.argmax(self.points[: len(self.pool)] @ self.A[i]))
            self.model.start_from(self.pool[best])
        y = self.model.minimise(-self.A[i], above=-float(self.b[i]) + 1e-7)
        if y is not None:
            self._pool(y)
            return y
        if self.model.status != "above":  # not expected: the box keeps the LP bounded
            return self._maximise(self.A[i], float(self.b[i]) + 1.0, i)[0]
        return None

    def _maximise(self, c: np.ndarray, cap: float, skip: int = -1) -> tuple[np.ndarray, bool]:
        """The maximiser of ``c . y`` over the model with row ``skip`` relaxed, and whether
        it is unbounded there (then the point maximises with ``c . y <= cap`` added)."""
        row = self.where.get(skip, -1)
        if row >= 0:
            self.model.bound(row, np.inf)
        y = self.model.minimise(-c)
        capped = y is None
        if y is not None:
            self._pool(y)
        else:  # unbounded (the box is open): a temporary cap makes a witness
            self.model.add_rows(c[None], np.array([cap]))
            self.held.append(-1)
            self.pool.clear()
            y = self.model.minimise(-c)
            self.model.bound(self.model.rows - 1, np.inf)
            assert y is not None, self.model.status  # z is feasible
        if row >= 0:
            self.model.bound(row, float(self.b[skip]))
        return y, capped

    def _drop(self, i: int) -> None:
        """Row ``i`` is redundant: if it is in the model (a cut), relax it there for good."""
        row = self.where.pop(i, -1)
        if row >= 0:
            self.model.bound(row, np.inf)
            self.held[row] = -1
            self.pool.clear()

    def _pool(self, y: np.ndarray) -> None:
        if len(self.pool) == len(self.points):
            self.points = np.r_[self.points, np.zeros_like(self.points)]
        self.points[len(self.pool)] = y
        self.pool.append(self.model.basis())

    def _add(self, rows: np.ndarray) -> None:
        for r in rows:
            self.where[int(r)] = self.model.rows
            self.held.append(int(r))
            self.model.add_rows(self.A[r][None], self.b[r][None])
        if len(rows):
            self.pool.clear()  # the bases have one row too few now

    def _cross(self, y: np.ndarray, i: int, cuts: bool = True) -> bool:
        """``y`` satisfies the model but not the region: the ray from ``z`` to ``y`` leaves
        the region through one wall (a facet, certified) or several (added as cuts, if
        ``cuts``). False when that adds nothing."""
        speed = self.A[self.rows] @ (y - self.z)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(speed > 1e-15, self.slack / speed, np.inf)
        k = int(np.argmin(t))
        after = self.slack - t[k] * speed
        after[k] = np.inf
        if after.min() > MARGIN:
            j = int(self.rows[k])
            if j in self.where:  # the model already holds it: only rounding got us here
                return False
            self.facet[j] = True
            self.redundant[j] = False  # shown redundant within the LP tolerance: it touches
            self._add(np.array([j]))
            return True
        tied = self.rows[np.r_[k, np.flatnonzero(after <= MARGIN)]]
        new = [int(r) for r in tied if r not in self.where and not self.redundant[r] and r != i]
        if cuts:
            self._add(np.array(new, int))
        return bool(new) and cuts

    def _fallback(self, i: int) -> None:
        """Row ``i`` by one LP over every row not shown redundant (rays met only ties)."""
        others = self.alive & ~self.redundant
        _, cuts = _lp_facets(self.A, self.b, self.lo, self.hi, others, np.array([i]), None)
        if cuts[i]:
            self.facet[i] = True
            if i not in self.where:
                self._add(np.array([i]))
        else:
            self.redundant[i] = True

    def _screen_by_box(self) -> None:
        """Bound the region by a box (2n LPs over the facets, each optimum pushed inside the
        region by the facets its ray finds), and drop the rows that box implies.

        The model holds certified facets only here (no cuts), so the box rests on rows
        that are never dropped."""
        n = self.A.shape[1]
        lo, hi = self.outer
        for j in range(n):
            for sign in (1.0, -1.0):
                if self.budget.expired():
                    return
                e = np.zeros(n)
                e[j] = sign
                y, capped = self._maximise(e, float(e @ self.z) + 1.0)
                while not capped and np.any(self.A[self.rows] @ y > self.b[self.rows] + TOL):
                    if not self._cross(y, -1, cuts=False) or self.budget.expired():
                        break  # a tie: keep the outer bound
                    y, capped = self._maximise(e, float(e @ self.z) + 1.0)
                if capped:
                    continue
                if sign > 0:
                    hi[j] = min(hi[j], y[j])
                else:
                    lo[j] = max(lo[j], y[j])
        pad = 1e-8 * (1.0 + np.abs(np.r_[lo, hi]).max(initial=0.0))  # LP tolerances
        lo -= pad
        hi += pad
        if np.all(np.isfinite(lo) & np.isfinite(hi)):  # the region is inside: bound the LPs
            self.model.restrict(lo, hi)
            self.bounded = True
        boxmax = np.where(self.A > 0, self.A * hi, self.A * lo).sum(axis=1)
        implied = self.alive & ~self.facet & (boxmax <= self.b - TOL)
        implied[list(self.where)] = False
        self.redundant |= implied
        self.mid, self.half = (lo + hi) / 2, (hi - lo) / 2
        self.a_mid = self.A @ self.mid
        self.open = np.flatnonzero(self.alive & ~self.facet & ~self.redundant)

    def _share(self, duals: np.ndarray) -> None:
        """Every undecided row whose max the multipliers ``duals`` already bound below its b.

        For ``lam >= 0`` on the model's rows, on the region ``a . y <= lam . b_model +
        max over the outer box of (a - lam A_model) . y`` (weak duality); with the box's
        centre ``mid`` and half-widths ``half`` that max is ``r . mid + |r| . half``.
        """
        held = np.asarray(self.held)
        use = (held >= 0) & (duals > 0)
        if not use.any() or not np.all(np.isfinite(self.half)):
            return
        lam, rows = duals[use], held[use]
        lam_a = lam @ self.A[rows]
        cand = self.open[~(self.facet[self.open] | self.redundant[self.open])]
        cand = cand[np.array([int(r) not in self.where for r in cand], bool)]
        self.open = cand  # a row in the model could bound itself: left out above
        bound = float(lam @ self.b[rows] - lam_a @ self.mid) + self.a_mid[cand]
        bound += np.abs(self.A[cand] - lam_a) @ self.half
        self.redundant[cand[bound <= self.b[cand] - TOL]] = True


def _lp_facets(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    alive: np.ndarray,
    unknown: np.ndarray,
    budget: Budget | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decide rows by linear programs over all the rows ``alive``: row ``i`` cuts iff
    dropping it lets ``max a_i y`` over the other rows (and the box) exceed ``b_i``.

    One HiGHS model, rows relaxed one at a time (redundant ones stay relaxed),
    warm-started. ``unknown`` is a mask or a list of rows. Returns the masks of
    the rows decided and of those that cut."""
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
    cuts, decided = np.zeros(len(b), bool), np.zeros(len(b), bool)
    todo = np.flatnonzero(unknown) if unknown.dtype == bool else unknown
    for count, i in enumerate(todo):
        if budget is not None and budget.expired():
            break
        h.changeColsCost(n, cols, -A[i])
        h.changeRowBounds(where[int(i)], -inf, inf)
        h.run()
        status = h.getModelStatus()
        top = -h.getInfo().objective_function_value
        decided[i] = True
        if status == highspy.HighsModelStatus.kUnbounded or (
            status == highspy.HighsModelStatus.kOptimal and top > b[i] + TOL
        ):
            cuts[i] = True
            h.changeRowBounds(where[int(i)], -inf, float(b[i]))
        if budget is not None and count % 8 == 0:
            budget.update(count + 1, f"{int(cuts.sum())} cut", len(todo))
    return decided, cuts


def _on_plane_points(
    A: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    x: np.ndarray,
    alive: np.ndarray,
    sweeps: int = 100,
    margin: float = 1e-7,
    budget: Budget | None = None,
) -> np.ndarray:
    """Rows certified as facets: a point on the row's hyperplane strictly inside all others.

    For every candidate row at once, start at the projection of ``x`` on its
    hyperplane and repeatedly project, within that hyperplane, onto the most
    violated other wall (box walls included), ``margin`` beyond it. A row whose
    point ends strictly inside the other walls is a facet; the rest are left to
    linear programs.
    """
    rows = np.flatnonzero(alive)
    walls, wall_b = _walls(A, b, lo, hi, np.arange(len(b)))
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
        if budget is not None and budget.expired():
            break
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
