"""The full-information optimum of joint traffic–power coordination, in one convex model.

Why this module exists: in ptn the traffic department and the DSO negotiate station charging
loads by ADMM without sharing their models (MODELS.md §0, §5). An experiment needs the optimum
they are supposed to reach, computed independently: this centralized "oracle" holds both models
and solves MODELS.md §5's joint problem (seeds 002 and 003) at once,

    minimise   Δt · B(x)  +  C_DSO(P)
    subject to the traffic network's flow conservation and demand (link–node form,
               :mod:`ptn.engines.traffic.beckmann_program`), the DSO's DistFlow-SOC constraints
               (:class:`ptn.engines.power.distflow.DistFlowOpf`), and the coupling
               P[s, t] = E_B · x[station s's charging link in period t]   (MW),

with ``B`` the multi-period Beckmann potential without charging payments
(:meth:`ptn.engines.traffic.multiperiod.MultiPeriodProblem.potential`: travel-time integrals times
the value of time, departure-shift costs, road money terms; payments between EV drivers and the
DSO are transfers), a rate in $/h summed over periods, hence the DSO's period length ``Δt``;
and ``C_DSO`` the OPF's cost in $ over the horizon. The coupling constraint's multiplier, per
MWh, is the station's price at the optimum: by the KKT conditions it is the DLMP at the
station's bus, and the traffic equilibrium at those prices reproduces the optimal loads — the
equilibrium a converged ADMM reaches.

The EV demand must be inelastic (``price_sensitivity`` 0): seed 001's demand law in the mean
price has no potential, so the joint problem would not be one convex program. Stations of the
traffic model and charging points of the DSO are matched by name.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DEFAULT_SOLVER_OPTIONS, DistFlowOpf, OpfEmbedding
from ptn.engines.power.result import OpfResult, OpfStatus
from ptn.engines.traffic.beckmann_program import build_beckmann_program, solver_status
from ptn.engines.traffic.multiperiod import MultiPeriodProblem
from ptn.engines.traffic.network import FloatArray, IntArray

#: Clarabel settings tried in turn, each on top of the DSO's
#: (:data:`ptn.engines.power.distflow.DEFAULT_SOLVER_OPTIONS`), until one ends with a solution.
#: Clarabel stalls on the joint model at an absolute duality gap of ~3e-4 $ (the DSO part's floor:
#: alone it stalls at ~7e-8 of ~9,000 $), i.e. ~1.5e-9 of the default scenario's ~173,000 $
#: (Nguyen–Dupuis × case33bw, 24 h, 3 % EVs), and then either reports "AlmostSolved" or, when its
#: last step made the residuals worse, "NumericalError". Measured there against a tightly
#: converged ADMM: station loads 4e-5 MW and prices 7e-4 $/MWh off when aiming at 1e-9, 1e-4 MW
#: and 1.4e-3 $/MWh at 1e-8, 3e-4 MW at the DSO's 1e-7. Hence: aim at 1e-9 and accept a stall
#: within reduced tolerances of 1e-7 (rather than Clarabel's 5e-5); failing that, 1e-8; failing
#: that, the DSO's own settings. Iterative refinement on: without it, stations loaded near capacity
#: (6 % EVs) end in "InsufficientProgress"; with it they solve, at 1.5x the time (~0.35 s).
JOINT_SOLVER_ATTEMPTS: tuple[dict[str, Any], ...] = (
    {"iterative_refinement_enable": True, "tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9,
     "tol_feas": 1e-9, "reduced_tol_gap_abs": 1e-7, "reduced_tol_gap_rel": 1e-7,
     "reduced_tol_feas": 1e-7},
    {"iterative_refinement_enable": True, "tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8,
     "tol_feas": 1e-9},
    {},
)


@dataclass(frozen=True)
class JointSolution:
    """The joint minimum-cost coordination (failures are data: see ``status`` and ``message``).

    ``status``: ``optimal`` (also when the solver stopped at reduced accuracy or the SOC
    relaxation is inexact; the message says so), ``infeasible``, ``unbounded`` or
    ``solver_error``; without a solution the costs and arrays are NaN. Costs in $ over the
    horizon: ``traffic_cost`` = period_hours × Beckmann potential, ``dso_cost`` = the OPF's
    reported objective (no weak-branch regularization). Arrays ``[station, period]`` in the
    traffic model's station order (``station_names``): loads in MW, ``price_per_mwh`` the
    coupling constraint's multiplier in $/MWh: the DLMP at the station's bus wherever the
    station is used. Where its load is zero the multiplier is not unique (any price between the
    one at which EV drivers start to use the station and the DLMP supports the optimum), and
    the one returned may lie below the DLMP. ``link_flow``
    (veh/h) over the links of ``traffic.problem``. ``relaxation_gap_raw_pu2`` is max
    |ℓ·v − P² − Q²| and ``relaxation_gap_weighted_mw`` the largest fictitious loss (MW);
    ``relaxation_exact`` compares the latter with the OPF's tolerance. ``davidson_above_knee``
    names charging links above 0.95 of capacity, where this model's pure Davidson function and
    the path-based solver's linearly continued one differ. ``dso`` is the DSO's OPF result read
    from the joint solution (dispatch, DLMPs). ``seconds``: wall time of build and solve.
    """

    status: str
    message: str
    total_cost: float
    traffic_cost: float
    dso_cost: float
    station_names: tuple[str, ...]
    station_load_mw: FloatArray
    price_per_mwh: FloatArray
    link_flow: FloatArray
    seconds: float
    solver_seconds: float = 0.0
    relaxation_gap_raw_pu2: float = float("nan")
    relaxation_gap_weighted_mw: float = float("nan")
    relaxation_exact: bool = False
    davidson_above_knee: tuple[str, ...] = ()
    dso: OpfResult | None = None

    @property
    def has_solution(self) -> bool:
        return self.status == "optimal"


def check_joint_inputs(traffic: MultiPeriodProblem, case: DsoCase) -> None:
    """Inelastic EV demand, equal periods, and stations matching the charging points by name."""
    sigma = np.asarray(traffic.spec.price_sensitivity, dtype=np.float64)
    if np.any(sigma != 0):
        raise InvalidInputError(
            "the joint minimum-cost problem needs inelastic EV demand (price_sensitivity = 0); "
            f"got {sigma.max():g}"
        )
    if traffic.num_periods != case.periods:
        raise InvalidInputError(
            f"the traffic model has {traffic.num_periods} periods but the DSO case {case.periods}"
        )
    stations = traffic.spec.charging.station_names
    points = tuple(point.name for point in case.charging_points)
    for name in stations:
        if name not in points:
            raise InvalidInputError(
                f"station {name} of the traffic model is not a charging point of the DSO case "
                f"(its points: {', '.join(points) or 'none'})"
            )
    for name in points:
        if name not in stations:
            raise InvalidInputError(
                f"charging point {name} of the DSO case is not a station of the traffic model "
                f"(its stations: {', '.join(stations)})"
            )


def _failure(status: str, message: str, traffic: MultiPeriodProblem,
             started: float, solver_seconds: float = 0.0) -> JointSolution:
    shape = (traffic.spec.charging.num_stations, traffic.num_periods)
    nan = float("nan")
    return JointSolution(
        status=status, message=message, total_cost=nan, traffic_cost=nan, dso_cost=nan,
        station_names=traffic.spec.charging.station_names,
        station_load_mw=np.full(shape, np.nan), price_per_mwh=np.full(shape, np.nan),
        link_flow=np.full(traffic.problem.num_links, np.nan),
        seconds=time.perf_counter() - started, solver_seconds=solver_seconds,
    )


def _solver_attempts(solver: str, solver_options: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The option sets :func:`_solve` tries in turn: the DSO's defaults
    (:data:`ptn.engines.power.distflow.DEFAULT_SOLVER_OPTIONS`) updated, with Clarabel, by each of
    :data:`JOINT_SOLVER_ATTEMPTS`, then by ``solver_options`` (duplicates dropped)."""
    attempts: list[dict[str, Any]] = []
    for extra in JOINT_SOLVER_ATTEMPTS if solver == "CLARABEL" else ({},):
        options = {**DEFAULT_SOLVER_OPTIONS.get(solver, {}), **extra, **(solver_options or {})}
        if options not in attempts:
            attempts.append(options)
    return attempts


def _solve(model: cp.Problem, solver: str, attempts: list[dict[str, Any]],
           what: str = "the joint problem") -> tuple[str, str, float]:
    """Solve with each option set in turn until one gives a solution: (status, message,
    solver seconds summed over the attempts); ``what`` names the model in the message."""
    seconds = 0.0
    notes: list[str] = []
    status = "solver_error"
    for number, options in enumerate(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.solve(solver=solver, **options)
            status = solver_status(model.status)
            failure = f"status {model.status}"
        except cp.error.SolverError as error:
            status, failure = "solver_error", str(error)
        if model.solver_stats is not None:
            seconds += float(model.solver_stats.solve_time or 0.0)
        target = f"relative gap target {options.get('tol_gap_rel', 'default')}"
        if status in ("optimal", "optimal_inaccurate"):
            if number:
                notes.append(f"solved with fallback settings {number + 1} of {len(attempts)} "
                             f"({target})")
            if status == "optimal_inaccurate":
                reduced = options.get("reduced_tol_gap_rel")
                notes.append(
                    f"the solver stopped short of its {target} (cvxpy status optimal_inaccurate"
                    + ("" if reduced is None else f"; within its reduced tolerance {reduced}")
                    + ")"
                )
            return "optimal", "; ".join(notes), seconds
        notes.append(f"attempt {number + 1} ({target}): {failure}")
        if status in ("infeasible", "unbounded"):
            break
    return status, f"{what} is {status}: " + "; ".join(notes), seconds


@dataclass(frozen=True)
class _DsoCoupling:
    """The DSO's OPF embedded in a joint model and tied to the traffic side's station flows.

    ``constraint`` is ``vec(P, "F") == E_B · x[charging links]`` (row ``t·C + c``: charging point
    ``c`` of the OPF in period ``t``); ``station_of_point[c]`` is that point's position among the
    traffic model's stations.
    """

    opf: DistFlowOpf
    embedding: OpfEmbedding
    constraint: cp.Constraint
    station_of_point: IntArray
    period_hours: float

    def price_per_mwh(self) -> FloatArray:
        """The coupling multipliers after a solve as prices ($/MWh), shape (stations, periods)
        in the traffic model's station order: the multiplier of ``P − E_B·x = 0`` is minus
        d(total cost)/d(load) in $/MW per period."""
        points = self.station_of_point.size
        dual = np.asarray(self.constraint.dual_value, dtype=np.float64).reshape(-1, points).T
        price = np.empty_like(dual)
        price[self.station_of_point] = -dual / self.period_hours
        return price


def _couple_dso(traffic: MultiPeriodProblem, case: DsoCase, link_flow: cp.Expression,
                solver: str, solver_options: dict[str, Any]) -> _DsoCoupling:
    """Embed ``case``'s OPF (charging priced) and couple each charging point's load to
    ``E_B`` × the flow of the same-named station's charging link in ``link_flow`` (veh/h over
    the links of ``traffic.problem``)."""
    charging = traffic.spec.charging
    opf = DistFlowOpf(case, charging="priced", solver=solver, solver_options=solver_options)
    dso = opf.embedding()
    station_of_point = np.array([charging.station_names.index(name)
                                 for name in opf.charging_names], dtype=np.int64)
    # coupling rows in the order of vec(P, "F"): row t·C + c is point c in period t
    coupled_link = traffic.station_links()[:, station_of_point].reshape(-1)
    selector = sp.csr_matrix(
        (np.ones(coupled_link.size), (np.arange(coupled_link.size), coupled_link)),
        shape=(coupled_link.size, traffic.problem.num_links),
    )
    energy = charging.energy_per_charge_mwh
    constraint = cp.vec(dso.charging_mw, order="F") == energy * (selector @ link_flow)
    return _DsoCoupling(opf, dso, constraint, station_of_point, case.period_hours)


def _dispatch_notes(dispatch: OpfResult) -> tuple[bool, list[str]]:
    """Whether the OPF read from a joint solution has an exact relaxation, and if not why."""
    exact = dispatch.status == OpfStatus.OPTIMAL
    return exact, ([] if exact else [dispatch.message])


def solve_joint_min_cost(
    traffic: MultiPeriodProblem,
    case: DsoCase,
    *,
    solver: str = "CLARABEL",
    solver_options: dict[str, Any] | None = None,
) -> JointSolution:
    """Solve the joint minimum-cost problem (module docstring) in one convex model.

    Solver settings: :data:`ptn.engines.power.distflow.DEFAULT_SOLVER_OPTIONS`, updated (with
    Clarabel) by each of :data:`JOINT_SOLVER_ATTEMPTS` in turn until one gives a solution, and
    then by ``solver_options``. Raises
    :class:`InvalidInputError` for elastic EV demand, a period-count mismatch or a station
    without a charging point of the same name (or the reverse); never on solver trouble.
    """
    started = time.perf_counter()
    check_joint_inputs(traffic, case)
    charging = traffic.spec.charging
    attempts = _solver_attempts(solver, solver_options)
    program = build_beckmann_program(traffic.unpriced_problem())
    coupling = _couple_dso(traffic, case, program.link_flow, solver, attempts[0])
    dt = case.period_hours
    model = cp.Problem(
        cp.Minimize(dt * program.objective + coupling.embedding.cost_usd),
        [*program.constraints, *coupling.embedding.constraints, coupling.constraint],
    )
    status, message, solver_seconds = _solve(model, solver, attempts)
    if status != "optimal":
        return _failure(status, message, traffic, started, solver_seconds)

    link_flow = program.link_flow_value()
    dispatch = coupling.embedding.read_result()
    traffic_cost = dt * traffic.potential(link_flow)
    station_load = charging.energy_per_charge_mwh * link_flow[traffic.station_links()].T
    price = coupling.price_per_mwh()
    above = program.davidson_above_knee(link_flow)
    knee = tuple(program.problem.link_label(int(link)) for link in above)
    exact, dso_notes = _dispatch_notes(dispatch)
    notes = [message] if message else []
    notes += dso_notes
    if knee:
        notes.append(
            f"charging links above 0.95 of capacity ({', '.join(knee)}): the path-based "
            "solver's linearly continued Davidson function differs there"
        )
    return JointSolution(
        status="optimal",
        message="; ".join(notes),
        total_cost=traffic_cost + dispatch.objective,
        traffic_cost=traffic_cost,
        dso_cost=dispatch.objective,
        station_names=charging.station_names,
        station_load_mw=station_load,
        price_per_mwh=price,
        link_flow=link_flow,
        seconds=time.perf_counter() - started,
        solver_seconds=solver_seconds,
        relaxation_gap_raw_pu2=dispatch.relaxation_gap_raw,
        relaxation_gap_weighted_mw=dispatch.relaxation_gap_weighted_mw,
        relaxation_exact=exact,
        davidson_above_knee=knee,
        dso=dispatch,
    )
