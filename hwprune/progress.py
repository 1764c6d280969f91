"""Progress of long steps on a terminal: the step, "layer k of n", Yosys jobs done and running.

Why a module of its own at the bottom of the stage order: every stage may report progress (the flow's
steps, lowering and emission per layer, the estimate's Yosys jobs, ``hwprune sim`` per layer) without
knowing who shows it. The CLI installs a display for the duration of a command (``for_terminal``: a
``rich`` bar on stderr, only when stderr is a terminal, and only once a step has run ``DELAY_S``);
everywhere else (tests, CI logs, the library) the reporter is ``NullProgress``, so what hwprune prints
and writes never depends on it.

The reporter is process-wide (not a context variable) so that worker threads (Yosys jobs) report to it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import Any, Iterator, Protocol, TextIO

__all__ = ["Progress", "NullProgress", "RichProgress", "current", "reporting", "step", "advance", "finish",
           "describe", "for_terminal", "DELAY_S"]

DELAY_S = 1.0
"""The display appears only once a step has taken this long: quick steps never flicker on screen."""


class Progress(Protocol):
    """What the steps report to: a step begins, an item (k of n) of it begins or ends, the run ends."""

    def step(self, name: str, total: int | None = None) -> None: ...

    def advance(self, done: int, of: int, what: str = "", detail: str = "") -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nowhere (the default)."""

    def step(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, done: int, of: int, what: str = "", detail: str = "") -> None:
        pass

    def finish(self) -> None:
        pass


def describe(step_name: str, done: int, of: int, what: str = "", detail: str = "") -> str:
    """``"emit: layer 2 of 3"``, ``"estimate: Yosys jobs 4 of 9 (2 running)"``."""
    text = f"{step_name}: {what + ' ' if what else ''}{done} of {of}"
    return f"{text} ({detail})" if detail else text


class RichProgress:
    """A transient ``rich`` bar (it disappears when the run finishes) on ``console`` (stderr)."""

    def __init__(self, console: Any = None, delay: float = DELAY_S) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.console = console if console is not None else Console(file=sys.stderr)
        # no redirection: what hwprune prints to stdout stays on stdout
        self._bar = Bar(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                        console=self.console, transient=True, redirect_stdout=False, redirect_stderr=False)
        self._delay = delay
        self._lock = threading.RLock()
        self._task: Any = None
        self._name = ""
        self._timer: threading.Timer | None = None
        self._live = False

    def step(self, name: str, total: int | None = None) -> None:
        with self._lock:
            self._name = name
            if self._task is None:
                self._task = self._bar.add_task(name, total=total)
            else:
                self._bar.reset(self._task, description=name, total=total)
            if not self._live:
                self._arm()

    def advance(self, done: int, of: int, what: str = "", detail: str = "") -> None:
        with self._lock:
            if self._task is not None:
                self._bar.update(self._task, description=describe(self._name, done, of, what, detail),
                                 completed=done, total=of)

    def finish(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._live:
                self._bar.stop()
                self._live = False
            if self._task is not None:
                self._bar.remove_task(self._task)
                self._task = None

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self._delay, self.show)
        self._timer.daemon = True
        self._timer.start()

    def show(self) -> None:
        """Put the bar on screen now (the delay timer calls this once a step has run ``DELAY_S``)."""
        with self._lock:
            # with -v every step is logged on stderr already; a live bar would tear those lines
            if self._task is not None and not self._live and not logging.getLogger().isEnabledFor(logging.INFO):
                self._bar.start()
                self._live = True


_current: Progress = NullProgress()


def current() -> Progress:
    return _current


@contextlib.contextmanager
def reporting(progress: Progress) -> Iterator[Progress]:
    """Make ``progress`` the reporter for the block; it is finished when the block ends."""
    global _current
    before, _current = _current, progress
    try:
        yield progress
    finally:
        _current = before
        progress.finish()


def step(name: str, total: int | None = None) -> None:
    _current.step(name, total)


def advance(done: int, of: int, what: str = "", detail: str = "") -> None:
    _current.advance(done, of, what, detail)


def finish() -> None:
    _current.finish()


def for_terminal(stream: TextIO | None = None) -> Progress:
    """A ``RichProgress`` when ``stream`` (stderr) is an interactive terminal, else ``NullProgress``
    (pipes, files, CI, ``TERM=dumb``)."""
    stream = sys.stderr if stream is None else stream
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive or os.environ.get("TERM") == "dumb" or os.environ.get("CI"):
        return NullProgress()
    try:
        from rich.console import Console
    except ImportError:
        return NullProgress()
    return RichProgress(Console(file=stream))
