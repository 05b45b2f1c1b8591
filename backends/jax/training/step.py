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

from backends.jax.core.values import HostIds, ids_on_host
from backends.jax.training.state import Partition, TrainState

__all__ = [
    "Check",
    "Step",
    "TokenIdError",
    "guarded_step",
    "host_checked",
    "jit_step",
    "train_step",
]

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
    """The loss and its gradient with respect to the trainable leaves (path -> leaf).

    A loss with its own ``value_and_grad(params, batch)`` (an ``Objective``: the
    reverse derivative of its lens) gives the gradient when the parameters are a
    dict; any other loss is differentiated by ``jax.value_and_grad``.
    """
    own = getattr(loss, "value_and_grad", None)
    params = None if own is None else partition.rebuild(train, frozen)
    if own is not None and isinstance(params, dict):
        value, every = own(params, batch)
        if jnp.shape(value) != ():
            raise TypeError(f"fit: loss must return a scalar, got shape {jnp.shape(value)}")
        leaves = partition.treedef.flatten_up_to(every)  # the gradient in the params' layout
        train_grads = [g for g, m in zip(leaves, partition.mask, strict=True) if not m]
        return value, partition.as_dict(train_grads)

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
    ids_on_host: bool = False,
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
        ids_on_host: check the batch's token ids on the host, before each step,
            and compile the step without the run-time id test (``host_checked``).

    Returns:
        The step.
    """
    kw: dict[str, Any] = {}
    if out_shardings is not None:
        kw["out_shardings"] = (*out_shardings, out_shardings[2])
    run: Callable[..., Any] = functools.partial(guarded_step, loss, optimizer, partition)
    if ids_on_host:
        run, check = host_checked(run)
    jitted = jax.jit(run, donate_argnums=(0, 1), **kw)

    def step(state: TrainState, batch: Any) -> tuple[TrainState, jax.Array]:
        if ids_on_host:
            args = (state.train, state.opt, state.frozen, state.finite, batch)
            check(batch, lambda: jitted.trace(*args))
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


#: ``check(batch, trace)``: refuse a batch whose token ids are out of range;
#: ``trace()`` traces the step for a batch of a new signature first.
Check = Callable[[Any, Callable[[], Any]], None]


def host_checked(run: Callable[..., Any]) -> tuple[Callable[..., Any], Check]:
    """``run(*leaves, batch)`` traced with the batch's token-id tests left to the host.

    Returns the function to jit and ``check(batch, trace)``. While the jitted
    function is traced, ``checked_ids`` leaves out the run-time test of every
    ``Fin`` value that is a leaf of the batch (``backends.jax.core.values.HostIds``)
    and records it; ``check`` tests those leaves of a concrete batch before the
    step runs, tracing first (``trace()``, which the call then reuses) when the
    batch's signature is new. Ids the step derives (a slice of a leaf) keep the
    run-time test. A bad id raises ``ValueError`` naming the batch leaf, the index
    and the value.

    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from backends.jax.core.values import checked_ids
    >>> from topos import Fin
    >>> run, check = host_checked(lambda w, b: w * checked_ids(Fin(3, 2), b[0]).sum())
    >>> f = jax.jit(run)
    >>> batch = (np.array([0, 2]), np.ones(2))
    >>> check(batch, lambda: f.trace(2.0, batch))
    >>> float(f(2.0, batch))
    4.0
    >>> check((np.array([0, 3]), np.ones(2)), lambda: None)
    Traceback (most recent call last):
    ...
    backends.jax.training.step.TokenIdError: fit: the batch's leaf 0 (input): token ids of Fin(3, 2)
    must be in 0..2, got 3 at index (1,)
    """
    hosts: dict[Any, HostIds] = {}
    current: list[HostIds] = []

    def traced(*args: Any) -> Any:
        if not current:  # traced by a call, not by check: keep the run-time tests
            return run(*args)
        host = current[-1]
        with ids_on_host(host, jax.tree.leaves(args[-1])):
            out = run(*args)
        host.traced = True
        return out

    def check(batch: Any, trace: Callable[[], Any]) -> None:
        leaves, tree = jax.tree.flatten(batch)
        sig = (tree, tuple((jnp.shape(v), str(getattr(v, "dtype", type(v)))) for v in leaves))
        host = hosts.get(sig)
        if host is None:
            host = HostIds()
            current.append(host)
            try:
                trace()
            finally:
                current.pop()
            if not host.traced:  # jax reused a trace of an equal signature: take them all
                for other in [h for s, h in hosts.items() if s[0] == tree]:
                    host.found.extend(f for f in other.found if f not in host.found)
            hosts[sig] = host
        try:
            host.check(leaves, "fit: the batch's")
        except ValueError as err:
            raise TokenIdError(str(err)) from None

    return traced, check


class TokenIdError(ValueError):
    """A batch holds a token id out of range (found on the host, before the step).

    ``fit`` raises it with the step named and ``result``, the state before that
    step (nothing was updated with the bad batch).
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result
