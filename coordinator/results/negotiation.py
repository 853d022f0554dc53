"""The results folder of a negotiation (``ptn run --out DIR``) and its terminal summary table.

Why this module exists: a negotiation's outcome has to outlive the process that ran it, in files
a researcher opens without ptn (JSON, CSV, PNG), and be summed up on the terminal in a few lines.
Only what the coordinator saw goes here (:mod:`ptn.coordinator.outcome`), never operators' private
data. Files written (periods and rounds as numbered in the outcome, periods from 0):

* ``summary.json``: identity, status, rounds, timings, sizes; the costs (total and per operator)
  of the agreed, baseline and centralized operating points; the saving vs the baseline and the
  gap to the centralized optimum; the largest station-load difference to the centralized
  optimum; the mechanism's ``extra`` scalars. Strict JSON: NaN and infinities are ``null``.
* ``rounds.csv``: round, seconds, primal_residual, dual_residual, penalty_per_mw2h, objective,
  then ``price_<station>_per_mwh`` (the station's consensus price averaged over the periods).
* ``loads.csv``: station, period, agreed_load_mw, agreed_price_per_mwh, baseline_load_mw,
  centralized_load_mw (long format; a cell is empty when the value is absent or not finite).
* ``convergence.png``, ``prices.png``, ``station_loads.png`` (:mod:`ptn.coordinator.results.plots`).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.outcome import CostSummary, NegotiationOutcome
from ptn.coordinator.results.plots import plot_convergence, plot_prices, plot_station_loads

SUMMARY_FILE = "summary.json"
ROUNDS_FILE = "rounds.csv"
LOADS_FILE = "loads.csv"
CONVERGENCE_PLOT = "convergence.png"
PRICES_PLOT = "prices.png"
STATION_LOADS_PLOT = "station_loads.png"
ROUND_COLUMNS = (
    "round", "seconds", "primal_residual", "dual_residual", "penalty_per_mw2h", "objective",
)
LOAD_COLUMNS = (
    "station", "period", "agreed_load_mw", "agreed_price_per_mwh", "baseline_load_mw",
    "centralized_load_mw",
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
    rounds_path = _write_rounds(outcome, out / ROUNDS_FILE)
    loads_path = _write_loads(outcome, out / LOADS_FILE)
    return [
        summary_path,
        rounds_path,
        loads_path,
        plot_convergence(outcome, out / CONVERGENCE_PLOT),
        plot_prices(outcome, out / PRICES_PLOT),
        plot_station_loads(outcome, out / STATION_LOADS_PLOT),
    ]


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
    return _json_ready(summary)


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
            name if point.feasible else f"{name} (infeasible)",
            _money(point.total),
            *[_money(point.by_operator.get(operator, math.nan)) for operator in operators],
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
    saving_text = _money(saving)
    if relative is not None:
        saving_text += f" ({100 * relative:.2f} %)"
    gap = outcome.gap_to_centralized
    lines += [
        f"saving vs baseline:  {saving_text}",
        "gap to centralized:  " + (f"{100 * gap:.4f} %" if math.isfinite(gap) else "—"),
        f"rounds:              {len(outcome.rounds)}",
        f"seconds:             {outcome.seconds:.3f}",
    ]
    return "\n".join(lines)


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


def _write_rounds(outcome: NegotiationOutcome, path: Path) -> Path:
    price_columns = [f"price_{station}_per_mwh" for station in outcome.stations]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow([*ROUND_COLUMNS, *price_columns])
        for record in outcome.rounds:
            prices = np.asarray(record.price_per_mwh, dtype=float).reshape(
                len(outcome.stations), -1
            )
            mean_prices = (
                prices.mean(axis=1) if prices.shape[1] else np.full(len(outcome.stations), np.nan)
            )
            writer.writerow([
                str(int(record.round)),
                _cell(record.seconds),
                _cell(record.primal_residual),
                _cell(record.dual_residual),
                _cell(record.penalty_per_mw2h),
                _cell(record.objective),
                *[_cell(price) for price in mean_prices],
            ])
    return path


def _write_loads(outcome: NegotiationOutcome, path: Path) -> Path:
    shape = (len(outcome.stations), outcome.periods)

    def table(point: CostSummary | None, attribute: str) -> np.ndarray | None:
        if point is None:
            return None
        return np.asarray(getattr(point, attribute), dtype=float).reshape(shape)

    columns = [
        table(outcome.agreed, "station_load_mw"),
        table(outcome.agreed, "price_per_mwh"),
        table(outcome.baseline, "station_load_mw"),
        table(outcome.centralized, "station_load_mw"),
    ]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(LOAD_COLUMNS)
        for index, station in enumerate(outcome.stations):
            for period in range(outcome.periods):
                writer.writerow([
                    station,
                    str(period),
                    *["" if column is None else _cell(column[index, period]) for column in columns],
                ])
    return path


def _cell(value: float) -> str:
    """A CSV cell: the shortest round-trip repr of a finite float, else empty."""
    number = float(value)
    return repr(number) if math.isfinite(number) else ""


def _money(value: float) -> str:
    return f"{value:,.2f}" if math.isfinite(value) else "—"


def _json_ready(value: Any) -> Any:
    """Replace NaN and infinities by None (null) and numpy scalars by Python ones."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, int | np.integer):
        return int(value)
    return value
