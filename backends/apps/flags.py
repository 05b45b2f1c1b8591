"""Command-line flags checked where they are parsed: one line naming the flag and the value.

The ``topos`` command and its subcommands read numbers and folders with these
types, so a bad value stops the command before anything is computed or written.

>>> positive_int("3"), positive_float("1e-3"), rate("0.1")
(3, 0.001, 0.1)
>>> positive_int("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected an integer >= 1, got 0
>>> positive_float("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected a positive finite number, got nan
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

__all__ = [
    "Parser",
    "UsageError",
    "at_least",
    "positive_float",
    "positive_int",
    "rate",
    "writable_folder",
]


class UsageError(Exception):
    """A bad command line, said in one line."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line and raise ``UsageError``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def at_least(low: int) -> Callable[[str], int]:
    """The type of an integer flag ``>= low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


positive_int = at_least(1)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_float(text: str) -> float:
    """A finite number > 0 (NaN and infinity are refused)."""
    value = _number(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


def rate(text: str) -> float:
    """A number in ``[0, 1)``."""
    value = _number(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text}")
    return value


def writable_folder(path: Path) -> Path:
    """``path``, made if missing, after checking that a file can be written in it.

    Raises ``OSError`` with a one-line message naming the folder otherwise (checked
    before a run starts, so that a run never ends unable to write its results).
    Returns ``path``; a folder it made for the check is removed again when the
    check fails, so that nothing is left behind.

    >>> import tempfile
    >>> writable_folder(Path(tempfile.mkdtemp()) / "new").is_dir()
    True
    """
    made = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-check-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        if made and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
        why = err.strerror or str(err)
        raise OSError(f"cannot write to the output folder {str(path)!r}: {why}") from None
    return path
