"""The DSO's pricing problem (seed 001 eqs. 32–35) at city scale: per-feeder OPFs, response as data.

Why this module exists: :class:`ptn.engines.power.pricing.DsoPricingProblem` is one cvxpy problem
over all the DSO's feeders with the fitted response ``P_t = F_t·λ_t + P0_t`` as Parameters
(``F_t`` and its factor ``L_t``, station × station per period). cvxpy's canonicalization of a
parametrized problem holds a work array of (variables + 1) × (parameter entries + 1) entries
(:mod:`ptn.engines.power.feeder_blocks` explains): variables grow with feeders × periods and
parameter entries with stations² × periods, so 20 stations × 20 feeders needed 6.5 GB and 40 ×
20 ran out of memory (bench/dso_scaling.py).

Here the model is the same, built differently:

* each feeder's OPF is its own :class:`~ptn.engines.power.distflow.DistFlowOpf` (``priced``
  charging, coupling cleared: its objective is its cost as it minimizes it), canonicalized once
  by cvxpy (DPP; its Parameters are its own upstream price and load profile), so memory is
  linear in feeders × periods;
* at each solve, their conic data (``get_problem_data``: ``½xᵀPx + cᵀx`` over ``Ax + s = b``,
  ``s ∈ K``) are stacked block-diagonally with the prices ``λ`` appended as variables, and the
  fitted response enters as plain numbers: rows ``Σ_{k∈g} P_k,t − Σ_h F_t[g,h]·λ_h,t = P0_t[g]``
  (zero cone) tying each price group's charging columns to the prices, the quadratic
  ``Δt·λ_tᵀ(L_tᵀL_t)λ_t + ϖ‖λ − λ̂‖²`` (with ``L_tᵀL_t = −sym(F_t)``,
  :func:`ptn.engines.power.pricing.nsd_factors`) and linear ``−Δt·P0ᵀλ − 2ϖ·λ̂ᵀλ`` objective
  terms, and the bounds and mean cap as rows of the non-negative cone;
* Clarabel solves the stacked problem (the same solver and settings as the cvxpy model), and
  each feeder's slice of the solution (primal, dual, slack) is unpacked into its own cvxpy
  problem (``unpack_results``), so its dispatch, DLMPs and costs are read as any OPF's.

Maximizing ``Δt·(λᵀFλ + P0ᵀλ) − C(P) − ϖ‖λ − λ̂‖²`` is minimizing the stacked objective, so
the optimum is :class:`DsoPricingProblem`'s (tests/engines/power/test_feeder_pricing.py checks
it to solver tolerance). A feeder without charging points is a fixed-load block of the stack
with no row tying it to the prices.

Measured (bench/dso_scaling.py, IEEE 33-bus copies): the single cvxpy model needed 2.3 GB to
build at 5 feeders × 4 periods × 40 stations and passed 5.5 GB at 5 × 24 × 20; this one stays
under 1 GB up to 40 feeders × 24 periods × 100 stations (bench/results/dso_scaling.md).
Its time there is Clarabel's (95 %; 15 iterations of ~0.8 s): a fitted response is dense per
period (every station's price in every station's load) and the mean cap ties each station's
periods, so the prices form one dense front of the KKT factorization (stations × periods
wide); the feeders' own parts stay sparse. Measured on that case: without the cap rows the
solve takes 2.4 s instead of 24 s; writing the cap as a chain of running sums instead of one
row per station did not help (19 s). Exact zeros of the response are left out, so a
response without cross-slopes keeps it sparse (4 s instead of 14 s at that size).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import clarabel
import numpy as np
import scipy.sparse as sp
from cvxpy.reductions.solvers.conic_solvers.clarabel_conif import (
    CLARABEL,
    dims_to_solver_cones,
)
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import RETRY_OPTIONS, ChargingMode, DistFlowOpf
from ptn.engines.power.feeder_blocks import assemble, feeder_case
from ptn.engines.power.pricing import (
    DEFAULT_PROXIMAL_WEIGHT,
    PriceLimits,
    PricingModel,
    PricingResult,
    ResponseFit,
    checked_pricing_inputs,
    kept_previous_price,
    nsd_factors,
    priced_result,
)
from ptn.engines.power.result import OpfResult

FloatArray = NDArray[np.float64]

#: seed 001 §4.1's limits, :class:`PriceLimits`' defaults
SEED_001_LIMITS = PriceLimits()

#: Clarabel's statuses as the pricing result's
_STATUS = {
    "Solved": "optimal",
    "AlmostSolved": "inaccurate",
    "PrimalInfeasible": "infeasible",
    "AlmostPrimalInfeasible": "infeasible",
}


@dataclass(frozen=True)
class _FeederPart:
    """One feeder's OPF in the stacked model: its OPF, the case's charging points on it (case
    order) and their decisions' solver columns ``[point, period]`` (empty without points)."""

    opf: DistFlowOpf
    points: NDArray[np.int64]
    columns: NDArray[np.int64]


class FeederwisePricingProblem(PricingModel):
    """MUL-DSO with the fitted response (eqs. 32–34) over per-feeder OPFs (see the module doc).

    The interface is :class:`~ptn.engines.power.pricing.DsoPricingProblem`'s: the same
    arguments, :attr:`stations`, :attr:`groups`, :attr:`price_groups`, :meth:`solve` (a
    :class:`~ptn.engines.power.pricing.PricingResult`, with ``details["dispatch"]`` the OPF's
    result at the predicted loads) and :meth:`no_charging_cost_usd`; ``build_seconds`` is the
    feeders' canonicalization.
    """

    def __init__(
        self,
        case: DsoCase,
        limits: PriceLimits = SEED_001_LIMITS,
        *,
        proximal_weight: float = DEFAULT_PROXIMAL_WEIGHT,
        solver: str = "CLARABEL",
        solver_options: dict[str, Any] | None = None,
        price_groups: Sequence[Sequence[int]] | None = None,
    ) -> None:
        if solver != "CLARABEL":
            raise InvalidInputError(f"the feeder-wise pricing problem stacks Clarabel's data; "
                                    f"solver must be 'CLARABEL', got {solver!r}")
        super().__init__(case, limits, proximal_weight, solver, price_groups)
        started = time.perf_counter()
        names = [c.name for c in case.charging_points]
        parts = []
        for position in range(len(case.feeders)):
            single = feeder_case(case, position)
            mode: ChargingMode = "priced" if single.charging_points else "fixed"
            opf = DistFlowOpf(single, charging=mode, solver=solver,
                              solver_options=solver_options)
            points = np.array([names.index(c.name) for c in single.charging_points],
                              dtype=np.int64)
            columns = opf.charging_columns() if points.size \
                else np.zeros((0, case.periods), dtype=np.int64)
            parts.append(_FeederPart(opf, points, columns))
        self._parts = tuple(parts)
        self.solver_options = dict(parts[0].opf.solver_options)
        self._costs = tuple(part.opf.cost_expressions() for part in parts)
        self.build_seconds = time.perf_counter() - started

    @property
    def feeder_opfs(self) -> tuple[DistFlowOpf, ...]:
        """The feeders' OPFs, in case order (their Parameters, e.g. upstream prices, are this
        problem's)."""
        return tuple(part.opf for part in self._parts)

    def solve(self, fit: ResponseFit, previous_price_per_mwh: FloatArray) -> PricingResult:
        """Prices maximizing the DSO's profit on charging under the fitted response; never
        raises on solver trouble (statuses ``infeasible``/``failed`` keep the previous price)."""
        started = time.perf_counter()
        S, T = self.groups, self.case.periods
        slope, intercept, previous = checked_pricing_inputs(fit, previous_price_per_mwh, S, T)
        factors = nsd_factors(slope)
        no_charging = self.no_charging_cost_usd()
        notes = [] if fit.status == "optimal" else [f"the response fit is {fit.status}"]
        feeder_data = [part.opf.problem.get_problem_data(self.solver,
                                                         solver_opts=self.solver_options)
                       for part in self._parts]
        stacked = self._stack([data for data, _, _ in feeder_data], intercept, factors, slope,
                              previous)
        solution, solver_note = _solve_stacked(*stacked, self.solver_options)
        status = "failed" if solution is None else _STATUS.get(str(solution.status), "failed")
        if solution is not None:
            solver_note = f"solver status {solution.status}"
        if status in ("infeasible", "failed") or solution is None:
            return kept_previous_price(fit, previous, status, solver_note, notes, started)
        x = np.asarray(solution.x, dtype=np.float64)
        price = x[-S * T:].reshape(S, T)
        results = self._unpack(solution, feeder_data)
        dispatch = assemble(results, self.case, seconds=time.perf_counter() - started)
        opf_cost = float(sum(float(reported.value) for _, reported in self._costs))
        result = priced_result(fit, price, status, notes, opf_cost_usd=opf_cost,
                               dispatch=dispatch, no_charging_cost_usd=no_charging,
                               period_hours=self.case.period_hours, started=started)
        result.details["dispatch"] = dispatch
        return result

    # ------------------------------------------------------------------ the stacked model
    def _stack(self, data: list[dict[str, Any]], intercept: FloatArray, factors: FloatArray,
               slope: FloatArray, previous: FloatArray
               ) -> tuple[sp.csc_array, FloatArray, sp.csc_array, FloatArray, list[Any]]:
        """``(P, q, A, b, cones)`` of the stacked problem (see the module doc)."""
        S, T = self.groups, self.case.periods
        dt = self.case.period_hours
        weight = self.proximal_weight
        offsets = np.cumsum([0] + [int(d["c"].size) for d in data])
        n_opf = int(offsets[-1])
        n = n_opf + S * T

        def price_column(group: NDArray[np.int64], period: NDArray[np.int64]) -> Any:
            return n_opf + group * T + period

        # objective: the feeders' ½xᵀPx + cᵀx, then Δt·λ_tᵀLᵀLλ_t + ϖ‖λ − λ̂‖² − Δt·P0ᵀλ
        gram = np.einsum("tkg,tkh->tgh", factors, factors)  # L_tᵀL_t = −sym(F_t)
        t_idx, g_idx, h_idx = np.meshgrid(np.arange(T), np.arange(S), np.arange(S),
                                          indexing="ij")
        # only the response's non-zero entries (a response without cross-slopes stays sparse)
        kept = np.flatnonzero(gram.ravel())
        quad_rows = price_column(g_idx, t_idx).ravel()[kept]
        quad_cols = price_column(h_idx, t_idx).ravel()[kept]
        quad_vals = (2.0 * dt * gram).ravel()[kept]
        diagonal = price_column(np.arange(S)[:, None], np.arange(T)[None, :]).ravel()
        P_price = sp.coo_array(
            (np.concatenate([quad_vals, np.full(S * T, 2.0 * weight)]),
             (np.concatenate([quad_rows, diagonal]) - n_opf,
              np.concatenate([quad_cols, diagonal]) - n_opf)), shape=(S * T, S * T))
        P = sp.block_diag([*(sp.csc_array((d["c"].size,) * 2) if d.get("P") is None else d["P"]
                             for d in data), P_price], format="csc")
        q = np.concatenate([*(np.asarray(d["c"], dtype=np.float64) for d in data),
                            (-dt * intercept.T - 2.0 * weight * previous).ravel()])

        # rows: the feeders', then the response (zero cone), then bounds and cap (non-negative)
        rows: list[NDArray[np.int64]] = []
        cols: list[NDArray[np.int64]] = []
        vals: list[FloatArray] = []
        group_of_point = np.empty(len(self.case.charging_points), dtype=np.int64)
        for index, members in enumerate(self.price_groups):
            group_of_point[list(members)] = index
        for part, offset in zip(self._parts, offsets[:-1], strict=True):
            if part.points.size:
                point_group = np.repeat(group_of_point[part.points], T)
                period = np.tile(np.arange(T), part.points.size)
                rows.append(point_group * T + period)
                cols.append(offset + part.columns.ravel())
                vals.append(np.ones(point_group.size))
        nonzero = np.flatnonzero(slope.ravel())
        rows.append((g_idx * T + t_idx).ravel()[nonzero])
        cols.append(price_column(h_idx, t_idx).ravel()[nonzero])
        vals.append(-slope.ravel()[nonzero])  # slope[t, g, h] multiplies λ[h, t] in row (g, t)
        response = sp.coo_array((np.concatenate(vals),
                                 (np.concatenate(rows), np.concatenate(cols))),
                                shape=(S * T, n))
        identity = sp.eye_array(S * T, format="csc")
        cap = sp.kron(sp.eye_array(S), np.ones((1, T)), format="csc")
        bounds = sp.hstack([sp.csc_array((2 * S * T + S, n_opf)),
                            sp.vstack([-identity, identity, cap])])
        limits = self.limits
        feeders = sp.block_diag([d["A"] for d in data], format="csc")
        feeders = sp.hstack([feeders, sp.csc_array((feeders.shape[0], S * T))])
        A = sp.vstack([feeders, response, bounds], format="csc")
        b = np.concatenate([*(np.asarray(d["b"], dtype=np.float64) for d in data),
                            intercept.T.ravel(),
                            np.full(S * T, -limits.price_min_per_mwh),
                            np.full(S * T, limits.price_max_per_mwh),
                            np.full(S, T * limits.mean_cap_per_mwh)])
        cones = [cone for d in data for cone in dims_to_solver_cones(d["dims"])]
        cones += [clarabel.ZeroConeT(S * T), clarabel.NonnegativeConeT(2 * S * T + S)]
        return sp.triu(P, format="csc"), q, A, b, cones

    def _unpack(self, solution: Any, feeder_data: list[tuple[Any, Any, Any]]
                ) -> list[OpfResult]:
        """Each feeder's slice of the stacked solution unpacked into its own cvxpy problem, and
        read as its OPF result."""
        x = np.asarray(solution.x, dtype=np.float64)
        z = np.asarray(solution.z, dtype=np.float64)
        s = np.asarray(solution.s, dtype=np.float64)
        results = []
        column = row = 0
        for part, (data, chain, inverse) in zip(self._parts, feeder_data, strict=True):
            n, m = int(data["c"].size), int(data["b"].size)
            x_f = x[column:column + n]
            quadratic = data.get("P")
            objective = float(data["c"] @ x_f) + (
                0.0 if quadratic is None else 0.5 * float(x_f @ (quadratic @ x_f)))
            piece = SimpleNamespace(x=x_f, z=z[row:row + m], s=s[row:row + m],
                                    status=solution.status, obj_val=objective,
                                    solve_time=solution.solve_time,
                                    iterations=solution.iterations)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                part.opf.problem.unpack_results(piece, chain, inverse)
            results.append(part.opf.read_solution())
            column, row = column + n, row + m
        return results


def _solve_stacked(P: sp.csc_array, q: FloatArray, A: sp.csc_array, b: FloatArray,
                   cones: list[Any], options: dict[str, Any]) -> tuple[Any, str]:
    """Clarabel on the stacked data with the OPF's settings; once more with
    :data:`~ptn.engines.power.distflow.RETRY_OPTIONS` after a stop short of ``Solved`` (as
    :meth:`DistFlowOpf.solve` does). ``(solution or None, a note on a failure)``."""
    attempts = [options, {**options, **RETRY_OPTIONS.get("CLARABEL", {})}]
    solution: Any = None
    note = ""
    for settings in attempts:
        try:
            candidate = clarabel.DefaultSolver(P, q, A, b, cones,
                                               CLARABEL.parse_solver_opts(False, settings))
            attempt = candidate.solve()
        except Exception as error:  # Clarabel raises untyped errors on bad data
            note = f"Clarabel failed: {type(error).__name__}: {error}"
            continue
        if solution is None or str(attempt.status) == "Solved":
            solution = attempt
        if str(solution.status) in ("Solved", "PrimalInfeasible"):
            break
    return solution, note
