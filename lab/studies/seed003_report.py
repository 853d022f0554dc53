"""Seed 003's study: the paper's cost terms and accounting, Table 3 and the voltage difference.

Why this module exists: :mod:`ptn.lab.studies.hosting` runs seed 003's study; the sections it
adds to the results folder in the paper's own terms live here, each returning (summary entries,
files, report lines):

* :func:`paper_cost_section`: the EVs' travel cost, their charging bill and the feeder's cost of
  the uncoordinated, negotiated and centralized operations and the savings on them
  (:mod:`ptn.lab.studies.seed003_costs`), and the paper's accounting, on Table 2 and on ours;
* :func:`table3_section`: Table 3 at full demand (:mod:`ptn.lab.studies.seed003_table3`);
* :func:`voltage_difference_section`: after minus before, per bus and period
  (:mod:`ptn.lab.studies.seed003_figures`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.outcome import CostSummary, NegotiationOutcome
from ptn.coordinator.results.formatting import money
from ptn.engines.traffic.multiperiod import MultiPeriodResult, build_multiperiod_problem
from ptn.engines.traffic.network import FloatArray
from ptn.lab.references.hosting import OperationVoltages
from ptn.lab.studies.seed003_costs import (
    PAPER_BASELINE_COST,
    PAPER_PDN_COST,
    PAPER_SYSTEM_COST,
    PAPER_TN_COST,
    PaperCostTerms,
    cost_terms_at,
    paper_accounting,
    saving_rows,
    table2_implied_terms,
)
from ptn.lab.studies.seed003_figures import plot_voltage_difference, voltage_difference_pu
from ptn.lab.studies.seed003_table3 import (
    full_demand_equilibrium,
    paper_rows,
    table3_markdown,
    table3_rows,
)
from ptn.lab.studies.study import write_csv
from ptn.scenario.document import Scenario
from ptn.services.traffic.config import TrafficConfig

Section = tuple[dict[str, Any], list[Path], list[str]]
#: a period's lowest voltage counts as raised or lowered by coordination beyond this (p.u.): the
#: OPF's voltages are good to about 1e-6 p.u.
RELIEF_PU = 1e-6


def _operations(outcome: NegotiationOutcome) -> list[tuple[str, CostSummary]]:
    points = (("uncoordinated", outcome.baseline), ("negotiated", outcome.agreed),
              ("centralized", outcome.centralized))
    return [(label, point) for label, point in points
            if point is not None and np.all(np.isfinite(point.price_per_mwh))]


def paper_cost_section(scenario: Scenario, traffic: TrafficConfig,
                       outcome: NegotiationOutcome, out: Path) -> Section:
    """The paper's cost terms of each operation, the savings on them and its accounting."""
    problem = build_multiperiod_problem(traffic.spec)
    hours = scenario.public.period_hours
    horizon_h = hours * scenario.public.periods
    terms: list[PaperCostTerms] = []
    warm: MultiPeriodResult | None = None
    for label, point in _operations(outcome):
        term, warm = cost_terms_at(label, problem, point, scenario.public.stations, hours,
                                   gap=traffic.equilibrium_gap,
                                   max_iterations=traffic.max_iterations, warm_start=warm)
        terms.append(term)
    rows = [term.row() for term in terms]
    savings = saving_rows(terms)
    files = [write_csv(rows, out / "paper_costs.csv")]
    if savings:
        files.append(write_csv(savings, out / "paper_cost_savings.csv"))
    travel, bill = table2_implied_terms()
    table2 = paper_accounting(travel, bill, PAPER_PDN_COST)
    summary: dict[str, Any] = {
        "paper_costs": rows, "paper_cost_savings": savings,
        "paper_table2_accounting": {
            "tn_cost": PAPER_TN_COST, "pdn_cost": PAPER_PDN_COST,
            "implied_travel_cost": travel, "implied_charging_bill": bill,
            "baseline": table2.baseline, "joint": table2.joint, "saving": table2.saving,
            "saving_percent": table2.saving_percent},
    }
    lines = [
        "### The paper's cost terms", "",
        f"$ over the {horizon_h:g} h horizon (per hour: divide by {horizon_h:g}). EV travel "
        "cost = value of time × EV flow × travel time (roads, and the stations' queueing and "
        "charging time); charging bill = price × charging energy; feeder = the DSO's cost of "
        "generation and purchases. \"traffic $\" above is the Beckmann potential of all "
        "vehicles (the equilibrium's objective, not a cost the paper reports).", "",
        "| operation | EV travel $ | EV charging bill $ | feeder generation and purchase $ | "
        "paper objective (sum) $ | without the bill (a transfer) $ |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {t.operation} | {money(t.ev_travel_cost)} | {money(t.charging_bill)} | "
              f"{money(t.feeder_cost)} | {money(t.paper_objective)} | {money(t.social_cost)} |"
              for t in terms]
    if savings:
        lines += ["", "| saving against the uncoordinated operation | EV travel | charging bill "
                  "| feeder | paper objective | without the bill |",
                  "|---|---:|---:|---:|---:|---:|"]
        for row in savings:
            cells = [f"{money(float(row[f'{name}_saving_usd']))} $ "
                     f"({float(row[f'{name}_saving_percent']):.3g} %)"
                     for name in ("ev_travel_cost", "charging_bill", "feeder_cost",
                                  "paper_objective", "social_cost")]
            lines.append(f"| {row['operation']} | " + " | ".join(cells) + " |")
    mismatch = max((t.load_mismatch_mw for t in terms), default=math.nan)
    lines += ["", f"Each operation's traffic is the equilibrium at its station prices (largest "
                  f"gap to its recorded station loads: {mismatch:.2g} MW)."]
    lines += ["", "### The paper's accounting", "",
              f"Table 2: baseline {money(PAPER_BASELINE_COST)} = TN {money(PAPER_TN_COST)} + "
              f"PDN {money(PAPER_PDN_COST)}; joint {money(PAPER_SYSTEM_COST)} = PDN "
              f"{money(PAPER_PDN_COST)} + {money(travel)}. The saving "
              f"{money(table2.saving)} €/h ({table2.saving_percent:.2f} %) is the TN cost "
              f"less {money(travel)}: the charging bill, netted out of the joint figure.", "",
              "| operation | baseline (travel + bill + feeder) $ | joint (travel + feeder) $ "
              "| saving = the bill $ | saving % |", "|---|---:|---:|---:|---:|",
              f"| paper, Table 2 (€/h) | {money(table2.baseline)} | {money(table2.joint)} | "
              f"{money(table2.saving)} | {table2.saving_percent:.2f} % |"]
    for term in terms:
        accounting = term.accounting()
        lines.append(f"| ptn, {term.operation} | {money(accounting.baseline)} | "
                     f"{money(accounting.joint)} | {money(accounting.saving)} | "
                     f"{accounting.saving_percent:.2f} % |")
    return summary, files, lines


def table3_section(traffic: TrafficConfig, tariff_per_mwh: float, out: Path) -> Section:
    """Table 3 at full demand: the CSV of every link, the paper's rows, the Markdown excerpt."""
    result = full_demand_equilibrium(traffic.spec, tariff_per_mwh,
                                     gap=min(traffic.equilibrium_gap, 1e-8),
                                     max_iterations=traffic.max_iterations)
    rows = table3_rows(result)
    capacity = np.array([row["capacity_veh_per_h"] for row in rows])
    paper = paper_rows(capacity, [str(row["link"]) for row in rows])
    files = [write_csv(rows, out / "table3.csv"), write_csv(paper, out / "table3_paper.csv")]
    best = np.array([row["tntp_best_known_flow_veh_per_h"] for row in rows])
    flow = np.array([row["ue_flow_veh_per_h"] for row in rows])
    factor = np.array([row["congestion_factor"] for row in rows])
    difference = float(np.max(np.abs(flow - best))) if np.all(np.isfinite(best)) else math.nan
    disagree = [str(row["arc"]) for row in paper if not row["printed_factor_agrees"]]
    unmatched = [str(row["arc"]) for row in paper if not row["links_with_this_capacity"]]
    summary = {"table3": {
        "status": str(result.status), "relative_gap": result.relative_gap,
        "max_congestion_factor": float(factor.max()),
        "links_above_capacity": int(np.sum(factor > 1.0)),
        "max_abs_flow_difference_to_best_known": difference,
        "paper_rows_factor_not_flow_over_capacity": disagree,
        "paper_rows_capacity_not_in_network": unmatched,
        "station_flow_veh_per_h": result.station_flow_veh_per_h[0].tolist()}}
    lines = ["### Table 3: equilibrium flows and congestion factors at full demand", "",
             f"Sioux Falls at its full TNTP demand (one period, the study's EV share and "
             f"stations, flat tariff; equilibrium {result.status}, relative gap "
             f"{result.relative_gap:.1e}). The {min(12, len(rows))} most congested of "
             f"{len(rows)} links (all in `table3.csv`); the largest difference to the TNTP "
             f"best-known flows is {difference:.3g} veh/h (the EVs' detours to the "
             f"stations). {int(np.sum(factor > 1.0))} links carry more than their capacity "
             f"(largest factor {factor.max():.3f}; the paper's largest: 1.834).", ""]
    lines += table3_markdown(rows)
    lines += ["", f"The paper's rows (`table3_paper.csv`) name arcs of its own figure, not Sioux "
                  f"Falls links; {len(unmatched)} of its capacities are no Sioux Falls link's "
                  f"({', '.join(unmatched) or 'none'}), and the printed factor is not flow / "
                  f"capacity in {', '.join(disagree) or 'no row'}."]
    return summary, files, lines


def voltage_difference_section(labels: list[str], before_pu: FloatArray, after_pu: FloatArray,
                               out: Path) -> Section:
    """After minus before per bus and period: CSV, heatmap and the extremes."""
    difference = voltage_difference_pu(before_pu, after_pu)
    rows = [{"bus": bus, **{f"period_{t}": float(v) for t, v in enumerate(row)}}
            for bus, row in zip(labels, difference, strict=True)]
    files = [write_csv(rows, out / "voltage_difference.csv"),
             plot_voltage_difference(difference, labels, out / "voltage_difference.png",
                                     title="voltage after − before coordination")]
    low = np.unravel_index(int(np.argmin(difference)), difference.shape)
    high = np.unravel_index(int(np.argmax(difference)), difference.shape)
    # the lowest voltage of each period, after against before (the stressed bus relieved?)
    lowest = np.asarray(after_pu).min(axis=0) - np.asarray(before_pu).min(axis=0)
    summary = {"voltage_difference": {
        "min_pu": float(difference.min()), "min_bus": labels[int(low[0])],
        "min_period": int(low[1]), "max_pu": float(difference.max()),
        "max_bus": labels[int(high[0])], "max_period": int(high[1]),
        "periods": int(lowest.size),
        "periods_lowest_voltage_up": int(np.sum(lowest > RELIEF_PU)),
        "periods_lowest_voltage_down": int(np.sum(lowest < -RELIEF_PU))}}
    lines = [f"| largest voltage rise by coordination (bus {labels[int(high[0])]}, period "
             f"{int(high[1])}) | — | {100 * difference.max():+.3f} % |",
             f"| largest voltage fall by coordination (bus {labels[int(low[0])]}, period "
             f"{int(low[1])}) | — | {100 * difference.min():+.3f} % |"]
    return summary, files, lines


#: a period counts as held at the band's lower limit within this (p.u.): at a capacity found to
#: 1 %, one more step of EV demand moves the lowest voltage by about 4e-4 p.u. on this feeder
AT_BAND_PU = 5e-4


def binding_detail(voltages: OperationVoltages | None, v_min_pu: float) -> dict[str, Any]:
    """Where an operation at its hosting capacity meets the band: the period of its lowest
    voltage, the periods whose lowest voltage is at the band (``;``-separated), the worst bus,
    each station's load in the binding period (MW) and the first station's share of the
    charging there (what coordination moves)."""
    if voltages is None or not voltages.has_voltages:
        return {}
    matrix = voltages.voltage_matrix_pu()
    lowest = matrix.min(axis=0)
    period = int(np.argmin(lowest))
    labels = voltages.bus_labels()
    loads = voltages.station_load_mw[:, period]
    detail: dict[str, Any] = {
        "binding_period": period,
        "periods_at_band": ";".join(str(t) for t in np.flatnonzero(lowest <= v_min_pu
                                                                    + AT_BAND_PU)),
        "worst_bus": labels[int(np.argmin(matrix[:, period]))]}
    for name, load in zip(voltages.station_names, loads, strict=True):
        detail[f"{name}_mw_in_binding_period"] = float(load)
    total = float(np.sum(loads))
    detail[f"{voltages.station_names[0]}_share_in_binding_period"] = \
        float(loads[0]) / total if total > 0 else math.nan
    return detail


def gain_decomposition(rows: list[dict[str, Any]], stations: tuple[str, ...]
                       ) -> dict[str, float]:
    """The hosting gain as a product of three factors in the binding period (both operations'
    hosting rows, :func:`binding_detail`; two stations).

    Every EV charges once, so a period's total charging is the EV scale times a constant, and
    the capacities' ratio is the ratio of the two operations' total charging in any one period:
    ``1 + gain = s × (1 + P2/P1) × P1/P1u`` with ``s`` the uncoordinated share of the first
    station, ``P1, P2`` the coordinated loads and ``P1u`` the uncoordinated load of the first
    station, all in the coordinated operation's binding period. Empty unless both rows carry
    the loads of that period."""
    if len(stations) != 2 or len(rows) != 2:
        return {}
    uncoordinated, coordinated = rows
    if "binding_period" not in coordinated \
            or uncoordinated.get("binding_period") != coordinated["binding_period"]:
        return {}
    first, second = (f"{name}_mw_in_binding_period" for name in stations)
    p1u, p2u = float(uncoordinated[first]), float(uncoordinated[second])
    p1, p2 = float(coordinated[first]), float(coordinated[second])
    if min(p1u, p1, p1u + p2u) <= 0:
        return {}
    share = p1u / (p1u + p2u)
    return {"period": int(coordinated["binding_period"]), "uncoordinated_share": share,
            "coordinated_ratio": 1.0 + p2 / p1, "first_station_factor": p1 / p1u,
            "product": share * (1.0 + p2 / p1) * (p1 / p1u)}
