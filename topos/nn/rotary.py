"""Rotary position embeddings (RoPE, Su et al. 2021), with their tables inside the diagram.

For a vector ``x`` of even size ``r`` at position ``s``, split it into halves
``x₁, x₂`` and rotate each pair ``(x₁[i], x₂[i])`` by the angle
``s · base^(-2i/r)``:

    rope(x)_s = concat(x₁ cos θ_s - x₂ sin θ_s,  x₂ cos θ_s + x₁ sin θ_s)

(the half-split convention of GPT-NeoX, Gemma and Penzai's ``ApplyRoPE``). The
angle table ``θ = positions ⊗ frequencies`` is *computed by the diagram* from
``arange``, ``scale``, ``exp``, an outer-product ``einsum``, ``sin`` and ``cos``:
a constant sub-diagram (it discards the input), so the map is linear in ``x``.

>>> from topos import R
>>> from topos.analysis import analyze
>>> rot = rotary((8, 2, 16))
>>> rot.dom, rot.cod, rot.P
(R(8, 2, 16), R(8, 2, 16), One)
>>> analyze(rot).cls
'linear'
>>> rotary((8, 6), dims=4).cod                      # rotate the first 4 of 6 entries
R(8, 6)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from topos.arrows import Arrow, Id, copy, discard, fst, pair, snd
from topos.nn import primitives as P
from topos.nn.layers import _shape
from topos.objects import Dim, R
from topos.para import Para

__all__ = ["rotary", "rotary_tables"]


def rotary_tables(seq: int | Dim, dims: int, *, base: float = 10_000.0, mid: int = 0) -> Arrow:
    """The constant ``One -> C * S``: the cosines and sines of the RoPE angles.

    ``C = S = R(seq, *([1] * mid), dims // 2)``; entry ``[s, ..., i]`` is
    ``cos`` / ``sin`` of ``s · base^(-2i/dims)``. ``mid`` singleton axes let the
    tables broadcast over head axes.

    >>> rotary_tables(8, 4, mid=1).cod
    R(8, 1, 2) * R(8, 1, 2)

    Args:
        seq: the number of positions.
        dims: the (even) number of rotated entries.
        base: the maximal wavelength.
        mid: how many singleton axes to put between positions and frequencies.

    Returns:
        An arrow ``One -> C * S`` built from ``arange``, ``scale``, ``exp``,
        ``einsum``, ``cos`` and ``sin``.
    """
    if dims % 2 or dims < 2:
        raise ValueError(f"rotary: the rotated size must be even and positive, got {dims}")
    half = dims // 2
    pos = P.arange(seq)
    freqs = P.arange(half) >> P.scale(R(half), -2.0 * math.log(base) / dims) >> P.exp(R(half))
    angles = pair(pos, freqs) >> P.einsum("s,f->sf", R(seq), R(half))
    table = R(seq, *([1] * mid), half)
    shaped = angles >> P.reshape(R(seq, half), *table.shape)
    return shaped >> copy(table) >> (P.cos(table) * P.sin(table))


def rotary(shape: Sequence[int], *, dims: int | None = None, base: float = 10_000.0) -> Para:
    """RoPE on ``R(seq, *heads, head_dim)``: rotate the first ``dims`` entries of the last axis.

    Parameter-free; positions are the first axis, ``0 ... seq-1``. ``dims``
    (default: all of ``head_dim``) must be even; the entries after it pass
    through unchanged (GPT-NeoX's partial rotary).

    >>> rotary((4, 8)).arrow.dom
    One * R(4, 8)

    Args:
        shape: ``(seq, *heads, head_dim)``.
        dims: how many leading entries of the last axis to rotate.
        base: the maximal wavelength of the angles.

    Returns:
        A Para ``R(*shape) -> R(*shape)`` with no parameters.
    """
    full = _shape("rotary", shape)
    if len(full) < 2:
        raise ValueError(f"rotary: expected a shape (seq, ..., head_dim), got {full}")
    *lead, dh = full
    r = dh if dims is None else dims
    if not 0 < r <= dh:
        raise ValueError(f"rotary: dims must be in 1..{dh}, got {r}")
    x = R(*full)
    rotated = _rotate(R(*lead, r), base)
    if r == dh:
        return Para.lift(rotated)
    rest = R(*lead, dh - r)
    split = copy(x) >> (P.slice_axis(x, 0, r) * P.slice_axis(x, r, dh))
    return Para.lift(split >> (rotated * Id(rest)) >> P.concat(R(*lead, r), rest, -1))


def _rotate(x: R, base: float) -> Arrow:
    seq, *mid, r = x.shape
    half = r // 2
    h = R(seq, *mid, half)
    tables = rotary_tables(seq, r, base=base, mid=len(mid))
    t = R(seq, *([1] * len(mid)), half)
    halves = copy(x) >> (P.slice_axis(x, 0, half) * P.slice_axis(x, half, r))
    both = pair(halves, discard(x) >> tables)  # (x1, x2), (cos, sin)
    hh, tt = h * h, t * t
    x1, x2 = fst(hh, tt) >> fst(h, h), fst(hh, tt) >> snd(h, h)
    c, s = snd(hh, tt) >> fst(t, t), snd(hh, tt) >> snd(t, t)

    def times(a: Arrow, b: Arrow) -> Arrow:
        return pair(a, b) >> P.mul(h, t)

    first = pair(times(x1, c), times(x2, s)) >> P.sub(h, h)
    second = pair(times(x2, c), times(x1, s)) >> P.add(h, h)
    return both >> pair(first, second) >> P.concat(h, h, -1)
