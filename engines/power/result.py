"""The outcome of one OPF solve, as a value with a status (failures are data, not exceptions).

Statuses follow PowerModels' termination statuses in spirit: ``optimal`` (and the relaxation
is exact), ``inexact`` (the solver's optimum violates ``ℓ·v = P² + Q²``, so the dispatch is not
physical as solved; see :mod:`ptn.engines.power.exactness` for the AC recovery), ``infeasible``,
``unbounded``, ``solver_error``. All quantities are in MW, MVAr, p.u. voltage magnitude and $;
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
