"""Figures shared by the coordinator's results and the operators' private reports.

Why this module exists: the coordinator's plots (:mod:`ptn.coordinator.results.plots`) and an
operator's own report (the DSO's voltage heatmap, which only the DSO may draw: voltages are private)
share one figure style; operators must not import the coordinator, so the common part lives here.
Figures are drawn on the Agg canvas without pyplot's global state (thread-safe, no display).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

FIGURE_SIZE_IN = (7.0, 4.0)
#: a voltage counts as outside its limits in a heatmap beyond this (p.u.): an OPF holding a
#: voltage on its limit returns it within the solver's tolerance, on either side
LIMIT_MARK_TOLERANCE_PU = 1e-4
DPI = 120
_PNG_METADATA: dict[str, str | None] = {"Software": None}


def new_figure() -> tuple[Figure, Axes]:
    """A figure of the standard size on the Agg canvas (no pyplot state) and its axes."""
    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG (parents created, no timestamp metadata)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI, metadata=_PNG_METADATA)
    return path


def tick_positions(count: int, most: int) -> list[int]:
    """At most ``most`` evenly spaced tick positions over ``count`` items."""
    step = max(1, int(np.ceil(count / most)))
    return list(range(0, count, step))


def plot_voltage_heatmap(
    voltage_pu: ArrayLike,
    bus_labels: Sequence[str],
    path: Path,
    *,
    v_min_pu: float | None = None,
    v_max_pu: float | None = None,
    title: str = "",
    exempt_rows: Sequence[int] = (),
) -> Path:
    """Bus × period heatmap of voltage magnitudes (p.u.), ``voltage_pu`` of shape (buses, periods).

    The limits ``v_min_pu``/``v_max_pu``, when given, widen the colour scale to include them,
    are drawn on the colour bar, and cells outside them by more than
    :data:`LIMIT_MARK_TOLERANCE_PU` are marked with an ×, except in ``exempt_rows`` (buses
    whose voltage is fixed, such as a slack bus with its own set point).
    """
    voltage = np.asarray(voltage_pu, dtype=float)
    if voltage.ndim != 2:
        raise ValueError(f"voltage_pu must be (buses, periods), got shape {voltage.shape}")
    buses, periods = voltage.shape
    if len(bus_labels) != buses:
        raise ValueError(f"{len(bus_labels)} bus labels for {buses} buses")
    figure, axes = new_figure()
    finite = voltage[np.isfinite(voltage)]
    bounds = [float(value) for value in (v_min_pu, v_max_pu) if value is not None]
    low = min([*finite.tolist(), *bounds], default=0.95)
    high = max([*finite.tolist(), *bounds], default=1.05)
    if high - low < 1e-6:
        low, high = low - 0.005, high + 0.005
    image = axes.imshow(
        np.ma.masked_invalid(voltage), aspect="auto", origin="upper", interpolation="nearest",
        cmap="viridis", vmin=low, vmax=high,
        extent=(-0.5, periods - 0.5, buses - 0.5, -0.5),
    )
    colour_bar = figure.colorbar(image, ax=axes)
    colour_bar.set_label("voltage magnitude (p.u.)")
    for limit in bounds:
        colour_bar.ax.axhline(limit, color="red", linewidth=1.5)
    outside = np.zeros_like(voltage, dtype=bool)
    if v_min_pu is not None:
        outside |= voltage < v_min_pu - LIMIT_MARK_TOLERANCE_PU
    if v_max_pu is not None:
        outside |= voltage > v_max_pu + LIMIT_MARK_TOLERANCE_PU
    outside[list(exempt_rows)] = False
    rows, columns = np.nonzero(outside)
    if rows.size:
        axes.plot(columns, rows, linestyle="none", marker="x", color="red", markersize=4)
    axes.set_xlabel("period")
    axes.set_ylabel("bus")
    axes.set_yticks(tick_positions(buses, 25))
    axes.set_yticklabels([str(bus_labels[i]) for i in tick_positions(buses, 25)],
                         fontsize="small")
    axes.set_xticks(tick_positions(periods, 24))
    axes.set_title((title or "Bus voltages") + (" (× outside limits)" if rows.size else ""))
    return save_figure(figure, path)
