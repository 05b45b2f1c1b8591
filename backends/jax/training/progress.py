"""Training progress: a live bar on a terminal, plain lines everywhere else.

``fit`` reports through a ``Progress``. On a terminal (the stream's ``isatty()``)
it draws a bar with the step count, the estimated time left, the loss of the
last window and the speed (``rich``); other lines (evaluation, resuming) print
above the bar. When the stream is not a terminal (a file, a pipe, CI) each
report is one plain line, so logs stay readable:

>>> import io
>>> out = io.StringIO()
>>> with Progress(steps=20, start=0, stream=out) as bar:
...     bar.advance(10)
...     bar.report(10, 0.25, 123.4)
...     bar.say("step 10/20  eval 0.5")
>>> print(out.getvalue(), end="")
step 10/20  loss 0.25  123.4 steps/s
step 10/20  eval 0.5
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as _RichProgress

__all__ = ["Progress"]


class Progress:
    """The progress display of one training run of ``steps`` steps, from ``start``.

    The bar (if any) is drawn from construction to ``close()``; a ``with`` block
    closes it too. ``advance(n)`` after each step (cheap: no device transfer),
    ``report(step, loss, rate)`` at each log step, ``say(line)`` for anything
    else. The live bar is drawn only when ``stream.isatty()``.

    Args:
        steps: the step the run ends at.
        start: the step it starts from (a resumed run starts past 0).
        stream: where to write; ``None`` for ``sys.stderr``.
        show: ``False`` to say nothing at all.

    >>> import io
    >>> class Terminal(io.StringIO):
    ...     def isatty(self) -> bool:
    ...         return True
    >>> screen = Terminal()
    >>> with Progress(steps=4, start=0, stream=screen) as bar:
    ...     bar.advance(4)
    ...     bar.report(4, 1.5, 10.0)
    >>> "4/4" in screen.getvalue() and "loss 1.5" in screen.getvalue()
    True
    """

    def __init__(
        self, steps: int, start: int, stream: TextIO | None = None, show: bool = True
    ) -> None:
        self.steps, self.show = steps, show
        self.stream = sys.stderr if stream is None else stream
        self.live = show and _isatty(self.stream)
        self._bar: _RichProgress | None = None
        self._task: TaskID | None = None
        if self.live:
            console = Console(file=self.stream, force_terminal=True, force_interactive=True)
            self._bar = _RichProgress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=console,
            )
            self._task = self._bar.add_task("train", total=steps, completed=start, status="")
            self._bar.start()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing the bar (its last state stays on the screen)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more steps done (moves the bar; nothing is printed in plain mode)."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)

    def report(self, step: int, loss: float, rate: float) -> None:
        """The mean loss of the window ending at ``step``, and steps per second."""
        if self._bar is not None and self._task is not None:
            status = f"loss {loss:.6g}  {rate:.1f} steps/s"
            self._bar.update(self._task, completed=step, status=status)
        else:
            self.say(f"step {step}/{self.steps}  loss {loss:.6g}  {rate:.1f} steps/s")

    def say(self, line: str) -> None:
        """One line of text (above the bar on a terminal)."""
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        elif self.show:
            print(line, file=self.stream, flush=True)


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False
