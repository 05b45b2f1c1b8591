"""Training with optax: one ``jax.jit`` per step, progress, evaluation, exact checkpoints.

``fit(loss, params, batches, optimizer=..., steps=...)`` minimises
``loss(params, batch)`` where ``batch = batches(step)`` is a function of the step
index (so a resumed run sees the same data). The state is flattened once; each
step is one call of a jitted function of ``(trainable leaves, optimiser state,
frozen leaves, batch)`` with the first two donated, so no Python walks the
parameter tree per step.

- ``frozen``: paths (or prefixes: ``"enc"`` freezes ``"enc.w"``) kept out of the
  optimiser; their values stay bit-identical (no gradient is even computed).
- progress (``backends.jax.training.progress``): on a terminal, a live bar with the
  estimated time left and the loss; otherwise plain lines, every ``log_every``
  steps (loss averaged over the window, steps per second). ``progress`` is
  ``True`` (stderr), a stream, or ``False`` (silent).
- ``eval_fn(params)`` every ``eval_every`` steps, recorded in ``history["eval"]``.
- ``checkpoint``: a file written atomically (``numpy.savez`` of raw arrays and
  JSON metadata; a temporary file then ``os.replace``) every ``checkpoint_every``
  steps, at the end, and on ``KeyboardInterrupt``; ``resume=True`` continues from
  it, bit-identical to an uninterrupted run. The path is checked before the first
  step (a folder, or a folder that cannot be written, is refused at once); a save
  that fails later raises ``CheckpointError`` with the state reached in its
  ``result``, so no training is lost. A missing checkpoint with ``resume=True``
  warns and starts from step 0; a checkpoint past ``steps`` is refused.
- ``mesh`` (and ``rules``): a sharded run, see ``backends.jax.core.sharding.place_state``;
  its checkpoint is an Orbax folder (``backends.jax.training.checkpoint``) that resumes
  bit-identically onto any mesh.
- ``layers``: the Para that ``loss`` runs (or ``True`` for a ``Model``'s own):
  parameters stacked by a ``repeat`` that ``compile`` unrolls train as one array
  per layer (``backends.jax.core.layout``), which XLA compiles faster (the demo's
  first step ~10% sooner); checkpoints, ``eval_fn`` and the result see the usual
  stacked arrays. The optimiser then sees one leaf per layer: the same training
  for optimisers that act entry by entry (sgd, adam, adamw, lion, rmsprop) and
  global-norm clipping; different for those with per-leaf statistics (lamb,
  lars, adafactor's factored moments), which should train stacked.
- a NaN or infinite loss raises ``FloatingPointError`` naming the first bad step
  (losses are fetched from the device at each log step, eval, checkpoint and
  at the end, so checking costs one transfer per window).

>>> import jax.numpy as jnp, optax
>>> params = {"w": jnp.array(3.0)}
>>> result = fit(lambda p, b: (p["w"] - b) ** 2, params, lambda step: 1.0,
...              optimizer=optax.sgd(0.25), steps=20, progress=False)
>>> result.step, round(float(result.params["w"]), 4), len(result.history["loss"])
(20, 1.0, 20)
>>> fit(lambda p, b: jnp.log(p["w"] - b), params, lambda step: 4.0,
...     optimizer=optax.sgd(0.1), steps=5, progress=False)
Traceback (most recent call last):
...
FloatingPointError: fit: the loss is nan at step 0 (counting from 0)
"""

from __future__ import annotations

import io
import json
import math
import os
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import optax

from backends.jax.core import layout, sharding
from backends.jax.interop.equinox import Model
from backends.jax.training import checkpoint as orbax_checkpoint
from backends.jax.training.progress import Progress

__all__ = ["CheckpointError", "FitResult", "fit", "leaf_paths", "load_checkpoint"]

_FORMAT = "topos.fit/1"


class FitResult(NamedTuple):
    """What ``fit`` returns: final ``params`` (same structure as given), optimiser
    state (over the trainable leaves, path -> array), the number of ``step``s done,
    and ``history``: ``{"loss": [loss at step 0, 1, ...], "eval": [{"step", "value"}]}``.

    >>> FitResult._fields
    ('params', 'opt_state', 'step', 'history')
    """

    params: Any
    opt_state: Any
    step: int
    history: dict[str, list[Any]]


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
    frozen = list(frozen)
    mask = [False] * len(paths)
    for f in frozen:
        hits = [i for i, p in enumerate(paths) if p == f or p.startswith(f + ".")]
        if not hits:
            raise ValueError(f"fit: frozen path {f!r} matches no parameter; paths are {paths}")
        for i in hits:
            mask[i] = True
    return mask


# -- checkpoints ------------------------------------------------------------------------


class CheckpointError(ValueError):
    """A checkpoint cannot be read or written; the message is one line naming the file.

    When a save fails after training started, ``result`` is the ``FitResult``
    reached (params, optimiser state, step, history); otherwise it is ``None``.

    >>> load_checkpoint("/nonexistent/r.ckpt")
    Traceback (most recent call last):
    ...
    backends.jax.training.fit.CheckpointError: load_checkpoint: no checkpoint at /nonexistent/r.ckpt
    """

    def __init__(self, message: str, result: FitResult | None = None) -> None:
        super().__init__(message)
        self.result = result


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _check_target(path: Path) -> None:
    """Refuse a checkpoint path that cannot be written, before any training."""
    if path.is_dir():
        raise CheckpointError(
            f"fit: the checkpoint path {path} is a folder; give a file path,"
            f" e.g. {path / 'checkpoint'}"
        )
    probe = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as err:
        raise CheckpointError(f"fit: cannot write the checkpoint {path}: {_reason(err)}") from None


def _encode(arrays: Sequence[Any]) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    raws, meta = [], []
    for a in arrays:
        host = np.asarray(jax.device_get(a))
        raws.append(np.frombuffer(host.tobytes(), np.uint8))
        meta.append({"dtype": str(host.dtype), "shape": list(host.shape)})
    return raws, meta


def _decode(raw: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    dtype = jnp.dtype(meta["dtype"])
    return np.frombuffer(raw.tobytes(), dtype).reshape(meta["shape"]).copy()


def _save(path: Path, state: dict[str, Any]) -> None:
    groups = {name: _encode(state[name]) for name in ("train", "opt", "frozen")}
    meta = {
        "format": _FORMAT,
        "step": state["step"],
        "paths": state["paths"],
        "mask": state["mask"],
        "history": state["history"],
        **{name: m for name, (_, m) in groups.items()},
    }
    arrays: dict[str, Any] = {
        f"{name}/{i}": r for name, (raws, _) in groups.items() for i, r in enumerate(raws)
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic: a reader sees the old checkpoint or the new one
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by ``fit``: ``{"step", "paths", "history", "train", "opt",
    "frozen", ...}`` with the arrays as NumPy arrays, exactly as saved.

    >>> import tempfile, jax.numpy as jnp, optax
    >>> path = Path(tempfile.mkdtemp()) / "run.ckpt"
    >>> _ = fit(lambda p, b: (p["w"] ** 2).sum(), {"w": jnp.ones(2)}, lambda s: 0,
    ...         optimizer=optax.sgd(0.1), steps=3, checkpoint=path, progress=False)
    >>> ck = load_checkpoint(path)
    >>> ck["step"], ck["paths"], [round(v, 3) for v in ck["train"][0].tolist()]
    (3, ['w'], [0.512, 0.512])

    A file that is not such a checkpoint (empty, truncated, another format, bad
    metadata) raises ``CheckpointError``, one line naming the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"load_checkpoint: no checkpoint at {path}")
    if path.is_dir():
        raise CheckpointError(f"load_checkpoint: {path} is a folder, not a checkpoint file")
    try:
        loaded = np.load(path)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
            raise ValueError("a single array, not an .npz archive")
        with loaded as data:
            raw = {name: data[name] for name in data.files}
        meta = json.loads(raw.pop("meta").tobytes().decode())
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, KeyError) as err:
        raise CheckpointError(
            f"load_checkpoint: {path} is not a readable fit checkpoint (empty, truncated or"
            f" another kind of file: {_reason(err)})"
        ) from None
    _check_meta(path, meta)
    out = dict(meta)
    for name in ("train", "opt", "frozen"):
        out[name] = [_array(path, raw, f"{name}/{i}", m) for i, m in enumerate(meta[name])]
    return out


def _bad(path: Path, field: str, problem: str) -> CheckpointError:
    return CheckpointError(f"load_checkpoint: {path}: metadata field {field!r} {problem}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_meta(path: Path, meta: Any) -> None:
    """Every metadata field fit reads, with its type and range; one line per problem."""
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise CheckpointError(f"load_checkpoint: {path} is not a fit checkpoint ({_FORMAT})")
    step = meta.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise _bad(path, "step", f"must be an int >= 0, got {step!r}")
    paths, mask = meta.get("paths"), meta.get("mask")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise _bad(path, "paths", f"must be a list of strings, got {paths!r}")
    if not isinstance(mask, list) or len(mask) != len(paths):
        raise _bad(path, "mask", f"must be a list of {len(paths)} booleans, got {mask!r}")
    history = meta.get("history")
    if not isinstance(history, dict) or not isinstance(history.get("loss"), list):
        raise _bad(path, "history", "must be {'loss': [...], 'eval': [...]}")
    if len(history["loss"]) != step:
        raise _bad(path, "history", f"has {len(history['loss'])} losses for step {step}")
    history.setdefault("eval", [])
    for name in ("train", "opt", "frozen"):
        arrays = meta.get(name)
        if not isinstance(arrays, list) or not all(_array_meta_ok(m) for m in arrays):
            raise _bad(path, name, "must be a list of {'dtype': ..., 'shape': [...]}")
    if len(meta["train"]) != mask.count(False) or len(meta["frozen"]) != mask.count(True):
        raise _bad(path, "mask", "does not match the number of train and frozen arrays")


def _array_meta_ok(m: Any) -> bool:
    if not isinstance(m, dict) or not isinstance(m.get("shape"), list):
        return False
    if not all(_is_int(n) and n >= 0 for n in m["shape"]):
        return False
    try:
        jnp.dtype(m.get("dtype"))
    except TypeError:
        return False
    return True


def _array(path: Path, raw: dict[str, np.ndarray], name: str, meta: dict[str, Any]) -> np.ndarray:
    if name not in raw:
        raise CheckpointError(f"load_checkpoint: {path} has no array {name!r} (truncated?)")
    size = math.prod(meta["shape"]) * jnp.dtype(meta["dtype"]).itemsize
    if raw[name].size != size:
        raise CheckpointError(
            f"load_checkpoint: {path}: array {name!r} has {raw[name].size} bytes, its metadata"
            f" ({meta['dtype']}{meta['shape']}) needs {size}"
        )
    return _decode(raw[name], meta)


def _restore(
    path: Path, paths: list[str], mask: list[bool], train: list[Any], opt: list[Any]
) -> dict[str, Any]:
    ck = load_checkpoint(path)
    if ck["paths"] != paths or ck["mask"] != mask:
        raise CheckpointError(
            f"fit: the checkpoint {path} is for parameters {ck['paths']} (frozen"
            f" {[p for p, m in zip(ck['paths'], ck['mask'], strict=True) if m]}), not"
            f" {paths} (frozen {[p for p, m in zip(paths, mask, strict=True) if m]})"
        )
    for name, now in (("train", train), ("opt", opt)):
        saved = ck[name]
        if len(saved) != len(now) or any(
            s.shape != tuple(np.shape(x)) or s.dtype != jnp.dtype(x.dtype)
            for s, x in zip(saved, now, strict=True)
        ):
            raise CheckpointError(
                f"fit: the {name} arrays in the checkpoint {path} do not match this run"
                " (another model or optimiser?)"
            )
    return ck


# -- the loop -------------------------------------------------------------------------


class _Losses:
    """Per-step losses still on the device, fetched and checked once per window."""

    def __init__(self, history: list[float], progress: Progress) -> None:
        self.pending: list[Any] = []
        self.history, self.progress = history, progress
        self.t, self.n = time.perf_counter(), 0

    def flush(self, log: bool) -> None:
        if self.pending:
            values = np.asarray(jax.device_get(self.pending), np.float64)
            first = len(self.history)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                i = int(bad[0])
                raise FloatingPointError(
                    f"fit: the loss is {values[i]} at step {first + i} (counting from 0)"
                )
            self.history.extend(values.tolist())
            self.pending = []
        if log and self.n:
            now = time.perf_counter()
            window = self.history[-self.n :]
            rate = self.n / max(now - self.t, 1e-9)
            self.progress.report(len(self.history), sum(window) / len(window), rate)
            self.t, self.n = now, 0


def _to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    arr = np.asarray(jax.device_get(value))
    return arr.item() if arr.shape == () else arr.tolist()


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


def _layer_paths(layers: Any, params: Any, mesh: Any) -> set[str]:
    """The paths ``fit(..., layers=...)`` trains one array per layer (none for ``None``)."""
    if layers is None or layers is False:
        return set()
    if mesh is not None:
        raise ValueError("fit: layers= and mesh= together: a sharded run trains stacked")
    if layers is True:
        layers = getattr(params, "para", None)
        if layers is None:
            raise TypeError(
                "fit: layers=True takes the diagram of a Model, but params is a"
                f" {type(params).__name__}: pass the Para that loss runs, layers=p"
            )
    return set(layout.stacked_paths(layers, unrolled=True))


def fit(
    loss: Callable[[Any, Any], Any],
    params: Any,
    batches: Callable[[int], Any],
    *,
    optimizer: optax.GradientTransformation,
    steps: int,
    frozen: Iterable[str] = (),
    eval_fn: Callable[[Any], Any] | None = None,
    eval_every: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    log_every: int = 100,
    progress: bool | TextIO = True,
    mesh: jax.sharding.Mesh | None = None,
    rules: sharding.Rules | None = None,
    optimize: bool | str = False,
    layers: Any = None,
) -> FitResult:
    """Train ``params`` to minimise ``loss(params, batches(step))`` for ``steps`` steps.

    ``params`` is a pytree of arrays: the dict of ``init`` or a ``Model``. See the
    module docstring for frozen paths, progress, evaluation, checkpoints and NaNs.

    Args:
        loss: ``loss(params, batch)``, a scalar.
        params: the initial parameters (not modified).
        batches: ``batches(step)``, the batch of a step.
        optimizer: an ``optax.GradientTransformation``.
        steps: the step to train to (a resumed run continues up to it).
        frozen: paths, or prefixes of paths, kept out of the optimiser.
        eval_fn: ``eval_fn(params)`` every ``eval_every`` steps, into ``history["eval"]``.
        eval_every: 0 for never.
        checkpoint: the file to save to (checked before training starts).
        checkpoint_every: 0 for only at the end and on Ctrl-C.
        resume: continue from ``checkpoint`` (with a warning when it does not exist).
        log_every: steps per progress report (0 for none).
        progress: ``True`` for stderr, a stream, or ``False``.
        optimize: ``True`` (or a cost model's name, ``"flops"``/``"bytes"``) trains
            the diagram optimised by declared laws (``backends.jax.interop.equinox.optimized``):
            ``params`` must then be a ``Model``, which ``loss`` calls; the same
            parameter arrays run the cheaper equal diagram, and the result holds the
            model with its original diagram. A plain pytree has no diagram to optimise
            and is refused.
        layers: ``None`` (stacked, the default), the Para ``loss`` runs, or ``True``
            when ``params`` is a ``Model``: train the parameters of unrolled
            repeats as one array per layer (see the module docstring). Not with
            ``mesh``.

    Returns:
        A ``FitResult``.

    Raises:
        CheckpointError: an unusable checkpoint path or file (its ``result`` holds the
            state reached when a save fails after training started).
        FloatingPointError: the loss became NaN or infinite (naming the step).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise TypeError(f"fit: steps must be an int >= 0, got {steps!r}")
    for name, every in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise TypeError(f"fit: {name} must be an int >= 0, got {every!r}")
    if resume and checkpoint is None:
        raise ValueError("fit: resume=True needs a checkpoint path")
    ck_path = Path(checkpoint) if checkpoint is not None else None
    if ck_path is not None and mesh is None:  # an Orbax checkpoint (mesh) is a folder
        _check_target(ck_path)  # before any training: nothing is lost to a bad path
    original = params
    if optimize is not False:
        params = _optimized_model(params, optimize)
    split_at = _layer_paths(layers, params, mesh)
    leaves, treedef = jax.tree.flatten(params)
    for path, leaf in zip(leaf_paths(params), leaves, strict=True):
        if not isinstance(leaf, (jax.Array, np.ndarray)):
            raise TypeError(f"fit: params[{path!r}] is not an array: {type(leaf).__name__}")
    paths = leaf_paths(params)
    mask = _frozen_mask(paths, frozen)
    frozen_leaves = [jnp.asarray(x) for x, m in zip(leaves, mask, strict=True) if m]
    train_paths = [p for p, m in zip(paths, mask, strict=True) if not m]

    def rebuild(train: Sequence[Any], fixed: Sequence[Any]) -> Any:
        it_t, it_f = iter(train), iter(fixed)
        return jax.tree.unflatten(treedef, [next(it_f) if m else next(it_t) for m in mask])

    def as_dict(train: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(train_paths, train, strict=True))

    if split_at - set(paths):
        raise ValueError(
            f"fit: layers: the Para's parameters {sorted(split_at - set(paths))} are not in"
            f" params (paths {paths})"
        )
    split = [p in split_at for p in train_paths]  # trained in the layer layout
    trainable = [x for x, m in zip(leaves, mask, strict=True) if not m]
    for path, x, s in zip(train_paths, trainable, split, strict=True):
        if s and jnp.ndim(x) == 0:
            raise ValueError(f"fit: layers: params[{path!r}] is not a stack of layers")
    # Fresh copies (slices are copies too): the jitted step donates its inputs, the
    # caller keeps theirs.
    train: list[Any] = [
        layout.split(x) if s else jnp.array(x, copy=True)
        for x, s in zip(trainable, split, strict=True)
    ]
    opt_tree = optimizer.init(as_dict(train))
    opt_leaves, opt_def = jax.tree.flatten(opt_tree)
    opt_leaves = [jnp.array(x, copy=True) for x in opt_leaves]

    def stacked(t: Sequence[Any], o: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """The trainable leaves and optimiser leaves in the stacked layout."""
        if not split_at:
            return list(t), list(o)
        opt = layout.restack(jax.tree.unflatten(opt_def, o))
        return stacked_train(t), jax.tree.leaves(opt)

    def stacked_train(t: Sequence[Any]) -> list[Any]:
        return [layout.restack(x) for x in t] if split_at else list(t)

    def unstacked(t: Sequence[Any], o: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """Stacked trainable and optimiser leaves (a checkpoint's) in this run's layout."""
        if not split_at:
            return list(t), list(o)
        like = jax.tree.unflatten(opt_def, opt_leaves)
        opt = layout.to_layout(jax.tree.unflatten(stacked_def, o), like)
        return [layout.split(x) if s else x for x, s in zip(t, split, strict=True)], (
            jax.tree.leaves(opt)
        )

    stacked_def = (  # the optimiser state's structure in the stacked layout
        jax.tree.structure(jax.eval_shape(layout.restack, opt_tree)) if split_at else opt_def
    )

    def step_fn(train: list[Any], opt: list[Any], fixed: list[Any], batch: Any) -> Any:
        def objective(t: dict[str, Any]) -> Any:
            value = loss(rebuild([t[p] for p in train_paths], fixed), batch)
            if jnp.shape(value) != ():
                raise TypeError(f"fit: loss must return a scalar, got shape {jnp.shape(value)}")
            return value

        t = as_dict(train)
        value, grads = jax.value_and_grad(objective)(t)
        updates, new_opt = optimizer.update(grads, jax.tree.unflatten(opt_def, opt), t)
        t = optax.apply_updates(t, updates)
        return [t[p] for p in train_paths], jax.tree.leaves(new_opt), value

    jit_kw: dict[str, Any] = {}
    if mesh is not None:  # sharded run: place the state, pin the step's output shardings
        opt_state = jax.tree.unflatten(opt_def, opt_leaves)
        placed = sharding.place_state(mesh, rules, train_paths, train, opt_state, frozen_leaves)
        train, opt_leaves, frozen_leaves, jit_kw["out_shardings"] = placed
        batches = sharding.sharded_batches(batches, mesh, rules)

    step = jax.jit(step_fn, donate_argnums=(0, 1), **jit_kw)

    history: dict[str, list[Any]] = {"loss": [], "eval": []}
    start = 0
    resumed_from = None
    if resume and ck_path is not None and not ck_path.exists():
        warnings.warn(
            f"fit: resume=True but there is no checkpoint at {ck_path}; starting from step 0",
            stacklevel=2,
        )
    elif resume and ck_path is not None:
        if mesh is None:
            like_t, like_o = jax.eval_shape(stacked, train, opt_leaves)
            ck = _restore(ck_path, paths, mask, like_t, like_o)
        else:
            like = {"train": train, "opt": opt_leaves, "frozen": frozen_leaves}
            ck = orbax_checkpoint.restore(ck_path, like, paths=paths, mask=mask)
        if ck["step"] > steps:
            raise ValueError(
                f"fit: the checkpoint {ck_path} is at step {ck['step']}, past steps={steps};"
                f" pass steps >= {ck['step']} to continue it, or resume=False to start over"
            )
        train, opt_leaves = unstacked(
            [jnp.asarray(x) for x in ck["train"]], [jnp.asarray(x) for x in ck["opt"]]
        )
        start, history, resumed_from = ck["step"], ck["history"], ck_path

    state = (train, opt_leaves, start)  # replaced in one assignment per step

    def result() -> FitResult:
        t, o = stacked(state[0], state[1])
        done = state[2]
        trained = rebuild(t, frozen_leaves)
        if optimize is not False:  # the same arrays, in the model of the user's diagram
            trained = type(original)(original.para, params=trained.params)
        return FitResult(trained, jax.tree.unflatten(stacked_def, o), done, history)

    def save() -> None:
        assert ck_path is not None
        t, o = stacked(state[0], state[1])
        done = state[2]
        snapshot = {"train": t, "opt": o, "frozen": frozen_leaves, "step": done}
        write = _save if mesh is None else orbax_checkpoint.save
        try:
            write(ck_path, {**snapshot, "paths": paths, "mask": mask, "history": history})
        except OSError as err:
            raise CheckpointError(
                f"fit: cannot write the checkpoint {ck_path} at step {done}: {_reason(err)};"
                " the state reached is kept in this error's .result",
                result(),
            ) from None

    stream = None if isinstance(progress, bool) else progress
    bar = Progress(steps, start, stream, show=progress is not False)
    losses = _Losses(history["loss"], bar)
    if resumed_from is not None:
        bar.say(f"resumed from {resumed_from} at step {start}")
    try:
        for i in range(start, steps):
            out = step(state[0], state[1], frozen_leaves, batches(i))
            state = (out[0], out[1], i + 1)
            losses.pending.append(out[2])
            losses.n += 1
            bar.advance(1)
            done = i + 1
            at_log = log_every > 0 and done % log_every == 0
            at_eval = eval_fn is not None and eval_every > 0 and done % eval_every == 0
            at_ck = ck_path is not None and checkpoint_every > 0 and done % checkpoint_every == 0
            if at_log or at_eval or at_ck:
                losses.flush(log=at_log)
            if at_eval:
                assert eval_fn is not None
                value = _to_json(eval_fn(rebuild(stacked_train(state[0]), frozen_leaves)))
                history["eval"].append({"step": done, "value": value})
                bar.say(f"step {done}/{steps}  eval {value}")
            if at_ck:
                save()
        losses.flush(log=losses.n > 0)
    except KeyboardInterrupt:
        if ck_path is not None and not any(x.is_deleted() for x in jax.tree.leaves(state[:2])):
            losses.flush(log=False)
            save()
            bar.say(f"interrupted: saved {ck_path} at step {state[2]}")
        raise
    finally:
        bar.close()
    if ck_path is not None:
        save()
    return result()
