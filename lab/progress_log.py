"""Progress of a long command: live on a terminal, timestamped lines in a log.

Why this module exists: ``ptn run``, ``ptn coordinate`` and ``ptn study`` take minutes (the
baseline, the negotiation's rounds, the centralized reference, a study's analysis). On a
terminal a rich spinner names the step running and its elapsed time, with one line per
finished round or step above it; when stderr is not a terminal (a pipe, a log file, a batch
job) the same events are plain lines on stderr, each starting with its UTC time, so that a
five-minute study is never silent. (``ptn sweep`` shows a campaign's counts with
:mod:`ptn.cli.sweep`'s progress bar and :func:`ptn.campaign.progress.plain_printer`.)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from ptn.lab.run_folder import utc_now, utc_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from ptn.coordinator.outcome import RoundRecord
    from ptn.scenario.document import Scenario


class ProgressLog:
    """Steps and lines of a long command on stderr: rich on a terminal (``live``: a spinner and
    the elapsed time of each running step), plain timestamped lines otherwise."""

    def __init__(self, live: bool, stream: TextIO | None = None) -> None:
        self.live = live
        self.stream = stream
        self._console: Console | None = None
        self._bar: Progress | None = None

    @classmethod
    def for_stderr(cls) -> ProgressLog:
        """Live when stderr is a terminal."""
        return cls(sys.stderr.isatty())

    @property
    def showing(self) -> bool:
        """A live display of running steps is on the terminal."""
        return self._bar is not None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stream is None, file=self.stream,
                                    highlight=False)
        return self._console

    def print(self, message: str) -> None:
        """One line: above the running steps on a terminal, with its UTC time otherwise."""
        if self.live:
            self.console.print(message, markup=False, highlight=False)
        else:
            stream = self.stream if self.stream is not None else sys.stderr
            stream.write(f"{utc_text(utc_now())} {message}\n")
            stream.flush()

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """A long step: started, then done (or stopped) after so many seconds."""
        started = time.monotonic()
        task = self._start_task(what)
        try:
            yield
        except BaseException as error:
            self._stop_task(task)
            self.print(f"{what}: stopped after {time.monotonic() - started:.1f} s "
                       f"({type(error).__name__})")
            raise
        self._stop_task(task)
        self.print(f"{what}: done in {time.monotonic() - started:.1f} s")

    def _start_task(self, what: str) -> TaskID | None:
        if not self.live:
            self.print(f"{what} ...")
            return None
        if self._bar is None:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=self.console, transient=True)
            self._bar.start()
        return self._bar.add_task(what, total=None)

    def _stop_task(self, task: TaskID | None) -> None:
        if self._bar is None or task is None:
            return
        self._bar.remove_task(task)
        if not self._bar.tasks:
            self._bar.stop()
            self._bar = None

    def rounds(self, scenario: Scenario) -> Callable[[RoundRecord], None]:
        """A negotiation's progress callback: one line per round, as its mechanism formats
        it."""
        from ptn.coordinator.runner import round_printer

        return round_printer(scenario, self.print)


def progress_log(show: bool) -> ProgressLog | None:
    """The command's progress on stderr, or None (``show`` false: e.g. ``--quiet``)."""
    return ProgressLog.for_stderr() if show else None

