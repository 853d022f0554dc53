"""Reading a solved DistFlow OPF back: dispatch, DLMPs, relaxation gap, costs, as an OpfResult.

Why this module exists: turning the solver's values into the OPF's result (per feeder: voltages,
flows, losses, loading, net loads implied by the flows, DLMPs from the balance duals; the SOC
relaxation's gap and the ``inexact`` status; the cost breakdown without the weak-branch
regularization) is one job of :class:`ptn.engines.power.distflow.DistFlowOpf`, apart from
building the model (:mod:`ptn.engines.power.distflow_model`) and solving it.
"""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import numpy as np

from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow_model import DistFlowModel, FeederBlock, FloatArray
from ptn.engines.power.result import FeederDispatch, OpfResult, OpfStatus, RelaxationGap

#: prices ($/MWh) and voltages (p.u.) closer than this to zero or to their limit count as zero
#: or binding when the cause of an inexact relaxation is read from the solution
PRICE_TOLERANCE_PER_MWH = 1e-6
BINDING_VOLTAGE_TOLERANCE_PU = 1e-5
#: a raw gap ``max |ℓ·v − P² − Q²|`` (p.u.²) above this gets a note even when the weighted gap
#: is within the exactness tolerance: the currents are then not physical on some branch
#: although the fictitious losses are negligible (exact solves here: raw gaps below 1e-7)
RAW_GAP_NOTE_PU2 = 1e-4


def read_result(model: DistFlowModel, case: DsoCase, status: OpfStatus, message: str, *,
                exactness_tolerance_mw: float, coupling_constant_usd: float,
                lossless: bool, notes: tuple[str, ...] = ()) -> OpfResult:
    """The OPF's result at the model's current (solved) values; ``status`` ``optimal`` turns
    ``inexact`` when a feeder's weighted relaxation gap exceeds the tolerance, with a message
    giving both gaps and the cause read from the solution (:func:`inexactness_causes`)."""
    dt = case.period_hours
    feeders = []
    for block in model.blocks:
        feeders.append(feeder_dispatch(block, dt))
    if status == OpfStatus.OPTIMAL and any(
        f.relaxation.weighted_mw > exactness_tolerance_mw for f in feeders
    ):
        status = OpfStatus.INEXACT
        position = max(range(len(feeders)), key=lambda k: feeders[k].relaxation.weighted_mw)
        worst = feeders[position]
        gap = worst.relaxation
        causes = inexactness_causes(model.blocks[position], worst, case.loss_price_per_mwh)
        message = (
            f"the SOC relaxation is inexact: {gap.weighted_mw:.3g} MW of fictitious losses "
            f"(weighted gap; raw gap {worst.relaxation.raw_pu2:.3g} p.u.\u00b2) on branch "
            f"{gap.worst_branch} of feeder {worst.name} in period {gap.worst_period}; "
            f"cause: {'; '.join(causes)}; check and recover with "
            "ptn.engines.power.exactness.check_with_ac_power_flow"
        )
    if status == OpfStatus.OPTIMAL:
        notes = notes + tuple(
            f"{f.name}: raw relaxation gap {f.relaxation.raw_pu2:.3g} p.u.\u00b2 above "
            f"{RAW_GAP_NOTE_PU2:g} although its fictitious losses ({f.relaxation.weighted_mw:.3g}"
            " MW, weighted gap) are within the exactness tolerance: some branch currents are not "
            "physical; check with ptn.engines.power.exactness.check_with_ac_power_flow"
            for f in feeders if f.relaxation.raw_pu2 > RAW_GAP_NOTE_PU2)
    breakdown = {name: float(term.value) for name, term in model.cost_terms.items()}
    if "charging_coupling" in breakdown:
        breakdown["charging_coupling"] += coupling_constant_usd
    if model.constant_cost_usd:
        breakdown["upstream_fixed"] = float(model.constant_cost_usd)
    objective = float(sum(breakdown.values()))

    def rows(variable: cp.Variable | None, devices: tuple[Any, ...]) -> dict[str, FloatArray]:
        if variable is None:
            return {}
        values = np.asarray(variable.value, dtype=np.float64)
        return {d.name: values[k].copy() for k, d in enumerate(devices)}

    charging: dict[str, FloatArray] = {}
    charging_dlmp: dict[str, FloatArray] = {}
    if model.charging_mw is not None:
        values = np.asarray(model.charging_mw.value, dtype=np.float64)
        for k, (point, (fp, bp)) in enumerate(
            zip(case.charging_points, model.charging_positions, strict=True)
        ):
            charging[point.name] = values[k].copy()
            charging_dlmp[point.name] = feeders[fp].dlmp_per_mwh[bp].copy()
    renewable_p = rows(model.re_p, case.renewables)
    curtailed = {u.name: u.available_mw() - renewable_p[u.name] for u in case.renewables}
    shift: dict[str, FloatArray] = {}
    if model.dr_up is not None and model.dr_down is not None:
        up = np.asarray(model.dr_up.value)
        down = np.asarray(model.dr_down.value)
        shift = {d.name: (up[k] - down[k]).copy() for k, d in enumerate(case.demand_response)}
    extra: dict[str, Any] = {}
    if model.regularization is not None:
        extra["weak_branch_regularization"] = float(model.regularization.value)
    if lossless:
        extra["formulation"] = "lindistflow"
    return OpfResult(
        status=status,
        objective=objective,
        cost_breakdown=breakdown,
        feeders=tuple(feeders),
        micro_turbine_p_mw=rows(model.mt_p, case.micro_turbines),
        micro_turbine_q_mvar=rows(model.mt_q, case.micro_turbines),
        storage_charge_mw=rows(model.st_ch, case.storage),
        storage_discharge_mw=rows(model.st_dis, case.storage),
        storage_soc=rows(model.st_soc, case.storage),
        renewable_p_mw=renewable_p,
        renewable_q_mvar=rows(model.re_q, case.renewables),
        renewable_curtailed_mw=curtailed,
        demand_response_shift_mw=shift,
        charging_mw=charging,
        charging_dlmp_per_mwh=charging_dlmp,
        period_hours=dt,
        message=message,
        extra=extra,
        notes=notes,
    )


def inexactness_causes(block: FeederBlock, dispatch: FeederDispatch,
                       loss_price_per_mwh: float) -> list[str]:
    """Why a feeder's relaxation is inexact, read from the solution in its worst period.

    The SOC relaxation of DistFlow is exact when the objective strictly increases with the
    power bought and no upper voltage limit binds (Farivar & Low 2013; Gan, Li, Topcu & Low,
    IEEE TAC 60(1), 2015): fictitious losses are then never worth their cost. So the causes are
    (in this order): an upper voltage limit binding (burning power lowers voltages; typically
    with reverse power flow), a negative marginal price of purchases or a negative DLMP (e.g. a
    negative tariff or coupling prices: losses pay), purchases and losses priced at zero (losses
    are free; e.g. a case without cost data priced at 0), the supply point's export limit
    binding with free surplus power (DLMPs zero: burning costs nothing). When none holds, the
    gap is the solver's accuracy.
    """
    feeder = block.feeder
    t = dispatch.relaxation.worst_period
    causes: list[str] = []
    voltage = dispatch.voltage_pu[:, t]
    others = np.arange(feeder.num_buses) != feeder.slack_bus
    binding = np.flatnonzero(others & (voltage >= feeder.v_max_pu - BINDING_VOLTAGE_TOLERANCE_PU))
    import_mw = float(dispatch.slack_p_mw[t])
    if binding.size:
        bus = int(binding[np.argmax(voltage[binding])])
        reverse = f" with reverse power flow (export {-import_mw:.4g} MW at the supply " \
                  "point)" if import_mw < 0 else ""
        causes.append(
            f"the upper voltage limit binds at bus {feeder.bus_ids[bus]} ({voltage[bus]:.4f} "
            f"p.u.){reverse}; fictitious losses lower voltages, and exactness is guaranteed "
            "only where upper voltage limits do not bind"
        )
    price = float(np.asarray(block.price.value, dtype=np.float64)[t])
    marginal = price + 2.0 * feeder.upstream_cost.quadratic_per_mw2h * import_mw
    dlmp = dispatch.dlmp_per_mwh[:, t]
    lowest = int(np.argmin(dlmp))
    if marginal < -PRICE_TOLERANCE_PER_MWH:
        causes.append(f"the upstream price is negative ({marginal:.4g} $/MWh at the margin), "
                      "so power burnt as losses is paid for: negative prices make losses "
                      "profitable")
    elif dlmp[lowest] < -PRICE_TOLERANCE_PER_MWH and not binding.size:
        causes.append(f"negative prices make losses profitable: the DLMP at bus "
                      f"{feeder.bus_ids[lowest]} is {dlmp[lowest]:.4g} $/MWh (e.g. negative "
                      "coupling prices or tariff)")
    export_limit_mw = feeder.upstream_p_min_mw
    at_export_limit = bool(np.isfinite(export_limit_mw)) and import_mw <= export_limit_mw + max(
        1e-6 * feeder.base_mva, 1e-9)
    if abs(marginal) <= PRICE_TOLERANCE_PER_MWH and loss_price_per_mwh == 0.0:
        causes.append(
            f"purchases and losses are not priced (upstream price {price:g} $/MWh, no loss "
            "price), so losses cost nothing and the cone need not be tight; price purchases "
            "(DsoCase.fallback_tariff_per_mwh, ptn opf --tariff-per-mwh) or losses"
        )
    elif at_export_limit and loss_price_per_mwh == 0.0 \
            and np.abs(dlmp).max() <= PRICE_TOLERANCE_PER_MWH:
        causes.append(
            f"the supply point's export limit binds (import {round(import_mw, 6) + 0.0:g} MW "
            f"at its {export_limit_mw:g} MW limit), so surplus power is worth nothing (DLMPs "
            "0) and may be burnt as fictitious losses instead of curtailed; price losses or "
            "allow export"
        )
    if not causes:
        causes.append("prices are positive and no upper voltage limit binds, so the gap is the "
                      "solver's accuracy (tighten its tolerances)")
    return causes


def feeder_dispatch(block: FeederBlock, dt: float) -> FeederDispatch:
    """One feeder's dispatch, relaxation gap and DLMPs at the solved values."""
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
    # the balances carry the bus shunts as loads; the net load leaves them out (the AC check
    # models them itself and would otherwise count them twice)
    shunt_p, shunt_q = feeder.shunt_draw(v)
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
        net_load_p_mw=_net_load(block, P, L_balance, feeder.r_pu, shunt_p),
        net_load_q_mvar=_net_load(block, Q, L_balance, feeder.x_pu, shunt_q),
        relaxation=relaxation,
    )


def _net_load(
    block: FeederBlock, flow: FloatArray, L: FloatArray, impedance: FloatArray,
    shunt: FloatArray,
) -> FloatArray:
    """Net bus demand (load − DER + charging, MW or MVAr) implied by the branch flows.

    From the balance ``inflow − losses − outflow = net load + shunt draw`` (``shunt``: MW or
    MVAr per bus and period, :meth:`ptn.engines.power.feeder.Feeder.shunt_draw`); the slack row
    is zero.
    """
    feeder = block.feeder
    inflow = block.to_bus @ (flow - impedance[:, None] * L)
    outflow = block.from_bus @ flow
    net = np.asarray(inflow - outflow, dtype=np.float64) * feeder.base_mva - shunt
    net[feeder.slack_bus] = 0.0
    return net
