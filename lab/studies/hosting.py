"""Seed 003's study: the coordinated operation against the uncoupled baseline, and EV hosting.

Why this module exists: seed 003 (Sadhu et al. 2022, "Optimal transportation–power network
flow") reports three results on the IEEE 30-bus system run radially with Sioux Falls (stations
at buses 7 and 16; MODELS.md §5):

1. a 36.4 % lower total cost than the uncoupled baseline (5470.67 against 8604.67 €/h);
2. 45 % more EV penetration hosted without voltage or thermal violations, voltages deviating
   by 0.1–0.3 %;
3. a bus-by-hour voltage heatmap before and after the optimization.

Here (1) is the negotiation's own comparison: the baseline is the traffic's equilibrium at a
flat tariff with the DSO dispatching the result, and the negotiated operation is the private
ADMM (:mod:`ptn.lab.studies.study` writes both). (2) is :func:`ptn.lab.references.hosting` on the
same cases, full-information: the largest EV demand scale each operation serves. (3) is the
DSO's dispatch of the baseline loads and of the agreed loads, drawn as heatmaps.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.outcome import NegotiationOutcome
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import hosted_endpoints
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.multiperiod import build_multiperiod_problem
from ptn.figures import plot_voltage_heatmap
from ptn.lab.progress_log import ProgressLog
from ptn.lab.references.hosting import hosting_capacity
from ptn.lab.studies.dispatch import (
    plot_voltages,
    slack_rows,
    voltage_band_pu,
    voltage_by_bus,
)
from ptn.lab.studies.seed003_claims import (
    PAPER_HOSTING_GAIN_PERCENT,
    PAPER_SAVING_PERCENT,
    claims_table,
)
from ptn.lab.studies.seed003_report import (
    binding_detail,
    gain_decomposition,
    paper_cost_section,
    table3_section,
    voltage_difference_section,
)
from ptn.lab.studies.study import StudySettings, write_csv
from ptn.scenario.document import Scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.traffic.config import TrafficConfig, traffic_config_from_part
from ptn.services.traffic.model import TrafficDepartmentModel


def analyse_hosting(scenario: Scenario, settings: StudySettings, outcome: NegotiationOutcome,
                    out: Path, console: ProgressLog | None
                    ) -> tuple[dict[str, Any], list[Path], str]:
    """Seed 003's tables and figures from the negotiation's outcome (module doc)."""
    assert outcome.agreed is not None and outcome.baseline is not None
    config = dso_config_from_part(scenario.part("dso"))
    dso = DsoModel(config)  # one fixed-load OPF, re-solved for each set of station loads
    files: list[Path] = []
    summary: dict[str, Any] = {}
    baseline_total, agreed_total = outcome.baseline.total, outcome.agreed.total
    saving_percent = 100.0 * (baseline_total - agreed_total) / baseline_total
    summary["saving_percent"] = saving_percent

    # (3) voltages before (baseline loads) and after (agreed loads), and without any EV
    voltages: dict[str, Any] = {}
    matrices: dict[str, tuple[list[str], np.ndarray]] = {}
    no_ev = dso.dispatch_fixed(np.zeros_like(outcome.agreed.station_load_mw))
    no_ev_voltage = voltage_by_bus(no_ev)[1] if no_ev.status.has_solution else None
    for label, loads in (("before", outcome.baseline.station_load_mw),
                         ("after", outcome.agreed.station_load_mw)):
        dispatch = dso.dispatch_fixed(loads)
        if not dispatch.status.has_solution:
            voltages[label] = {"status": str(dispatch.status), "message": dispatch.message}
            continue
        labels, voltage = voltage_by_bus(dispatch)
        matrices[label] = (labels, voltage)
        files.append(plot_voltages(dispatch, config, out / f"voltage_{label}.png",
                                   f"bus voltages {label} coordination"))
        rows = [{"bus": bus, **{f"period_{t}": float(v) for t, v in enumerate(row)}}
                for bus, row in zip(labels, voltage, strict=True)]
        files.append(write_csv(rows, out / f"voltage_{label}.csv"))
        voltages[label] = {"status": str(dispatch.status),
                           "voltage_min_pu": float(voltage.min()),
                           "voltage_max_pu": float(voltage.max()),
                           "worst_bus": labels[int(np.argmin(voltage.min(axis=1)))],
                           "dso_cost_usd": float(dispatch.objective),
                           "max_voltage_drop_by_evs_percent": math.nan
                           if no_ev_voltage is None
                           else float(100.0 * np.max(no_ev_voltage - voltage))}
    summary["voltages"] = voltages

    section = [
        "## Seed 003: cost saving, voltages and EV hosting capacity", "",
        "| | paper | ptn |", "|---|---:|---:|",
        f"| saving against the uncoupled baseline | {PAPER_SAVING_PERCENT:.1f} % | "
        f"{saving_percent:.2g} % |",
    ]
    for label in ("before", "after"):
        entry = voltages.get(label, {})
        if "voltage_min_pu" in entry:
            section.append(f"| lowest voltage {label} coordination (bus {entry['worst_bus']}) "
                           f"| — | {entry['voltage_min_pu']:.4f} p.u. |")
            section.append(f"| largest voltage drop the EVs cause, {label} coordination | "
                           f"{'0.1–0.3 %' if label == 'after' else '—'} | "
                           f"{entry['max_voltage_drop_by_evs_percent']:.2f} % |")
    if "before" in matrices and "after" in matrices:
        difference, difference_files, difference_lines = voltage_difference_section(
            matrices["before"][0], matrices["before"][1], matrices["after"][1], out)
        summary.update(difference)
        files += difference_files
        section += difference_lines
    hosting_summary, hosting_files, hosting_lines = _hosting(scenario, settings, dso, out,
                                                             console)
    summary["hosting"] = hosting_summary
    files += hosting_files
    section += hosting_lines
    traffic = traffic_config_from_part(scenario.part("traffic"))
    for part_summary, part_files, part_lines in (
            paper_cost_section(scenario, traffic, outcome, out),
            table3_section(traffic, scenario.coordinator.baseline_tariff_per_mwh, out)):
        summary.update(part_summary)
        files += part_files
        section += ["", *part_lines]
    claims = {**summary, "periods": scenario.public.periods,
              "negotiation": {"status": str(outcome.status), "rounds": len(outcome.rounds),
                              "gap_to_centralized": outcome.gap_to_centralized}}
    section += ["", "### Claims", "", *claims_table(claims)]
    return summary, files, "\n".join(section)


def _hosting(scenario: Scenario, settings: StudySettings, dso: DsoModel, out: Path,
             console: ProgressLog | None
             ) -> tuple[dict[str, Any], list[Path], list[str]]:
    """EV hosting capacity of the uncoordinated and the coordinated operation, the voltages at
    each capacity, and the table row of each."""
    config = dso.config
    traffic = traffic_config_from_part(scenario.part("traffic"))
    if traffic.sue is not None:
        raise InvalidInputError(f"{scenario.source}: traffic.assignment: the hosting study needs "
                                f"the deterministic equilibrium (assignment = \"ue\")")
    if console is not None:
        console.print("hosting capacity: bisection on the EV demand scale, uncoordinated and "
                      "coordinated")
    result = hosting_capacity(build_multiperiod_problem(traffic.spec), config.case,
                              flat_tariff_per_mwh=scenario.coordinator.baseline_tariff_per_mwh,
                              tolerance=settings.hosting_tolerance,
                              max_scale=settings.hosting_max_scale)
    files: list[Path] = []
    rows: list[dict[str, Any]] = []
    band = voltage_band_pu(config)
    for mode in (result.uncoordinated, result.coordinated):
        voltages = mode.voltages
        rows.append({
            "operation": mode.mode, "status": mode.status, "capacity_scale": mode.capacity_scale,
            "first_scale_not_hosted": mode.upper_scale, "limit": mode.limit,
            "peak_charging_mw": float(np.nansum(voltages.station_load_mw, axis=0).max())
            if voltages is not None and voltages.station_load_mw.size else math.nan,
            "min_voltage_pu": voltages.min_voltage_pu if voltages is not None else math.nan,
            "max_voltage_change_percent": 100.0 * voltages.max_voltage_change_pu
            if voltages is not None else math.nan,
            "solves": mode.solves,
            **binding_detail(voltages, band[0]),
        })
        if voltages is not None and voltages.has_voltages:
            files.append(plot_voltage_heatmap(
                voltages.voltage_matrix_pu(), voltages.bus_labels(),
                out / f"hosting_voltage_{mode.mode}.png", v_min_pu=band[0], v_max_pu=band[1],
                exempt_rows=slack_rows(config),
                title=f"{mode.mode} at its hosting capacity (EV demand × "
                      f"{mode.capacity_scale:.3g})"))
    columns = list(dict.fromkeys(key for row in rows for key in row))  # a mode may lack some
    rows = [{key: row.get(key, math.nan) for key in columns} for row in rows]
    files.append(write_csv(rows, out / "hosting.csv"))
    private: dict[str, Any] = {}
    if result.uncoordinated.status == result.coordinated.status == "found" \
            and result.coordinated.capacity_scale > result.uncoordinated.upper_scale:
        # halfway between the capacities: beyond what the uncoordinated operation hosts, short
        # of the coordinated limit, where ADMM's iterates approach a thin feasible set slowly
        between = 0.5 * (result.uncoordinated.upper_scale + result.coordinated.capacity_scale)
        private = _private_at_scale(scenario, traffic, dso, between, console)
    gain_percent = 100.0 * result.gain
    decomposition = gain_decomposition(rows, scenario.public.stations)
    summary = {"status": result.status, "gain_percent": gain_percent, "modes": rows,
               "gain_decomposition": decomposition,
               "tolerance": settings.hosting_tolerance, "seconds": result.seconds,
               "band_pu": band, "private_between_capacities": private}
    by_mode = {row["operation"]: row for row in rows}
    lines = [
        f"| EV hosting capacity, uncoordinated (EV demand scale) | — | "
        f"{by_mode['uncoordinated']['capacity_scale']:.3f} "
        f"({by_mode['uncoordinated']['limit']}) |",
        f"| EV hosting capacity, coordinated | — | "
        f"{by_mode['coordinated']['capacity_scale']:.3f} ({by_mode['coordinated']['limit']}) |",
        f"| hosting capacity gained by coordination | +{PAPER_HOSTING_GAIN_PERCENT:.0f} % | "
        f"{gain_percent:+.1f} % |",
    ]
    first = scenario.public.stations[0]
    if all("binding_period" in row for row in rows):
        lines.append(
            f"| where each capacity binds: period (periods at the band), bus, {first}'s share of "
            f"the charging there | — | " + " / ".join(
                f"{row['operation']}: {row['binding_period']} ({row['periods_at_band']}), bus "
                f"{row['worst_bus']}, "
                f"{100 * row.get(f'{first}_share_in_binding_period', math.nan):.0f} %"
                for row in rows) + " |")
    if decomposition:
        second = scenario.public.stations[1]
        lines.append(
            f"| the gain in period {decomposition['period']}: 1 + gain = {first}'s "
            f"uncoordinated share × (1 + {second}/{first} coordinated) × {first} coordinated / "
            f"uncoordinated | — | {decomposition['uncoordinated_share']:.3f} × "
            f"{decomposition['coordinated_ratio']:.3f} × "
            f"{decomposition['first_station_factor']:.3f} = {decomposition['product']:.3f} |")
    if private:
        lines.append(
            f"| private negotiation at EV demand × {private['ev_scale']:.3g} (between the "
            f"capacities): baseline / agreement | — | {private['baseline_status']} / "
            f"{private['status']} in {private['rounds']} rounds, lowest voltage "
            f"{private['voltage_min_pu']:.4f} p.u. |")
    lines += [
        "", f"Voltage band {band[0]:g}–{band[1]:g} p.u.; capacities by bisection to "
            f"{settings.hosting_tolerance:g} relative ({result.solves} solves, "
            f"{result.seconds:.0f} s).",
    ]
    return summary, files, lines


def _private_at_scale(scenario: Scenario, traffic: TrafficConfig, dso: DsoModel,
                         ev_scale: float, console: ProgressLog | None) -> dict[str, Any]:
    """The private negotiation with the EV demand at ``ev_scale`` (both operators in this
    process): where the uncoordinated operation cannot be served, coordination still reaches a
    feasible one. Its baseline's status, its own, rounds and the DSO's lowest voltage."""
    if console is not None:
        console.print(f"private negotiation at EV demand x {ev_scale:.3g}")
    spec = replace(traffic.spec, ev_demand_veh_per_h=traffic.spec.ev_demand_veh_per_h * ev_scale)
    endpoints = hosted_endpoints({"traffic": TrafficDepartmentModel(replace(traffic, spec=spec)),
                                  "dso": DsoModel(dso.config)})
    outcome = negotiate(scenario, endpoints)
    entry: dict[str, Any] = {
        "ev_scale": ev_scale, "status": str(outcome.status), "rounds": len(outcome.rounds),
        "baseline_status": outcome.baseline.status if outcome.baseline is not None else "none",
        "message": outcome.message, "voltage_min_pu": math.nan}
    if outcome.agreed is not None:
        dispatch = dso.dispatch_fixed(outcome.agreed.station_load_mw)
        if dispatch.status.has_solution:
            entry["voltage_min_pu"] = float(voltage_by_bus(dispatch)[1].min())
        entry["total_usd"] = outcome.agreed.total
    return entry
