"""A Para morphism as an Equinox module: parameters as leaves, the diagram static.

``Model(p, key)`` holds ``params: dict[str, Array]`` (the only pytree leaves)
and the Para ``p`` as a static field, so it works with ``eqx.filter_jit``,
``eqx.filter_grad``, ``eqx.partition`` and ``eqx.tree_serialise_leaves``;
``model(x)`` runs one example (``jax.vmap(model)`` a batch).

>>> import jax, jax.numpy as jnp, equinox as eqx
>>> from topos import R, Box
>>> from topos.para import Para, ones
>>> from backends.jax.registry import register
>>> register("doc.model.scale", lambda box, v: v[0] * v[1], cls="polynomial")
>>> model = Model(Para(R(2), Box("doc.model.scale", R(2) * R(2), R(2)), {"w": ones}),
...               jax.random.key(0))
>>> model(jnp.array([1.0, 2.0]))
Array([1., 2.], dtype=float32)
>>> params, static = eqx.partition(model, eqx.is_array)
>>> list(params.params)
['w']

``optimized(p)`` is the Para ``p`` with its arrow optimised by declared laws
(``topos.rewrite.optimize``: same parameters, same function up to floating-point
reassociation); ``model.optimized()`` is the model with the same parameter arrays
running it, and ``fit(loss, model, ..., optimize=True)`` trains through it.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from backends.jax.params import _check_para, apply, batched, init, param_value

__all__ = ["Model", "optimized"]


def optimized(p: Any, cost: bool | str = "flops") -> Any:
    """The Para ``p`` with its arrow replaced by the cheapest equal one (same parameters).

    ``cost`` is ``"flops"`` (also ``True``) or ``"bytes"``, as in ``compile(f,
    optimize=...)``; a region is rewritten only where it gets at least
    ``topos.rewrite.RUN_MIN_GAIN`` (2) times cheaper. The parameters are inputs
    of the arrow, so they are untouched:
    ``p.parameters()`` is the same and ``init``, ``apply`` and checkpoints work as
    for ``p``. When nothing gets cheaper, ``p`` itself comes back. Needs the
    ``optimize`` extra (egglog).

    >>> import jax, jax.numpy as jnp
    >>> from topos.rewrite.examples import linear_attention_para
    >>> p = linear_attention_para(256, 8)             # ((X Wq)(X Wk)ᵀ)(X Wv)
    >>> q = optimized(p)                              # (X Wq)((X Wk)ᵀ(X Wv))
    >>> q.parameters() == p.parameters(), q.arrow == p.arrow
    (True, False)
    >>> model = Model(p, jax.random.key(0))
    >>> x = jax.random.normal(jax.random.key(1), (256, 8))
    >>> bool(jnp.allclose(model(x), model.optimized()(x), rtol=1e-4, atol=1e-4))
    True
    """
    _check_para("optimized", p)
    if cost is True:
        cost = "flops"
    if not isinstance(cost, str):
        raise TypeError(f"optimized: cost must be 'flops' or 'bytes' (or True), got {cost!r}")
    from topos.para import Para  # noqa: PLC0415 - the core, imported where it is needed
    from topos.rewrite import RUN_MIN_GAIN, optimize  # noqa: PLC0415 - the extra (egglog)

    arrow = optimize(p.arrow, cost=cost, min_gain=RUN_MIN_GAIN).arrow
    if arrow is p.arrow:
        return p
    return Para(p.P, arrow, p.params, p.actegory)


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
    para: Any = eqx.field(static=True)

    def __init__(
        self, p: Any, key: jax.Array | None = None, *, params: dict[str, Any] | None = None
    ) -> None:
        _check_para("Model", p)
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

    def optimized(self, cost: bool | str = "flops") -> Model:
        """The same parameter arrays running ``optimized(self.para, cost)``."""
        return Model(optimized(self.para, cost), params=self.params)

    def batch(self, xs: Any) -> Any:
        """Run a batch along the leading axis of ``xs`` (``jax.vmap``)."""
        return batched(self.para)(self.params, xs)
