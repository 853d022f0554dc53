"""The hooks a negotiation mechanism fills in, and what the driver tells it.

Why this module exists: mechanisms (ADMM, the pricing game, profit sharing) differ only in what
they ask and how they update (PowerModelsADA's habit: fixed hooks over one driver). The driver
(:mod:`ptn.coordinator.runtime.driver`) owns rounds, messages, deadlines, retries, checkpoints,
the transcript and metrics; a mechanism is a state machine over *driver rounds*:

* :meth:`Mechanism.begin`: the calls before the first round of a fresh run (descriptions, a
  baseline); not on resume, whose state comes from the checkpoint;
* :meth:`Mechanism.round_exchange`: one driver round, written as a generator that yields each
  phase's calls (the calls of a phase run concurrently), is sent their replies by operator id,
  and returns the round's :class:`~ptn.coordinator.outcome.RoundRecord` (or None for a driver
  round that is not a negotiation round, such as a certificate or a settlement);
* :meth:`Mechanism.finished`: whether no driver round is left;
* :meth:`Mechanism.state` / :meth:`Mechanism.restore`: everything needed to continue after the
  last completed driver round, as JSON-able values (the driver checkpoints it every round);
* :meth:`Mechanism.conclude` / :meth:`Mechanism.failed`: the final calls and the outcome.

A mechanism declares its round fields (the keys of its records' ``values``) and which of them
are exported as Prometheus gauges (:class:`RoundGauge`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from google.protobuf.message import Message

from ptn.coordinator.outcome import RoundRecord
from ptn.scenario.document import Scenario

if TYPE_CHECKING:
    from ptn.coordinator.runtime.driver import Driver

T = TypeVar("T")
OutcomeT = TypeVar("OutcomeT")


@dataclass(frozen=True)
class Call:
    """One request of a phase: to whom, which RPC, and the request (the driver fills in its
    header). ``scope`` names a part of the run with its own negotiation id
    (``<negotiation id>/<scope>``, e.g. a variant of the pricing game), so an operator that
    keeps per-negotiation state (the DSO's fitted response) starts it afresh."""

    operator_id: str
    method: str
    request: Message
    scope: str = ""


#: a multi-phase exchange: yields the calls of a phase, is sent the replies by operator id,
#: returns its result
Exchange = Generator[list[Call], dict[str, Message], T]


@dataclass(frozen=True)
class RoundGauge:
    """A round field exported as a Prometheus gauge (labelled by mechanism)."""

    field: str
    metric: str
    help: str


@dataclass(frozen=True)
class RunSummary:
    """What the driver hands a mechanism at the end: the negotiation's id, the rounds recorded
    (resumed runs included), when this process's part started (``time.perf_counter()``), the
    round number its final calls use (after the last driver round), and why it failed
    (``failure``, empty unless it did)."""

    negotiation_id: str
    rounds: tuple[RoundRecord, ...]
    started: float
    closing_round: int
    failure: str = ""
    #: what operators said beside usable replies (a station's capacity binds, a relaxation is
    #: inexact), one line per operator and RPC: :meth:`~ptn.coordinator.runtime.driver.Driver.
    #: warnings`
    warnings: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        """Wall-clock seconds of this process's part of the run, until now."""
        return time.perf_counter() - self.started


class Mechanism(ABC, Generic[OutcomeT]):
    """A negotiation mechanism over the driver's rounds (see the module docstring)."""

    name: ClassVar[str] = "abstract"
    #: the keys of its records' ``values``, in the order of the round table's columns
    round_fields: ClassVar[tuple[str, ...]] = ()
    #: the round fields exported as gauges
    round_gauges: ClassVar[tuple[RoundGauge, ...]] = ()
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        #: public station names, for the per-station price and load gauges
        self.stations: tuple[str, ...] = scenario.public.stations

    def begin(self, driver: Driver) -> None:
        """Before the first round of a fresh run (not on resume): round-0 calls (none by
        default)."""
        return None

    @abstractmethod
    def finished(self) -> bool:
        """Whether no driver round is left (converged, the round limit, or the plan done)."""

    @abstractmethod
    def round_exchange(self, driver_round: int) -> Exchange[RoundRecord | None]:
        """One driver round (numbered from 1 over the whole run)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything needed to continue after the last completed driver round (JSON-able)."""

    @abstractmethod
    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""

    @abstractmethod
    def conclude(self, driver: Driver, run: RunSummary) -> OutcomeT:
        """After the last round: final calls (cost reports, a settlement) and the outcome."""

    @abstractmethod
    def failed(self, run: RunSummary) -> OutcomeT:
        """The outcome of a run that failed (``run.failure`` says why)."""
