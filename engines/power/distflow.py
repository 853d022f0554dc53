"""Multi-period DistFlow OPF with the second-order-cone relaxation, built once, re-solved fast.

Formulation (branch flow model of Baran & Wu 1989, relaxed by Farivar & Low, IEEE Trans.
Power Syst. 28(3), 2013; MODELS.md §2), per period t and branch i→j, in per unit:

* ``P_ij − r_ij·ℓ_ij + p^inj_j − p^load_j = Σ_k P_jk`` (and Q with ``x_ij``);
* ``v_j = v_i − 2(r_ij·P_ij + x_ij·Q_ij) + (r_ij² + x_ij²)·ℓ_ij``;
* ``‖(2P_ij, 2Q_ij, ℓ_ij − v_i)‖₂ ≤ ℓ_ij + v_i`` (the relaxation of ``ℓ·v = P² + Q²``);
* ``v_min² ≤ v ≤ v_max²``, ``ℓ ≤ (rating/base)²``, slack ``v = v_0²``;
* DER of :mod:`ptn.engines.power.der` with their own constraints.

Objective ($ over the horizon, Δt the period length in h):
``Σ_t Δt·[λ^up_t·P0_t + c2·P0_t² + c0 + Σ_g (a_g·p_g² + b_g·p_g) + incentive·shifted
+ λ^loss·losses]`` plus, when charging is a decision (``charging="priced"``, used by ADMM), the
supplying side's coupling terms ``Σ Δt·[−λ·P^cs + (ρ/2)·(P^cs − z)²]`` of a
:class:`ptn.engines.coupling.CouplingTerms` (the DSO is paid λ for the energy it supplies).

Prices, loads, charging loads, ADMM targets and penalties are cvxpy Parameters under DPP, so a
re-solve only refreshes the solver's data (no re-canonicalization). Buses with a load shape of
their own (``DsoCase.bus_load_profiles``, :mod:`ptn.engines.power.bus_load_profiles`) add their
deviations from the load profile as constants switched by one scalar Parameter
(:mod:`ptn.engines.power.distflow_model`), so they cost the compilation nothing. DLMPs are the
duals of the active power balances, scaled to $/MWh.

``formulation="lindistflow"`` builds the lossless LinDistFlow equations of
:mod:`ptn.engines.power.lindistflow` instead (no ``ℓ``, no cones: the ``r·ℓ``, ``x·ℓ`` and
``(r² + x²)·ℓ`` terms dropped), so that a DSO negotiating through this class (ADMM) and a
full-information bilevel reference solving the Pyomo LinDistFlow by KKT reformulation solve the
same problem. Everything else (DER, limits, objective, charging modes, Parameters, re-solves,
:meth:`DistFlowOpf.embedding`, DLMPs) is shared. The circles without a counterpart in a
cone-free model, branch ratings ``P² + Q² ≤ S²`` (the SOC model bounds ``ℓ`` instead) and the
inverter limits ``p² + q² ≤ s²``, take LinDistFlow's default treatment: the inscribed
``DEFAULT_CIRCLE_SIDES``-gon of :func:`ptn.engines.power.lindistflow.build_lindistflow`, row for
row, which keeps the model an LP (a QP with quadratic costs) as the KKT reformulation needs.
Losses are zero, so ``loss_price_per_mwh`` and the weak-branch regularization add nothing, and
the relaxation gap is reported as zero (there is no relaxation).

``λ^up`` starts from :meth:`ptn.engines.power.der.DsoCase.upstream_prices`: the case's prices,
else the feeder's shipped cost, else (a case without cost data: losses would be free and the
relaxation loose) a fallback tariff that the result's ``notes`` name. An infeasible solve is
followed by the elastic re-solve of :mod:`ptn.engines.power.infeasibility`, whose report
(``OpfResult.infeasibility``, and the message) names the limits that cannot be met.

This module is the OPF's interface (set inputs, solve, embed); building its cvxpy model is
:mod:`ptn.engines.power.distflow_model`, reading a solution back
:mod:`ptn.engines.power.distflow_readout`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import cvxpy as cp
import numpy as np
from numpy.typing import NDArray

from ptn.engines.coupling import MAX_ABS_TARGET_LOAD_MW, CouplingSide, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase, validate_case
from ptn.engines.power.distflow_model import (
    ChargingMode,
    DistFlowModel,
    Formulation,
    build_distflow_model,
)
from ptn.engines.power.distflow_readout import read_result
from ptn.engines.power.infeasibility import ElasticOpf, describe_solver_error
from ptn.engines.power.result import InfeasibilityReport, OpfResult, OpfStatus

FloatArray = NDArray[np.float64]

__all__ = ["DEFAULT_EXACTNESS_TOLERANCE_MW", "DEFAULT_SOLVER_OPTIONS", "RETRY_OPTIONS",
           "ChargingMode", "DistFlowOpf", "Formulation", "OpfEmbedding"]

#: the resistance-weighted relaxation gap (MW of fictitious losses) above which a solution is
#: reported ``inexact``
DEFAULT_EXACTNESS_TOLERANCE_MW = 1e-5

#: Clarabel's iterative refinement triples the cost of an iteration on these KKT systems and
#: changes neither the objective (1e-12 relative) nor the duals here (docs/benchmarks.md). A
#: relative duality gap of 1e-7 rather than 1e-8: with quadratic generator costs Clarabel
#: stalls at gaps of ~7e-8 ("AlmostSolved") on seed 002's case33bw set-up.
DEFAULT_SOLVER_OPTIONS: dict[str, dict[str, Any]] = {
    "CLARABEL": {
        "iterative_refinement_enable": False,
        "tol_gap_rel": 1e-7,
        "tol_gap_abs": 1e-7,
    },
}

#: Settings tried once more when a solve fails outright or stops at reduced accuracy. Without
#: iterative refinement Clarabel occasionally ends in "NumericalError" on a priced OPF in the
#: middle of an ADMM negotiation (measured: seed 000's profit sharing, case33bw × 24 with
#: charging at buses 6, 24 and 29, round 3), or stalls short of its tolerances (the default
#: scenario's DSO, one consensus step of eight, after a change of the traffic solver moved its
#: loads by ~1e-8); the same problems solve with refinement on, at 1.5x the time of one solve.
RETRY_OPTIONS: dict[str, dict[str, Any]] = {"CLARABEL": {"iterative_refinement_enable": True}}

_STATUS = {
    cp.OPTIMAL: OpfStatus.OPTIMAL,
    cp.INFEASIBLE: OpfStatus.INFEASIBLE,
    cp.INFEASIBLE_INACCURATE: OpfStatus.INFEASIBLE,
    cp.UNBOUNDED: OpfStatus.UNBOUNDED,
    cp.UNBOUNDED_INACCURATE: OpfStatus.UNBOUNDED,
}


@dataclass(frozen=True)
class OpfEmbedding:
    """A DSO's OPF as parts of a larger cvxpy model (:meth:`DistFlowOpf.embedding`).

    ``cost_usd``: the objective as the OPF solves it ($ over the horizon, weak-branch
    regularization included, charging coupling terms excluded); ``reported_cost_usd``: the same
    without the regularization, i.e. what :attr:`OpfResult.objective` reports. ``constraints``:
    every constraint of the OPF. ``charging_mw``: the charging decisions ``[point, period]`` (MW).
    ``read_result()``: after a parent problem holding these parts solved optimally, the OPF's
    result (dispatch, DLMPs from the shared balance constraints' duals, relaxation gap; status
    ``inexact`` when the relaxation is). The parts share the OPF's variables and Parameters
    (upstream prices, load profile): changing those on the OPF changes the embedded model too.
    """

    cost_usd: cp.Expression
    reported_cost_usd: cp.Expression
    constraints: tuple[cp.Constraint, ...]
    charging_mw: cp.Variable
    read_result: Callable[[], OpfResult]


class DistFlowOpf:
    """A DSO's multi-period DistFlow-SOC OPF over one or several feeders, built once.

    ``charging="fixed"``: EV charging loads are inputs (MW per charging point and period).
    ``charging="priced"``: they are decisions in ``[0, max_mw]`` with the supplying side's ADMM
    coupling terms (:meth:`set_coupling`), the DSO's local problem in ADMM.
    ``formulation="lindistflow"``: the lossless LinDistFlow equations of
    :mod:`ptn.engines.power.lindistflow` instead of the SOC relaxation (see the module doc).
    """

    def __init__(
        self,
        case: DsoCase,
        *,
        charging: ChargingMode = "fixed",
        formulation: Formulation = "soc",
        solver: str = "CLARABEL",
        solver_options: dict[str, Any] | None = None,
        exactness_tolerance_mw: float = DEFAULT_EXACTNESS_TOLERANCE_MW,
        explain_infeasibility: bool = True,
    ) -> None:
        validate_case(case)
        if charging not in ("fixed", "priced"):
            raise InvalidInputError(f"charging must be 'fixed' or 'priced', got {charging!r}")
        if formulation not in ("soc", "lindistflow"):
            raise InvalidInputError(
                f"formulation must be 'soc' or 'lindistflow', got {formulation!r}"
            )
        self.case = case
        self.charging_mode: ChargingMode = charging
        self.formulation: Formulation = formulation
        #: facets of the polygons replacing the circles in the LinDistFlow formulation
        circle_sides = 0
        if formulation == "lindistflow":
            # imported here: the Pyomo module costs ~0.3 s to import and the SOC path needs none
            from ptn.engines.power.lindistflow import DEFAULT_CIRCLE_SIDES

            circle_sides = DEFAULT_CIRCLE_SIDES
        self.solver = solver
        self.solver_options = dict(DEFAULT_SOLVER_OPTIONS.get(solver, {}))
        self.solver_options.update(solver_options or {})
        self.exactness_tolerance_mw = exactness_tolerance_mw
        #: run the elastic re-solve of ptn.engines.power.infeasibility after an infeasible solve
        self.explain_infeasibility = explain_infeasibility
        self._circle_sides = circle_sides
        self._elastic: ElasticOpf | None = None
        started = time.perf_counter()
        self._model: DistFlowModel = build_distflow_model(case, charging, circle_sides)
        self.problem: cp.Problem = self._model.problem
        self._coupling_constant_usd = 0.0
        self._set_defaults()
        # canonicalize now (cvxpy caches the parametrized program), so that build_seconds is
        # the whole one-off cost and every solve() only refreshes the solver's data
        self.problem.get_problem_data(self.solver)
        self.build_seconds = time.perf_counter() - started

    def _set_defaults(self) -> None:
        case = self.case
        model = self._model
        model.load_profile.value = np.asarray(case.load_profile, dtype=np.float64)
        self._set_own_load_profiles()
        prices, notes = case.upstream_prices()
        for block, price in zip(model.blocks, prices, strict=True):
            block.price.value = price
        #: where the upstream prices come from when the case did not state them, per feeder
        self._price_notes = notes
        if model.dr_limit is not None:
            model.dr_limit.value = case.demand_response_limits_mw()
        if model.charging_fixed is not None:
            model.charging_fixed.value = np.zeros(model.charging_fixed.shape)
        if model.coupling_linear is not None:
            self.set_coupling(None)

    # ------------------------------------------------------------------ embed
    def embedding(self) -> OpfEmbedding:
        """The OPF's cost, constraints and charging decisions, for a joint model to embed.

        Needs ``charging="priced"``. The ADMM coupling is cleared first (:meth:`set_coupling`),
        and the coupling term is left out of the costs, so the embedded cost is the DSO's own;
        the parts share this OPF's variables and Parameters.
        """
        model = self._model
        if model.charging_decision is None:
            raise InvalidInputError(
                "an OPF embedding needs charging='priced' and at least one charging point"
            )
        self.set_coupling(None)
        solved, reported = self.cost_expressions()
        return OpfEmbedding(
            cost_usd=solved,
            reported_cost_usd=reported,
            constraints=tuple(self.problem.constraints),
            charging_mw=model.charging_decision,
            read_result=self.read_solution,
        )

    def cost_expressions(self) -> tuple[cp.Expression, cp.Expression]:
        """``(solved, reported)``: the OPF's cost as it minimizes it (weak-branch regularization
        included) and as it reports it ($ over the horizon, constant upstream costs included,
        the ADMM coupling term excluded); cvxpy expressions over this OPF's variables."""
        model = self._model
        reported = sum(
            (term for name, term in model.cost_terms.items() if name != "charging_coupling"),
            start=cp.Constant(float(model.constant_cost_usd)),
        )
        solved = reported if model.regularization is None else reported + model.regularization
        return solved, reported

    def read_solution(self) -> OpfResult:
        """The OPF's result from the values its variables and constraints hold now: after a
        model holding its parts (:meth:`embedding`), or a solver's solution unpacked into
        :attr:`problem` (``problem.unpack_results``), solved optimally."""
        return self._read(OpfStatus.OPTIMAL, "")

    def charging_columns(self) -> NDArray[np.int64]:
        """The columns of the charging decisions ``[point, period]`` in this OPF's solver data
        (``problem.get_problem_data(solver)``'s ``x``), for a model that stacks that data.

        Found from the data itself: the coupling term's linear coefficients are set to the
        decisions' ordinal numbers, and each must appear once in the objective's ``c`` (then
        the coupling is cleared). Needs ``charging="priced"`` and a charging point.
        """
        model = self._model
        if model.charging_decision is None or model.coupling_linear is None \
                or model.coupling_quadratic is None:
            raise InvalidInputError("charging columns need charging='priced' and at least one "
                                    "charging point")
        self.set_coupling(None)
        base = np.asarray(self.problem.get_problem_data(self.solver)[0]["c"], dtype=np.float64)
        shape = model.coupling_linear.shape
        ordinal = np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape)
        model.coupling_linear.value = ordinal
        try:
            probed = self.problem.get_problem_data(self.solver)[0]["c"]
        finally:
            self.set_coupling(None)
        change = np.asarray(probed, dtype=np.float64) - base
        columns = np.flatnonzero(change)
        found = np.rint(change[columns]).astype(np.int64)
        if columns.size != ordinal.size or not np.array_equal(np.sort(found),
                                                             np.arange(1, ordinal.size + 1)) \
                or not np.allclose(change[columns], found, rtol=0.0, atol=1e-9):
            raise RuntimeError("the charging decisions do not map one-to-one onto solver "
                               "columns")  # pragma: no cover - a change in cvxpy's stuffing
        located = np.empty(ordinal.size, dtype=np.int64)
        located[found - 1] = columns
        return located.reshape(shape)

    # ------------------------------------------------------------------ update
    @property
    def charging_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.case.charging_points)

    def upstream_price_per_mwh(self, feeder_position: int = 0) -> FloatArray:
        """The upstream price per period currently set for a feeder ($/MWh)."""
        price = self._model.blocks[feeder_position].price.value
        return np.asarray(price, dtype=np.float64).copy()

    def set_upstream_price(self, price_per_mwh: FloatArray, feeder: str | None = None) -> None:
        """Upstream energy price per period ($/MWh), for every feeder or the one named."""
        price = np.asarray(price_per_mwh, dtype=np.float64)
        if price.shape != (self.case.periods,) or not np.isfinite(price).all():
            raise InvalidInputError(
                f"upstream price needs {self.case.periods} finite values, got shape {price.shape}"
            )
        for block in self._model.blocks:
            if feeder is None or block.feeder.name == feeder:
                block.price.value = price
                # prices set explicitly replace the fallback tariff a note would name
                self._price_notes.pop(block.feeder.name, None)

    def set_charging_load(self, charging_mw: FloatArray) -> None:
        """EV charging load per charging point and period (MW), ``[point, period]``."""
        fixed = self._model.charging_fixed
        if fixed is None:
            raise InvalidInputError("the case has no charging points")
        if self.charging_mode != "fixed":
            raise InvalidInputError("charging loads are decisions in 'priced' mode; set the "
                                    "coupling terms")
        load = self._check_charging_array(charging_mw, "charging load")
        if (load < 0).any():
            point, period = np.argwhere(load < 0)[0]
            raise InvalidInputError(
                f"charging load at {self.charging_names[point]} in period {period} is negative"
            )
        beyond = np.argwhere(load > MAX_ABS_TARGET_LOAD_MW)
        if beyond.size:
            point, period = beyond[0]
            raise InvalidInputError(
                f"charging load {load[point, period]:g} MW at {self.charging_names[point]} in "
                f"period {period} is beyond the bound of {MAX_ABS_TARGET_LOAD_MW:g} MW"
            )
        limit = np.array([c.max_mw for c in self.case.charging_points])
        over = np.argwhere(load > limit[:, None] + 1e-9)
        if over.size:
            point, period = over[0]
            raise InvalidInputError(
                f"charging load {load[point, period]} MW at {self.charging_names[point]} in "
                f"period {period} exceeds its max_mw {limit[point]}"
            )
        fixed.value = load

    def set_coupling(self, coupling: CouplingTerms | None) -> None:
        """The ADMM coupling terms on the charging decisions (``priced`` mode); None clears them.

        Adds ``Σ Δt·[−λ·P + (ρ/2)·(P − z)²]``: the DSO is the supplying side, so the terms must
        be built with ``side=CouplingSide.SUPPLIER`` and this case's period length; their rows
        are aligned to the charging points by name (or must be in charging-point order).
        """
        model = self._model
        if model.coupling_linear is None or model.coupling_quadratic is None:
            raise InvalidInputError("coupling terms need charging='priced' and charging points")
        if coupling is None:
            coupling = CouplingTerms.zero(self.charging_names, self.case.periods,
                                          self.case.period_hours, CouplingSide.SUPPLIER)
        coupling = coupling.aligned(self.charging_names, self.case.periods, "the DSO's OPF")
        coupling.require_side(CouplingSide.SUPPLIER, "the DSO's OPF")
        coupling.require_period_hours(self.case.period_hours, "the DSO's OPF")
        model.coupling_linear.value = coupling.linear_usd_per_mw
        model.coupling_quadratic.value = coupling.quadratic_usd_per_mw2
        self._coupling_constant_usd = coupling.constant_usd

    def solve_coupled(self, coupling: CouplingTerms) -> OpfResult:
        """The DSO's ADMM local step: :meth:`set_coupling`, then :meth:`solve`. The result's
        ``cost_breakdown["charging_coupling"]`` is the terms' value; the objective includes it."""
        self.set_coupling(coupling)
        return self.solve()

    def set_load_profile(self, load_profile: FloatArray) -> None:
        """Scale every bus's base load by ``load_profile[t]`` (demand response limits too); the
        buses the case gave a shape of their own (``DsoCase.bus_load_profiles``) follow this
        profile as well from now on (their shapes are part of the model built; an OPF with
        other shapes is built from a case that has them)."""
        profile = np.asarray(load_profile, dtype=np.float64)
        if profile.shape != (self.case.periods,) or not np.isfinite(profile).all() \
                or (profile < 0).any():
            raise InvalidInputError(
                f"load profile needs {self.case.periods} finite, non-negative values"
            )
        self.case = replace(self.case, load_profile=profile, bus_load_profiles=())
        self._model.load_profile.value = profile
        self._set_own_load_profiles()
        if self._model.dr_limit is not None:
            self._model.dr_limit.value = self.case.demand_response_limits_mw()

    def _set_own_load_profiles(self) -> None:
        """Switch the buses' own load shapes on while the case has them, off (every bus on the
        load profile) once :meth:`set_load_profile` replaced them."""
        for block in self._model.blocks:
            if block.own_load_weight is not None:
                block.own_load_weight.value = 1.0 if self.case.bus_load_profiles else 0.0

    def _check_charging_array(self, values: FloatArray, what: str) -> FloatArray:
        array = np.asarray(values, dtype=np.float64)
        shape = (len(self.case.charging_points), self.case.periods)
        if array.shape != shape:
            raise InvalidInputError(f"{what} needs shape {shape} [point, period], got "
                                    f"{array.shape}")
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            raise InvalidInputError(
                f"{what} at {self.charging_names[bad[0][0]]} in period {bad[0][1]} is not finite"
            )
        return array

    # ------------------------------------------------------------------ solve
    def _solve_with(self, extra: dict[str, Any] | None = None) -> None:
        """One solve with this OPF's solver settings, updated by ``extra``."""
        self.problem.solve(solver=self.solver, warm_start=True,
                           **{**self.solver_options, **(extra or {})})

    def _retry_inaccurate(self, retry: dict[str, Any]) -> None:
        """After a stop at reduced accuracy: solve once more with ``retry``'s settings; if that
        fails outright (it can, where the first settings got an approximate solution), solve
        with the first settings again, which gives the approximate solution back."""
        try:
            self._solve_with(retry)
        except cp.error.SolverError:
            self._solve_with()
        else:
            if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
                self._solve_with()

    def solve(self) -> OpfResult:
        """Solve with the current parameters; never raises on solver trouble."""
        started = time.perf_counter()
        message = ""
        try:
            with warnings.catch_warnings():
                # cvxpy warns on reduced accuracy; the result's message says so instead
                warnings.simplefilter("ignore", UserWarning)
                retry = RETRY_OPTIONS.get(self.solver)
                try:
                    self._solve_with()
                except cp.error.SolverError:
                    if retry is None:
                        raise
                    self._solve_with(retry)
                else:
                    if self.problem.status == cp.OPTIMAL_INACCURATE and retry is not None:
                        self._retry_inaccurate(retry)
            status = _STATUS.get(self.problem.status, OpfStatus.SOLVER_ERROR)
            if self.problem.status not in _STATUS:
                message = f"solver status {self.problem.status}"
            if self.problem.status == cp.OPTIMAL_INACCURATE:
                status = OpfStatus.OPTIMAL
                message = ("the solver stopped at reduced accuracy (cvxpy status "
                           "optimal_inaccurate); check the relaxation gap and AC power flow")
        except cp.error.SolverError as error:
            status = OpfStatus.SOLVER_ERROR
            message = describe_solver_error(error)
        solver_seconds = float(self.problem.solver_stats.solve_time or 0.0) \
            if self.problem.solver_stats is not None else 0.0
        if not status.has_solution:
            report = self._explain() if status is OpfStatus.INFEASIBLE else None
            return OpfResult(
                status=status, objective=float("nan"), cost_breakdown={}, feeders=(),
                seconds=time.perf_counter() - started, solver_seconds=solver_seconds,
                message=report.message if report is not None
                else message or f"the OPF is {status}",
                notes=tuple(self._price_notes.values()), infeasibility=report,
            )
        result = self._read(status, message)
        seconds = time.perf_counter() - started
        return OpfResult(**{**result.__dict__, "seconds": seconds,
                            "solver_seconds": solver_seconds})

    @property
    def elastic(self) -> ElasticOpf | None:
        """The elastic twin of this OPF, once an infeasible solve (or :meth:`explain`) built
        it; None before."""
        return self._elastic

    def explain(self) -> InfeasibilityReport:
        """The elastic re-solve at the current Parameters (:mod:`ptn.engines.power.infeasibility`:
        the limits that cannot be met, where, when and by how much); its model is built on the
        first call and re-solved on later ones."""
        if self._elastic is None:
            self._elastic = ElasticOpf(self.case, self.charging_mode, self._circle_sides,
                                       solver=self.solver, solver_options=self.solver_options)
        return self._elastic.explain(self._model)

    def _explain(self) -> InfeasibilityReport | None:
        return self.explain() if self.explain_infeasibility else None

    def _read(self, status: OpfStatus, message: str) -> OpfResult:
        return read_result(self._model, self.case, status, message,
                           exactness_tolerance_mw=self.exactness_tolerance_mw,
                           coupling_constant_usd=self._coupling_constant_usd,
                           lossless=self.formulation == "lindistflow",
                           notes=tuple(self._price_notes.values()))
