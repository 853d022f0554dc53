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
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console

from ptn.coordinator.outcome import NegotiationOutcome
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.sue_periods import SuePeriodsProblem, compare_warm_start
from ptn.figures import new_figure, save_figure, tick_positions
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
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.traffic.config import traffic_config_from_part

FloatArray = NDArray[np.float64]

#: seed 002's reported relaxation error (Fig. 12: "at the level of 1e-6")
PAPER_RELAXATION_ERROR = 1e-6


def analyse_sue_der(scenario: Scenario, settings: StudySettings, outcome: NegotiationOutcome,
                    out: Path, console: Console | None) -> tuple[dict[str, Any], list[Path], str]:
    """Seed 002's tables and figures at the negotiated operation (module doc)."""
    assert outcome.agreed is not None
    hours = scenario.public.period_hours
    config = dso_config_from_part(scenario.part("dso"))
    files: list[Path] = []
    summary: dict[str, Any] = {}
    section = ["## Seed 002: SUE traffic with DER", ""]

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
        section += [
            "| | paper | ptn |", "|---|---:|---:|",
            f"| largest SOC relaxation error (p.u.²) | ~{PAPER_RELAXATION_ERROR:.0e} | "
            f"{worst:.1e} |",
            f"| lowest bus voltage (band {band[0]:g}–{band[1]:g} p.u.) | — | "
            f"{summary['voltage_min_pu']:.4f} p.u. |",
        ]
    else:
        section.append(f"The DSO's dispatch of the agreed loads is {dispatch.status}: "
                       f"{dispatch.message}")
    if not dispatch.status.has_solution:
        section += ["", "| | paper | ptn |", "|---|---:|---:|"]
    traffic_summary, traffic_files, traffic_lines = _traffic(scenario, settings, outcome, out)
    summary["traffic"] = traffic_summary
    files += traffic_files
    section += traffic_lines
    return summary, files, "\n".join(section)


def _traffic(scenario: Scenario, settings: StudySettings, outcome: NegotiationOutcome,
             out: Path) -> tuple[dict[str, Any], list[Path], list[str]]:
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
    lines = [
        f"| MSA iterations over the day, cold → warm-started | fewer when warm (t = 2: 2) | "
        f"{summary['msa_cold_iterations']} → {summary['msa_warm_iterations']} |",
        f"| MSA station loads against the negotiated ones (largest difference) | — | "
        f"{summary['msa_vs_negotiated_max_load_difference_mw']:.2e} MW |",
    ]
    return summary, files, lines


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
