"""The DSO's service in domain values: its ADMM step, dispatch, price quotes and cost.

Why this module exists: the ``DsoOperator`` service (protos/negotiation/v1/services.proto) as a
typed Protocol that :class:`ptn.services.dso.model.DsoModel` implements and its host's binding
(:mod:`ptn.services.bindings.dso`) calls, so mypy checks both sides. Arrays are (stations,
periods) in the DSO's public station order; the DSO is the supplying side of the coupling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ptn.services.contract import CoupledOperator, FloatArray, OperatorStatus


@dataclass(frozen=True)
class DispatchResult:
    """The DSO's answer to fixed station loads: its cost over the horizon ($), the station
    DLMPs ($/MWh; None without a solution), and in the pricing game its profit on charging at
    its latest quote of the negotiation (sales minus the supply cost the loads add, $; NaN
    without a quote)."""

    cost_usd: float
    price_per_mwh: FloatArray | None
    revenue_usd: float
    status: OperatorStatus = OperatorStatus.OK
    message: str = ""


@dataclass(frozen=True)
class PriceQuote:
    """The DSO's quoted station prices ($/MWh); ``trial`` when a random trial quote (the
    pricing game's first rounds), not the fitted-response OPF's."""

    price_per_mwh: FloatArray
    trial: bool
    status: OperatorStatus = OperatorStatus.OK
    message: str = ""


class DsoOperator(CoupledOperator, Protocol):
    """The DSO: ``ConsensusStep`` (supplying side), ``Dispatch``, ``QuotePrices``,
    ``ReportCost``."""

    def dispatch(self, load_mw: FloatArray, negotiation_id: str) -> DispatchResult:
        """Dispatch the feeders against fixed station loads (MW)."""
        ...

    def quote_prices(self, negotiation_id: str,
                     observed_load_mw: FloatArray | None) -> PriceQuote:
        """Its next quote in a negotiation, after adding the loads observed at its previous
        quote (when given) to that negotiation's history."""
        ...
