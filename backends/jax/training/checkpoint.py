"""Checkpoints of a training run: one ``.npz`` file, or an Orbax folder (sharded).

Both formats hold the same thing, a ``TrainState.snapshot()``: the ``train``,
``opt`` and ``frozen`` array lists (stacked layout), ``step``, ``paths``,
``mask`` and ``history``. One interface reads and writes them:

- ``check_target(path, orbax=...)``: refuse an unusable path before any training;
- ``save(path, state, orbax=...)``: write the file (``orbax=False``) or the next
  generation of the folder (``orbax=True``, what ``fit(..., mesh=...)`` writes;
  no default: every call says which);
- ``restore(path, like, paths=..., mask=...)``: read either back, checked against
  this run (a folder is read by Orbax, a file is the ``.npz``);
- ``load_checkpoint(path)``: the ``.npz`` file exactly as saved, as NumPy arrays;
  ``load_meta(path)``: the metadata of an Orbax folder.

Every problem is a ``CheckpointError``, one line naming the file.

**The file** (``fit`` without a mesh: small runs, no dependency on Orbax's layout)
is ``numpy.savez`` of the raw bytes of each array and JSON metadata, written to
a temporary file then renamed (``os.replace``), so a reader sees the old
checkpoint or the new one. Arrays keep their dtype, so a resume is bit-identical.

**The folder** is filled by Orbax's ``CheckpointManager`` with generations
``0, 1, 2, ...``: each is written to a temporary folder and renamed when
complete, and the older generation is deleted only after that, so a reader
always finds a whole checkpoint, and the last complete generation is the one
read. Each device writes its own shards (no host gathers the model); reading
places each array with the sharding of ``like``, so a run saved on a ``4x2``
mesh resumes on ``2x4`` or on one device. Arrays are stored as they are, so a
resume on the same mesh is bit-identical.

>>> import tempfile, jax.numpy as jnp
>>> state = {"train": [jnp.arange(3.0)], "opt": [], "frozen": [], "step": 0,
...          "paths": ["w"], "mask": [False], "history": {"loss": [], "eval": []}}
>>> like = {"train": [jnp.zeros(3)], "opt": [], "frozen": []}
>>> file = Path(tempfile.mkdtemp()) / "run.ckpt"
>>> save(file, state, orbax=False)
>>> restore(file, like)["train"][0].tolist()
[0.0, 1.0, 2.0]
>>> folder = tempfile.mkdtemp()
>>> save(folder, {**state, "step": 2, "history": {"loss": [0.5, 0.25], "eval": []}},
...      orbax=True)
>>> ck = restore(folder, like)
>>> ck["step"], ck["train"][0].tolist()
(2, [0.0, 1.0, 2.0])
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax.training.state import FitResult

__all__ = [
    "FORMAT",
    "NPZ_FORMAT",
    "CheckpointError",
    "check_target",
    "load_checkpoint",
    "load_meta",
    "restore",
    "save",
]

NPZ_FORMAT = "topos.fit/1"
FORMAT = "topos.fit.orbax/1"
_GROUPS = ("train", "opt", "frozen")

Pathish = str | os.PathLike[str]


# -- errors ---------------------------------------------------------------------------


class CheckpointError(ValueError):
    """A checkpoint cannot be read or written; the message is one line naming the file.

    When a save fails after training started, ``result`` is the ``FitResult``
    reached (params, optimiser state, step, history); otherwise it is ``None``.

    >>> try:
    ...     load_checkpoint("/nonexistent/r.ckpt")
    ... except CheckpointError as err:
    ...     print(err, err.result)
    load_checkpoint: no checkpoint at /nonexistent/r.ckpt None

    Args:
        message: the one-line description.
        result: the state a failed save kept, or ``None``.
    """

    def __init__(self, message: str, result: FitResult | None = None) -> None:
        super().__init__(message)
        self.result = result


def reason(err: BaseException) -> str:
    """The first line of ``err``, or the OS's words for it (``No space left on device``).

    >>> reason(OSError(28, "No space left on device"))
    'No space left on device'

    Args:
        err: the exception.

    Returns:
        One line.
    """
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _check_params(
    path: Path, saved: Mapping[str, Any], paths: list[str] | None, mask: list[bool] | None
) -> None:
    """Refuse a checkpoint of other parameters (or of other frozen ones)."""
    if (paths is None or saved["paths"] == paths) and (mask is None or saved["mask"] == mask):
        return
    theirs = [p for p, m in zip(saved["paths"], saved["mask"], strict=True) if m]
    ours = [p for p, m in zip(paths or [], mask or [], strict=False) if m]
    raise CheckpointError(
        f"fit: the checkpoint {path} is for parameters {saved['paths']} (frozen {theirs}),"
        f" not {paths} (frozen {ours})"
    )


# -- the interface --------------------------------------------------------------------


def check_target(path: Pathish, *, orbax: bool = False) -> None:
    """Refuse a checkpoint path that cannot be used, before any training.

    A file checkpoint must not be a folder, and its folder must be writable; an
    Orbax checkpoint is a folder, so an existing file there is refused, and the
    folder (or the nearest one above it that exists) must be writable.

    >>> try:
    ...     check_target("/")
    ... except CheckpointError as err:
    ...     print(err)
    fit: the checkpoint path / is a folder; give a file path, e.g. /checkpoint

    Args:
        path: where the checkpoint will be written.
        orbax: ``True`` for an Orbax folder (``fit(..., mesh=...)``).

    Raises:
        CheckpointError: naming the path and the problem.
    """
    path = Path(path)
    if orbax and path.exists() and not path.is_dir():
        raise CheckpointError(
            f"fit: the checkpoint path {path} is a file; a sharded run (mesh=) writes an"
            " Orbax folder there: give a folder path"
        )
    if not orbax and path.is_dir():
        raise CheckpointError(
            f"fit: the checkpoint path {path} is a folder; give a file path,"
            f" e.g. {path / 'checkpoint'}"
        )
    try:
        if orbax:  # Orbax creates the folder at the first save; leave none behind
            made = [p for p in (path, *path.parents) if not p.exists()]
            _probe(path, path / ".probe.tmp")
            for p in made:
                p.rmdir()
        else:
            _probe(path.parent, path.with_name(path.name + ".tmp"))
    except OSError as err:
        raise CheckpointError(f"fit: cannot write the checkpoint {path}: {reason(err)}") from None


def _probe(folder: Path, probe: Path) -> None:
    """Create ``folder`` if missing, and write and delete the file ``probe`` in it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(probe, "wb"):
        pass
    probe.unlink()


def save(path: Pathish, state: Mapping[str, Any], *, orbax: bool) -> None:
    """Write ``state`` (a ``TrainState.snapshot()``) to the checkpoint ``path``.

    See the module docstring for an example.

    Args:
        path: the file (``orbax=False``) or folder (``orbax=True``, created if missing).
        state: the ``train``, ``opt`` and ``frozen`` array lists (sharded or not) and
            the JSON metadata ``step``, ``paths``, ``mask``, ``history``.
        orbax: ``True`` for the next generation of an Orbax folder, ``False`` for one file.

    Raises:
        OSError: the disk refused (the previous checkpoint is intact).
    """
    if orbax:
        _save_orbax(Path(path), state)
    else:
        _save_npz(Path(path), state)


def restore(
    path: Pathish,
    like: Mapping[str, Sequence[Any]],
    *,
    paths: list[str] | None = None,
    mask: list[bool] | None = None,
) -> dict[str, Any]:
    """Read the checkpoint ``path``, checked against this run's arrays ``like``.

    A folder is an Orbax checkpoint: each array is placed like ``like``'s
    (arrays or ``jax.ShapeDtypeStruct`` with the shardings wanted, on any mesh).
    A file is the ``.npz``: its arrays come back as NumPy arrays, and the
    ``train`` and ``opt`` ones must have ``like``'s shapes and dtypes.
    See the module docstring for an example.

    Args:
        path: the checkpoint file or folder.
        like: this run's ``train``, ``opt`` and ``frozen`` lists (stacked layout).
        paths: when given, the parameter paths the checkpoint must be for.
        mask: when given, which of them must be frozen.

    Returns:
        The metadata (``step``, ``paths``, ``mask``, ``history``, ...) with the
        ``train``, ``opt`` and ``frozen`` lists filled from the checkpoint.

    Raises:
        CheckpointError: the checkpoint is unreadable or of another run.
    """
    path = Path(path)
    if path.is_dir():
        return _restore_orbax(path, like, paths, mask)
    return _restore_npz(path, like, paths, mask)


# -- the .npz file ----------------------------------------------------------------------


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


def _save_npz(path: Path, state: Mapping[str, Any]) -> None:
    groups = {name: _encode(state[name]) for name in _GROUPS}
    meta = {
        "format": NPZ_FORMAT,
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


def load_checkpoint(path: Pathish) -> dict[str, Any]:
    """Read a checkpoint file written by ``fit``, exactly as saved.

    A file that is not such a checkpoint (empty, truncated, another format, bad
    metadata) raises ``CheckpointError``, one line naming the file and the problem.

    >>> import tempfile, jax.numpy as jnp, optax
    >>> from backends.jax.training import fit
    >>> path = Path(tempfile.mkdtemp()) / "run.ckpt"
    >>> _ = fit(lambda p, b: (p["w"] ** 2).sum(), {"w": jnp.ones(2)}, lambda s: 0,
    ...         optimizer=optax.sgd(0.1), steps=3, checkpoint=path, progress=False)
    >>> ck = load_checkpoint(path)
    >>> ck["step"], ck["paths"], [round(v, 3) for v in ck["train"][0].tolist()]
    (3, ['w'], [0.512, 0.512])

    Args:
        path: the ``.npz`` checkpoint file.

    Returns:
        ``{"step", "paths", "mask", "history", "train", "opt", "frozen", ...}`` with
        the arrays as NumPy arrays.

    Raises:
        CheckpointError: no such file, a folder, or not a readable fit checkpoint.
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
            f" another kind of file: {reason(err)})"
        ) from None
    _check_meta(path, meta)
    out = dict(meta)
    for name in _GROUPS:
        out[name] = [_array(path, raw, f"{name}/{i}", m) for i, m in enumerate(meta[name])]
    return out


def _bad(op: str, file: Path, field: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{op}: {file}: metadata field {field!r} {problem}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_meta(path: Path, meta: Any) -> None:
    """Every metadata field of the ``.npz`` file, with its type and range."""
    if not isinstance(meta, dict) or meta.get("format") != NPZ_FORMAT:
        raise CheckpointError(f"load_checkpoint: {path} is not a fit checkpoint ({NPZ_FORMAT})")
    _check_run_meta("load_checkpoint", path, meta)
    for name in _GROUPS:
        arrays = meta.get(name)
        if not isinstance(arrays, list) or not all(_array_meta_ok(m) for m in arrays):
            raise _bad(
                "load_checkpoint", path, name, "must be a list of {'dtype': ..., 'shape': [...]}"
            )
    _check_counts("load_checkpoint", path, meta["mask"], len(meta["train"]), len(meta["frozen"]))


def _check_run_meta(op: str, file: Path, meta: dict[str, Any]) -> None:
    """The fields both formats hold (``step``, ``paths``, ``mask``, ``history``), checked
    in place; one ``CheckpointError`` line naming ``file`` and the field."""
    step = meta.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise _bad(op, file, "step", f"must be an int >= 0, got {step!r}")
    paths, mask = meta.get("paths"), meta.get("mask")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise _bad(op, file, "paths", f"must be a list of strings, got {paths!r}")
    if (
        not isinstance(mask, list)
        or len(mask) != len(paths)
        or not all(isinstance(m, bool) for m in mask)
    ):
        raise _bad(op, file, "mask", f"must be a list of {len(paths)} booleans, got {mask!r}")
    history = meta.get("history")
    if (
        not isinstance(history, dict)
        or not isinstance(history.get("loss"), list)
        or not isinstance(history.setdefault("eval", []), list)
    ):
        raise _bad(op, file, "history", "must be {'loss': [...], 'eval': [...]}")
    if len(history["loss"]) != step:
        raise _bad(op, file, "history", f"has {len(history['loss'])} losses for step {step}")


def _check_counts(op: str, file: Path, mask: list[bool], train: int, frozen: int) -> None:
    if train != mask.count(False) or frozen != mask.count(True):
        raise _bad(op, file, "mask", "does not match the number of train and frozen arrays")


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


def _restore_npz(
    path: Path,
    like: Mapping[str, Sequence[Any]],
    paths: list[str] | None,
    mask: list[bool] | None,
) -> dict[str, Any]:
    ck = load_checkpoint(path)
    _check_params(path, ck, paths, mask)
    for name in ("train", "opt"):  # the frozen leaves a run uses are its own params'
        saved, now = ck[name], like[name]
        if len(saved) != len(now) or any(
            s.shape != tuple(np.shape(x)) or s.dtype != jnp.dtype(x.dtype)
            for s, x in zip(saved, now, strict=True)
        ):
            raise CheckpointError(
                f"fit: the {name} arrays in the checkpoint {path} do not match this run"
                " (another model or optimiser?)"
            )
    return ck


# -- the Orbax folder -------------------------------------------------------------------


def _ocp() -> Any:
    """Orbax, imported on first use: ``fit`` without a mesh never pays its import."""
    import orbax.checkpoint as ocp  # type: ignore[import-untyped]

    return ocp


#: Where, in a generation, the JSON metadata is (``JsonSave`` of the item ``meta``).
_META_FILE = Path("meta", "metadata")


def _manager(path: Pathish, *, write: bool) -> Any:
    """Orbax's manager of the folder ``path``: it creates the folder only to write."""
    ocp = _ocp()
    options = ocp.CheckpointManagerOptions(
        max_to_keep=1, create=write, enable_async_checkpointing=False
    )
    handlers = {"arrays": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(Path(path).absolute(), options=options, item_handlers=handlers)


def _arrays(state: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """The array groups as nested dicts (Orbax names folders by keys), empty ones left out."""
    return {g: {str(i): x for i, x in enumerate(state[g])} for g in _GROUPS if state[g]}


def _save_orbax(path: Path, state: Mapping[str, Any]) -> None:
    meta = {k: state[k] for k in ("step", "paths", "mask", "history")}
    meta["format"] = FORMAT
    meta["sizes"] = {g: len(state[g]) for g in _GROUPS}
    ocp = _ocp()
    with _manager(path, write=True) as mngr:
        latest = mngr.latest_step()
        generation = 0 if latest is None else latest + 1
        mngr.save(
            generation,
            args=ocp.args.Composite(
                arrays=ocp.args.StandardSave(_arrays(state)), meta=ocp.args.JsonSave(meta)
            ),
        )
        mngr.wait_until_finished()


def load_meta(path: Pathish) -> dict[str, Any]:
    """The metadata of the last complete generation of the Orbax folder ``path``.

    A generation without its metadata file (an empty folder, a copy cut short)
    is incomplete: it is skipped with a warning and the newest complete one is
    read, which a resume continues exactly as it would the newer one. Every
    field is checked as ``load_checkpoint`` checks the file's.

    >>> import tempfile, jax.numpy as jnp
    >>> folder = tempfile.mkdtemp()
    >>> save(folder, {"train": [jnp.ones(2)], "opt": [], "frozen": [], "step": 2,
    ...               "paths": ["w"], "mask": [False],
    ...               "history": {"loss": [1.0, 0.5], "eval": []}}, orbax=True)
    >>> meta = load_meta(folder)
    >>> meta["step"], meta["paths"], meta["sizes"]
    (2, ['w'], {'train': 1, 'opt': 0, 'frozen': 0})

    Args:
        path: the checkpoint folder.

    Returns:
        ``step``, ``paths``, ``mask``, ``history``, ``format`` and ``sizes`` (the
        number of arrays of each group).

    Raises:
        CheckpointError: ``path`` holds no complete checkpoint written by
            ``save(..., orbax=True)``, or its metadata is unreadable or wrong
            (one line naming the file and the field).
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"load_meta: no checkpoint folder at {path}")
    with _manager(path, write=False) as mngr:
        _, meta = _read_meta(path, mngr)
    return meta


def _generation(path: Path, mngr: Any) -> int:
    """The newest complete generation; incomplete newer ones are skipped with a warning."""
    generations = sorted(mngr.all_steps(), reverse=True)
    complete = [g for g in generations if (path / str(g) / _META_FILE).is_file()]
    if not complete:
        if not generations:
            raise CheckpointError(f"load_meta: {path} holds no Orbax checkpoint")
        raise CheckpointError(
            f"load_meta: {path} holds no complete Orbax checkpoint: no {_META_FILE} in"
            f" {', '.join(str(path / str(g)) for g in generations)}"
        )
    skipped = [str(path / str(g)) for g in generations if g > complete[0]]
    if skipped:
        warnings.warn(
            f"checkpoint: skipping the incomplete generations {', '.join(skipped)}"
            f" (no {_META_FILE}); reading {path / str(complete[0])}",
            stacklevel=4,
        )
    return int(complete[0])


def _read_meta(path: Path, mngr: Any) -> tuple[int, dict[str, Any]]:
    """The newest complete generation and its metadata, checked."""
    generation = _generation(path, mngr)
    file = path / str(generation) / _META_FILE
    ocp = _ocp()
    try:
        meta = mngr.restore(generation, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        meta = meta["meta"]
    except (OSError, ValueError, KeyError) as err:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"load_meta: {file} is unreadable: {reason(err)}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"load_meta: {file} is not a fit checkpoint's ({FORMAT})")
    _check_run_meta("load_meta", file, meta)
    sizes = meta.get("sizes")
    if not isinstance(sizes, dict) or not all(
        _is_int(sizes.get(g)) and sizes[g] >= 0 for g in _GROUPS
    ):
        wanted = "must be {'train': n, 'opt': n, 'frozen': n}"
        raise _bad("load_meta", file, "sizes", f"{wanted}, got {sizes!r}")
    _check_counts("load_meta", file, meta["mask"], sizes["train"], sizes["frozen"])
    return generation, dict(meta)


def _target(x: Any) -> jax.ShapeDtypeStruct:
    sharding = getattr(x, "sharding", None)
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)  # type: ignore[no-untyped-call]


def _check_stored(
    where: Path, stored: Mapping[str, Any], like: Mapping[str, Sequence[Any]]
) -> None:
    """The arrays Orbax holds have this run's shapes, and dtypes for ``train`` and ``opt``
    (Orbax would silently cast them, and refuses other shapes in its own words)."""
    for g in _GROUPS:
        saved = [stored[g][str(i)] for i in range(len(like[g]))] if like[g] else []
        if any(
            tuple(s.shape) != tuple(np.shape(x))
            or (g != "frozen" and jnp.dtype(s.dtype) != jnp.dtype(x.dtype))
            for s, x in zip(saved, like[g], strict=True)
        ):
            raise CheckpointError(
                f"fit: the {g} arrays in the checkpoint {where} do not match this run"
                " (another model or optimiser?)"
            )


def _unreadable(where: Path, err: BaseException) -> CheckpointError:
    return CheckpointError(f"checkpoint: the arrays of {where} are unreadable: {reason(err)}")


def _restore_orbax(
    path: Path,
    like: Mapping[str, Sequence[Any]],
    paths: list[str] | None,
    mask: list[bool] | None,
) -> dict[str, Any]:
    ocp = _ocp()
    with _manager(path, write=False) as mngr:
        generation, meta = _read_meta(path, mngr)
        _check_params(path, meta, paths, mask)
        sizes = meta["sizes"]
        for g in _GROUPS:
            if sizes[g] != len(like[g]):
                raise CheckpointError(
                    f"checkpoint: {path} has {sizes[g]} {g} arrays, this run has {len(like[g])}"
                    " (another model or optimiser?)"
                )
        where = path / str(generation)
        try:
            stored = mngr.item_metadata(generation)["arrays"].tree
        except (OSError, ValueError, KeyError, AttributeError) as err:
            raise _unreadable(where, err) from None
        _check_stored(where, stored, like)
        try:
            got = mngr.restore(
                generation,
                args=ocp.args.Composite(
                    arrays=ocp.args.StandardRestore(jax.tree.map(_target, _arrays(like)))
                ),
            )["arrays"]
        except (OSError, ValueError, KeyError) as err:  # tensorstore's errors are ValueErrors
            raise _unreadable(where, err) from None
    out = dict(meta)
    for g in _GROUPS:
        out[g] = [got[g][str(i)] for i in range(sizes[g])] if sizes[g] else []
    return out
