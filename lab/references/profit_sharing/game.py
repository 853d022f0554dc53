"""The profit-sharing game's common pieces, shared by the cvxpy and the Pyomo references.

Why this module exists: both full-information stacks of :mod:`ptn.lab.references.profit_sharing`
(the cvxpy follower and sweep, the Pyomo KKT reformulation) need the same few things of seed
000's game (MODELS.md §4): which charging point of the DSO case each station of the fleet feeds,
stage 1 as the operators run it (the TNO plans alone, the DSO dispatches that plan: C0, the
cost the leader shares savings against), the DSO's fixed-load dispatch of a plan's station
loads, and the leader's total cost ``L(ρ) = C_DSO + ρ·(C0 − C_DSO)``. They live here once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase, FloatArray
from ptn.engines.fleet.model import build_fleet_model
from ptn.engines.power.der import DsoCase, validate_case
from ptn.engines.power.distflow import DistFlowOpf, Formulation
from ptn.engines.power.result import OpfResult, OpfStatus

FollowerStatus = Literal["optimal", "infeasible", "failed"]


@dataclass(frozen=True)
class Preschedule:
    """Stage 1: the TNO's plan alone and the DSO's dispatch of it (cost C0)."""

    status: FollowerStatus
    tno_cost_usd: float
    dso_cost_usd: float  # C0
    station_names: tuple[str, ...]
    station_load_mw: FloatArray
    message: str = ""


def point_of_station(
    fleet_case: FleetCase, dso_case: DsoCase, station_order: Sequence[int] | None = None
) -> NDArray[np.int64]:
    """Per station of the fleet (its order), the position of its charging point in the DSO case.

    ``station_order`` is that mapping (``DsoConfig.point_order`` of the services); ``None``
    matches stations and charging points by name. Every charging point must be fed by exactly
    one station, and both cases must share periods and period length.
    """
    validate_case(dso_case)
    points = [point.name for point in dso_case.charging_points]
    stations = fleet_case.station_names
    if fleet_case.periods != dso_case.periods:
        raise InvalidInputError(f"the fleet has {fleet_case.periods} periods but the DSO case "
                                f"{dso_case.periods}")
    if not math.isclose(fleet_case.period_hours, dso_case.period_hours):
        raise InvalidInputError(f"the fleet's periods last {fleet_case.period_hours} h but the "
                                f"DSO's {dso_case.period_hours} h")
    if len(points) != len(stations):
        raise InvalidInputError(f"the fleet has {len(stations)} stations but the DSO case "
                                f"{len(points)} charging points ({', '.join(points) or 'none'})")
    if station_order is None:
        missing = [name for name in stations if name not in points]
        if missing:
            raise InvalidInputError(f"station {missing[0]} has no charging point of that name "
                                    f"(charging points: {', '.join(points)})")
        return np.array([points.index(name) for name in stations], dtype=np.int64)
    order = np.asarray(station_order)
    if order.shape != (len(stations),) or not np.issubdtype(order.dtype, np.integer) \
            or sorted(order.tolist()) != list(range(len(points))):
        raise InvalidInputError(f"station_order must be a permutation of 0..{len(points) - 1} "
                                f"(one charging point per station), got {list(station_order)}")
    return order.astype(np.int64)


def leader_cost_usd(share: float, dso_cost_usd: float, original_dso_cost_usd: float) -> float:
    """The DNO's total cost ``C_DSO + ρ·(C0 − C_DSO)`` ($)."""
    return dso_cost_usd + share * (original_dso_cost_usd - dso_cost_usd)


def dispatch_fixed(dso_case: DsoCase, station_load_mw: FloatArray, point: NDArray[np.int64],
                    formulation: Formulation) -> OpfResult:
    """The DSO's dispatch with the fleet's station loads (stations in the fleet's order, MW)
    fixed at their charging points."""
    loads = np.empty_like(station_load_mw)
    loads[point] = station_load_mw
    opf = DistFlowOpf(dso_case, charging="fixed", formulation=formulation)
    opf.set_charging_load(loads)
    return opf.solve()


def preschedule(
    fleet_case: FleetCase,
    dso_case: DsoCase,
    *,
    station_order: Sequence[int] | None = None,
    formulation: Formulation = "lindistflow",
) -> Preschedule:
    """Stage 1 as the operators run it: ``build_fleet_model(fleet_case).plan()`` (the TNO's
    plan alone, a point of its own, possibly tied, optimal set) and the DSO's fixed-load
    dispatch of its station loads (``DistFlowOpf(charging="fixed")``): C0."""
    point = point_of_station(fleet_case, dso_case, station_order)
    plan = build_fleet_model(fleet_case).plan()
    names = fleet_case.station_names
    nan = float("nan")
    if not plan.has_solution:
        return Preschedule(plan.status, nan, nan, names, plan.station_load_mw,
                           f"the TNO's plan alone: {plan.message}")
    dispatch = dispatch_fixed(dso_case, plan.station_load_mw, point, formulation)
    if not dispatch.status.has_solution:
        status: FollowerStatus = "infeasible" if dispatch.status == OpfStatus.INFEASIBLE \
            else "failed"
        return Preschedule(status, plan.cost_usd, nan, names, plan.station_load_mw,
                           f"the DSO's dispatch of the TNO's plan: {dispatch.message}")
    return Preschedule("optimal", plan.cost_usd, float(dispatch.objective), names,
                       plan.station_load_mw)
