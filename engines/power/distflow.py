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
price and penalty terms ``Σ Δt·π·P^cs + (ρ/2)·Σ (P^cs − z)²``.

Prices, loads, charging loads, ADMM targets and penalties are cvxpy Parameters under DPP, so a
re-solve only refreshes the solver's data (no re-canonicalization). DLMPs are the duals of the
active power balances, scaled to $/MWh.

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
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase, validate_case
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.result import FeederDispatch, OpfResult, OpfStatus, RelaxationGap

FloatArray = NDArray[np.float64]

#: the resistance-weighted relaxation gap (MW of fictitious losses) above which a solution is
#: reported ``inexact``
DEFAULT_EXACTNESS_TOLERANCE_MW = 1e-5

ChargingMode = Literal["fixed", "priced"]
Formulation = Literal["soc", "lindistflow"]

#: Branches of near-zero resistance (MATPOWER's case69 and case141 have bus ties of 3e-5 and
#: 6e-6 p.u.) carry almost no loss cost, so an interior-point solver leaves their cones loose
#: (raw gap ~1e-5 on case69 at default tolerances) although the fictitious loss is ~1e-9 MW.
#: Their currents are charged as if their resistance were ``WEAK_BRANCH_RESISTANCE_PU`` at
#: ``WEAK_BRANCH_LOSS_PRICE_PER_MWH``; this term is kept out of the reported objective and cost
#: breakdown (``extra["weak_branch_regularization"]``). Measured on case69 × 24 with DER: raw
#: gap 9.9e-6 → 1.3e-8, true cost changed by 8e-7 relative. Branches above the floor (all of
#: case33bw) are untouched.
WEAK_BRANCH_RESISTANCE_PU = 1e-3
WEAK_BRANCH_LOSS_PRICE_PER_MWH = 100.0

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

#: Settings tried once more when a solve fails outright. Without iterative refinement Clarabel
#: occasionally ends in "NumericalError" on a priced OPF in the middle of an ADMM negotiation
#: (measured: seed 000's profit sharing, case33bw × 24 with charging at buses 6, 24 and 29,
#: round 3); the same problem solves with refinement on, at 1.5x the time of one solve.
RETRY_OPTIONS: dict[str, dict[str, Any]] = {"CLARABEL": {"iterative_refinement_enable": True}}

_STATUS = {
    cp.OPTIMAL: OpfStatus.OPTIMAL,
    cp.INFEASIBLE: OpfStatus.INFEASIBLE,
    cp.INFEASIBLE_INACCURATE: OpfStatus.INFEASIBLE,
    cp.UNBOUNDED: OpfStatus.UNBOUNDED,
    cp.UNBOUNDED_INACCURATE: OpfStatus.UNBOUNDED,
}


@dataclass
class _FeederBlock:
    """cvxpy variables, parameters and constraints of one feeder."""

    feeder: Feeder
    P: cp.Variable
    Q: cp.Variable
    L: cp.Variable | None  # None in the lossless LinDistFlow formulation
    v: cp.Variable
    slack_p: cp.Variable
    slack_q: cp.Variable
    to_bus: sp.csr_matrix
    from_bus: sp.csr_matrix
    price: cp.Parameter
    p_balance: cp.Constraint
    q_balance: cp.Constraint


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


def _polygon(
    p: cp.Expression, q: cp.Expression, limit: FloatArray, sides: int
) -> list[cp.Constraint]:
    """``p² + q² ≤ limit²`` row-wise as the inscribed regular ``sides``-gon.

    The facets of :func:`ptn.engines.power.lindistflow._circle`: normals at angles
    ``(2k + 1)·π/sides``, apothem ``limit·cos(π/sides)``; ``limit`` has one value per row of
    ``p`` and ``q`` (``[item, period]``).
    """
    apothem = (limit * np.cos(np.pi / sides))[:, None]
    angles = (2 * np.arange(sides) + 1) * np.pi / sides
    return [float(np.cos(a)) * p + float(np.sin(a)) * q <= apothem for a in angles]


def _incidence(rows: int, positions: NDArray[np.int64]) -> sp.csr_matrix:
    """``rows × len(positions)`` 0/1 matrix with a 1 at (positions[k], k)."""
    cols = np.arange(positions.size)
    return sp.csr_matrix((np.ones(positions.size), (positions, cols)), shape=(rows, positions.size))


class DistFlowOpf:
    """A DSO's multi-period DistFlow-SOC OPF over one or several feeders, built once.

    ``charging="fixed"``: EV charging loads are inputs (MW per charging point and period).
    ``charging="priced"``: they are decisions in ``[0, max_mw]`` with a linear price and a
    quadratic penalty, the DSO's local problem in ADMM. ``formulation="lindistflow"``: the
    lossless LinDistFlow equations of :mod:`ptn.engines.power.lindistflow` instead of the SOC
    relaxation (see the module doc).
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
        self._circle_sides = 0
        if formulation == "lindistflow":
            # imported here: the Pyomo module costs ~0.3 s to import and the SOC path needs none
            from ptn.engines.power.lindistflow import DEFAULT_CIRCLE_SIDES

            self._circle_sides = DEFAULT_CIRCLE_SIDES
        self.solver = solver
        self.solver_options = dict(DEFAULT_SOLVER_OPTIONS.get(solver, {}))
        self.solver_options.update(solver_options or {})
        self.exactness_tolerance_mw = exactness_tolerance_mw
        started = time.perf_counter()
        self._build()
        self.build_seconds = time.perf_counter() - started

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        case = self.case
        T = case.periods
        dt = case.period_hours
        self._blocks: list[_FeederBlock] = []
        constraints: list[cp.Constraint] = []
        cost_terms: dict[str, cp.Expression] = {}
        injections_p: list[list[cp.Expression]] = [[] for _ in case.feeders]
        injections_q: list[list[cp.Expression]] = [[] for _ in case.feeders]

        def bus_map(devices: tuple[Any, ...], kind: str) -> list[sp.csr_matrix]:
            """Per feeder, the bus × device incidence of the devices on that feeder."""
            positions = [case.locate(d.feeder, d.bus, f"{kind} {d.name!r}") for d in devices]
            maps = []
            for f, feeder in enumerate(case.feeders):
                matrix = sp.lil_matrix((feeder.num_buses, len(devices)))
                for k, (fp, bp) in enumerate(positions):
                    if fp == f:
                        matrix[bp, k] = 1.0
                maps.append(matrix.tocsr())
            return maps

        # --- micro-turbines (MW variables; converted to p.u. in the balance)
        mts = case.micro_turbines
        self._mt_p = cp.Variable((len(mts), T)) if mts else None
        self._mt_q = cp.Variable((len(mts), T)) if mts else None
        if mts and self._mt_p is not None and self._mt_q is not None:
            p_min = np.array([g.p_min_mw for g in mts])[:, None]
            p_max = np.array([g.p_max_mw for g in mts])[:, None]
            q_min = np.array([g.q_min_mvar for g in mts])[:, None]
            q_max = np.array([g.q_max_mvar for g in mts])[:, None]
            constraints += [self._mt_p >= p_min, self._mt_p <= p_max,
                            self._mt_q >= q_min, self._mt_q <= q_max]
            ramp = np.array([g.ramp_mw_per_h for g in mts])
            ramped = np.isfinite(ramp)
            if T > 1 and ramped.any():
                idx = np.flatnonzero(ramped)
                step = self._mt_p[idx, 1:] - self._mt_p[idx, :-1]
                limit = (ramp[idx] * dt)[:, None]
                constraints += [step <= limit, step >= -limit]
            a = np.array([g.cost_quadratic_per_mw2h for g in mts])
            b = np.array([g.cost_linear_per_mwh for g in mts])
            cost_terms["generation"] = dt * (
                cp.sum(cp.multiply(a[:, None], cp.square(self._mt_p))) + cp.sum(b @ self._mt_p)
            )
            for f, matrix in enumerate(bus_map(mts, "micro_turbine")):
                if matrix.nnz:
                    injections_p[f].append(matrix @ self._mt_p)
                    injections_q[f].append(matrix @ self._mt_q)

        # --- storage
        sts = case.storage
        self._st_ch = cp.Variable((len(sts), T), nonneg=True) if sts else None
        self._st_dis = cp.Variable((len(sts), T), nonneg=True) if sts else None
        self._st_soc = cp.Variable((len(sts), T + 1)) if sts else None
        if sts and self._st_ch is not None and self._st_dis is not None \
                and self._st_soc is not None:
            energy = np.array([s.energy_mwh for s in sts])[:, None]
            eta_c = np.array([s.charge_efficiency for s in sts])[:, None]
            eta_d = np.array([s.discharge_efficiency for s in sts])[:, None]
            constraints += [
                self._st_ch <= np.array([s.charge_max_mw for s in sts])[:, None],
                self._st_dis <= np.array([s.discharge_max_mw for s in sts])[:, None],
                self._st_soc >= np.array([s.soc_min for s in sts])[:, None],
                self._st_soc <= np.array([s.soc_max for s in sts])[:, None],
                self._st_soc[:, 0] == np.array([s.soc_initial for s in sts]),
                self._st_soc[:, T] == np.array([s.soc_initial for s in sts]),
                self._st_soc[:, 1:] == self._st_soc[:, :-1] + cp.multiply(
                    dt / energy,
                    cp.multiply(eta_c, self._st_ch) - cp.multiply(1.0 / eta_d, self._st_dis),
                ),
            ]
            for f, matrix in enumerate(bus_map(sts, "storage")):
                if matrix.nnz:
                    injections_p[f].append(matrix @ (self._st_dis - self._st_ch))

        # --- renewables
        res = case.renewables
        self._re_p = cp.Variable((len(res), T), nonneg=True) if res else None
        self._re_q = cp.Variable((len(res), T)) if res else None
        if res and self._re_p is not None and self._re_q is not None:
            available = np.array([u.available_mw() for u in res])
            limit = np.array([u.apparent_limit_mva for u in res])
            curtailable = np.array([u.curtailable for u in res])
            if curtailable.all():
                constraints.append(self._re_p <= available)
            else:
                fixed = np.flatnonzero(~curtailable)
                free = np.flatnonzero(curtailable)
                constraints.append(self._re_p[fixed, :] == available[fixed])
                if free.size:
                    constraints.append(self._re_p[free, :] <= available[free])
            support = np.array([u.reactive_support for u in res])
            if (~support).any():
                constraints.append(self._re_q[np.flatnonzero(~support), :] == 0)
            if self._circle_sides:
                constraints += _polygon(self._re_p, self._re_q, limit, self._circle_sides)
            else:
                constraints.append(cp.SOC(
                    cp.vec(np.repeat(limit[:, None], T, axis=1), order="F"),
                    cp.vstack([cp.vec(self._re_p, order="F"), cp.vec(self._re_q, order="F")]),
                    axis=0,
                ))
            for f, matrix in enumerate(bus_map(res, "renewable")):
                if matrix.nnz:
                    injections_p[f].append(matrix @ self._re_p)
                    injections_q[f].append(matrix @ self._re_q)

        # --- demand response: up/down shifts (MW) bounded by a fraction of the bus load
        drs = case.demand_response
        self._dr_up = cp.Variable((len(drs), T), nonneg=True) if drs else None
        self._dr_down = cp.Variable((len(drs), T), nonneg=True) if drs else None
        self._dr_limit = cp.Parameter((len(drs), T), nonneg=True) if drs else None
        if drs and self._dr_up is not None and self._dr_down is not None \
                and self._dr_limit is not None:
            constraints += [
                self._dr_up <= self._dr_limit,
                self._dr_down <= self._dr_limit,
                cp.sum(self._dr_up - self._dr_down, axis=1) == 0,
            ]
            incentive = np.array([d.incentive_per_mwh for d in drs])
            cost_terms["demand_response"] = dt * cp.sum(incentive @ self._dr_down)
            _, self._dr_power_factor_ratio = case.demand_response_base_mw()
            shift = self._dr_down - self._dr_up
            for f, matrix in enumerate(bus_map(drs, "demand_response")):
                if matrix.nnz:
                    injections_p[f].append(matrix @ shift)
                    injections_q[f].append(
                        matrix @ cp.multiply(self._dr_power_factor_ratio[:, None], shift)
                    )

        # --- EV charging points
        cps = case.charging_points
        C = len(cps)
        self._charging_positions = [case.locate(c.feeder, c.bus, c.name) for c in cps]
        self._cp_fixed = cp.Parameter((C, T), nonneg=True) if C else None
        self._cp_var = cp.Variable((C, T), nonneg=True) if C and self.charging_mode == "priced" \
            else None
        self._cp_price = cp.Parameter((C, T)) if self._cp_var is not None else None
        self._cp_penalty_half = cp.Parameter(nonneg=True) if self._cp_var is not None else None
        charging_mw: cp.Expression | None = None
        if C:
            if self._cp_var is not None and self._cp_price is not None \
                    and self._cp_penalty_half is not None:
                charging_mw = self._cp_var
                max_mw = np.array([c.max_mw for c in cps])
                if np.isfinite(max_mw).any():
                    idx = np.flatnonzero(np.isfinite(max_mw))
                    constraints.append(self._cp_var[idx, :] <= max_mw[idx][:, None])
                cost_terms["charging_coupling"] = (
                    dt * cp.sum(cp.multiply(self._cp_price, self._cp_var))
                    + self._cp_penalty_half * cp.sum_squares(self._cp_var)
                )
            else:
                charging_mw = self._cp_fixed
            for f, matrix in enumerate(bus_map(cps, "charging_point")):
                if matrix.nnz:
                    injections_p[f].append(-(matrix @ charging_mw))
        self._charging_mw = charging_mw

        # --- feeders
        self._load_profile = cp.Parameter(T, nonneg=True, name="load_profile")
        upstream = []
        losses = []
        regularization: list[cp.Expression] = []
        for f, feeder in enumerate(case.feeders):
            block, feeder_constraints = self._build_feeder(
                feeder, injections_p[f], injections_q[f]
            )
            self._blocks.append(block)
            constraints += feeder_constraints
            cost = feeder.upstream_cost
            base = feeder.base_mva
            slack_mw = block.slack_p * base
            upstream.append(dt * (block.price @ slack_mw))
            if cost.quadratic_per_mw2h:
                upstream.append(dt * cost.quadratic_per_mw2h * cp.sum_squares(slack_mw))
            if block.L is None:  # LinDistFlow: no losses, nothing to price or regularize
                continue
            if case.loss_price_per_mwh:
                losses.append(dt * case.loss_price_per_mwh * base
                              * cp.sum(feeder.r_pu @ block.L))
            weak_weight = np.maximum(WEAK_BRANCH_RESISTANCE_PU - feeder.r_pu, 0.0)
            if weak_weight.any():
                regularization.append(
                    dt * WEAK_BRANCH_LOSS_PRICE_PER_MWH * base * cp.sum(weak_weight @ block.L)
                )
        cost_terms["upstream_energy"] = cp.sum(cp.hstack(upstream))
        if losses:
            cost_terms["losses"] = cp.sum(cp.hstack(losses))
        self._cost_terms = cost_terms
        self._constant_cost = sum(
            f.upstream_cost.constant_per_h * T * dt for f in case.feeders
        )
        self._regularization = cp.sum(cp.hstack(regularization)) if regularization else None
        objective = cp.Minimize(sum(
            [*cost_terms.values(), *([self._regularization] if regularization else [])],
            start=cp.Constant(0.0),
        ))
        self.problem = cp.Problem(objective, constraints)
        if not self.problem.is_dcp(dpp=True):  # pragma: no cover - a formulation bug
            raise RuntimeError("the DistFlow model is not DPP")
        self._set_defaults()
        # canonicalize now (cvxpy caches the parametrized program), so that build_seconds is
        # the whole one-off cost and every solve() only refreshes the solver's data
        self.problem.get_problem_data(self.solver)

    def _build_feeder(
        self,
        feeder: Feeder,
        injections_p: list[cp.Expression],
        injections_q: list[cp.Expression],
    ) -> tuple[_FeederBlock, list[cp.Constraint]]:
        T = self.case.periods
        n, m = feeder.num_buses, feeder.num_branches
        base = feeder.base_mva
        A_to = _incidence(n, feeder.branch_to)
        A_from = _incidence(n, feeder.branch_from)
        slack = _incidence(n, np.array([feeder.slack_bus]))
        r = feeder.r_pu[:, None]
        x = feeder.x_pu[:, None]
        P = cp.Variable((m, T), name=f"{feeder.name}.P")
        Q = cp.Variable((m, T), name=f"{feeder.name}.Q")
        # ℓ ≥ 0 follows from the cone (ℓ + v ≥ |ℓ − v|), so no bound rows are added; the
        # lossless LinDistFlow formulation has no ℓ at all
        L = None if self.formulation == "lindistflow" \
            else cp.Variable((m, T), name=f"{feeder.name}.l")
        v = cp.Variable((n, T), name=f"{feeder.name}.v")
        slack_p = cp.Variable(T, name=f"{feeder.name}.P0")
        slack_q = cp.Variable(T, name=f"{feeder.name}.Q0")
        # base loads (constants) times the load profile (a Parameter of T values): a
        # parameter per bus and period would make cvxpy's DPP compilation scale with n·T
        # (51 s for case141 × 96) for no gain
        profile = cp.reshape(self._load_profile, (1, T), order="F")
        load_p = (feeder.load_p_mw / base)[:, None] @ profile
        load_q = (feeder.load_q_mvar / base)[:, None] @ profile
        price = cp.Parameter(T, name=f"{feeder.name}.price")

        inj_p = slack @ cp.reshape(slack_p, (1, T), order="F")
        inj_q = slack @ cp.reshape(slack_q, (1, T), order="F")
        for term in injections_p:
            inj_p = inj_p + term / base
        for term in injections_q:
            inj_q = inj_q + term / base
        v_from = A_from.T @ v
        v_to = A_to.T @ v
        constraints: list[cp.Constraint]
        if L is None:
            # LinDistFlow: the branch flow model with every ℓ term dropped, and no cone
            p_balance = A_to @ P - A_from @ P + inj_p == load_p
            q_balance = A_to @ Q - A_from @ Q + inj_q == load_q
            constraints = [
                p_balance,
                q_balance,
                v_to == v_from - 2 * (cp.multiply(r, P) + cp.multiply(x, Q)),
                v[feeder.slack_bus, :] == feeder.slack_voltage_pu**2,
            ]
        else:
            p_balance = A_to @ (P - cp.multiply(r, L)) - A_from @ P + inj_p == load_p
            q_balance = A_to @ (Q - cp.multiply(x, L)) - A_from @ Q + inj_q == load_q
            constraints = [
                p_balance,
                q_balance,
                v_to == v_from - 2 * (cp.multiply(r, P) + cp.multiply(x, Q))
                + cp.multiply(r**2 + x**2, L),
                v[feeder.slack_bus, :] == feeder.slack_voltage_pu**2,
                cp.SOC(
                    cp.vec(L + v_from, order="F"),
                    cp.vstack([
                        cp.vec(2 * P, order="F"),
                        cp.vec(2 * Q, order="F"),
                        cp.vec(L - v_from, order="F"),
                    ]),
                    axis=0,
                ),
            ]
        others = np.setdiff1d(np.arange(n), [feeder.slack_bus])
        constraints += [
            v[others, :] >= (feeder.v_min_pu[others] ** 2)[:, None],
            v[others, :] <= (feeder.v_max_pu[others] ** 2)[:, None],
        ]
        rated = np.flatnonzero(np.isfinite(feeder.branch_rating_mva))
        if rated.size and L is None:
            # no ℓ to bound: LinDistFlow's polygon on the sending-end (P, Q)
            constraints += _polygon(P[rated, :], Q[rated, :],
                                    feeder.branch_rating_mva[rated] / base, self._circle_sides)
        elif rated.size and L is not None:
            limit = (feeder.branch_rating_mva[rated] / base) ** 2
            constraints.append(L[rated, :] <= limit[:, None])
        for bound, sense in (
            (feeder.upstream_p_min_mw, "min_p"),
            (feeder.upstream_p_max_mw, "max_p"),
            (feeder.upstream_q_min_mvar, "min_q"),
            (feeder.upstream_q_max_mvar, "max_q"),
        ):
            if np.isfinite(bound):
                variable = slack_p if sense.endswith("p") else slack_q
                lower = sense.startswith("min")
                constraints.append(variable >= bound / base if lower else variable <= bound / base)
        block = _FeederBlock(feeder, P, Q, L, v, slack_p, slack_q, A_to, A_from, price,
                             p_balance, q_balance)
        return block, constraints

    def _set_defaults(self) -> None:
        case = self.case
        T = case.periods
        self._load_profile.value = np.asarray(case.load_profile, dtype=np.float64)
        for block in self._blocks:
            feeder = block.feeder
            if case.upstream_price_per_mwh is not None:
                block.price.value = np.asarray(case.upstream_price_per_mwh, dtype=np.float64)
            else:
                block.price.value = np.full(T, feeder.upstream_cost.linear_per_mwh)
        if self._dr_limit is not None:
            self._dr_limit.value = case.demand_response_limits_mw()
        if self._cp_fixed is not None:
            self._cp_fixed.value = np.zeros(self._cp_fixed.shape)
        if self._cp_price is not None and self._cp_penalty_half is not None:
            self._cp_price.value = np.zeros(self._cp_price.shape)
            self._cp_penalty_half.value = 0.0
        self._admm_constant = 0.0

    # ------------------------------------------------------------------ embed
    def embedding(self) -> OpfEmbedding:
        """The OPF's cost, constraints and charging decisions, for a joint model to embed.

        Needs ``charging="priced"``. The ADMM price and penalty Parameters are set to zero
        first (:meth:`set_charging_terms`), and the coupling term is left out of the costs, so
        the embedded cost is the DSO's own; the parts share this OPF's variables and Parameters.
        """
        if self._cp_var is None:
            raise InvalidInputError(
                "an OPF embedding needs charging='priced' and at least one charging point"
            )
        self.set_charging_terms(np.zeros((len(self.case.charging_points), self.case.periods)))
        reported = sum(
            (term for name, term in self._cost_terms.items() if name != "charging_coupling"),
            start=cp.Constant(float(self._constant_cost)),
        )
        solved = reported if self._regularization is None else reported + self._regularization
        return OpfEmbedding(
            cost_usd=solved,
            reported_cost_usd=reported,
            constraints=tuple(self.problem.constraints),
            charging_mw=self._cp_var,
            read_result=lambda: self._collect(OpfStatus.OPTIMAL, ""),
        )

    # ------------------------------------------------------------------ update
    @property
    def charging_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.case.charging_points)

    def upstream_price_per_mwh(self, feeder_position: int = 0) -> FloatArray:
        """The upstream price per period currently set for a feeder ($/MWh)."""
        return np.asarray(self._blocks[feeder_position].price.value, dtype=np.float64).copy()

    def set_upstream_price(self, price_per_mwh: FloatArray, feeder: str | None = None) -> None:
        """Upstream energy price per period ($/MWh), for every feeder or the one named."""
        price = np.asarray(price_per_mwh, dtype=np.float64)
        if price.shape != (self.case.periods,) or not np.isfinite(price).all():
            raise InvalidInputError(
                f"upstream price needs {self.case.periods} finite values, got shape {price.shape}"
            )
        for block in self._blocks:
            if feeder is None or block.feeder.name == feeder:
                block.price.value = price

    def set_charging_load(self, charging_mw: FloatArray) -> None:
        """EV charging load per charging point and period (MW), ``[point, period]``."""
        if self._cp_fixed is None:
            raise InvalidInputError("the case has no charging points")
        if self.charging_mode != "fixed":
            raise InvalidInputError("charging loads are decisions in 'priced' mode; set prices")
        load = self._check_charging_array(charging_mw, "charging load")
        if (load < 0).any():
            point, period = np.argwhere(load < 0)[0]
            raise InvalidInputError(
                f"charging load at {self.charging_names[point]} in period {period} is negative"
            )
        limit = np.array([c.max_mw for c in self.case.charging_points])
        over = np.argwhere(load > limit[:, None] + 1e-9)
        if over.size:
            point, period = over[0]
            raise InvalidInputError(
                f"charging load {load[point, period]} MW at {self.charging_names[point]} in "
                f"period {period} exceeds its max_mw {limit[point]}"
            )
        self._cp_fixed.value = load

    def set_charging_terms(
        self,
        price_per_mwh: FloatArray,
        penalty_per_mw2: float = 0.0,
        target_mw: FloatArray | None = None,
    ) -> None:
        """Price and proximal terms on the charging decisions (``priced`` mode).

        Adds ``Σ Δt·π·P + (ρ/2)·Σ (P − z)²`` to the objective: the DSO's ADMM local problem with
        ``π`` the scaled dual and ``z`` the consensus target (ρ in $/MW²).
        """
        if self._cp_price is None or self._cp_penalty_half is None:
            raise InvalidInputError("charging terms need charging='priced' and charging points")
        price = self._check_charging_array(price_per_mwh, "charging price")
        if not (np.isfinite(penalty_per_mw2) and penalty_per_mw2 >= 0):
            raise InvalidInputError(f"ADMM penalty must be >= 0, got {penalty_per_mw2}")
        target = np.zeros(price.shape) if target_mw is None \
            else self._check_charging_array(target_mw, "ADMM target")
        dt = self.case.period_hours
        # (ρ/2)(P − z)² = (ρ/2)P² − ρ·z·P + (ρ/2)z²; the last term is a constant kept aside
        self._cp_price.value = price - penalty_per_mw2 * target / dt
        self._cp_penalty_half.value = 0.5 * penalty_per_mw2
        self._admm_constant = 0.5 * penalty_per_mw2 * float(np.sum(target**2))

    def set_load_profile(self, load_profile: FloatArray) -> None:
        """Scale every feeder's base loads by ``load_profile[t]`` (demand response limits too)."""
        profile = np.asarray(load_profile, dtype=np.float64)
        if profile.shape != (self.case.periods,) or not np.isfinite(profile).all() \
                or (profile < 0).any():
            raise InvalidInputError(
                f"load profile needs {self.case.periods} finite, non-negative values"
            )
        self.case = replace(self.case, load_profile=profile)
        self._load_profile.value = profile
        if self._dr_limit is not None:
            self._dr_limit.value = self.case.demand_response_limits_mw()

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
    def solve(self) -> OpfResult:
        """Solve with the current parameters; never raises on solver trouble."""
        started = time.perf_counter()
        message = ""
        try:
            with warnings.catch_warnings():
                # cvxpy warns on reduced accuracy; the result's message says so instead
                warnings.simplefilter("ignore", UserWarning)
                try:
                    self.problem.solve(solver=self.solver, warm_start=True,
                                       **self.solver_options)
                except cp.error.SolverError:
                    retry = RETRY_OPTIONS.get(self.solver)
                    if retry is None:
                        raise
                    self.problem.solve(solver=self.solver, warm_start=True,
                                       **{**self.solver_options, **retry})
            status = _STATUS.get(self.problem.status, OpfStatus.SOLVER_ERROR)
            if self.problem.status not in _STATUS:
                message = f"solver status {self.problem.status}"
            if self.problem.status == cp.OPTIMAL_INACCURATE:
                status = OpfStatus.OPTIMAL
                message = ("the solver stopped at reduced accuracy (cvxpy status "
                           "optimal_inaccurate); check the relaxation gap and AC power flow")
        except cp.error.SolverError as error:
            status = OpfStatus.SOLVER_ERROR
            message = str(error)
        solver_seconds = float(self.problem.solver_stats.solve_time or 0.0) \
            if self.problem.solver_stats is not None else 0.0
        if not status.has_solution:
            return OpfResult(
                status=status, objective=float("nan"), cost_breakdown={}, feeders=(),
                seconds=time.perf_counter() - started, solver_seconds=solver_seconds,
                message=message or f"the OPF is {status}",
            )
        result = self._collect(status, message)
        seconds = time.perf_counter() - started
        return OpfResult(**{**result.__dict__, "seconds": seconds,
                            "solver_seconds": solver_seconds})

    def _collect(self, status: OpfStatus, message: str) -> OpfResult:
        case = self.case
        dt = case.period_hours
        feeders = []
        for block in self._blocks:
            feeders.append(self._feeder_dispatch(block, dt))
        if status == OpfStatus.OPTIMAL and any(
            f.relaxation.weighted_mw > self.exactness_tolerance_mw for f in feeders
        ):
            status = OpfStatus.INEXACT
            worst = max(feeders, key=lambda f: f.relaxation.weighted_mw)
            message = (
                f"the SOC relaxation is inexact: {worst.relaxation.weighted_mw:.3g} MW of "
                f"fictitious losses on branch {worst.relaxation.worst_branch} of feeder "
                f"{worst.name} in period {worst.relaxation.worst_period} (negative prices "
                "reward losses); check and recover with "
                "ptn.engines.power.exactness.check_with_ac_power_flow"
            )
        breakdown = {name: float(term.value) for name, term in self._cost_terms.items()}
        if "charging_coupling" in breakdown:
            breakdown["charging_coupling"] += self._admm_constant
        if self._constant_cost:
            breakdown["upstream_fixed"] = float(self._constant_cost)
        objective = float(sum(breakdown.values()))

        def rows(variable: cp.Variable | None, devices: tuple[Any, ...]) -> dict[str, FloatArray]:
            if variable is None:
                return {}
            values = np.asarray(variable.value, dtype=np.float64)
            return {d.name: values[k].copy() for k, d in enumerate(devices)}

        charging: dict[str, FloatArray] = {}
        charging_dlmp: dict[str, FloatArray] = {}
        if self._charging_mw is not None:
            values = np.asarray(self._charging_mw.value, dtype=np.float64)
            for k, (point, (fp, bp)) in enumerate(
                zip(case.charging_points, self._charging_positions, strict=True)
            ):
                charging[point.name] = values[k].copy()
                charging_dlmp[point.name] = feeders[fp].dlmp_per_mwh[bp].copy()
        renewable_p = rows(self._re_p, case.renewables)
        curtailed = {u.name: u.available_mw() - renewable_p[u.name] for u in case.renewables}
        shift: dict[str, FloatArray] = {}
        if self._dr_up is not None and self._dr_down is not None:
            up = np.asarray(self._dr_up.value)
            down = np.asarray(self._dr_down.value)
            shift = {d.name: (up[k] - down[k]).copy() for k, d in enumerate(case.demand_response)}
        extra: dict[str, Any] = {}
        if self._regularization is not None:
            extra["weak_branch_regularization"] = float(self._regularization.value)
        if self.formulation == "lindistflow":
            extra["formulation"] = "lindistflow"
        return OpfResult(
            status=status,
            objective=objective,
            cost_breakdown=breakdown,
            feeders=tuple(feeders),
            micro_turbine_p_mw=rows(self._mt_p, case.micro_turbines),
            micro_turbine_q_mvar=rows(self._mt_q, case.micro_turbines),
            storage_charge_mw=rows(self._st_ch, case.storage),
            storage_discharge_mw=rows(self._st_dis, case.storage),
            storage_soc=rows(self._st_soc, case.storage),
            renewable_p_mw=renewable_p,
            renewable_q_mvar=rows(self._re_q, case.renewables),
            renewable_curtailed_mw=curtailed,
            demand_response_shift_mw=shift,
            charging_mw=charging,
            charging_dlmp_per_mwh=charging_dlmp,
            period_hours=dt,
            message=message,
            extra=extra,
        )

    def _feeder_dispatch(self, block: _FeederBlock, dt: float) -> FeederDispatch:
        feeder = block.feeder
        base = feeder.base_mva
        P = np.asarray(block.P.value)
        Q = np.asarray(block.Q.value)
        v = np.asarray(block.v.value)
        v_from = v[feeder.branch_from]
        if block.L is None:
            # LinDistFlow: no relaxation (gap zero, as ptn.engines.power.lindistflow reports it);
            # the current is the one the lossless flows imply at the solved voltages, and the
            # balances hold without loss terms
            L = (P**2 + Q**2) / np.maximum(v_from, 1e-9)
            L_balance = np.zeros_like(L)
            losses = np.zeros_like(L)
            relaxation = RelaxationGap(0.0, 0.0, feeder.branch_ids[0], 0)
        else:
            L = np.asarray(block.L.value)
            L_balance = L
            losses = feeder.r_pu[:, None] * L * base
            raw = np.abs(L * v_from - P**2 - Q**2)
            current_gap = np.abs(L - (P**2 + Q**2) / v_from)
            fictitious = feeder.r_pu[:, None] * current_gap * base
            worst_branch, worst_period = np.unravel_index(int(np.argmax(fictitious)),
                                                          fictitious.shape)
            relaxation = RelaxationGap(
                raw_pu2=float(raw.max()),
                weighted_mw=float(fictitious.max()),
                worst_branch=feeder.branch_ids[int(worst_branch)],
                worst_period=int(worst_period),
                current_gap_pu2=current_gap,
            )
        # cvxpy's dual of ``expr == load`` is minus the derivative of the optimal cost with
        # respect to the load; the balance is per unit per period, so scale to $/MWh
        dual_p = np.asarray(block.p_balance.dual_value, dtype=np.float64)
        dual_q = np.asarray(block.q_balance.dual_value, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            loading = np.where(
                np.isfinite(feeder.branch_rating_mva)[:, None],
                100.0 * np.sqrt(np.maximum(L, 0.0))
                / (feeder.branch_rating_mva / base)[:, None],
                np.nan,
            )
        slack_p = np.asarray(block.slack_p.value) * base
        slack_q = np.asarray(block.slack_q.value) * base
        return FeederDispatch(
            name=feeder.name,
            bus_ids=feeder.bus_ids,
            branch_ids=feeder.branch_ids,
            voltage_pu=np.sqrt(np.maximum(v, 0.0)),
            dlmp_per_mwh=-dual_p / (base * dt),
            reactive_price_per_mvarh=-dual_q / (base * dt),
            branch_p_mw=P * base,
            branch_q_mvar=Q * base,
            branch_current_pu2=L,
            branch_loss_mw=losses,
            branch_loading_percent=loading,
            slack_p_mw=slack_p,
            slack_q_mvar=slack_q,
            net_load_p_mw=_net_load(block, P, L_balance, feeder.r_pu),
            net_load_q_mvar=_net_load(block, Q, L_balance, feeder.x_pu),
            relaxation=relaxation,
        )


def _net_load(
    block: _FeederBlock, flow: FloatArray, L: FloatArray, impedance: FloatArray
) -> FloatArray:
    """Net bus demand (load − DER + charging, MW or MVAr) implied by the branch flows.

    From the balance ``inflow − losses − outflow = net load``; the slack row is zero.
    """
    feeder = block.feeder
    inflow = block.to_bus @ (flow - impedance[:, None] * L)
    outflow = block.from_bus @ flow
    net = np.asarray(inflow - outflow, dtype=np.float64) * feeder.base_mva
    net[feeder.slack_bus] = 0.0
    return net
