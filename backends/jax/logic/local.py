"""What a PL network is near one input: its pattern, its region, its affine map there.

A PL network (``analyze`` says "PL pretopos") cuts its input space into convex
*activation regions*; on each, the network is one affine map. With ``net =
PLNet(p, params)`` (see ``backends.jax.logic.pl``):

- ``pattern(net, x)``: which branch every ``relu``/``max`` takes at ``x``;
- ``region(net, x)``: the region of ``x`` as ``{y : A y <= b}``, redundant rows removed;
- ``local_map(net, x)``: ``(J, c)`` with ``net(y) = J y + c`` on that region, exact.

On a region every point has the same pattern, so the local map agrees with the
network there:

>>> import jax, numpy as np
>>> from topos.nn import mlp
>>> from backends.jax import init
>>> from backends.jax.logic.pl import PLNet
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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.jax.logic.facets import facets
from backends.jax.logic.pl import PLNet
from backends.jax.logic.polyhedra import Region, as_box, unit_rows
from backends.jax.logic.solver import one_blas_thread

__all__ = [
    "LocalMap",
    "Pattern",
    "decide",
    "local_map",
    "pattern",
    "pattern_key",
    "region",
    "row_labels",
    "scores",
]


def pattern_key(decisions: Iterable[np.ndarray]) -> bytes:
    """A pattern's decisions as bytes: equal patterns, equal keys.

    >>> pattern_key([np.array([True, False]), np.array([2])]).hex()
    '010000000000000002000000'

    Args:
        decisions: a mask per relu, an argmax array per max.

    Returns:
        The entries as int32 bytes, one after the other.
    """
    return b"".join(np.ascontiguousarray(d, np.int32).tobytes() for d in decisions)


@dataclass(frozen=True, eq=False)
class Pattern:
    """The branches taken at the PL boxes: a mask per ``relu``, an argmax per ``max``.

    Two patterns are equal when every branch is the same; ``key`` is a hashable digest.

    >>> Pattern((np.array([True, False]),)).active()
    1
    """

    decisions: tuple[np.ndarray, ...]

    @property
    def key(self) -> bytes:
        """The pattern as bytes (equal patterns, equal keys)."""
        return pattern_key(self.decisions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def active(self) -> int:
        """The number of active ReLU units (``True`` entries of the masks)."""
        return int(sum(d.sum() for d in self.decisions if d.dtype == bool))


@dataclass(frozen=True, eq=False)
class LocalMap:
    """The affine map ``y -> J y + c`` the network is on one region (inputs flattened).

    >>> LocalMap(np.array([[2.0, 0.0]]), np.array([1.0]))([1.0, 5.0]).tolist()
    [3.0]
    """

    J: np.ndarray
    c: np.ndarray

    def __call__(self, y: Any) -> np.ndarray:
        return np.asarray(self.J @ np.ravel(y) + self.c)


def decide(out: np.ndarray) -> int:
    """The decision: the argmax of the outputs, or ``out > 0`` for one output.

    >>> decide(np.array([0.1, 0.7, 0.2])), decide(np.array([-0.3]))
    (1, 0)

    Args:
        out: the network's outputs at one input.

    Returns:
        The class decided.
    """
    return int(out[0] > 0) if len(out) == 1 else int(np.argmax(out))


def scores(J: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The affine scores whose argmax is the decision (``[0, f]`` for one output).

    >>> SJ, Sc = scores(np.array([[2.0, 3.0]]), np.array([1.0]))
    >>> SJ.tolist(), Sc.tolist()
    ([[0.0, 0.0], [2.0, 3.0]], [0.0, 1.0])

    Args:
        J: the local map's matrix, shape ``(n_out, n)``.
        c: its constant, shape ``(n_out,)``.

    Returns:
        ``(SJ, Sc)``: one affine score per class.
    """
    if len(c) == 1:
        return np.r_[np.zeros_like(J), J], np.r_[0.0, c]
    return J, c


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


def row_labels(net: PLNet, decisions: Sequence[np.ndarray], idx: np.ndarray) -> tuple[str, ...]:
    """Names for the branch conditions ``idx``, with their state under ``decisions``.

    ``relu1[3] on``: the unit and its state; ``max_pool1[5] <= max (#2)`` for a max.

    >>> import jax
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([2, 3, 1])
    >>> net = PLNet(p, init(p, jax.random.key(0)))
    >>> row_labels(net, (np.array([True, False, True]),), np.array([0, 1]))
    ('relu1[0] on', 'relu1[1] off')

    Args:
        net: the network (its PL boxes name the rows).
        decisions: the pattern, as ``PLNet.record`` returns it.
        idx: the rows to name.

    Returns:
        One label per entry of ``idx``.
    """
    base = net.row_names()
    states: list[str] = []
    for (name, k), d in zip(net.sites, decisions, strict=True):
        if name == "relu":
            states += ["on" if v else "off" for v in np.ravel(d)]
        else:  # a max: one row per entry of its window, all below the chosen one
            per = k // max(1, np.size(d))
            states += [f"<= max (#{int(v)})" for v in np.ravel(d) for _ in range(per)]
    return tuple(f"{base[i]} {states[i]}" for i in idx)


@one_blas_thread
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
    A, b, idx = unit_rows(gjac, g)
    lo, hi = as_box(box, net.n)
    keep = facets(A, b, lo, hi, x)
    return Region(A[keep], b[keep], row_labels(net, dec, idx[keep]))
