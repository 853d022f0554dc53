"""What a negotiation produces: its rounds and final values, as plain data with a status.

Why this module exists: the driver, the mechanisms, the results folder, the CLI and the tests all
speak about a negotiation's outcome; this is the one definition they share. Everything here was
seen by the coordinator (messages and scalars operators chose to report), never private data.
Arrays are (stations, periods).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class NegotiationStatus(StrEnum):
    """How a negotiation ended."""

    CONVERGED = "converged"
    NOT_CONVERGED = "not_converged"  # round limit reached
    FAILED = "failed"  # an operator failed, refused, or missed its deadline (message says who)


@dataclass(frozen=True)
class RoundRecord:
    """One round as the coordinator saw it.

    ``values`` holds the mechanism's scalars, named by its declared round fields (ADMM: the
    relative primal and dual residuals of its stopping test and the penalty; the pricing game:
    the relative price and load changes, the revenues, the probes): one column each in the
    results' round table. ``price_per_mwh`` is the prices in force after the round (ADMM's
    consensus price λ, the CNOs' charging prices α), ``load_mw`` the station loads by operator
    id, ``series`` any further (stations, periods) arrays (the DSO's quoted prices). ``stage``
    names the part of the run the round belongs to when a mechanism has several (a game's
    variant, a profit share); ``round`` counts the rounds of that part from 1.
    """

    round: int
    seconds: float  # wall-clock seconds of the round
    values: dict[str, float]
    price_per_mwh: FloatArray
    load_mw: dict[str, FloatArray]
    series: dict[str, FloatArray] = field(default_factory=dict)
    stage: str = ""

    def value(self, name: str) -> float:
        """A round field, NaN when the mechanism did not report it this round."""
        return float(self.values.get(name, float("nan")))


@dataclass(frozen=True)
class CostSummary:
    """Costs of one way of operating ($ over the horizon); ``total = traffic + dso``.

    ``status`` is ``ok``, or ``infeasible`` when an operator cannot serve this operation (the
    uncoordinated baseline on a grid that cannot take its charging): the loads and prices are
    those asked for, the infeasible operator's cost and the total are NaN, ``message`` says why.
    A full-information reference without a solution has the solver's status (``infeasible``,
    ``unbounded``, ``solver_error``) or ``failed``/``unavailable``, NaN costs and arrays, and
    the reason in ``message``.
    """

    total: float
    by_operator: dict[str, float]
    station_load_mw: FloatArray
    price_per_mwh: FloatArray
    status: str = "ok"
    message: str = ""

    @property
    def feasible(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class NegotiationOutcome:
    """The end of a negotiation: status, rounds, agreed loads and prices, timings."""

    negotiation_id: str
    mechanism: str
    status: NegotiationStatus
    message: str
    stations: tuple[str, ...]
    periods: int
    period_hours: float
    rounds: tuple[RoundRecord, ...]
    seconds: float
    agreed: CostSummary | None = None  # the negotiated operating point and its costs
    baseline: CostSummary | None = None  # uncoordinated (flat tariff) reference
    centralized: CostSummary | None = None  # full-information optimum (reference only)
    extra: dict[str, float] = field(default_factory=dict)
    #: what operators said beside their usable replies (a station's capacity binds, a
    #: relaxation is inexact), one line per operator and RPC
    warnings: tuple[str, ...] = ()
    #: differential privacy ([privacy]): the settings and the privacy each operator that noised
    #: its releases has spent (ptn.coordinator.mechanisms.joint_coordination.privacy_block);
    #: empty without a [privacy] mechanism
    privacy: dict[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return self.status == NegotiationStatus.CONVERGED

    @property
    def saving_vs_baseline(self) -> float:
        """Baseline total minus agreed total ($); NaN when either is missing."""
        if self.agreed is None or self.baseline is None:
            return float("nan")
        return self.baseline.total - self.agreed.total

    @property
    def gap_to_centralized(self) -> float:
        """(agreed − centralized) / |centralized|; NaN when either is missing."""
        if self.agreed is None or self.centralized is None:
            return float("nan")
        return (self.agreed.total - self.centralized.total) / abs(self.centralized.total)
