"""The results of joint coordination (``admm``): its folder, tables and terminal summary.

Why this module exists: a negotiation's outcome has to outlive the process that ran it, in files
a researcher opens without ptn (JSON, CSV, PNG), as tables a notebook user gets as DataFrames
(:func:`result_tables`, the same rows as the CSV files), and be summed up on the terminal in a
few lines.
Only what the coordinator saw goes here (:mod:`ptn.coordinator.outcome`), never operators' private
data. Files written (periods and rounds as numbered in the outcome, periods from 0):

* ``summary.json``: identity, status, rounds, timings, sizes; the costs (total and per operator)
  of the agreed, baseline and centralized operating points, with ``status`` and ``message``
  for a point without a solution (an infeasible baseline, a reference the solver found
  infeasible or failed on); the saving vs the baseline and the gap to the centralized
  optimum; the largest station-load difference to the centralized optimum; the mechanism's
  ``extra`` scalars; ``warnings``: what operators said beside their usable replies (stations
  whose charging capacity binds). Strict JSON: NaN and infinities are ``null``.
* ``rounds.csv``: round, seconds, primal_residual, dual_residual, penalty_per_mw2h, then
  ``mean_price_<station>_per_mwh`` (the station's consensus price averaged over the periods).
* ``loads.csv``: station, period, agreed_load_mw, agreed_price_per_mwh, baseline_load_mw,
  centralized_load_mw (long format; a cell is empty when the value is absent or not finite).
* ``prices.csv``: station, period, agreed_price_per_mwh (the consensus price λ),
  baseline_price_per_mwh (the flat tariff), centralized_price_per_mwh (the joint optimum's
  dual price at the station).
* ``convergence.png``, ``prices.png``, ``station_loads.png`` (one panel per station)
  (:mod:`ptn.coordinator.results.plots`).

:func:`write_results_folder` writes these and the researcher's overview: ``cost_comparison.png``
(baseline, agreement, centralized reference, stacked by operator), ``station_prices.png`` (the
agreed price, at convergence the DLMP at each station's bus, by station and period) and
``index.html`` (:mod:`ptn.coordinator.results.index_page`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ptn.coordinator.mechanisms.admm import ROUND_FIELDS
from ptn.coordinator.outcome import CostSummary, NegotiationOutcome, RoundRecord
from ptn.coordinator.results.formatting import json_ready, money, write_csv
from ptn.coordinator.results.index_page import SUMMARY_FILE, write_index_page
from ptn.coordinator.results.plots import (
    plot_convergence,
    plot_cost_comparison,
    plot_prices,
    plot_station_loads,
    plot_station_prices,
)

ROUNDS_FILE = "rounds.csv"
LOADS_FILE = "loads.csv"
CONVERGENCE_PLOT = "convergence.png"
PRICES_PLOT = "prices.png"
STATION_LOADS_PLOT = "station_loads.png"
COST_COMPARISON_PLOT = "cost_comparison.png"
STATION_PRICES_PLOT = "station_prices.png"
ROUND_COLUMNS = ("round", "seconds", *ROUND_FIELDS)
LOAD_COLUMNS = (
    "station", "period", "agreed_load_mw", "agreed_price_per_mwh", "baseline_load_mw",
    "centralized_load_mw",
)
PRICES_FILE = "prices.csv"
PRICE_COLUMNS = (
    "station", "period", "agreed_price_per_mwh", "baseline_price_per_mwh",
    "centralized_price_per_mwh",
)
OPERATING_POINTS = ("agreed", "baseline", "centralized")


def write_results(outcome: NegotiationOutcome, out: Path) -> list[Path]:
    """Create ``out`` (and parents) and write the summary, the two tables and the three plots.

    Returns the paths written, in the order above. Existing files of the same names are replaced.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / SUMMARY_FILE
    summary_path.write_text(
        json.dumps(results_summary(outcome), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return [
        summary_path,
        write_csv(out / ROUNDS_FILE, *_round_rows(outcome)),
        write_csv(out / LOADS_FILE, LOAD_COLUMNS, _load_rows(outcome)),
        write_csv(out / PRICES_FILE, PRICE_COLUMNS, _price_rows(outcome)),
        plot_convergence(outcome, out / CONVERGENCE_PLOT),
        plot_prices(outcome, out / PRICES_PLOT),
        plot_station_loads(outcome, out / STATION_LOADS_PLOT),
    ]


def write_results_folder(outcome: NegotiationOutcome, out: Path) -> list[Path]:
    """:func:`write_results`, the cost comparison, the station-price heatmap, then
    ``index.html`` (written last: it shows every figure in the folder)."""
    written = write_results(outcome, out)
    written += [plot_cost_comparison(outcome, Path(out) / COST_COMPARISON_PLOT),
                plot_station_prices(outcome, Path(out) / STATION_PRICES_PLOT)]
    return [*written, write_index_page(Path(out))]


def result_tables(outcome: NegotiationOutcome) -> dict[str, pd.DataFrame]:
    """The tables of the results folder as DataFrames: ``rounds``, ``loads`` (agreed,
    baseline and centralized loads, with the agreed prices) and ``prices`` (agreed, baseline
    and centralized prices)."""
    columns, rows = _round_rows(outcome)
    return {"rounds": pd.DataFrame(rows, columns=list(columns)),
            "loads": pd.DataFrame(_load_rows(outcome), columns=list(LOAD_COLUMNS)),
            "prices": pd.DataFrame(_price_rows(outcome), columns=list(PRICE_COLUMNS))}


def results_summary(outcome: NegotiationOutcome) -> dict[str, Any]:
    """The content of ``summary.json`` as JSON-native values (NaN and infinities as None).

    ``saving_vs_baseline.relative`` is the saving divided by ``|baseline total|``;
    ``gap_to_centralized`` is ``(agreed − centralized) / |centralized|`` as in the outcome.
    """
    saving = outcome.saving_vs_baseline
    baseline_total = outcome.baseline.total if outcome.baseline is not None else math.nan
    relative_saving = (
        saving / abs(baseline_total) if math.isfinite(baseline_total) and baseline_total else
        math.nan
    )
    summary: dict[str, Any] = {
        "negotiation_id": outcome.negotiation_id,
        "mechanism": outcome.mechanism,
        "status": outcome.status.value,
        "converged": outcome.converged,
        "message": outcome.message,
        "rounds": len(outcome.rounds),
        "seconds": float(outcome.seconds),
        "stations": list(outcome.stations),
        "periods": int(outcome.periods),
        "period_hours": float(outcome.period_hours),
    }
    for name in OPERATING_POINTS:
        summary[name] = _costs(getattr(outcome, name))
    summary["saving_vs_baseline"] = {"absolute": saving, "relative": relative_saving}
    summary["gap_to_centralized"] = outcome.gap_to_centralized
    summary["max_load_difference_to_centralized_mw"] = _max_load_difference(outcome)
    summary["extra"] = dict(outcome.extra)
    summary["warnings"] = list(outcome.warnings)
    if outcome.privacy:
        summary["privacy"] = outcome.privacy
    return json_ready(summary)


def status_lines(outcome: NegotiationOutcome) -> list[str]:
    """One line for each operating point without a solution (``reference: infeasible
    (...)``, ``baseline: infeasible (...)``), then one per operator warning."""
    lines = []
    for name, label in (("baseline", "baseline"), ("centralized", "reference")):
        point: CostSummary | None = getattr(outcome, name)
        if point is not None and not point.feasible:
            lines.append(f"{label}: {point.status} ({point.message})")
    lines += [f"warning: {warning}" for warning in outcome.warnings]
    return lines


def format_summary_table(outcome: NegotiationOutcome) -> str:
    """A plain-text table of costs (rows agreed/baseline/centralized) and a few summary lines."""
    operators: list[str] = []
    for name in OPERATING_POINTS:
        point: CostSummary | None = getattr(outcome, name)
        if point is not None:
            operators += [key for key in point.by_operator if key not in operators]
    header = ["", "total ($)", *[f"{operator} ($)" for operator in operators]]
    rows = [header]
    for name in OPERATING_POINTS:
        point = getattr(outcome, name)
        if point is None:
            rows.append([name, *["—"] * (len(header) - 1)])
            continue
        rows.append([
            name if point.feasible else f"{name} ({point.status})",
            money(point.total),
            *[money(point.by_operator.get(operator, math.nan)) for operator in operators],
        ])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        f"{outcome.mechanism} negotiation {outcome.negotiation_id}: {outcome.status.value}"
        + (f" ({outcome.message})" if outcome.message else ""),
    ]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    saving = outcome.saving_vs_baseline
    relative = results_summary(outcome)["saving_vs_baseline"]["relative"]
    saving_text = money(saving)
    if relative is not None:
        saving_text += f" ({100 * relative:.2f} %)"
    gap = outcome.gap_to_centralized
    lines += [
        f"saving vs baseline:  {saving_text}",
        "gap to centralized:  " + (f"{100 * gap:.4f} %" if math.isfinite(gap) else "—"),
        f"rounds:              {len(outcome.rounds)}",
        f"seconds:             {outcome.seconds:.3f}",
        *privacy_lines(outcome),
        *status_lines(outcome),
    ]
    return "\n".join(lines)


def privacy_lines(outcome: NegotiationOutcome) -> list[str]:
    """One line per operator that noised its releases: the ε it spent of the budget."""
    block = outcome.privacy
    if not block:
        return []
    budget = block["epsilon_budget"]
    if not block["operators"]:
        return [f"privacy:             {block['mechanism']}, epsilon {budget:g}: no noise"]
    return [f"privacy:             {operator} spent epsilon {spent['epsilon']:.4g} of {budget:g} "
            f"(delta {spent['delta']:.3g}, {spent['bound']} composition) in "
            f"{spent['releases']} noisy releases" + ("; budget spent" if spent["exhausted"]
                                                     else "")
            for operator, spent in block["operators"].items()]


def _costs(point: CostSummary | None) -> dict[str, Any] | None:
    if point is None:
        return None
    costs: dict[str, Any] = {
        "total": float(point.total),
        "by_operator": {key: float(value) for key, value in point.by_operator.items()},
    }
    if not point.feasible:
        costs |= {"status": point.status, "message": point.message}
    return costs


def _max_load_difference(outcome: NegotiationOutcome) -> float:
    """max |agreed − centralized| station load (MW); NaN when either is missing or empty."""
    if outcome.agreed is None or outcome.centralized is None:
        return math.nan
    difference = np.abs(
        np.asarray(outcome.agreed.station_load_mw, dtype=float)
        - np.asarray(outcome.centralized.station_load_mw, dtype=float)
    )
    return float(difference.max()) if difference.size else math.nan


def progress_line(record: RoundRecord, tolerance: float) -> str:
    """One round on the terminal: residuals against the tolerance, the penalty, the time (and
    the part of the run, when the round belongs to one)."""
    stage = f"{record.stage:>14} " if record.stage else ""
    return (f"{stage}round {record.round:>3}  primal {record.value('primal_residual'):9.2e}  "
            f"dual {record.value('dual_residual'):9.2e}  (stop at {tolerance:.0e})  rho "
            f"{record.value('penalty_per_mw2h'):8.3g}  {record.seconds * 1000:7.1f} ms")


def _round_rows(outcome: NegotiationOutcome) -> tuple[list[str], list[list[Any]]]:
    """The round table: the round, its seconds, ADMM's round fields, each station's price
    averaged over the periods."""
    columns = [*ROUND_COLUMNS, *(f"mean_price_{station}_per_mwh" for station in outcome.stations)]
    rows = []
    for record in outcome.rounds:
        prices = np.asarray(record.price_per_mwh, dtype=float).reshape(len(outcome.stations), -1)
        mean_prices = (prices.mean(axis=1) if prices.shape[1]
                       else np.full(len(outcome.stations), np.nan))
        rows.append([int(record.round), record.seconds,
                     *(record.value(name) for name in ROUND_FIELDS),
                     *(float(price) for price in mean_prices)])
    return columns, rows


def _point_rows(outcome: NegotiationOutcome, columns: list[tuple[CostSummary | None, str]]
                ) -> list[list[Any]]:
    """One row per station and period: the given attribute of each operating point (NaN where
    the point is absent)."""
    shape = (len(outcome.stations), outcome.periods)
    tables = [None if point is None else np.asarray(getattr(point, attribute),
                                                   dtype=float).reshape(shape)
              for point, attribute in columns]
    return [[station, period,
             *(math.nan if table is None else float(table[index, period]) for table in tables)]
            for index, station in enumerate(outcome.stations)
            for period in range(outcome.periods)]


def _load_rows(outcome: NegotiationOutcome) -> list[list[Any]]:
    return _point_rows(outcome, [(outcome.agreed, "station_load_mw"),
                                 (outcome.agreed, "price_per_mwh"),
                                 (outcome.baseline, "station_load_mw"),
                                 (outcome.centralized, "station_load_mw")])


def _price_rows(outcome: NegotiationOutcome) -> list[list[Any]]:
    return _point_rows(outcome, [(outcome.agreed, "price_per_mwh"),
                                 (outcome.baseline, "price_per_mwh"),
                                 (outcome.centralized, "price_per_mwh")])
