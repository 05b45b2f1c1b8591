"""A Para morphism as an Equinox module: parameters as leaves, the diagram static.

``Model(p, key)`` holds ``params: dict[str, Array]`` (the only pytree leaves)
and the Para ``p`` as a static field, so it works with ``eqx.filter_jit``,
``eqx.filter_grad``, ``eqx.partition`` and ``eqx.tree_serialise_leaves``;
``model(x)`` runs one example (``jax.vmap(model)`` a batch).

>>> import jax, jax.numpy as jnp, equinox as eqx
>>> from topos import R, Box
>>> from topos.para import Para, ones
>>> from backends.jax.core.registry import register
>>> register("doc.model.scale", lambda box, v: v[0] * v[1], cls="polynomial")
>>> model = Model(Para(R(2), Box("doc.model.scale", R(2) * R(2), R(2)), {"w": ones}),
...               jax.random.key(0))
>>> model(jnp.array([1.0, 2.0]))
Array([1., 2.], dtype=float32)
>>> params, static = eqx.partition(model, eqx.is_array)
>>> list(params.params)
['w']

``model.optimized()`` is the model with the same parameter arrays running
``optimized(p)`` (``backends.jax.core.optimized``), and ``fit(loss, model, ...,
optimize=True)`` trains through it.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from backends.jax.core.optimized import optimized
from backends.jax.core.params import apply, batched, check_para, init, param_value
from topos.para import Para

__all__ = ["Model"]


class Model(eqx.Module):
    """The Equinox module of a Para ``p``: ``params`` (path -> array) and ``para`` (static).

    ``Model(p, key)`` draws the parameters with ``init(p, key)``;
    ``Model(p, params=...)`` wraps given ones (checked against ``p``).

    >>> import jax.numpy as jnp
    >>> from topos import R, Box
    >>> from topos.para import Para
    >>> p = Para(R(2), Box("doc.model.scale", R(2) * R(2), R(2)), ["w"])
    >>> Model(p, params={"w": jnp.full(2, 3.0)})(jnp.ones(2))
    Array([3., 3.], dtype=float32)
    """

    params: dict[str, jax.Array]
    para: Para = eqx.field(static=True)

    def __init__(
        self, p: Para, key: jax.Array | None = None, *, params: dict[str, Any] | None = None
    ) -> None:
        check_para("Model", p)
        if (key is None) == (params is None):
            raise TypeError("Model(p, key) draws the parameters; Model(p, params=...) wraps them")
        if params is None:
            assert key is not None
            params = init(p, key)
        else:
            param_value(p, params)  # check paths and shapes now, with clear errors
        self.para = p
        self.params = dict(params)

    def __call__(self, *xs: Any) -> Any:
        """Run one example: ``apply(self.para, self.params, *xs)``."""
        return apply(self.para, self.params, *xs)

    def optimized(
        self, cost: bool | str = "flops", *, memory_budget: int | None = None, block: int = 512
    ) -> Model:
        """The same parameter arrays running ``optimized(self.para, cost, ...)``."""
        para = optimized(self.para, cost, memory_budget=memory_budget, block=block)
        return Model(para, params=self.params)

    def batch(self, xs: Any) -> Any:
        """Run a batch along the leading axis of ``xs`` (``jax.vmap``)."""
        return batched(self.para)(self.params, xs)
