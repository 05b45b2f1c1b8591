"""Orbax checkpoints (``fit(..., mesh=...)``) held to the ``.npz`` file's standard:
every damaged or foreign folder is one ``CheckpointError`` line naming the
checkpoint and the problem, and an incomplete newer generation falls back to
the newest complete one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from backends.jax import fit, sharding
from backends.jax.training.checkpoint import CheckpointError, load_meta

MESH = sharding.make_mesh("1x1")


def sharded_fit(folder: Path, w: Any = None, **kw: Any) -> Any:
    kw.setdefault("steps", 4)
    return fit(
        lambda p, b: ((p["w"] - b) ** 2).sum(),
        {"w": jnp.full(3, 3.0) if w is None else w},
        lambda s: 1.0,
        optimizer=optax.adam(0.25),
        progress=False,
        mesh=MESH,
        checkpoint=folder,
        **kw,
    )


def bits(tree: Any) -> list[bytes]:
    return [np.asarray(a).tobytes() for a in jax.tree.leaves(tree)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    sharded_fit(path)
    assert [g.name for g in path.iterdir()] == ["0"]
    return path


def edit_meta(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        file = folder / "0" / "meta" / "metadata"
        meta = json.loads(file.read_text())
        change(meta)
        file.write_text(json.dumps(meta))

    return edit


DAMAGE: dict[str, tuple[Callable[[Path], Any], str]] = {
    "no sizes": (edit_meta(lambda m: m.pop("sizes")), "0/meta/metadata: metadata field 'sizes'"),
    "garbage": (
        lambda f: (f / "0" / "meta" / "metadata").write_text("{garbage"),
        "0/meta/metadata is unreadable: Expecting property name",
    ),
    "deleted metadata": (
        lambda f: (f / "0" / "meta" / "metadata").unlink(),
        "holds no complete Orbax checkpoint: no meta/metadata in",
    ),
    "history null": (
        edit_meta(lambda m: m.update(history=None)),
        "0/meta/metadata: metadata field 'history' must be",
    ),
    "step 15, 4 losses": (
        edit_meta(lambda m: m.update(step=15)),
        "0/meta/metadata: metadata field 'history' has 4 losses for step 15",
    ),
    "mask of ints": (
        edit_meta(lambda m: m.update(mask=[0])),
        "metadata field 'mask' must be a list of 1 booleans, got [0]",
    ),
    "another format": (
        edit_meta(lambda m: m.update(format="other/1")),
        "0/meta/metadata is not a fit checkpoint's (topos.fit.orbax/1)",
    ),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_bad_metadata_is_one_line_naming_the_file(folder: Path, kind: str) -> None:
    damage, message = DAMAGE[kind]
    damage(folder)
    with pytest.raises(CheckpointError, match=re.escape(message)) as info:
        load_meta(folder)
    assert "\n" not in str(info.value) and str(folder) in str(info.value)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        sharded_fit(folder, steps=20, resume=True)


def _overwrite_data(folder: Path) -> None:
    data = [f for f in (folder / "0" / "arrays" / "d").iterdir() if f.is_file()]
    assert data
    for f in data:
        f.write_bytes(b"\x00" * 100)


# Orbax's reader leaves an asyncio callback behind when a read fails ("Event loop is closed").
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    "damage",
    [_overwrite_data, lambda f: (f / "0" / "arrays" / "manifest.ocdbt").write_bytes(b"xx")],
)
def test_corrupt_data_files_are_one_line_errors(folder: Path, damage: Any) -> None:
    damage(folder)
    with pytest.raises(CheckpointError, match="the arrays of .*/run/0 are unreadable: ") as info:
        sharded_fit(folder, steps=6, resume=True)
    assert "\n" not in str(info.value)


def test_an_incomplete_newer_generation_falls_back_to_the_newest_complete(folder: Path) -> None:
    (folder / "12").mkdir()  # an empty generation beside the good "0"
    with pytest.warns(UserWarning, match="skipping the incomplete generations .*/run/12"):
        assert load_meta(folder)["step"] == 4
    with pytest.warns(UserWarning, match="incomplete generations"):
        resumed = sharded_fit(folder, steps=8, resume=True)
    whole = sharded_fit(folder.with_name("whole"), steps=8)
    assert bits(resumed.params) == bits(whole.params) and resumed.history == whole.history
    assert [g.name for g in folder.iterdir()] == ["13"]  # the next save replaced both
    assert load_meta(folder)["step"] == 8


def test_other_arrays_are_refused_not_cast(folder: Path) -> None:
    wanted = "^fit: the train arrays in the checkpoint .*/run/0 do not match this run"
    with pytest.raises(CheckpointError, match=wanted):
        sharded_fit(folder, w=jnp.full(3, 3.0, jnp.bfloat16), steps=6, resume=True)
    with pytest.raises(CheckpointError, match=wanted):
        sharded_fit(folder, w=jnp.full(4, 3.0), steps=6, resume=True)


def test_an_unwritable_folder_is_refused_before_training(tmp_path: Path) -> None:
    calls: list[int] = []

    def counted(step: int) -> float:
        calls.append(step)
        return 1.0

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CheckpointError, match="cannot write the checkpoint .*file/run"):
        fit(
            lambda p, b: ((p["w"] - b) ** 2).sum(),
            {"w": jnp.ones(3)},
            counted,
            optimizer=optax.sgd(0.1),
            steps=4,
            progress=False,
            mesh=MESH,
            checkpoint=tmp_path / "file" / "run",
        )
    assert calls == []  # no step was run, so no training was lost


def test_the_check_leaves_nothing_behind_and_an_empty_folder_is_no_checkpoint(
    tmp_path: Path,
) -> None:
    from backends.jax.training.checkpoint import check_target

    check_target(tmp_path / "a" / "b", orbax=True)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    with pytest.warns(UserWarning, match="no checkpoint at .*empty; starting from step 0"):
        assert sharded_fit(tmp_path / "empty", resume=True).step == 4
    assert load_meta(tmp_path / "empty")["step"] == 4
