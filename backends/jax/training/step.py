"""One training step as a pure function: rebuild the parameters, take the gradient, update.

``train_step`` is a module-level pure function of the state's flat lists
(Penzai's ``toolshed/basic_training.py`` keeps its step the same way): it
rebuilds the parameters from the trainable and frozen leaves, takes the
gradient of the loss with respect to the trainable ones only (frozen leaves
get none), applies the optax update, and returns the new leaves and the loss.
``jit_step`` jits it once per run with the trainable leaves and the optimiser
state donated (updated in place: no second copy of the model in memory) and
wraps it as ``step(state, batch) -> (next state, loss)``, which ``fit`` loops over.
Its steps are guarded (``guarded_step``): from the first loss that is not
finite on, they keep the leaves as they were (``state.finite`` turns
``False``), so when the loop sees that loss, a window of steps later, the state
is still the last finite one.

>>> import jax.numpy as jnp, optax
>>> from backends.jax.training.state import TrainState
>>> opt = optax.sgd(0.25)
>>> state = TrainState.build({"w": jnp.array(3.0)}, opt)
>>> step = jit_step(lambda p, b: (p["w"] - b) ** 2, opt, state.partition)
>>> for _ in range(20):
...     state, loss = step(state, 1.0)
>>> state.step, round(float(state.params()["w"]), 4)
(20, 1.0)
>>> state, loss = step(state, jnp.nan)  # a loss that is not finite: nothing moves
>>> w = float(state.params()["w"])
>>> bool(state.finite), float(step(state, 1.0)[0].params()["w"]) == w
(False, True)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from backends.jax.training.state import Partition, TrainState

__all__ = ["Step", "guarded_step", "jit_step", "train_step"]

#: ``step(state, batch) -> (next state, loss)``; the loss stays on the device.
Step = Callable[[TrainState, Any], tuple[TrainState, jax.Array]]


def train_step(
    loss: Callable[[Any, Any], Any],
    optimizer: optax.GradientTransformation,
    partition: Partition,
    train: list[Any],
    opt: list[Any],
    frozen: list[Any],
    batch: Any,
) -> tuple[list[Any], list[Any], jax.Array]:
    """One optimiser step on ``loss(params, batch)``, over flat lists of leaves.

    Pure and jit-able: fix the first three arguments (``functools.partial``) and
    jit the rest, donating ``train`` and ``opt`` (what ``jit_step`` does).

    >>> import functools, jax, jax.numpy as jnp, optax
    >>> from backends.jax.training.state import TrainState
    >>> opt = optax.sgd(0.25)
    >>> state = TrainState.build({"w": jnp.array(3.0), "b": jnp.array(1.0)}, opt,
    ...                          frozen=["b"])
    >>> def loss(p, batch):
    ...     return (p["w"] - p["b"] - batch) ** 2
    >>> step = jax.jit(functools.partial(train_step, loss, opt, state.partition),
    ...                donate_argnums=(0, 1))
    >>> train, opt_leaves, value = step(state.train, state.opt, state.frozen, 0.0)
    >>> float(value), float(train[0])
    (4.0, 2.0)

    Args:
        loss: ``loss(params, batch)``, a scalar.
        optimizer: the optax optimiser.
        partition: how the parameters split into leaves (``TrainState.partition``).
        train: the trainable leaves.
        opt: the leaves of the optimiser state.
        frozen: the frozen leaves.
        batch: the batch of this step.

    Returns:
        The new trainable leaves, the new optimiser leaves, and the loss before the update.

    Raises:
        TypeError: ``loss`` does not return a scalar.
    """

    value, grads = _value_and_grad(loss, partition, train, frozen, batch)
    new_train, new_opt = _update(optimizer, partition, grads, train, opt)
    return new_train, new_opt, value


def _value_and_grad(
    loss: Callable[[Any, Any], Any],
    partition: Partition,
    train: list[Any],
    frozen: list[Any],
    batch: Any,
) -> tuple[jax.Array, dict[str, Any]]:
    """The loss and its gradient with respect to the trainable leaves (path -> leaf)."""

    def objective(t: dict[str, Any]) -> Any:
        value = loss(partition.rebuild([t[p] for p in partition.train_paths], frozen), batch)
        if jnp.shape(value) != ():
            raise TypeError(f"fit: loss must return a scalar, got shape {jnp.shape(value)}")
        return value

    value, grads = jax.value_and_grad(objective)(partition.as_dict(train))
    return value, grads


def _update(
    optimizer: optax.GradientTransformation,
    partition: Partition,
    grads: dict[str, Any],
    train: list[Any],
    opt: list[Any],
) -> tuple[list[Any], list[Any]]:
    """The optimiser's step: new trainable and optimiser leaves."""
    t = partition.as_dict(train)
    updates, new_opt = optimizer.update(grads, partition.opt_tree(opt), t)
    t = optax.apply_updates(t, updates)
    return [t[p] for p in partition.train_paths], jax.tree.leaves(new_opt)


def _keep(train: list[Any], opt: list[Any]) -> tuple[list[Any], list[Any]]:
    return list(train), list(opt)


def jit_step(
    loss: Callable[[Any, Any], Any],
    optimizer: optax.GradientTransformation,
    partition: Partition,
    *,
    out_shardings: Any = None,
) -> Step:
    """``train_step`` jitted for one run, as ``step(state, batch) -> (next state, loss)``.

    The state's trainable leaves and optimiser state are donated: after a step
    the previous state's arrays are gone (``state.donated()``). The step is
    ``guarded_step``: once a loss is not finite, the leaves stop moving.
    See the module docstring for an example.

    Args:
        loss: ``loss(params, batch)``, a scalar.
        optimizer: the optax optimiser.
        partition: how the parameters split into leaves (``TrainState.partition``).
        out_shardings: the shardings of ``(train, opt, loss)`` on a mesh
            (``TrainState.placed``), or ``None``; ``finite`` is placed as the loss.

    Returns:
        The step.
    """
    kw: dict[str, Any] = {}
    if out_shardings is not None:
        kw["out_shardings"] = (*out_shardings, out_shardings[2])
    jitted = jax.jit(
        functools.partial(guarded_step, loss, optimizer, partition), donate_argnums=(0, 1), **kw
    )

    def step(state: TrainState, batch: Any) -> tuple[TrainState, jax.Array]:
        train, opt, value, finite = jitted(
            state.train, state.opt, state.frozen, state.finite, batch
        )
        return state.advance(train, opt, finite), value

    return step


def guarded_step(
    loss: Callable[[Any, Any], Any],
    optimizer: optax.GradientTransformation,
    partition: Partition,
    train: list[Any],
    opt: list[Any],
    frozen: list[Any],
    finite: jax.Array,
    batch: Any,
) -> tuple[list[Any], list[Any], jax.Array, jax.Array]:
    """``train_step``, kept from moving once a loss is not finite.

    ``finite`` says every loss so far was; the step returns it updated, and
    when it is ``False`` the leaves come back as they went in. The optimiser's
    update runs under ``jax.lax.cond``: a select of the new leaves against the
    old ones would cost memory (XLA then copies the donated optimiser state,
    about half the parameters' size more for adam, measured on CPU); the
    conditional costs none. XLA runs it on the device where it can (CUDA
    graph conditional nodes); elsewhere the predicate is read by the host
    once per step.

    >>> import jax.numpy as jnp, optax
    >>> from backends.jax.training.state import TrainState
    >>> state = TrainState.build({"w": jnp.array(3.0)}, optax.sgd(0.25))
    >>> def loss(p, b):
    ...     return (p["w"] - b) ** 2
    >>> args = (loss, optax.sgd(0.25), state.partition, state.train, state.opt, state.frozen)
    >>> [float(x) for x in guarded_step(*args, jnp.asarray(True), 1.0)[0]]
    [2.0]
    >>> train, _, value, finite = guarded_step(*args, jnp.asarray(True), jnp.inf)
    >>> [float(x) for x in train], float(value), bool(finite)
    ([3.0], inf, False)

    Args:
        loss: ``loss(params, batch)``, a scalar.
        optimizer: the optax optimiser.
        partition: how the parameters split into leaves (``TrainState.partition``).
        train: the trainable leaves.
        opt: the leaves of the optimiser state.
        frozen: the frozen leaves.
        finite: a boolean scalar, ``True`` while every earlier loss was finite.
        batch: the batch of this step.

    Returns:
        The new (or kept) trainable and optimiser leaves, the loss, and ``finite``
        updated with it.
    """
    value, grads = _value_and_grad(loss, partition, train, frozen, batch)
    finite = jnp.logical_and(finite, jnp.isfinite(value))
    update = functools.partial(_update, optimizer, partition, grads)
    new_train, new_opt = jax.lax.cond(finite, update, _keep, train, opt)
    return new_train, new_opt, value, finite
