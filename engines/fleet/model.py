"""The TNO's fleet model chosen by its case: the pooled LP or the per-bus MILP.

Why this module exists: the TNO's service, the prescheduling and the follower references build
"the fleet's model" without caring which; :attr:`ptn.engines.fleet.case.FleetCase.fleet_model`
says which one (``"pooled-lp"``, the default, :mod:`ptn.engines.fleet.charging_plan`;
``"bus-mip"`` and ``"bus-mip-full-visits"``, :mod:`ptn.engines.fleet.bus_plan`). Both answer the
same calls (:class:`FleetModel`), so the privacy boundary and the messages do not change.
"""

from __future__ import annotations

from typing import Protocol

from numpy.typing import ArrayLike

from ptn.engines.coupling import CouplingTerms
from ptn.engines.fleet.bus_plan import BusChargingModel
from ptn.engines.fleet.case import FleetCase
from ptn.engines.fleet.charging_plan import FleetChargingModel, FleetEmbedding, FleetPlan


class FleetModel(Protocol):
    """What the TNO and the references call on a fleet model."""

    case: FleetCase
    build_seconds: float

    @property
    def station_names(self) -> tuple[str, ...]: ...

    @property
    def line_names(self) -> tuple[str, ...]: ...

    def set_tariff(self, tariff_per_mwh: ArrayLike) -> None: ...

    def plan(self) -> FleetPlan: ...

    def consensus_step(self, coupling: CouplingTerms) -> FleetPlan: ...

    def embedding(self) -> FleetEmbedding: ...


def build_fleet_model(case: FleetCase) -> FleetModel:
    """The model ``case.fleet_model`` names, built once."""
    if case.fleet_model == "pooled-lp":
        return FleetChargingModel(case)
    return BusChargingModel(case)


def is_mixed_integer(case: FleetCase) -> bool:
    """Whether the case's fleet model has integer variables (it needs a MILP solver)."""
    return case.fleet_model != "pooled-lp"
