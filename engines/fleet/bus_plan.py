"""The TNO's charging plan with individual buses and whole charging visits: a MILP in cvxpy.

Why this module exists: the fleet model of :mod:`ptn.engines.fleet.charging_plan` pools a line's
buses into one battery and lets visits be fractional (an LP). Seed 000 names "18 electric buses"
and its referee asks whether the leader's optimal share ρ* survives a faithful fleet; this is the
mixed-integer variant (``FleetCase.fleet_model = "bus-mip"``, MODELS.md §4): every bus has its
own battery and state of charge, and a bus makes a whole charging visit or none. The LP stays
the default; data and choices are those of :mod:`ptn.engines.fleet.case`.

Decisions, for each bus b (of line l), station s reachable by l and period t (length Δt) in
which a visit fits (below): ``n[b, s, t] ∈ {0, 1, …, n_max}``, the number of whole visits
(a sum of binary visit decisions; an integer count is the same set with fewer variables).

* A visit **(choice)** is a detour from the line to s and back (``detour_hours[l, s]``, as in
  the LP) plus plugged-in time at full power ``p_max_l``: ``session_hours`` when the bus's
  off-service time in the period, ``w[l, t] = (1 − service_share[l, t])·Δt``, leaves room for
  it, else the whole rest of that time, ``w − detour`` (a layover shorter than a session is
  charged through whole). Visit length ``v = min(session_hours, w − detour)``; no visit where
  ``v ≤ 0``; ``n_max = floor(w / (v + detour))``. Grid energy of a visit ``p_max_l·v``. Without
  the second rule the seed case is infeasible: its layovers (0.2–0.4 h an hour) are shorter
  than a 0.5 h session and the buses must charge during the day.
* Bus time: ``Σ_s n[b, s, t]·(v + detour) ≤ w[l, t]``.
* Battery of bus b: ``e[b, 0] = soc_initial·cap``; ``e[b, t+1] = e[b, t] + η·Σ_s p·v·n −
  consumption[l, t] / buses_l``; ``soc_min·cap ≤ e[b, t] ≤ soc_max·cap`` for t ≥ 1;
  ``e[b, T] ≥ e[b, 0]``. Only end-of-period energy is tracked, as in the LP.
* Station limit: ``Σ_b Σ p·v·n ≤ power_max_s·Δt`` (as in the LP).
* Symmetry **(choice, valid)**: a line's buses are interchangeable, so their total visit counts
  are ordered, ``Σ n[b] ≥ Σ n[b + 1]`` within a line; any plan has a relabelling that does this.

Cost: ``C_TNO = Σ_t tariff_t·(grid energy in t) + value_of_time·Σ detour_hours·n`` (a detour is
paid in full per visit). The ADMM local step adds ``Σ Δt·[λ·P + (ρ/2)·(P − z)²]`` as the LP does
(:mod:`ptn.engines.fleet.charging_plan`); HiGHS solves MILPs but not MIQPs, so with ρ > 0 the
step is solved by SCIP (a mixed-integer SOCP through cvxpy), with ρ = 0 by HiGHS. Everything is
built once with cvxpy Parameters (tariff, coupling price and penalty): re-solves only refresh the
solver's data (a MILP has no warm start to keep). Gaps: ``mip_rel_gap`` 1e-9 (HiGHS) and
``limits/gap`` 1e-9 (SCIP), so the optimum is the optimum to ~1e-5 $ on a day of ~500 $.

Plans are :class:`~ptn.engines.fleet.charging_plan.FleetPlan` values, per line: charging, visits
and battery energy are the sums over the line's buses (``bus_energy_mwh`` keeps each bus's).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase, FloatArray
from ptn.engines.fleet.charging_plan import (
    SOLVER_STATUS,
    FleetEmbedding,
    FleetParameters,
    FleetPlan,
    FleetStatus,
    empty_plan,
)

#: HiGHS (MILP) and SCIP (the ADMM step's MISOCP) settings: gaps tight enough that the leader's
#: cost in the profit-sharing sweep is exact to well below a cent
HIGHS_OPTIONS: dict[str, Any] = {"mip_rel_gap": 1e-9, "mip_abs_gap": 1e-7}
SCIP_OPTIONS: dict[str, Any] = {"scip_params": {"limits/gap": 1e-9, "limits/absgap": 1e-7}}

@dataclass(frozen=True)
class VisitOptions:
    """Where and how a bus may charge: one row per (bus, station, period) a visit fits in.

    ``bus``, ``station``, ``period``: indices; ``line`` the bus's line; ``visit_hours`` the
    plugged-in time of one visit, ``detour_hours`` its driving, ``energy_mwh`` its grid energy,
    ``max_visits`` how many fit in the period (module doc).
    """

    bus: NDArray[np.int64]
    line: NDArray[np.int64]
    station: NDArray[np.int64]
    period: NDArray[np.int64]
    visit_hours: FloatArray
    detour_hours: FloatArray
    energy_mwh: FloatArray
    max_visits: NDArray[np.int64]

    @property
    def size(self) -> int:
        return int(self.bus.size)


def bus_lines(case: FleetCase) -> NDArray[np.int64]:
    """The line of each bus, buses numbered line by line."""
    return np.repeat(np.arange(case.num_lines), case.buses().astype(np.int64))


def visit_options(case: FleetCase) -> VisitOptions:
    """Every (bus, station, period) where a whole visit fits (module doc)."""
    detour = case.detour_hours()
    window = case.off_service_hours() / case.buses()[:, None]  # (lines, periods), per bus
    p_max = case.charge_power_max_mw()
    rows: list[tuple[int, int, int, int, float, float, int]] = []
    for bus, line in enumerate(bus_lines(case)):
        for station in np.flatnonzero(np.isfinite(detour[line])):
            trip = float(detour[line, station])
            for period in range(case.periods):
                free = float(window[line, period])
                length = min(case.session_hours, free - trip)
                if length <= 1e-9:
                    continue
                count = int(np.floor(free / (length + trip) + 1e-9))
                rows.append((bus, int(line), int(station), period, length, trip, count))
    if not rows:
        raise InvalidInputError(f"{case.name}: no bus has time for a charging visit in any "
                                "period (off-service time shorter than every detour)")
    columns = list(zip(*rows, strict=True))
    ints = [np.array(c, dtype=np.int64) for c in (columns[0], columns[1], columns[2],
                                                 columns[3], columns[6])]
    hours = np.array(columns[4], dtype=np.float64)
    trips = np.array(columns[5], dtype=np.float64)
    return VisitOptions(bus=ints[0], line=ints[1], station=ints[2], period=ints[3],
                        visit_hours=hours, detour_hours=trips,
                        energy_mwh=p_max[ints[1]] * hours, max_visits=ints[4])


def _incidence(rows: NDArray[np.int64], count: int, weights: FloatArray) -> sp.csr_matrix:
    """``(count, options)``: option k adds ``weights[k]`` to row ``rows[k]``."""
    return sp.csr_matrix((weights, (rows, np.arange(rows.size))), shape=(count, rows.size))


class BusChargingModel(FleetParameters):
    """The TNO's mixed-integer charging plan (individual buses, whole visits), built once."""

    def __init__(self, case: FleetCase, *, solver_options: dict[str, Any] | None = None) -> None:
        self.case = case
        self.full_visits = case.fleet_model == "bus-mip-full-visits"
        self.milp_options = {**HIGHS_OPTIONS, **(solver_options or {})}
        self.miqp_options = dict(SCIP_OPTIONS)
        started = time.perf_counter()
        self._build()
        self.build_seconds = time.perf_counter() - started

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        case = self.case
        T, S = case.periods, case.num_stations
        dt = case.period_hours
        options = visit_options(case)
        self.options = options
        line_of_bus = bus_lines(case)
        B = line_of_bus.size
        per_bus = case.buses()
        battery = np.array([case.line_battery(line).battery_mwh for line in line_of_bus])
        soc = np.array([[case.line_battery(line).soc_initial, case.line_battery(line).soc_min,
                         case.line_battery(line).soc_max] for line in line_of_bus])
        e0, e_min, e_max = (battery * soc[:, k] for k in range(3))
        eta = case.charging_efficiency()[line_of_bus]
        consumption = case.consumption_mwh()[line_of_bus] / per_bus[line_of_bus, None]
        window = (case.off_service_hours() / per_bus[:, None])[line_of_bus]

        self._visits = cp.Variable(options.size, integer=True, name="visits",
                                   bounds=[np.zeros(options.size), options.max_visits.astype(
                                       np.float64)])
        self._energy = cp.Variable((B, T + 1), name="bus_energy_mwh")
        self._grid = cp.Variable(options.size, nonneg=True, name="grid_mwh")
        bus_period = options.bus * T + options.period
        station_period = options.station * T + options.period
        charged = _incidence(bus_period, B * T, eta[options.bus])
        busy = _incidence(bus_period, B * T, options.visit_hours + options.detour_hours)
        self._to_station = _incidence(station_period, S * T, np.ones(options.size))
        self._to_period = _incidence(options.period, T, np.ones(options.size))
        capacity = cp.multiply(options.energy_mwh, self._visits)
        constraints: list[cp.Constraint] = [
            self._grid == capacity if self.full_visits else self._grid <= capacity,
            self._energy[:, 0] == e0,
            self._energy[:, 1:] == self._energy[:, :-1]
            + cp.reshape(charged @ self._grid, (B, T), order="C") - consumption,
            self._energy[:, 1:] >= np.repeat(e_min[:, None], T, axis=1),
            self._energy[:, 1:] <= np.repeat(e_max[:, None], T, axis=1),
            self._energy[:, T] >= e0,
            busy @ self._visits <= window.reshape(-1),
            self._to_station @ self._grid
            <= np.repeat(case.station_power_max_mw() * dt, T),
        ]
        totals = _incidence(options.bus, B, np.ones(options.size)) @ self._visits
        same_line = np.flatnonzero(line_of_bus[:-1] == line_of_bus[1:])
        if same_line.size:
            constraints.append(totals[same_line] >= totals[same_line + 1])
        self._station_load = cp.reshape(self._to_station @ self._grid, (S, T),
                                        order="C") / dt
        self._tariff = cp.Parameter(T, name="tariff_per_mwh")
        self._tariff.value = case.tariff_per_mwh.copy()
        self._detour_usd = case.value_of_time_per_h * options.detour_hours
        self._cost = self._tariff @ (self._to_period @ self._grid) \
            + self._detour_usd @ self._visits
        self._linear = cp.Parameter((S, T), name="coupling_linear")
        self._half_penalty = cp.Parameter(nonneg=True, name="coupling_half_penalty")
        linear_terms = cp.sum(cp.multiply(self._linear, self._station_load))
        self._constraints = tuple(constraints)
        self._milp = cp.Problem(cp.Minimize(self._cost + linear_terms), list(constraints))
        self._miqp = cp.Problem(cp.Minimize(
            self._cost + linear_terms
            + self._half_penalty * cp.sum_squares(self._station_load)), list(constraints))
        self._reset_coupling()

    # ------------------------------------------------------------------ solves
    def plan(self) -> FleetPlan:
        """Prescheduling: the plan of least own cost (no coordination terms)."""
        self._reset_coupling()
        return self._solve()

    def consensus_step(self, coupling: CouplingTerms) -> FleetPlan:
        """ADMM local step ``min C_TNO + Σ Δt·[λ·P + (ρ/2)·(P − z)²]`` over whole visits."""
        self._accept_coupling(coupling)
        return self._solve()

    def embedding(self) -> FleetEmbedding:
        """The fleet's cost, constraints and station loads, for a parent cvxpy model (a MILP:
        the parent needs a mixed-integer solver, e.g. HiGHS)."""
        self._reset_coupling()
        return FleetEmbedding(cost_usd=self._cost, constraints=self._constraints,
                              station_load_mw=self._station_load,
                              read_plan=lambda: self._collect("optimal", "", None))

    def _solve(self) -> FleetPlan:
        started = time.perf_counter()
        quadratic = self._coupling.quadratic_usd_per_mw2 > 0
        problem = self._miqp if quadratic else self._milp
        solver, options = ("SCIP", self.miqp_options) if quadratic \
            else ("HIGHS", self.milp_options)
        message = ""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                problem.solve(solver=solver, **options)
            status: FleetStatus = SOLVER_STATUS.get(problem.status, "failed")
            if problem.status not in SOLVER_STATUS:
                message = f"{solver} status {problem.status}"
            elif status == "infeasible":
                message = ("no plan of whole visits serves every bus's timetable within its "
                           "battery window, off-service time and the station limits")
        except cp.error.SolverError as error:
            status, message = "failed", f"{solver}: {error}"
        if status == "optimal":
            plan = self._collect(status, message,
                                 float(problem.value) + self._coupling.constant_usd)
        else:
            plan = empty_plan(self.case, status, message)
        stats = problem.solver_stats
        solver_seconds = float(stats.solve_time or 0.0) if stats is not None else 0.0
        return replace(plan, seconds=time.perf_counter() - started,
                       solver_seconds=solver_seconds)

    # ------------------------------------------------------------------ read-back
    def bus_energy_mwh(self) -> FloatArray:
        """``(buses, periods + 1)``: each bus's battery energy at the latest solution."""
        return np.asarray(self._energy.value, dtype=np.float64).copy()

    def visit_counts(self) -> NDArray[np.int64]:
        """The latest solution's visits per option (:attr:`options`), rounded to integers."""
        return np.rint(np.asarray(self._visits.value, dtype=np.float64)).astype(np.int64)

    def _collect(self, status: FleetStatus, message: str, objective: float | None) -> FleetPlan:
        case = self.case
        L, S, T = case.num_lines, case.num_stations, case.periods
        dt = case.period_hours
        options = self.options
        visits = self.visit_counts().astype(np.float64)
        energy = np.clip(np.asarray(self._grid.value, dtype=np.float64), 0.0,
                         visits * options.energy_mwh)
        charging = np.zeros((L, S, T))
        np.add.at(charging, (options.line, options.station, options.period), energy)
        per_line = np.zeros((L, S, T))
        np.add.at(per_line, (options.line, options.station, options.period), visits)
        bus_energy = self.bus_energy_mwh()
        line_energy = np.zeros((L, T + 1))
        np.add.at(line_energy, bus_lines(case), bus_energy)
        load = charging.sum(axis=0) / dt
        energy_cost = float(case.tariff_per_mwh @ charging.sum(axis=(0, 1)))
        detour_cost = float(self._detour_usd @ visits)
        cost = energy_cost + detour_cost
        coordination = self._coupling.cost_usd(load) if objective is not None else 0.0
        return FleetPlan(
            status=status, station_names=case.station_names, line_names=case.line_names,
            station_load_mw=load, charging_mwh=charging, energy_mwh=line_energy,
            visits=per_line, cost_usd=cost, energy_cost_usd=energy_cost,
            detour_cost_usd=detour_cost, coordination_usd=coordination,
            objective_usd=cost + coordination if objective is None else objective,
            period_hours=dt, message=message)
