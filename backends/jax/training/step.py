"""One training step as a pure function: rebuild the parameters, take the gradient, update.

``train_step`` is a module-level pure function of the state's flat lists
(Penzai's ``toolshed/basic_training.py`` keeps its step the same way): it
rebuilds the parameters from the trainable and frozen leaves, takes the
gradient of the loss with respect to the trainable ones only (frozen leaves
get none), applies the optax update, and returns the new leaves and the loss.
``jit_step`` jits it once per run with the trainable leaves and the optimiser
state donated (updated in place: no second copy of the model in memory) and
wraps it as ``step(state, batch) -> (next state, loss)``, which ``fit`` loops over.

>>> import jax.numpy as jnp, optax
>>> from backends.jax.training.state import TrainState
>>> opt = optax.sgd(0.25)
>>> state = TrainState.build({"w": jnp.array(3.0)}, opt)
>>> step = jit_step(lambda p, b: (p["w"] - b) ** 2, opt, state.partition)
>>> for _ in range(20):
...     state, loss = step(state, 1.0)
>>> state.step, round(float(state.params()["w"]), 4)
(20, 1.0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from backends.jax.training.state import Partition, TrainState

__all__ = ["Step", "jit_step", "train_step"]

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

    def objective(t: dict[str, Any]) -> Any:
        value = loss(partition.rebuild([t[p] for p in partition.train_paths], frozen), batch)
        if jnp.shape(value) != ():
            raise TypeError(f"fit: loss must return a scalar, got shape {jnp.shape(value)}")
        return value

    t = partition.as_dict(train)
    value, grads = jax.value_and_grad(objective)(t)
    updates, new_opt = optimizer.update(grads, partition.opt_tree(opt), t)
    t = optax.apply_updates(t, updates)
    return [t[p] for p in partition.train_paths], jax.tree.leaves(new_opt), value


def jit_step(
    loss: Callable[[Any, Any], Any],
    optimizer: optax.GradientTransformation,
    partition: Partition,
    *,
    out_shardings: Any = None,
) -> Step:
    """``train_step`` jitted for one run, as ``step(state, batch) -> (next state, loss)``.

    The state's trainable leaves and optimiser state are donated: after a step
    the previous state's arrays are gone (``state.donated()``).
    See the module docstring for an example.

    Args:
        loss: ``loss(params, batch)``, a scalar.
        optimizer: the optax optimiser.
        partition: how the parameters split into leaves (``TrainState.partition``).
        out_shardings: the shardings of ``(train, opt, loss)`` on a mesh
            (``TrainState.placed``), or ``None``.

    Returns:
        The step.
    """
    kw = {} if out_shardings is None else {"out_shardings": out_shardings}
    jitted = jax.jit(
        functools.partial(train_step, loss, optimizer, partition), donate_argnums=(0, 1), **kw
    )

    def step(state: TrainState, batch: Any) -> tuple[TrainState, jax.Array]:
        train, opt, value = jitted(state.train, state.opt, state.frozen, batch)
        return state.advance(train, opt), value

    return step
