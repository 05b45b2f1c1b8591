"""Checkpoints of sharded training state with Orbax: atomic, exact, onto any mesh.

``fit(..., mesh=...)`` writes here; ``fit`` without a mesh keeps its single
``.npz`` file (small runs, no dependency on Orbax's layout). A checkpoint is a
folder that Orbax's ``CheckpointManager`` fills with generations ``0, 1, 2, ...``:
each is written to a temporary folder and renamed when complete, and the older
generation is deleted only after that, so a reader always finds a whole
checkpoint, and the last complete generation is the one read. Each device
writes its own shards (no host gathers the model); reading places each array
with the sharding of a target, so a run saved on a ``4x2`` mesh resumes on
``2x4`` or on one device. Arrays are stored as they are (same dtype, no
conversion), so a resume is bit-identical.

>>> import tempfile, jax.numpy as jnp
>>> folder = tempfile.mkdtemp()
>>> state = {"train": [jnp.arange(3.0)], "opt": [], "frozen": [], "step": 7,
...          "paths": ["w"], "mask": [False], "history": {"loss": [], "eval": []}}
>>> save(folder, state)
>>> ck = restore(folder, {"train": [jnp.zeros(3)], "opt": [], "frozen": []})
>>> ck["step"], ck["train"][0].tolist()
(7, [0.0, 1.0, 2.0])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax

__all__ = ["FORMAT", "load_meta", "restore", "save"]

FORMAT = "topos.fit.orbax/1"
_GROUPS = ("train", "opt", "frozen")


def _ocp() -> Any:
    """Orbax, imported on first use: ``fit`` without a mesh never pays its import."""
    import orbax.checkpoint as ocp  # type: ignore[import-untyped]

    return ocp


def _manager(path: str | os.PathLike[str]) -> Any:
    ocp = _ocp()
    options = ocp.CheckpointManagerOptions(
        max_to_keep=1, create=True, enable_async_checkpointing=False
    )
    return ocp.CheckpointManager(Path(path).absolute(), options=options)


def _arrays(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The array groups as nested dicts (Orbax names folders by keys), empty ones left out."""
    return {g: {str(i): x for i, x in enumerate(state[g])} for g in _GROUPS if state[g]}


def save(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` (``fit``'s: ``train``, ``opt``, ``frozen`` array lists and ``step``,
    ``paths``, ``mask``, ``history``) as the next generation of the checkpoint ``path``.

    Args:
        path: the checkpoint folder (created if missing).
        state: the arrays (sharded or not) and the JSON metadata.
    """
    meta = {k: state[k] for k in ("step", "paths", "mask", "history")}
    meta["format"] = FORMAT
    meta["sizes"] = {g: len(state[g]) for g in _GROUPS}
    ocp = _ocp()
    with _manager(path) as mngr:
        latest = mngr.latest_step()
        generation = 0 if latest is None else latest + 1
        mngr.save(
            generation,
            args=ocp.args.Composite(
                arrays=ocp.args.StandardSave(_arrays(state)), meta=ocp.args.JsonSave(meta)
            ),
        )
        mngr.wait_until_finished()


def load_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of the last complete generation: ``step``, ``paths``, ``mask``, ...

    Raises ``ValueError`` when ``path`` holds no checkpoint written by ``save``.
    """
    ocp = _ocp()
    with _manager(path) as mngr:
        generation = mngr.latest_step()
        if generation is None:
            raise ValueError(f"checkpoint: {path} holds no complete Orbax checkpoint")
        meta = mngr.restore(generation, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
    out = dict(meta["meta"])
    if out.get("format") != FORMAT:
        raise ValueError(f"checkpoint: {path} is not a fit checkpoint ({FORMAT})")
    return out


def _target(x: Any) -> jax.ShapeDtypeStruct:
    sharding = getattr(x, "sharding", None)
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)  # type: ignore[no-untyped-call]


def restore(
    path: str | os.PathLike[str],
    like: dict[str, list[Any]],
    *,
    paths: list[str] | None = None,
    mask: list[bool] | None = None,
) -> dict[str, Any]:
    """Read the last complete generation of ``path``, each array placed like ``like``'s.

    ``like`` has the ``train``, ``opt`` and ``frozen`` lists of this run: arrays or
    ``jax.ShapeDtypeStruct`` with the shardings wanted (any mesh, or one device).
    Returns the metadata with those three lists filled from the checkpoint.

    Args:
        path: the checkpoint folder.
        like: the arrays (or shapes with shardings) the restored ones should match.
        paths: when given, the parameter paths the checkpoint must be for.
        mask: when given, which of them must be frozen.
    """
    meta = load_meta(path)
    if (paths is not None and meta["paths"] != paths) or (
        mask is not None and meta["mask"] != mask
    ):
        raise ValueError(
            f"fit: the checkpoint {path} is for parameters {meta['paths']} (frozen mask"
            f" {meta['mask']}), not {paths} (frozen mask {mask})"
        )
    sizes = meta["sizes"]
    for g in _GROUPS:
        if sizes[g] != len(like[g]):
            raise ValueError(
                f"checkpoint: {path} has {sizes[g]} {g} arrays, this run has {len(like[g])}"
                " (another model or optimiser?)"
            )
    target = jax.tree.map(_target, _arrays(like))
    ocp = _ocp()
    with _manager(path) as mngr:
        got = mngr.restore(
            mngr.latest_step(),
            args=ocp.args.Composite(arrays=ocp.args.StandardRestore(target)),
        )["arrays"]
    out = dict(meta)
    for g in _GROUPS:
        out[g] = [got[g][str(i)] for i in range(sizes[g])] if sizes[g] else []
    return out
