"""The layers of ``topos.nn`` called on symbolic values, their shapes read from the input.

``linear(x, 16, name="fc")`` is ``topos.nn.layers.linear(din, 16, lead=..., name="fc")``
with ``din`` and ``lead`` taken from ``x``: the same Para, so a traced model that
uses these is ``equal`` to the point-free one built from the same layers. Calling
a layer twice with the same name shares its weights.

>>> from topos import R
>>> from topos.syntax import diagram
>>> @diagram(dom=R(4, 8))
... def ffn(x):
...     return linear(gelu(linear(layer_norm(x, name="ln"), 32, name="fc1")), 8, name="fc2")
>>> list(ffn.parameters())
['ln.scale', 'ln.bias', 'fc1.w', 'fc1.b', 'fc2.w', 'fc2.b']
"""

from __future__ import annotations

from collections.abc import Callable

from topos.nn import layers as L
from topos.objects import Fin, R
from topos.para import Init, Para, glorot_uniform
from topos.syntax.ops import gelu  # noqa: F401  (the doctest uses it)
from topos.syntax.values import Value, located

__all__ = ["embedding", "layer_norm", "linear", "mlp"]


def _split(x: Value, what: str) -> tuple[tuple[int, ...], int]:
    if not isinstance(x, Value) or not isinstance(x.ob, R) or not x.ob.shape:
        got = x.ob if isinstance(x, Value) else x
        raise located(f"{what}: expected a value of a real array R(..., d), got {got!r}")
    return x.ob.shape[:-1], x.ob.shape[-1]


def _named(build: Callable[[str], Para], name: str) -> Para:
    """The layer ``build(last)`` for a dotted name ``"a.b.last"``, paths prefixed ``a.b.``."""
    if not isinstance(name, str) or not name or "" in name.split("."):
        raise located(f"a layer name must be a non-empty dotted string, got {name!r}")
    *prefix, last = name.split(".")
    layer = build(last)
    return layer.named(".".join(prefix)) if prefix else layer


def linear(
    x: Value, n: int, *, name: str, bias: bool = True, init: Init = glorot_uniform
) -> Value:
    """``x @ w + b`` on the last axis of ``x``: the ``topos.nn.layers.linear`` layer ``name``."""
    lead, d = _split(x, f"linear {name!r}")
    out: Value = _named(
        lambda last: L.linear(d, n, lead=lead, bias=bias, init=init, name=last), name
    )(x)
    return out


def layer_norm(x: Value, *, name: str, eps: float = 1e-5) -> Value:
    """Layer normalisation over the last axis: the ``topos.nn.layers.layer_norm`` layer."""
    lead, d = _split(x, f"layer_norm {name!r}")
    out: Value = _named(lambda last: L.layer_norm(d, lead=lead, eps=eps, name=last), name)(x)
    return out


def mlp(
    x: Value,
    hidden: int,
    out: int | None = None,
    *,
    name: str,
    activation: str = "gelu",
    init: Init = glorot_uniform,
) -> Value:
    """``fc2(act(fc1(x)))`` on the last axis: the ``topos.nn.layers.mlp`` layer ``name``."""
    lead, d = _split(x, f"mlp {name!r}")
    sizes = [d, hidden, d if out is None else out]
    y: Value = _named(
        lambda last: L.mlp(sizes, lead=lead, activation=activation, init=init, name=last), name
    )(x)
    return y


def embedding(labels: Value, d: int, *, name: str, init: Init = L.STANDARD) -> Value:
    """One learned vector per label of ``labels: Fin(V, ...)``: ``topos.nn.layers.embedding``."""
    if not isinstance(labels, Value) or not isinstance(labels.ob, Fin):
        got = labels.ob if isinstance(labels, Value) else labels
        raise located(f"embedding {name!r}: expected labels Fin(V, ...), got {got!r}")
    ob = labels.ob
    out: Value = _named(
        lambda last: L.embedding(ob.n, d, lead=ob.shape, init=init, name=last), name
    )(labels)
    return out

