"""Training with optax: one ``jax.jit`` per step, progress, evaluation, exact checkpoints.

``fit(loss, params, batches, optimizer=..., steps=...)`` minimises
``loss(params, batch)`` where ``batch = batches(step)`` is a function of the step
index (so a resumed run sees the same data). The state is flattened once; each
step is one call of a jitted function of ``(trainable leaves, optimiser state,
frozen leaves, batch)`` with the first two donated, so no Python walks the
parameter tree per step.

- ``frozen``: paths (or prefixes: ``"enc"`` freezes ``"enc.w"``) kept out of the
  optimiser; their values stay bit-identical (no gradient is even computed).
- progress: plain lines on stderr every ``log_every`` steps (loss averaged over
  the window, steps per second); ``progress=False`` silences them.
- ``eval_fn(params)`` every ``eval_every`` steps, recorded in ``history["eval"]``.
- ``checkpoint``: a file written atomically (``numpy.savez`` of raw arrays and
  JSON metadata; a temporary file then ``os.replace``) every ``checkpoint_every``
  steps, at the end, and on ``KeyboardInterrupt``; ``resume=True`` continues from
  it, bit-identical to an uninterrupted run.
- ``mesh`` (and ``rules``): a sharded run, see ``backends.jax.sharding.place_state``;
  its checkpoint is an Orbax folder (``backends.jax.checkpoint``) that resumes
  bit-identically onto any mesh.
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
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from backends.jax import checkpoint as orbax_checkpoint
from backends.jax import sharding

__all__ = ["FitResult", "fit", "leaf_paths", "load_checkpoint"]

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
    arrays = {f"{name}/{i}": r for name, (raws, _) in groups.items() for i, r in enumerate(raws)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(buffer.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)  # atomic: a reader sees the old checkpoint or the new one


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
    """
    with np.load(Path(path)) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"load_checkpoint: {path} is not a fit checkpoint ({_FORMAT})")
        out = dict(meta)
        for name in ("train", "opt", "frozen"):
            out[name] = [_decode(data[f"{name}/{i}"], m) for i, m in enumerate(meta[name])]
    return out


def _restore(
    path: Path, paths: list[str], mask: list[bool], train: list[Any], opt: list[Any]
) -> dict[str, Any]:
    ck = load_checkpoint(path)
    if ck["paths"] != paths or ck["mask"] != mask:
        raise ValueError(
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
            raise ValueError(
                f"fit: the {name} arrays in the checkpoint {path} do not match this run"
                " (another model or optimiser?)"
            )
    return ck


# -- the loop -------------------------------------------------------------------------


class _Losses:
    """Per-step losses still on the device, fetched and checked once per window."""

    def __init__(self, history: list[float], progress: bool, steps: int) -> None:
        self.pending: list[Any] = []
        self.history, self.progress, self.steps = history, progress, steps
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
        if log and self.progress and self.n:
            now = time.perf_counter()
            window = self.history[-self.n :]
            print(
                f"step {len(self.history)}/{self.steps}  loss {sum(window) / len(window):.6g}"
                f"  {self.n / max(now - self.t, 1e-9):.1f} steps/s",
                file=sys.stderr,
                flush=True,
            )
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
    progress: bool = True,
    mesh: jax.sharding.Mesh | None = None,
    rules: sharding.Rules | None = None,
) -> FitResult:
    """Train ``params`` to minimise ``loss(params, batches(step))`` for ``steps`` steps.

    ``params`` is a pytree of arrays: the dict of ``init`` or a ``Model``. See the
    module docstring for frozen paths, progress, evaluation, checkpoints and NaNs.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise TypeError(f"fit: steps must be an int >= 0, got {steps!r}")
    for name, every in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise TypeError(f"fit: {name} must be an int >= 0, got {every!r}")
    if resume and checkpoint is None:
        raise ValueError("fit: resume=True needs a checkpoint path")
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
        return treedef.unflatten([next(it_f) if m else next(it_t) for m in mask])

    def as_dict(train: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(train_paths, train, strict=True))

    # Fresh copies: the jitted step donates its inputs, the caller keeps theirs.
    train = [jnp.array(x, copy=True) for x, m in zip(leaves, mask, strict=True) if not m]
    opt_leaves, opt_def = jax.tree.flatten(optimizer.init(as_dict(train)))
    opt_leaves = [jnp.array(x, copy=True) for x in opt_leaves]

    def step_fn(train: list[Any], opt: list[Any], fixed: list[Any], batch: Any) -> Any:
        def objective(t: dict[str, Any]) -> Any:
            value = loss(rebuild([t[p] for p in train_paths], fixed), batch)
            if jnp.shape(value) != ():
                raise TypeError(f"fit: loss must return a scalar, got shape {jnp.shape(value)}")
            return value

        t = as_dict(train)
        value, grads = jax.value_and_grad(objective)(t)
        updates, new_opt = optimizer.update(grads, opt_def.unflatten(opt), t)
        t = optax.apply_updates(t, updates)
        return [t[p] for p in train_paths], jax.tree.leaves(new_opt), value

    jit_kw: dict[str, Any] = {}
    if mesh is not None:  # sharded run: place the state, pin the step's output shardings
        opt_state = opt_def.unflatten(opt_leaves)
        placed = sharding.place_state(mesh, rules, train_paths, train, opt_state, frozen_leaves)
        train, opt_leaves, frozen_leaves, jit_kw["out_shardings"] = placed
        batches = sharding.sharded_batches(batches, mesh, rules)

    step = jax.jit(step_fn, donate_argnums=(0, 1), **jit_kw)

    history: dict[str, list[Any]] = {"loss": [], "eval": []}
    start = 0
    ck_path = Path(checkpoint) if checkpoint is not None else None
    if resume and ck_path is not None and ck_path.exists():
        if mesh is None:
            ck = _restore(ck_path, paths, mask, train, opt_leaves)
        else:
            like = {"train": train, "opt": opt_leaves, "frozen": frozen_leaves}
            ck = orbax_checkpoint.restore(ck_path, like, paths=paths, mask=mask)
        train = [jnp.asarray(x) for x in ck["train"]]
        opt_leaves = [jnp.asarray(x) for x in ck["opt"]]
        start, history = ck["step"], ck["history"]
        if progress:
            print(f"resumed from {ck_path} at step {start}", file=sys.stderr, flush=True)

    losses = _Losses(history["loss"], progress, steps)
    state = (train, opt_leaves, start)  # replaced in one assignment per step

    def save() -> None:
        assert ck_path is not None
        t, o, done = state
        snapshot = {"train": t, "opt": o, "frozen": frozen_leaves, "step": done}
        write = _save if mesh is None else orbax_checkpoint.save
        write(ck_path, {**snapshot, "paths": paths, "mask": mask, "history": history})

    try:
        for i in range(start, steps):
            out = step(state[0], state[1], frozen_leaves, batches(i))
            state = (out[0], out[1], i + 1)
            losses.pending.append(out[2])
            losses.n += 1
            done = i + 1
            at_log = log_every > 0 and done % log_every == 0
            at_eval = eval_fn is not None and eval_every > 0 and done % eval_every == 0
            at_ck = ck_path is not None and checkpoint_every > 0 and done % checkpoint_every == 0
            if at_log or at_eval or at_ck:
                losses.flush(log=at_log)
            if at_eval:
                assert eval_fn is not None
                value = _to_json(eval_fn(rebuild(state[0], frozen_leaves)))
                history["eval"].append({"step": done, "value": value})
                if progress:
                    print(f"step {done}/{steps}  eval {value}", file=sys.stderr, flush=True)
            if at_ck:
                save()
        losses.flush(log=losses.n > 0)
    except KeyboardInterrupt:
        if ck_path is not None and not any(x.is_deleted() for x in state[0] + state[1]):
            losses.flush(log=False)
            save()
            print(f"interrupted: saved {ck_path} at step {state[2]}", file=sys.stderr)
        raise
    if ck_path is not None:
        save()
    train, opt_leaves, done = state
    return FitResult(rebuild(train, frozen_leaves), opt_def.unflatten(opt_leaves), done, history)
