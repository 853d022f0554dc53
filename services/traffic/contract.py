"""The traffic department's service in domain values: its ADMM step, price and probe responses.

Why this module exists: the ``TrafficDepartment`` service (protos/negotiation/v1/services.proto)
as a typed Protocol that :class:`ptn.services.traffic.model.TrafficDepartmentModel` implements
and its host's binding (:mod:`ptn.services.bindings.traffic`) calls. Arrays are (stations,
periods) in the department's station order; it is the consuming side of the coupling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ptn.services.contract import (
    CoupledOperator,
    FloatArray,
    OperatorStatus,
    PrivacyReport,
    StationLoads,
)


@dataclass(frozen=True)
class ProbeLoads:
    """The station loads (MW) answering each price probe, in the probes' order; ``privacy``:
    set when they carry differentially private noise, the privacy spent after them."""

    load_mw: tuple[FloatArray, ...]
    status: OperatorStatus = OperatorStatus.OK
    message: str = ""
    privacy: PrivacyReport | None = None


class TrafficOperator(CoupledOperator, Protocol):
    """The traffic department: ``ConsensusStep`` (consuming side), ``RespondToPrices``,
    ``ProbeResponses``, ``ReportCost``."""

    def respond_to_prices(self, price_per_mwh: FloatArray) -> StationLoads:
        """The equilibrium station loads when charging costs ``price_per_mwh`` (>= 0)."""
        ...

    def probe_responses(self, price_per_mwh: Sequence[FloatArray]) -> ProbeLoads:
        """The station loads at each probe's prices, leaving the state its cost reports refer
        to alone (the pricing game's load responses)."""
        ...
