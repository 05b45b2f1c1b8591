"""Reading a corpus: deterministic order, file-level split, budgets, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.apps.corpus import CorpusError, corpus_files, load_corpus, stdlib_path


def _write_corpus(root: Path, files: int = 12) -> Path:
    """A small deterministic corpus of Python-like files."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        body = "".join(
            f"def f{i}_{j}(x, y={j}):\n    return x * {i} + y  # step {j}\n\n" for j in range(20)
        )
        (root / f"mod{i:02d}.py").write_text(body)
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_skipped.py").write_text("SKIPPED_MARKER = 1\n")
    (root / "README.txt").write_text("not python\n")
    return root


# -- corpus --------------------------------------------------------------------------


def test_corpus_files_are_deterministic_and_skip_tests(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path / "c")
    files = corpus_files(root)
    assert files == corpus_files(root)
    assert {f.name for f in files} == {f"mod{i:02d}.py" for i in range(12)}


def test_validation_is_held_out_by_file(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path / "c")
    corpus = load_corpus(root, 10**6, 10**6)
    assert (corpus.train_files, corpus.val_files) == (11, 1)
    assert "SKIPPED_MARKER" not in corpus.train + corpus.val
    val_funcs = {line.split("(")[0] for line in corpus.val.splitlines() if line.startswith("def")}
    train_funcs = {
        line.split("(")[0] for line in corpus.train.splitlines() if line.startswith("def")
    }
    assert val_funcs and not val_funcs & train_funcs  # no validation file leaks into training


def test_corpus_budgets_cut_each_side(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path / "c")
    corpus = load_corpus(root, 1000, 300)
    assert len(corpus.train) == 1000 and len(corpus.val) == 300


def test_stdlib_is_the_default_corpus() -> None:
    corpus = load_corpus(None, 20_000, 5_000)
    assert len(corpus.train) == 20_000 and len(corpus.val) == 5_000
    assert corpus.root == str(stdlib_path())
    assert "site-packages" not in corpus.root


def test_corpus_errors_are_one_line_value_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist") as info:
        load_corpus(tmp_path / "missing", 10, 10)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
