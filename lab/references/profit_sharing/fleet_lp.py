"""The fleet's charging LP written in Pyomo: the TNO's half of the KKT reference's follower.

Why this module exists: the KKT reformulation (:mod:`ptn.lab.references.profit_sharing.kkt`)
needs the follower's LP as an algebraic model whose standard form it can read and dualize, and
it uses Pyomo (SCIP takes SOS1 constraints through Pyomo's interface), while the fleet's own
model (:class:`ptn.engines.fleet.charging_plan.FleetChargingModel`) is a cvxpy model. This is the
same LP, the constraints of :mod:`ptn.engines.fleet.charging_plan` (seed 000's e-bus fleet,
MODELS.md §4) written again in Pyomo. The two are compared at every KKT solution:
``BilevelSolution.follower_gap_usd`` is the KKT point's follower objective minus the cvxpy
follower's optimum at the same share (≈ 0; the tests hold it below 1e-4 $).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ptn.engines.fleet.case import FleetCase


@dataclass
class FleetLp:
    """Handles of the fleet LP written in Pyomo (:func:`fleet_block`)."""

    block: Any
    station_load: Any  # Expression (station, period), MW
    cost: Any  # Expression, $


def fleet_block(model: Any, case: FleetCase, name: str = "fleet") -> FleetLp:
    """The LP of :mod:`ptn.engines.fleet.charging_plan` as a Pyomo Block of ``model``.

    Same decisions and rows: grid energy ``c[k, t] ≥ 0`` per reachable (line, station) pair k,
    pooled battery energy ``e[l, t]`` with ``e[l, 0] = e0`` and ``e[l, T] ≥ e0`` and the SOC
    window for t ≥ 1 (as variable bounds), the energy balance, off-service bus-hours (plug-in
    plus detour per visit), station limits; cost = tariff·energy + value of time·detour hours
    per visit.
    """
    import pyomo.environ as pyo

    T, L, S = case.periods, case.num_lines, case.num_stations
    dt = case.period_hours
    detour = case.detour_hours()
    line_of, station_of = np.nonzero(np.isfinite(detour))
    K = line_of.size
    pair_detour = detour[line_of, station_of]
    visits_per_mwh = 1.0 / (case.charge_power_max_mw()[line_of] * case.session_hours)
    detour_usd_per_mwh = case.value_of_time_per_h * pair_detour * visits_per_mwh
    busy_hours_per_mwh = visits_per_mwh * (case.session_hours + pair_detour)
    e0, e_min, e_max = case.energy_bounds_mwh()
    eta = case.charging_efficiency()
    consumption = case.consumption_mwh()
    off_service = case.off_service_hours()
    station_max = case.station_power_max_mw()
    tariff = case.tariff_per_mwh
    of_line = [np.flatnonzero(line_of == line) for line in range(L)]
    of_station = [np.flatnonzero(station_of == station) for station in range(S)]

    block = pyo.Block(concrete=True)
    model.add_component(name, block)
    block.K = pyo.RangeSet(0, K - 1)
    block.T = pyo.RangeSet(0, T - 1)
    block.L = pyo.RangeSet(0, L - 1)
    block.S = pyo.RangeSet(0, S - 1)
    block.T_ENERGY = pyo.RangeSet(0, T)
    block.c = pyo.Var(block.K, block.T, bounds=(0.0, None))

    def energy_bounds(_: Any, line: int, t: int) -> tuple[float, float]:
        if t == 0:
            return float(e0[line]), float(e0[line])
        if t == T:
            return max(float(e_min[line]), float(e0[line])), float(e_max[line])
        return float(e_min[line]), float(e_max[line])

    block.e = pyo.Var(block.L, block.T_ENERGY, bounds=energy_bounds)
    block.balance = pyo.Constraint(block.L, block.T, rule=lambda b, line, t: (
        b.e[line, t + 1] == b.e[line, t] + float(eta[line]) * sum(
            b.c[int(k), t] for k in of_line[line]) - float(consumption[line, t])))
    block.off_service = pyo.Constraint(block.L, block.T, rule=lambda b, line, t: (
        sum(float(busy_hours_per_mwh[k]) * b.c[int(k), t] for k in of_line[line])
        <= float(off_service[line, t])))
    block.station_limit = pyo.Constraint(block.S, block.T, rule=lambda b, s, t: (
        sum(b.c[int(k), t] for k in of_station[s]) <= float(station_max[s] * dt)))
    block.station_load = pyo.Expression(block.S, block.T, rule=lambda b, s, t: (
        sum(b.c[int(k), t] for k in of_station[s]) / dt))
    block.cost = pyo.Expression(expr=sum(
        (float(tariff[t]) + float(detour_usd_per_mwh[k])) * block.c[k, t]
        for k in range(K) for t in range(T)))
    return FleetLp(block=block, station_load=block.station_load, cost=block.cost)
