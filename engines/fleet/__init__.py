"""The TNO's private electric-bus fleet model (seed 000's profit-sharing game, MODELS.md §4).

:mod:`ptn.engines.fleet.case` holds the data (lines, batteries, stations, detours on the road
network); :mod:`ptn.engines.fleet.charging_plan` the charging LP, its ADMM step and its embedding;
:mod:`ptn.engines.fleet.bus_plan` the per-bus MILP with whole visits; :mod:`ptn.engines.fleet.model`
picks one by ``FleetCase.fleet_model``.
"""

from ptn.engines.fleet.bus_plan import BusChargingModel
from ptn.engines.fleet.case import (
    BusBattery,
    BusLine,
    FleetCase,
    FleetStation,
    nguyen_dupuis_example,
)
from ptn.engines.fleet.charging_plan import FleetChargingModel, FleetEmbedding, FleetPlan
from ptn.engines.fleet.model import FleetModel, build_fleet_model

__all__ = [
    "BusBattery",
    "BusChargingModel",
    "BusLine",
    "FleetCase",
    "FleetChargingModel",
    "FleetEmbedding",
    "FleetModel",
    "FleetPlan",
    "FleetStation",
    "build_fleet_model",
    "nguyen_dupuis_example",
]
