"""Convex polygons in the plane: a 2-D region cut out of a box, edge by edge.

In two dimensions a region ∩ box is a convex polygon, listed counter-clockwise.
``clip`` cuts one by a half-plane (Sutherland-Hodgman) and labels each edge with
the row that made it, so the walls crossed by an edge are known; ``polygon``
clips the box by a region's rows; ``area`` is the signed shoelace area.

>>> import numpy as np
>>> A, b = np.array([[1.0, 0.0]]), np.array([0.0])   # x <= 0
>>> poly, labels = polygon(A, b, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
>>> poly.tolist()
[[-1.0, -1.0], [0.0, -1.0], [0.0, 1.0], [-1.0, 1.0]]
>>> area(poly), labels                                  # edge 1 lies on row 0
(2.0, [-1, 0, -1, -1])
"""

from __future__ import annotations

import numpy as np

from backends.jax.logic.polyhedra import TOL

__all__ = ["area", "clip", "polygon"]


def clip(
    poly: np.ndarray, labels: list[int], a: np.ndarray, b: float, label: int
) -> tuple[np.ndarray, list[int]]:
    """``poly`` ∩ ``{y : a y <= b}`` (Sutherland-Hodgman); edge ``i`` starts at vertex ``i``.

    >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> half, labels = clip(square, [-1] * 4, np.array([1.0, 0.0]), 0.5, 7)
    >>> half.tolist(), labels
    ([[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]], [-1, 7, -1, -1])

    Args:
        poly: the vertices, counter-clockwise, shape ``(k, 2)``.
        labels: a label per edge.
        a: the half-plane's normal.
        b: its offset.
        label: the label of the new edge along ``a y = b``.

    Returns:
        The clipped polygon and its edge labels (no vertices when nothing is left).
    """
    s = (poly @ a - b).tolist()
    if max(s) <= TOL:
        return poly, labels
    if min(s) > -TOL:
        return poly[:0], []
    pts = poly.tolist()  # a handful of vertices: plain floats beat numpy here
    out, out_labels = [], []
    k = len(pts)
    for i in range(k):
        j = i + 1 if i + 1 < k else 0
        p_in, q_in = s[i] <= TOL, s[j] <= TOL
        if p_in:
            out.append(pts[i])
            out_labels.append(labels[i])
        if p_in != q_in:
            t = s[i] / (s[i] - s[j])
            (px, py), (qx, qy) = pts[i], pts[j]
            out.append([px + t * (qx - px), py + t * (qy - py)])
            out_labels.append(label if p_in else labels[i])
    return np.array(out).reshape(-1, 2), out_labels


def polygon(
    A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, list[int]]:
    """Region ∩ box as a polygon; edge labels are row indices (``-1`` for the box).

    The box is clipped by the most violated row until none is: about one step
    per edge of the result.

    >>> poly, labels = polygon(np.zeros((0, 2)), np.zeros(0), np.zeros(2), np.ones(2))
    >>> len(poly), labels
    (4, [-1, -1, -1, -1])

    Args:
        A: the region's unit rows, shape ``(m, 2)``.
        b: their right-hand sides.
        lo: the box's lower corner.
        hi: its upper corner.

    Returns:
        The vertices (counter-clockwise; none when the region misses the box) and
        the edge labels.
    """
    poly = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    labels = [-1, -1, -1, -1]
    while True:
        worst = (poly @ A.T - b).max(axis=0)
        i = int(worst.argmax()) if len(worst) else -1
        if i < 0 or worst[i] <= TOL:
            return poly, labels
        poly, labels = clip(poly, labels, A[i], b[i], i)
        if len(poly) < 3:
            return poly[:0], []


def area(poly: np.ndarray) -> float:
    """The signed area of a polygon (positive counter-clockwise; 0 below 3 vertices).

    >>> area(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]))
    1.0

    Args:
        poly: the vertices, shape ``(k, 2)``.

    Returns:
        The shoelace area.
    """
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    x2, y2 = np.concatenate((x[1:], x[:1])), np.concatenate((y[1:], y[:1]))
    return float(0.5 * (x @ y2 - y @ x2))
