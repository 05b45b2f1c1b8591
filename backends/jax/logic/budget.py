"""A time budget for one computation, and its progress on a terminal.

``explain`` runs in stages (the counterfactual's linear programs, then the
rule's facets). Each stage asks ``budget.expired()`` between two steps and
stops there when the time is up, and reports how far it got with ``update``.
On a terminal the report is a live bar (``rich``); on any other stream it is a
plain line per stage, at its end (and every few seconds while it runs). By
default nothing is shown unless stderr is a terminal.

>>> import io
>>> out = io.StringIO()
>>> with Budget(None, progress=out) as budget:
...     budget.stage("rule", total=3)
...     budget.update(3, "3 facets")
...     budget.expired()
False
>>> print(out.getvalue(), end="")
explain: rule: 3/3  3 facets
>>> Budget(0.0).expired()
True
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Budget"]


class Budget:
    """A deadline ``seconds`` from now (``None``: no deadline) and a progress display.

    ``expired()`` becomes true once the deadline passes and stays true (``ran_out``).

    >>> b = Budget(60.0)
    >>> b.expired(), b.ran_out, b.left() > 59
    (False, False, True)

    Args:
        seconds: the time allowed, or None for no limit.
        progress: where to show progress: a stream, ``True`` for stderr, ``False``
            for nowhere; ``None`` (the default): stderr when it is a terminal.
        name: what the lines are prefixed with.
        every: the seconds between two plain lines of one running stage.
    """

    def __init__(
        self,
        seconds: float | None = None,
        progress: bool | TextIO | None = None,
        name: str = "explain",
        every: float = 5.0,
    ) -> None:
        self.seconds, self.name, self.every = seconds, name, every
        self.start = time.perf_counter()
        self.ran_out = False
        self.stream: TextIO | None = _stream(progress)
        self._live: Any = None
        self._task: Any = None
        self._title: str | None = None  # the stage running, for plain streams
        self._total: int | None = None
        self._report = ""
        self._printed = self.start

    def __enter__(self) -> Budget:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return time.perf_counter() - self.start

    def left(self) -> float:
        """Seconds left (``inf`` without a deadline; never below 0)."""
        if self.seconds is None:
            return float("inf")
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        """Whether the deadline has passed (and from then on, always)."""
        if not self.ran_out and self.seconds is not None and self.elapsed() >= self.seconds:
            self.ran_out = True
        return self.ran_out

    def stage(self, title: str, total: int | None = None) -> None:
        """Start a stage of ``total`` steps (None: unknown); the last one ends."""
        self._end_stage()
        self._title, self._total, self._report = title, total, ""
        if self.stream is not None and _isatty(self.stream):
            self._live = self._live or _bar(self.stream)
            self._task = self._live.add_task(f"{self.name}: {title}", total=total, status="")

    def update(self, done: int, status: str = "", total: int | None = None) -> None:
        """Report ``done`` steps of the stage (of ``total``, when it changed), and a status."""
        if self.stream is None:
            return
        self._total = self._total if total is None else total
        if self._live is not None:
            self._live.update(self._task, completed=done, total=self._total, status=status)
            return
        count = f"{done}" if self._total is None else f"{done}/{self._total}"
        self._report = f"{count}  {status}".rstrip()
        now = time.perf_counter()
        if now - self._printed >= self.every:
            self._printed = now
            print(f"{self._text()}  ({now - self.start:.1f} s)", file=self.stream, flush=True)

    def say(self, line: str) -> None:
        """One line of text (above the bar on a terminal)."""
        self._end_stage()
        if self._live is not None:
            self._live.console.print(f"{self.name}: {line}", markup=False, highlight=False)
        elif self.stream is not None:
            print(f"{self.name}: {line}", file=self.stream, flush=True)

    def close(self) -> None:
        """End the last stage and stop the bar (its last state stays on the screen)."""
        self._end_stage()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _text(self) -> str:
        return f"{self.name}: {self._title}: {self._report}".rstrip()

    def _end_stage(self) -> None:
        if self._live is None and self.stream is not None and self._title is not None:
            print(self._text(), file=self.stream, flush=True)
        self._title = None


def _stream(progress: bool | TextIO | None) -> TextIO | None:
    if progress is None:
        return sys.stderr if _isatty(sys.stderr) else None
    if progress is True:
        return sys.stderr
    if progress is False:
        return None
    return progress


def _bar(stream: TextIO) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=stream, force_terminal=True, force_interactive=True)
    live = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )
    live.start()
    return live


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False
