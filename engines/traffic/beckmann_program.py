"""The user equilibrium of any assignment problem as one convex program (cvxpy), for reference.

Why this module exists: the path-based solver (:mod:`ptn.engines.traffic.path_based`) is fast and
exact, but a joint reference model — traffic and power in one convex program, the
full-information optimum of MODELS.md §5 that negotiated outcomes are compared against — needs
the traffic equilibrium as *constraints and an objective* a general conic solver can take. This
is Beckmann, McGuire & Winsten's program (Studies in the Economics of Transportation, 1956) in
its link–node multi-commodity form (Sheffi, Urban Transportation Networks, 1985, §3.1):

    minimise   Σ_a [ vot·∫_0^{x_a} t_a(u) du + fixed_a·x_a ]
    subject to N_k f_k = d_k,  f_k ≥ 0  for every commodity k,   x = Σ_k M_k f_k,

where a commodity is a (demand class, origin node) pair, ``f_k`` its flows on the arcs of its
class graph, ``N_k`` the node–arc incidence (+1 at an arc's tail, −1 at its head), ``d_k`` its
supply (the origin's total demand) and sinks (−demand at each destination), and ``M_k`` maps
arcs to the physical links they load. Arcs that a commodity cannot use (not reachable from its
origin, not reaching any of its destinations, into its origin, or out of a no-through node
other than its origin) are pruned before the model is built; on the time-expanded multi-period
graph (:mod:`ptn.engines.traffic.multiperiod`) each origin reaches only a few period copies, so
this removes most variables.

Beckmann terms (cost units × veh, closed forms of MODELS.md §1):

* BPR ``t0·(x + α·x^(β+1)/((β+1)·c^β))``, written ``t0·x + t0·α·c/(β+1)·(x/c)^(β+1)``
  (cvxpy ``power``, scaled by capacity); α = 0 or β = 0 is linear (TNTP's constant links);
* constant links ``t0·x``;
* Davidson ``t0·(x + J·(−x − c·ln(1 − x/c)))`` (exponential cone) plus the Davidson link's
  added linear time term ``β·x`` (:mod:`ptn.engines.traffic.link_costs`), whose integral is
  ``β·x²/2``. This is the *pure* Davidson function: the path-based solver continues it linearly
  above ``DAVIDSON_LINEAR_FROM·c`` (0.95 c), so the two programs agree only while every Davidson
  link stays below that knee (:meth:`BeckmannProgram.davidson_above_knee` tells), and a
  Davidson link that demand forces to capacity makes this program infeasible;
* plus the money terms ``fixed_cost·x``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.link_costs import DAVIDSON_LINEAR_FROM, CostKind, LinkCosts
from ptn.engines.traffic.network import FloatArray, IntArray
from ptn.engines.traffic.problem import AssignmentProblem, DemandClass

#: Tighter than Clarabel's defaults (1e-8): a reference must match link flows to 1e-3 veh/h.
#: Measured on Nguyen–Dupuis × 24 periods (5,950 arc flows): at 1e-8 station and road flows are
#: off by up to 4e-3 veh/h, at 1e-10 by 3e-4 (0.3 s against 0.25 s).
DEFAULT_SOLVER_OPTIONS: dict[str, dict[str, Any]] = {
    "CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10},
}

_STATUS = {
    cp.OPTIMAL: "optimal",
    cp.OPTIMAL_INACCURATE: "optimal_inaccurate",
    cp.INFEASIBLE: "infeasible",
    cp.INFEASIBLE_INACCURATE: "infeasible",
    cp.UNBOUNDED: "unbounded",
    cp.UNBOUNDED_INACCURATE: "unbounded",
}


def solver_status(cvxpy_status: str | None) -> str:
    """A cvxpy status as ``optimal``, ``optimal_inaccurate`` (the solver stopped at reduced
    accuracy), ``infeasible``, ``unbounded`` or ``solver_error``."""
    return _STATUS.get(cvxpy_status or "", "solver_error")


@dataclass(frozen=True)
class BeckmannProgram:
    """The Beckmann program of an :class:`AssignmentProblem`, as cvxpy parts to embed.

    ``arc_flow`` (veh/h, non-negative) holds one entry per kept (commodity, arc) pair;
    ``arc_commodity`` and ``arc_class``/``arc_index`` say which (``arc_index`` is the arc's
    position in its class's arc arrays); commodity ``k`` is the demand of class
    ``commodity_class[k]`` leaving node ``commodity_origin[k]`` of that class's graph.
    ``link_flow`` (veh/h, one per link of the problem) is a variable tied to the arc flows by a
    constraint, ``objective`` the Beckmann potential in the problem's cost units (per hour of
    flow), ``constraints`` the flow conservation of every commodity and the arc-to-link map (the
    arcs' non-negativity is in their variable).
    """

    problem: AssignmentProblem
    arc_flow: cp.Variable
    link_flow: cp.Variable
    objective: cp.Expression
    constraints: tuple[cp.Constraint, ...]
    arc_commodity: IntArray
    arc_class: IntArray
    arc_index: IntArray
    commodity_class: IntArray
    commodity_origin: IntArray

    @property
    def num_commodities(self) -> int:
        return int(self.commodity_class.size)

    def link_flow_value(self) -> FloatArray:
        """Link flows (veh/h) after a solve; rounding negatives from the solver are zeroed."""
        value = self.link_flow.value
        if value is None:
            return np.full(self.problem.num_links, np.nan)
        return np.maximum(np.asarray(value, dtype=np.float64).reshape(-1), 0.0)

    def davidson_above_knee(self, link_flow: FloatArray) -> IntArray:
        """Davidson links whose flow exceeds ``DAVIDSON_LINEAR_FROM`` × capacity.

        On these the pure Davidson function of this program and the linearly continued one of
        the path-based solver differ, so the two equilibria may too.
        """
        links = self.problem.links
        above = (links.kind == CostKind.DAVIDSON) & (
            np.asarray(link_flow) > DAVIDSON_LINEAR_FROM * links.capacity
        )
        return np.flatnonzero(above).astype(np.int64)


class BeckmannSolution(NamedTuple):
    """Status (:func:`solver_status`), link flows (veh/h) and the Beckmann objective (cost
    units); both NaN unless the status is ``optimal`` or ``optimal_inaccurate``."""

    status: str
    link_flow: FloatArray
    objective: float


def beckmann_objective(links: LinkCosts, link_flow: cp.Expression) -> cp.Expression:
    """Σ_a vot·∫_0^{x_a} t_a + fixed·x as a convex cvxpy expression of ``link_flow`` (veh/h).

    Raises :class:`InvalidInputError` for a term that is not convex (negative BPR power,
    negative α or Davidson ``beta``).
    """
    kind = links.kind
    t0, cap, alpha, beta = links.free_flow_time, links.capacity, links.alpha, links.beta
    vot = links.value_of_time
    bpr = kind == CostKind.BPR
    davidson = kind == CostKind.DAVIDSON
    bad = np.flatnonzero((bpr & ((alpha < 0) | (beta < 0))) | (davidson & ((alpha < 0)
                                                                           | (beta < 0))))
    if bad.size:
        raise InvalidInputError(
            f"link {int(bad[0])}: negative alpha or beta makes its Beckmann term non-convex"
        )
    # linear part of every link, money terms included
    linear = np.where(bpr & (alpha != 0) & (beta == 0), t0 * (1.0 + alpha), t0)
    linear = np.where(davidson, t0 * (1.0 - alpha), linear)
    terms: list[cp.Expression] = [(vot * linear + links.fixed_cost) @ link_flow]
    curved = bpr & (alpha != 0) & (beta != 0)
    for exponent in np.unique(beta[curved]):
        idx = np.flatnonzero(curved & (beta == exponent))
        weight = vot * t0[idx] * alpha[idx] * cap[idx] / (exponent + 1.0)
        ratio = cp.multiply(1.0 / cap[idx], link_flow[idx])
        terms.append(weight @ cp.power(ratio, float(exponent) + 1.0))
    queue = np.flatnonzero(davidson & (alpha * t0 != 0))
    if queue.size:
        weight = vot * t0[queue] * alpha[queue] * cap[queue]
        ratio = cp.multiply(1.0 / cap[queue], link_flow[queue])
        terms.append(-(weight @ cp.log(1.0 - ratio)))
    slope = np.flatnonzero(davidson & (beta != 0))
    if slope.size:
        terms.append((0.5 * vot * beta[slope]) @ cp.square(link_flow[slope]))
    return cp.sum(cp.hstack(terms))


def _usable_arcs(demand_class: DemandClass, origin: int, destinations: IntArray) -> np.ndarray:
    """Mask of the class's arcs on some path from ``origin`` to one of ``destinations``."""
    n = demand_class.num_nodes
    tail, head = demand_class.arc_tail, demand_class.arc_head
    allowed = (head != origin) & ((tail == origin) | ~demand_class.no_through[tail])
    ones = np.ones(int(allowed.sum()))
    forward = sp.csr_matrix((ones, (tail[allowed], head[allowed])), shape=(n + 1, n + 1))
    # the reversed graph, with a super node n pointing at every destination
    backward = sp.csr_matrix(
        (np.ones(int(allowed.sum()) + destinations.size),
         (np.concatenate([head[allowed], np.full(destinations.size, n)]),
          np.concatenate([tail[allowed], destinations]))),
        shape=(n + 1, n + 1),
    )
    reached = np.zeros(n + 1, dtype=bool)
    reached[csgraph.breadth_first_order(forward, origin, directed=True,
                                        return_predecessors=False)] = True
    reaching = np.zeros(n + 1, dtype=bool)
    reaching[csgraph.breadth_first_order(backward, n, directed=True,
                                         return_predecessors=False)] = True
    missing = destinations[~reached[destinations]]
    if missing.size:
        raise InvalidInputError(
            f"class {demand_class.name}: OD pair {demand_class.node_label(origin)}->"
            f"{demand_class.node_label(int(missing[0]))} has demand but no path"
        )
    return np.asarray(allowed & reached[tail] & reaching[head])


def build_beckmann_program(problem: AssignmentProblem) -> BeckmannProgram:
    """The link–node multi-commodity Beckmann program of ``problem`` (see the module docstring).

    Commodities aggregate the positive-demand OD pairs of a class by origin node. Raises
    :class:`InvalidInputError` naming the OD pair when a class has demand but no path.
    """
    arc_commodity, arc_class, arc_index = [], [], []
    commodity_class, commodity_origin = [], []
    row_of_tail, row_of_head = [], []
    supply_rows, supply_values = [], []
    rows = 0
    commodity = 0
    for c, demand_class in enumerate(problem.classes):
        positive = demand_class.od_demand > 0
        od_origin = demand_class.od_origin[positive]
        od_destination = demand_class.od_destination[positive]
        od_demand = demand_class.od_demand[positive]
        for origin in np.unique(od_origin):
            mine = od_origin == origin
            # several OD pairs may share a destination (e.g. per-period copies): add them up
            sinks, sink_of = np.unique(od_destination[mine], return_inverse=True)
            sink_demand = np.bincount(sink_of, weights=od_demand[mine])
            kept = np.flatnonzero(_usable_arcs(demand_class, int(origin), sinks))
            tail = demand_class.arc_tail[kept]
            head = demand_class.arc_head[kept]
            nodes, local = np.unique(np.concatenate([tail, head, [origin], sinks]),
                                     return_inverse=True)
            row_of_tail.append(rows + local[: kept.size])
            row_of_head.append(rows + local[kept.size: 2 * kept.size])
            supply_rows.append(rows + local[2 * kept.size:])
            supply_values.append(np.concatenate([[sink_demand.sum()], -sink_demand]))
            arc_commodity.append(np.full(kept.size, commodity, dtype=np.int64))
            arc_class.append(np.full(kept.size, c, dtype=np.int64))
            arc_index.append(kept.astype(np.int64))
            commodity_class.append(c)
            commodity_origin.append(int(origin))
            rows += nodes.size
            commodity += 1
    if commodity == 0:
        raise InvalidInputError("the assignment problem has no positive demand")
    commodity_of = np.concatenate(arc_commodity)
    class_of = np.concatenate(arc_class)
    index_of = np.concatenate(arc_index)
    arcs = index_of.size
    columns = np.arange(arcs)
    incidence = sp.csr_matrix(
        (np.concatenate([np.ones(arcs), -np.ones(arcs)]),
         (np.concatenate([*row_of_tail, *row_of_head]), np.concatenate([columns, columns]))),
        shape=(rows, arcs),
    )
    supply = np.zeros(rows)
    np.add.at(supply, np.concatenate(supply_rows), np.concatenate(supply_values))
    arc_links = np.concatenate([problem.classes[c].arc_link for c in range(len(problem.classes))])
    class_first_arc = np.cumsum([0] + [cl.arc_link.size for cl in problem.classes])
    link_of = arc_links[class_first_arc[class_of] + index_of]
    loading = sp.csr_matrix((np.ones(arcs), (link_of, columns)), shape=(problem.num_links, arcs))
    arc_flow = cp.Variable(arcs, nonneg=True, name="arc_flow")
    # link flows as variables of their own: the cones then see one column per link instead of
    # every arc loading it, which keeps the KKT factor sparse (10x faster on 24-period ND)
    link_flow = cp.Variable(problem.num_links, name="link_flow")
    return BeckmannProgram(
        problem=problem,
        arc_flow=arc_flow,
        link_flow=link_flow,
        objective=beckmann_objective(problem.links, link_flow),
        constraints=(incidence @ arc_flow == supply, link_flow == loading @ arc_flow),
        arc_commodity=commodity_of,
        arc_class=class_of,
        arc_index=index_of,
        commodity_class=np.asarray(commodity_class, dtype=np.int64),
        commodity_origin=np.asarray(commodity_origin, dtype=np.int64),
    )


def solve_beckmann_program(
    problem: AssignmentProblem,
    solver: str = "CLARABEL",
    solver_options: dict[str, Any] | None = None,
) -> BeckmannSolution:
    """Build and solve the Beckmann program: ``(status, link_flow, objective)``.

    Never raises on solver trouble (the status says). Compare with the path-based solver only
    when ``build_beckmann_program(problem).davidson_above_knee(link_flow)`` is empty.
    """
    program = build_beckmann_program(problem)
    options = dict(DEFAULT_SOLVER_OPTIONS.get(solver, {}))
    options.update(solver_options or {})
    model = cp.Problem(cp.Minimize(program.objective), list(program.constraints))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.solve(solver=solver, **options)
        status = solver_status(model.status)
    except cp.error.SolverError:
        status = "solver_error"
    if status not in ("optimal", "optimal_inaccurate"):
        return BeckmannSolution(status, np.full(problem.num_links, np.nan), float("nan"))
    return BeckmannSolution(status, program.link_flow_value(), float(program.objective.value))
