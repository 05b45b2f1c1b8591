"""Normalisation layers: RMSNorm, and the choice between it and layer norm by name.

RMSNorm (Zhang & Sennrich 2019) rescales by the root mean square, without centring:
``x / √(mean(x²) + eps) * scale``. It is built like ``layer_norm`` from
``copy ; mul`` (the square), ``reduce_mean``, ``full`` (``eps``), ``rsqrt`` and one
learned ``scale`` (ones at init); there is no bias.

>>> from topos import R
>>> rms = rms_norm(8, lead=(4,))
>>> rms.dom, rms.cod, list(rms.parameters())
(R(4, 8), R(4, 8), ['rms.scale'])
>>> list(norm("layer", 8, name="ln").parameters())
['ln.scale', 'ln.bias']
"""

from __future__ import annotations

from collections.abc import Sequence

from topos.arrows import Id, copy, discard, pair, swap
from topos.nn import primitives as P
from topos.nn.layers import _dims, _shape, grouped, layer_norm, weight
from topos.objects import Dim, R
from topos.para import Para, ones

__all__ = ["NORMS", "norm", "rms_norm"]

#: The normalisations ``norm`` knows, by name.
NORMS = ("layer", "rms")


def rms_norm(
    d: int, *, lead: Sequence[int | Dim] = (), eps: float = 1e-6, name: str = "rms"
) -> Para:
    """RMS normalisation over the last axis: ``x / √(mean(x²) + eps) * scale``.

    ``scale: R(d)`` starts at ones (path ``name.scale``). This is Llama's and
    Penzai's ``RMSLayerNorm``.

    >>> rms_norm(4, eps=1e-5, name="norm").parameters()["norm.scale"]
    Param('norm.scale', R(4), ones)

    Args:
        d: the size of the normalised (last) axis.
        lead: the axes before it (sequence positions, say).
        eps: added to the mean square before the square root.
        name: the layer's name and the prefix of its path.

    Returns:
        A Para ``R(*lead, d) -> R(*lead, d)`` with one parameter ``name.scale``.
    """
    _dims("rms_norm", d=d)
    x = R(*_shape("rms_norm", lead), d)
    mean = P.reduce_mean(x, -1, keepdims=True)
    m = mean.cod
    plus_eps = pair(Id(m), discard(m) >> P.full(R(), eps)) >> P.add(m, R())
    inv_rms = copy(x) >> P.mul(x, x) >> mean >> plus_eps >> P.rsqrt(m)
    normalise = copy(x) >> (Id(x) * inv_rms) >> P.mul(x, m)
    v = R(d)
    scale = weight("scale", v, ones, swap(v, x) >> P.mul(x, v))
    return grouped(name, normalise >> scale)


def norm(
    kind: str, d: int, *, lead: Sequence[int | Dim] = (), eps: float = 1e-5, name: str
) -> Para:
    """The normalisation ``kind`` (``"layer"`` or ``"rms"``) over the last axis.

    >>> norm("rms", 4, name="n").dom
    R(4)

    Args:
        kind: one of ``NORMS``.
        d: the size of the normalised (last) axis.
        lead: the axes before it.
        eps: the stabilising constant.
        name: the layer's name.

    Returns:
        ``layer_norm(...)`` or ``rms_norm(...)``.
    """
    if kind == "layer":
        return layer_norm(d, lead=lead, eps=eps, name=name)
    if kind == "rms":
        return rms_norm(d, lead=lead, eps=eps, name=name)
    raise ValueError(f"norm: unknown kind {kind!r}, expected one of {NORMS}")
