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
traffic model and charging points of the DSO are matched by name. The DSO's embedding and the
coupling (:mod:`ptn.lab.references.dso_coupling`) and the solver fallbacks
(:mod:`ptn.lab.references.solver_attempts`) are shared with the SUE reference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase
from ptn.engines.power.result import OpfResult
from ptn.engines.traffic.beckmann_program import build_beckmann_program
from ptn.engines.traffic.multiperiod import MultiPeriodProblem
from ptn.engines.traffic.network import FloatArray
from ptn.lab.references.dso_coupling import couple_dso, dispatch_notes
from ptn.lab.references.solver_attempts import (
    SHORT_STEP_FRACTION,
    joint_solver_attempts,
    solve_in_turn,
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


def solve_joint_min_cost(
    traffic: MultiPeriodProblem,
    case: DsoCase,
    *,
    solver: str = "CLARABEL",
    solver_options: dict[str, Any] | None = None,
) -> JointSolution:
    """Solve the joint minimum-cost problem (module docstring) in one convex model.

    Solver settings: :data:`ptn.engines.power.distflow.DEFAULT_SOLVER_OPTIONS`, updated (with
    Clarabel) by each of :data:`ptn.lab.references.solver_attempts.JOINT_SOLVER_ATTEMPTS` in
    turn until one gives a solution, and then by ``solver_options``; with Clarabel, the last
    set is also tried without Clarabel's equilibration: after it, and before it for traffic
    with seed 003's residual flow or EV classes. Measured on seed 003's scenario over 24 h:
    with ``residual_share = 0.1`` every equilibrated attempt ends in numerical trouble; with EV
    classes of 60 and 30 kWh the equilibrated last attempt stops "optimal_inaccurate" 8.6 $
    above the negotiated optimum (road flows 176 veh/h off the department's equilibrium at its
    own prices), the unequilibrated one within 0.02 $ of it (1.97 veh/h). Raises
    :class:`InvalidInputError` for elastic EV demand, a period-count mismatch or a station
    without a charging point of the same name (or the reverse); never on solver trouble.
    """
    started = time.perf_counter()
    check_joint_inputs(traffic, case)
    charging = traffic.spec.charging
    attempts = joint_solver_attempts(solver, solver_options)
    unequilibrated = {**attempts[-1], "equilibrate_enable": False}
    if solver == "CLARABEL" and unequilibrated not in attempts:
        seed003 = traffic.spec.has_residual_flow or bool(traffic.spec.ev_classes)
        attempts.insert(len(attempts) - 1 if seed003 else len(attempts), unequilibrated)
        # last, the tightest settings with shorter interior-point steps: Sioux Falls x CIGRE
        # MV over 2 periods (docs/tutorial.md's scenario) stalls in every attempt above
        # ("InsufficientProgress" by its 6th iteration) and solves with steps of at most 0.8
        # (0.9 and 0.6 agree to 1e-8 relative)
        attempts.append({**attempts[0], "max_step_fraction": SHORT_STEP_FRACTION})
    program = build_beckmann_program(traffic.unpriced_problem())
    coupling = couple_dso(traffic, case, program.link_flow, solver, attempts[0])
    dt = case.period_hours
    model = cp.Problem(
        cp.Minimize(dt * program.objective + coupling.embedding.cost_usd),
        [*program.constraints, *coupling.embedding.constraints, coupling.constraint],
    )
    status, message, solver_seconds = solve_in_turn(model, solver, attempts,
                                                   "the joint problem")
    if status != "optimal":
        return _failure(status, message, traffic, started, solver_seconds)

    link_flow = program.link_flow_value()
    dispatch = coupling.embedding.read_result()
    traffic_cost = dt * traffic.potential(link_flow)
    station_load = charging.energy_per_charge_mwh * link_flow[traffic.station_links()].T
    price = coupling.price_per_mwh()
    above = program.davidson_above_knee(link_flow)
    knee = tuple(program.problem.link_label(int(link)) for link in above)
    exact, dso_notes = dispatch_notes(dispatch)
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
