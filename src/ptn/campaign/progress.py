"""How far a campaign is: counts, an ETA, a display and Prometheus gauges.

Why this module exists: a campaign runs for hours; its user watches a terminal (a live rich
line), a log file (plain timestamped lines, one per finished trial) or a Prometheus server
(``ptn_campaign_trials_done`` and friends on ``--metrics-port``). All three show the same
counts. ETA: the trials not yet finished times the wall-clock seconds per trial this session
has taken so far (concurrency included), unknown until a trial finishes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge, Histogram

#: buckets of the seconds-per-trial histogram: from a small case to a city's game
TRIAL_SECONDS_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200)


@dataclass
class CampaignCounts:
    """Where a campaign stands: ``done`` ended with a negotiation (converged or not),
    ``failed`` failed, was refused or crashed; ``skipped`` were finished by an earlier run."""

    name: str
    total: int
    done: int = 0
    failed: int = 0
    running: int = 0
    skipped: int = 0
    retried: int = 0
    started: float = field(default_factory=time.monotonic)
    finished_now: int = 0

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.failed

    def eta_s(self) -> float:
        """Seconds until the last trial finishes, by this session's pace (NaN before the
        first trial finishes)."""
        if self.finished_now == 0:
            return math.nan
        return (time.monotonic() - self.started) / self.finished_now * self.remaining

    def line(self) -> str:
        eta = self.eta_s()
        eta_text = "—" if math.isnan(eta) else f"{eta:.0f} s"
        return (f"{self.name}: {self.done + self.failed}/{self.total} trials finished "
                f"({self.done} done, {self.failed} failed, {self.running} running, "
                f"{self.skipped} from an earlier run, {self.retried} retried), ETA {eta_text}")


@dataclass(frozen=True)
class CampaignMetrics:
    """The campaign's Prometheus families (one registry; served by ``--metrics-port``)."""

    registry: CollectorRegistry
    total: Gauge
    done: Gauge
    failed: Gauge
    running: Gauge
    trial_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> CampaignMetrics:
        registry = registry if registry is not None else CollectorRegistry()
        return cls(
            registry=registry,
            total=Gauge("ptn_campaign_trials", "Trials in the campaign.", registry=registry),
            done=Gauge("ptn_campaign_trials_done", "Trials that ended with a negotiation "
                       "(converged or not).", registry=registry),
            failed=Gauge("ptn_campaign_trials_failed", "Trials that failed, were refused or "
                         "crashed.", registry=registry),
            running=Gauge("ptn_campaign_trials_running", "Trials in flight.",
                          registry=registry),
            trial_seconds=Histogram("ptn_campaign_trial_seconds", "Wall-clock seconds per "
                                    "trial.", buckets=TRIAL_SECONDS_BUCKETS,
                                    registry=registry))

    def show(self, counts: CampaignCounts) -> None:
        self.total.set(counts.total)
        self.done.set(counts.done)
        self.failed.set(counts.failed)
        self.running.set(counts.running)


def plain_printer(emit: Callable[[str], None]) -> Callable[[CampaignCounts], None]:
    """One timestamped line per change of the counts (for logs and pipes)."""
    last: list[tuple[int, int, int]] = []

    def show(counts: CampaignCounts) -> None:
        state = (counts.done, counts.failed, counts.running)
        if last and last[-1] == state:
            return
        last[:] = [state]
        emit(f"{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} {counts.line()}")

    return show
