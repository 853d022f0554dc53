"""The optimistic bilevel problem of seed 000 by KKT reformulation in Pyomo, solved by SCIP.

Why this module exists: the referee's second question on seed 000 (MODELS.md §4), whether the
ρ* of the private search is the leader's global optimum, answered by a method independent of the
sweep (:mod:`ptn.lab.references.profit_sharing.sweep`): the bilevel problem of
:mod:`ptn.lab.references.profit_sharing` as one single-level model, which a global solver
closes. The reformulation is the classical one of a bilevel problem with an LP follower
(Fortuny-Amat & McCarl, "A representation and economic interpretation of a two-level
programming problem", J. Oper. Res. Soc. 32(9), 1981), with complementarity as SOS1 pairs in
place of their big-M constants.

:func:`solve_bilevel_kkt`: the optimistic bilevel problem by KKT reformulation in Pyomo,
solved by SCIP. The follower LP is the fleet LP written in Pyomo
(:func:`ptn.lab.references.profit_sharing.fleet_lp.fleet_block`, the constraints of
:mod:`ptn.engines.fleet.charging_plan`) plus :func:`ptn.engines.power.lindistflow.build_lindistflow`
(``charging="variable"``), linked by the station loads, objective ``C_TNO + ρ·C_DSO``. Its
standard form is read back from Pyomo (:func:`_standard_form`) and the single-level model holds
primal feasibility, dual feasibility (multipliers of one-sided rows and bounds ≥ 0, of
equalities free), stationarity ``c_TNO + ρ·c_DSO − Aᵀy − ν = 0`` (linear in (ρ, y, ν)) and
complementarity as SOS1 pairs (slack, multiplier): exact, without the big-M constants that would
need bounds on LP duals nobody knows a priori. The Pyomo SCIP interface (``scip_direct``) passes
SOS1 constraints to SCIP (``addConsSOS1``). The strong-duality inequality ``c(ρ)ᵀz ≤ b·y``
(redundant given complementarity: it holds with equality at every KKT point) is added as a cut:
it makes SCIP's relaxations far tighter (measured on the 12-node case sliced to periods 16-22:
29 s without, 4 s with). Upper level: ``min C_DSO + ρ·(C0 − C_DSO)``, ρ ∈ [0, 1], bilinear;
SCIP handles the non-convex products by spatial branching. C0 is the private search's: the
fixed-load dispatch of the TNO-alone plan the cvxpy
:meth:`ptn.engines.fleet.charging_plan.FleetChargingModel.plan` returns (the TNO-alone LP has ties
too; its plan is the one the operators use). ``C_DSO ≤ C0`` is added as a bound: it holds at
every follower optimum for ρ > 0 (monotonicity against x0, which is optimal at ρ = 0), and at
ρ = 0 the optimistic follower's dispatch, the cheapest for a TNO-optimal plan, is at most C0 too.

Scale (measured, this machine, SCIP 10 through pyscipopt 6.3 and Pyomo 6.10): the full
24-period case (3078 follower variables, 2830 rows, 2734 complementarity pairs) gives SCIP no
incumbent in 120 s (25,095 nodes, dual bound 5607.04 $ against the optimum 5648.97 $; none in
240 s either, nor with ρ restricted to [0.12, 0.13]); the strong-duality form finds the optimal
tooth in 600 s (ρ = 0.12491, L = 5648.957 $, 0.013 $ below the optimum through SCIP's
feasibility tolerance) but its bound stays at 5607.08 $. Sliced to periods 12-24
(:func:`ptn.lab.references.profit_sharing.horizon.slice_horizon`) the SOS1 form solves to
optimality in ~9 s, to periods 16-22 in ~4 s. The KKT reference is therefore checked against
the sweep on sliced instances, and the full case's global optimum rests on the sweep plus the
exact breakpoint search, which solves the same bilevel problem exactly for a one-dimensional
leader (docs/profit-sharing.md). SCIP's log is switched off unless ``tee``: the interface
captures it through a pipe, and with long logs (tens of thousands of nodes) the solve hung past
its time limit.

Units: $ over the horizon, MW, shares in [0, 1]. Invalid input raises
:class:`~ptn.engines.errors.InvalidInputError`; solver trouble is a status in the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase, FloatArray
from ptn.engines.power.der import DsoCase
from ptn.lab.references.profit_sharing.fleet_lp import fleet_block
from ptn.lab.references.profit_sharing.follower import FollowerModel
from ptn.lab.references.profit_sharing.game import (
    Preschedule,
    dispatch_fixed,
    leader_cost_usd,
    point_of_station,
    preschedule,
)

BilevelStatus = Literal["optimal", "time_limit", "infeasible", "failed"]
KktMethod = Literal["sos1", "strong_duality"]


@dataclass(frozen=True)
class BilevelSolution:
    """The optimistic bilevel optimum by KKT reformulation (failures are data).

    ``status``: ``optimal`` (SCIP proved the gap limit), ``time_limit`` (an incumbent, not
    proved; ``gap`` says how far), ``infeasible`` or ``failed`` (no solution; ``message``).
    ``share`` ρ*, ``leader_cost_usd`` L(ρ*) = C_DSO + ρ*·(C0 − C_DSO); ``dso_cost_usd`` and
    ``tno_cost_usd`` the follower's at the KKT point; ``objective_bound_usd`` SCIP's dual bound;
    ``gap`` = (L − bound)/max(|L|, 1). Checks of the KKT point by cvxpy:
    ``follower_gap_usd`` = ``C_TNO + ρ*·C_DSO`` at the KKT point minus the follower's optimum
    V(ρ*) of :class:`~ptn.lab.references.profit_sharing.follower.FollowerModel` (≈ 0: the point
    is a follower optimum), and ``dispatch_cost_usd`` the DSO's fixed-load dispatch of the KKT
    loads (≈ C_DSO).
    ``follower_variables``, ``follower_rows`` and ``complementarity_pairs`` size the model.
    """

    status: BilevelStatus
    solver_status: str
    share: float
    leader_cost_usd: float
    dso_cost_usd: float
    tno_cost_usd: float
    original_dso_cost_usd: float
    tno_cost_alone_usd: float
    station_names: tuple[str, ...]
    station_load_mw: FloatArray
    objective_bound_usd: float
    gap: float
    seconds: float
    solver_seconds: float
    method: KktMethod
    follower_variables: int = 0
    follower_rows: int = 0
    complementarity_pairs: int = 0
    follower_gap_usd: float = float("nan")
    dispatch_cost_usd: float = float("nan")
    message: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "time_limit")

    @property
    def dno_saving_usd(self) -> float:
        """The DNO's saving against C0 after paying the share: C0 − L(ρ*)."""
        return self.original_dso_cost_usd - self.leader_cost_usd

    @property
    def tno_gain_usd(self) -> float:
        """The TNO's gain over planning alone: its cost change plus the payment."""
        payment = self.share * (self.original_dso_cost_usd - self.dso_cost_usd)
        return self.tno_cost_alone_usd - self.tno_cost_usd + payment


@dataclass
class _StandardForm:
    """``min over z``: rows ``lo ≤ A z ≤ hi`` (``lo = hi`` for equalities), ``lb ≤ z ≤ ub``,
    and the linear costs named in :func:`_standard_form` (vector and constant)."""

    variables: list[Any]
    A: sp.csr_matrix
    lo: FloatArray
    hi: FloatArray
    lb: FloatArray
    ub: FloatArray
    costs: dict[str, tuple[FloatArray, float]]


def _standard_form(model: Any, costs: dict[str, Any]) -> _StandardForm:
    """Read the active constraints of a linear Pyomo model and linear cost expressions."""
    import pyomo.environ as pyo
    from pyomo.repn import generate_standard_repn

    position: dict[int, int] = {}
    variables: list[Any] = []

    def column(var: Any) -> int:
        key = id(var)
        if key not in position:
            position[key] = len(variables)
            variables.append(var)
        return position[key]

    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    for row, con in enumerate(model.component_data_objects(pyo.Constraint, active=True,
                                                           descend_into=True)):
        repn = generate_standard_repn(con.body, compute_values=True)
        if not repn.is_linear():
            raise InvalidInputError(f"constraint {con.name} is not linear: the KKT reference "
                                    "needs an LP follower")
        for var, coefficient in zip(repn.linear_vars, repn.linear_coefs, strict=True):
            rows.append(row)
            cols.append(column(var))
            values.append(float(coefficient))
        constant = float(pyo.value(repn.constant))
        lower, upper = con.lb, con.ub
        lo.append(-np.inf if lower is None else float(lower) - constant)
        hi.append(np.inf if upper is None else float(upper) - constant)
    vectors: dict[str, tuple[dict[int, float], float]] = {}
    for name, expression in costs.items():
        repn = generate_standard_repn(expression, compute_values=True)
        if not repn.is_linear():
            raise InvalidInputError(f"the {name} cost is not linear: the KKT reference needs "
                                    "an LP follower (no quadratic costs)")
        entries: dict[int, float] = {}
        for var, coefficient in zip(repn.linear_vars, repn.linear_coefs, strict=True):
            j = column(var)
            entries[j] = entries.get(j, 0.0) + float(coefficient)
        vectors[name] = (entries, float(pyo.value(repn.constant)))
    n = len(variables)
    dense: dict[str, tuple[FloatArray, float]] = {}
    for name, (entries, constant) in vectors.items():
        vector = np.zeros(n)
        for j, coefficient in entries.items():
            vector[j] = coefficient
        dense[name] = (vector, constant)
    return _StandardForm(
        variables=variables,
        A=sp.csr_matrix((values, (rows, cols)), shape=(len(lo), n)),
        lo=np.array(lo, dtype=np.float64), hi=np.array(hi, dtype=np.float64),
        lb=np.array([-np.inf if v.lb is None else float(v.lb) for v in variables]),
        ub=np.array([np.inf if v.ub is None else float(v.ub) for v in variables]),
        costs=dense)


@dataclass
class _KktModel:
    """The single-level Pyomo model and what is needed to read it back."""

    model: Any
    form: _StandardForm
    pairs: int


def _kkt_model(form: _StandardForm, original: float, method: KktMethod) -> _KktModel:
    """Primal and dual feasibility, stationarity, complementarity (SOS1) or strong duality,
    and the leader's objective, over the follower LP ``min (c_TNO + ρ·c_DSO)ᵀz``."""
    import pyomo.environ as pyo

    A, lo, hi, lb, ub = form.A, form.lo, form.hi, form.lb, form.ub
    c_tno, tno_constant = form.costs["tno"]
    c_dso, dso_constant = form.costs["dso"]
    m, n = A.shape
    equal = np.flatnonzero(lo == hi)
    lower_rows = np.flatnonzero((lo != hi) & np.isfinite(lo))
    upper_rows = np.flatnonzero((lo != hi) & np.isfinite(hi))
    fixed = np.flatnonzero(lb == ub)
    lower_vars = np.flatnonzero((lb != ub) & np.isfinite(lb))
    upper_vars = np.flatnonzero((lb != ub) & np.isfinite(ub))

    k = pyo.ConcreteModel(name="profit_sharing_kkt")
    k.J = pyo.RangeSet(0, n - 1)
    k.z = pyo.Var(k.J, bounds=lambda _, j: (None if not np.isfinite(lb[j]) else float(lb[j]),
                                            None if not np.isfinite(ub[j]) else float(ub[j])))
    k.share = pyo.Var(bounds=(0.0, 1.0))
    k.y_equal = pyo.Var(range(equal.size))
    k.y_lower = pyo.Var(range(lower_rows.size), domain=pyo.NonNegativeReals)
    k.y_upper = pyo.Var(range(upper_rows.size), domain=pyo.NonNegativeReals)
    k.nu_fixed = pyo.Var(range(fixed.size))
    k.nu_lower = pyo.Var(range(lower_vars.size), domain=pyo.NonNegativeReals)
    k.nu_upper = pyo.Var(range(upper_vars.size), domain=pyo.NonNegativeReals)

    def row_expression(i: int) -> Any:
        start, stop = A.indptr[i], A.indptr[i + 1]
        return pyo.quicksum(float(a) * k.z[int(j)]
                            for j, a in zip(A.indices[start:stop], A.data[start:stop],
                                            strict=True))

    # primal feasibility
    k.primal = pyo.ConstraintList()
    for i in range(m):
        expression = row_expression(i)
        if lo[i] == hi[i]:
            k.primal.add(expression == float(lo[i]))
            continue
        if np.isfinite(lo[i]):
            k.primal.add(expression >= float(lo[i]))
        if np.isfinite(hi[i]):
            k.primal.add(expression <= float(hi[i]))
    # stationarity: c_TNO + ρ·c_DSO − Aᵀy − ν = 0, y = y_equal + y_lower − y_upper per row
    row_dual: list[Any] = [0.0] * m
    for q, row in enumerate(equal.tolist()):
        row_dual[row] = k.y_equal[q]
    for q, row in enumerate(lower_rows.tolist()):
        row_dual[row] = row_dual[row] + k.y_lower[q]
    for q, row in enumerate(upper_rows.tolist()):
        row_dual[row] = row_dual[row] - k.y_upper[q]
    bound_dual: list[Any] = [0.0] * n
    for q, col in enumerate(fixed.tolist()):
        bound_dual[col] = k.nu_fixed[q]
    for q, col in enumerate(lower_vars.tolist()):
        bound_dual[col] = bound_dual[col] + k.nu_lower[q]
    for q, col in enumerate(upper_vars.tolist()):
        bound_dual[col] = bound_dual[col] - k.nu_upper[q]
    columns = A.T.tocsr()
    k.stationarity = pyo.ConstraintList()
    for j in range(n):
        start, stop = columns.indptr[j], columns.indptr[j + 1]
        k.stationarity.add(
            float(c_tno[j]) + float(c_dso[j]) * k.share
            - pyo.quicksum(float(a) * row_dual[int(i)]
                           for i, a in zip(columns.indices[start:stop],
                                           columns.data[start:stop], strict=True))
            - bound_dual[j] == 0)
    k.tno_cost = pyo.Var()
    k.dso_cost = pyo.Var(bounds=(None, original * (1.0 + 1e-9) + 1e-6))
    k.tno_definition = pyo.Constraint(expr=k.tno_cost == tno_constant + pyo.quicksum(
        float(c_tno[j]) * k.z[int(j)] for j in np.flatnonzero(c_tno)))
    k.dso_definition = pyo.Constraint(expr=k.dso_cost == dso_constant + pyo.quicksum(
        float(c_dso[j]) * k.z[int(j)] for j in np.flatnonzero(c_dso)))
    # strong duality, c(ρ)ᵀz ≤ dual objective (weak duality gives ≥); the constants cancel
    dual_objective = (
        pyo.quicksum(float(lo[i]) * k.y_equal[q] for q, i in enumerate(equal))
        + pyo.quicksum(float(lo[i]) * k.y_lower[q] for q, i in enumerate(lower_rows))
        - pyo.quicksum(float(hi[i]) * k.y_upper[q] for q, i in enumerate(upper_rows))
        + pyo.quicksum(float(lb[j]) * k.nu_fixed[q] for q, j in enumerate(fixed))
        + pyo.quicksum(float(lb[j]) * k.nu_lower[q] for q, j in enumerate(lower_vars))
        - pyo.quicksum(float(ub[j]) * k.nu_upper[q] for q, j in enumerate(upper_vars)))
    k.strong_duality = pyo.Constraint(
        expr=k.tno_cost - tno_constant + k.share * (k.dso_cost - dso_constant)
        <= dual_objective)
    pairs: list[tuple[Any, Any]] = []
    if method == "sos1":
        k.slack = pyo.VarList(domain=pyo.NonNegativeReals)
        k.slack_definition = pyo.ConstraintList()

        def slack_of(expression: Any) -> Any:
            variable = k.slack.add()
            k.slack_definition.add(variable == expression)
            return variable

        for q, row in enumerate(lower_rows.tolist()):
            pairs.append((slack_of(row_expression(row) - float(lo[row])), k.y_lower[q]))
        for q, row in enumerate(upper_rows.tolist()):
            pairs.append((slack_of(float(hi[row]) - row_expression(row)), k.y_upper[q]))
        for q, col in enumerate(lower_vars.tolist()):
            distance = k.z[col] if lb[col] == 0 else slack_of(k.z[col] - float(lb[col]))
            pairs.append((distance, k.nu_lower[q]))
        for q, col in enumerate(upper_vars.tolist()):
            pairs.append((slack_of(float(ub[col]) - k.z[col]), k.nu_upper[q]))
        k.PAIRS = pyo.RangeSet(0, len(pairs) - 1)
        k.complementarity = pyo.SOSConstraint(k.PAIRS, sos=1,
                                              rule=lambda _, p: list(pairs[p]))
    k.objective = pyo.Objective(
        expr=k.dso_cost + k.share * (original - k.dso_cost), sense=pyo.minimize)
    return _KktModel(model=k, form=form, pairs=len(pairs))


def _failure(status: BilevelStatus, solver_status: str, message: str, method: KktMethod,
             alone: Preschedule, started: float, **extra: Any) -> BilevelSolution:
    nan = float("nan")
    return BilevelSolution(
        status=status, solver_status=solver_status, share=nan, leader_cost_usd=nan,
        dso_cost_usd=nan, tno_cost_usd=nan, original_dso_cost_usd=alone.dso_cost_usd,
        tno_cost_alone_usd=alone.tno_cost_usd, station_names=alone.station_names,
        station_load_mw=np.full(alone.station_load_mw.shape, np.nan), objective_bound_usd=nan,
        gap=nan, seconds=time.perf_counter() - started, solver_seconds=0.0, method=method,
        message=message, **extra)


def solve_bilevel_kkt(
    fleet_case: FleetCase,
    dso_case: DsoCase,
    *,
    station_order: Sequence[int] | None = None,
    solver: str = "scip",
    method: KktMethod = "sos1",
    time_limit_s: float = 120.0,
    rel_gap: float = 1e-9,
    original_dso_cost_usd: float | None = None,
    solver_options: dict[str, Any] | None = None,
    verify: bool = True,
    tee: bool = False,
) -> BilevelSolution:
    """The optimistic bilevel optimum (module doc) by KKT reformulation, solved by SCIP.

    ``method="sos1"``: complementarity as SOS1 pairs plus the strong-duality cut (exact KKT);
    ``"strong_duality"``: stationarity and strong duality only (equivalent for an LP follower,
    no SOS; SCIP then branches on the bilinear term alone and may exploit its feasibility
    tolerance of 1e-6 in the strong-duality row). ``solver``: ``scip`` (= ``scip_direct``) or
    ``scip_persistent``, Pyomo's pyomo.contrib.solver names. ``original_dso_cost_usd``: C0
    (default: :func:`~ptn.lab.references.profit_sharing.game.preschedule`'s, the private
    search's). ``verify`` re-solves the follower
    at ρ* with cvxpy (``follower_gap_usd``, ``dispatch_cost_usd``). Raises
    :class:`InvalidInputError` for a follower that is not an LP or mismatched cases.
    """
    import pyomo.environ as pyo
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

    from ptn.engines.power.lindistflow import build_lindistflow

    started = time.perf_counter()
    point = point_of_station(fleet_case, dso_case, station_order)
    if fleet_case.fleet_model != "pooled-lp":
        raise InvalidInputError(f"the KKT reference needs an LP follower: fleet_model "
                                f"{fleet_case.fleet_model!r} has integer visits (use the sweep)")
    if method not in ("sos1", "strong_duality"):
        raise InvalidInputError(f"method must be 'sos1' or 'strong_duality', got {method!r}")
    name = {"scip": "scip_direct"}.get(solver, solver)
    if name not in ("scip_direct", "scip_persistent"):
        raise InvalidInputError(f"solver must be 'scip', 'scip_direct' or 'scip_persistent', "
                                f"got {solver!r}")
    alone = preschedule(fleet_case, dso_case, station_order=point.tolist())
    if original_dso_cost_usd is not None:
        alone = replace(alone, dso_cost_usd=float(original_dso_cost_usd))
    if alone.status != "optimal" or not math.isfinite(alone.dso_cost_usd):
        return _failure("failed", "", f"prescheduling: {alone.message}", method, alone, started)
    original = alone.dso_cost_usd

    follower = pyo.ConcreteModel(name="profit_sharing_follower")
    fleet = fleet_block(follower, fleet_case)
    lindist = build_lindistflow(dso_case, model=follower, name="dso", charging="variable")
    if not lindist.linear:
        raise InvalidInputError("the DSO case has quadratic costs or exact circle constraints: "
                                "the KKT reference needs an LP follower")
    follower.link = pyo.Constraint(fleet.block.S, fleet.block.T, rule=lambda _, s, t: (
        fleet.station_load[s, t] == lindist.charging[int(point[s]), t]))
    form = _standard_form(follower, {"tno": fleet.cost, "dso": lindist.cost})
    kkt = _kkt_model(form, original, method)
    sizes = {"follower_variables": len(form.variables), "follower_rows": form.A.shape[0],
             "complementarity_pairs": kkt.pairs}
    options: dict[str, Any] = {} if tee else {"display/verblevel": 0}
    options.update(solver_options or {})
    solve_started = time.perf_counter()
    try:
        results = SolverFactory(name).solve(
            kkt.model, load_solutions=False, raise_exception_on_nonoptimal_result=False,
            time_limit=time_limit_s, rel_gap=rel_gap, tee=tee, solver_options=options)
    except Exception as error:  # solver trouble is data
        return _failure("failed", type(error).__name__, f"{name}: {error}", method, alone,
                        started, **sizes)
    solver_seconds = time.perf_counter() - solve_started
    condition = results.termination_condition
    has_solution = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if not has_solution:
        status: BilevelStatus = "infeasible" if condition in (
            TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded) \
            else "failed"
        return replace(_failure(status, condition.name, f"{name}: {condition.name}, no "
                                f"solution", method, alone, started, **sizes),
                       solver_seconds=solver_seconds, objective_bound_usd=_bound(results),
                       extra={"nodes": _nodes(results)})
    results.solution_loader.load_vars()
    k = kkt.model
    for position, variable in enumerate(form.variables):
        variable.set_value(k.z[position].value, skip_validation=True)
    share = float(k.share.value)
    tno = float(pyo.value(fleet.cost))
    dso = float(pyo.value(lindist.cost))
    loads = np.array([[float(pyo.value(fleet.station_load[s, t]))
                       for t in range(fleet_case.periods)]
                      for s in range(fleet_case.num_stations)])
    leader = leader_cost_usd(share, dso, original)
    bound_usd = _bound(results)
    gap = (leader - bound_usd) / max(abs(leader), 1.0) if math.isfinite(bound_usd) \
        else float("nan")
    proved = condition == TerminationCondition.convergenceCriteriaSatisfied
    solution = BilevelSolution(
        status="optimal" if proved else "time_limit", solver_status=condition.name,
        share=share, leader_cost_usd=leader, dso_cost_usd=dso, tno_cost_usd=tno,
        original_dso_cost_usd=original, tno_cost_alone_usd=alone.tno_cost_usd,
        station_names=fleet_case.station_names, station_load_mw=loads,
        objective_bound_usd=bound_usd, gap=gap, seconds=0.0, solver_seconds=solver_seconds,
        method=method, message="" if proved else f"{name}: {condition.name}",
        extra={"nodes": _nodes(results)}, **sizes)
    if verify:
        solution = _verify(solution, fleet_case, dso_case, point)
    return replace(solution, seconds=time.perf_counter() - started)


def _bound(results: Any) -> float:
    """SCIP's dual bound from Pyomo's results (NaN when absent)."""
    bound = getattr(results, "objective_bound", None)
    return float(bound) if isinstance(bound, int | float) else float("nan")


def _nodes(results: Any) -> float:
    """SCIP's branch-and-bound node count from Pyomo's results (NaN when absent)."""
    try:
        return float(results.extra_info["NNodes"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return float("nan")


def _verify(solution: BilevelSolution, fleet_case: FleetCase, dso_case: DsoCase,
            point: NDArray[np.int64]) -> BilevelSolution:
    """The cvxpy follower's optimum at ρ* and the DSO's dispatch of the KKT loads."""
    model = FollowerModel(fleet_case, dso_case, station_order=point.tolist())
    reference = model.solve(solution.share)
    follower_gap = float("nan")
    if reference.has_solution:
        follower_gap = solution.tno_cost_usd + solution.share * solution.dso_cost_usd \
            - reference.objective_usd
    dispatch = dispatch_fixed(dso_case, np.maximum(solution.station_load_mw, 0.0), point,
                               "lindistflow")
    cost = float(dispatch.objective) if dispatch.status.has_solution else float("nan")
    return replace(solution, follower_gap_usd=follower_gap, dispatch_cost_usd=cost)
