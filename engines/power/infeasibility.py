"""Why is an OPF infeasible? An elastic re-solve names the limits that cannot be met.

"The OPF is infeasible" tells a user nothing they can act on. This module answers with the
classic elastic programming (phase-I) construction (Chinneck, *Feasibility and Infeasibility
in Optimization*, Springer 2008, ch. 6; Brown & Graves 1975): the same model, every network
limit given a non-negative elastic slack, minimizing the slacks' weighted sum. The elastic
model is always feasible (any load can be shed, any limit widened), and its optimum spends
violation only where the data force it, so its non-zero slacks name the elements, periods and
limits that cannot be met and the least amount by which they cannot, e.g. "transformer 0
(bus 0-1) of feeder cigre_mv would be loaded 101.4 % of its 25 MVA rating in period 0".

Slacks and weights (:class:`ptn.engines.power.distflow_model.ElasticSlacks`): every violation
is weighted per unit of its own limit, as a relative violation of a magnitude, so that a 1 %
overload of a transformer, a voltage 1 % below its floor and an import 1 % above the supply
point's limit weigh the same: voltage slacks (on ``v = |V|²``) by ``1/(2·v_lim²)``, current
slacks (on ``ℓ``) by ``1/(2·ℓ_max)``, LinDistFlow's polygon slacks by ``1/S_max``, supply point
slacks by ``1/max(|limit|, peak load)``. The power balances are elastic too (unserved load,
unabsorbed injection), weighted :data:`BALANCE_WEIGHT` times more per unit of the feeder's
peak load: shedding load is the last resort, named only when no widening of limits would carry
the load (e.g. more load than any voltage can deliver). A tiny price on losses keeps the cones
tight. DER, storage and charging decisions stay within their own limits and are free in the
elastic model: what it reports cannot be met whatever they do.

The elastic model is built only after an infeasible solve, once per OPF
(:class:`ElasticOpf`), and re-solved with the OPF's current Parameters (load profile, charging
loads, demand-response limits) on later infeasible solves.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import cvxpy as cp
import numpy as np

from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow_model import (
    ChargingMode,
    DistFlowModel,
    ElasticSlacks,
    FeederBlock,
    FloatArray,
    build_distflow_model,
)
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.result import InfeasibilityReport, LimitViolation, describe_periods

__all__ = ["BALANCE_WEIGHT", "LOSS_WEIGHT", "MAX_LISTED", "REPORT_TOLERANCE", "ElasticOpf",
           "describe_solver_error", "describe_violations"]

#: weight of unserved load or unabsorbed injection per unit of the feeder's peak load, against
#: 1 per unit of relative violation of a limit: shedding 1 % of the load costs as much as a
#: 100 % violation of a limit in one place
BALANCE_WEIGHT = 100.0
#: weight of losses (per unit of the feeder's peak load) that keeps the cones tight without
#: trading against violations
LOSS_WEIGHT = 1e-4
#: relative violations (per unit of the limit) below this are the solver's tolerance, not a
#: violation
REPORT_TOLERANCE = 1e-5
#: violations named in the message (all of them are in the report's data)
MAX_LISTED = 5

_SOLVED = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


def describe_solver_error(error: Exception) -> str:
    """A solver failure in words, without cvxpy's advice to the programmer ("Try another
    solver, or solve with verbose=True ...") that a user cannot act on."""
    text = str(error).split(" Try another solver")[0].strip()
    return f"the solver failed ({text or type(error).__name__})"


class ElasticOpf:
    """The elastic (phase-I) twin of a DistFlow OPF; built once, re-solved per diagnosis."""

    def __init__(self, case: DsoCase, charging_mode: ChargingMode, circle_sides: int, *,
                 solver: str, solver_options: dict[str, Any]) -> None:
        self.case = case
        self.solver = solver
        self.solver_options = solver_options
        self.model = build_distflow_model(case, charging_mode, circle_sides, elastic=True)
        self.circle_sides = circle_sides
        #: each feeder's peak load (MW) by name, the scale of its balance and supply slacks
        self._peaks = {block.feeder.name: self._peak_mw(position, block.feeder)
                       for position, block in enumerate(self.model.blocks)}
        terms = [self._weighted(block) for block in self.model.blocks]
        self.problem = cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms))),
                                  self.model.problem.constraints)

    def _peak_mw(self, position: int, feeder: Feeder) -> float:
        """The feeder's peak load (MW), the scale of its balance and supply point slacks: its
        largest total over the periods when buses have load shapes of their own."""
        if self.case.own_load_profiles(position):
            total = feeder.load_p_mw @ self.case.load_multipliers(position)
            return max(float(np.max(total)), 1e-3 * feeder.base_mva)
        return max(feeder.total_load_mw * float(np.max(self.case.load_profile)),
                   1e-3 * feeder.base_mva)

    def _weighted(self, block: FeederBlock) -> cp.Expression:
        """One feeder's weighted violations (see the module doc)."""
        feeder = block.feeder
        slacks = block.elastic
        assert slacks is not None
        base = feeder.base_mva
        peak_mw = self._peaks[feeder.name]
        buses = slacks.voltage_buses
        terms = [
            cp.sum(slacks.voltage_under.T @ (1.0 / (2.0 * feeder.v_min_pu[buses] ** 2))),
            cp.sum(slacks.voltage_over.T @ (1.0 / (2.0 * feeder.v_max_pu[buses] ** 2))),
            BALANCE_WEIGHT * base / peak_mw * cp.sum(
                slacks.unserved_p + slacks.surplus_p + slacks.unserved_q + slacks.surplus_q),
        ]
        if slacks.rating_over is not None:
            limit = feeder.branch_rating_mva[slacks.rated] / base
            scale = 1.0 / (2.0 * limit**2) if self.circle_sides == 0 \
                else 1.0 / (limit * np.cos(np.pi / self.circle_sides))
            terms.append(cp.sum(slacks.rating_over.T @ scale))
        for sense, widen in slacks.upstream.items():
            terms.append(base / _upstream_scale(block, sense, peak_mw) * cp.sum(widen))
        if block.L is not None:
            terms.append(LOSS_WEIGHT * base / peak_mw * cp.sum(feeder.r_pu @ block.L))
        return cp.sum(cp.hstack(terms))

    def explain(self, source: DistFlowModel) -> InfeasibilityReport:
        """Re-solve elastically at ``source``'s current Parameters; the report of what the
        least violation needs. Never raises on solver trouble (status ``failed``)."""
        started = time.perf_counter()
        model = self.model
        model.load_profile.value = source.load_profile.value
        for mine_block, their_block in zip(model.blocks, source.blocks, strict=True):
            if mine_block.own_load_weight is not None \
                    and their_block.own_load_weight is not None:
                mine_block.own_load_weight.value = their_block.own_load_weight.value
        for mine, theirs in ((model.dr_limit, source.dr_limit),
                             (model.charging_fixed, source.charging_fixed)):
            if mine is not None and theirs is not None:
                mine.value = theirs.value
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.problem.solve(solver=self.solver, **self.solver_options)
        except cp.error.SolverError as error:
            return _failed(f"{describe_solver_error(error)} in the elastic re-solve", started)
        if self.problem.status not in _SOLVED:
            return _failed(f"the elastic re-solve ended with solver status "
                           f"{self.problem.status}", started)
        violations = sorted(
            (v for block in model.blocks for v in self._violations(block)),
            key=lambda v: -v.weight,
        )
        seconds = time.perf_counter() - started
        if not violations:
            return InfeasibilityReport(
                "numerical", (),
                "the OPF is infeasible to the solver, but an elastic re-solve meets every "
                f"limit to within {REPORT_TOLERANCE:g} of it: numerical trouble at a limit "
                "that binds exactly, not a contradiction in the data", seconds)
        clauses = describe_violations(violations)
        listed = "; ".join(clauses[:MAX_LISTED])
        more = len(clauses) - MAX_LISTED
        message = ("the OPF is infeasible; the least violation of its limits (elastic "
                   f"re-solve) needs: {listed}" + (f"; and {more} more" if more > 0 else ""))
        return InfeasibilityReport("diagnosed", tuple(violations), message, seconds)

    def _violations(self, block: FeederBlock) -> list[LimitViolation]:
        feeder = block.feeder
        slacks = block.elastic
        assert slacks is not None
        base = feeder.base_mva
        peak_mw = self._peaks[feeder.name]
        found: list[LimitViolation] = []
        v = np.asarray(block.v.value, dtype=np.float64)
        buses = slacks.voltage_buses
        for kind, slack, limit in (
            ("voltage_min", slacks.voltage_under, feeder.v_min_pu[buses]),
            ("voltage_max", slacks.voltage_over, feeder.v_max_pu[buses]),
        ):
            relative = _value(slack) / (2.0 * limit[:, None] ** 2)
            voltage = np.sqrt(np.maximum(v[buses], 0.0))
            found += _rows(feeder.name, kind, relative, voltage, limit, "p.u.",
                           [f"bus {feeder.bus_ids[b]}" for b in buses])
        if slacks.rating_over is not None:
            found += self._rating_violations(block, slacks)
        for sense, widen in slacks.upstream.items():
            flow = block.slack_p if sense.endswith("p") else block.slack_q
            value = _value(flow)[None, :] * base
            bound = _upstream_bound(block, sense)
            relative = _value(widen)[None, :] * base / _upstream_scale(block, sense, peak_mw)
            kind, unit = _UPSTREAM_KINDS[sense]
            found += _rows(feeder.name, kind, relative, np.abs(value), np.array([abs(bound)]),
                           unit, ["supply point"])
        labels = [f"bus {label}" for label in feeder.bus_ids]
        for kind, slack, unit in (
            ("unserved_load", slacks.unserved_p, "MW"),
            ("surplus_injection", slacks.surplus_p, "MW"),
            ("unserved_load", slacks.unserved_q, "MVAr"),
            ("surplus_injection", slacks.surplus_q, "MVAr"),
        ):
            amount = _value(slack) * base
            relative = BALANCE_WEIGHT * amount / peak_mw
            found += _rows(feeder.name, kind, relative, amount, np.zeros(len(labels)), unit,
                           labels)
        return found

    def _rating_violations(self, block: FeederBlock,
                           slacks: ElasticSlacks) -> list[LimitViolation]:
        """Lines and transformers loaded beyond their ratings (% of the rating)."""
        feeder = block.feeder
        base = feeder.base_mva
        rated = slacks.rated
        assert slacks.rating_over is not None
        limit = feeder.branch_rating_mva[rated] / base
        if block.L is not None:
            current = np.sqrt(np.maximum(_value(block.L)[rated], 0.0))
            relative = _value(slacks.rating_over) / (2.0 * limit[:, None] ** 2)
            loading = 100.0 * current / limit[:, None]
        else:
            # LinDistFlow holds the rating as its inscribed polygon: loading of the polygon,
            # i.e. of its apothem along the facet the flow leans on
            apothem = limit[:, None] * np.cos(np.pi / self.circle_sides)
            relative = _value(slacks.rating_over) / apothem
            loading = 100.0 * (1.0 + relative)
        found: list[LimitViolation] = []
        for row, branch in enumerate(rated.tolist()):
            branch_id = feeder.branch_ids[branch]
            ends = (f"(bus {feeder.bus_ids[feeder.branch_from[branch]]}\u2013"
                    f"{feeder.bus_ids[feeder.branch_to[branch]]})")
            transformer = branch_id.startswith("trafo")
            element = (f"transformer {branch_id.removeprefix('trafo').strip()} {ends}"
                       if transformer else f"{branch_id} {ends}")
            kind = "transformer_rating" if transformer else "line_rating"
            for violation in _rows(feeder.name, kind, relative[row:row + 1],
                                   loading[row:row + 1],
                                   np.array([feeder.branch_rating_mva[branch]]), "%",
                                   [element]):
                found.append(violation)
        return found


def describe_violations(violations: list[LimitViolation]) -> list[str]:
    """Clauses for a message, heaviest first: one per element, except that a feeder's buses
    below (or above) their voltage limit make one clause naming the worst bus."""
    groups: dict[tuple[str, str], list[LimitViolation]] = {}
    for violation in violations:
        voltage = violation.kind in ("voltage_min", "voltage_max")
        key = (violation.feeder, violation.kind) if voltage \
            else (violation.feeder, f"{violation.kind} {violation.element} {violation.unit}")
        groups.setdefault(key, []).append(violation)
    ranked = sorted(groups.values(), key=lambda group: -sum(v.weight for v in group))
    clauses = []
    for group in ranked:
        worst = max(group, key=lambda v: v.weight)
        if len(group) == 1:
            clauses.append(worst.describe())
            continue
        periods = tuple(sorted({t for v in group for t in v.periods}))
        side = "below its minimum" if worst.kind == "voltage_min" else "above its maximum"
        clauses.append(
            f"feeder {worst.feeder}: voltage {side} at {len(group)} buses "
            f"{describe_periods(periods)}, worst {worst.element} at {worst.value:.4f} p.u. "
            f"against {worst.limit:.4g} p.u. in period {worst.worst_period}"
        )
    return clauses


_UPSTREAM_KINDS = {
    "max_p": ("import_max", "MW"),
    "min_p": ("export_max", "MW"),
    "max_q": ("reactive_import_max", "MVAr"),
    "min_q": ("reactive_export_max", "MVAr"),
}


def _upstream_bound(block: FeederBlock, sense: str) -> float:
    feeder = block.feeder
    return float({"max_p": feeder.upstream_p_max_mw, "min_p": feeder.upstream_p_min_mw,
                  "max_q": feeder.upstream_q_max_mvar,
                  "min_q": feeder.upstream_q_min_mvar}[sense])


def _upstream_scale(block: FeederBlock, sense: str, peak_mw: float) -> float:
    """The supply point limit's own size, or the feeder's peak load for a limit near zero."""
    return max(abs(_upstream_bound(block, sense)), peak_mw)


def _value(expression: cp.Expression) -> FloatArray:
    return np.asarray(expression.value, dtype=np.float64)


def _rows(feeder: str, kind: str, relative: FloatArray, value: FloatArray, limit: FloatArray,
          unit: str, elements: list[str]) -> list[LimitViolation]:
    """One violation per element (row) whose relative violation exceeds the tolerance in some
    period; its value at the worst period."""
    found = []
    for row in np.flatnonzero((relative > REPORT_TOLERANCE).any(axis=1)).tolist():
        periods = tuple(int(t) for t in np.flatnonzero(relative[row] > REPORT_TOLERANCE))
        worst = int(np.argmax(relative[row]))
        found.append(LimitViolation(
            kind=kind, feeder=feeder, element=elements[row], periods=periods,
            worst_period=worst, value=float(value[row, worst]),
            limit=float(limit[row if limit.size > 1 else 0]), unit=unit,
            weight=float(relative[row].sum()),
        ))
    return found


def _failed(message: str, started: float) -> InfeasibilityReport:
    return InfeasibilityReport("failed", (), f"the OPF is infeasible ({message})",
                               time.perf_counter() - started)
