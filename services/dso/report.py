"""The DSO's private report: its feeders' bus voltages (heatmap and CSV) at its latest dispatch,
or, when that dispatch was infeasible, every limit that could not be met.

Why this module exists: bus voltages are the DSO's private data (MODELS.md §0); the operator
writes them to its own output folder (``ptn serve --private-out``, ``<results>/operators/<id>/``
for the backends), never to the coordinator, so that its engineers can check the negotiated
dispatch against their voltage band. The coordinator's reply names only the heaviest violations
of an infeasible dispatch; ``infeasibility.json`` holds all of them
(:class:`ptn.engines.power.result.InfeasibilityReport`).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.power.der import DsoCase
from ptn.engines.power.result import OpfResult
from ptn.figures import plot_voltage_heatmap


def write_voltage_report(result: OpfResult, case: DsoCase, directory: Path) -> list[Path]:
    """Per feeder ``voltages[-<feeder>].png`` and ``.csv`` (bus × period, p.u.) of a dispatch
    with a solution, in ``directory`` (created); the files written."""
    if not result.status.has_solution:
        return []
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for feeder in result.feeders:
        suffix = "" if len(result.feeders) == 1 else f"-{feeder.name}"
        labels = [str(bus) for bus in feeder.bus_ids]
        source = next(f for f in case.feeders if f.name == feeder.name)
        written.append(plot_voltage_heatmap(
            feeder.voltage_pu, labels, out / f"voltages{suffix}.png",
            v_min_pu=float(np.min(source.v_min_pu)), v_max_pu=float(np.max(source.v_max_pu)),
            title=f"{feeder.name}: bus voltages",
        ))
        path = out / f"voltages{suffix}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["bus", *(f"period_{t}" for t in range(case.periods))])
            for label, row in zip(labels, feeder.voltage_pu, strict=True):
                writer.writerow([label, *(repr(float(v)) for v in row)])
        written.append(path)
    return written


INFEASIBILITY_FILE = "infeasibility.json"


def write_infeasibility_report(result: OpfResult, directory: Path) -> list[Path]:
    """``infeasibility.json`` (the elastic re-solve's report, every violation) of an infeasible
    dispatch, in ``directory`` (created); the files written (none without a report)."""
    if result.infeasibility is None:
        return []
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / INFEASIBILITY_FILE
    path.write_text(json.dumps(_finite(result.infeasibility.summary()), indent=2) + "\n",
                    encoding="utf-8")
    return [path]


def _finite(value: Any) -> Any:
    """Non-finite numbers as null, so the file is strict JSON."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
