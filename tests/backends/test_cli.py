"""The ``topos`` command line: help, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backends.apps.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("topos: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_help_lists_the_demo_and_its_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["demo", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--steps", "--d-model", "--layers", "--heads", "--seq", "--batch", "--lr"):
        assert flag in text
    for flag in ("--seed", "--out", "--resume", "--overwrite", "--corpus"):
        assert flag in text


def test_help_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backends.apps.cli", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: topos" in done.stdout


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: topos" in capsys.readouterr().out


def test_flags_parse_and_unset_flags_are_none() -> None:
    args = build_parser().parse_args(["demo", "--lr", "0.01", "--resume", "--out", "x"])
    assert (args.lr, args.resume, args.out, args.steps, args.corpus) == (
        0.01,
        True,
        "x",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["demo", "--steps", "x"], "--steps: expected an integer, got 'x'"),
        (["demo", "--steps", "0"], "--steps: expected an integer >= 1, got 0"),
        (["demo", "--d-model", "-4"], "--d-model: expected an integer >= 1, got -4"),
        (["demo", "--seq", "1"], "--seq: expected an integer >= 2, got 1"),
        (["demo", "--lr", "fast"], "--lr: expected a number, got 'fast'"),
        (["demo", "--lr", "0"], "--lr: expected a positive finite number"),
        (["demo", "--lr", "nan"], "--lr: expected a positive finite number"),
        (["demo", "--seed", "-1"], "--seed: expected an integer >= 0"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["demo", "--steps"], "--steps: expected one argument"),
        (["train"], "invalid choice: 'train'"),
        (["demo", "--d-model", "30", "--heads", "4"], "--d-model 30 is not divisible by --heads 4"),
    ],
)
def test_bad_flags_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    assert needle in _one_line_error(capsys, argv)


def test_missing_corpus_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    line = _one_line_error(capsys, ["demo", "--corpus", str(missing), "--out", str(tmp_path)])
    assert str(missing) in line and "does not exist" in line


def test_corpus_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "one.py"
    f.write_text("x = 1\n")
    line = _one_line_error(capsys, ["demo", "--corpus", str(f), "--out", str(tmp_path)])
    assert "not a folder" in line


def test_corpus_without_enough_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.txt").write_text("not python\n")
    argv = ["demo", "--corpus", str(tmp_path / "corpus"), "--out", str(tmp_path / "run")]
    line = _one_line_error(capsys, argv)  # --out: not the checkout's runs/demo of a demo run
    assert "has 0 .py file(s)" in line
    (tmp_path / "corpus" / "only.py").write_text("x = 1\n")
    line = _one_line_error(capsys, argv)
    assert "has 1 .py file(s)" in line and "at least 2" in line


def test_corpus_of_empty_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("\n\n")
    line = _one_line_error(
        capsys, ["demo", "--corpus", str(tmp_path), "--out", str(tmp_path / "run")]
    )
    assert "gives no training text" in line


def test_resume_without_a_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _one_line_error(capsys, ["demo", "--resume", "--out", str(tmp_path / "run")])
    assert "nothing to resume" in line


def test_resume_with_a_different_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    config = {"d_model": 32, "layers": 1, "heads": 2, "seq": 16, "batch": 4, "lr": 0.01}
    config |= {"seed": 0, "corpus": None}
    (run / "demo.json").write_text(json.dumps({"config": config, "vocab": "\ufffdab"}))
    (run / "checkpoint").write_bytes(b"")
    line = _one_line_error(capsys, ["demo", "--resume", "--out", str(run), "--d-model", "64"])
    assert "--d-model 64 differs from the run being resumed (32)" in line


def test_corrupt_saved_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "demo.json").write_text("{not json")
    line = _one_line_error(capsys, ["demo", "--resume", "--out", str(tmp_path)])
    assert "cannot read the saved run" in line


# -- the output folder and its checkpoint (issue 11, items 5 and 6) -------------------


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(12):
        body = "".join(f"def f{i}_{j}(x):\n    return x * {j}\n\n" for j in range(20))
        (root / f"mod{i:02d}.py").write_text(body)
    return root


TINY = ["--steps", "6", "--d-model", "16", "--layers", "1", "--heads", "2", "--seq", "16"]
TINY += ["--batch", "4"]


def _finished_run(tmp_path: Path, step: int = 6) -> Path:
    """An output folder as a finished tiny run leaves it (the checkpoint from a cheap fit)."""
    import jax.numpy as jnp
    import optax

    from backends.jax import fit

    run = tmp_path / "run"
    run.mkdir()
    config = {"steps": 6, "d_model": 16, "layers": 1, "heads": 2, "seq": 16, "batch": 4}
    config |= {"lr": 0.003, "seed": 0, "corpus": str(_corpus(tmp_path / "corpus"))}
    (run / "demo.json").write_text(json.dumps({"config": config, "vocab": "\ufffdab"}))
    fit(
        lambda p, b: (p["w"] ** 2).sum(),
        {"w": jnp.ones(2)},
        lambda s: 0,
        optimizer=optax.sgd(0.1),
        steps=step,
        checkpoint=run / "checkpoint",
        progress=False,
    )
    return run


def test_a_new_run_never_clears_a_used_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _finished_run(tmp_path)
    before = (run / "checkpoint").read_bytes()
    line = _one_line_error(capsys, ["demo", *TINY, "--out", str(run)])
    assert str(run) in line and "--resume" in line and "--overwrite" in line
    assert (run / "checkpoint").read_bytes() == before


def test_resume_and_overwrite_exclude_each_other(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = _one_line_error(capsys, ["demo", "--resume", "--overwrite", "--out", str(tmp_path)])
    assert "pick one" in line


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage"])
def test_an_unreadable_checkpoint_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    run = _finished_run(tmp_path)
    data = (run / "checkpoint").read_bytes()
    bad = {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"PK\x03\x04junk" * 9}
    (run / "checkpoint").write_bytes(bad[kind])
    line = _one_line_error(capsys, ["demo", "--resume", "--out", str(run)])
    assert str(run / "checkpoint") in line and "not a readable fit checkpoint" in line


def test_bad_checkpoint_metadata_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import numpy as np

    run = _finished_run(tmp_path)
    with np.load(run / "checkpoint") as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays["meta"].tobytes().decode()) | {"step": -5}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with (run / "checkpoint").open("wb") as fh:
        np.savez(fh, **arrays)
    line = _one_line_error(capsys, ["demo", "--resume", "--out", str(run)])
    assert "'step' must be an int >= 0, got -5" in line


def test_a_folder_at_the_checkpoint_path_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _finished_run(tmp_path)
    (run / "checkpoint").unlink()
    (run / "checkpoint").mkdir()
    line = _one_line_error(capsys, ["demo", "--resume", "--out", str(run)])
    assert "checkpoint is a folder" in line
    line = _one_line_error(capsys, ["demo", *TINY, "--overwrite", "--out", str(run)])
    assert "checkpoint is a folder" in line
    assert (run / "checkpoint").is_dir() and (run / "demo.json").exists()


def test_resuming_with_fewer_steps_than_done(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _finished_run(tmp_path)
    line = _one_line_error(capsys, ["demo", "--resume", "--out", str(run), "--steps", "3"])
    assert "--steps 3 is fewer than the 6 steps already done" in line


def test_a_batch_too_large_for_the_machine(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corpus = _corpus(tmp_path / "corpus")
    argv = ["demo", *TINY[:-2], "--batch", str(10**12), "--corpus", str(corpus)]
    line = _one_line_error(capsys, [*argv, "--out", str(tmp_path / "run")])
    assert f"--batch {10**12}" in line and "per training step" in line
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_mesh_flag_is_checked_and_asks_for_simulated_devices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backends.apps.cli import _simulate_devices

    monkeypatch.setenv("XLA_FLAGS", "")  # restored after the test: main() sets it
    out = str(tmp_path / "run")
    err = _one_line_error(capsys, ["demo", "--mesh", "4y2", "--out", out])
    assert "--mesh must be DATAxMODEL, e.g. 4x2, got '4y2'" in err
    err = _one_line_error(capsys, ["demo", "--mesh", "4x2", "--batch", "6", "--out", out])
    assert "--batch 6 is not divisible by the data axis of --mesh 4x2" in err
    err = _one_line_error(capsys, ["demo", "--mesh", "2x1", "--resume", "--out", out])
    assert "a sharded run (--mesh) checkpoints with Orbax" in err
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    _simulate_devices("4x2")
    import os

    assert os.environ["XLA_FLAGS"].endswith("--xla_force_host_platform_device_count=8")
    _simulate_devices("2x2")  # a count already asked for is kept
    assert os.environ["XLA_FLAGS"].count("device_count") == 1


# -- a failed start leaves nothing behind (issue 22, item 12) ---------------------------


def test_a_mesh_the_devices_cannot_hold_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jax

    monkeypatch.setenv("XLA_FLAGS", "")  # restored after the test: main() sets it
    corpus = str(_corpus(tmp_path / "corpus"))
    out = tmp_path / "run"
    n = jax.device_count() + 1
    argv = ["demo", *TINY[:-2], "--batch", str(n), "--mesh", f"{n}x1", "--corpus", corpus]
    line = _one_line_error(capsys, [*argv, "--out", str(out)])
    assert f"--mesh {n}x1" in line and f"needs {n} devices" in line
    assert not out.exists()
    line = _one_line_error(capsys, ["demo", "--mesh", "64x64", "--batch", "64", "--out", str(out)])
    assert "needs 4096 devices; on CPU the demo simulates at most 64" in line
    assert not out.exists()


def test_a_model_too_large_for_the_machine_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corpus = str(_corpus(tmp_path / "corpus"))
    out = tmp_path / "run"
    argv = ["demo", *TINY, "--d-model", "1000000", "--heads", "1", "--corpus", corpus]
    line = _one_line_error(capsys, [*argv, "--out", str(out)])
    assert "--d-model 1000000" in line and "lower --batch, --seq, --d-model or --layers" in line
    assert not out.exists()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing_behind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backends.apps import demo

    def fails(*args: object) -> None:
        raise demo.DemoError("training failed at step 0")

    monkeypatch.setattr(demo, "_train", fails)
    corpus = str(_corpus(tmp_path / "corpus"))
    out = tmp_path / "deep" / "run"
    assert main(["demo", *TINY, "--corpus", corpus, "--out", str(out)]) == 2
    assert capsys.readouterr().err == "topos: error: training failed at step 0\n"
    assert not (tmp_path / "deep").exists()
    kept = tmp_path / "kept"
    (kept / "notes.txt").parent.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert main(["demo", *TINY, "--corpus", corpus, "--out", str(kept)]) == 2
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]


# -- topos demo gd checks its flags and its folder before it trains ---------------------


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--seeds", "0"], "--seeds: expected an integer >= 1, got 0"),
        (["--seeds", "-1"], "--seeds: expected an integer >= 1, got -1"),
        (["--steps", "-5"], "--steps: expected an integer >= 1, got -5"),
        (["--batch", "0"], "--batch: expected an integer >= 1, got 0"),
        (["--lr", "nan"], "--lr: expected a positive finite number, got nan"),
        (["--init-std", "-1"], "--init-std: expected a positive finite number"),
        (["--out", "/proc/x"], "cannot write to the output folder '/proc/x'"),
        (["--schedule", "warm"], "invalid choice: 'warm'"),
    ],
)
def test_gd_flags_are_one_line_errors_before_anything_runs(
    capsys: pytest.CaptureFixture[str], flags: list[str], needle: str
) -> None:
    assert needle in _one_line_error(capsys, ["demo", "gd", *flags])


def test_load_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _one_line_error(capsys, ["load", str(tmp_path / "none")])
    assert "no config.json" in line
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "bert" / "model.safetensors").write_bytes(b"")
    line = _one_line_error(capsys, ["load", str(tmp_path / "bert")])
    assert "model_type = 'bert' is not supported" in line
    line = _one_line_error(capsys, ["load", str(tmp_path / "new"), "--random", "bert"])
    assert "--random must be one of ['gpt2', 'llama', 'vit']" in line
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "llama" / "model.safetensors").write_bytes(b"")
    line = _one_line_error(capsys, ["load", str(tmp_path / "llama")])
    assert "model.safetensors: not a safetensors file" in line


def test_load_runs_a_random_vit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    svg, copy = tmp_path / "vit.svg", tmp_path / "copy"
    argv = ["load", str(tmp_path / "vit"), "--random", "vit", "--draw", str(svg)]
    assert main([*argv, "--save", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "vit: vision transformer R(16, 16, 3) -> R(10)" in out
    assert "lives in  topos completion" in out and "a random image: class" in out
    assert svg.read_text().startswith("<svg") and "bit for bit" in out and "NOT" not in out
