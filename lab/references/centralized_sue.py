"""The full-information optimum of seed 002's coupling (logit SUE traffic + DSO OPF), one model.

Why this module exists: seed 002 models drivers' route choice as a logit stochastic user
equilibrium (SUE) and maps the equilibrium station flows to charging loads on IEEE 33 (buses
16, 20, 32) with DER in a DistFlow OPF (MODELS.md §1, §2, §5). In ptn the traffic department
and the DSO reach the joint optimum privately (ADMM on the station loads); an experiment needs
that optimum computed independently, by a model that holds both sides. This module is that
reference for SUE traffic, the counterpart of :mod:`ptn.lab.references.centralized` (deterministic
UE, link-based Beckmann program). It is deliberately computed another way than the traffic
department's SUE solvers (:mod:`ptn.engines.traffic.sue`'s Newton and MSA): a route-based convex
program over every enumerated acyclic route, solved by an interior-point conic solver, so that
agreement checks those solvers rather than repeating them.

Formulation. Route flows ``f_k`` (veh/h) for every class (GV, EV), OD pair and period of the
time-expanded problem (:mod:`ptn.engines.traffic.multiperiod`, without departure shifting, so the
periods are independent), route sets from :func:`ptn.engines.traffic.path_sets.enumerate_paths`,
link flows ``x = Δ f`` (``Δ`` the link–route incidence; a route of the EV two-layer graph may
use a road link twice). Fisk's (1980) convex SUE program (Sheffi 1985, ch. 12, eq. 12.3)::

    Z(f) = Σ_a ∫_0^{x_a} c_a(u) du + (1/θ) Σ_k f_k (ln f_k − 1),   Σ_{k∈K_w} f_k = d_w, f ≥ 0,

with ``c_a`` the generalized link cost of :class:`ptn.engines.traffic.link_costs.LinkCosts` (value
of time × BPR time on roads, × Davidson queueing time on charging links, plus money terms), its
integrals in the closed forms of MODELS.md §1 (:func:`ptn.engines.traffic.beckmann_program.
beckmann_objective`: BPR ``t0·(x + 0.03·x⁵/c⁴)``, Davidson ``t0·(x + J·(−x − c·ln(1 − x/c)))``),
and the entropy term written ``−(1/θ)·(Σ entr(f) + Σ f)`` (exponential cones). θ is in 1/$
(the problem's cost unit), as for :func:`ptn.engines.traffic.sue.solve_stochastic_equilibrium`, and
its minimiser is the logit SUE ``f_k = d_w·exp(−θ c_k)/Σ_j exp(−θ c_j)``.

* :func:`solve_sue_reference`: the SUE at fixed station prices (charging money ``E_B·α`` on
  the charging links), per period the same fixed point as the SUE engine's.
* :func:`solve_joint_sue_min_cost`: MODELS.md §5's joint problem with SUE traffic,

      minimise   Δt · Z₀(f)  +  C_DSO(P)
      subject to the route-flow constraints above, the DSO's DistFlow-SOC constraints
                 (Farivar & Low 2013, :class:`ptn.engines.power.distflow.DistFlowOpf`), and
                 P[s, t] = E_B · x[station s's charging link in period t]   (MW),

  ``Z₀`` the Fisk potential without charging money (payments between drivers and the DSO are
  transfers), a rate in $/h summed over periods, hence the DSO's period length ``Δt``. By the
  KKT conditions the coupling multiplier per MWh is the DLMP at the station's bus, and the
  traffic SUE at those prices reproduces the optimal loads: the point a converged ADMM between
  the traffic department and the DSO reaches. The DSO embedding and coupling are
  :mod:`ptn.lab.references.dso_coupling`'s, the solver fallbacks
  :mod:`ptn.lab.references.solver_attempts`'s, as for :mod:`ptn.lab.references.centralized`.

The EV demand must be inelastic in the joint problem (seed 002's is; seed 001's mean-price law
has no potential) and departure shifting off (``max_shift_periods`` 0: seed 002 assigns each
period on its own). Like the deterministic reference this program uses the *pure* Davidson
function, which the SUE engine continues linearly above 0.95 of capacity: the two agree while
every station stays below that knee (``davidson_above_knee`` names those above).

Accuracy, measured on the tests' case (Nguyen–Dupuis × 3 periods, theta = 1/$, case33bw with
seed 002's DER): the traffic-only program matches the SUE engine's link flows to 3e-9 relative
(:data:`TRAFFIC_SOLVER_ATTEMPTS`); the joint one (Clarabel's 1e-9 gap target of
:data:`ptn.lab.references.solver_attempts.JOINT_SOLVER_ATTEMPTS`) has its prices equal to the
embedded OPF's DLMPs to 1e-6 $/MWh, and the SUE engine at those prices reproduces its loads to
1.5e-5 MW. As theta grows the joint optimum tends to
:func:`ptn.lab.references.centralized.solve_joint_min_cost`'s (loads 2.5e-4 MW apart at theta =
1000/$).

References: C. Fisk (1980), "Some developments in equilibrium traffic assignment",
Transportation Research B 14(3), 243–255. Y. Sheffi (1985), *Urban Transportation Networks*,
Prentice-Hall, ch. 12. M. Farivar & S. H. Low (2013), "Branch flow model: relaxations and
convexification", IEEE Transactions on Power Systems 28(3), 2554–2572. Seed 002
(``../shared/seeds/002_*``): SUE traffic mapped to charging loads at IEEE-33 buses 16, 20, 32,
DER in a DistFlow OPF.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase
from ptn.engines.power.result import OpfResult
from ptn.engines.traffic.beckmann_program import DEFAULT_SOLVER_OPTIONS, beckmann_objective
from ptn.engines.traffic.graph import compile_graph
from ptn.engines.traffic.link_costs import DAVIDSON_LINEAR_FROM, CostKind
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.network import FloatArray, IntArray
from ptn.engines.traffic.path_sets import DEFAULT_MAX_PATHS_PER_OD, PathSet, enumerate_graph_paths
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.sue import check_theta
from ptn.lab.references.centralized import check_joint_inputs
from ptn.lab.references.dso_coupling import couple_dso, dispatch_notes
from ptn.lab.references.solver_attempts import joint_solver_attempts, option_sets, solve_in_turn

#: Clarabel settings for the traffic-only program, tried in turn until one ends with a solution.
#: Measured on Nguyen–Dupuis × 3 periods at theta = 1/$ (210 routes) against the SUE engine's
#: Newton solution (residual 1e-10 veh/h): link flows agree to 3e-9 relative (1e-7 veh/h) at a
#: gap target of 1e-12 (0.02 s), to 7e-6 (4e-4 veh/h) at the Beckmann program's 1e-10. Hence:
#: aim at 1e-12 and accept a stall within 1e-9; failing that, 1e-10; failing that, the defaults.
TRAFFIC_SOLVER_ATTEMPTS: tuple[dict[str, Any], ...] = (
    {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12,
     "reduced_tol_gap_abs": 1e-9, "reduced_tol_gap_rel": 1e-9, "reduced_tol_feas": 1e-9},
    DEFAULT_SOLVER_OPTIONS["CLARABEL"],
    {},
)

_STATUS = {"optimal": "optimal", "infeasible": "infeasible"}


@dataclass(frozen=True)
class SueReference:
    """The logit SUE at fixed station prices from the route-based Fisk program.

    ``status``: ``optimal`` (also when the solver stopped at reduced accuracy; the message says
    so), ``infeasible`` (demand cannot pass the stations below capacity) or ``failed``; without
    a solution the numbers and arrays are NaN. ``fisk_objective``: Fisk's objective with the
    charging money, $/h summed over periods (the sum over periods of the SUE engine's
    ``fisk_objective``); ``fisk_unpriced``: the same without the charging money. Arrays
    ``[station, period]`` in ``station_names`` order: ``price_per_mwh`` (the input),
    ``station_load_mw`` = E_B × station flow. ``period_link_flow_veh_per_h[t]``: the flows of
    period ``t`` on the road links then the charging links (the numbering of
    :func:`ptn.engines.traffic.charging.build_charging_problem`); ``link_flow`` (veh/h) over the
    links of the time-expanded problem; ``path_flow_veh_per_h`` over the routes of ``paths``
    (links of the time-expanded problem, OD pairs in its graph order).
    """

    status: str
    message: str
    theta: float
    fisk_objective: float
    fisk_unpriced: float
    station_names: tuple[str, ...]
    price_per_mwh: FloatArray
    station_load_mw: FloatArray
    period_link_flow_veh_per_h: FloatArray
    link_flow: FloatArray
    paths: PathSet
    path_flow_veh_per_h: FloatArray
    seconds: float
    solver_seconds: float = 0.0
    davidson_above_knee: tuple[str, ...] = ()

    @property
    def has_solution(self) -> bool:
        return self.status == "optimal"


@dataclass(frozen=True)
class JointSueSolution:
    """The joint minimum-cost coordination with SUE traffic (failures are data: ``status``).

    ``status``: ``optimal`` (also at reduced solver accuracy or with an inexact SOC relaxation;
    the message says so), ``infeasible`` or ``failed``; without a solution costs and arrays are
    NaN. Costs in $ over the horizon: ``traffic_cost`` = period_hours × Fisk potential without
    charging money (what the joint problem minimises on the traffic side; the counterpart of
    :attr:`ptn.lab.references.centralized.JointSolution.traffic_cost`), ``travel_cost`` = its
    travel-time part (period_hours × Beckmann potential,
    :meth:`ptn.engines.traffic.multiperiod.MultiPeriodProblem.potential`), ``dso_cost`` the OPF's
    reported objective, ``total_cost`` = ``traffic_cost + dso_cost``. Arrays
    ``[station, period]`` in ``station_names`` order: loads in MW, ``price_per_mwh`` the
    coupling multipliers in $/MWh, i.e. the DLMP at each station's bus (with logit choice every
    station is used, so they are unique). Flows as in :class:`SueReference`. ``dso`` is the OPF
    result read from the joint solution; ``relaxation_*`` its SOC exactness.
    """

    status: str
    message: str
    theta: float
    total_cost: float
    traffic_cost: float
    travel_cost: float
    dso_cost: float
    station_names: tuple[str, ...]
    station_load_mw: FloatArray
    price_per_mwh: FloatArray
    period_link_flow_veh_per_h: FloatArray
    link_flow: FloatArray
    paths: PathSet
    path_flow_veh_per_h: FloatArray
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


@dataclass(frozen=True)
class _FiskProgram:
    """Fisk's route-based program of an assignment problem, as cvxpy parts to embed.

    ``objective``: Fisk's ``Z`` in the problem's cost units per hour of flow (money terms of
    the problem's links included); ``constraints``: demand per OD pair and the link–route map.
    """

    problem: AssignmentProblem
    theta: float
    paths: PathSet
    path_flow: cp.Variable
    link_flow: cp.Variable
    objective: cp.Expression
    constraints: tuple[cp.Constraint, ...]

    def values(self) -> tuple[FloatArray, FloatArray]:
        """Link and route flows (veh/h) after a solve; solver rounding negatives zeroed."""
        link = np.maximum(np.asarray(self.link_flow.value, dtype=np.float64).reshape(-1), 0.0)
        path = np.maximum(np.asarray(self.path_flow.value, dtype=np.float64).reshape(-1), 0.0)
        return link, path

    def entropy(self, path_flow: FloatArray) -> float:
        """Fisk's entropy term (1/θ)·Σ f (ln f − 1) at ``path_flow`` (0·ln 0 = 0)."""
        positive = path_flow[path_flow > 0]
        return float(np.sum(positive * (np.log(positive) - 1.0))) / self.theta


def _build_fisk_program(problem: AssignmentProblem, theta: float,
                        max_paths_per_od: int) -> _FiskProgram:
    graph = compile_graph(problem)
    if graph.num_ods == 0:
        raise InvalidInputError("the assignment problem has no positive demand")
    paths = enumerate_graph_paths(graph, max_paths_per_od)
    if paths is None:
        raise InvalidInputError(
            f"an OD pair has more than {max_paths_per_od} acyclic routes (or the enumeration "
            "exceeded its budget): the route-based SUE reference needs every route listed"
        )
    owner = np.repeat(np.arange(paths.num_paths), np.diff(paths.path_first))
    incidence = sp.csr_matrix(
        (np.ones(owner.size), (paths.path_links, owner)),
        shape=(problem.num_links, paths.num_paths),
    )
    choice = sp.csr_matrix(
        (np.ones(paths.num_paths), (paths.path_od, np.arange(paths.num_paths))),
        shape=(paths.num_ods, paths.num_paths),
    )
    path_flow = cp.Variable(paths.num_paths, nonneg=True, name="route_flow")
    # link flows as variables of their own keep the cones' columns few (cf. beckmann_program)
    link_flow = cp.Variable(problem.num_links, name="link_flow")
    entropy = -(cp.sum(cp.entr(path_flow)) + cp.sum(path_flow)) / theta
    return _FiskProgram(
        problem=problem,
        theta=theta,
        paths=paths,
        path_flow=path_flow,
        link_flow=link_flow,
        objective=beckmann_objective(problem.links, link_flow) + entropy,
        constraints=(choice @ path_flow == graph.od_demand, link_flow == incidence @ path_flow),
    )


def _traffic_problem(spec_or_problem: MultiPeriodSpec | MultiPeriodProblem) -> MultiPeriodProblem:
    if isinstance(spec_or_problem, MultiPeriodSpec):
        traffic = build_multiperiod_problem(spec_or_problem)
    elif isinstance(spec_or_problem, MultiPeriodProblem):
        traffic = spec_or_problem
    else:
        raise InvalidInputError(
            "the SUE reference needs a MultiPeriodSpec or MultiPeriodProblem, got "
            f"{type(spec_or_problem).__name__}"
        )
    if traffic.spec.max_shift_periods != 0:
        raise InvalidInputError(
            "the SUE reference assigns every period on its own (seed 002): max_shift_periods "
            f"must be 0, got {traffic.spec.max_shift_periods}"
        )
    return traffic


def _station_rows(traffic: MultiPeriodProblem,
                  station_order: Sequence[str] | None) -> tuple[tuple[str, ...], IntArray]:
    """Output station names and, for each, its position among the traffic model's stations."""
    names = traffic.spec.charging.station_names
    if station_order is None:
        return names, np.arange(len(names), dtype=np.int64)
    order = tuple(str(name) for name in station_order)
    unknown = [name for name in order if name not in names]
    if unknown:
        raise InvalidInputError(
            f"station_order names {unknown[0]}, which is not a station of the traffic model "
            f"(its stations: {', '.join(names)})"
        )
    if sorted(order) != sorted(names):
        missing = [name for name in names if name not in order]
        what = f"misses {missing[0]}" if missing else "repeats a station"
        raise InvalidInputError(
            f"station_order must list each station of the traffic model once; it {what} "
            f"(stations: {', '.join(names)})"
        )
    return order, np.array([names.index(name) for name in order], dtype=np.int64)


def _period_flows(traffic: MultiPeriodProblem, link_flow: FloatArray) -> FloatArray:
    """Flows (periods, road links + stations) of the time-expanded problem's physical links."""
    periods, block = traffic.num_periods, traffic.block
    return link_flow[: periods * block].reshape(periods, block).copy()


def _above_knee(problem: AssignmentProblem, link_flow: FloatArray) -> tuple[str, ...]:
    links = problem.links
    above = (links.kind == CostKind.DAVIDSON) & (link_flow > DAVIDSON_LINEAR_FROM * links.capacity)
    return tuple(problem.link_label(int(a)) for a in np.flatnonzero(above))


def _knee_note(knee: tuple[str, ...]) -> list[str]:
    if not knee:
        return []
    return [f"charging links above 0.95 of capacity ({', '.join(knee)}): the SUE engine's "
            "linearly continued Davidson function differs there"]


def _status(status: str) -> str:
    return _STATUS.get(status, "failed")


def solve_sue_reference(
    spec_or_problem: MultiPeriodSpec | MultiPeriodProblem,
    price_per_mwh: ArrayLike,
    *,
    theta: float,
    station_order: Sequence[str] | None = None,
    solver: str = "CLARABEL",
    solver_options: dict[str, Any] | None = None,
    max_paths_per_od: int = DEFAULT_MAX_PATHS_PER_OD,
) -> SueReference:
    """The logit SUE of every period at fixed station prices, by Fisk's route-based program.

    ``price_per_mwh``: shape (stations, periods), rows in ``station_order`` (default: the
    traffic model's station order); ``theta`` in 1/$. Elastic EV demand (``price_sensitivity``)
    is applied at these prices. Raises :class:`InvalidInputError` for theta not positive and
    finite, departure shifting, prices of the wrong shape or negative or not finite, a
    ``station_order`` that is not a permutation of the stations, or too many routes; never on
    solver trouble.
    """
    started = time.perf_counter()
    theta = check_theta(theta)
    traffic = _traffic_problem(spec_or_problem)
    names, rows = _station_rows(traffic, station_order)
    given = np.asarray(price_per_mwh, dtype=np.float64)
    shape = (len(names), traffic.num_periods)
    if given.shape != shape:
        raise InvalidInputError(
            f"charging prices need shape {shape} (stations, periods), got {given.shape}"
        )
    prices = np.empty_like(given)
    prices[rows] = given
    problem = traffic.problem_at(prices)  # validates the prices, applies the demand law
    program = _build_fisk_program(problem, theta, max_paths_per_od)
    attempts = option_sets(TRAFFIC_SOLVER_ATTEMPTS if solver == "CLARABEL" else ({},),
                           solver_options)
    model = cp.Problem(cp.Minimize(program.objective), list(program.constraints))
    status, message, solver_seconds = solve_in_turn(model, solver, attempts, "the SUE program")
    periods, block = traffic.num_periods, traffic.block
    if status != "optimal":
        return SueReference(
            status=_status(status), message=message, theta=theta, fisk_objective=np.nan,
            fisk_unpriced=np.nan, station_names=names, price_per_mwh=given,
            station_load_mw=np.full(shape, np.nan),
            period_link_flow_veh_per_h=np.full((periods, block), np.nan),
            link_flow=np.full(problem.num_links, np.nan), paths=program.paths,
            path_flow_veh_per_h=np.full(program.paths.num_paths, np.nan),
            seconds=time.perf_counter() - started, solver_seconds=solver_seconds,
        )
    link_flow, path_flow = program.values()
    entropy = program.entropy(path_flow)
    fisk = problem.links.beckmann(link_flow) + entropy
    period_flow = _period_flows(traffic, link_flow)
    station_flow = period_flow[:, traffic.spec.charging.num_road_links:].T
    knee = _above_knee(problem, link_flow)
    return SueReference(
        status="optimal",
        message="; ".join(([message] if message else []) + _knee_note(knee)),
        theta=theta,
        fisk_objective=fisk,
        fisk_unpriced=traffic.potential(link_flow) + entropy,
        station_names=names,
        price_per_mwh=given,
        station_load_mw=traffic.spec.charging.energy_per_charge_mwh * station_flow[rows],
        period_link_flow_veh_per_h=period_flow,
        link_flow=link_flow,
        paths=program.paths,
        path_flow_veh_per_h=path_flow,
        seconds=time.perf_counter() - started,
        solver_seconds=solver_seconds,
        davidson_above_knee=knee,
    )


def solve_joint_sue_min_cost(
    spec_or_problem: MultiPeriodSpec | MultiPeriodProblem,
    case: DsoCase,
    *,
    theta: float,
    station_order: Sequence[str] | None = None,
    solver: str = "CLARABEL",
    solver_options: dict[str, Any] | None = None,
    max_paths_per_od: int = DEFAULT_MAX_PATHS_PER_OD,
) -> JointSueSolution:
    """Solve the joint minimum-cost problem with logit SUE traffic (module docstring).

    ``theta`` in 1/$; outputs ``[station, period]`` in ``station_order`` (default: the traffic
    model's order). Solver settings as :func:`ptn.lab.references.centralized.solve_joint_min_cost`
    (:data:`ptn.lab.references.solver_attempts.JOINT_SOLVER_ATTEMPTS` in turn, then
    ``solver_options``). Raises :class:`InvalidInputError` for theta not positive and finite,
    departure shifting, elastic EV demand, a period-count mismatch, a station without a
    charging point of the same name (or the reverse), a ``station_order`` that is not a
    permutation of the stations, or too many routes; never on solver trouble.
    """
    started = time.perf_counter()
    theta = check_theta(theta)
    traffic = _traffic_problem(spec_or_problem)
    check_joint_inputs(traffic, case)
    names, rows = _station_rows(traffic, station_order)
    charging = traffic.spec.charging
    attempts = joint_solver_attempts(solver, solver_options)
    program = _build_fisk_program(traffic.unpriced_problem(), theta, max_paths_per_od)
    coupling = couple_dso(traffic, case, program.link_flow, solver, attempts[0])
    dt = case.period_hours
    model = cp.Problem(
        cp.Minimize(dt * program.objective + coupling.embedding.cost_usd),
        [*program.constraints, *coupling.embedding.constraints, coupling.constraint],
    )
    status, message, solver_seconds = solve_in_turn(model, solver, attempts,
                                                   "the joint problem")
    shape = (len(names), traffic.num_periods)
    if status != "optimal":
        nan = float("nan")
        return JointSueSolution(
            status=_status(status), message=message, theta=theta, total_cost=nan,
            traffic_cost=nan, travel_cost=nan, dso_cost=nan, station_names=names,
            station_load_mw=np.full(shape, np.nan), price_per_mwh=np.full(shape, np.nan),
            period_link_flow_veh_per_h=np.full((traffic.num_periods, traffic.block), np.nan),
            link_flow=np.full(traffic.problem.num_links, np.nan), paths=program.paths,
            path_flow_veh_per_h=np.full(program.paths.num_paths, np.nan),
            seconds=time.perf_counter() - started, solver_seconds=solver_seconds,
        )

    link_flow, path_flow = program.values()
    dispatch = coupling.embedding.read_result()
    travel_cost = dt * traffic.potential(link_flow)
    traffic_cost = travel_cost + dt * program.entropy(path_flow)
    period_flow = _period_flows(traffic, link_flow)
    station_flow = period_flow[:, charging.num_road_links:].T
    knee = _above_knee(program.problem, link_flow)
    exact, dso_notes = dispatch_notes(dispatch)
    notes = ([message] if message else []) + dso_notes + _knee_note(knee)
    return JointSueSolution(
        status="optimal",
        message="; ".join(notes),
        theta=theta,
        total_cost=traffic_cost + dispatch.objective,
        traffic_cost=traffic_cost,
        travel_cost=travel_cost,
        dso_cost=dispatch.objective,
        station_names=names,
        station_load_mw=charging.energy_per_charge_mwh * station_flow[rows],
        price_per_mwh=coupling.price_per_mwh()[rows],
        period_link_flow_veh_per_h=period_flow,
        link_flow=link_flow,
        paths=program.paths,
        path_flow_veh_per_h=path_flow,
        seconds=time.perf_counter() - started,
        solver_seconds=solver_seconds,
        relaxation_gap_raw_pu2=dispatch.relaxation_gap_raw,
        relaxation_gap_weighted_mw=dispatch.relaxation_gap_weighted_mw,
        relaxation_exact=exact,
        davidson_above_knee=knee,
        dso=dispatch,
    )
