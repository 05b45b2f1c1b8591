"""A Para morphism as a Flax NNX module: parameters as ``nnx.Param``, trainable in place.

``to_nnx(p, rngs)`` draws the parameters (``init`` with a key from
``rngs.params()``) and wraps each in an ``nnx.Param`` inside an ``nnx.Dict``
keyed by path. The module calls ``apply`` on their current values, so it trains
with ``nnx.Optimizer(module, tx, wrt=nnx.Param)`` like any NNX module.

>>> import jax.numpy as jnp
>>> from flax import nnx
>>> from topos import R, Box
>>> from topos.para import Para, ones
>>> from backends.jax.core.registry import register
>>> register("doc.nnx.scale", lambda box, v: v[0] * v[1], cls="polynomial")
>>> m = to_nnx(Para(R(2), Box("doc.nnx.scale", R(2) * R(2), R(2)), {"w": ones}), nnx.Rngs(0))
>>> m(jnp.array([1.0, 2.0]))
Array([1., 2.], dtype=float32)
>>> type(m.params["w"]).__name__, m.values()["w"].shape
('Param', (2,))
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from backends.jax.core.params import apply, batched, check_para, init, param_value
from topos.para import Para

__all__ = ["ParaModule", "to_nnx"]


class ParaModule(nnx.Module):
    """An NNX module running the Para ``para`` with the ``nnx.Param``s in ``params``.

    >>> import jax.numpy as jnp
    >>> from topos import R, Box
    >>> from topos.para import Para
    >>> p = Para(R(2), Box("doc.nnx.scale", R(2) * R(2), R(2)), ["w"])
    >>> ParaModule(p, {"w": jnp.full(2, 3.0)})(jnp.ones(2))
    Array([3., 3.], dtype=float32)
    """

    def __init__(self, p: Para, params: dict[str, Any]) -> None:
        check_para("to_nnx", p)
        param_value(p, params)
        self.para = p
        self.params = nnx.Dict({path: nnx.Param(value) for path, value in params.items()})

    def values(self) -> dict[str, jax.Array]:
        """The current parameter arrays, path -> array (what ``apply`` takes)."""
        return {path: param[...] for path, param in self.params.items()}

    def __call__(self, *xs: Any) -> Any:
        """Run one example."""
        return apply(self.para, self.values(), *xs)

    def batch(self, xs: Any) -> Any:
        """Run a batch along the leading axis of ``xs`` (``jax.vmap``)."""
        return batched(self.para)(self.values(), xs)


def to_nnx(p: Para, rngs: nnx.Rngs | jax.Array) -> ParaModule:
    """The Flax NNX module of the Para ``p``, parameters drawn from ``rngs.params()``.

    ``rngs`` may also be a JAX key; the values equal ``init(p, key)`` for that key.

    >>> import jax
    >>> from topos import R, Box
    >>> from topos.para import Para
    >>> p = Para(R(2), Box("doc.nnx.scale", R(2) * R(2), R(2)), ["w"])
    >>> list(to_nnx(p, jax.random.key(0)).values())
    ['w']
    """
    key = rngs.params() if isinstance(rngs, nnx.Rngs) else rngs
    return ParaModule(p, init(p, key))
