"""Seed 003's before/after voltage difference heatmap.

Why this module exists: seed 003 (Sadhu et al. 2022, Fig. 4) shows the bus-by-hour voltages
before and after its optimization and says the stressed buses are "alleviated". Two heatmaps of
voltages around 0.93–1.0 p.u. hide a shift of a few thousandths; their difference (after minus
before, per bus and period) shows where coordination raises voltages and where it lowers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.network import FloatArray
from ptn.figures import new_figure, save_figure, tick_positions


def voltage_difference_pu(before_pu: ArrayLike, after_pu: ArrayLike) -> FloatArray:
    """After minus before (p.u.), ``[bus, period]``: positive where coordination raises the
    voltage."""
    before = np.asarray(before_pu, dtype=np.float64)
    after = np.asarray(after_pu, dtype=np.float64)
    if before.shape != after.shape or before.ndim != 2:
        raise InvalidInputError(f"voltages before {before.shape} and after {after.shape} must "
                                f"be equal (buses, periods) matrices")
    return after - before


def plot_voltage_difference(difference_pu: ArrayLike, bus_labels: Sequence[str], path: Path,
                            *, title: str = "") -> Path:
    """Bus × period heatmap of a voltage difference in percent of nominal, on a diverging colour
    scale symmetric about zero (red: lower after, blue: higher after)."""
    percent = 100.0 * np.asarray(difference_pu, dtype=np.float64)
    if percent.ndim != 2 or percent.shape[0] != len(bus_labels):
        raise InvalidInputError(f"{len(bus_labels)} bus labels for a difference of shape "
                                f"{percent.shape}")
    buses, periods = percent.shape
    finite = np.abs(percent[np.isfinite(percent)])
    bound = max(float(finite.max()) if finite.size else 0.0, 1e-6)
    figure, axes = new_figure()
    image = axes.imshow(np.ma.masked_invalid(percent), aspect="auto", origin="upper",
                        interpolation="nearest", cmap="RdBu", vmin=-bound, vmax=bound,
                        extent=(-0.5, periods - 0.5, buses - 0.5, -0.5))
    figure.colorbar(image, ax=axes).set_label("voltage after − before (% of nominal)")
    axes.set_xlabel("period")
    axes.set_ylabel("bus")
    ticks = tick_positions(buses, 25)
    axes.set_yticks(ticks)
    axes.set_yticklabels([str(bus_labels[i]) for i in ticks], fontsize="small")
    axes.set_xticks(tick_positions(periods, 24))
    axes.set_title(title or "Voltage change by coordination")
    return save_figure(figure, path)
