"""EV hosting capacity of a feeder under uncoordinated and coordinated charging (seed 003).

Why this module exists: seed 003 (Sadhu et al., "Optimal joint operation of coupled
transportation and power distribution urban networks", Energy Informatics 5:35, 2022; MODELS.md
§5) reports that its joint operation supports "45 % more EV penetration ... without negative
impact on the grid", with voltage magnitudes deviating by 0.1–0.3 %, and shows a bus-by-hour
voltage heatmap before and after. This module measures that claim on any traffic model and
DSO case: the largest EV demand each way of operating hosts, and the voltages at that point.

Definitions:

* **EV scale** ``s`` (dimensionless): the traffic model's EV demand (every OD pair and period)
  times ``s``; GV demand is unchanged. ``s = 1`` is the model as given; the scale stands for the
  EV penetration level.
* **Uncoordinated operation** (the baseline of
  :mod:`ptn.coordinator.mechanisms.joint_coordination`): EV drivers answer a flat charging tariff
  (the traffic equilibrium, :meth:`MultiPeriodProblem.solve`), then the DSO dispatches the resulting
  station loads as fixed loads (``DistFlowOpf(charging="fixed")``). It *hosts* ``s`` iff that OPF is
  feasible: voltages within the band, branch currents within their ratings, charging points within
  ``max_mw``, and no station loaded to its capacity (a Davidson charging link at capacity has
  infinite delay; the path-based solver's linear continuation beyond it is not a physical
  operation).
* **Coordinated operation**: the joint minimum-cost problem
  (:func:`ptn.lab.references.centralized.solve_joint_min_cost`), the operation the private ADMM
  negotiation reaches. It *hosts* ``s`` iff that problem is feasible. Clarabel often ends a
  clearly infeasible joint problem (measured: 1.5–2 x the capacity) in a numerical error rather
  than an infeasibility certificate; then the same constraints with a zero objective (station
  flows ≤ capacity in place of the Davidson barrier, :func:`joint_feasibility`) decide, which
  it certifies reliably. A feasible verdict without a minimum-cost solution counts as hosted,
  with no voltages to show (``feasible_unsolved``). The DSO's fixed-load OPF gets the same
  fallback. Every uncoordinated operation is a feasible point of the joint problem, so the
  coordinated capacity is never below the uncoordinated one.
* **Hosting capacity** of a mode: the largest ``s`` it hosts. Found by bracketing from
  ``start_scale`` (doubling up to ``max_scale``, or halving down) and then bisection to a
  relative tolerance; the reported ``capacity_scale`` is the largest scale *verified* hosted,
  and ``upper_scale`` the smallest verified not hosted (``upper ≤ capacity·(1 + tolerance)``).
  **Assumption: feasibility is monotone in s** (more EV demand never makes a violation go
  away). It holds where the binding limits are lower voltage limits and branch ratings, which
  extra load only tightens; it can fail where extra load relieves a limit (upper voltage limits
  under reverse flows from PV), and for the uncoordinated mode, whose equilibrium may move load
  between stations non-monotonically. It is checked cheaply: every evaluation made must be
  consistent with one threshold, and at the end ``capacity·(1 + tolerance)`` must not be
  hosted and ``capacity / 2`` must be; otherwise the status is ``not_monotone``.
* **Voltage change** (what seed 003's "voltage magnitudes deviate between 0.1 and 0.3 %" is
  taken to mean, the EV impact a utility planner reads off a hosting study): per bus and period,
  the voltage of the no-EV dispatch (``s = 0``: the DSO's fixed-load OPF without charging) minus
  the voltage of the operation with EVs, in p.u. of nominal (× 100: percent).
  ``max_voltage_change_pu`` is the largest absolute change over buses and periods. Also
  reported: ``max_deviation_from_nominal_pu``, max |V − 1| (the band is what limits it).
* **Limit** (what ends the hosting, diagnosed at ``upper_scale``): ``voltage`` (the operation is
  feasible once the voltage band is widened to :data:`WIDE_BAND_PU`), ``thermal_or_other``
  (still infeasible then: branch ratings, upstream or DER limits), ``station_capacity`` (the
  traffic side alone cannot serve the EV demand), ``charging_point_limit`` (uncoordinated: a
  station load above its charging point's ``max_mw``). For the uncoordinated mode the voltages
  of that widened-band dispatch are kept (``min_voltage_without_band_pu``): how far the
  uncoordinated operation would fall outside the band.

:func:`voltages_before_and_after` gives both operations' bus-by-period voltages at one scale,
for the "before and after" heatmap (:func:`ptn.figures.plot_voltage_heatmap`).

Inputs must be consistent as for the joint problem: inelastic EV demand (``price_sensitivity``
0), the same periods, and stations matched to charging points by name. The voltage band is the
case's (:meth:`ptn.engines.power.der.DsoCase.with_voltage_band`; seed 003 studies 0.91–1.05 p.u.).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import cvxpy as cp
import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.result import OpfResult, OpfStatus
from ptn.engines.traffic.beckmann_program import build_beckmann_program
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodResult,
    build_multiperiod_problem,
)
from ptn.engines.traffic.result import AssignmentStatus
from ptn.lab.references.centralized import JointSolution, check_joint_inputs, solve_joint_min_cost
from ptn.lab.references.dso_coupling import couple_dso

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MODES = ("uncoordinated", "coordinated")
#: relative tolerance of the bisection on the EV scale
DEFAULT_TOLERANCE = 1e-3
#: the search stops doubling here (status ``above_max_scale``)
DEFAULT_MAX_SCALE = 64.0
#: halving stops below ``start_scale`` times this (status ``below_min_scale``)
MIN_SCALE_FRACTION = 1e-6
#: the band (p.u.) that stands for "no voltage limits" in the limit diagnosis: far outside any
#: operating band, inside the range where DistFlow's per-unit model is still meaningful
WIDE_BAND_PU = (0.5, 1.5)
#: relative gap of the uncoordinated traffic equilibria
EQUILIBRIUM_GAP = 1e-10

#: mode statuses
FOUND = "found"
ABOVE_MAX_SCALE = "above_max_scale"
BELOW_MIN_SCALE = "below_min_scale"
INFEASIBLE_WITHOUT_EVS = "infeasible_without_evs"
NOT_MONOTONE = "not_monotone"
SOLVER_ERROR = "solver_error"


@dataclass(frozen=True)
class OperationVoltages:
    """Bus-by-period voltages (p.u.) of one operation at one EV scale, and the no-EV ones.

    ``status``: ``within_band`` (a feasible operation), ``outside_band`` (uncoordinated, not
    feasible: the dispatch with the band widened to :data:`WIDE_BAND_PU`, to show where it
    violates), ``feasible_unsolved`` (coordinated: the joint problem is certified feasible but
    its minimum-cost solve failed), ``infeasible`` or ``solver_error`` (the last three without
    voltages: empty tuples). Per feeder (``feeder_names`` order) ``voltage_pu[f]`` and
    ``base_voltage_pu[f]`` are ``[bus, period]`` in ``bus_ids[f]`` order; ``station_load_mw`` is
    ``[station, period]`` in ``station_names`` order: the uncoordinated equilibrium's loads even
    where the grid cannot take them, NaN where the joint problem has no solution.
    """

    mode: str
    ev_scale: float
    status: str
    message: str
    feeder_names: tuple[str, ...]
    bus_ids: tuple[IntArray, ...]
    voltage_pu: tuple[FloatArray, ...]
    base_voltage_pu: tuple[FloatArray, ...]
    station_names: tuple[str, ...]
    station_load_mw: FloatArray

    @property
    def has_voltages(self) -> bool:
        return bool(self.voltage_pu)

    def bus_labels(self) -> list[str]:
        """Row labels of :meth:`voltage_matrix_pu`: the bus label, prefixed by the feeder's name
        when there are several feeders."""
        several = len(self.feeder_names) > 1
        return [f"{name}:{bus}" if several else str(bus)
                for name, ids in zip(self.feeder_names, self.bus_ids, strict=True)
                for bus in ids.tolist()]

    def voltage_matrix_pu(self) -> FloatArray:
        """All feeders' voltages stacked, ``[bus, period]`` (the heatmap's matrix)."""
        return _stack(self.voltage_pu)

    def voltage_change_pu(self) -> FloatArray:
        """No-EV voltage minus this operation's, ``[bus, period]`` (positive: a drop)."""
        if not self.voltage_pu or not self.base_voltage_pu:
            return np.empty((0, 0))
        return _stack(self.base_voltage_pu) - self.voltage_matrix_pu()

    @property
    def max_voltage_change_pu(self) -> float:
        """Largest |no-EV voltage − voltage| over buses and periods (p.u.; × 100: percent)."""
        change = self.voltage_change_pu()
        return float(np.max(np.abs(change))) if change.size else math.nan

    @property
    def max_deviation_from_nominal_pu(self) -> float:
        """Largest |V − 1| over buses and periods (p.u.)."""
        voltage = self.voltage_matrix_pu()
        return float(np.max(np.abs(voltage - 1.0))) if voltage.size else math.nan

    @property
    def min_voltage_pu(self) -> float:
        voltage = self.voltage_matrix_pu()
        return float(voltage.min()) if voltage.size else math.nan


@dataclass(frozen=True)
class ScaleEvaluation:
    """One operation solved at one EV scale: ``hosted`` (None: the solvers could not tell),
    the ``reason`` when not hosted (see the module doc's limits; ``grid`` when not diagnosed),
    the solver's words, solves used and wall time (s)."""

    ev_scale: float
    hosted: bool | None
    reason: str
    message: str
    solves: int
    seconds: float


@dataclass(frozen=True)
class ModeCapacity:
    """The hosting capacity of one mode (module doc).

    ``status``: ``found`` (bracketed, bisected and checked), ``above_max_scale`` (hosted even at
    the cap: ``capacity_scale`` is the cap), ``below_min_scale``, ``infeasible_without_evs``
    (the grid violates its limits with no EVs at all), ``not_monotone`` (the evaluations
    contradict one threshold; the numbers are the bisection's), ``solver_error``.
    ``capacity_scale`` is NaN unless a positive scale was verified hosted. ``voltages`` is the
    operation at ``capacity_scale``; ``limit`` and ``min_voltage_without_band_pu`` (uncoordinated
    only, else NaN) diagnose ``upper_scale``. ``evaluations`` in the order made; ``solves``
    counts every OPF, equilibrium-plus-OPF, joint or feasibility solve.
    """

    mode: str
    status: str
    message: str
    capacity_scale: float
    upper_scale: float
    limit: str
    voltages: OperationVoltages | None
    min_voltage_without_band_pu: float
    evaluations: tuple[ScaleEvaluation, ...]
    solves: int
    seconds: float


@dataclass(frozen=True)
class HostingResult:
    """Hosting capacities of both modes (module doc) and what they took.

    ``status``: ``ok`` when both modes' status is ``found``, else ``partial`` (see each mode).
    ``gain`` = coordinated / uncoordinated capacity − 1 (seed 003's "45 %" is 0.45); NaN unless
    both are finite and the uncoordinated one positive. ``base`` holds the no-EV voltages.
    """

    status: str
    uncoordinated: ModeCapacity
    coordinated: ModeCapacity
    tolerance: float
    max_scale: float
    flat_tariff_per_mwh: float
    base: OperationVoltages
    seconds: float

    @property
    def gain(self) -> float:
        low, high = self.uncoordinated.capacity_scale, self.coordinated.capacity_scale
        if not (math.isfinite(low) and math.isfinite(high) and low > 0):
            return math.nan
        return high / low - 1.0

    @property
    def solves(self) -> int:
        return 1 + self.uncoordinated.solves + self.coordinated.solves


@dataclass(frozen=True)
class VoltageComparison:
    """Both operations at one EV scale: the "before" (uncoordinated) and "after" heatmaps."""

    ev_scale: float
    uncoordinated: OperationVoltages
    coordinated: OperationVoltages


# ---------------------------------------------------------------------------------- inputs
def scale_ev_demand(traffic: MultiPeriodProblem, ev_scale: float) -> MultiPeriodProblem:
    """The traffic model with every EV demand times ``ev_scale`` (GV demand unchanged)."""
    _check_scale(ev_scale, "ev_scale")
    spec = traffic.spec
    return build_multiperiod_problem(
        replace(spec, ev_demand_veh_per_h=spec.ev_demand_veh_per_h * float(ev_scale)))


def _check_scale(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating) \
            or not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"{what} must be a finite non-negative number, got {value!r}")


def _check_inputs(traffic: MultiPeriodProblem, case: DsoCase, flat_tariff_per_mwh: float) -> None:
    if isinstance(flat_tariff_per_mwh, bool) or not isinstance(
            flat_tariff_per_mwh, int | float | np.floating) \
            or not (math.isfinite(flat_tariff_per_mwh) and flat_tariff_per_mwh >= 0):
        raise InvalidInputError(
            f"flat_tariff_per_mwh must be a finite non-negative price, got {flat_tariff_per_mwh!r}"
        )
    check_joint_inputs(traffic, case)
    if not np.sum(traffic.spec.ev_demand_veh_per_h) > 0:
        raise InvalidInputError("the traffic model has no EV demand to scale")


def _stack(arrays: tuple[FloatArray, ...]) -> FloatArray:
    return np.vstack(arrays) if arrays else np.empty((0, 0))


# ---------------------------------------------------------------------------------- the grid
class _Grid:
    """The DSO's fixed-load OPFs (with the case's band and with :data:`WIDE_BAND_PU`), built
    once, and the no-EV dispatch."""

    def __init__(self, case: DsoCase, station_names: tuple[str, ...]) -> None:
        self.case = case
        self.station_names = station_names
        self.opf = DistFlowOpf(case, charging="fixed", explain_infeasibility=False)
        self._wide: DistFlowOpf | None = None
        # point position of each station
        self.order = [station_names.index(name) for name in self.opf.charging_names]
        self.max_mw = np.array([point.max_mw for point in case.charging_points])
        self.base = self.dispatch(np.zeros((len(station_names), case.periods)))

    def wide(self) -> DistFlowOpf:
        if self._wide is None:
            self._wide = DistFlowOpf(self.case.with_voltage_band(*WIDE_BAND_PU), charging="fixed",
                                     explain_infeasibility=False)
        return self._wide

    def points(self, station_load_mw: FloatArray) -> FloatArray:
        return np.maximum(np.asarray(station_load_mw, dtype=np.float64)[self.order], 0.0)

    def dispatch(self, station_load_mw: FloatArray, *, wide: bool = False) -> OpfResult:
        """The fixed-load OPF at station loads ``[station, period]`` (MW). A solver failure is
        settled by the same constraints with a zero objective: infeasible stays infeasible."""
        opf = self.wide() if wide else self.opf
        opf.set_charging_load(self.points(station_load_mw))
        result = opf.solve()
        if result.status in (OpfStatus.SOLVER_ERROR, OpfStatus.UNBOUNDED) \
                and _feasibility(opf.problem.constraints) == "infeasible":
            return replace(result, status=OpfStatus.INFEASIBLE,
                           message=f"{result.message}; a feasibility solve certifies "
                                   "infeasibility")
        return result

    def voltages(self, mode: str, ev_scale: float, status: str, message: str,
                 result: OpfResult | None, station_load_mw: FloatArray) -> OperationVoltages:
        feeders = result.feeders if result is not None else ()
        base = self.base.feeders
        return OperationVoltages(
            mode=mode, ev_scale=float(ev_scale), status=status, message=message,
            feeder_names=tuple(f.name for f in self.case.feeders),
            bus_ids=tuple(np.asarray(f.bus_ids, dtype=np.int64) for f in self.case.feeders),
            voltage_pu=tuple(np.asarray(f.voltage_pu, dtype=np.float64) for f in feeders),
            base_voltage_pu=tuple(np.asarray(f.voltage_pu, dtype=np.float64) for f in base),
            station_names=self.station_names,
            station_load_mw=np.asarray(station_load_mw, dtype=np.float64),
        )


def _feasibility(constraints: list[cp.Constraint]) -> str:
    """``feasible``, ``infeasible`` or ``unknown``: the constraints with a zero objective."""
    model = cp.Problem(cp.Minimize(0), constraints)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.solve(solver="CLARABEL")
    except cp.error.SolverError:
        return "unknown"
    if model.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        return "feasible"
    if model.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        return "infeasible"
    return "unknown"


# ---------------------------------------------------------------------------------- modes
class _Uncoordinated:
    """Traffic at the flat tariff, then the DSO's fixed-load dispatch."""

    mode = "uncoordinated"

    def __init__(self, traffic: MultiPeriodProblem, grid: _Grid, tariff_per_mwh: float) -> None:
        self.traffic = traffic
        self.grid = grid
        charging = traffic.spec.charging
        self.tariff = np.full((charging.num_stations, traffic.num_periods), float(tariff_per_mwh))
        self.capacity = np.array([s.capacity_veh_per_h for s in charging.stations])
        self._warm: MultiPeriodResult | None = None

    def equilibrium(self, ev_scale: float) -> MultiPeriodResult:
        result = scale_ev_demand(self.traffic, ev_scale).solve(
            self.tariff, gap=EQUILIBRIUM_GAP, warm_start=self._warm)
        if ev_scale > 0 and result.status == AssignmentStatus.CONVERGED:
            self._warm = result
        return result

    def operate(self, ev_scale: float) -> tuple[ScaleEvaluation, OperationVoltages]:
        started = time.perf_counter()
        traffic = self.equilibrium(ev_scale)
        load = np.asarray(traffic.station_load_mw.T, dtype=np.float64)  # [station, period]
        solves = 1

        def done(hosted: bool | None, reason: str, message: str,
                 result: OpfResult | None) -> tuple[ScaleEvaluation, OperationVoltages]:
            status = "within_band" if hosted else ("solver_error" if hosted is None
                                                   else "infeasible")
            evaluation = ScaleEvaluation(float(ev_scale), hosted, reason, message, solves,
                                         time.perf_counter() - started)
            return evaluation, self.grid.voltages(self.mode, ev_scale, status, message,
                                                  result if hosted else None, load)

        if traffic.status != AssignmentStatus.CONVERGED:
            return done(None, "", f"the traffic equilibrium did not converge (relative gap "
                                  f"{traffic.relative_gap:.3g})", None)
        flow = traffic.station_flow_veh_per_h.T
        full = np.argwhere(flow >= self.capacity[:, None])
        if full.size:
            s, t = (int(v) for v in full[0])
            return done(False, "station_capacity",
                        f"station {self.traffic.spec.charging.station_names[s]} is at capacity "
                        f"in period {t} ({flow[s, t]:.6g} of {self.capacity[s]:g} veh/h)", None)
        over = np.argwhere(self.grid.points(load) > self.grid.max_mw[:, None] + 1e-9)
        if over.size:
            p, t = (int(v) for v in over[0])
            name = self.grid.opf.charging_names[p]
            return done(False, "charging_point_limit",
                        f"charging point {name} would draw more than its max_mw "
                        f"{self.grid.max_mw[p]:g} in period {t}", None)
        result = self.grid.dispatch(load)
        solves += 1
        if result.status.has_solution:
            return done(True, "", result.message, result)
        if result.status == OpfStatus.INFEASIBLE:
            return done(False, "grid", result.message, None)
        return done(None, "", f"the DSO's OPF ended {result.status}: {result.message}", None)

    def diagnose(self, ev_scale: float) -> tuple[str, float, OperationVoltages, int]:
        """(limit, min voltage without band, the widened-band operation, solves) at a scale
        that is not hosted."""
        traffic = self.equilibrium(ev_scale)
        load = np.asarray(traffic.station_load_mw.T, dtype=np.float64)
        result = self.grid.dispatch(load, wide=True)
        if result.status.has_solution:
            voltages = self.grid.voltages(
                self.mode, ev_scale, "outside_band",
                f"dispatched with the voltage band widened to {WIDE_BAND_PU} p.u.", result, load)
            return "voltage", voltages.min_voltage_pu, voltages, 2
        voltages = self.grid.voltages(self.mode, ev_scale, "infeasible", result.message, None,
                                      load)
        return "thermal_or_other", math.nan, voltages, 2


class _Coordinated:
    """The joint minimum-cost problem."""

    mode = "coordinated"

    def __init__(self, traffic: MultiPeriodProblem, grid: _Grid) -> None:
        self.traffic = traffic
        self.grid = grid

    def operate(self, ev_scale: float) -> tuple[ScaleEvaluation, OperationVoltages]:
        started = time.perf_counter()
        traffic = scale_ev_demand(self.traffic, ev_scale)
        joint = solve_joint_min_cost(traffic, self.grid.case)
        solves = 1
        hosted: bool | None
        message = joint.message
        if joint.status == "optimal":
            hosted = True
        elif joint.status == "infeasible":
            hosted = False
        else:
            verdict = joint_feasibility(traffic, self.grid.case)
            solves += 1
            hosted = {"feasible": True, "infeasible": False}.get(verdict)
            message += f"; a feasibility solve finds the joint constraints {verdict}"
        evaluation = ScaleEvaluation(float(ev_scale), hosted, "" if hosted else "grid",
                                     message, solves, time.perf_counter() - started)
        return evaluation, self._voltages(ev_scale, hosted, message, joint)

    def _voltages(self, ev_scale: float, hosted: bool | None, message: str,
                  joint: JointSolution) -> OperationVoltages:
        if hosted and joint.dso is None:
            status = "feasible_unsolved"
        else:
            status = "within_band" if hosted else (
                "solver_error" if hosted is None else "infeasible")
        order = [joint.station_names.index(n) for n in self.grid.station_names]
        return self.grid.voltages(self.mode, ev_scale, status, message,
                                  joint.dso if hosted else None, joint.station_load_mw[order])

    def diagnose(self, ev_scale: float) -> tuple[str, float, OperationVoltages | None, int]:
        traffic = scale_ev_demand(self.traffic, ev_scale)
        if joint_feasibility(traffic, None) == "infeasible":
            return "station_capacity", math.nan, None, 1
        wide = joint_feasibility(traffic, self.grid.case.with_voltage_band(*WIDE_BAND_PU))
        return ("voltage" if wide == "feasible" else "thermal_or_other"), math.nan, None, 2


def joint_feasibility(traffic: MultiPeriodProblem, case: DsoCase | None) -> str:
    """Whether the joint problem's constraints have a solution: ``feasible``, ``infeasible`` or
    ``unknown``.

    The traffic network's flow conservation and demand with every station's flow at most its
    capacity (the domain of the Davidson delay), and, given a ``case``, the DSO's OPF
    constraints coupled by ``P = E_B·x``; zero objective. With ``case=None``: whether the
    traffic side alone can serve its EV demand.
    """
    program = build_beckmann_program(traffic.unpriced_problem())
    stations = traffic.station_links().reshape(-1)  # (period, station) order
    capacity = traffic.problem.links.capacity[stations]
    constraints = [*program.constraints, program.link_flow[stations] <= capacity]
    if case is not None:
        coupling = couple_dso(traffic, case, program.link_flow)
        constraints += [*coupling.embedding.constraints, coupling.constraint]
    return _feasibility(constraints)


# ---------------------------------------------------------------------------------- search
_Operate = Callable[[float], tuple[ScaleEvaluation, OperationVoltages]]


@dataclass
class _Search:
    """Bracketing and bisection on the EV scale, remembering every evaluation."""

    operate: _Operate
    evaluations: list[ScaleEvaluation]
    hosted_voltages: dict[float, OperationVoltages]

    def hosted(self, scale: float) -> bool | None:
        for done in self.evaluations:
            if done.ev_scale == scale:
                return done.hosted
        evaluation, voltages = self.operate(scale)
        self.evaluations.append(evaluation)
        if evaluation.hosted:
            self.hosted_voltages[scale] = voltages
        return evaluation.hosted

    def run(self, start: float, tolerance: float,
            max_scale: float) -> tuple[str, float, float, str]:
        """(status, lower, upper, message): lower hosted, upper not (NaN / inf if none)."""
        first = self.hosted(start)
        if first is None:
            return SOLVER_ERROR, math.nan, math.nan, self._error()
        low, high = (start, math.inf) if first else (0.0, start)
        while first and math.isinf(high):
            if low >= max_scale:
                return ABOVE_MAX_SCALE, low, math.inf, f"hosted up to the cap {max_scale:g}"
            trial = min(2.0 * low, max_scale)
            verdict = self.hosted(trial)
            if verdict is None:
                return SOLVER_ERROR, low, math.nan, self._error()
            low, high = (trial, high) if verdict else (low, trial)
        while not first and low == 0.0:
            trial = high / 2.0
            if trial < start * MIN_SCALE_FRACTION:
                return BELOW_MIN_SCALE, math.nan, high, (
                    f"not hosted even at {high:g} x the EV demand")
            verdict = self.hosted(trial)
            if verdict is None:
                return SOLVER_ERROR, math.nan, high, self._error()
            low, high = (trial, high) if verdict else (0.0, trial)
        while high - low > tolerance * low:
            middle = 0.5 * (low + high)
            verdict = self.hosted(middle)
            if verdict is None:
                return SOLVER_ERROR, low, high, self._error()
            low, high = (middle, high) if verdict else (low, middle)
        # cheap monotonicity checks: just above and well below the capacity, and consistency
        above, below = self.hosted(low * (1.0 + tolerance)), self.hosted(0.5 * low)
        if above is None or below is None:
            return SOLVER_ERROR, low, high, self._error()
        if above or not below or not self._consistent(tolerance):
            shown = ", ".join(f"{e.ev_scale:.6g}: {'hosted' if e.hosted else 'not hosted'}"
                              for e in sorted(self.evaluations, key=lambda e: e.ev_scale))
            return NOT_MONOTONE, low, high, f"feasibility is not monotone in the EV scale ({shown})"
        return FOUND, low, high, ""

    def _consistent(self, tolerance: float) -> bool:
        """Every hosted scale below every scale not hosted, but for verdicts within the
        tolerance of each other (the solvers' own precision may blur the threshold there)."""
        hosted = [e.ev_scale for e in self.evaluations if e.hosted]
        not_hosted = [e.ev_scale for e in self.evaluations if e.hosted is False]
        return not hosted or not not_hosted or max(hosted) < min(not_hosted) * (1 + tolerance)

    def _error(self) -> str:
        failed = next(e for e in reversed(self.evaluations) if e.hosted is None)
        return f"at EV scale {failed.ev_scale:.6g} the solvers could not tell: {failed.message}"


def _mode_capacity(
    engine: _Uncoordinated | _Coordinated,
    *,
    start_scale: float,
    tolerance: float,
    max_scale: float,
) -> ModeCapacity:
    started = time.perf_counter()
    search = _Search(engine.operate, [], {})
    status, low, high, message = search.run(start_scale, tolerance, max_scale)
    solves = sum(e.solves for e in search.evaluations)
    limit, min_voltage = "", math.nan
    if math.isfinite(high) and high > 0:
        upper = next((e for e in search.evaluations if e.ev_scale == high), None)
        if upper is not None and upper.reason in ("station_capacity", "charging_point_limit"):
            limit = upper.reason
        else:
            limit, min_voltage, _, extra = engine.diagnose(high)
            solves += extra
    capacity = low if math.isfinite(low) and low > 0 else math.nan
    return ModeCapacity(
        mode=engine.mode, status=status, message=message, capacity_scale=capacity,
        upper_scale=high, limit=limit,
        voltages=search.hosted_voltages.get(low) if math.isfinite(capacity) else None,
        min_voltage_without_band_pu=min_voltage if engine.mode == "uncoordinated" else math.nan,
        evaluations=tuple(search.evaluations), solves=solves,
        seconds=time.perf_counter() - started,
    )


def _check_search(start_scale: float, tolerance: float, max_scale: float) -> None:
    _check_scale(start_scale, "start_scale")
    _check_scale(max_scale, "max_scale")
    if not start_scale > 0:
        raise InvalidInputError(f"start_scale must be positive, got {start_scale!r}")
    if max_scale < start_scale:
        raise InvalidInputError(
            f"max_scale ({max_scale:g}) must be at least start_scale ({start_scale:g})")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float | np.floating) \
            or not (math.isfinite(tolerance) and 0 < tolerance < 1):
        raise InvalidInputError(f"tolerance must be in (0, 1), got {tolerance!r}")


# ---------------------------------------------------------------------------------- public
def hosting_capacity(
    traffic: MultiPeriodProblem,
    case: DsoCase,
    *,
    flat_tariff_per_mwh: float,
    tolerance: float = DEFAULT_TOLERANCE,
    start_scale: float = 1.0,
    max_scale: float = DEFAULT_MAX_SCALE,
) -> HostingResult:
    """The EV hosting capacity (largest EV scale) of the uncoordinated and the coordinated
    operation (module doc), each to a relative ``tolerance``, starting at ``start_scale`` and
    stopping at ``max_scale``. ``flat_tariff_per_mwh``: the charging price EV drivers answer in
    the uncoordinated operation (the scenario's ``baseline_tariff_per_mwh``).

    Raises :class:`InvalidInputError` for elastic EV demand, mismatched periods or station
    names, no EV demand, or bad search settings; never on solver trouble (statuses say).
    """
    started = time.perf_counter()
    _check_inputs(traffic, case, flat_tariff_per_mwh)
    _check_search(start_scale, tolerance, max_scale)
    grid = _Grid(case, traffic.spec.charging.station_names)
    nothing = np.zeros((traffic.spec.charging.num_stations, traffic.num_periods))
    base_ok = grid.base.status.has_solution
    base = grid.voltages("no_ev", 0.0, "within_band" if base_ok else str(grid.base.status),
                         grid.base.message, grid.base if base_ok else None, nothing)
    engines: tuple[_Uncoordinated | _Coordinated, ...] = (
        _Uncoordinated(traffic, grid, flat_tariff_per_mwh), _Coordinated(traffic, grid))
    modes: list[ModeCapacity] = []
    for engine in engines:
        if base_ok:
            modes.append(_mode_capacity(engine, start_scale=float(start_scale),
                                        tolerance=float(tolerance), max_scale=float(max_scale)))
            continue
        modes.append(ModeCapacity(
            mode=engine.mode, status=INFEASIBLE_WITHOUT_EVS,
            message=f"the DSO's dispatch without EVs is {grid.base.status}: "
                    f"{grid.base.message}",
            capacity_scale=math.nan, upper_scale=0.0, limit="", voltages=None,
            min_voltage_without_band_pu=math.nan, evaluations=(), solves=0, seconds=0.0))
    uncoordinated, coordinated = modes
    status = "ok" if all(m.status == FOUND for m in modes) else "partial"
    return HostingResult(
        status=status, uncoordinated=uncoordinated, coordinated=coordinated,
        tolerance=float(tolerance), max_scale=float(max_scale),
        flat_tariff_per_mwh=float(flat_tariff_per_mwh), base=base,
        seconds=time.perf_counter() - started,
    )


def voltages_before_and_after(
    traffic: MultiPeriodProblem,
    case: DsoCase,
    ev_scale: float,
    *,
    flat_tariff_per_mwh: float,
) -> VoltageComparison:
    """Bus-by-period voltages of the uncoordinated ("before") and the coordinated ("after")
    operation at one EV scale, each with the no-EV voltages.

    Where the uncoordinated operation is not feasible its voltages are those of the dispatch
    with the band widened to :data:`WIDE_BAND_PU` (status ``outside_band``; a heatmap marks the
    violations), or none if even that is infeasible. Raises as :func:`hosting_capacity`.
    """
    _check_inputs(traffic, case, flat_tariff_per_mwh)
    _check_scale(ev_scale, "ev_scale")
    grid = _Grid(case, traffic.spec.charging.station_names)
    uncoordinated = _Uncoordinated(traffic, grid, flat_tariff_per_mwh)
    evaluation, before = uncoordinated.operate(float(ev_scale))
    if evaluation.hosted is False and evaluation.reason == "grid":
        _, _, before, _ = uncoordinated.diagnose(float(ev_scale))
    _, after = _Coordinated(traffic, grid).operate(float(ev_scale))
    return VoltageComparison(float(ev_scale), before, after)
