"""Gradients through ``topos.reverse``: the backward pass compiled from its diagram.

``gradient(p, params, x, cotangent)`` runs ``reverse(p.arrow)`` (the reverse
derivative of the Para's arrow, an ordinary diagram) with the JAX functor and
returns the cotangents of the parameters, keyed by path, and of the input. It
equals ``jax.vjp`` of ``apply`` (tests/backends/jax/test_reverse_vjp.py checks
the zoo, the presets and generated diagrams).

>>> import jax, jax.numpy as jnp
>>> from topos.nn import mlp
>>> p = mlp([3, 4, 2])
>>> params = init(p, jax.random.key(0))
>>> x = jnp.ones(3)
>>> grads, dx = gradient(p, params, x, jnp.ones(2))
>>> ref = jax.grad(lambda q: apply(p, q, x).sum())(params)
>>> all(bool(jnp.allclose(grads[k], ref[k], atol=1e-6)) for k in ref)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.jax.core.batch import summed
from backends.jax.core.compile import CONSTANTS, interpret
from backends.jax.core.params import apply, cartesian, check_para, init, param_value
from topos.normal import deep
from topos.para import Para
from topos.reverse import reverse

__all__ = ["apply", "backward", "batched_backward", "gradient", "init"]


def backward(p: Para) -> Any:
    """The per-example function ``((P, A), B') -> (P', A')`` of ``reverse(p.arrow)``."""
    check_para("backward", p)
    arrow = reverse(cartesian(p).arrow)
    return deep(lambda: interpret(arrow).fn, arrow)


def batched_backward(p: Para) -> Any:
    """The batched function ``((P, A^B), B'^B) -> (P', A'^B)`` of ``reverse(p.arrow)``.

    A batch shares its parameters: it is ``(Δ_B * id) ; p^B``, and the reverse of
    the copy ``Δ_B`` is the sum, so the parameters' cotangent is the sum over the
    batch of the per-example ones. ``backends.jax.core.batch.summed`` moves that
    sum into the primitive where the parameter wire meets the batched one (a weight
    gradient is one matrix product over the batch, as ``jax.vjp`` of the batched
    model computes it). The inputs' cotangents stay per example.

    >>> import jax, jax.numpy as jnp
    >>> from topos.nn import mlp
    >>> p = mlp([3, 4, 2])
    >>> params = init(p, jax.random.key(0))
    >>> xs, cts = jnp.ones((5, 3)), jnp.ones((5, 2))
    >>> dp, dxs = batched_backward(p)(((param_value(p, params), xs), cts))
    >>> per, _ = jax.vmap(lambda x, c: backward(p)(((param_value(p, params), x), c)))(xs, cts)
    >>> all(bool(jnp.allclose(a, b.sum(0), atol=1e-5))
    ...     for a, b in zip(jax.tree.leaves(dp), jax.tree.leaves(per)))
    True
    >>> dxs.shape
    (5, 3)
    """
    check_para("batched_backward", p)
    arrow = reverse(cartesian(p).arrow)
    return summed(arrow, ((True, False), False), (True, False))


def gradient(
    p: Para, params: Mapping[str, Any], x: Any, cotangent: Any
) -> tuple[dict[str, Any], Any]:
    """The cotangents ``(params', x')`` of ``p`` at ``(params, x)`` for the output cotangent."""
    q = cartesian(p)
    pv = param_value(q, params)
    run = backward(q)
    token = CONSTANTS.set(params)
    try:
        dp, dx = run(((pv, x), cotangent))
    finally:
        CONSTANTS.reset(token)
    return dict(zip(q.parameters(), _leaves(q.P, dp), strict=True)), dx


def _leaves(ob: Any, value: Any) -> list[Any]:
    from topos.objects import Product, Unit  # noqa: PLC0415

    out: list[Any] = []
    stack = [(ob, value)]
    while stack:
        o, v = stack.pop()
        if isinstance(o, Product):
            stack += [(o.right, v[1]), (o.left, v[0])]
        elif not isinstance(o, Unit):
            out.append(v)
    return out
