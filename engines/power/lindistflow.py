"""LinDistFlow: the lossless linearized DistFlow OPF as a Pyomo model, for MIP and bilevel use.

Why it exists: :class:`ptn.engines.power.distflow.DistFlowOpf` is the accurate model (SOC
relaxation in cvxpy), but a cone is awkward inside a KKT/big-M reformulated bilevel program and
out of reach of a MIP solver such as HiGHS. The simplified DistFlow equations of Baran & Wu
("Network reconfiguration in distribution systems for loss reduction and load balancing", IEEE
Trans. Power Delivery 4(2):1401-1407, 1989: the branch flow equations with the loss terms
``r·ℓ``, ``x·ℓ`` and ``(r² + x²)·ℓ`` dropped), known as LinDistFlow, keep the voltages and the
prices linear, at the cost of neglecting losses (5.5% of the energy bought on case33bw at full
load). tests/power/test_lindistflow.py measures the error against the SOC model.

Formulation, per feeder, period ``t`` and branch ``i→j`` (per unit on the feeder's base; the
same data, DER constraints, units and objective as :mod:`ptn.engines.power.distflow`):

* ``Σ_{k→j} P_kj − Σ_{j→l} P_jl + p^inj_j = p^load_j + g_j·w_j`` (and Q with ``−b_j·w_j``),
  with no ``r·ℓ`` loss term; ``g``, ``b`` are the feeder's bus shunts (line charging), whose
  power ``g·|V|²`` is linear in ``w``: kept as in the SOC model rather than frozen at 1 p.u., so
  both models and :class:`ptn.engines.power.distflow.DistFlowOpf`'s LinDistFlow agree;
* ``w_j = w_i − 2(r_ij·P_ij + x_ij·Q_ij)``, ``v_min² ≤ w ≤ v_max²``, slack ``w = v_0²``;
* branch ratings and inverter limits ``P² + Q² ≤ S²`` as an inscribed regular polygon of
  ``circle_sides`` facets (linear; a vertex lies on the P axis, so unity-power-factor output
  reaches S), or as the exact convex quadratic constraint with ``circle_sides=None``;
* DER of :mod:`ptn.engines.power.der` (micro-turbines, storage, PV/wind, demand response) and the
  EV charging points, whose load ``[point, period]`` (MW) is a mutable Param (or, with
  ``charging="variable"``, a Var in ``[0, max_mw]`` that a parent model links to its own
  decisions);
* objective ($ over the horizon): ``Σ_t Δt·[λ_t·P0_t + c2·P0_t² + c0 + Σ_g (a_g·p_g² + b_g·p_g)
  + incentive·shifted]``; the upstream price ``λ`` is a mutable Param. Losses are zero here,
  so ``case.loss_price_per_mwh`` adds nothing.

The model is an LP when no quadratic cost is present (HiGHS, with duals: the DLMPs), else a
convex QP (SCIP, no duals through Pyomo). Solver interfaces measured on this machine (Pyomo
6.10, pyomo.contrib.solver names): ``highs`` (highspy 1.15) solves LPs and MIPs and returns LP
duals, but its QP active-set method reaches the optimum of the 24-period DER case and then
cycles (null space of dimension 3) until the time limit, so QPs go to SCIP;
``scip_persistent``/``scip_direct`` (pyscipopt) solve LPs, QPs and quadratic constraints but
give no duals (``get_duals`` is not implemented, and a ``dual`` Suffix on the model makes them
fail); legacy ``appsi_highs`` rejects quadratic objectives; ``ipopt``, ``cbc``, ``glpk`` and the
``scip`` executable are not available.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo
from numpy.typing import NDArray
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase, validate_case
from ptn.engines.power.result import FeederDispatch, OpfResult, OpfStatus, RelaxationGap

FloatArray = NDArray[np.float64]

ChargingKind = Literal["fixed", "variable"]

#: facets of the polygon replacing ``P² + Q² ≤ S²``; 16 keeps ``S·cos(π/16)`` ≥ 98% of S
DEFAULT_CIRCLE_SIDES = 16

_STATUS = {
    TerminationCondition.convergenceCriteriaSatisfied: OpfStatus.OPTIMAL,
    TerminationCondition.provenInfeasible: OpfStatus.INFEASIBLE,
    TerminationCondition.locallyInfeasible: OpfStatus.INFEASIBLE,
    TerminationCondition.infeasibleOrUnbounded: OpfStatus.INFEASIBLE,
    TerminationCondition.unbounded: OpfStatus.UNBOUNDED,
}


@dataclass
class LinDistFlowModel:
    """A built LinDistFlow model and handles to the components callers need.

    ``p_balance``/``q_balance`` are indexed ``(feeder position, bus position, period)`` and their
    duals, divided by ``base_mva·Δt``, are the DLMPs in $/MWh. ``charging`` is indexed
    ``(point, period)`` in MW, ``upstream_price`` ``(feeder position, period)`` in $/MWh, the
    branch flows ``P``, ``Q`` ``(feeder, branch, period)`` and ``w = v²`` ``(feeder, bus,
    period)`` in per unit. ``objective`` is ``None`` when the block is embedded in a parent
    model, which then owns the objective (``cost`` is the block's cost expression).
    """

    case: DsoCase
    model: Any
    block: Any
    p_balance: Any
    q_balance: Any
    charging: Any
    upstream_price: Any
    cost: Any
    cost_terms: dict[str, Any]
    objective: Any
    charging_kind: ChargingKind
    linear: bool
    _solvers: dict[str, Any] = field(default_factory=dict, repr=False)

    def set_charging_load(self, charging_mw: FloatArray) -> None:
        """New EV charging loads ``[point, period]`` (MW) in the mutable Param; no rebuild."""
        if self.charging_kind != "fixed":
            raise InvalidInputError("charging loads are variables here (charging='variable')")
        _store(self.charging, _charging_array(self.case, charging_mw))

    def set_upstream_price(self, price_per_mwh: FloatArray, feeder: str | None = None) -> None:
        """Upstream price per period ($/MWh), for every feeder or the one named; no rebuild."""
        price = np.asarray(price_per_mwh, dtype=np.float64)
        if price.shape != (self.case.periods,) or not np.isfinite(price).all():
            raise InvalidInputError(
                f"upstream price needs {self.case.periods} finite values, got shape {price.shape}"
            )
        positions = range(len(self.case.feeders)) if feeder is None \
            else [self.case.feeder_position(feeder, "upstream price")]
        for f in positions:
            for t in range(self.case.periods):
                self.upstream_price[f, t] = float(price[t])


def _charging_array(case: DsoCase, charging_mw: FloatArray | None) -> FloatArray:
    shape = (len(case.charging_points), case.periods)
    if charging_mw is None:
        return np.zeros(shape)
    array = np.asarray(charging_mw, dtype=np.float64)
    if array.shape != shape:
        raise InvalidInputError(f"charging load needs shape {shape} [point, period], got "
                                f"{array.shape}")
    bad = np.argwhere(~np.isfinite(array) | (array < 0))
    if bad.size:
        point, period = bad[0]
        raise InvalidInputError(
            f"charging load at {case.charging_points[point].name} in period {period} is "
            f"{array[point, period]!r} (must be finite and >= 0)"
        )
    return array


def _store(param: Any, values: FloatArray) -> None:
    for index, value in np.ndenumerate(values):
        param[index] = float(value)


def _circle(sides: int | None, p: Any, q: Any, limit: float) -> list[Any]:
    """Rows bounding ``p² + q² ≤ limit²``: polygon facets, or the quadratic constraint."""
    if sides is None:
        return [p**2 + q**2 <= limit**2]
    angles = (2 * np.arange(sides) + 1) * np.pi / sides
    apothem = limit * math.cos(math.pi / sides)
    return [math.cos(a) * p + math.sin(a) * q <= apothem for a in angles]


def build_lindistflow(
    case: DsoCase,
    charging_mw: FloatArray | None = None,
    *,
    model: Any | None = None,
    name: str = "lindistflow",
    charging: ChargingKind = "fixed",
    circle_sides: int | None = DEFAULT_CIRCLE_SIDES,
) -> LinDistFlowModel:
    """Build the LinDistFlow OPF of ``case`` as a Pyomo ConcreteModel or a Block of ``model``.

    ``charging_mw`` ``[point, period]`` (MW) initializes the charging Param (zeros by
    default); ``charging="variable"`` makes the charging loads Vars for a parent model to link.
    With ``model`` given, the formulation is added to it as the Block ``name`` and no Objective
    is created. ``circle_sides``: facets of the polygons replacing the branch-rating and
    inverter circles (``None``: exact quadratic constraints, which need SCIP).
    """
    validate_case(case)
    if charging not in ("fixed", "variable"):
        raise InvalidInputError(f"charging must be 'fixed' or 'variable', got {charging!r}")
    if circle_sides is not None and circle_sides < 4:
        raise InvalidInputError(f"circle_sides must be at least 4 (or None), got {circle_sides}")
    T, dt = case.periods, case.period_hours
    # (buses, periods) multipliers of each feeder's base loads: the load profile, or a bus's
    # own shape (DsoCase.bus_load_profiles)
    multipliers = [case.load_multipliers(f) for f in range(len(case.feeders))]
    if model is None:
        block = pyo.ConcreteModel(name=name)
    else:
        if model.component(name) is not None:
            raise InvalidInputError(f"the parent model already has a component {name!r}")
        block = pyo.Block(concrete=True)
        model.add_component(name, block)
    feeders = case.feeders
    block.T = pyo.RangeSet(0, T - 1)
    block.BUS = pyo.Set(dimen=2, ordered=True, initialize=[
        (f, i) for f, fd in enumerate(feeders) for i in range(fd.num_buses)])
    block.BRANCH = pyo.Set(dimen=2, ordered=True, initialize=[
        (f, k) for f, fd in enumerate(feeders) for k in range(fd.num_branches)])
    block.FEEDER = pyo.RangeSet(0, len(feeders) - 1)

    def w_bounds(_: Any, f: int, i: int, t: int) -> tuple[float, float]:
        fd = feeders[f]
        if i == fd.slack_bus:
            return fd.slack_voltage_pu**2, fd.slack_voltage_pu**2
        return fd.v_min_pu[i] ** 2, fd.v_max_pu[i] ** 2

    def finite(value: float, base: float) -> float | None:
        return value / base if np.isfinite(value) else None

    block.P = pyo.Var(block.BRANCH, block.T)
    block.Q = pyo.Var(block.BRANCH, block.T)
    block.w = pyo.Var(block.BUS, block.T, bounds=w_bounds)
    block.P0 = pyo.Var(block.FEEDER, block.T, bounds=lambda _, f, t: (
        finite(feeders[f].upstream_p_min_mw, feeders[f].base_mva),
        finite(feeders[f].upstream_p_max_mw, feeders[f].base_mva)))
    block.Q0 = pyo.Var(block.FEEDER, block.T, bounds=lambda _, f, t: (
        finite(feeders[f].upstream_q_min_mvar, feeders[f].base_mva),
        finite(feeders[f].upstream_q_max_mvar, feeders[f].base_mva)))

    # injections (MW, MVAr) per (feeder, bus): lists of (p-expression factory, q factory)
    inject_p: dict[tuple[int, int], list[Any]] = {}
    inject_q: dict[tuple[int, int], list[Any]] = {}

    def attach(devices: Iterable[Any], kind: str, p: Any, q: Any | None) -> None:
        for k, device in enumerate(devices):
            where = case.locate(device.feeder, device.bus, f"{kind} {device.name!r}")
            inject_p.setdefault(where, []).append(lambda t, k=k: p(k, t))
            if q is not None:
                inject_q.setdefault(where, []).append(lambda t, k=k: q(k, t))

    cost_terms: dict[str, Any] = {}

    mts = case.micro_turbines
    if mts:
        block.MT = pyo.RangeSet(0, len(mts) - 1)
        block.mt_p = pyo.Var(block.MT, block.T,
                             bounds=lambda _, g, t: (mts[g].p_min_mw, mts[g].p_max_mw))
        block.mt_q = pyo.Var(block.MT, block.T,
                             bounds=lambda _, g, t: (mts[g].q_min_mvar, mts[g].q_max_mvar))
        ramped = [g for g, mt in enumerate(mts) if np.isfinite(mt.ramp_mw_per_h)]
        if T > 1 and ramped:
            steps = [(g, t) for g in ramped for t in range(1, T)]
            block.mt_ramp_up = pyo.Constraint(steps, rule=lambda b, g, t: (
                b.mt_p[g, t] - b.mt_p[g, t - 1] <= mts[g].ramp_mw_per_h * dt))
            block.mt_ramp_down = pyo.Constraint(steps, rule=lambda b, g, t: (
                b.mt_p[g, t - 1] - b.mt_p[g, t] <= mts[g].ramp_mw_per_h * dt))
        block.cost_generation = pyo.Expression(expr=dt * sum(
            mt.cost_quadratic_per_mw2h * block.mt_p[g, t] ** 2
            + mt.cost_linear_per_mwh * block.mt_p[g, t]
            for g, mt in enumerate(mts) for t in range(T)))
        cost_terms["generation"] = block.cost_generation
        attach(mts, "micro_turbine", lambda g, t: block.mt_p[g, t], lambda g, t: block.mt_q[g, t])

    sts = case.storage
    if sts:
        block.ST = pyo.RangeSet(0, len(sts) - 1)
        block.st_ch = pyo.Var(block.ST, block.T, bounds=lambda _, s, t: (0, sts[s].charge_max_mw))
        block.st_dis = pyo.Var(block.ST, block.T,
                               bounds=lambda _, s, t: (0, sts[s].discharge_max_mw))

        def soc_bounds(_: Any, s: int, t: int) -> tuple[float, float]:
            st = sts[s]
            return (st.soc_initial, st.soc_initial) if t in (0, T) else (st.soc_min, st.soc_max)

        block.T_SOC = pyo.RangeSet(0, T)
        block.st_soc = pyo.Var(block.ST, block.T_SOC, bounds=soc_bounds)
        block.st_dynamics = pyo.Constraint(block.ST, block.T, rule=lambda b, s, t: (
            b.st_soc[s, t + 1] == b.st_soc[s, t] + dt / sts[s].energy_mwh * (
                sts[s].charge_efficiency * b.st_ch[s, t]
                - b.st_dis[s, t] / sts[s].discharge_efficiency)))
        attach(sts, "storage", lambda s, t: block.st_dis[s, t] - block.st_ch[s, t], None)

    res = case.renewables
    if res:
        available = [u.available_mw() for u in res]
        block.RE = pyo.RangeSet(0, len(res) - 1)
        block.re_p = pyo.Var(block.RE, block.T, bounds=lambda _, u, t: (
            0.0 if res[u].curtailable else available[u][t], available[u][t]))
        block.re_q = pyo.Var(block.RE, block.T, bounds=lambda _, u, t: (
            (-res[u].apparent_limit_mva, res[u].apparent_limit_mva)
            if res[u].reactive_support else (0.0, 0.0)))
        block.re_limit = pyo.ConstraintList()
        for u, unit in enumerate(res):
            for t in range(T):
                for row in _circle(circle_sides, block.re_p[u, t], block.re_q[u, t],
                                   unit.apparent_limit_mva):
                    block.re_limit.add(row)
        attach(res, "renewable", lambda u, t: block.re_p[u, t], lambda u, t: block.re_q[u, t])

    drs = case.demand_response
    if drs:
        _, ratio = case.demand_response_base_mw()
        limits = case.demand_response_limits_mw()
        block.DR = pyo.RangeSet(0, len(drs) - 1)

        def dr_bounds(_: Any, d: int, t: int) -> tuple[float, float]:
            return 0.0, float(limits[d, t])

        block.dr_up = pyo.Var(block.DR, block.T, bounds=dr_bounds)
        block.dr_down = pyo.Var(block.DR, block.T, bounds=dr_bounds)
        block.dr_energy = pyo.Constraint(block.DR, rule=lambda b, d: (
            sum(b.dr_up[d, t] - b.dr_down[d, t] for t in range(T)) == 0))
        block.cost_demand_response = pyo.Expression(expr=dt * sum(
            d.incentive_per_mwh * block.dr_down[k, t] for k, d in enumerate(drs)
            for t in range(T)))
        cost_terms["demand_response"] = block.cost_demand_response
        attach(drs, "demand_response", lambda d, t: block.dr_down[d, t] - block.dr_up[d, t],
               lambda d, t: ratio[d] * (block.dr_down[d, t] - block.dr_up[d, t]))

    cps = case.charging_points
    if cps:
        block.CP = pyo.RangeSet(0, len(cps) - 1)
        if charging == "fixed":
            initial = _charging_array(case, charging_mw)
            block.charging = pyo.Param(block.CP, block.T, mutable=True, within=pyo.Reals,
                                       initialize=lambda _, c, t: float(initial[c, t]))
        else:
            block.charging = pyo.Var(block.CP, block.T, bounds=lambda _, c, t: (
                0.0, cps[c].max_mw if np.isfinite(cps[c].max_mw) else None))
        attach(cps, "charging_point", lambda c, t: -block.charging[c, t], None)

    into: dict[tuple[int, int], list[int]] = {(f, i): [] for f, i in block.BUS}
    out: dict[tuple[int, int], list[int]] = {(f, i): [] for f, i in block.BUS}
    for f, fd in enumerate(feeders):
        for k in range(fd.num_branches):
            into[f, int(fd.branch_to[k])].append(k)
            out[f, int(fd.branch_from[k])].append(k)

    def balance(flow: Any, slack: Any, injections: dict[tuple[int, int], list[Any]],
                load: list[FloatArray], shunts: list[FloatArray]) -> Any:
        def rule(b: Any, f: int, i: int, t: int) -> Any:
            fd = feeders[f]
            expr = sum(flow[f, k, t] for k in into[f, i]) - sum(flow[f, k, t] for k in out[f, i])
            if i == fd.slack_bus:
                expr += slack[f, t]
            terms = injections.get((f, i), [])
            if terms:
                expr += sum(term(t) for term in terms) / fd.base_mva
            rhs = float(load[f][i]) * float(multipliers[f][i, t]) / fd.base_mva
            if shunts[f][i]:  # a bus shunt draws shunt·w, linear in w (exact, as in the SOC)
                return expr - float(shunts[f][i]) * b.w[f, i, t] == rhs
            return expr == rhs
        return pyo.Constraint(block.BUS, block.T, rule=rule)

    # per feeder and bus, the shunt draw per unit of w (p.u.): g for P, −b for Q
    draws = [fd.shunt_draw(np.ones(fd.num_buses)) for fd in feeders]
    block.p_balance = balance(block.P, block.P0, inject_p, [fd.load_p_mw for fd in feeders],
                              [d[0] / fd.base_mva for d, fd in zip(draws, feeders, strict=True)])
    block.q_balance = balance(block.Q, block.Q0, inject_q, [fd.load_q_mvar for fd in feeders],
                              [d[1] / fd.base_mva for d, fd in zip(draws, feeders, strict=True)])
    block.voltage_drop = pyo.Constraint(block.BRANCH, block.T, rule=lambda b, f, k, t: (
        b.w[f, int(feeders[f].branch_to[k]), t] == b.w[f, int(feeders[f].branch_from[k]), t]
        - 2 * (feeders[f].r_pu[k] * b.P[f, k, t] + feeders[f].x_pu[k] * b.Q[f, k, t])))
    rated = [(f, k) for f, k in block.BRANCH
             if np.isfinite(feeders[f].branch_rating_mva[k])]
    if rated:
        block.rating = pyo.ConstraintList()
        for f, k in rated:
            limit = feeders[f].branch_rating_mva[k] / feeders[f].base_mva
            for t in range(T):
                for row in _circle(circle_sides, block.P[f, k, t], block.Q[f, k, t], limit):
                    block.rating.add(row)

    prices, _ = case.upstream_prices()
    block.upstream_price = pyo.Param(block.FEEDER, block.T, mutable=True, within=pyo.Reals,
                                     initialize=lambda _, f, t: float(prices[f][t]))
    block.cost_upstream_energy = pyo.Expression(expr=dt * sum(
        fd.base_mva * block.upstream_price[f, t] * block.P0[f, t]
        + fd.upstream_cost.quadratic_per_mw2h * (fd.base_mva * block.P0[f, t]) ** 2
        for f, fd in enumerate(feeders) for t in range(T)))
    cost_terms["upstream_energy"] = block.cost_upstream_energy
    constant = sum(fd.upstream_cost.constant_per_h * T * dt for fd in feeders)
    if constant:
        block.cost_upstream_fixed = pyo.Expression(expr=constant)
        cost_terms["upstream_fixed"] = block.cost_upstream_fixed
    block.cost = pyo.Expression(expr=sum(cost_terms.values()))
    objective = None
    if model is None:
        block.objective = pyo.Objective(expr=block.cost, sense=pyo.minimize)
        objective = block.objective
    linear = (
        all(mt.cost_quadratic_per_mw2h == 0 for mt in mts)
        and all(fd.upstream_cost.quadratic_per_mw2h == 0 for fd in feeders)
        and (circle_sides is not None or not (res or rated))
    )
    return LinDistFlowModel(
        case=case, model=block.model(), block=block, p_balance=block.p_balance,
        q_balance=block.q_balance, charging=block.component("charging"),
        upstream_price=block.upstream_price, cost=block.cost, cost_terms=cost_terms,
        objective=objective, charging_kind=charging, linear=linear,
    )


def _pick_solver(lindist: LinDistFlowModel) -> str:
    """``highs`` when everything active is linear (LP/MIP, duals for LPs), else SCIP."""
    if not lindist.linear:
        return "scip_persistent"
    objectives = lindist.model.component_data_objects(pyo.Objective, active=True)
    if any((o.expr.polynomial_degree() or 0) > 1 for o in objectives):
        return "scip_persistent"
    return "highs"


def solve_lindistflow(
    lindist: LinDistFlowModel,
    solver: str = "auto",
    *,
    options: dict[str, Any] | None = None,
) -> OpfResult:
    """Solve the model holding ``lindist`` (the parent, when embedded) and read the block back.

    ``solver`` is a pyomo.contrib.solver name; ``"auto"`` takes ``highs`` for linear models and
    ``scip_persistent`` for quadratic ones (see the module doc for why not HiGHS). Both keep
    their solver model between calls (one per :class:`LinDistFlowModel`), so a re-solve after
    changing a mutable Param only updates the solver's data. Never raises on solver trouble:
    the status says it. DLMPs are NaN when the solver gives no duals (SCIP, or a model with
    integer variables). In the :class:`OpfResult`, losses and relaxation gaps are zero and
    ``branch_current_pu2`` is the current ``(P² + Q²)/v`` implied by the lossless flows.
    """
    name = _pick_solver(lindist) if solver == "auto" else solver
    started = time.perf_counter()
    try:
        opt = lindist._solvers.get(name) or SolverFactory(name)
        lindist._solvers[name] = opt
        results = opt.solve(lindist.model, load_solutions=False,
                            raise_exception_on_nonoptimal_result=False,
                            solver_options=dict(options or {}))
    except Exception as error:
        return OpfResult(status=OpfStatus.SOLVER_ERROR, objective=float("nan"),
                         cost_breakdown={}, feeders=(), seconds=time.perf_counter() - started,
                         message=f"{name}: {type(error).__name__}: {error}")
    solver_seconds = time.perf_counter() - started
    status = _STATUS.get(results.termination_condition, OpfStatus.SOLVER_ERROR)
    has_solution = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if status != OpfStatus.OPTIMAL or not has_solution:
        status = OpfStatus.SOLVER_ERROR if status == OpfStatus.OPTIMAL else status
        return OpfResult(status=status, objective=float("nan"), cost_breakdown={}, feeders=(),
                         seconds=time.perf_counter() - started, solver_seconds=solver_seconds,
                         message=f"{name}: {results.termination_condition.name}")
    results.solution_loader.load_vars()
    duals = _duals(lindist, results, name)
    result = _collect(lindist, duals, name)
    return OpfResult(**{**result.__dict__, "seconds": time.perf_counter() - started,
                        "solver_seconds": solver_seconds})


def _duals(lindist: LinDistFlowModel, results: Any, solver: str) -> dict[Any, float] | None:
    if solver.startswith("scip") or any(
        v.is_integer() for v in lindist.model.component_data_objects(pyo.Var, active=True)
    ):
        return None
    try:
        rows = [*lindist.p_balance.values(), *lindist.q_balance.values()]
        return dict(results.solution_loader.get_duals(rows))
    except (NotImplementedError, RuntimeError, ValueError):
        return None


def _array(component: Any, keys: Iterable[tuple[int, ...]], shape: tuple[int, ...]) -> FloatArray:
    values = [component[key].value for key in keys]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(shape)


def _grid(*sizes: int) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in index) for index in np.ndindex(*sizes)]


def _collect(lindist: LinDistFlowModel, duals: dict[Any, float] | None, solver: str) -> OpfResult:
    case, block = lindist.case, lindist.block
    T, dt = case.periods, case.period_hours
    dispatches = []
    for f, fd in enumerate(case.feeders):
        n, m, base = fd.num_buses, fd.num_branches, fd.base_mva
        branch_keys = [(f, k, t) for k, t in _grid(m, T)]
        bus_keys = [(f, i, t) for i, t in _grid(n, T)]
        P = _array(block.P, branch_keys, (m, T))
        Q = _array(block.Q, branch_keys, (m, T))
        w = _array(block.w, bus_keys, (n, T))
        if duals is None:
            dlmp = reactive = np.full((n, T), np.nan)
        else:
            scale = 1.0 / (base * dt)
            dlmp = np.array([duals[block.p_balance[key]] for key in bus_keys]).reshape(n, T) * scale
            reactive = np.array(
                [duals[block.q_balance[key]] for key in bus_keys]).reshape(n, T) * scale
        # current implied by the flows at the solved voltages (LinDistFlow itself has no ℓ)
        current = (P**2 + Q**2) / np.maximum(w[fd.branch_from], 1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            loading = np.where(np.isfinite(fd.branch_rating_mva)[:, None],
                               100.0 * np.sqrt(current) / (fd.branch_rating_mva / base)[:, None],
                               np.nan)
        net_p = np.zeros((n, T))
        net_q = np.zeros((n, T))
        # net load without the shunts' draw (the AC check models the shunts itself)
        for flows, net, shunt in zip((P, Q), (net_p, net_q), fd.shunt_draw(w), strict=True):
            np.add.at(net, fd.branch_to, flows * base)
            np.subtract.at(net, fd.branch_from, flows * base)
            net -= shunt
            net[fd.slack_bus] = 0.0
        dispatches.append(FeederDispatch(
            name=fd.name, bus_ids=fd.bus_ids, branch_ids=fd.branch_ids,
            voltage_pu=np.sqrt(np.maximum(w, 0.0)), dlmp_per_mwh=dlmp,
            reactive_price_per_mvarh=reactive, branch_p_mw=P * base, branch_q_mvar=Q * base,
            branch_current_pu2=current, branch_loss_mw=np.zeros((m, T)),
            branch_loading_percent=loading,
            slack_p_mw=_array(block.P0, [(f, t) for t in range(T)], (T,)) * base,
            slack_q_mvar=_array(block.Q0, [(f, t) for t in range(T)], (T,)) * base,
            net_load_p_mw=net_p, net_load_q_mvar=net_q,
            relaxation=RelaxationGap(0.0, 0.0, fd.branch_ids[0], 0),
        ))

    def rows(kind: str, devices: tuple[Any, ...], periods: int = T) -> dict[str, FloatArray]:
        if not devices:
            return {}
        values = _array(block.component(kind), _grid(len(devices), periods),
                        (len(devices), periods))
        return {d.name: values[k].copy() for k, d in enumerate(devices)}

    renewable_p = rows("re_p", case.renewables)
    shift = {}
    if case.demand_response:
        up, down = rows("dr_up", case.demand_response), rows("dr_down", case.demand_response)
        shift = {key: up[key] - down[key] for key in up}
    charging: dict[str, FloatArray] = {}
    charging_dlmp: dict[str, FloatArray] = {}
    if case.charging_points:
        keys = _grid(len(case.charging_points), T)
        values = np.array([pyo.value(lindist.charging[key]) for key in keys],
                          dtype=np.float64).reshape(len(case.charging_points), T)
        for k, point in enumerate(case.charging_points):
            fp, bp = case.locate(point.feeder, point.bus, point.name)
            charging[point.name] = values[k].copy()
            charging_dlmp[point.name] = dispatches[fp].dlmp_per_mwh[bp].copy()
    breakdown = {key: float(pyo.value(term)) for key, term in lindist.cost_terms.items()}
    message = "LinDistFlow: losses neglected"
    if duals is None:
        message += f"; no duals from {solver}, DLMPs are NaN"
    return OpfResult(
        status=OpfStatus.OPTIMAL,
        objective=float(sum(breakdown.values())),
        cost_breakdown=breakdown,
        feeders=tuple(dispatches),
        micro_turbine_p_mw=rows("mt_p", case.micro_turbines),
        micro_turbine_q_mvar=rows("mt_q", case.micro_turbines),
        storage_charge_mw=rows("st_ch", case.storage),
        storage_discharge_mw=rows("st_dis", case.storage),
        storage_soc=rows("st_soc", case.storage, T + 1),
        renewable_p_mw=renewable_p,
        renewable_q_mvar=rows("re_q", case.renewables),
        renewable_curtailed_mw={u.name: u.available_mw() - renewable_p[u.name]
                                for u in case.renewables},
        demand_response_shift_mw=shift,
        charging_mw=charging,
        charging_dlmp_per_mwh=charging_dlmp,
        message=message,
        extra={"solver": solver, "formulation": "lindistflow"},
    )
