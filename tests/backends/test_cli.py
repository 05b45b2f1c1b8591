"""The ``topos`` command line: help, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backends.cli import build_parser, main

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
    for flag in ("--seed", "--out", "--resume", "--corpus"):
        assert flag in text


def test_help_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backends.cli", "--help"],
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
        (["demo", "--lr", "0"], "--lr: expected a positive number"),
        (["demo", "--lr", "nan"], "--lr: expected a positive number"),
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
    line = _one_line_error(capsys, ["demo", "--corpus", str(tmp_path / "corpus")])
    assert "has 0 .py file(s)" in line
    (tmp_path / "corpus" / "only.py").write_text("x = 1\n")
    line = _one_line_error(capsys, ["demo", "--corpus", str(tmp_path / "corpus")])
    assert "has 1 .py file(s)" in line and "at least 2" in line


def test_corpus_of_empty_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("\n\n")
    line = _one_line_error(capsys, ["demo", "--corpus", str(tmp_path)])
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
