"""The TNO's charging plan for its electric-bus fleet: a linear program, built once in cvxpy.

Why this module exists: seed 000's profit-sharing game (MODELS.md §4) needs the follower's
private model, the TNO allocating its buses' charging over stations and periods at least cost
(prescheduling), then re-allocating when the DNO shares saved cost (rescheduling). That follower
problem ``min C_TNO(x) + ρ·C_DNO(x)`` is solved either privately by ADMM on the station loads
(:meth:`FleetChargingModel.consensus_step`, the MODELS.md §5 local step) or, as a reference,
centrally with the DNO's OPF in one cvxpy model (:meth:`FleetChargingModel.embedding`, the
pattern of :meth:`ptn.engines.power.distflow.DistFlowOpf.embedding`). The paper gives no fleet
model; this one is ours (data and choices: :mod:`ptn.engines.fleet.case`).

Decisions, for lines l, stations s reachable by l (``detour_hours[l, s] < inf``; other pairs are
fixed to 0 by having no variable), periods t of length Δt:

* ``c[l, s, t] ≥ 0``: energy (MWh) drawn from the grid at station s in period t by line l's
  buses;
* ``e[l, t]``: energy (MWh) in line l's batteries at the start of period t, ``t = 0 .. T``.

Constraints:

* ``e[l, 0] = soc_initial·cap·buses``; ``e[l, t+1] = e[l, t] + η_l·Σ_s c[l, s, t] −
  consumption[l, t]``; ``soc_min·cap·buses ≤ e[l, t] ≤ soc_max·cap·buses`` for t ≥ 1;
  ``e[l, T] ≥ e[l, 0]`` (the next day starts no emptier). **(choice)** A line's buses are
  identical and run the same timetable, so their batteries are pooled into one per line; the
  pooled window is exact for schedules that treat the buses alike and a relaxation otherwise.
  Only end-of-period energy is tracked (no SOC path inside a period).
* Off-service time **(choice)**: a visit delivers ``p_max·session_hours`` MWh (grid side), so
  ``visits[l, s, t] = c[l, s, t] / (p_max_l·session_hours)`` (linear: a fractional number of
  visits, the LP relaxation of a count); each visit takes the bus ``session_hours`` plugged in
  plus ``detour_hours[l, s]`` of driving, out of the line's off-service bus-hours:
  ``Σ_s visits·(session_hours + detour_hours[l, s]) ≤ buses·(1 − service_share[l, t])·Δt``.
  Without detours this is the brief's ``Σ_s c ≤ buses·p_max·(1 − service_share)·Δt``. The energy
  a detour drives is not charged to the battery **(choice)**: it is small beside a round trip.
* Station limit: ``Σ_l c[l, s, t] ≤ power_max_s·Δt``.

Station load ``P[s, t] = Σ_l c[l, s, t] / Δt`` (MW). The TNO's own cost ($ over the horizon):

    C_TNO = Σ_t tariff_t·Σ_{l,s} c[l, s, t]  +  value_of_time·Σ detour_hours[l, s]·visits[l, s, t]

(energy bought at the public time-of-use tariff, and bus-hours of detour driving). This is an
LP and its optimum is in general *not unique* (e.g. two stations on a line's route at the same
tariff): no regularization is added, because seed 000's referee asks how ties in the follower's
problem are resolved and that question belongs to the game, not to this model. Clarabel, an
interior-point method, returns a point in the relative interior of the optimal face.

ADMM local step (MODELS.md §5 and :mod:`ptn.coordinator.mechanisms.admm`, consuming side):

    min C_TNO + Σ_{s,t} Δt·[λ_st·P_st + (ρ/2)·(P_st − z_st)²]

with λ in $/MWh, ρ in $/(MW²·h), z in MW, given as the consuming side's
:class:`ptn.engines.coupling.CouplingTerms`. Under DPP the coupling enters as the Parameters
``q = Δt·(λ − ρ·z)`` and ``h = Δt·ρ/2`` (the terms' horizon form; ``Δt·(ρ/2)·Σ z²`` is a
constant kept aside), so re-solves only refresh Clarabel's data. The tariff is a Parameter too
(:meth:`set_tariff`).

Reported plans clip the solver's ``c`` at 0 (interior-point noise of ~1e-10 MWh), so loads are
valid inputs for the DNO's OPF; costs are recomputed from the clipped values.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ptn.engines.coupling import CouplingSide, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase, FloatArray

FleetStatus = Literal["optimal", "infeasible", "failed"]

#: Clarabel's defaults (gap 1e-8 relative) suit this small LP/QP: 6 lines × 3 stations × 24
#: periods solves in a few ms; iterative refinement is kept (it is cheap here).
DEFAULT_SOLVER_OPTIONS: dict[str, dict[str, Any]] = {"CLARABEL": {}}

#: cvxpy's statuses as a plan's (shared by both fleet models)
SOLVER_STATUS: dict[str, FleetStatus] = {
    cp.OPTIMAL: "optimal",
    cp.OPTIMAL_INACCURATE: "optimal",
    cp.INFEASIBLE: "infeasible",
    cp.INFEASIBLE_INACCURATE: "infeasible",
}


@dataclass(frozen=True)
class FleetPlan:
    """A charging plan of the fleet (failures are data: see ``status`` and ``message``).

    ``status``: ``optimal`` (also at reduced solver accuracy, said in ``message``),
    ``infeasible`` (the timetable cannot be served within the batteries, off-service time and
    station limits) or ``failed`` (solver trouble); without a solution arrays and costs are NaN.
    Arrays: ``station_load_mw`` ``(stations, periods)``, ``charging_mwh``
    ``(lines, stations, periods)`` (grid energy), ``energy_mwh`` ``(lines, periods + 1)``
    (pooled battery energy at period starts), ``visits`` ``(lines, stations, periods)``.
    Costs in $ over the horizon: ``cost_usd = energy_cost_usd + detour_cost_usd`` is the TNO's
    own cost; ``coordination_usd`` the ADMM terms ``Σ Δt·[λ·P + (ρ/2)·(P − z)²]`` (0 for
    :meth:`FleetChargingModel.plan`); ``objective_usd`` the value the solver minimized
    (``cost_usd + coordination_usd`` up to solver accuracy).
    """

    status: FleetStatus
    station_names: tuple[str, ...]
    line_names: tuple[str, ...]
    station_load_mw: FloatArray
    charging_mwh: FloatArray
    energy_mwh: FloatArray
    visits: FloatArray
    cost_usd: float
    energy_cost_usd: float
    detour_cost_usd: float
    coordination_usd: float
    objective_usd: float
    period_hours: float
    message: str = ""
    seconds: float = 0.0
    solver_seconds: float = 0.0

    @property
    def has_solution(self) -> bool:
        return self.status == "optimal"


@dataclass(frozen=True)
class FleetEmbedding:
    """The fleet's LP as parts of a larger cvxpy model (:meth:`FleetChargingModel.embedding`).

    ``cost_usd``: the TNO's own cost (no coordination terms); ``constraints``: every constraint
    of the fleet model; ``station_load_mw``: the ``(stations, periods)`` load expression (MW);
    ``read_plan()``: after a parent problem holding these parts solved optimally, the fleet's
    plan (status ``optimal``, coordination terms 0, ``objective_usd`` = ``cost_usd``). The parts
    share the model's variables and its tariff Parameter.
    """

    cost_usd: cp.Expression
    constraints: tuple[cp.Constraint, ...]
    station_load_mw: cp.Expression
    read_plan: Callable[[], FleetPlan]


class FleetParameters:
    """What both fleet models share: names, the tariff and coupling Parameters' updates.

    Subclasses build ``_tariff`` (periods), ``_linear`` (stations × periods) and
    ``_half_penalty`` (scalar) as cvxpy Parameters and hold ``case``.
    """

    case: FleetCase
    _tariff: cp.Parameter
    _linear: cp.Parameter
    _half_penalty: cp.Parameter
    _coupling: CouplingTerms

    def _reset_coupling(self) -> None:
        self._set_coupling(CouplingTerms.zero(self.station_names, self.case.periods,
                                              self.case.period_hours, CouplingSide.CONSUMER))

    def _accept_coupling(self, coupling: CouplingTerms) -> None:
        """Check an ADMM step's terms (consuming side, this fleet's stations and Δt), set them."""
        who = "the TNO's fleet"
        coupling = coupling.aligned(self.station_names, self.case.periods, who)
        coupling.require_side(CouplingSide.CONSUMER, who)
        coupling.require_period_hours(self.case.period_hours, who)
        self._set_coupling(coupling)

    def _set_coupling(self, coupling: CouplingTerms) -> None:
        self._linear.value = coupling.linear_usd_per_mw
        self._half_penalty.value = coupling.quadratic_usd_per_mw2
        self._coupling = coupling

    # ------------------------------------------------------------------ names and updates
    @property
    def station_names(self) -> tuple[str, ...]:
        return self.case.station_names

    @property
    def line_names(self) -> tuple[str, ...]:
        return self.case.line_names

    def set_tariff(self, tariff_per_mwh: ArrayLike) -> None:
        """Change the time-of-use tariff ($/MWh per period) without rebuilding."""
        tariff = np.asarray(tariff_per_mwh, dtype=np.float64)
        if tariff.shape != (self.case.periods,):
            raise InvalidInputError(f"tariff_per_mwh needs {self.case.periods} values (one per "
                                    f"period), got shape {tariff.shape}")
        bad = np.flatnonzero(~np.isfinite(tariff))
        if bad.size:
            raise InvalidInputError(f"tariff_per_mwh in period {int(bad[0])} is not finite")
        self.case = replace(self.case, tariff_per_mwh=tariff.copy())
        self._tariff.value = tariff.copy()


class FleetChargingModel(FleetParameters):
    """The TNO's charging LP (and its ADMM QP), built once with cvxpy Parameters."""

    def __init__(
        self,
        case: FleetCase,
        *,
        solver: str = "CLARABEL",
        solver_options: dict[str, Any] | None = None,
    ) -> None:
        self.case = case
        self.solver = solver
        self.solver_options = dict(DEFAULT_SOLVER_OPTIONS.get(solver, {}))
        self.solver_options.update(solver_options or {})
        started = time.perf_counter()
        self._build()
        self.build_seconds = time.perf_counter() - started

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        case = self.case
        T, L, S = case.periods, case.num_lines, case.num_stations
        dt = case.period_hours
        detour = case.detour_hours()
        line_of, station_of = np.nonzero(np.isfinite(detour))
        K = line_of.size
        self._pair_line = line_of
        self._pair_station = station_of
        self._pair_detour_h = detour[line_of, station_of]
        p_max = case.charge_power_max_mw()
        # visits per MWh of each pair, and the $ of detour driving per MWh
        self._visits_per_mwh = 1.0 / (p_max[line_of] * case.session_hours)
        self._detour_usd_per_mwh = case.value_of_time_per_h * self._pair_detour_h \
            * self._visits_per_mwh
        to_line = sp.csr_matrix((np.ones(K), (line_of, np.arange(K))), shape=(L, K))
        to_station = sp.csr_matrix((np.ones(K), (station_of, np.arange(K))), shape=(S, K))
        # bus-hours per MWh: plugged-in time plus detour driving per visit
        busy_hours_per_mwh = self._visits_per_mwh * (case.session_hours + self._pair_detour_h)
        to_line_hours = sp.csr_matrix((busy_hours_per_mwh, (line_of, np.arange(K))),
                                      shape=(L, K))

        e0, e_min, e_max = case.energy_bounds_mwh()
        eta = case.charging_efficiency()
        self._charging = cp.Variable((K, T), nonneg=True, name="charging_mwh")
        self._energy = cp.Variable((L, T + 1), name="energy_mwh")
        line_grid_mwh = to_line @ self._charging
        constraints: list[cp.Constraint] = [
            self._energy[:, 0] == e0,
            self._energy[:, 1:] == self._energy[:, :-1]
            + cp.multiply(eta[:, None], line_grid_mwh) - case.consumption_mwh(),
            self._energy[:, 1:] >= np.repeat(e_min[:, None], T, axis=1),
            self._energy[:, 1:] <= np.repeat(e_max[:, None], T, axis=1),
            self._energy[:, T] >= e0,
            to_line_hours @ self._charging <= case.off_service_hours(),
            to_station @ self._charging
            <= np.repeat(case.station_power_max_mw()[:, None] * dt, T, axis=1),
        ]
        self._station_load = (to_station @ self._charging) / dt
        self._tariff = cp.Parameter(T, name="tariff_per_mwh")
        self._tariff.value = case.tariff_per_mwh.copy()
        self._energy_cost = self._tariff @ cp.sum(self._charging, axis=0)
        self._detour_cost = cp.sum(self._detour_usd_per_mwh @ self._charging)
        self._cost = self._energy_cost + self._detour_cost
        self._linear = cp.Parameter((S, T), name="coupling_linear")
        self._half_penalty = cp.Parameter(nonneg=True, name="coupling_half_penalty")
        coupling = cp.sum(cp.multiply(self._linear, self._station_load)) \
            + self._half_penalty * cp.sum_squares(self._station_load)
        self._constraints = tuple(constraints)
        self.problem = cp.Problem(cp.Minimize(self._cost + coupling), list(constraints))
        self._reset_coupling()

    # ------------------------------------------------------------------ solves
    def plan(self) -> FleetPlan:
        """Prescheduling: the plan of least own cost (no coordination terms)."""
        self._reset_coupling()
        return self._solve()

    def consensus_step(self, coupling: CouplingTerms) -> FleetPlan:
        """ADMM local step: ``min C_TNO + Σ Δt·[λ·P + (ρ/2)·(P − z)²]``.

        ``coupling``: the consuming side's terms (``side=CouplingSide.CONSUMER``) for this
        fleet's period length, rows aligned to its stations by name (or in station order).
        """
        self._accept_coupling(coupling)
        return self._solve()

    def embedding(self) -> FleetEmbedding:
        """The fleet's cost, constraints and station loads, for a parent cvxpy model.

        The coupling Parameters are reset to zero, and the embedded cost is the TNO's own; the
        parts share this model's variables and tariff Parameter.
        """
        self._reset_coupling()
        return FleetEmbedding(
            cost_usd=self._cost,
            constraints=self._constraints,
            station_load_mw=self._station_load,
            read_plan=lambda: self._collect("optimal", "", objective=None, coupling=None),
        )

    def _solve(self) -> FleetPlan:
        """Solve with the current Parameters; never raises on solver trouble."""
        started = time.perf_counter()
        message = ""
        try:
            with warnings.catch_warnings():
                # cvxpy warns on reduced accuracy; the plan's message says so instead
                warnings.simplefilter("ignore", UserWarning)
                self.problem.solve(solver=self.solver, warm_start=True, **self.solver_options)
            status: FleetStatus = SOLVER_STATUS.get(self.problem.status, "failed")
            if self.problem.status not in SOLVER_STATUS:
                message = f"solver status {self.problem.status}"
            elif self.problem.status == cp.OPTIMAL_INACCURATE:
                message = "the solver stopped at reduced accuracy (optimal_inaccurate)"
            elif status == "infeasible":
                message = ("no plan serves the timetable within the battery windows, off-service "
                           "time and station limits")
        except cp.error.SolverError as error:
            status = "failed"
            message = str(error)
        stats = self.problem.solver_stats
        solver_seconds = float(stats.solve_time or 0.0) if stats is not None else 0.0
        if status == "optimal":
            plan = self._collect(status, message, objective=float(self.problem.value)
                                 + self._coupling.constant_usd, coupling=self._coupling)
        else:
            plan = empty_plan(self.case, status, message)
        return replace(plan, seconds=time.perf_counter() - started, solver_seconds=solver_seconds)

    # ------------------------------------------------------------------ read-back
    def _collect(
        self,
        status: FleetStatus,
        message: str,
        objective: float | None,
        coupling: CouplingTerms | None,
    ) -> FleetPlan:
        """The plan at the variables' current values, with the coupling terms' value."""
        case = self.case
        L, S, T = case.num_lines, case.num_stations, case.periods
        dt = case.period_hours
        pairs = np.maximum(np.asarray(self._charging.value, dtype=np.float64), 0.0)
        charging = np.zeros((L, S, T))
        charging[self._pair_line, self._pair_station] = pairs
        visits = np.zeros((L, S, T))
        visits[self._pair_line, self._pair_station] = pairs * self._visits_per_mwh[:, None]
        load = charging.sum(axis=0) / dt
        energy_cost = float(case.tariff_per_mwh @ pairs.sum(axis=0))
        detour_cost = float(self._detour_usd_per_mwh @ pairs.sum(axis=1))
        coordination = 0.0 if coupling is None else coupling.cost_usd(load)
        cost = energy_cost + detour_cost
        return FleetPlan(
            status=status, station_names=case.station_names, line_names=case.line_names,
            station_load_mw=load, charging_mwh=charging,
            energy_mwh=np.asarray(self._energy.value, dtype=np.float64).copy(), visits=visits,
            cost_usd=cost, energy_cost_usd=energy_cost, detour_cost_usd=detour_cost,
            coordination_usd=coordination,
            objective_usd=cost + coordination if objective is None else objective,
            period_hours=dt, message=message,
        )


def empty_plan(case: FleetCase, status: FleetStatus, message: str) -> FleetPlan:
    """A plan without a solution (``status`` not optimal): arrays and costs NaN."""
    L, S, T = case.num_lines, case.num_stations, case.periods
    nan = float("nan")
    return FleetPlan(
        status=status, station_names=case.station_names, line_names=case.line_names,
        station_load_mw=np.full((S, T), nan), charging_mwh=np.full((L, S, T), nan),
        energy_mwh=np.full((L, T + 1), nan), visits=np.full((L, S, T), nan),
        cost_usd=nan, energy_cost_usd=nan, detour_cost_usd=nan, coordination_usd=nan,
        objective_usd=nan, period_hours=case.period_hours,
        message=message or f"the charging plan is {status}",
    )
