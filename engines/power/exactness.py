"""Is an OPF dispatch physical? An AC power flow of the solved injections answers.

The SOC relaxation of DistFlow is exact under conditions that ordinary prices meet (Farivar &
Low 2013; Gan, Li, Topcu & Low 2015), but not always: with negative prices (ADMM duals can be
negative) the optimizer gains by "burning" power as fictitious losses, and the solution then
violates ``ℓ·v = P² + Q²``. :class:`~ptn.engines.power.distflow.DistFlowOpf` reports that as the
status ``inexact``; this module is the recovery and the independent check: fix every bus's net
injection from the OPF, run a full AC power flow (pandapower's Newton–Raphson), and report how
far the physical voltages, slack power and losses are from the OPF's, and what the dispatch
actually costs once the slack supplies the physical losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.pandapower_io import run_ac_power_flow
from ptn.engines.power.result import OpfResult

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class AcCheck:
    """AC power flow of an OPF dispatch, per feeder ``[bus, period]``, and its deviations."""

    converged: bool
    voltage_pu: tuple[FloatArray, ...]
    slack_p_mw: tuple[FloatArray, ...]
    losses_mw: tuple[FloatArray, ...]
    max_voltage_deviation_pu: float
    max_slack_deviation_mw: float
    max_loss_deviation_mw: float
    voltage_violations: int
    recovered_objective: float
    objective_change: float

    def summary(self) -> dict[str, float | int | bool]:
        return {
            "converged": self.converged,
            "max_voltage_deviation_pu": self.max_voltage_deviation_pu,
            "max_slack_deviation_mw": self.max_slack_deviation_mw,
            "max_loss_deviation_mw": self.max_loss_deviation_mw,
            "voltage_violations": self.voltage_violations,
            "recovered_objective": self.recovered_objective,
            "objective_change": self.objective_change,
        }


def check_with_ac_power_flow(
    opf: DistFlowOpf, result: OpfResult, *, voltage_tolerance_pu: float = 1e-4
) -> AcCheck:
    """Run an AC power flow of ``result``'s injections on every feeder and period.

    The recovered objective replaces each feeder's OPF slack import by the AC one (which
    supplies the physical losses) at the same upstream price and quadratic cost; the other cost
    terms are unchanged because the DER dispatch is held fixed. ``voltage_violations`` counts
    bus-periods whose AC voltage leaves the feeder's limits by more than the tolerance.
    """
    if not result.status.has_solution:
        raise ValueError(f"no dispatch to check: the OPF status is {result.status}")
    case = opf.case
    dt = case.period_hours
    converged = True
    voltages: list[FloatArray] = []
    slacks: list[FloatArray] = []
    losses: list[FloatArray] = []
    voltage_deviation = slack_deviation = loss_deviation = 0.0
    violations = 0
    objective_change = 0.0
    for position, (feeder, dispatch) in enumerate(zip(case.feeders, result.feeders, strict=True)):
        periods = dispatch.net_load_p_mw.shape[1]
        vm = np.full((feeder.num_buses, periods), np.nan)
        slack = np.full(periods, np.nan)
        loss = np.full(periods, np.nan)
        for t in range(periods):
            flow = run_ac_power_flow(
                feeder, dispatch.net_load_p_mw[:, t], dispatch.net_load_q_mvar[:, t]
            )
            if not flow.converged:
                converged = False
                continue
            vm[:, t] = flow.vm_pu
            slack[t] = flow.slack_p_mw
            loss[t] = flow.total_loss_mw
        voltages.append(vm)
        slacks.append(slack)
        losses.append(loss)
        if not np.isfinite(slack).all():
            continue
        voltage_deviation = max(voltage_deviation,
                                float(np.max(np.abs(vm - dispatch.voltage_pu))))
        slack_deviation = max(slack_deviation,
                              float(np.max(np.abs(slack - dispatch.slack_p_mw))))
        loss_deviation = max(loss_deviation,
                             float(np.max(np.abs(loss - dispatch.loss_mw))))
        low = vm < feeder.v_min_pu[:, None] - voltage_tolerance_pu
        high = vm > feeder.v_max_pu[:, None] + voltage_tolerance_pu
        violations += int(low.sum() + high.sum())
        price = opf.upstream_price_per_mwh(position)
        c2 = feeder.upstream_cost.quadratic_per_mw2h
        objective_change += float(dt * np.sum(
            price * (slack - dispatch.slack_p_mw) + c2 * (slack**2 - dispatch.slack_p_mw**2)
        ))
    return AcCheck(
        converged=converged,
        voltage_pu=tuple(voltages),
        slack_p_mw=tuple(slacks),
        losses_mw=tuple(losses),
        max_voltage_deviation_pu=voltage_deviation if converged else float("nan"),
        max_slack_deviation_mw=slack_deviation if converged else float("nan"),
        max_loss_deviation_mw=loss_deviation if converged else float("nan"),
        voltage_violations=violations,
        recovered_objective=result.objective + objective_change if converged else float("nan"),
        objective_change=objective_change if converged else float("nan"),
    )
