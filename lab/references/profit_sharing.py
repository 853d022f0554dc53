"""Full-information references for seed 000's profit sharing: follower, ties, sweep, bilevel KKT.

Why this module exists: in seed 000 ("A Profit Sharing Mechanism for Coordinated Power Traffic
System"; MODELS.md §4) the DNO (leader) offers the TNO (follower) a share ρ of the dispatch cost the
TNO's rescheduling saves it. ptn negotiates this privately
(:mod:`ptn.coordinator.mechanisms.profit_sharing`: ADMM per share, a sweep and a branch and bound
over ρ). The paper's referee asks two things this module answers with both models in one hand:

1. *Ties*: the follower's problem is an LP here (linear fleet model, LinDistFlow with linear
   costs), so it may have many optima; which one the follower picks changes the leader's cost.
2. *Global optimality*: is the ρ* found the global minimum of the leader's cost? (an exhaustive
   sweep of ρ against a bilevel solution).

The game (notation of :mod:`ptn.coordinator.mechanisms.profit_sharing`): prescheduling, the TNO
plans alone (x0, :meth:`ptn.engines.fleet.charging_plan.FleetChargingModel.plan`) and the DNO
dispatches it: ``C0 = C_DSO(x0)``. At a share ρ the follower solves ``min_x C_TNO(x) + ρ·C_DSO(x)``
with ``C_DSO(x)`` the OPF's optimal cost at x's station loads (a value function); jointly, ``min
over (x, y) of C_TNO(x) + ρ·cost(y)`` with y a dispatch feasible for x's loads. The leader minimizes
``L(ρ) = C_DSO(x*(ρ)) + ρ·(C0 − C_DSO(x*(ρ)))`` over ρ ∈ [0, 1].

What is here:

* :class:`FollowerModel` / :func:`solve_follower`: the follower's joint problem in ONE cvxpy
  model, ``FleetChargingModel(...).embedding()`` plus ``DistFlowOpf(..., charging="priced")
  .embedding()`` coupled by ``P_fleet[s, t] = charging_mw[point(s), t]``, built once and
  re-solved with ρ as a Parameter. DPP: ``ρ·(expression with Parameters)`` is not DPP (the
  tariff and the upstream prices are Parameters), so the two costs are epigraph variables
  ``τ = C_TNO`` and ``δ = C_DSO`` and the objective is ``τ + ρ·δ`` (Parameter times Variable).
  ρ = 0 is the prescheduling itself (the TNO alone, :func:`preschedule`): its ties are the
  TNO's own, and the game defines the follower's answer there as the plan the TNO made.
* Ties (:meth:`FollowerModel.ties`): the follower's optimal set ``F(ρ)`` is convex. Its
  **optimistic** selection (best for the leader) minimizes C_DSO over F(ρ), its **pessimistic**
  one maximizes it (equivalently max and min C_TNO, since ``C_TNO + ρ·C_DSO = V`` on F(ρ)).
  ``method="constraint"`` re-solves with the follower's objective constrained,
  ``τ + ρ·δ ≤ V(ρ) + ε``, V the follower's optimum: optimistic ``min δ``, pessimistic
  ``min τ + (ρ/2)·δ``. On F(ρ), ``τ + (ρ/2)·δ = V − (ρ/2)·δ``, so the pessimistic objective is
  ``max δ`` there as ``min δ`` is the optimistic one; neither rewards a dispatch y worse than
  optimal for x's loads (δ has a positive weight and a worse y only tightens the constraint),
  so at both selections y is the DSO's optimal dispatch and δ is ``C_DSO(x)`` (on F(ρ) itself
  this holds for every point when ρ > 0: a better y would lower the follower's objective below
  V). ``ε = tie_rel_tol·max(|V|, 1 $)``, default 1e-9 relative, Clarabel aiming at 1e-12 gaps.
  **Caveat** (measured; what any ε does): the ε-optimal set reaches along the edge of the
  (C_TNO, C_DSO) frontier towards the next vertex by ``ε/|ρ_b − ρ|`` $ of C_DSO, ρ_b the
  nearest breakpoint, so a width of ~``ε/distance`` shows next to breakpoints (1.6e-3 $ at
  7.8e-4 from one). ``method="perturbation"`` (the sweep's default) re-solves the follower at
  ``ρ ± κ`` (κ = 1e-7): for an LP, ``min C_TNO + (ρ ± κ)·C_DSO`` with κ small enough is the
  lexicographic problem (first the follower's objective, then ±C_DSO), i.e. the two selections
  exactly, without ε-reach; each is kept only if optimal at ρ within ε, else the constrained
  re-solve is used. Both methods agree to 1e-4 $ on the scenario (tests); the perturbation
  costs two ~16 ms follower solves, the constrained re-solves 30-100 ms each (their feasible
  sets are ε-thin, Clarabel needs 30-100 iterations).
* :func:`sweep`: ρ over a grid, at each point V, the two selections, the leader's optimistic and
  pessimistic costs, their argmins and the tie width; then the **exact** breakpoints of the
  follower's response between the grid points. With an LP follower ``V(ρ)`` is concave and piecewise
  linear; in the interior of a piece the optimal face's (C_TNO, C_DSO) are unique (a C_DSO tie at ρ
  would make V kinked there: ``V(ρ') ≤ V(ρ) + (ρ' − ρ)·C_DSO(x)`` for every x of F(ρ)), so any
  optimal point there has the piece's (C_TNO, C_DSO). Between two grid points whose vertices differ,
  the two lines ``C_TNO + ρ·C_DSO`` meet at ρ_x; if ``V(ρ_x)`` is on them, ρ_x is the breakpoint,
  else a piece in between was found and both halves are searched again (Eisner & Severance,
  "Mathematical techniques for efficient record segmentation in large shared databases", J. ACM
  23(4), 1976: the parametric bisection of a piecewise linear concave function). The leader's cost
  is linear and increasing on each piece (``C0 − C_DSO ≥ 0``: C_DSO is non-increasing in ρ for any
  selection, :func:`ptn.coordinator.mechanisms.profit_sharing.refine_shares`), so its optimistic
  infimum is at a breakpoint with the right-hand (lower C_DSO) piece, where the optimistic follower
  attains it; the pessimistic follower takes the left-hand piece there, and the pessimistic infimum
  is only approached from the right.
* :func:`solve_bilevel_kkt`: the optimistic bilevel problem by KKT reformulation in Pyomo,
  solved by SCIP. The follower LP is the fleet LP written in Pyomo (:func:`_fleet_block`, the
  constraints of :mod:`ptn.engines.fleet.charging_plan`) plus
  :func:`ptn.engines.power.lindistflow.build_lindistflow` (``charging="variable"``), linked by the
  station loads, objective ``C_TNO + ρ·C_DSO``. Its standard form is read back from Pyomo
  (:func:`_standard_form`) and the single-level model holds primal feasibility, dual
  feasibility (multipliers of one-sided rows and bounds ≥ 0, of equalities free),
  stationarity ``c_TNO + ρ·c_DSO − Aᵀy − ν = 0`` (linear in (ρ, y, ν)) and complementarity as
  SOS1 pairs (slack, multiplier): exact, without the big-M constants that would need bounds on
  LP duals nobody knows a priori. The Pyomo SCIP interface (``scip_direct``) passes SOS1
  constraints to SCIP (``addConsSOS1``). The strong-duality inequality ``c(ρ)ᵀz ≤ b·y``
  (redundant given complementarity: it holds with equality at every KKT point) is added as a
  cut: it makes SCIP's relaxations far tighter (measured on the 12-node case sliced to periods
  16-22: 29 s without, 4 s with). Upper level: ``min C_DSO + ρ·(C0 − C_DSO)``, ρ ∈ [0, 1],
  bilinear; SCIP handles the non-convex products by spatial branching. C0 is the private
  search's: the fixed-load dispatch of the TNO-alone plan the cvxpy
  :meth:`FleetChargingModel.plan` returns (the TNO-alone LP has ties too; its plan is the one
  the operators use). ``C_DSO ≤ C0`` is added as a bound: it holds at every follower optimum for
  ρ > 0 (monotonicity against x0, which is optimal at ρ = 0), and at ρ = 0 the optimistic
  follower's dispatch, the cheapest for a TNO-optimal plan, is at most C0 too.

Scale (measured, this machine, SCIP 10 through pyscipopt 6.3 and Pyomo 6.10): the full
24-period case (3078 follower variables, 2830 rows, 2734 complementarity pairs) gives SCIP no
incumbent in 120 s (25,095 nodes, dual bound 5607.04 $ against the optimum 5648.97 $; none in
240 s either, nor with ρ restricted to [0.12, 0.13]); the strong-duality form finds the optimal
tooth in 600 s (ρ = 0.12491, L = 5648.957 $, 0.013 $ below the optimum through SCIP's
feasibility tolerance) but its bound stays at 5607.08 $. Sliced to periods 12-24
(:func:`slice_horizon`) the SOS1 form solves to optimality in ~9 s, to periods 16-22 in ~4 s.
The KKT reference is therefore checked against the sweep on sliced instances, and the full
case's global optimum rests on the sweep plus the exact breakpoint search, which solves the
same bilevel problem exactly for a one-dimensional leader (docs/profit-sharing.md). SCIP's log
is switched off unless ``tee``: the interface captures it through a pipe, and with long logs
(tens of thousands of nodes) the solve hung past its time limit.

Measured on ``profit-sharing-seed000`` (24 h): C0 = 5772.404 $; the follower's response has 22
breakpoints in (0, 1), rationals of the integer prices (1/8, 6/35, 2/5, ...), seven of them
on the 1e-3 grid; the optimistic optimum is at the breakpoint ρ = 1/8, L = 5648.970 $, where
the follower's C_DSO tie is 6.14 $ wide (pessimistic L there 5654.342 $); the next tooth of
the sawtooth is ρ = 6/35, L = 5649.063 $. The private search's ρ* = 0.12578 (L = 5649.081 $)
lies 7.8e-4 right of the optimum, within its tolerance of 1e-3.

Units: $ over the horizon, MW, shares in [0, 1]. Invalid input raises
:class:`~ptn.engines.errors.InvalidInputError`; solver trouble is a status in the result.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase, FloatArray
from ptn.engines.fleet.charging_plan import FleetChargingModel
from ptn.engines.power.der import DsoCase, validate_case
from ptn.engines.power.distflow import DistFlowOpf, Formulation
from ptn.engines.power.result import OpfResult, OpfStatus

FollowerStatus = Literal["optimal", "infeasible", "failed"]
#: which point of the follower's optimal set a solution is: the interior-point solver's
#: (``solver``), the optimistic or pessimistic selection, or the TNO's own plan at ρ = 0
Selection = Literal["solver", "optimistic", "pessimistic", "alone"]
BilevelStatus = Literal["optimal", "time_limit", "infeasible", "failed"]
KktMethod = Literal["sos1", "strong_duality"]
TieMethod = Literal["constraint", "perturbation"]

#: ε of the tie analysis, relative to |V| (at least 1 $ · this): Clarabel reaches ~1e-12 here
#: (the follower's optimum moved by 3e-10 relative between gap targets 1e-9 and 1e-12)
DEFAULT_TIE_REL_TOL = 1e-9

#: κ of the perturbation tie analysis (:meth:`FollowerModel.ties`), in units of the share
DEFAULT_PERTURBATION = 1e-7

#: two pieces of the follower's response are one when their C_DSO differ by less than this,
#: relative to C0 (a merged piece moves the leader's cost by at most that much)
DEFAULT_PIECE_REL_TOL = 1e-7

#: grid of the sweep: 1001 shares (resolution 1e-3) take ~54 s on the 24-period 12-node case
#: (three follower solves of ~16 ms per share with the perturbation tie method, and ~15 more
#: for the breakpoints); the constrained tie method takes ~2x as long
DEFAULT_SWEEP_POINTS = 1001

#: Clarabel settings of the joint follower model, tried in turn until one gives a solution:
#: gaps of 1e-12 cost 15 interior-point iterations instead of 13 at 1e-8; iterative refinement
#: off (it doubles the time and changes nothing measurable here), then on, then the defaults.
SOLVER_ATTEMPTS: tuple[dict[str, Any], ...] = (
    {"iterative_refinement_enable": False, "tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12,
     "tol_feas": 1e-12, "reduced_tol_gap_abs": 1e-9, "reduced_tol_gap_rel": 1e-9,
     "reduced_tol_feas": 1e-9},
    {"iterative_refinement_enable": True, "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10,
     "tol_feas": 1e-10},
    {},
)

_OPTIMAL = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
_INFEASIBLE = (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE)


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class FollowerSolution:
    """One point of the follower's optimal set at share ``share`` (failures are data).

    ``status``: ``optimal``, ``infeasible`` or ``failed`` (solver trouble; ``message`` says
    which); without a solution the costs and loads are NaN. Costs in $ over the horizon:
    ``tno_cost_usd`` = C_TNO (energy and detours, no payment), ``dso_cost_usd`` = C_DSO, the
    DSO's optimal dispatch cost at the plan's station loads, ``objective_usd`` =
    ``C_TNO + ρ·C_DSO``. ``station_load_mw`` ``(stations, periods)`` in the fleet's station
    order. ``selection``: see :data:`Selection`.
    """

    share: float
    status: FollowerStatus
    selection: Selection
    tno_cost_usd: float
    dso_cost_usd: float
    objective_usd: float
    station_names: tuple[str, ...]
    station_load_mw: FloatArray
    message: str = ""
    seconds: float = 0.0

    @property
    def has_solution(self) -> bool:
        return self.status == "optimal"


@dataclass(frozen=True)
class TieAnalysis:
    """The follower's optimum at ``share`` and the two ends of its optimal set in C_DSO.

    ``follower`` is the solver's point, ``optimistic`` minimizes and ``pessimistic`` maximizes
    C_DSO over the ε-optimal set ``C_TNO + ρ·C_DSO ≤ V + tolerance_usd`` (module doc: next to a
    breakpoint the width includes ~``tolerance_usd / distance`` of ε-slack).
    """

    share: float
    follower: FollowerSolution
    optimistic: FollowerSolution
    pessimistic: FollowerSolution
    tolerance_usd: float

    @property
    def has_solution(self) -> bool:
        return all(s.has_solution for s in (self.follower, self.optimistic, self.pessimistic))

    @property
    def width_usd(self) -> float:
        """max − min C_DSO over the (ε-)optimal set."""
        return self.pessimistic.dso_cost_usd - self.optimistic.dso_cost_usd


@dataclass(frozen=True)
class Preschedule:
    """Stage 1: the TNO's plan alone and the DSO's dispatch of it (cost C0)."""

    status: FollowerStatus
    tno_cost_usd: float
    dso_cost_usd: float  # C0
    station_names: tuple[str, ...]
    station_load_mw: FloatArray
    message: str = ""


@dataclass(frozen=True)
class Breakpoint:
    """A share where the follower's response jumps from the left piece to the right one.

    Both pieces are optimal at ``share``; the left one has the higher C_DSO. Leader costs at
    ``share``: optimistic (right piece, attained) and pessimistic (left piece).
    """

    share: float
    left_tno_cost_usd: float
    left_dso_cost_usd: float
    right_tno_cost_usd: float
    right_dso_cost_usd: float
    optimistic_leader_cost_usd: float
    pessimistic_leader_cost_usd: float

    @property
    def width_usd(self) -> float:
        return self.left_dso_cost_usd - self.right_dso_cost_usd


@dataclass(frozen=True)
class SweepResult:
    """The follower's response and the leader's cost over a grid of shares (and exactly).

    Arrays have one entry per share of ``shares`` (ascending). ``status`` is ``optimal`` when
    every solve gave a solution, else ``failed`` with the shares in ``message`` (their entries
    NaN). At ρ = 0 the follower is the prescheduling: pessimistic = the TNO's own plan (C0),
    optimistic = the least C_DSO among the TNO's own optima (what an optimistic bilevel model
    takes there). ``breakpoints``: the exact breakpoints of the follower's response found from
    the grid (module doc), empty when not searched; ``exact_*``: the optimistic leader's
    minimum over them, ρ = 0 and ρ = 1.
    """

    status: FollowerStatus
    message: str
    station_names: tuple[str, ...]
    original_dso_cost_usd: float
    tno_cost_alone_usd: float
    shares: FloatArray
    value_usd: FloatArray
    solver_tno_cost_usd: FloatArray
    solver_dso_cost_usd: FloatArray
    optimistic_tno_cost_usd: FloatArray
    optimistic_dso_cost_usd: FloatArray
    pessimistic_tno_cost_usd: FloatArray
    pessimistic_dso_cost_usd: FloatArray
    tolerance_usd: FloatArray
    breakpoints: tuple[Breakpoint, ...]
    seconds: float
    extra_solves: int = 0

    # ------------------------------------------------------------------ leader's costs
    def leader_cost_usd(self, dso_cost_usd: FloatArray) -> FloatArray:
        """``C_DSO + ρ·(C0 − C_DSO)`` over the grid."""
        return dso_cost_usd + self.shares * (self.original_dso_cost_usd - dso_cost_usd)

    @property
    def optimistic_leader_cost_usd(self) -> FloatArray:
        return self.leader_cost_usd(self.optimistic_dso_cost_usd)

    @property
    def pessimistic_leader_cost_usd(self) -> FloatArray:
        return self.leader_cost_usd(self.pessimistic_dso_cost_usd)

    @property
    def tie_width_usd(self) -> FloatArray:
        return self.pessimistic_dso_cost_usd - self.optimistic_dso_cost_usd

    @property
    def resolution(self) -> float:
        """The largest gap between neighbouring shares of the grid."""
        return float(np.max(np.diff(self.shares))) if self.shares.size > 1 else 1.0

    def _argmin(self, costs: FloatArray) -> tuple[float, float]:
        if not np.isfinite(costs).any():
            return float("nan"), float("nan")
        k = int(np.nanargmin(costs))
        return float(self.shares[k]), float(costs[k])

    @property
    def optimistic_best(self) -> tuple[float, float]:
        """(ρ, L) of the grid's least optimistic leader cost."""
        return self._argmin(self.optimistic_leader_cost_usd)

    @property
    def pessimistic_best(self) -> tuple[float, float]:
        """(ρ, L) of the grid's least pessimistic leader cost."""
        return self._argmin(self.pessimistic_leader_cost_usd)

    @property
    def exact_best(self) -> tuple[float, float]:
        """(ρ, L): the optimistic leader's infimum over the breakpoints, ρ = 0 and ρ = 1."""
        candidates = [(float(self.shares[0]), float(self.optimistic_leader_cost_usd[0]))] \
            if self.shares[0] == 0.0 else []
        candidates.append((1.0, self.original_dso_cost_usd))
        candidates += [(b.share, b.optimistic_leader_cost_usd) for b in self.breakpoints]
        finite = [c for c in candidates if math.isfinite(c[1])]
        return min(finite, key=lambda c: c[1]) if finite else (float("nan"), float("nan"))

    def breakpoints_between(self, low: float, high: float) -> tuple[Breakpoint, ...]:
        return tuple(b for b in self.breakpoints if low <= b.share <= high)


@dataclass(frozen=True)
class BilevelSolution:
    """The optimistic bilevel optimum by KKT reformulation (failures are data).

    ``status``: ``optimal`` (SCIP proved the gap limit), ``time_limit`` (an incumbent, not
    proved; ``gap`` says how far), ``infeasible`` or ``failed`` (no solution; ``message``).
    ``share`` ρ*, ``leader_cost_usd`` L(ρ*) = C_DSO + ρ*·(C0 − C_DSO); ``dso_cost_usd`` and
    ``tno_cost_usd`` the follower's at the KKT point; ``objective_bound_usd`` SCIP's dual bound;
    ``gap`` = (L − bound)/max(|L|, 1). Checks of the KKT point by cvxpy:
    ``follower_gap_usd`` = ``C_TNO + ρ*·C_DSO`` at the KKT point minus the follower's optimum
    V(ρ*) of :class:`FollowerModel` (≈ 0: the point is a follower optimum), and
    ``dispatch_cost_usd`` the DSO's fixed-load dispatch of the KKT loads (≈ C_DSO).
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


# ---------------------------------------------------------------------- inputs
def point_of_station(
    fleet_case: FleetCase, dso_case: DsoCase, station_order: Sequence[int] | None = None
) -> NDArray[np.int64]:
    """Per station of the fleet (its order), the position of its charging point in the DSO case.

    ``station_order`` is that mapping (``DsoConfig.point_order`` of the services); ``None``
    matches stations and charging points by name. Every charging point must be fed by exactly
    one station, and both cases must share periods and period length.
    """
    validate_case(dso_case)
    points = [point.name for point in dso_case.charging_points]
    stations = fleet_case.station_names
    if fleet_case.periods != dso_case.periods:
        raise InvalidInputError(f"the fleet has {fleet_case.periods} periods but the DSO case "
                                f"{dso_case.periods}")
    if not math.isclose(fleet_case.period_hours, dso_case.period_hours):
        raise InvalidInputError(f"the fleet's periods last {fleet_case.period_hours} h but the "
                                f"DSO's {dso_case.period_hours} h")
    if len(points) != len(stations):
        raise InvalidInputError(f"the fleet has {len(stations)} stations but the DSO case "
                                f"{len(points)} charging points ({', '.join(points) or 'none'})")
    if station_order is None:
        missing = [name for name in stations if name not in points]
        if missing:
            raise InvalidInputError(f"station {missing[0]} has no charging point of that name "
                                    f"(charging points: {', '.join(points)})")
        return np.array([points.index(name) for name in stations], dtype=np.int64)
    order = np.asarray(station_order)
    if order.shape != (len(stations),) or not np.issubdtype(order.dtype, np.integer) \
            or sorted(order.tolist()) != list(range(len(points))):
        raise InvalidInputError(f"station_order must be a permutation of 0..{len(points) - 1} "
                                f"(one charging point per station), got {list(station_order)}")
    return order.astype(np.int64)


def _check_share(share: float) -> float:
    value = float(share)
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"share must be finite and >= 0, got {share}")
    return value


def leader_cost_usd(share: float, dso_cost_usd: float, original_dso_cost_usd: float) -> float:
    """The DNO's total cost ``C_DSO + ρ·(C0 − C_DSO)`` ($)."""
    return dso_cost_usd + share * (original_dso_cost_usd - dso_cost_usd)


def _nan_solution(share: float, status: FollowerStatus, selection: Selection,
                  names: tuple[str, ...], shape: tuple[int, int], message: str,
                  started: float) -> FollowerSolution:
    nan = float("nan")
    return FollowerSolution(share, status, selection, nan, nan, nan, names,
                            np.full(shape, np.nan), message, time.perf_counter() - started)


def _dispatch_fixed(dso_case: DsoCase, station_load_mw: FloatArray, point: NDArray[np.int64],
                    formulation: Formulation) -> OpfResult:
    """The DSO's dispatch with the fleet's station loads (stations in the fleet's order, MW)
    fixed at their charging points."""
    loads = np.empty_like(station_load_mw)
    loads[point] = station_load_mw
    opf = DistFlowOpf(dso_case, charging="fixed", formulation=formulation)
    opf.set_charging_load(loads)
    return opf.solve()


def preschedule(
    fleet_case: FleetCase,
    dso_case: DsoCase,
    *,
    station_order: Sequence[int] | None = None,
    formulation: Formulation = "lindistflow",
) -> Preschedule:
    """Stage 1 as the operators run it: ``FleetChargingModel(fleet_case).plan()`` (the TNO's
    plan alone, a point of its own, possibly tied, optimal set) and the DSO's fixed-load
    dispatch of its station loads (``DistFlowOpf(charging="fixed")``): C0."""
    point = point_of_station(fleet_case, dso_case, station_order)
    plan = FleetChargingModel(fleet_case).plan()
    names = fleet_case.station_names
    nan = float("nan")
    if not plan.has_solution:
        return Preschedule(plan.status, nan, nan, names, plan.station_load_mw,
                           f"the TNO's plan alone: {plan.message}")
    dispatch = _dispatch_fixed(dso_case, plan.station_load_mw, point, formulation)
    if not dispatch.status.has_solution:
        status: FollowerStatus = "infeasible" if dispatch.status == OpfStatus.INFEASIBLE \
            else "failed"
        return Preschedule(status, plan.cost_usd, nan, names, plan.station_load_mw,
                           f"the DSO's dispatch of the TNO's plan: {dispatch.message}")
    return Preschedule("optimal", plan.cost_usd, float(dispatch.objective), names,
                       plan.station_load_mw)


# ---------------------------------------------------------------------- the follower (cvxpy)
class FollowerModel:
    """The follower's joint problem ``min C_TNO + ρ·C_DSO`` in one cvxpy model, built once.

    Three problems share the variables and constraints: the follower's, and the optimistic and
    pessimistic selections over its ε-optimal set (module doc); ρ and the bound ``V + ε`` are
    Parameters, so re-solves only refresh Clarabel's data.
    """

    def __init__(
        self,
        fleet_case: FleetCase,
        dso_case: DsoCase,
        *,
        station_order: Sequence[int] | None = None,
        formulation: Formulation = "lindistflow",
        tie_rel_tol: float = DEFAULT_TIE_REL_TOL,
        perturbation: float = DEFAULT_PERTURBATION,
        solver: str = "CLARABEL",
        solver_options: dict[str, Any] | None = None,
    ) -> None:
        if not (math.isfinite(tie_rel_tol) and tie_rel_tol > 0):
            raise InvalidInputError(f"tie_rel_tol must be positive, got {tie_rel_tol}")
        if not (math.isfinite(perturbation) and 0 < perturbation < 1):
            raise InvalidInputError(f"perturbation must be in (0, 1), got {perturbation}")
        started = time.perf_counter()
        self.fleet_case = fleet_case
        self.dso_case = dso_case
        self.formulation: Formulation = formulation
        self.tie_rel_tol = tie_rel_tol
        self.perturbation = perturbation
        self.point = point_of_station(fleet_case, dso_case, station_order)
        self.solver = solver
        attempts = SOLVER_ATTEMPTS if solver == "CLARABEL" else ({},)
        self._attempts = [{**options, **(solver_options or {})} for options in attempts]
        self._fleet = FleetChargingModel(fleet_case)
        self._fleet_parts = self._fleet.embedding()
        self._opf = DistFlowOpf(dso_case, charging="priced", formulation=formulation)
        self._opf_parts = self._opf.embedding()
        self._tau = cp.Variable(name="tno_cost_usd")
        self._delta = cp.Variable(name="dso_cost_usd")
        self._share = cp.Parameter(nonneg=True, name="share")
        self._bound = cp.Parameter(name="follower_bound_usd")
        constraints = [
            *self._fleet_parts.constraints,
            *self._opf_parts.constraints,
            self._opf_parts.charging_mw[self.point, :] == self._fleet_parts.station_load_mw,
            self._tau == self._fleet_parts.cost_usd,
            self._delta == self._opf_parts.cost_usd,
        ]
        near = [*constraints, self._tau + self._share * self._delta <= self._bound]
        self._follower = cp.Problem(cp.Minimize(self._tau + self._share * self._delta),
                                    constraints)
        self._optimistic = cp.Problem(cp.Minimize(self._delta), near)
        self._pessimistic = cp.Problem(
            cp.Minimize(self._tau + 0.5 * self._share * self._delta), near)
        for problem in (self._follower, self._optimistic, self._pessimistic):
            if not problem.is_dcp(dpp=True):  # pragma: no cover - a formulation bug
                raise RuntimeError("the follower's model is not DPP")
        self._alone: Preschedule | None = None
        self._alone_optimistic: dict[str, FollowerSolution] = {}
        self.build_seconds = time.perf_counter() - started

    # ------------------------------------------------------------------ names
    @property
    def station_names(self) -> tuple[str, ...]:
        return self.fleet_case.station_names

    @property
    def _shape(self) -> tuple[int, int]:
        return self.fleet_case.num_stations, self.fleet_case.periods

    # ------------------------------------------------------------------ solves
    def _run(self, problem: cp.Problem) -> tuple[FollowerStatus, str]:
        """Solve with each option set in turn until one gives a solution; never raises."""
        notes: list[str] = []
        status: FollowerStatus = "failed"
        for number, options in enumerate(self._attempts):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    problem.solve(solver=self.solver, **options)
            except cp.error.SolverError as error:
                notes.append(f"attempt {number + 1}: {error}")
                continue
            if problem.status in _OPTIMAL:
                if number:
                    notes.append(f"solved with fallback settings {number + 1}")
                if problem.status == cp.OPTIMAL_INACCURATE:
                    notes.append("the solver stopped at reduced accuracy")
                return "optimal", "; ".join(notes)
            notes.append(f"attempt {number + 1}: status {problem.status}")
            if problem.status in _INFEASIBLE:
                status = "infeasible"
                break
        return status, "; ".join(notes)

    def _read(self, share: float, selection: Selection, message: str,
              started: float) -> FollowerSolution:
        plan = self._fleet_parts.read_plan()
        dso = float(self._opf_parts.reported_cost_usd.value)
        return FollowerSolution(
            share=share, status="optimal", selection=selection, tno_cost_usd=plan.cost_usd,
            dso_cost_usd=dso, objective_usd=plan.cost_usd + share * dso,
            station_names=self.station_names, station_load_mw=plan.station_load_mw,
            message=message, seconds=time.perf_counter() - started)

    def prescheduling(self) -> Preschedule:
        """Stage 1 (:func:`preschedule`), computed once."""
        if self._alone is None:
            self._alone = preschedule(self.fleet_case, self.dso_case,
                                      station_order=self.point.tolist(),
                                      formulation=self.formulation)
        return self._alone

    def _alone_solution(self, started: float) -> FollowerSolution:
        alone = self.prescheduling()
        if alone.status != "optimal":
            return _nan_solution(0.0, alone.status, "alone", self.station_names, self._shape,
                                 alone.message, started)
        return FollowerSolution(0.0, "optimal", "alone", alone.tno_cost_usd, alone.dso_cost_usd,
                                alone.tno_cost_usd, self.station_names, alone.station_load_mw,
                                seconds=time.perf_counter() - started)

    def solve(self, share: float) -> FollowerSolution:
        """The follower's optimum at ``share`` (the interior-point solver's point of the optimal
        set); at ρ = 0 the TNO's own plan (prescheduling)."""
        started = time.perf_counter()
        share = _check_share(share)
        if share == 0.0:
            return self._alone_solution(started)
        self._share.value = share
        status, message = self._run(self._follower)
        if status != "optimal":
            return _nan_solution(share, status, "solver", self.station_names, self._shape,
                                 message or f"the follower's problem is {status}", started)
        return self._read(share, "solver", message, started)

    def tolerance_usd(self, value_usd: float) -> float:
        """ε of the tie analysis at the follower's optimum ``value_usd``."""
        return self.tie_rel_tol * max(abs(value_usd), 1.0)

    def _select(self, share: float, value_usd: float, which: Selection) -> FollowerSolution:
        """min (optimistic) or max (pessimistic) C_DSO with ``τ + ρ·δ ≤ V + ε``; ε is raised
        100-fold (twice at most) if the bound is infeasible (V slightly overestimated)."""
        started = time.perf_counter()
        problem = self._optimistic if which == "optimistic" else self._pessimistic
        self._share.value = share
        tolerance = self.tolerance_usd(value_usd)
        notes: list[str] = []
        for _ in range(3):
            self._bound.value = value_usd + tolerance
            status, message = self._run(problem)
            if status == "optimal":
                notes += [message] if message else []
                return self._read(share, which, "; ".join(notes), started)
            notes.append(f"ε = {tolerance:.3g} $: {status} {message}".strip())
            tolerance *= 100.0
        return _nan_solution(share, "failed", which, self.station_names, self._shape,
                             "; ".join(notes), started)

    def _perturbed(self, share: float, value_usd: float, which: Selection) -> FollowerSolution:
        """The lexicographic selection by objective perturbation: the follower at ``ρ ± κ``
        (``+`` optimistic, ``−`` pessimistic), kept when it is optimal at ρ within ε; else
        the ε-constrained re-solve."""
        started = time.perf_counter()
        kappa = self.perturbation
        shifted = share + kappa if which == "optimistic" else share - kappa
        if shifted > 0:
            self._share.value = shifted
            status, message = self._run(self._follower)
            if status == "optimal":
                moved = self._read(share, which, message, started)
                if moved.objective_usd <= value_usd + self.tolerance_usd(value_usd):
                    return moved
        selected = self._select(share, value_usd, which)
        note = f"ρ {'+' if which == 'optimistic' else '−'} κ is not optimal at ρ: ε-constrained"
        return replace(selected, message="; ".join(m for m in (note, selected.message) if m),
                       seconds=time.perf_counter() - started)

    def ties(
        self,
        share: float,
        follower: FollowerSolution | None = None,
        *,
        method: TieMethod = "constraint",
    ) -> TieAnalysis:
        """The follower's optimum and its optimistic and pessimistic selections at ``share``.

        ``method="constraint"``: the ε-constrained re-solves (module doc). ``"perturbation"``:
        the follower re-solved at ``ρ + κ`` and ``ρ − κ`` (κ = ``perturbation``): for an LP,
        ``min C_TNO + (ρ ± κ)·C_DSO`` with κ small enough is the lexicographic problem (first
        the follower's objective, then ∓C_DSO), i.e. exactly the two selections, and the
        solutions are interior points of the neighbouring pieces, so they carry no ε-reach;
        each is kept only if it is optimal at ρ within ε (else a breakpoint lies within κ and
        the ε-constrained re-solve is used). The follower's solves cost ~16 ms, the
        constrained ones 30-100 ms (their feasible sets are ε-thin).

        At ρ = 0: the follower and the pessimistic selection are the TNO's own plan (the game's
        follower there; the true maximum of C_DSO over the TNO's optima, a maximum of a convex
        value function, is not computed) and the optimistic one the least C_DSO among the
        TNO's own optima (``C_TNO ≤ C_TNO(x0) + ε``).
        """
        share = _check_share(share)
        if method not in ("constraint", "perturbation"):
            raise InvalidInputError(f"method must be 'constraint' or 'perturbation', got "
                                    f"{method!r}")
        follower = self.solve(share) if follower is None else follower
        if not follower.has_solution:
            return TieAnalysis(share, follower, follower, follower, float("nan"))
        select = self._select if method == "constraint" else self._perturbed
        if share == 0.0:
            if method not in self._alone_optimistic:
                self._alone_optimistic[method] = select(0.0, follower.tno_cost_usd, "optimistic")
            return TieAnalysis(0.0, follower, self._alone_optimistic[method], follower,
                               self.tolerance_usd(follower.tno_cost_usd))
        return TieAnalysis(share, follower,
                           select(share, follower.objective_usd, "optimistic"),
                           select(share, follower.objective_usd, "pessimistic"),
                           self.tolerance_usd(follower.objective_usd))


def solve_follower(
    fleet_case: FleetCase,
    dso_case: DsoCase,
    share: float,
    *,
    station_order: Sequence[int] | None = None,
    formulation: Formulation = "lindistflow",
) -> FollowerSolution:
    """The follower's joint problem at one share (builds a :class:`FollowerModel`; reuse one
    for several shares)."""
    model = FollowerModel(fleet_case, dso_case, station_order=station_order,
                          formulation=formulation)
    return model.solve(share)


# ---------------------------------------------------------------------- the sweep
def _piece(analysis: TieAnalysis, side: Literal["left", "right"],
           piece_tol_usd: float) -> tuple[float, float]:
    """(C_TNO, C_DSO) of the piece just left or right of ``analysis.share``.

    Where the tie width is within ``piece_tol_usd`` the share is inside a piece, whose costs
    the solver's point has exactly (the selections are off by their ε-reach along the
    frontier); otherwise it is at or next to a breakpoint, and the pessimistic (left) and
    optimistic (right) selections stand for the two pieces: both lie on the frontier edges
    through the breakpoint, so the lines of neighbouring shares still cross exactly there.
    """
    if analysis.width_usd <= piece_tol_usd and analysis.share > 0:
        chosen = analysis.follower
    else:
        chosen = analysis.optimistic if side == "right" else analysis.pessimistic
    return chosen.tno_cost_usd, chosen.dso_cost_usd


def _search_breakpoints(
    model: FollowerModel,
    analyses: dict[float, TieAnalysis],
    original: float,
    piece_tol_usd: float,
    max_solves: int,
    method: TieMethod,
) -> tuple[list[Breakpoint], int, str]:
    """Eisner–Severance bisection between neighbouring analysed shares (module doc)."""
    found: list[Breakpoint] = []
    solves = 0
    note = ""

    def at(analysis: TieAnalysis) -> None:
        """A share on a breakpoint: its selections are the two pieces."""
        if analysis.share > 0 and analysis.has_solution and analysis.width_usd > piece_tol_usd:
            left, right = analysis.pessimistic, analysis.optimistic
            found.append(Breakpoint(
                share=analysis.share, left_tno_cost_usd=left.tno_cost_usd,
                left_dso_cost_usd=left.dso_cost_usd, right_tno_cost_usd=right.tno_cost_usd,
                right_dso_cost_usd=right.dso_cost_usd,
                optimistic_leader_cost_usd=leader_cost_usd(analysis.share, right.dso_cost_usd,
                                                           original),
                pessimistic_leader_cost_usd=leader_cost_usd(analysis.share, left.dso_cost_usd,
                                                            original)))

    for analysis in analyses.values():
        at(analysis)
    shares = sorted(analyses)
    stack = list(itertools.pairwise(shares))
    while stack:
        low, high = stack.pop()
        t_right, d_right = _piece(analyses[low], "right", piece_tol_usd)
        t_left, d_left = _piece(analyses[high], "left", piece_tol_usd)
        if not all(math.isfinite(v) for v in (t_right, d_right, t_left, d_left)):
            continue
        if d_right - d_left <= piece_tol_usd:
            continue
        crossing = (t_left - t_right) / (d_right - d_left)
        crossing = min(max(crossing, low), high)
        line = t_right + crossing * d_right
        if crossing in (low, high) or high - low <= 1e-12:
            probe = analyses.get(crossing)
        else:
            if solves >= max_solves:
                note = f"breakpoint search stopped after {max_solves} extra solves"
                continue
            probe = model.ties(crossing, method=method)
            solves += 1
        if probe is not None and probe.has_solution \
                and probe.follower.objective_usd < line - model.tolerance_usd(line):
            analyses[crossing] = probe  # a piece in between: search both halves
            at(probe)
            stack += [(low, crossing), (crossing, high)]
            continue
        found.append(Breakpoint(
            share=crossing, left_tno_cost_usd=t_right, left_dso_cost_usd=d_right,
            right_tno_cost_usd=t_left, right_dso_cost_usd=d_left,
            optimistic_leader_cost_usd=leader_cost_usd(crossing, d_left, original),
            pessimistic_leader_cost_usd=leader_cost_usd(crossing, d_right, original)))
    return _merge(found, original), solves, note


def _merge(found: list[Breakpoint], original: float) -> list[Breakpoint]:
    """One breakpoint per share (a grid point on a breakpoint is found from both sides)."""
    merged: list[Breakpoint] = []
    for point in sorted(found, key=lambda b: b.share):
        if merged and abs(point.share - merged[-1].share) <= 1e-9:
            last = merged[-1]
            left = max((last.left_dso_cost_usd, last.left_tno_cost_usd),
                       (point.left_dso_cost_usd, point.left_tno_cost_usd))
            right = min((last.right_dso_cost_usd, last.right_tno_cost_usd),
                        (point.right_dso_cost_usd, point.right_tno_cost_usd))
            merged[-1] = Breakpoint(
                last.share, left[1], left[0], right[1], right[0],
                leader_cost_usd(last.share, right[0], original),
                leader_cost_usd(last.share, left[0], original))
        else:
            merged.append(point)
    return merged


def sweep(
    fleet_case: FleetCase,
    dso_case: DsoCase,
    shares: ArrayLike | None = None,
    *,
    station_order: Sequence[int] | None = None,
    formulation: Formulation = "lindistflow",
    tie_rel_tol: float = DEFAULT_TIE_REL_TOL,
    piece_rel_tol: float = DEFAULT_PIECE_REL_TOL,
    tie_method: TieMethod = "perturbation",
    exact_breakpoints: bool = True,
    max_extra_solves: int = 400,
    model: FollowerModel | None = None,
) -> SweepResult:
    """The leader's optimistic and pessimistic costs over ``shares`` (default
    :data:`DEFAULT_SWEEP_POINTS` evenly in [0, 1]) and, with ``exact_breakpoints``, the exact
    breakpoints of the follower's response between them (module doc).

    ``model`` reuses a built :class:`FollowerModel` (its cases and options then apply).
    """
    started = time.perf_counter()
    grid = np.linspace(0.0, 1.0, DEFAULT_SWEEP_POINTS) if shares is None \
        else np.unique(np.asarray(shares, dtype=np.float64))
    if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all() \
            or grid[0] < 0 or grid[-1] > 1:
        raise InvalidInputError("shares must be finite values in [0, 1]")
    if model is None:
        model = FollowerModel(fleet_case, dso_case, station_order=station_order,
                              formulation=formulation, tie_rel_tol=tie_rel_tol)
    alone = model.prescheduling()
    nan = float("nan")
    n = grid.size
    empty = np.full(n, np.nan)
    if alone.status != "optimal":
        return SweepResult(alone.status, alone.message, model.station_names, nan, nan, grid,
                           empty, empty, empty, empty, empty, empty, empty, empty, (),
                           time.perf_counter() - started)
    original = alone.dso_cost_usd
    analyses: dict[float, TieAnalysis] = {}
    for share in grid:
        analyses[float(share)] = model.ties(float(share), method=tie_method)
    failed = [share for share, a in analyses.items() if not a.has_solution]

    def column(pick: str, cost: str) -> FloatArray:
        return np.array([getattr(getattr(analyses[float(s)], pick), cost) for s in grid])

    result = SweepResult(
        status="failed" if failed else "optimal",
        message=f"no solution at shares {failed[:10]}" if failed else "",
        station_names=model.station_names, original_dso_cost_usd=original,
        tno_cost_alone_usd=alone.tno_cost_usd, shares=grid,
        value_usd=column("follower", "objective_usd"),
        solver_tno_cost_usd=column("follower", "tno_cost_usd"),
        solver_dso_cost_usd=column("follower", "dso_cost_usd"),
        optimistic_tno_cost_usd=column("optimistic", "tno_cost_usd"),
        optimistic_dso_cost_usd=column("optimistic", "dso_cost_usd"),
        pessimistic_tno_cost_usd=column("pessimistic", "tno_cost_usd"),
        pessimistic_dso_cost_usd=column("pessimistic", "dso_cost_usd"),
        tolerance_usd=np.array([analyses[float(s)].tolerance_usd for s in grid]),
        breakpoints=(), seconds=0.0)
    if exact_breakpoints and not failed:
        found, solves, note = _search_breakpoints(
            model, dict(analyses), original, piece_rel_tol * max(abs(original), 1.0),
            max_extra_solves, tie_method)
        result = replace(result, breakpoints=tuple(found), extra_solves=solves,
                         message="; ".join(m for m in (result.message, note) if m))
    return replace(result, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------- reduced instances
def slice_horizon(
    fleet_case: FleetCase, dso_case: DsoCase, start: int, stop: int
) -> tuple[FleetCase, DsoCase]:
    """Both cases restricted to periods ``start .. stop − 1`` (a smaller instance for the KKT).

    Everything per period is sliced (tariff, timetables, service shares; load profile,
    upstream prices, renewable profiles). **(choice)** The window keeps the day's rules: the
    fleet starts it at its initial SOC and must end it no emptier, storage returns to its
    initial SOC, ramp limits hold inside it.
    """
    periods = fleet_case.periods
    if not (0 <= start < stop <= periods) or dso_case.periods != periods:
        raise InvalidInputError(f"need 0 <= start < stop <= {periods} and cases of {periods} "
                                f"periods, got start {start}, stop {stop}, DSO periods "
                                f"{dso_case.periods}")

    def cut(values: ArrayLike) -> FloatArray:
        return np.asarray(values, dtype=np.float64)[start:stop].copy()

    lines = tuple(replace(line, round_trips_per_period=cut(line.round_trips_per_period),
                          service_share=cut(line.service_share)) for line in fleet_case.lines)
    fleet = replace(fleet_case, lines=lines, tariff_per_mwh=cut(fleet_case.tariff_per_mwh),
                    name=f"{fleet_case.name}[{start}:{stop}]")
    price = None if dso_case.upstream_price_per_mwh is None \
        else cut(dso_case.upstream_price_per_mwh)
    dso = replace(dso_case, periods=stop - start, load_profile=cut(dso_case.load_profile),
                  upstream_price_per_mwh=price,
                  renewables=tuple(replace(unit, profile=cut(unit.profile))
                                   for unit in dso_case.renewables))
    validate_case(dso)
    return fleet, dso


# ---------------------------------------------------------------------- the follower in Pyomo
@dataclass
class _FleetLp:
    """Handles of the fleet LP written in Pyomo (:func:`_fleet_block`)."""

    block: Any
    station_load: Any  # Expression (station, period), MW
    cost: Any  # Expression, $


def _fleet_block(model: Any, case: FleetCase, name: str = "fleet") -> _FleetLp:
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
    return _FleetLp(block=block, station_load=block.station_load, cost=block.cost)


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
    (default: :func:`preschedule`'s, the private search's). ``verify`` re-solves the follower
    at ρ* with cvxpy (``follower_gap_usd``, ``dispatch_cost_usd``). Raises
    :class:`InvalidInputError` for a follower that is not an LP or mismatched cases.
    """
    import pyomo.environ as pyo
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

    from ptn.engines.power.lindistflow import build_lindistflow

    started = time.perf_counter()
    point = point_of_station(fleet_case, dso_case, station_order)
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
    fleet = _fleet_block(follower, fleet_case)
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
    dispatch = _dispatch_fixed(dso_case, np.maximum(solution.station_load_mw, 0.0), point,
                               "lindistflow")
    cost = float(dispatch.objective) if dispatch.status.has_solution else float("nan")
    return replace(solution, follower_gap_usd=follower_gap, dispatch_cost_usd=cost)
