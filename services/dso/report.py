"""The DSO's private report: its feeders' bus voltages (heatmap and CSV) at its latest dispatch.

Why this module exists: bus voltages are the DSO's private data (MODELS.md §0); the operator
writes them to its own output folder (``ptn serve --private-out``, ``<results>/operators/<id>/``
for the backends), never to the coordinator, so that its engineers can check the negotiated
dispatch against their voltage band.
"""

from __future__ import annotations

import csv
from pathlib import Path

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
