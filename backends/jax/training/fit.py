"""Training with optax: ``fit``, the loop around one jitted step.

``fit(loss, params, batches, optimizer=..., steps=...)`` minimises
``loss(params, batch)`` where ``batch = batches(step)`` is a function of the step
index (so a resumed run sees the same data). The parts, one module each:

- ``backends.jax.training.state``: ``TrainState``, the parameters flattened once
  into trainable leaves, optimiser state and frozen leaves, with the step and
  the history;
- ``backends.jax.training.step``: ``train_step``, one pure step over those flat
  lists, jitted once per run with the trainable leaves and the optimiser state
  donated, so no Python walks the parameter tree per step;
- ``backends.jax.training.checkpoint``: the ``.npz`` file and the Orbax folder;
- ``backends.jax.training.progress``: a live bar on a terminal, plain lines elsewhere;
- this module: the loop, and when it logs, evaluates and saves.

What ``fit`` does with its options:

- ``frozen``: paths (or prefixes: ``"enc"`` freezes ``"enc.w"``) kept out of the
  optimiser; their values stay bit-identical (no gradient is even computed).
- progress: on a terminal, a live bar with the estimated time left and the
  loss; otherwise plain lines, every ``log_every`` steps (loss averaged over the
  window, steps per second). ``progress`` is ``True`` (stderr), a stream, or
  ``False`` (silent).
- ``eval_fn(params)`` every ``eval_every`` steps, recorded in ``history["eval"]``,
  which a checkpoint holds as JSON: the value must be a number, a bool, a
  string, ``None``, a NumPy or JAX array or scalar of numbers (stored as Python
  numbers or lists: ``jnp.float32(0.5)`` is ``0.5``), or lists and dicts of
  these. Anything else raises ``EvalValueError`` (a ``TypeError``) when
  ``eval_fn`` returns it, with the state reached in its ``result``, whether or
  not the run checkpoints (the history is the same either way).
- ``checkpoint``: a file written atomically every ``checkpoint_every`` steps, at
  the end, and on ``KeyboardInterrupt``; ``resume=True`` continues from it,
  bit-identical to an uninterrupted run. The path is checked before the first
  step (a folder, or a folder that cannot be written, is refused at once); a save
  that fails later raises ``CheckpointError`` with the state reached in its
  ``result``, so no training is lost. A missing checkpoint (or an empty
  folder) with ``resume=True`` warns and starts from step 0; a checkpoint past
  ``steps`` is refused.
- ``mesh`` (and ``rules``): a sharded run, see ``backends.jax.core.sharding.place_state``;
  its checkpoint is an Orbax folder that resumes bit-identically onto any mesh.
- ``unstack``: the Para that ``loss`` runs (or ``True`` for a ``Model``'s own):
  parameters stacked by a ``repeat`` that ``compile`` unrolls train as one array
  per layer (``backends.jax.core.layout``), which XLA compiles faster (the demo's
  first step ~10% sooner); checkpoints, ``eval_fn`` and the result see the usual
  stacked arrays. The optimiser then sees one leaf per layer: the same training
  for optimisers that act entry by entry (sgd, adam, adamw, lion, rmsprop) and
  global-norm clipping; different for those with per-leaf statistics (lamb,
  lars, adafactor's factored moments), which should train stacked. ``layers=``
  is its old name, kept for one release with a ``DeprecationWarning``.
- a NaN or infinite loss raises ``DivergedError`` (a ``FloatingPointError``)
  naming the first bad step (losses are fetched from the device at each log
  step, eval, checkpoint and at the end, so checking costs one transfer per
  window). Its ``result`` is the state before that step, the last whose loss
  was finite: the step stops moving the leaves at the first loss that is not
  (``backends.jax.training.step.guarded_step``), so nothing is lost to the window.
- an ``Objective(p, loss_arrow)`` as ``loss`` gives its own gradient, the reverse
  derivative of its model-and-loss lens (``Objective.value_and_grad``), instead of
  ``jax.grad`` of the call: equal to it, and faster per step where the weight
  gradients are large products (``docs/learning.md``); on a ``mesh`` or with
  ``optimize`` it is differentiated by ``jax.grad``.
- ``ids_on_host`` (default ``True``): the token ids of each batch (the model's
  ``Fin`` inputs that are leaves of the batch) are checked on the host before
  the step, which is compiled without the run-time id test; a bad id raises
  ``TokenIdError`` (a ``ValueError``) naming the step, leaf, index and value,
  with the state before that step in its ``result``.

>>> import jax.numpy as jnp, optax
>>> params = {"w": jnp.array(3.0)}
>>> result = fit(lambda p, b: (p["w"] - b) ** 2, params, lambda step: 1.0,
...              optimizer=optax.sgd(0.25), steps=20, progress=False)
>>> result.step, round(float(result.params["w"]), 4), len(result.history["loss"])
(20, 1.0, 20)
>>> try:
...     fit(lambda p, b: jnp.log(p["w"] - b), params, lambda step: 2.5 + step,
...         optimizer=optax.sgd(0.1), steps=5, progress=False)
... except FloatingPointError as err:
...     print(err)
...     print(err.result.step, len(err.result.history["loss"]), err.result.params["w"])
fit: the loss is nan at step 1 (counting from 0); the state before it is in this error's .result
1 1 2.8
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from backends.jax.core import layout, sharding
from backends.jax.core.sharding import Rules
from backends.jax.interop.equinox import Model
from backends.jax.training import checkpoint as checkpoints
from backends.jax.training.checkpoint import CheckpointError as CheckpointError
from backends.jax.training.checkpoint import load_checkpoint as load_checkpoint
from backends.jax.training.lenses import Learner, Objective
from backends.jax.training.progress import Progress
from backends.jax.training.state import FitResult, TrainState
from backends.jax.training.state import leaf_paths as leaf_paths
from backends.jax.training.step import TokenIdError, jit_step
from topos.para import Para

__all__ = [
    "CheckpointError",
    "DivergedError",
    "EvalValueError",
    "FitResult",
    "fit",
    "leaf_paths",
    "load_checkpoint",
    "TokenIdError",
]


class DivergedError(FloatingPointError):
    """The loss became NaN or infinite; ``result`` is the state before that step.

    A ``FloatingPointError``, so ``except FloatingPointError`` catches it. See
    the module docstring for an example.

    Args:
        message: one line naming the step and the loss.
        result: the ``FitResult`` of the last state whose loss was finite.
    """

    def __init__(self, message: str, result: FitResult) -> None:
        super().__init__(message)
        self.result = result


class EvalValueError(TypeError):
    """``eval_fn`` returned a value the history (JSON) cannot hold; ``result`` is the
    state reached.

    >>> import jax.numpy as jnp, optax
    >>> try:
    ...     fit(lambda p, b: p["w"] ** 2, {"w": jnp.array(1.0)}, lambda s: 0,
    ...         optimizer=optax.sgd(0.1), steps=4, eval_fn=lambda p: object(),
    ...         eval_every=2, progress=False)
    ... except EvalValueError as err:
    ...     print(str(err).split(",")[0], "|", err.result.step)
    fit: eval_fn returned a value of type object at step 2 | 2

    Args:
        message: one line naming the value's type and the step.
        result: the ``FitResult`` at that step.
    """

    def __init__(self, message: str, result: FitResult) -> None:
        super().__init__(message)
        self.result = result


# -- between the steps ------------------------------------------------------------------


class _Losses:
    """Per-step losses still on the device, fetched and checked once per window."""

    def __init__(self, history: list[float], progress: Progress) -> None:
        self.pending: list[Any] = []
        self.history, self.progress = history, progress
        self.t, self.n = time.perf_counter(), 0

    def add(self, value: Any) -> None:
        self.pending.append(value)
        self.n += 1

    def fetch(self) -> tuple[int, float] | None:
        """Move the pending losses into the history, up to the first that is not finite:
        that one's step and value (``None`` when all are finite)."""
        if not self.pending:
            return None
        values = np.asarray(jax.device_get(self.pending), np.float64)
        self.pending = []
        bad = np.flatnonzero(~np.isfinite(values))
        self.history.extend(values[: bad[0] if bad.size else len(values)].tolist())
        return (len(self.history), float(values[bad[0]])) if bad.size else None

    def log(self) -> None:
        if self.n:
            now = time.perf_counter()
            window = self.history[-self.n :]
            rate = self.n / max(now - self.t, 1e-9)
            self.progress.report(len(self.history), sum(window) / len(window), rate)
            self.t, self.n = now, 0


def _to_json(value: Any) -> Any:
    """``value`` as JSON holds it; a ``TypeError`` naming the first part it cannot hold."""
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    try:
        arr = np.asarray(jax.device_get(value))
    except (TypeError, ValueError):
        raise TypeError(type(value).__name__) from None
    kinds = (np.bool_, np.integer, np.floating, np.str_)
    if not any(jnp.issubdtype(arr.dtype, k) for k in kinds):
        what = type(value).__name__
        raise TypeError(what if arr.dtype == object else f"{what} of {arr.dtype}")
    if jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(np.float64)  # bfloat16 and float16 too
    return arr.tolist()


def _due(every: int, done: int) -> bool:
    return every > 0 and done % every == 0


@dataclasses.dataclass
class _Loop:
    """What a run does after each step (log, evaluate, save), fixed for the run."""

    steps: int
    log_every: int
    eval_fn: Callable[[Any], Any] | None
    eval_every: int
    checkpoint: Path | None
    checkpoint_every: int
    orbax: bool
    result: Callable[[TrainState], FitResult]
    bar: Progress
    losses: _Losses

    def after(self, state: TrainState) -> None:
        """Count the step's loss; log, evaluate and save when their steps come."""
        self.bar.advance(1)
        at_log = _due(self.log_every, state.step)
        at_eval = self.eval_fn is not None and _due(self.eval_every, state.step)
        at_ck = self.checkpoint is not None and _due(self.checkpoint_every, state.step)
        if at_log or at_eval or at_ck:
            self.flush(state, log=at_log)
        if at_eval:
            self.evaluate(state)
        if at_ck:
            self.save(state)

    def flush(self, state: TrainState, *, log: bool) -> None:
        """Fetch and check the pending losses (and report them when ``log``)."""
        bad = self.losses.fetch()
        if bad is not None:
            step, value = bad  # the guarded step kept the leaves of that step
            raise DivergedError(
                f"fit: the loss is {value} at step {step} (counting from 0);"
                " the state before it is in this error's .result",
                self.result(dataclasses.replace(state, step=step)),
            )
        if log:
            self.losses.log()

    def evaluate(self, state: TrainState) -> None:
        assert self.eval_fn is not None
        value = self.eval_fn(state.params())
        try:
            value = _to_json(value)
        except TypeError as err:
            raise EvalValueError(
                f"fit: eval_fn returned a value of type {err} at step {state.step}, which the"
                " history cannot hold (JSON: numbers, bools, strings, None, arrays of numbers,"
                " lists and dicts of them); the state reached is in this error's .result",
                self.result(state),
            ) from None
        state.history["eval"].append({"step": state.step, "value": value})
        self.bar.say(f"step {state.step}/{self.steps}  eval {value}")

    def save(self, state: TrainState) -> None:
        assert self.checkpoint is not None
        try:
            checkpoints.save(self.checkpoint, state.snapshot(), orbax=self.orbax)
        except Exception as err:  # whatever the disk or Orbax says, the state is kept
            raise CheckpointError(
                f"fit: cannot write the checkpoint {self.checkpoint} at step {state.step}:"
                f" {checkpoints.reason(err)}; the state reached is kept in this error's .result",
                self.result(state),
            ) from (None if isinstance(err, OSError) else err)

    def interrupted(self, state: TrainState) -> None:
        """On Ctrl-C: save the last whole state (one a step has not donated)."""
        if self.checkpoint is not None and not state.donated():
            self.flush(state, log=False)
            self.save(state)
            self.bar.say(f"interrupted: saved {self.checkpoint} at step {state.step}")


# -- before the first step --------------------------------------------------------------


def _check_counts(steps: int, eval_every: int, checkpoint_every: int) -> None:
    counts = (("steps", steps), ("eval_every", eval_every), ("checkpoint_every", checkpoint_every))
    for name, n in counts:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise TypeError(f"fit: {name} must be an int >= 0, got {n!r}")


def _checkpoint_path(
    checkpoint: str | os.PathLike[str] | None, resume: bool, *, orbax: bool
) -> Path | None:
    """The checkpoint's path, checked before any training: nothing is lost to a bad path."""
    if checkpoint is None:
        if resume:
            raise ValueError("fit: resume=True needs a checkpoint path")
        return None
    checkpoints.check_target(checkpoint, orbax=orbax)
    return Path(checkpoint)


def _optimized_model(params: Any, optimize: bool | str) -> Any:
    """``params.optimized(cost)`` for a ``Model``; a clear error for anything else."""

    if optimize is not True and optimize not in ("flops", "bytes"):
        raise ValueError(f"fit: optimize must be True, False, 'flops' or 'bytes', got {optimize!r}")
    if not isinstance(params, Model):
        raise TypeError(
            "fit: optimize=True rewrites a diagram, but params is a"
            f" {type(params).__name__}: a loss over plain arrays has no diagram to"
            " optimise. Pass a Model (Model(p, key)) and call it in the loss, or build"
            " the loss from backends.jax.optimized(p) yourself"
        )
    return params.optimized("flops" if optimize is True else optimize)


def _renamed_layers(unstack: Para | bool | None, layers: Para | bool) -> Para | bool:
    """``layers=``, the old name of ``unstack=``: a warning, then the same."""
    warnings.warn(
        "fit: layers= is renamed unstack= (same meaning; 'layers' also names a layer count);"
        " layers= goes in the next release",
        DeprecationWarning,
        stacklevel=3,
    )
    if unstack is not None:
        raise TypeError("fit: unstack= and layers= (its old name) together; pass unstack= only")
    return layers


def _unstacked_paths(unstack: Para | bool | None, params: Any, mesh: Mesh | None) -> set[str]:
    """The paths ``fit(..., unstack=...)`` trains one array per layer (none for ``None``)."""
    if unstack is None or unstack is False:
        return set()
    if mesh is not None:
        raise ValueError("fit: unstack= and mesh= together: a sharded run trains stacked")
    p: Any = unstack  # anything but True goes to stacked_paths, which names a non-Para
    if p is True:
        p = getattr(params, "para", None)  # a Model's diagram
        if p is None:
            raise TypeError(
                "fit: unstack=True takes the diagram of a Model, but params is a"
                f" {type(params).__name__}: pass the Para that loss runs, unstack=p"
            )
    return set(layout.stacked_paths(p, unrolled=True))


def _resume(state: TrainState, path: Path, steps: int) -> tuple[TrainState, bool]:
    """``state`` continued from the checkpoint at ``path``, and whether there was one."""
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):  # an empty folder
        warnings.warn(
            f"fit: resume=True but there is no checkpoint at {path}; starting from step 0",
            stacklevel=3,
        )
        return state, False
    part = state.partition
    ck = checkpoints.restore(path, state.like(), paths=list(part.paths), mask=list(part.mask))
    if ck["step"] > steps:
        raise ValueError(
            f"fit: the checkpoint {path} is at step {ck['step']}, past steps={steps};"
            f" pass steps >= {ck['step']} to continue it, or resume=False to start over"
        )
    return state.restore(ck), True


# -- fit ----------------------------------------------------------------------------------


def fit(
    loss: Callable[[Any, Any], Any],
    params: Any,
    batches: Callable[[int], Any],
    *,
    optimizer: optax.GradientTransformation | None = None,
    steps: int,
    learner: Learner | None = None,
    frozen: Iterable[str] = (),
    eval_fn: Callable[[Any], Any] | None = None,
    eval_every: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    log_every: int = 100,
    progress: bool | TextIO = True,
    mesh: Mesh | None = None,
    rules: Rules | None = None,
    optimize: bool | str = False,
    unstack: Para | bool | None = None,
    layers: Para | bool | None = None,
    ids_on_host: bool = True,
) -> FitResult:
    """Train ``params`` to minimise ``loss(params, batches(step))`` for ``steps`` steps.

    ``params`` is a pytree of arrays: the dict of ``init`` or a ``Model``. See the
    module docstring for frozen paths, progress, evaluation, checkpoints and NaNs.

    >>> import jax.numpy as jnp, optax
    >>> result = fit(lambda p, b: (p["w"] - b) ** 2, {"w": jnp.array(3.0)}, lambda step: 1.0,
    ...              optimizer=optax.adam(0.5), steps=50, progress=False)
    >>> result.step, abs(float(result.params["w"]) - 1.0) < 0.1
    (50, True)

    Args:
        loss: ``loss(params, batch)``, a scalar; an ``Objective`` gives its own
            gradient (its reverse derivative).
        params: the initial parameters (not modified).
        batches: ``batches(step)``, the batch of a step.
        optimizer: an ``optax.GradientTransformation`` (or ``learner``).
        steps: the step to train to (a resumed run continues up to it).
        learner: instead of ``optimizer``, a learner lens (``gradient_descent``,
            ``momentum``, ``nesterov``, ``adam`` of ``backends.jax.training.lenses``):
            the run trains through the composite lens ``learner >> model >> loss``,
            its gradients compiled from ``reverse``, not ``jax.grad``. ``loss`` must
            then be an ``Objective(p, loss_arrow)`` and ``params`` the dict of
            ``init(p)``; the result's ``opt_state`` is the learner's state. It takes
            the progress, logging, evaluation and NaN options, not ``frozen``,
            checkpoints, ``mesh``, ``optimize`` or ``unstack`` (refused by name).
        frozen: paths, or prefixes of paths, kept out of the optimiser.
        eval_fn: ``eval_fn(params)`` every ``eval_every`` steps, into ``history["eval"]``.
        eval_every: 0 for never.
        checkpoint: the file to save to (checked before training starts); with
            ``mesh``, an Orbax folder.
        checkpoint_every: 0 for only at the end and on Ctrl-C.
        resume: continue from ``checkpoint`` (with a warning when it does not exist).
        log_every: steps per progress report (0 for none).
        progress: ``True`` for stderr, a stream, or ``False``.
        mesh: train sharded over this device mesh.
        rules: the sharding rules with ``mesh`` (``MEGATRON`` when ``None``).
        optimize: ``True`` (or a cost model's name, ``"flops"``/``"bytes"``) trains
            the diagram optimised by declared laws (``backends.jax.interop.equinox.optimized``):
            ``params`` must then be a ``Model``, which ``loss`` calls; the same
            parameter arrays run the cheaper equal diagram, and the result holds the
            model with its original diagram. A plain pytree has no diagram to optimise
            and is refused.
        unstack: ``None`` (stacked, the default), the Para ``loss`` runs, or ``True``
            when ``params`` is a ``Model``: train the parameters of unrolled
            repeats as one array per layer (see the module docstring). Not with
            ``mesh``.
        layers: the old name of ``unstack`` (a ``DeprecationWarning``).
        ids_on_host: check each batch's token ids on the host before its step
            (default), and compile the step without the run-time id test that
            ``apply``, ``batched`` and ``compile`` otherwise embed (a conditional
            with a callback: 2-4% of a small transformer's step). The ids so
            checked are the ``Fin`` inputs of the model that are leaves of the batch
            (``batch[0]`` passed to ``batched(p)``, or each example of it under
            ``jax.vmap``), found when the step is traced; ids the loss derives
            (a slice ``tokens[:, :-1]``) keep the run-time test. A NumPy batch is
            tested with NumPy's min and max, with no device round trip; a JAX
            batch's id leaves are fetched. ``False`` keeps the run-time test for
            every id; a run on a ``mesh`` always does.

    Returns:
        A ``FitResult``.

    Raises:
        CheckpointError: an unusable checkpoint path or file (its ``result`` holds the
            state reached when a save fails after training started).
        DivergedError: the loss became NaN or infinite (naming the step; a
            ``FloatingPointError``), with the state before that step in ``result``.
        EvalValueError: ``eval_fn`` returned a value JSON cannot hold (a ``TypeError``),
            with the state reached in ``result``.
        TokenIdError: a batch holds a token id out of range (a ``ValueError``
            naming the step, the batch leaf, the index and the value), with the
            state before that step in ``result``.
    """
    _check_counts(steps, eval_every, checkpoint_every)
    if learner is not None or optimizer is None:
        unsupported = {
            "optimizer": optimizer is not None,
            "frozen": bool(list(frozen)),
            "checkpoint": checkpoint is not None or resume,
            "mesh": mesh is not None or rules is not None,
            "optimize": optimize is not False,
            "unstack": unstack is not None or layers is not None,
        }
        run = _LensRun(loss, learner, steps, log_every, eval_fn, eval_every, progress)
        return run.fit(params, batches, [k for k, v in unsupported.items() if v])
    ck_path = _checkpoint_path(checkpoint, resume, orbax=mesh is not None)
    if layers is not None:
        unstack = _renamed_layers(unstack, layers)
    model = params if optimize is False else _optimized_model(params, optimize)
    apart = _unstacked_paths(unstack, model, mesh)
    state = TrainState.build(model, optimizer, frozen=frozen, unstack=apart)
    out_shardings = None
    if mesh is not None:  # a sharded run: place the state, pin the step's output shardings
        state, out_shardings = state.placed(mesh, rules)
        batches = sharding.sharded_batches(batches, mesh, rules)
    on_host = ids_on_host and mesh is None
    if mesh is not None and isinstance(loss, Objective):  # sharded: jax.grad of the call
        loss = functools.partial(Objective.__call__, loss)
    step = jit_step(
        loss, optimizer, state.partition, out_shardings=out_shardings, ids_on_host=on_host
    )
    resumed = False
    if resume and ck_path is not None:
        state, resumed = _resume(state, ck_path, steps)

    def result(done: TrainState) -> FitResult:
        trained = done.params()
        if optimize is not False:  # the same arrays, in the model of the user's diagram
            trained = type(params)(params.para, params=trained.params)
        return FitResult(trained, done.opt_state(), done.step, done.history)

    stream = None if isinstance(progress, bool) else progress
    bar = Progress(steps, state.step, stream, show=progress is not False)
    losses = _Losses(state.history["loss"], bar)
    loop = _Loop(
        steps=steps,
        log_every=log_every,
        eval_fn=eval_fn,
        eval_every=eval_every,
        checkpoint=ck_path,
        checkpoint_every=checkpoint_every,
        orbax=mesh is not None,
        result=result,
        bar=bar,
        losses=losses,
    )
    if resumed:
        bar.say(f"resumed from {ck_path} at step {state.step}")
    try:
        for i in range(state.step, steps):
            try:
                state, value = step(state, batches(i))
            except TokenIdError as err:  # refused before the step: the state is whole
                loop.flush(state, log=False)  # a NaN before it is reported first
                raise TokenIdError(
                    f"{err} at step {i} (counting from 0); the state before it is in this"
                    " error's .result",
                    result(state),
                ) from None
            losses.add(value)
            loop.after(state)
        loop.flush(state, log=True)
    except KeyboardInterrupt:
        loop.interrupted(state)
        raise
    finally:
        bar.close()
    if ck_path is not None:
        loop.save(state)
    return result(state)


# -- training through the composite lens --------------------------------------------------


@dataclasses.dataclass
class _LensRun:
    """``fit(objective, ..., learner=...)``: the loop around ``training_step``'s jitted step.

    The step is guarded as ``fit``'s optax step is: from the first loss that is not
    finite on, the parameters and the learner's state stay as they were.
    """

    loss: Any
    learner: Learner | None
    steps: int
    log_every: int
    eval_fn: Callable[[Any], Any] | None
    eval_every: int
    progress: bool | TextIO

    def check(self, params: Any, unsupported: list[str]) -> Objective:
        if self.learner is None:
            raise TypeError("fit: pass optimizer= (an optax optimiser) or learner= (a lens)")
        if not isinstance(self.learner, Learner):
            raise TypeError(
                "fit: learner must be a Learner (gradient_descent, momentum, nesterov, adam of"
                f" backends.jax.training.lenses), got {type(self.learner).__name__}"
            )
        if unsupported:
            raise TypeError(
                f"fit: learner= trains through the composite lens, which does not take"
                f" {', '.join(unsupported)} (use optimizer= for those)"
            )
        if not isinstance(self.loss, Objective):
            raise TypeError(
                "fit: learner= needs the diagram of the loss: pass loss=Objective(p, loss_arrow)"
                f" (backends.jax.training.lenses), got {type(self.loss).__name__}"
            )
        want = set(self.loss.p.parameters())
        if not isinstance(params, dict) or set(params) != want:
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise TypeError(
                f"fit: learner= takes the parameter dict of init(p), with the paths"
                f" {sorted(want)}; got {got}"
            )
        return self.loss

    def fit(self, params: Any, batches: Callable[[int], Any], unsupported: list[str]) -> FitResult:
        objective = self.check(params, unsupported)
        assert self.learner is not None
        lens_step = objective.step(self.learner)

        @jax.jit
        def guarded(lstate: Any, ps: Any, finite: Any, batch: Any) -> Any:
            new_state, new_ps, value = lens_step(lstate, ps, batch)
            ok = jnp.logical_and(finite, jnp.isfinite(value))
            kept = jax.tree.map(lambda a, b: jnp.where(ok, a, b), (new_state, new_ps), (lstate, ps))
            return (*kept, ok, value)

        lstate, finite = self.learner.init(params), jnp.asarray(True)
        history: dict[str, list[Any]] = {"loss": [], "eval": []}
        stream = None if isinstance(self.progress, bool) else self.progress
        bar = Progress(self.steps, 0, stream, show=self.progress is not False)
        losses = _Losses(history["loss"], bar)
        try:
            for i in range(self.steps):
                lstate, params, finite, value = guarded(lstate, params, finite, batches(i))
                losses.add(value)
                bar.advance(1)
                done = i + 1
                at_log, at_eval = _due(self.log_every, done), _due(self.eval_every, done)
                at_eval = at_eval and self.eval_fn is not None
                if at_log or at_eval or done == self.steps:
                    self.flush(losses, FitResult(params, lstate, done, history), log=at_log)
                if at_eval:
                    self.evaluate(FitResult(params, lstate, done, history), bar)
            losses.log()
        finally:
            bar.close()
        return FitResult(params, lstate, self.steps, history)

    def flush(self, losses: _Losses, now: FitResult, *, log: bool) -> None:
        bad = losses.fetch()
        if bad is not None:
            step, value = bad
            raise DivergedError(
                f"fit: the loss is {value} at step {step} (counting from 0);"
                " the state before it is in this error's .result",
                now._replace(step=step),
            )
        if log:
            losses.log()

    def evaluate(self, now: FitResult, bar: Progress) -> None:
        assert self.eval_fn is not None
        value = self.eval_fn(now.params)
        try:
            value = _to_json(value)
        except TypeError as err:
            raise EvalValueError(
                f"fit: eval_fn returned a value of type {err} at step {now.step}, which the"
                " history cannot hold; the state reached is in this error's .result",
                now,
            ) from None
        now.history["eval"].append({"step": now.step, "value": value})
        bar.say(f"step {now.step}/{self.steps}  eval {value}")
