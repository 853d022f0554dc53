"""The outcome of one OPF solve, as a value with a status (failures are data, not exceptions).

Statuses follow PowerModels' termination statuses in spirit: ``optimal`` (and the relaxation
is exact), ``inexact`` (the solver's optimum violates ``ℓ·v = P² + Q²``, so the dispatch is not
physical as solved; see :mod:`ptn.engines.power.exactness` for the AC recovery), ``infeasible``,
``unbounded``, ``solver_error``. An infeasible result carries an :class:`InfeasibilityReport`
(the elastic re-solve of :mod:`ptn.engines.power.infeasibility`: which limits cannot be met,
where, when and by how much). All quantities are in MW, MVAr, p.u. voltage magnitude and $;
per-bus arrays are ``[bus, period]`` in the feeder's bus order, per-branch arrays
``[branch, period]`` in the feeder's branch order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class OpfStatus(StrEnum):
    OPTIMAL = "optimal"
    INEXACT = "inexact"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    SOLVER_ERROR = "solver_error"

    @property
    def has_solution(self) -> bool:
        return self in (OpfStatus.OPTIMAL, OpfStatus.INEXACT)


@dataclass(frozen=True)
class RelaxationGap:
    """How far the SOC relaxation is from the exact branch flow equations.

    ``raw_pu2``: max |ℓ·v − P² − Q²| (p.u.², seed 002's measure). ``weighted_mw``: the largest
    fictitious loss ``r·(ℓ − (P² + Q²)/v)`` in MW, which ignores branches of negligible
    resistance whose raw gap is harmless.
    """

    raw_pu2: float
    weighted_mw: float
    worst_branch: str
    worst_period: int
    #: seed 002's eq. (23) per branch and period, ``|ℓ − (P² + Q²)/v_from|`` (p.u.², the
    #: squared-current error of the relaxation at the branch's receiving bus); None when the
    #: model has no relaxation (LinDistFlow)
    current_gap_pu2: FloatArray | None = None


@dataclass(frozen=True)
class LimitViolation:
    """One element's limit that an infeasible OPF cannot meet, from the elastic re-solve.

    ``kind``: ``voltage_min``, ``voltage_max`` (bus voltage magnitude, p.u.),
    ``line_rating``, ``transformer_rating`` (loading, % of the rating), ``import_max``,
    ``export_max`` (supply point active power, MW), ``reactive_import_max``,
    ``reactive_export_max`` (MVAr), ``unserved_load``, ``surplus_injection`` (MW at a bus:
    the power balance itself cannot be met, e.g. a load no voltage can carry). ``value`` is the
    least violating value (at ``worst_period``), ``limit`` the limit in the same unit;
    ``periods`` every period (from 0) in which the limit is violated; ``weight`` the violation's
    share of the elastic objective (relative to the limit), used to rank violations.
    """

    kind: str
    feeder: str
    element: str
    periods: tuple[int, ...]
    worst_period: int
    value: float
    limit: float
    unit: str
    weight: float

    def describe(self) -> str:
        """One clause, e.g. "transformer trafo 0 (bus 0-1) would be loaded 101.4 % of its
        25 MVA rating in period 0"."""
        when = describe_periods(self.periods)
        if self.kind in ("line_rating", "transformer_rating"):
            rating = self.limit
            return (f"{self.element} of feeder {self.feeder} would be loaded {self.value:.1f} % "
                    f"of its {rating:.4g} MVA rating {when}")
        if self.kind in ("voltage_min", "voltage_max"):
            side = "below its" if self.kind == "voltage_min" else "above its"
            bound = "minimum" if self.kind == "voltage_min" else "maximum"
            return (f"{self.element} of feeder {self.feeder}: voltage {self.value:.4f} p.u. "
                    f"{side} {self.limit:.4g} p.u. {bound} {when}")
        if self.kind in ("unserved_load", "surplus_injection"):
            what = "of load cannot be served" if self.kind == "unserved_load" \
                else "of injection cannot be absorbed"
            return (f"{self.element} of feeder {self.feeder}: {self.value:.4g} {self.unit} "
                    f"{what} {when}")
        what = self.kind.removesuffix("_max").replace("_", " ")
        return (f"{self.element} of feeder {self.feeder}: {what} would be {self.value:.4g} "
                f"{self.unit}, above its {self.limit:.4g} {self.unit} limit {when}")

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "feeder": self.feeder, "element": self.element,
                "periods": list(self.periods), "worst_period": self.worst_period,
                "value": self.value, "limit": self.limit, "unit": self.unit,
                "weight": self.weight, "text": self.describe()}


@dataclass(frozen=True)
class InfeasibilityReport:
    """Why an OPF is infeasible: the least weighted violation of its limits (elastic re-solve).

    ``status``: ``diagnosed`` (``violations`` name what cannot be met, largest first),
    ``numerical`` (the elastic re-solve meets every limit: the infeasibility was the solver's
    numerical trouble, not the data's), ``failed`` (the elastic re-solve itself failed;
    ``message`` says how).
    """

    status: str
    violations: tuple[LimitViolation, ...]
    message: str
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, "seconds": self.seconds,
                "violations": [v.summary() for v in self.violations]}


def describe_periods(periods: tuple[int, ...]) -> str:
    """Periods as words: "in period 3", "in periods 3, 5-7" (en dash), "" for none."""
    if not periods:
        return ""
    runs: list[str] = []
    start = previous = periods[0]
    for period in (*periods[1:], None):
        if period is not None and period == previous + 1:
            previous = period
            continue
        runs.append(str(start) if start == previous else f"{start}\u2013{previous}")
        if period is not None:
            start = previous = period
    return f"in period{'s' if len(periods) > 1 else ''} {', '.join(runs)}"


@dataclass(frozen=True)
class FeederDispatch:
    """One feeder's solution over the horizon."""

    name: str
    bus_ids: NDArray[np.int64]
    branch_ids: tuple[str, ...]
    voltage_pu: FloatArray
    dlmp_per_mwh: FloatArray
    reactive_price_per_mvarh: FloatArray
    branch_p_mw: FloatArray
    branch_q_mvar: FloatArray
    branch_current_pu2: FloatArray
    branch_loss_mw: FloatArray
    branch_loading_percent: FloatArray
    slack_p_mw: FloatArray
    slack_q_mvar: FloatArray
    net_load_p_mw: FloatArray
    net_load_q_mvar: FloatArray
    relaxation: RelaxationGap

    @property
    def loss_mw(self) -> FloatArray:
        """Total losses per period."""
        return self.branch_loss_mw.sum(axis=0)


@dataclass(frozen=True)
class OpfResult:
    """Status, costs, dispatch and prices of a multi-period OPF solve."""

    status: OpfStatus
    objective: float
    cost_breakdown: dict[str, float]
    feeders: tuple[FeederDispatch, ...]
    micro_turbine_p_mw: dict[str, FloatArray] = field(default_factory=dict)
    micro_turbine_q_mvar: dict[str, FloatArray] = field(default_factory=dict)
    storage_charge_mw: dict[str, FloatArray] = field(default_factory=dict)
    storage_discharge_mw: dict[str, FloatArray] = field(default_factory=dict)
    storage_soc: dict[str, FloatArray] = field(default_factory=dict)
    renewable_p_mw: dict[str, FloatArray] = field(default_factory=dict)
    renewable_q_mvar: dict[str, FloatArray] = field(default_factory=dict)
    renewable_curtailed_mw: dict[str, FloatArray] = field(default_factory=dict)
    demand_response_shift_mw: dict[str, FloatArray] = field(default_factory=dict)
    charging_mw: dict[str, FloatArray] = field(default_factory=dict)
    charging_dlmp_per_mwh: dict[str, FloatArray] = field(default_factory=dict)
    period_hours: float = 1.0
    seconds: float = 0.0
    solver_seconds: float = 0.0
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: facts about how the problem was set up that a user should know (e.g. a feeder without
    #: cost data priced at a fallback tariff)
    notes: tuple[str, ...] = ()
    #: why the OPF is infeasible (status ``infeasible`` only; None otherwise)
    infeasibility: InfeasibilityReport | None = None

    @property
    def import_mw(self) -> FloatArray:
        """Power drawn from the supply points per period (MW), summed over the feeders."""
        return np.sum([f.slack_p_mw for f in self.feeders], axis=0)

    @property
    def relaxation_gap_raw(self) -> float:
        return max((f.relaxation.raw_pu2 for f in self.feeders), default=float("nan"))

    @property
    def relaxation_gap_weighted_mw(self) -> float:
        return max((f.relaxation.weighted_mw for f in self.feeders), default=float("nan"))

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: status, costs, losses, voltage range, relaxation gap."""
        summary: dict[str, Any] = {
            "status": str(self.status),
            "objective": self.objective,
            "cost_breakdown": dict(self.cost_breakdown),
            "seconds": self.seconds,
            "solver_seconds": self.solver_seconds,
        }
        if self.message:
            summary["message"] = self.message
        if self.notes:
            summary["notes"] = list(self.notes)
        if self.infeasibility is not None:
            summary["infeasibility"] = self.infeasibility.summary()
        if not self.status.has_solution:
            return summary
        summary["relaxation_gap_raw_pu2"] = self.relaxation_gap_raw
        summary["relaxation_gap_weighted_mw"] = self.relaxation_gap_weighted_mw
        summary["feeders"] = [
            {
                "name": f.name,
                "energy_purchased_mwh": float(f.slack_p_mw.sum() * self.period_hours),
                "peak_import_mw": float(f.slack_p_mw.max()),
                "losses_mwh": float(f.loss_mw.sum() * self.period_hours),
                "voltage_min_pu": float(f.voltage_pu.min()),
                "voltage_max_pu": float(f.voltage_pu.max()),
                "max_loading_percent": float(np.nanmax(f.branch_loading_percent))
                if np.isfinite(f.branch_loading_percent).any() else None,
                "dlmp_min_per_mwh": float(f.dlmp_per_mwh.min()),
                "dlmp_max_per_mwh": float(f.dlmp_per_mwh.max()),
                "relaxation_gap_raw_pu2": f.relaxation.raw_pu2,
                "relaxation_gap_weighted_mw": f.relaxation.weighted_mw,
            }
            for f in self.feeders
        ]
        return summary
