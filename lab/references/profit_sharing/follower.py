"""The follower's joint problem in one cvxpy model, and its optimistic and pessimistic ties.

Why this module exists: at a share ρ the TNO (follower) answers the DNO (leader) with
``min_x C_TNO(x) + ρ·C_DSO(x)`` (seed 000, MODELS.md §4; the game in
:mod:`ptn.lab.references.profit_sharing`). ptn solves it privately by ADMM; this is the same
problem with both operators' models in one hand, the reference the negotiation and the sweep
(:mod:`ptn.lab.references.profit_sharing.sweep`) are checked against. The follower's problem is
an LP here (linear fleet model, LinDistFlow with linear costs), so it may have many optima, and
which one the follower picks changes the leader's cost: the referee's first question, answered
by the two ends of the follower's optimal set.

* :class:`FollowerModel` / :func:`solve_follower`: the follower's joint problem in ONE cvxpy
  model, the fleet's ``embedding()`` (:func:`ptn.engines.fleet.model.build_fleet_model`) plus
  ``DistFlowOpf(..., charging="priced").embedding()`` coupled by
  ``P_fleet[s, t] = charging_mw[point(s), t]``, built once and
  re-solved with ρ as a Parameter. DPP: ``ρ·(expression with Parameters)`` is not DPP (the
  tariff and the upstream prices are Parameters), so the two costs are epigraph variables
  ``τ = C_TNO`` and ``δ = C_DSO`` and the objective is ``τ + ρ·δ`` (Parameter times Variable).
  ρ = 0 is the prescheduling itself (the TNO alone,
  :func:`~ptn.lab.references.profit_sharing.game.preschedule`): its ties are the TNO's own, and
  the game defines the follower's answer there as the plan the TNO made.
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

With a mixed-integer fleet (``FleetCase.fleet_model`` ``"bus-mip"``,
:mod:`ptn.engines.fleet.bus_plan`) the joint problem is a MILP, solved by SCIP to a relative
gap of 1e-9 (through cvxpy the OPF's generation cost keeps a ``0·p²`` term, a cone HiGHS
refuses; SCIP takes it, 1-2 s a solve on the seed case). Its optimal set is a finite union of
polyhedra, no longer convex, but V(ρ) is still concave and piecewise linear (a minimum of the
pieces' concave functions) and C_DSO still non-increasing in ρ, so the perturbation
selections and the sweep's breakpoint search hold as they are; the ε-constrained selections
pick within the ε-optimal set as before.

Units: $ over the horizon, MW, shares in [0, 1]. Invalid input raises
:class:`~ptn.engines.errors.InvalidInputError`; solver trouble is a status in the result.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import cvxpy as cp
import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.bus_plan import HIGHS_OPTIONS, SCIP_OPTIONS
from ptn.engines.fleet.case import FleetCase, FloatArray
from ptn.engines.fleet.model import build_fleet_model, is_mixed_integer
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DistFlowOpf, Formulation
from ptn.lab.references.profit_sharing.game import (
    FollowerStatus,
    Preschedule,
    point_of_station,
    preschedule,
)
from ptn.lab.references.solver_attempts import solver_failure_text

#: which point of the follower's optimal set a solution is: the interior-point solver's
#: (``solver``), the optimistic or pessimistic selection, or the TNO's own plan at ρ = 0
Selection = Literal["solver", "optimistic", "pessimistic", "alone"]
TieMethod = Literal["constraint", "perturbation"]

#: ε of the tie analysis, relative to |V| (at least 1 $ · this): Clarabel reaches ~1e-12 here
#: (the follower's optimum moved by 3e-10 relative between gap targets 1e-9 and 1e-12)
DEFAULT_TIE_REL_TOL = 1e-9

#: κ of the perturbation tie analysis (:meth:`FollowerModel.ties`), in units of the share
DEFAULT_PERTURBATION = 1e-7

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


def _check_share(share: float) -> float:
    value = float(share)
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"share must be finite and >= 0, got {share}")
    return value


def _nan_solution(share: float, status: FollowerStatus, selection: Selection,
                  names: tuple[str, ...], shape: tuple[int, int], message: str,
                  started: float) -> FollowerSolution:
    nan = float("nan")
    return FollowerSolution(share, status, selection, nan, nan, nan, names,
                            np.full(shape, np.nan), message, time.perf_counter() - started)


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
        solver: str | None = None,
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
        mixed_integer = is_mixed_integer(fleet_case)
        self.solver = solver or ("SCIP" if mixed_integer else "CLARABEL")
        attempts = {"CLARABEL": SOLVER_ATTEMPTS, "SCIP": (SCIP_OPTIONS,),
                    "HIGHS": (HIGHS_OPTIONS,)}.get(self.solver, ({},))
        self._attempts = [{**options, **(solver_options or {})} for options in attempts]
        self._fleet = build_fleet_model(fleet_case)
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
                notes.append(f"attempt {number + 1}: "
                             f"{solver_failure_text(self.solver, error)}")
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
        """Stage 1 (:func:`~ptn.lab.references.profit_sharing.game.preschedule`), computed once."""
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
