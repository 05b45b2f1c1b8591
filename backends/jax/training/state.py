"""The state of a training run, flat: trainable leaves, optimiser state, frozen leaves, step.

``fit`` flattens the parameters once. A ``Partition`` (static, built once) says
which leaves train and which are frozen (kept out of the optimiser: no
gradient is even computed), and which trainable ones are held one array per
layer (the layer layout, ``backends.jax.core.layout``). A ``TrainState`` holds
the arrays of one moment of the run in flat lists, so that a step is one call
of a jitted function of lists (``backends.jax.training.step``) and no Python
walks the parameter tree per step.

Whatever layout a run trains in, what leaves it is stacked: ``params()``,
``opt_state()`` and ``snapshot()`` (what a checkpoint holds) restack, and
``restore`` reads a stacked checkpoint back into the run's layout.

>>> import jax.numpy as jnp, optax
>>> state = TrainState.build({"w": jnp.ones(2), "b": jnp.zeros(2)}, optax.adam(0.1),
...                          frozen=["b"])
>>> state
TrainState(step=0, train=['w'], frozen=['b'], opt=3 arrays)
>>> sorted(state.params()), state.opt_state()[0].mu["w"].tolist()
(['b', 'w'], [0.0, 0.0])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from backends.jax.core import layout, sharding
from backends.jax.core.sharding import Rules

__all__ = ["FitResult", "Partition", "TrainState", "leaf_paths"]


def _key_name(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def leaf_paths(params: Any) -> list[str]:
    """The path of every leaf of ``params``, in ``jax.tree`` order.

    For a dict ``path -> array`` (what ``init`` returns) these are its keys; for a
    ``Model`` they are the keys of its ``params`` dict.

    >>> import jax.numpy as jnp
    >>> leaf_paths({"l1.w": jnp.ones(2), "l1.b": jnp.ones(2)})
    ['l1.b', 'l1.w']

    Args:
        params: a pytree of arrays.

    Returns:
        One dotted path per leaf.

    Raises:
        ValueError: two leaves have the same path.
    """
    keyed, _ = jax.tree_util.tree_flatten_with_path(params)
    paths = [".".join(_key_name(k) for k in keypath) for keypath, _ in keyed]
    if paths and all(p.startswith("params.") for p in paths):  # a Model: its dict's keys
        paths = [p[len("params.") :] for p in paths]
    if len(set(paths)) != len(paths):
        raise ValueError(f"fit: parameter paths are not unique: {paths}")
    return paths


def _frozen_mask(paths: Sequence[str], frozen: Iterable[str]) -> list[bool]:
    if isinstance(frozen, str):
        frozen = [frozen]
    mask = [False] * len(paths)
    for f in frozen:
        hits = [i for i, p in enumerate(paths) if p == f or p.startswith(f + ".")]
        if not hits:
            raise ValueError(f"fit: frozen path {f!r} matches no parameter; paths are {paths}")
        for i in hits:
            mask[i] = True
    return mask


@dataclasses.dataclass(frozen=True)
class Partition:
    """How a run's parameters split into leaves; static, closed over by the jitted step.

    >>> import jax.numpy as jnp, optax
    >>> part = TrainState.build({"w": jnp.ones(2), "b": jnp.zeros(2)}, optax.sgd(0.1),
    ...                         frozen=["b"]).partition
    >>> part.train_paths, part.rebuild([jnp.ones(2)], [jnp.zeros(2)])["w"].tolist()
    (('w',), [1.0, 1.0])

    Args:
        treedef: the structure of the parameters.
        paths: the path of every leaf (``leaf_paths``), in ``jax.tree`` order.
        mask: per leaf, ``True`` when it is frozen.
        train_paths: the paths of the trainable leaves, in order.
        unstacked: per trainable leaf, ``True`` when held in the layer layout.
        opt_def: the structure of the optimiser state in the run's layout.
        stacked_opt_def: the structure of the optimiser state in the stacked layout.
    """

    treedef: Any
    paths: tuple[str, ...]
    mask: tuple[bool, ...]
    train_paths: tuple[str, ...]
    unstacked: tuple[bool, ...]
    opt_def: Any
    stacked_opt_def: Any

    def rebuild(self, train: Sequence[Any], frozen: Sequence[Any]) -> Any:
        """The parameters from their trainable and frozen leaves (in the given layout)."""
        it_t, it_f = iter(train), iter(frozen)
        return jax.tree.unflatten(
            self.treedef, [next(it_f) if m else next(it_t) for m in self.mask]
        )

    def as_dict(self, train: Sequence[Any]) -> dict[str, Any]:
        """The trainable leaves as the optimiser sees them: path -> leaf."""
        return dict(zip(self.train_paths, train, strict=True))

    def opt_tree(self, opt: Sequence[Any]) -> Any:
        """The optimiser state (the run's layout) from its leaves."""
        return jax.tree.unflatten(self.opt_def, opt)

    def stack(self, train: Sequence[Any], opt: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """Trainable and optimiser leaves of the run's layout in the stacked one."""
        if not any(self.unstacked):
            return list(train), list(opt)
        return self.stack_train(train), jax.tree.leaves(layout.restack(self.opt_tree(opt)))

    def stack_train(self, train: Sequence[Any]) -> list[Any]:
        """Trainable leaves of the run's layout in the stacked one."""
        return [layout.restack(x) for x in train] if any(self.unstacked) else list(train)


@dataclasses.dataclass(frozen=True)
class TrainState:
    """One moment of a training run: the arrays as flat lists, the step, the history.

    ``TrainState.build(params, optimizer)`` starts a run; the step
    (``backends.jax.training.step``) makes the next state; ``params()`` and
    ``opt_state()`` give the trees back, stacked; ``snapshot()`` is what a
    checkpoint holds and ``restore`` continues from one.

    >>> import jax.numpy as jnp, optax
    >>> state = TrainState.build({"w": jnp.array(3.0)}, optax.sgd(0.5))
    >>> state.advance([jnp.array(2.0)], state.opt).params()["w"].tolist()
    2.0

    Args:
        partition: how the parameters split into leaves.
        train: the trainable leaves (in the run's layout), in ``partition.train_paths`` order.
        opt: the leaves of the optimiser state (over ``partition.as_dict(train)``).
        frozen: the frozen leaves.
        step: the number of steps done.
        history: ``{"loss": [loss at step 0, 1, ...], "eval": [{"step", "value"}]}``;
            the loop appends to it, and each next state shares it.
        finite: a boolean on the device, ``True`` while every loss was finite;
            once one is not, the step keeps the leaves as they were (``guarded_step``),
            so the state holds the last finite one until the loop sees the loss.
    """

    partition: Partition
    train: list[Any]
    opt: list[Any]
    frozen: list[Any]
    step: int = 0
    history: dict[str, list[Any]] = dataclasses.field(
        default_factory=lambda: {"loss": [], "eval": []}
    )
    finite: Any = dataclasses.field(default_factory=lambda: jnp.asarray(True))

    def __repr__(self) -> str:
        part = self.partition
        frozen = [p for p, m in zip(part.paths, part.mask, strict=True) if m]
        return (
            f"TrainState(step={self.step}, train={list(part.train_paths)}, frozen={frozen},"
            f" opt={len(self.opt)} arrays)"
        )

    @classmethod
    def build(
        cls,
        params: Any,
        optimizer: optax.GradientTransformation,
        *,
        frozen: Iterable[str] = (),
        unstack: Collection[str] = (),
    ) -> TrainState:
        """The state at step 0: fresh copies of the trainable leaves, ``optimizer.init``.

        The copies are the step's to donate: the caller keeps ``params``.

        >>> import jax.numpy as jnp, optax
        >>> TrainState.build({"w": jnp.ones(2), "n": 3}, optax.sgd(0.1))
        Traceback (most recent call last):
        ...
        TypeError: fit: params['n'] is not an array: int

        Args:
            params: a pytree of arrays (a dict ``path -> array``, a ``Model``).
            optimizer: the optax optimiser.
            frozen: paths, or prefixes of paths (``"enc"`` freezes ``"enc.w"``),
                kept out of the optimiser.
            unstack: paths of stacked parameters to train one array per layer.

        Returns:
            A ``TrainState`` at step 0 with an empty history.

        Raises:
            TypeError: a leaf is not an array.
            ValueError: a frozen or unstacked path matches no parameter, or an
                unstacked one is a scalar.
        """
        leaves, treedef = jax.tree.flatten(params)
        paths = leaf_paths(params)
        for path, leaf in zip(paths, leaves, strict=True):
            if not isinstance(leaf, (jax.Array, np.ndarray)):
                raise TypeError(f"fit: params[{path!r}] is not an array: {type(leaf).__name__}")
        mask = _frozen_mask(paths, frozen)
        if set(unstack) - set(paths):
            raise ValueError(
                f"fit: unstack: the Para's parameters {sorted(set(unstack) - set(paths))} are not"
                f" in params (paths {paths})"
            )
        trainable = [(p, x) for p, x, m in zip(paths, leaves, mask, strict=True) if not m]
        unstacked = [p in unstack for p, _ in trainable]
        for (path, x), s in zip(trainable, unstacked, strict=True):
            if s and jnp.ndim(x) == 0:
                raise ValueError(f"fit: unstack: params[{path!r}] is not a stack of layers")
        # Fresh copies (slices are copies too): the jitted step donates its inputs.
        train = [
            layout.split(x) if s else jnp.array(x, copy=True)
            for (_, x), s in zip(trainable, unstacked, strict=True)
        ]
        train_paths = tuple(p for p, _ in trainable)
        opt_tree = optimizer.init(dict(zip(train_paths, train, strict=True)))
        opt, opt_def = jax.tree.flatten(opt_tree)
        stacked_opt_def = (  # the optimiser state's structure in the stacked layout
            jax.tree.structure(jax.eval_shape(layout.restack, opt_tree))
            if any(unstacked)
            else opt_def
        )
        partition = Partition(
            treedef,
            tuple(paths),
            tuple(mask),
            train_paths,
            tuple(unstacked),
            opt_def,
            stacked_opt_def,
        )
        return cls(
            partition,
            train,
            [jnp.array(x, copy=True) for x in opt],
            [jnp.asarray(x) for x, m in zip(leaves, mask, strict=True) if m],
        )

    def advance(self, train: list[Any], opt: list[Any], finite: Any = None) -> TrainState:
        """The state one step later, with these trainable and optimiser leaves (and
        ``finite`` flag, when given)."""
        finite = self.finite if finite is None else finite
        return dataclasses.replace(self, train=train, opt=opt, step=self.step + 1, finite=finite)

    def params(self) -> Any:
        """The parameters, stacked, with the structure given to ``build``."""
        return self.partition.rebuild(self.partition.stack_train(self.train), self.frozen)

    def opt_state(self) -> Any:
        """The optimiser state, stacked (over the trainable leaves, path -> array)."""
        _, opt = self.partition.stack(self.train, self.opt)
        return jax.tree.unflatten(self.partition.stacked_opt_def, opt)

    def donated(self) -> bool:
        """Whether a step took this state's buffers (an interrupted step donated them)."""
        return any(x.is_deleted() for x in jax.tree.leaves((self.train, self.opt)))

    def snapshot(self) -> dict[str, Any]:
        """What a checkpoint holds: ``train``, ``opt`` (stacked), ``frozen``, ``step``,
        ``paths``, ``mask``, ``history``.

        >>> import jax.numpy as jnp, optax
        >>> snap = TrainState.build({"w": jnp.ones(2)}, optax.sgd(0.1)).snapshot()
        >>> sorted(snap), snap["paths"], snap["mask"]
        (['frozen', 'history', 'mask', 'opt', 'paths', 'step', 'train'], ['w'], [False])
        """
        train, opt = self.partition.stack(self.train, self.opt)
        return {
            "train": train,
            "opt": opt,
            "frozen": self.frozen,
            "step": self.step,
            "paths": list(self.partition.paths),
            "mask": list(self.partition.mask),
            "history": self.history,
        }

    def like(self) -> dict[str, list[Any]]:
        """The arrays a checkpoint of this run has: the state's own (with their shardings)
        or, when some are held per layer, the shapes and dtypes of their stacked form."""
        if any(self.partition.unstacked):
            train, opt = jax.eval_shape(self.partition.stack, self.train, self.opt)
        else:
            train, opt = self.train, self.opt
        return {"train": train, "opt": opt, "frozen": self.frozen}

    def restore(self, ck: Mapping[str, Any]) -> TrainState:
        """This run continued from the checkpoint ``ck`` (what ``checkpoint.restore`` read).

        Its stacked arrays come back in the run's layout; its step and history
        replace this state's. The frozen leaves stay this state's.

        >>> import jax.numpy as jnp, optax
        >>> state = TrainState.build({"w": jnp.ones(2)}, optax.sgd(0.1))
        >>> ck = {**state.snapshot(), "train": [jnp.zeros(2)], "step": 1,
        ...       "history": {"loss": [0.5], "eval": []}}
        >>> later = state.restore(ck)
        >>> later.step, later.params()["w"].tolist()
        (1, [0.0, 0.0])

        Args:
            ck: ``train`` and ``opt`` lists (stacked layout), ``step``, ``history``.

        Returns:
            The restored state.
        """
        part = self.partition
        train: list[Any] = [jnp.asarray(x) for x in ck["train"]]
        opt: list[Any] = [jnp.asarray(x) for x in ck["opt"]]
        if any(part.unstacked):
            stacked = jax.tree.unflatten(part.stacked_opt_def, opt)
            opt = jax.tree.leaves(layout.to_layout(stacked, part.opt_tree(self.opt)))
            train = [
                layout.split(x) if s else x for x, s in zip(train, part.unstacked, strict=True)
            ]
        return dataclasses.replace(
            self, train=train, opt=opt, step=ck["step"], history=ck["history"]
        )

    def placed(self, mesh: Mesh, rules: Rules | None) -> tuple[TrainState, Any]:
        """This state placed on ``mesh`` (``sharding.place_state``) and the step's
        output shardings ``(train, opt, loss)``.

        >>> import jax.numpy as jnp, optax
        >>> from backends.jax.core.sharding import make_mesh
        >>> state = TrainState.build({"w": jnp.ones(2)}, optax.sgd(0.1))
        >>> placed, _ = state.placed(make_mesh("1x1"), None)
        >>> placed.train[0].sharding.spec
        P(None,)

        Args:
            mesh: the device mesh.
            rules: the sharding rules (``MEGATRON`` when ``None``).

        Returns:
            The placed state and the output shardings for ``jax.jit``.
        """
        train, opt, frozen, out_shardings = sharding.place_state(
            mesh, rules, self.partition.train_paths, self.train, self.partition.opt_tree(self.opt),
            self.frozen,
        )  # fmt: skip
        finite = jax.device_put(self.finite, out_shardings[2])  # placed as the step returns it
        placed = dataclasses.replace(self, train=train, opt=opt, frozen=frozen, finite=finite)
        return placed, out_shardings


class FitResult(NamedTuple):
    """What ``fit`` returns: final ``params`` (same structure as given), optimiser
    state (over the trainable leaves, path -> array), the number of ``step``s done,
    and ``history``: ``{"loss": [loss at step 0, 1, ...], "eval": [{"step", "value"}]}``.

    >>> FitResult._fields
    ('params', 'opt_state', 'step', 'history')

    Args:
        params: the trained parameters, stacked, with the structure given to ``fit``.
        opt_state: the optimiser state, stacked.
        step: the number of steps done.
        history: the loss of every step and the evaluations.
    """

    params: Any
    opt_state: Any
    step: int
    history: dict[str, list[Any]]
