"""fit: optax training, frozen paths, NaN detection, evaluation, exact checkpoints."""

from __future__ import annotations

import importlib
import io
import re
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _jaxref import mlp

from backends.jax import apply, batched, fit, init, load_checkpoint
from backends.jax.training import TokenIdError, leaf_paths
from backends.jax.training.fit import CheckpointError, DivergedError, EvalValueError
from backends.jax.training.lenses import Objective, cross_entropy
from backends.jax.training.step import host_checked
from topos.nn.decoder import language_model
from topos.nn.layers import embedding
from topos.objects import Fin, R

KEY = jax.random.key(0)
NET = mlp(2, 8, 1)
RUN = batched(NET)


def loss(p: dict[str, jax.Array], batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    return jnp.mean((RUN(p, batch[0]) - batch[1]) ** 2)


def batches(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(step)  # a function of the step: resumable exactly
    x = rng.uniform(-1, 1, size=(16, 2)).astype(np.float32)
    return x, (x[:, :1] * x[:, 1:]).astype(np.float32)


def bits(tree: Any) -> list[bytes]:
    return [np.asarray(a).tobytes() for a in jax.tree.leaves(tree)]


def test_resume_from_a_checkpoint_is_bit_identical(tmp_path: Path) -> None:
    params = init(NET, KEY)
    opt = optax.adam(1e-2)
    full = fit(loss, params, batches, optimizer=opt, steps=12, progress=False)
    path = tmp_path / "run.ckpt"
    first = fit(loss, params, batches, optimizer=opt, steps=5, checkpoint=path, progress=False)
    assert first.step == 5 and load_checkpoint(path)["step"] == 5
    resumed = fit(
        loss, params, batches, optimizer=opt, steps=12, checkpoint=path, resume=True, progress=False
    )
    assert resumed.step == 12
    assert bits(resumed.params) == bits(full.params)
    assert bits(resumed.opt_state) == bits(full.opt_state)
    assert resumed.history == full.history
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, nothing left behind


def test_keyboard_interrupt_saves_a_checkpoint_to_resume_from(tmp_path: Path) -> None:
    params = init(NET, KEY)
    opt = optax.sgd(0.1, momentum=0.9)
    full = fit(loss, params, batches, optimizer=opt, steps=10, progress=False)
    path = tmp_path / "ck" / "state.npz"

    def interrupted(step: int) -> Any:
        if step == 7:
            raise KeyboardInterrupt
        return batches(step)

    with pytest.raises(KeyboardInterrupt):
        fit(
            loss,
            params,
            interrupted,
            optimizer=opt,
            steps=10,
            checkpoint=path,
            checkpoint_every=3,
            progress=False,
        )
    assert load_checkpoint(path)["step"] == 7
    resumed = fit(
        loss, params, batches, optimizer=opt, steps=10, checkpoint=path, resume=True, progress=False
    )
    assert bits(resumed.params) == bits(full.params) and resumed.history == full.history


def test_resume_without_a_checkpoint_starts_fresh_and_mismatches_are_refused(
    tmp_path: Path,
) -> None:
    params = init(NET, KEY)
    path = tmp_path / "none.ckpt"
    with pytest.warns(UserWarning, match="no checkpoint at .*none.ckpt; starting from step 0"):
        fresh = fit(
            loss,
            params,
            batches,
            optimizer=optax.sgd(0.1),
            steps=3,
            checkpoint=path,
            resume=True,
            progress=False,
        )
    assert fresh.step == 3 and path.exists()
    with pytest.raises(ValueError, match="the checkpoint .* is for parameters"):
        fit(
            loss,
            params,
            batches,
            optimizer=optax.sgd(0.1),
            steps=4,
            checkpoint=path,
            resume=True,
            frozen=["l0"],
            progress=False,
        )
    with pytest.raises(ValueError, match="opt arrays in the checkpoint"):
        fit(
            loss,
            params,
            batches,
            optimizer=optax.adam(0.1),
            steps=4,
            checkpoint=path,
            resume=True,
            progress=False,
        )


def test_frozen_paths_stay_bit_identical() -> None:
    params = init(NET, KEY)
    result = fit(
        loss,
        params,
        batches,
        optimizer=optax.adamw(1e-1, weight_decay=0.1),
        steps=20,
        frozen=["l0", "l1.b"],
        progress=False,
    )
    for k in ("l0.w", "l0.b", "l1.b"):
        assert np.asarray(result.params[k]).tobytes() == np.asarray(params[k]).tobytes()
    assert not np.array_equal(result.params["l1.w"], params["l1.w"])
    assert set(result.opt_state[0].mu) == {"l1.w"}  # the optimiser never sees frozen leaves
    with pytest.raises(ValueError, match="frozen path 'l7' matches no parameter"):
        fit(loss, params, batches, optimizer=optax.sgd(0.1), steps=1, frozen=["l7"])


def test_the_callers_params_survive_donation() -> None:
    params = init(NET, KEY)
    before = bits(params)
    fit(loss, params, batches, optimizer=optax.sgd(0.1), steps=3, progress=False)
    assert bits(params) == before


def test_a_nan_loss_names_the_first_bad_step() -> None:
    def fragile(p: dict[str, jax.Array], batch: float) -> jax.Array:
        return jnp.log(batch) + 0.0 * p["w"].sum()

    with pytest.raises(FloatingPointError, match="the loss is nan at step 6"):
        fit(
            fragile,
            {"w": jnp.ones(2)},
            lambda s: 1.0 if s < 6 else -1.0,
            optimizer=optax.sgd(0.1),
            steps=20,
            log_every=10,
            progress=False,
        )
    with pytest.raises(FloatingPointError, match="the loss is inf at step 2"):
        fit(
            lambda p, b: p["w"].sum() / b,
            {"w": jnp.ones(2)},
            lambda s: float(2 - s),
            optimizer=optax.sgd(0.1),
            steps=3,
            log_every=0,
            progress=False,
        )


def test_a_nan_loss_keeps_the_last_finite_state() -> None:
    params = init(NET, KEY)
    opt = optax.adam(1e-2)

    def poisoned(step: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = batches(step)
        return x, (y * np.nan if step == 6 else y)  # step 6's loss is nan, the rest finite

    with pytest.raises(DivergedError, match="the loss is nan at step 6") as info:
        fit(loss, params, poisoned, optimizer=opt, steps=20, log_every=10, progress=False)
    assert isinstance(info.value, FloatingPointError)  # except FloatingPointError still works
    kept = info.value.result
    six = fit(loss, params, batches, optimizer=opt, steps=6, progress=False)
    assert kept.step == 6 and kept.history["loss"] == six.history["loss"]
    assert bits(kept.params) == bits(six.params)  # steps 7..9 of the window moved nothing
    assert bits(kept.opt_state) == bits(six.opt_state)


def test_eval_values_are_json_or_refused_with_the_state(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"

    def metrics(p: Any) -> Any:
        w = p["w"]
        return {"w": w, "f32": jnp.float32(0.5), "i64": np.int64(3), "bf16": w.astype(jnp.bfloat16)}

    result = scalar_fit(checkpoint=path, eval_fn=metrics, eval_every=2)
    value = result.history["eval"][-1]["value"]
    assert value == {"w": value["w"], "f32": 0.5, "i64": 3, "bf16": value["bf16"]}
    assert all(type(v) in (float, int) for v in value.values())  # Python numbers, not arrays
    assert load_checkpoint(path)["history"] == result.history
    for bad, named in ((object(), "object"), (jnp.array(1j), "ArrayImpl of complex64")):
        with pytest.raises(
            EvalValueError, match=f"eval_fn returned a value of type {named} at step 2"
        ):
            scalar_fit(checkpoint=tmp_path / "bad.ckpt", eval_fn=lambda p, v=bad: v, eval_every=2)
    with pytest.raises(TypeError, match="eval_fn returned") as info:  # a TypeError, with the state
        scalar_fit(eval_fn=lambda p: {"ok": 1.0, "bad": {1, 2}}, eval_every=3, steps=5)
    assert info.value.result.step == 3 and len(info.value.result.history["loss"]) == 3


def test_progress_and_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    params = init(NET, KEY)
    x, y = batches(10_000)
    result = fit(
        loss,
        params,
        batches,
        optimizer=optax.adam(1e-2),
        steps=20,
        log_every=10,
        eval_fn=lambda p: loss(p, (x, y)),
        eval_every=5,
    )
    err = capsys.readouterr().err.splitlines()
    assert [line.split()[1] for line in err if "loss" in line] == ["10/20", "20/20"]
    assert "steps/s" in err[-1] or "steps/s" in err[-2]
    assert [e["step"] for e in result.history["eval"]] == [5, 10, 15, 20]
    assert all(isinstance(e["value"], float) for e in result.history["eval"])
    assert len(result.history["loss"]) == 20


def test_argument_errors() -> None:
    params = {"w": jnp.ones(2)}
    with pytest.raises(TypeError, match="loss must return a scalar, got shape \\(2,\\)"):
        fit(lambda p, b: p["w"], params, lambda s: 0, optimizer=optax.sgd(0.1), steps=1)
    with pytest.raises(TypeError, match="steps must be an int"):
        fit(lambda p, b: p["w"].sum(), params, lambda s: 0, optimizer=optax.sgd(0.1), steps=-1)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint"):
        fit(
            lambda p, b: p["w"].sum(),
            params,
            lambda s: 0,
            optimizer=optax.sgd(0.1),
            steps=1,
            resume=True,
        )
    with pytest.raises(TypeError, match=r"params\['n'\] is not an array"):
        fit(
            lambda p, b: p["w"].sum(),
            {"w": jnp.ones(2), "n": 3},
            lambda s: 0,
            optimizer=optax.sgd(0.1),
            steps=1,
        )


def test_leaf_paths_of_a_params_dict_are_its_keys() -> None:
    params = init(NET, KEY)
    assert sorted(leaf_paths(params)) == sorted(params)


# -- checkpoint paths and files (issue 11, items 4 and 6) -----------------------------

SCALAR = {"w": jnp.array(3.0)}


def scalar_fit(**kw: Any) -> Any:
    kw.setdefault("steps", 4)
    return fit(
        lambda p, b: (p["w"] - b) ** 2,
        SCALAR,
        lambda s: 1.0,
        optimizer=optax.sgd(0.25),
        progress=False,
        **kw,
    )


def test_a_folder_as_checkpoint_is_refused_before_training(tmp_path: Path) -> None:
    calls: list[int] = []

    def counted(step: int) -> Any:
        calls.append(step)
        return 1.0

    (tmp_path / "checkpoint").mkdir()
    with pytest.raises(CheckpointError, match="checkpoint path .*checkpoint is a folder"):
        fit(
            lambda p, b: (p["w"] - b) ** 2,
            SCALAR,
            counted,
            optimizer=optax.sgd(0.25),
            steps=4,
            checkpoint=tmp_path / "checkpoint",
            progress=False,
        )
    assert calls == []  # no step was run, so no training was lost


def test_an_unwritable_checkpoint_folder_is_refused_before_training(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CheckpointError, match="cannot write the checkpoint .*file/run.ckpt"):
        scalar_fit(checkpoint=tmp_path / "file" / "run.ckpt")


def test_a_file_as_a_sharded_checkpoint_is_refused_before_training(tmp_path: Path) -> None:
    from backends.jax import sharding

    (tmp_path / "run.ckpt").write_text("a file, not an Orbax folder")
    with pytest.raises(CheckpointError, match="run.ckpt is a file; a sharded run"):
        scalar_fit(checkpoint=tmp_path / "run.ckpt", mesh=sharding.make_mesh("1x1"))


def test_a_save_that_fails_later_keeps_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint_module = importlib.import_module("backends.jax.training.checkpoint")

    real = checkpoint_module._save_npz

    def full_disk(path: Path, state: dict[str, Any]) -> None:
        if state["step"] >= 4:
            raise OSError(28, "No space left on device")
        real(path, state)

    monkeypatch.setattr(checkpoint_module, "_save_npz", full_disk)
    path = tmp_path / "run.ckpt"
    with pytest.raises(CheckpointError, match="No space left on device") as info:
        scalar_fit(checkpoint=path, checkpoint_every=2)
    assert "at step 4" in str(info.value) and ".result" in str(info.value)
    kept = info.value.result
    assert kept is not None and kept.step == 4 and len(kept.history["loss"]) == 4
    expected = scalar_fit()
    assert bits(kept.params) == bits(expected.params)
    assert load_checkpoint(path)["step"] == 2  # the last good checkpoint is intact


def test_a_save_that_fails_in_any_way_keeps_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint_module = importlib.import_module("backends.jax.training.checkpoint")

    def broken(path: Path, state: dict[str, Any]) -> None:
        raise ValueError("the writer broke")

    monkeypatch.setattr(checkpoint_module, "_save_npz", broken)
    with pytest.raises(CheckpointError, match="at step 4: the writer broke") as info:
        scalar_fit(checkpoint=tmp_path / "run.ckpt")
    assert info.value.result is not None and info.value.result.step == 4


def _garbage(path: Path, kind: str) -> None:
    good = path.with_name("good.ckpt")
    scalar_fit(checkpoint=good)
    data = good.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(b"\x93NUMPY garbage" * 50)
    elif kind == "pickle":
        np.save(path.open("wb"), np.array([object()], dtype=object), allow_pickle=True)
    elif kind == "npy":
        np.save(path.open("wb"), np.arange(3))


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "pickle", "npy"])
def test_unreadable_checkpoints_are_one_line_errors(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "run.ckpt"
    _garbage(path, kind)
    with pytest.raises(CheckpointError, match="run.ckpt is not a readable fit checkpoint") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="run.ckpt"):
        scalar_fit(checkpoint=path, resume=True)


def _rewrite_meta(path: Path, **changes: Any) -> None:
    import json

    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    for key, value in changes.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"step": -5}, "'step' must be an int >= 0, got -5"),
        ({"step": None}, "'step' must be an int >= 0, got None"),
        ({"paths": None}, "'paths' must be a list of strings"),
        ({"history": {"loss": [1.0]}}, "'history' has 1 losses for step 4"),
        ({"train": [{"dtype": "float32"}]}, "'train' must be a list of"),
        ({"train": [{"dtype": "float32", "shape": [3]}]}, "array 'train/0' has 4 bytes"),
    ],
)
def test_bad_metadata_names_the_field(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    path = tmp_path / "run.ckpt"
    scalar_fit(checkpoint=path)
    _rewrite_meta(path, **change)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_checkpoint(path)


def test_resuming_with_fewer_steps_than_done_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    scalar_fit(checkpoint=path, steps=6)
    with pytest.raises(ValueError, match="at step 6, past steps=3; pass steps >= 6"):
        scalar_fit(checkpoint=path, steps=3, resume=True)
    assert scalar_fit(checkpoint=path, steps=6, resume=True).step == 6


# -- progress display ----------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_live_bar_with_eta_and_loss() -> None:
    screen = FakeTerminal()
    fit(
        lambda p, b: (p["w"] - b) ** 2,
        SCALAR,
        lambda s: 1.0,
        optimizer=optax.sgd(0.25),
        steps=20,
        log_every=10,
        progress=screen,
    )
    out = screen.getvalue()
    assert "\x1b[" in out and "\r" in out  # redrawn in place, not one line per report
    assert "20/20" in out and "eta" in out and "loss " in out
    assert "steps/s" in out


def test_progress_to_a_file_is_plain_lines() -> None:
    log = io.StringIO()
    fit(
        lambda p, b: (p["w"] - b) ** 2,
        SCALAR,
        lambda s: 1.0,
        optimizer=optax.sgd(0.25),
        steps=20,
        log_every=10,
        progress=log,
    )
    lines = log.getvalue().splitlines()
    assert "\x1b" not in log.getvalue()
    assert [line.split()[:2] for line in lines] == [["step", "10/20"], ["step", "20/20"]]


# -- token ids checked on the host --------------------------------------------------------

EMB = embedding(7, 3, lead=(4,))
EMB_RUN = batched(EMB)


def emb_loss(p: dict[str, jax.Array], batch: tuple[np.ndarray, np.ndarray]) -> jax.Array:
    return jnp.mean((EMB_RUN(p, batch[0]).sum(-1) - batch[1]) ** 2)


def id_batches(bad_at: int) -> Any:
    def batches(step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(step)
        ids = rng.integers(0, 7, size=(2, 4)).astype(np.int32)
        if step == bad_at:
            ids[1, 2] = 7
        return ids, rng.normal(size=(2, 4)).astype(np.float32)

    return batches


def test_fit_refuses_a_bad_id_in_a_later_batch_before_the_step() -> None:
    p = init(EMB, KEY)
    with pytest.raises(TokenIdError, match=r"leaf 0 .*got 7 at index \(1, 2\) at step 3") as info:
        fit(emb_loss, p, id_batches(3), optimizer=optax.sgd(0.1), steps=6, progress=False)
    before = fit(emb_loss, p, id_batches(-1), optimizer=optax.sgd(0.1), steps=3, progress=False)
    assert info.value.result.step == 3 and len(info.value.result.history["loss"]) == 3
    assert bits(info.value.result.params) == bits(before.params)


def test_fit_checks_ids_of_a_vmapped_apply_and_of_jax_batches_on_the_host() -> None:
    def vmapped(p: dict[str, jax.Array], batch: Any) -> jax.Array:
        out = jax.vmap(lambda x: apply(EMB, p, x))(batch[0])
        return jnp.mean((out.sum(-1) - batch[1]) ** 2)

    def on_device(step: int) -> Any:
        return jax.tree.map(jnp.asarray, id_batches(1)(step))

    for loss_fn, data in ((vmapped, id_batches(1)), (emb_loss, on_device)):
        with pytest.raises(TokenIdError, match=r"got 7 at index \(1, 2\) at step 1"):
            fit(loss_fn, init(EMB, KEY), data, optimizer=optax.sgd(0.1), steps=3, progress=False)


def test_ids_the_loss_derives_and_the_opt_out_keep_the_run_time_test() -> None:
    def sliced(p: dict[str, jax.Array], batch: Any) -> jax.Array:
        ids = jnp.concatenate([batch[0][:, 2:], batch[0][:, :2]], axis=1)  # not a batch leaf
        return jnp.mean((EMB_RUN(p, ids).sum(-1) - batch[1]) ** 2)

    runs = ((sliced, True), (emb_loss, False))
    for loss_fn, on_host in runs:
        with pytest.raises(Exception, match="outside 0..6") as info:
            fit(
                loss_fn,
                init(EMB, KEY),
                id_batches(1),
                optimizer=optax.sgd(0.1),
                steps=3,
                progress=False,
                ids_on_host=on_host,
            )
        assert not isinstance(info.value, TokenIdError)


def test_the_host_checked_step_compiles_without_the_run_time_test() -> None:
    p, batch = init(EMB, KEY), id_batches(-1)(0)
    run, check = host_checked(emb_loss)
    f, plain = jax.jit(run), jax.jit(emb_loss)
    check(batch, lambda: f.trace(p, batch))
    assert "callback" in plain.lower(p, batch).as_text()
    assert "callback" not in f.lower(p, batch).as_text()
    assert float(f(p, batch)) == float(plain(p, batch))


# -- an Objective's gradient is its reverse derivative ---------------------------------------


def lm_objective() -> tuple[Objective, dict[str, Any]]:
    p = language_model(16, 6, 8, 2, 2, positional="rope", norm="rms", activation="swiglu",
                       bias=False)  # fmt: skip
    return Objective(p, cross_entropy(R(6, 16), Fin(16, 6))), init(p, KEY)


def lm_batches(bad_target_at: int = -1) -> Any:
    def batches(step: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.random.default_rng(step).integers(0, 16, (3, 7)).astype(np.int32)
        if step == bad_target_at:
            ids[2, 6] = 16  # the last position: a target only
        return ids[:, :-1], ids[:, 1:]

    return batches


class Counted(Objective):
    """An Objective that counts the traces of its own gradient."""

    calls = 0

    def value_and_grad(self, params: Any, batch: Any) -> Any:
        Counted.calls += 1
        return super().value_and_grad(params, batch)


def test_fit_trains_an_objective_by_its_reverse_derivative() -> None:
    """``fit(Objective, optimizer=...)`` takes the gradient from ``value_and_grad`` (not
    ``jax.grad``) and follows a loss function's run; frozen paths and the layer layout
    hold."""
    objective, params = lm_objective()
    counted = Counted(objective.p, objective.loss)
    frozen = ["embed.table"]
    run = {"optimizer": optax.sgd(0.5), "steps": 5, "progress": False, "frozen": frozen}
    ours = fit(counted, params, lm_batches(), unstack=objective.p, **run)  # type: ignore[arg-type]
    assert Counted.calls >= 1
    theirs = fit(lambda q, b: objective(q, b), params, lm_batches(), **run)  # type: ignore[arg-type]
    np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=1e-5)
    assert ours.history["loss"][-1] < ours.history["loss"][0]
    for k in params:
        assert ours.params[k].shape == params[k].shape
        np.testing.assert_allclose(ours.params[k], theirs.params[k], atol=1e-5, err_msg=k)
    assert bits(ours.params["embed.table"]) == bits(params["embed.table"])


def test_fit_refuses_a_bad_target_of_an_objective_before_the_step() -> None:
    objective, params = lm_objective()
    with pytest.raises(TokenIdError, match=r"leaf 1 \(target \(the batch\)\).*got 16 at index"
                       r" \(2, 5\) at step 2") as info:  # fmt: skip
        fit(objective, params, lm_batches(2), optimizer=optax.sgd(0.1), steps=4, progress=False)
    assert info.value.result.step == 2


def test_a_sharded_fit_differentiates_an_objective_by_jax_grad() -> None:
    """On a mesh the Objective is a loss like any other (``jax.grad`` of its call)."""
    from backends.jax import sharding

    objective, params = lm_objective()
    run = {"optimizer": optax.sgd(0.5), "steps": 3, "progress": False}
    sharded = fit(objective, params, lm_batches(), mesh=sharding.make_mesh("1x1"), **run)  # type: ignore[arg-type]
    plain = fit(objective, params, lm_batches(), **run)  # type: ignore[arg-type]
    np.testing.assert_allclose(sharded.history["loss"], plain.history["loss"], rtol=1e-5)
