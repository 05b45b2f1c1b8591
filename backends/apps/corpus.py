"""Reading a corpus of source files: a deterministic, file-level train/validation split.

``load_corpus(root, train_chars, val_chars)`` reads the ``.py`` files under
``root`` (default: the Python standard library of this machine) in a fixed
pseudo-random order, sorted by a hash of their relative path, so the selection
spreads over the whole tree and is the same on every run. Every tenth file is
held out for validation, so no file is split between the two sides. Each file
gives at most ``file_chars`` characters, and each side is cut at its budget.
Folders of tests, ``site-packages``, ``__pycache__``, hidden folders and the
generated codec tables of ``encodings`` are skipped.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     for i in range(10):
...         _ = (Path(d) / f"m{i}.py").write_text(f"x = {i}\\n")
...     c = load_corpus(Path(d), 1000, 1000)
>>> c.train_files, c.val_files, c.train.count("x = ")
(9, 1, 9)

A folder that cannot give both sides raises ``CorpusError``, one line naming it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sysconfig
from pathlib import Path

__all__ = [
    "FILE_CHARS",
    "SUFFIXES",
    "Corpus",
    "CorpusError",
    "corpus_files",
    "load_corpus",
    "stdlib_path",
]

#: The most characters one file contributes to the corpus.
FILE_CHARS = 20_000
#: Suffixes of the files read from a corpus folder.
SUFFIXES = (".py",)
_SKIP_DIRS = frozenset(
    {"site-packages", "dist-packages", "__pycache__", "test", "tests", "encodings"}
)


class CorpusError(ValueError):
    """The corpus folder is missing, unreadable, or has too little text; one line."""


def stdlib_path() -> Path:
    """The folder of the Python standard library's source on this machine.

    >>> (stdlib_path() / "os.py").exists()
    True
    """
    return Path(sysconfig.get_paths()["stdlib"])


def _skipped_dir(name: str) -> bool:
    return name in _SKIP_DIRS or name.startswith(".") or name.endswith("_test")


def corpus_files(root: Path) -> list[Path]:
    """The corpus files under ``root``, in a fixed pseudo-random order.

    Files are ordered by the SHA-1 of their relative path: deterministic, and a
    prefix of the list samples the whole tree rather than its first letters.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("a.py", "b.py", "tests/t.py", "notes.txt"):
    ...         (Path(d) / name).parent.mkdir(exist_ok=True)
    ...         _ = (Path(d) / name).write_text("x = 1\\n")
    ...     sorted(p.name for p in corpus_files(Path(d)))
    ['a.py', 'b.py']
    """
    if not root.is_dir():
        raise CorpusError(f"corpus folder {str(root)!r} does not exist or is not a folder")
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not _skipped_dir(d)]  # pruned, not walked
        for name in files:
            path = Path(folder) / name
            if path.suffix in SUFFIXES and path.is_file():
                rel = path.relative_to(root).as_posix()
                found.append((hashlib.sha1(rel.encode()).hexdigest(), path))
    return [path for _, path in sorted(found)]


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Training and validation text, split by file; ``files`` counts each side's files."""

    train: str
    val: str
    train_files: int
    val_files: int
    root: str

    def describe(self) -> str:
        """One line saying what was read.

        >>> Corpus("abc", "d", 2, 1, "src").describe()
        'corpus src: 3 train chars (2 files), 1 validation chars (1 files)'
        """
        return (
            f"corpus {self.root}: {len(self.train):,} train chars ({self.train_files} files),"
            f" {len(self.val):,} validation chars ({self.val_files} files)"
        )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise CorpusError(f"cannot read {str(path)!r}: {err.strerror or err}") from None


def load_corpus(
    root: Path | None, train_chars: int, val_chars: int, file_chars: int = FILE_CHARS
) -> Corpus:
    """Read the corpus: every tenth file (in ``corpus_files`` order) is validation.

    With fewer than ten files the last one is the validation file. Each file gives
    at most its first ``file_chars`` characters (so a few huge modules do not make
    up a side), and each side is cut at its character budget.

    Args:
        root: the folder to read; ``None`` for ``stdlib_path()``.
        train_chars: the most characters of training text.
        val_chars: the most characters of validation text.
        file_chars: the most characters read from one file.

    Returns:
        A ``Corpus``.

    Raises:
        CorpusError: the folder is missing, holds no readable file, or either side
            ends up empty.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for i in range(3):
    ...         _ = (Path(d) / f"m{i}.py").write_text(f"def f{i}():\\n    return {i}\\n")
    ...     c = load_corpus(Path(d), 1000, 1000)
    >>> c.train_files, c.val_files, len(c.train) > len(c.val) > 0
    (2, 1, True)
    """
    root = stdlib_path() if root is None else Path(root)
    files = corpus_files(root)
    if len(files) < 2:
        raise CorpusError(
            f"corpus folder {str(root)!r} has {len(files)} {'/'.join(SUFFIXES)} file(s);"
            " it needs at least 2 (one is held out for validation)"
        )
    val_index = {i for i in range(len(files)) if i % 10 == 9} or {len(files) - 1}
    parts: dict[bool, list[str]] = {True: [], False: []}
    sizes = {True: 0, False: 0}
    counts = {True: 0, False: 0}
    budget = {True: val_chars, False: train_chars}
    for i, path in enumerate(files):
        side = i in val_index
        if sizes[side] >= budget[side]:
            if all(sizes[s] >= budget[s] for s in (True, False)):
                break
            continue
        text = _read(path)[: min(file_chars, budget[side] - sizes[side])]
        if text.strip():
            parts[side].append(text)
            sizes[side] += len(text)
            counts[side] += 1
    train, val = "".join(parts[False]), "".join(parts[True])
    for name, text in (("training", train), ("validation", val)):
        if not text.strip():
            raise CorpusError(f"corpus folder {str(root)!r} gives no {name} text")
    return Corpus(train, val, counts[False], counts[True], str(root))
