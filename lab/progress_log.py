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
from typing import TYPE_CHECKING, Any, TextIO

from ptn.lab.run_folder import utc_now, utc_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from ptn.coordinator.outcome import RoundRecord
    from ptn.scenario.document import Scenario


class ProgressLog:
    """Steps and lines of a long command on stderr: rich on a terminal (``live``), plain
    timestamped lines otherwise."""

    def __init__(self, live: bool, stream: TextIO | None = None) -> None:
        self.live = live
        self.stream = stream
        self._console: Console | None = None
        self._status: Status | None = None
        self._step = ""
        self._step_started = 0.0

    @classmethod
    def for_stderr(cls) -> ProgressLog:
        """Live when stderr is a terminal."""
        return cls(sys.stderr.isatty())

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stream is None, file=self.stream,
                                    highlight=False)
        return self._console

    def print(self, message: str) -> None:
        """One line: above the spinner on a terminal, with its UTC time otherwise."""
        if self.live:
            self.console.print(message, markup=False, highlight=False)
        else:
            stream = self.stream if self.stream is not None else sys.stderr
            stream.write(f"{utc_text(utc_now())} {message}\n")
            stream.flush()

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """A long step: started, then done (or failed) after so many seconds."""
        started = time.monotonic()
        outer, outer_started = self._step, self._step_started
        self._step, self._step_started = what, started
        if self.live:
            self._show_status(what)
        else:
            self.print(f"{what} ...")
        try:
            yield
        except BaseException as error:
            self.print(f"{what}: stopped after {time.monotonic() - started:.1f} s "
                       f"({type(error).__name__})")
            raise
        finally:
            self._step, self._step_started = outer, outer_started
            if self.live:
                self._show_status(outer)
        self.print(f"{what}: done in {time.monotonic() - started:.1f} s")

    def _show_status(self, what: str) -> None:
        if not what:
            if self._status is not None:
                self._status.stop()
                self._status = None
            return
        if self._status is None:
            self._status = self.console.status(what)
            self._status.start()
        self._status.update(what)

    def rounds(self, scenario: Scenario) -> Callable[[RoundRecord], None]:
        """A negotiation's progress callback: one line per round, as its mechanism formats
        it."""
        from ptn.coordinator.runner import round_printer

        return round_printer(scenario, self.print)


def progress_log(show: bool) -> ProgressLog | None:
    """The command's progress on stderr, or None (``show`` false: e.g. ``--quiet``)."""
    return ProgressLog.for_stderr() if show else None


def announce(log: ProgressLog | None, message: str) -> None:
    """A line on ``log`` when there is one."""
    if log is not None:
        log.print(message)


def noop(*_: Any) -> None:
    """Nothing (a callback slot left empty)."""
