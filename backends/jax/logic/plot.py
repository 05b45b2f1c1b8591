"""Pictures of a 2-D PL network: its activation regions and its decision boundary.

``plot_regions(net, box, path)`` fills each region with its decision's colour
(in a shade of its own), draws region edges thin and the decision boundary,
computed exactly per region where two scores tie, thick and black. matplotlib is
imported on first use.

>>> import jax
>>> from topos.nn import mlp
>>> from backends.jax import init
>>> from backends.jax.logic.pl import PLNet
>>> p = mlp([2, 8, 1])
>>> net = PLNet(p, init(p, jax.random.key(0)))
>>> "activation regions" in plot_regions(net, [-1, 1]).axes[0].get_title()
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.jax.logic.enumeration import Cell, Regions, regions
from backends.jax.logic.local import scores
from backends.jax.logic.pl import PLNet
from backends.jax.logic.polygons import area, clip
from backends.jax.logic.polyhedra import as_box

__all__ = ["plot_regions"]


def _class_pieces(cell: Cell) -> list[tuple[int, np.ndarray, list[int]]]:
    """The parts of a 2-D cell where each class wins: ``(class, polygon, edge labels)``.

    Edge label ``-2`` marks a piece of the decision boundary (two scores tie there).
    """
    assert cell.polygon is not None
    SJ, Sc = scores(cell.J, cell.c)
    pieces = []
    for k in range(len(Sc)):
        poly, labels = cell.polygon, [-1] * len(cell.polygon)
        for j in range(len(Sc)):
            a, b = SJ[j] - SJ[k], Sc[k] - Sc[j]
            norm = float(np.linalg.norm(a))
            if j == k or norm == 0:
                continue
            poly, labels = clip(poly, labels, a / norm, b / norm, -2)
            if len(poly) < 3:
                break
        if len(poly) >= 3 and area(poly) > 1e-14:
            pieces.append((k, poly, labels))
    return pieces


def _segments(poly: np.ndarray) -> list[list[np.ndarray]]:
    """The edges of ``poly`` as point pairs: edge ``e`` runs from vertex ``e`` to the next."""
    return [[poly[e], poly[(e + 1) % len(poly)]] for e in range(len(poly))]


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

    lo, hi = as_box(box, 2)
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
            boundary += [s for s, lab in zip(_segments(poly), labs, strict=True) if lab == -2]
        edges += _segments(cell.polygon)
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
