"""Seed 002's study: SUE traffic on Nguyen–Dupuis with a DER-rich IEEE 33 feeder.

Why this module exists: seed 002 (Ma et al. 2024, "Optimization of the power–transportation
coupled distribution network based on stochastic user equilibrium") plots the hourly logit SUE
traffic and the feeder's DER dispatch under a time-of-use tariff (MODELS.md §1, §2, §5):

* Figs. 5–6: link flows, and the vehicles charging at each station;
* Figs. 7–8: MSA with each period warm-started from the previous equilibrium;
* Figs. 9–11: the power balance per source, the demand-response shift, storage;
* Fig. 12: the SOC relaxation error per bus (the paper: ~1e-6).

The study draws them at the negotiated operation. The traffic figures come from the SUE at the
agreed station prices; the power figures from the DSO's dispatch of the agreed loads. MSA's
iterations per period are counted with and without the warm start.

It then runs the paper's own one-way day under its load-following tariff (eq. 22), with and
without DER (:mod:`ptn.lab.studies.der_comparison`), and ends the report with the claims table
(claim, paper, ptn, verdict) that docs/seed002.md ends with, generated from the run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptn.coordinator.outcome import NegotiationOutcome
from ptn.coordinator.results.formatting import money
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.dynamic_tariff import CLASS_NAMES, PEAK, table_1_levels
from ptn.engines.power.result import OpfResult
from ptn.engines.traffic.sue_periods import SuePeriodsProblem, compare_warm_start
from ptn.figures import new_figure, save_figure, tick_positions
from ptn.lab.progress_log import ProgressLog
from ptn.lab.studies.der_comparison import compare_der, comparison_rows, plot_der_comparison
from ptn.lab.studies.dispatch import (
    plot_power_balance,
    plot_relaxation_error,
    plot_series,
    power_balance_mw,
    relaxation_error_by_bus,
    voltage_band_pu,
    voltage_by_bus,
)
from ptn.lab.studies.study import StudySettings, write_csv
from ptn.scenario.document import Scenario
from ptn.services.dso.config import DsoConfig, dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.traffic.config import traffic_config_from_part

FloatArray = NDArray[np.float64]

#: seed 002's reported relaxation error (Fig. 12: "at the level of 1e-6")
PAPER_RELAXATION_ERROR = 1e-6


#: a row of the claims table: claim, the paper's value, ptn's, verdict
Claim = tuple[str, str, str, str]


def analyse_sue_der(scenario: Scenario, settings: StudySettings, outcome: NegotiationOutcome,
                    out: Path, console: ProgressLog | None
                    ) -> tuple[dict[str, Any], list[Path], str]:
    """Seed 002's tables and figures at the negotiated operation, the paper's own operation
    with and without DER, and the claims table (module doc)."""
    assert outcome.agreed is not None
    hours = scenario.public.period_hours
    config = dso_config_from_part(scenario.part("dso"))
    files: list[Path] = []
    summary: dict[str, Any] = {}
    claims: list[Claim] = []
    measurements: list[tuple[str, str]] = []

    dispatch = DsoModel(config).dispatch_fixed(outcome.agreed.station_load_mw)
    summary["dispatch"] = {"status": str(dispatch.status), "cost_usd": dispatch.objective,
                           "message": dispatch.message}
    if dispatch.status.has_solution:
        balance = power_balance_mw(config, dispatch)
        periods = len(balance["ev_charging"])
        files.append(write_csv([{"period": t, **{k: float(v[t]) for k, v in balance.items()}}
                                for t in range(periods)], out / "power_balance.csv"))
        files.append(plot_power_balance(balance, hours, out / "power_balance.png"))
        files.append(plot_series(dispatch.demand_response_shift_mw, hours,
                                 out / "demand_response.png",
                                 ylabel="MW (+ load moved in, − moved out)",
                                 title="demand-response shift"))
        storage = {f"{name} charge": dispatch.storage_charge_mw[name]
                   for name in dispatch.storage_charge_mw}
        storage |= {f"{name} discharge": dispatch.storage_discharge_mw[name]
                    for name in dispatch.storage_discharge_mw}
        files.append(plot_series(storage, hours, out / "storage.png", ylabel="MW",
                                 title="storage charge and discharge"))
        labels, error = relaxation_error_by_bus(config, dispatch)
        files.append(write_csv([{"bus": bus, "max_error_pu2": float(row.max()),
                                 "worst_period": int(row.argmax())}
                                for bus, row in zip(labels, error, strict=True)],
                               out / "relaxation_error.csv"))
        files.append(plot_relaxation_error(labels, error, out / "relaxation_error.png"))
        worst = float(error.max())
        band = voltage_band_pu(config)
        summary["relaxation_error_max_pu2"] = worst
        summary["voltage_min_pu"] = float(voltage_by_bus(dispatch)[1].min())
        summary["renewable_energy_mwh"] = {name: float(np.sum(p) * hours)
                                           for name, p in dispatch.renewable_p_mw.items()}
        summary["demand_response_largest_fraction"] = largest_shift_fraction(config, dispatch)
        summary["storage_price_per_mwh"] = storage_prices(config, dispatch)
        claims += _dispatch_claims(summary, config)
        claims.append(("relaxation error of the SOC model at every bus", "~1e-6 (Fig. 12)",
                       f"{worst:.1e} at most",
                       "reproduced" if worst <= PAPER_RELAXATION_ERROR
                       else "differs (a looser relaxation)"))
        measurements.append(("largest SOC relaxation error (p.u.²)", f"{worst:.1e}"))
        measurements.append((f"lowest bus voltage of the negotiated operation (band "
                             f"{band[0]:g}–{band[1]:g} p.u.)", f"{summary['voltage_min_pu']:.4f}"
                             " p.u."))
    else:
        measurements.append(("the DSO's dispatch of the agreed loads",
                             f"{dispatch.status}: {dispatch.message}"))
    traffic_summary, traffic_files, traffic_claims, traffic_rows = _traffic(scenario, settings,
                                                                           outcome, out)
    summary["traffic"] = traffic_summary
    files += traffic_files
    claims = traffic_claims + claims
    measurements += traffic_rows
    der_summary, der_files, der_lines, der_claims = _der_comparison(scenario, settings, config,
                                                                    out)
    summary["der_comparison"] = der_summary
    files += der_files
    claims += der_claims
    summary["claims"] = [dict(zip(("claim", "paper", "ptn", "verdict"), row, strict=True))
                         for row in claims]
    section = ["## Seed 002: SUE traffic with DER", "", "| measurement | ptn |", "|---|---:|",
               *(f"| {what} | {value} |" for what, value in measurements), "", *der_lines, "",
               "### Claims", "", *claims_table(claims)]
    return summary, files, "\n".join(section)


def claims_table(claims: list[Claim]) -> list[str]:
    """The claims as the Markdown table every seed's doc and report end with."""
    return ["| claim | paper | ptn | verdict |", "|---|---|---|---|",
            *(f"| {claim} | {paper} | {ptn} | {verdict} |"
              for claim, paper, ptn, verdict in claims)]


def largest_shift_fraction(config: DsoConfig, result: OpfResult) -> float:
    """The largest demand-response shift of any device and period, as a fraction of its bus's
    load then (seed 002: at most 30 %); 0 without demand response."""
    case = config.case
    if not case.demand_response:
        return 0.0
    load = case.demand_response_load_mw()
    shift = np.array([result.demand_response_shift_mw[d.name] for d in case.demand_response])
    return float(np.max(np.abs(shift) / load))


def storage_prices(config: DsoConfig, result: OpfResult) -> dict[str, float]:
    """The energy-weighted mean upstream price (per MWh) at which the storage charges and at
    which it discharges (NaN when it never does)."""
    price = config.case.upstream_prices()[0][0]

    def weighted(series: dict[str, FloatArray]) -> float:
        energy = np.sum([np.asarray(v) for v in series.values()], axis=0) \
            if series else np.zeros_like(price)
        total = float(energy.sum())
        return float(np.dot(energy, price) / total) if total > 1e-9 else float("nan")

    return {"charge": weighted(result.storage_charge_mw),
            "discharge": weighted(result.storage_discharge_mw)}


def _dispatch_claims(summary: dict[str, Any], config: DsoConfig) -> list[Claim]:
    caps = {d.max_shift_fraction for d in config.case.demand_response}
    largest = summary["demand_response_largest_fraction"]
    prices = summary["storage_price_per_mwh"]
    cap_text = ", ".join(f"{100 * c:g} %" for c in sorted(caps)) or "none"
    cheap = prices["charge"] < prices["discharge"]
    return [
        ("demand response moves at most 30 % of the load at buses 7, 8, 24, 25", "≤ 30 % "
         "(Fig. 10)", f"cap {cap_text}; largest shift {100 * largest:.1f} %",
         "reproduced" if caps == {0.3} and largest <= 0.3 + 1e-6 else "differs (cap)"),
        ("storage charges when power is cheap and discharges at the peak", "Fig. 11",
         f"mean price charging {prices['charge']:.0f}, discharging {prices['discharge']:.0f} "
         "CNY/MWh", "reproduced" if cheap else "differs"),
    ]


def _der_comparison(scenario: Scenario, settings: StudySettings, config: DsoConfig, out: Path
                    ) -> tuple[dict[str, Any], list[Path], list[str], list[Claim]]:
    """The paper's one-way day under the load-following tariff, with and without DER."""
    traffic = traffic_config_from_part(scenario.part("traffic"))
    assert traffic.sue is not None  # checked by _traffic
    order = [traffic.station_names.index(s) for s in scenario.public.stations]
    comparison = compare_der(config, SuePeriodsProblem(traffic.sue), order,
                             settings.tariff_sigma, table_1_levels())
    hours = scenario.public.period_hours
    fixed = comparison.tariff
    files = [write_csv(comparison_rows(comparison), out / "der_comparison.csv")]
    with_der, without = comparison.with_der, comparison.without_der
    days = [with_der.row(), without.row()]
    files.append(write_csv(days, out / "der_cases.csv"))
    files.append(plot_der_comparison(comparison, hours, out / "der_comparison.png"))
    peak_hours = _hour_labels(fixed.classes == PEAK, hours)
    summary = {"tariff_status": fixed.status, "tariff_iterations": fixed.iterations,
               "tariff_sigma": settings.tariff_sigma,
               "tariff_classes": [CLASS_NAMES[int(c)] for c in fixed.classes],
               "tariff_peak_hours": peak_hours,
               "with_der": days[0], "without_der": days[1]}
    band = f"{with_der.v_min_pu:g}"
    lines = [
        "### The paper's day, with and without DER",
        "",
        f"The EVs charge, and the feeder buys, at seed 002's load-following tariff (eq. 22, "
        f"σ = {settings.tariff_sigma:g}, Table 1's levels), the fixed point of SUE traffic → "
        f"equivalent load → tariff ({fixed.status} after {fixed.iterations} SUE "
        f"response{'s' if fixed.iterations > 1 else ''}). "
        f"Peak hours: {peak_hours or 'none'}. The same charging is dispatched with the DER "
        f"and without them" + (f" (without DER the {band} p.u. band is infeasible; the "
                               f"dispatch is held to {without.v_min_pu:g} p.u. instead)"
                               if without.v_min_pu < with_der.v_min_pu else "") + ".",
        "",
        "| case | status | upstream purchases (MWh) | peak-to-valley (MW) | cost (CNY) | lowest "
        "voltage (p.u.) |", "|---|---|---:|---:|---:|---:|",
        *(f"| {d.label} | {d.status} | {d.purchase_mwh:.2f} | {d.peak_to_valley_mw:.3f} | "
          f"{money(d.cost)} | {d.voltage_min_pu:.4f} |" for d in (without, with_der)),
    ]

    def lower(what: str, paper: str, attribute: str, unit: str, digits: int) -> Claim:
        before, after = getattr(without, attribute), getattr(with_der, attribute)
        change = 100 * (after - before) / before if before else float("nan")
        ok = np.isfinite(after) and np.isfinite(before) and after < before
        return (what, paper, f"{before:,.{digits}f} → {after:,.{digits}f} {unit} "
                             f"({change:+.0f} %)", "reproduced in direction" if ok else "differs")

    claims = [
        lower("DER lower the purchases from the upstream grid", "lower (Fig. 9)",
              "purchase_mwh", "MWh", 1),
        lower("DER lower the peak-to-valley gap of the grid's load curve", "lower "
              "(conclusion)", "peak_to_valley_mw", "MW", 2),
        lower("DER lower the operating cost", "lower (conclusion)", "cost", "CNY", 0),
        ("DER keep the voltages within 0.95–1.05 p.u.", "in band (Umin = 0.95)",
         f"lowest {without.voltage_min_pu:.3f} → {with_der.voltage_min_pu:.3f} p.u.",
         "reproduced" if with_der.voltage_min_pu >= with_der.v_min_pu - 1e-6
         > without.voltage_min_pu else "differs"),
        _evening_claim(fixed.classes == PEAK, hours, peak_hours, fixed.status),
    ]
    return summary, files, lines, claims


def _hour_labels(mask: NDArray[np.bool_], period_hours: float) -> str:
    """The paper's hour labels (hour h is [h − 1, h)) of the periods in ``mask``, as ranges."""
    ranges: list[str] = []
    t = 0
    while t < mask.size:
        if not mask[t]:
            t += 1
            continue
        first = t
        while t + 1 < mask.size and mask[t + 1]:
            t += 1
        start, stop = first * period_hours + 1, (t + 1) * period_hours
        ranges.append(f"{start:g}–{stop:g} h" if stop > start else f"{start:g} h")
        t += 1
    return ", ".join(ranges)


def _evening_claim(peak: NDArray[np.bool_], period_hours: float, peak_hours: str,
                   status: str) -> Claim:
    """The paper's text: the dynamic tariff is high at 18–22 h. How many of those hours are
    peak periods of ptn's tariff."""
    hours = np.arange(17, 22) + 0.5  # the middles of the hours labelled 18..22
    periods = np.minimum((hours // period_hours).astype(int), peak.size - 1)
    covered = int(np.sum(peak[periods]))
    verdict = "reproduced" if covered == hours.size else (
        f"differs ({covered} of its 5 hours are peak: the classes follow our load, the RTS "
        "winter weekday's broad day-time peak, not the paper's unpublished one)")
    return ("the load-following tariff is high in the evening", "18–22 h (text; Table 1: "
            "13–20 h)", f"peak {peak_hours or 'none'} ({status})", verdict)


def _traffic(scenario: Scenario, settings: StudySettings, outcome: NegotiationOutcome,
             out: Path) -> tuple[dict[str, Any], list[Path], list[Claim], list[tuple[str, str]]]:
    """Seed 002's MSA at the agreed prices, warm-started and cold: link flows, charging
    vehicles per station, iterations per period."""
    assert outcome.agreed is not None
    config = traffic_config_from_part(scenario.part("traffic"))
    if config.sue is None:
        raise InvalidInputError(f"{scenario.source}: traffic.assignment: the sue-der study needs "
                                f"assignment = \"sue\"")
    hours = scenario.public.period_hours
    spec = replace(config.sue, method="msa", criterion="step",
                   tolerance_veh_per_h=settings.msa_tolerance)
    problem = SuePeriodsProblem(spec)
    order = [config.station_names.index(s) for s in scenario.public.stations]
    prices = np.empty_like(outcome.agreed.price_per_mwh)
    prices[order] = outcome.agreed.price_per_mwh
    comparison = compare_warm_start(problem, prices)
    warm = comparison.warm
    files: list[Path] = []
    network = config.spec.charging.network
    labels = [f"{network.node_ids[a]}-{network.node_ids[b]}"
              for a, b in zip(network.link_tail, network.link_head, strict=True)]
    flows = warm.road_link_flow_veh_per_h
    files.append(write_csv([{"link": label, **{f"period_{t}": float(flows[t, k])
                                               for t in range(flows.shape[0])}}
                            for k, label in enumerate(labels)], out / "link_flows.csv"))
    files.append(_plot_link_flows(flows.T, labels, hours, out / "link_flows.png"))
    vehicles = {name: warm.station_flow_veh_per_h[order[k]]
                for k, name in enumerate(scenario.public.stations)}
    files.append(write_csv([{"period": t, **{n: float(v[t]) for n, v in vehicles.items()}}
                            for t in range(flows.shape[0])], out / "charging_vehicles.csv"))
    files.append(plot_series(vehicles, hours, out / "charging_vehicles.png",
                             ylabel="EVs charging (veh/h)",
                             title="vehicles charging per station (SUE by MSA)"))
    files.append(write_csv(comparison.rows(), out / "msa_iterations.csv"))
    files.append(plot_series({"cold (free-flow start)": comparison.cold_iterations.astype(float),
                              "warm (previous period)": comparison.warm_iterations.astype(float)},
                             hours, out / "msa_iterations.png", ylabel="MSA iterations",
                             title=f"MSA iterations per period (ε = {settings.msa_tolerance:g} "
                                   "veh/h)"))
    negotiated = outcome.agreed.station_load_mw
    msa_load = warm.station_load_mw[order]
    summary = {
        "msa_status": str(comparison.status),
        "msa_tolerance_veh_per_h": settings.msa_tolerance,
        "msa_cold_iterations": int(comparison.cold_iterations.sum()),
        "msa_warm_iterations": int(comparison.warm_iterations.sum()),
        "msa_cold_seconds": float(comparison.cold_seconds.sum()),
        "msa_warm_seconds": float(comparison.warm_seconds.sum()),
        "msa_warm_cold_max_link_difference_veh_per_h":
            comparison.max_link_flow_difference_veh_per_h,
        "msa_vs_negotiated_max_load_difference_mw": float(np.max(np.abs(msa_load - negotiated))),
        "peak_charging_veh_per_h": float(warm.station_flow_veh_per_h.sum(axis=0).max()),
    }
    second = int(comparison.warm_iterations[1]) if comparison.warm_iterations.size > 1 else 0
    summary["msa_warm_iterations_second_period"] = second
    fewer = comparison.warm_iterations.sum() < comparison.cold_iterations.sum()
    fast = second <= 2
    claims: list[Claim] = [(
        "MSA warm-started from the previous period converges faster", "t = 2: 2 iterations "
        "(Figs. 7–8)", f"{summary['msa_cold_iterations']} → {summary['msa_warm_iterations']} "
        f"iterations over the day; t = 2: {summary['msa_warm_iterations_second_period']}",
        ("reproduced" if fast else "reproduced in direction (t = 2 needs "
         f"{summary['msa_warm_iterations_second_period']})") if fewer else "differs")]
    rows = [("MSA station loads against the negotiated ones (largest difference)",
             f"{summary['msa_vs_negotiated_max_load_difference_mw']:.2e} MW")]
    return summary, files, claims, rows


def _plot_link_flows(flows: FloatArray, labels: list[str], period_hours: float,
                     path: Path) -> Path:
    """Link × period heatmap of road flows (veh/h), seed 002's Fig. 5."""
    figure, axes = new_figure()
    links, periods = flows.shape
    image = axes.imshow(flows, aspect="auto", origin="upper", interpolation="nearest",
                        cmap="magma_r", extent=(0.0, periods * period_hours, links - 0.5, -0.5))
    colour_bar = figure.colorbar(image, ax=axes)
    colour_bar.set_label("flow (veh/h)")
    ticks = tick_positions(links, 25)
    axes.set_yticks(ticks, [labels[i] for i in ticks], fontsize=6)
    axes.set_xlabel("hour")
    axes.set_ylabel("road link")
    axes.set_title("road link flows (SUE by MSA at the agreed prices)")
    return save_figure(figure, path)
