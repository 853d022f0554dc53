"""The TNO's private electric-bus fleet model (seed 000's profit-sharing game, MODELS.md §4).

:mod:`ptn.engines.fleet.case` holds the data (lines, batteries, stations, detours on the road
network); :mod:`ptn.engines.fleet.charging_plan` the charging LP, its ADMM step and its embedding.
"""

from ptn.engines.fleet.case import (
    BusBattery,
    BusLine,
    FleetCase,
    FleetStation,
    nguyen_dupuis_example,
)
from ptn.engines.fleet.charging_plan import FleetChargingModel, FleetEmbedding, FleetPlan

__all__ = [
    "BusBattery",
    "BusLine",
    "FleetCase",
    "FleetChargingModel",
    "FleetEmbedding",
    "FleetPlan",
    "FleetStation",
    "nguyen_dupuis_example",
]
