"""Learners as lenses, and the training step as a composite lens.

In "Categorical foundations of gradient-based learning" (Cruttwell et al. 2022) an
optimiser is a lens on the parameter object, ``(S * P, S * P) -> (P, P')``, with
its state ``S`` as the residual: ``forward(state, params)`` is the point at which
the model is evaluated, ``backward(state, params, gradient)`` the new state and
parameters. The model is the lens ``lens(p)`` of its Para (backward = its reverse
derivative, ``topos.reverse``), the loss a lens into ``R()`` (``cross_entropy``),
and a training step is the composite ``learner >> model >> loss`` run with the
cotangent ``1`` of the loss; a batch copies the parameters to each example, and
the reverse of a copy is the sum of the gradients (``R[copy] = plus``).

``gradient_descent``, ``momentum``, ``nesterov`` and ``adam`` follow optax's
arithmetic (``optax.sgd``, ``optax.sgd(momentum=...)``, ``nesterov=True``,
``optax.adam``), so ``fit_lens`` (and ``fit(Objective(p, loss), ..., learner=...)``)
gives the trajectory of ``optax``: tested to 1e-6 on the digits MLP, and to 1e-5 on
the demo transformer for every parameter whose exact gradient is not zero (its key
bias's is: softmax ignores it, and Adam normalises the rounding noise of its
gradient to steps of a fraction of lr; ``docs/learning.md``).

>>> import jax, jax.numpy as jnp
>>> from topos import R, Fin
>>> from topos.nn import mlp
>>> p = mlp([4, 8, 3])
>>> params = init(p, jax.random.key(0))
>>> x, y = jnp.ones((5, 4)), jnp.array([0, 1, 2, 0, 1])
>>> step = training_step(p, cross_entropy(R(3), Fin(3)), momentum(0.1, 0.9))
>>> state = momentum(0.1, 0.9).init(params)
>>> state, new, loss = step(state, params, (x, y))
>>> bool(loss > 0), sorted(new) == sorted(params)
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from backends.jax.core.batch import summed
from backends.jax.core.compile import CONSTANTS, interpret
from backends.jax.core.layout import split
from backends.jax.core.params import cartesian, check_para, init, param_value
from backends.jax.core.reverse import _leaves
from backends.jax.core.values import checked_ids, is_unstacked
from topos.arrows import Arrow
from topos.normal import deep
from topos.objects import Product
from topos.para import Para
from topos.para.lens import cross_entropy, model_and_loss

__all__ = [
    "Learner",
    "Objective",
    "adam",
    "cross_entropy",
    "fit_lens",
    "gradient",
    "gradient_descent",
    "init",
    "momentum",
    "nesterov",
    "training_step",
]

Tree = Any
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Learner:
    """A lens on the parameters: ``init(params) -> state``, ``forward``, ``backward``.

    ``forward(state, params)`` gives the parameters the model is run at;
    ``backward(state, params, gradient)`` gives ``(state, params)`` after the step.
    """

    name: str
    init: Callable[[Tree], Tree]
    forward: Callable[[Tree, Tree], Tree]
    backward: Callable[[Tree, Tree, Tree], tuple[Tree, Tree]]


def _identity(state: Tree, params: Tree) -> Tree:
    return params


def _apply(params: Tree, updates: Tree) -> Tree:
    return jax.tree.map(lambda p, u: jnp.asarray(p + u).astype(p.dtype), params, updates)


def gradient_descent(lr: float) -> Learner:
    """Plain gradient descent ``p - lr g`` (state ``One``, as ``optax.sgd(lr)``)."""

    def backward(state: Tree, params: Tree, g: Tree) -> tuple[Tree, Tree]:
        return state, _apply(params, jax.tree.map(lambda u: -lr * u, g))

    return Learner("gradient descent", lambda params: (), _identity, backward)


def _trace(lr: float, mu: float, ahead: bool, name: str) -> Learner:
    def backward(state: Tree, params: Tree, g: Tree) -> tuple[Tree, Tree]:
        m = jax.tree.map(lambda u, t: u + mu * t, g, state)
        step = jax.tree.map(lambda u, t: u + mu * t, g, m) if ahead else m
        return m, _apply(params, jax.tree.map(lambda u: -lr * u, step))

    return Learner(name, lambda params: jax.tree.map(jnp.zeros_like, params), _identity, backward)


def momentum(lr: float, mu: float = 0.9) -> Learner:
    """Heavy-ball momentum, the velocity as the state (``optax.sgd(lr, momentum=mu)``)."""
    return _trace(lr, mu, False, "momentum")


def nesterov(lr: float, mu: float = 0.9) -> Learner:
    """Nesterov momentum (``optax.sgd(lr, momentum=mu, nesterov=True)``)."""
    return _trace(lr, mu, True, "nesterov")


def adam(lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Learner:
    """Adam, the state ``(count, first moment, second moment)`` (``optax.adam``)."""

    def start(params: Tree) -> Tree:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return (jnp.zeros([], jnp.int32), zeros, zeros)

    def backward(state: Tree, params: Tree, g: Tree) -> tuple[Tree, Tree]:
        count, m, v = state
        m = jax.tree.map(lambda u, t: (1 - b1) * (u**1) + b1 * t, g, m)
        v = jax.tree.map(lambda u, t: (1 - b2) * (u**2) + b2 * t, g, v)
        count = jnp.where(count < _INT32_MAX, count + 1, count)
        c1, c2 = 1 - b1**count, 1 - b2**count
        m_hat = jax.tree.map(lambda t: t / c1.astype(t.dtype), m)
        v_hat = jax.tree.map(lambda t: t / c2.astype(t.dtype), v)
        step = jax.tree.map(lambda a, b: a / (jnp.sqrt(b + 0.0) + eps), m_hat, v_hat)
        return (count, m, v), _apply(params, jax.tree.map(lambda u: -lr * u, step))

    return Learner("adam", start, _identity, backward)


def gradient(p: Para, loss: Arrow) -> Callable[[Tree, tuple[Any, Any]], tuple[Any, Tree]]:
    """``(params, (xs, ts)) -> (mean loss, gradient)`` through the model-and-loss lens.

    The gradient (a dict path -> array, as ``params``) is the backward of
    ``model_and_loss(p, loss)`` (compiled from ``reverse``) run with the cotangent
    ``1/batch`` of each example's loss: the reverse of copying the parameters to
    each example is the sum, fused into the weight gradients' products
    (``backends.jax.core.batch.summed``: one ``xᵀ g`` over the whole batch). A
    parameter held in the layer layout (``Unstacked``) gets its gradient in that
    layout. The token ids of ``xs`` and ``ts`` are checked as ``batched`` checks
    its input (``checked_ids``; on the host under ``fit``).

    >>> import jax, jax.numpy as jnp
    >>> from topos import R, Fin
    >>> from topos.nn import mlp
    >>> p = mlp([4, 8, 3])
    >>> params = init(p, jax.random.key(0))
    >>> batch = (jnp.ones((5, 4)), jnp.array([0, 1, 2, 0, 1]))
    >>> value, g = gradient(p, cross_entropy(R(3), Fin(3)))(params, batch)
    >>> ref = jax.grad(Objective(p, cross_entropy(R(3), Fin(3))))(params, batch)
    >>> all(bool(jnp.allclose(g[k], ref[k], atol=1e-6)) for k in params)
    True
    """
    check_para("gradient", p)
    q = cartesian(p)
    both = model_and_loss(q, loss)
    fwd = deep(lambda: interpret(both.forward).fn, both.forward)
    # the parameters are shared by the batch: their cotangent comes back summed (R[Δ_B] = Σ)
    bwd = summed(both.backward, ((True, (False, False)), True), (True, False))
    paths = list(q.parameters())
    target = _target(loss)

    def value_and_grad(params: Tree, batch: tuple[Any, Any]) -> tuple[Any, Tree]:
        xs, ts = _checked_batch(q, target, batch)
        token = CONSTANTS.set(params)
        try:
            pv = param_value(q, params)
            n = jax.tree.leaves(xs)[0].shape[0]
            weight = jnp.asarray(1.0 / n, jnp.result_type(*jax.tree.leaves(pv)))
            losses = jax.vmap(lambda x, t: fwd((pv, (x, t))))(xs, ts)
            total, _ = bwd(((pv, (xs, ts)), weight))
        finally:
            CONSTANTS.reset(token)
        grads = dict(zip(paths, _leaves(q.P, total), strict=True))
        for path, value in params.items():  # the layer layout: each layer's slice
            if is_unstacked(value) and not is_unstacked(grads[path]):
                grads[path] = split(grads[path])
        return losses.mean(), grads

    return value_and_grad


def _target(loss: Arrow) -> Any:
    """The target object ``T`` of a loss arrow ``Y * T -> R()``."""
    dom = loss.dom
    if not isinstance(dom, Product):
        raise TypeError(f"a loss must be an arrow Y * T -> R(), got one from {dom!r}")
    return dom.right


def _checked_batch(q: Para, target: Any, batch: Any) -> tuple[Any, Any]:
    """``(xs, ts)`` with their token ids checked (``checked_ids``), or a clear error."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(
            f"an Objective takes a batch (xs, ts) of inputs and targets, got {type(batch).__name__}"
        )
    xs, ts = batch
    return (
        checked_ids(q.dom, xs, "input (the batch)"),
        checked_ids(target, ts, "target (the batch)"),
    )


def training_step(p: Para, loss: Arrow, learner: Learner) -> Callable[..., Any]:
    """The jitted step ``(state, params, (xs, ts)) -> (state, params, mean loss)``.

    The composite ``learner >> model >> loss``: the learner's forward gives the
    point, the model-and-loss lens's backward (compiled from ``reverse``) the
    gradient: the per-example ones summed over the batch with weight ``1/batch``
    (the reverse of copying the parameters to each example), the sum fused into
    the weight gradients' products (``backends.jax.core.batch.summed``), and the
    learner's backward the new state and parameters (``gradient``).
    """
    value_and_grad = gradient(p, loss)

    def step(state: Tree, params: Tree, batch: tuple[Any, Any]) -> tuple[Tree, Tree, Any]:
        at = learner.forward(state, params)
        value, grads = value_and_grad(at, batch)
        state, params = learner.backward(state, params, grads)
        return state, params, value

    return jax.jit(step)


@dataclass(frozen=True)
class Objective:
    """A model and its loss as one value: ``fit(Objective(p, loss), ..., learner=...)``.

    ``p`` is a Para ``P * X -> Y`` and ``loss`` an arrow ``Y * T -> R()`` (a loss
    lens, e.g. ``cross_entropy``). Called as ``objective(params, (xs, ts))`` it is
    the mean loss over the batch, a JAX function of the parameter dict, so the same
    value trains with ``fit(..., optimizer=optax...)`` or with ``fit(...,
    learner=...)`` (through the composite lens, ``training_step``). Either way its
    gradient is the reverse derivative of the model-and-loss lens
    (``value_and_grad``, ``gradient``), not ``jax.grad`` of the call; both check
    the batch's token ids.

    >>> import jax, jax.numpy as jnp
    >>> from topos import R, Fin
    >>> from topos.nn import mlp
    >>> p = mlp([4, 8, 3])
    >>> objective = Objective(p, cross_entropy(R(3), Fin(3)))
    >>> params = init(p, jax.random.key(0))
    >>> float(objective(params, (jnp.zeros((2, 4)), jnp.array([0, 2])))) > 0
    True
    """

    p: Para
    loss: Arrow

    def __post_init__(self) -> None:
        check_para("Objective", self.p)
        if not isinstance(self.loss, Arrow):
            raise TypeError(
                f"Objective: loss must be an arrow Y * T -> R() (e.g. cross_entropy), got"
                f" {type(self.loss).__name__}"
            )
        model_and_loss(cartesian(self.p), self.loss)  # the types meet, or a clear error

    def __call__(self, params: Tree, batch: tuple[Any, Any]) -> Any:
        q = cartesian(self.p)
        both = model_and_loss(q, self.loss)
        fwd = deep(lambda: interpret(both.forward).fn, both.forward)
        xs, ts = _checked_batch(q, _target(self.loss), batch)
        token = CONSTANTS.set(params)
        try:
            pv = param_value(q, params)
            return jax.vmap(lambda x, t: fwd((pv, (x, t))))(xs, ts).mean()
        finally:
            CONSTANTS.reset(token)

    def value_and_grad(self, params: Tree, batch: tuple[Any, Any]) -> tuple[Any, Tree]:
        """The mean loss and its gradient by the reverse derivative (``gradient``).

        ``fit(objective, ..., optimizer=...)`` takes its gradient from here rather
        than from ``jax.grad`` (equal to it; ``docs/learning.md`` has the speed).
        """
        return gradient(self.p, self.loss)(params, batch)

    def step(self, learner: Learner) -> Callable[..., Any]:
        """The jitted composite step, ``training_step(p, loss, learner)``."""
        return training_step(self.p, self.loss, learner)


def fit_lens(
    p: Para,
    loss: Arrow,
    learner: Learner,
    params: Tree,
    batches: Callable[[int], Any] | Iterable[Any],
    steps: int,
) -> tuple[Tree, list[float]]:
    """Train ``p`` through the composite lens for ``steps`` steps: ``(params, losses)``.

    ``batches(step)`` (or an iterable) gives ``(xs, ts)``, a batch of inputs and targets.
    """
    step = training_step(p, loss, learner)
    state = learner.init(params)
    it = None if callable(batches) else iter(batches)
    history = []
    for k in range(steps):
        batch = batches(k) if it is None else next(it)  # type: ignore[operator]
        state, params, value = step(state, params, batch)
        history.append(value)
    return params, [float(v) for v in history]
