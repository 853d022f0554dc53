"""PNG plots of a negotiation: convergence, prices, station loads, costs, a voltage heatmap.

Why this module exists: the results folder of ``ptn run`` shows at a glance whether and how a
negotiation converged and what it agreed on; the DSO draws its own (private) voltage heatmap
with the same look. Every figure is a :class:`matplotlib.figure.Figure` rendered by
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`: no pyplot global state, no display,
so plots may be drawn from several threads (or operator processes) at once.

Each function writes one PNG and returns its path. Arrays are (stations, periods); the x-axis is
the start of each period in hours (period ``p`` starts at ``p * period_hours``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from numpy.typing import ArrayLike, NDArray

from ptn.coordinator.outcome import CostSummary, NegotiationOutcome
from ptn.figures import DPI, new_figure, plot_voltage_heatmap, save_figure, tick_positions

PERIOD_AXIS_LABEL = "period start (h)"
# no software/version string in the PNG, so the same outcome gives the same bytes


def plot_convergence(outcome: NegotiationOutcome, path: Path) -> Path:
    """Primal and dual relative residuals per round (log axis), the tolerance, the penalty ρ.

    The tolerance is ``outcome.extra["tolerance"]`` when present (a dashed line). Residuals that
    are zero, negative or not finite cannot be drawn on a log axis and are left out.
    """
    figure, axes = new_figure()
    records = outcome.rounds
    axes.set_title(f"Convergence — {outcome.mechanism} ({outcome.status.value})")
    axes.set_xlabel("round")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("relative residual (–)")
    if not records:
        note(axes, "no rounds")
        return save_figure(figure, path)
    rounds = np.array([record.round for record in records], dtype=float)
    primal = positive(np.array([record.value("primal_residual") for record in records]))
    dual = positive(np.array([record.value("dual_residual") for record in records]))
    penalty = np.array([record.value("penalty_per_mw2h") for record in records])

    lines = []
    lines += axes.plot(rounds, primal, marker="o", markersize=3, label="primal residual")
    lines += axes.plot(rounds, dual, marker="s", markersize=3, label="dual residual")
    tolerance = float(outcome.extra.get("tolerance", float("nan")))
    if np.isfinite(tolerance) and tolerance > 0:
        lines.append(
            axes.axhline(tolerance, color="black", linestyle="--", linewidth=1,
                         label=f"tolerance {tolerance:.3g}")
        )
    if np.isfinite(primal).any() or np.isfinite(dual).any() or np.isfinite(tolerance):
        axes.set_yscale("log")
    axes.grid(True, which="major", alpha=0.3)

    twin = axes.twinx()
    lines += twin.plot(rounds, penalty, color="tab:gray", linestyle=":", marker=".",
                       label="penalty ρ")
    twin.set_ylabel("penalty ρ ($/MW²h)")
    finite_penalty = penalty[np.isfinite(penalty)]
    if finite_penalty.size and (finite_penalty > 0).all() and (
        finite_penalty.max() / finite_penalty.min() > 20
    ):
        twin.set_yscale("log")
    axes.legend(lines, [str(line.get_label()) for line in lines], loc="upper right",
                fontsize="small")
    return save_figure(figure, path)


def plot_prices(outcome: NegotiationOutcome, path: Path) -> Path:
    """:func:`prices_figure` as PNG."""
    return save_figure(prices_figure(outcome), path)


def prices_figure(outcome: NegotiationOutcome) -> Figure:
    """Agreed consensus price per station vs period (steps); the baseline tariff dashed.

    A baseline flat across stations is one dashed line; otherwise each station's baseline price
    is dashed in that station's colour. With more than :data:`LEGEND_INSIDE_MOST` stations the
    legend stands beside the axes.
    """
    figure, axes = new_figure()
    axes.set_title(f"Consensus prices — {outcome.mechanism}")
    axes.set_xlabel(PERIOD_AXIS_LABEL)
    axes.set_ylabel("price ($/MWh)")
    colours = _colours(len(outcome.stations))
    drawn = False
    if outcome.agreed is not None:
        prices = _station_array(outcome.agreed.price_per_mwh, outcome)
        for index, station in enumerate(outcome.stations):
            _step(axes, outcome, prices[index], color=colours[index], label=station)
        drawn = True
    if outcome.baseline is not None:
        baseline = _station_array(outcome.baseline.price_per_mwh, outcome)
        finite = baseline[np.isfinite(baseline)]
        if finite.size and np.allclose(finite, finite[0]):
            axes.axhline(float(finite[0]), color="black", linestyle="--", linewidth=1,
                         label=f"baseline tariff {finite[0]:.4g} $/MWh")
        else:
            for index, station in enumerate(outcome.stations):
                _step(axes, outcome, baseline[index], color=colours[index], linestyle="--",
                      linewidth=1, label=f"{station} baseline")
        drawn = True
    if drawn:
        _finish(axes, outcome)
    else:
        note(axes, "no agreed prices")
    return figure


def plot_station_loads(outcome: NegotiationOutcome, path: Path) -> Path:
    """:func:`station_loads_figure` as PNG."""
    return save_figure(station_loads_figure(outcome), path)


def station_loads_figure(outcome: NegotiationOutcome) -> Figure:
    """Small multiples: one panel per station (shared axes) with its agreed charging load per
    period, the baseline dashed and the centralized reference as markers; one legend for the
    three kinds of line, outside the data (a legend entry per station and kind would cover
    it)."""
    stations = len(outcome.stations)
    columns = min(3, max(stations, 1))
    rows = max(1, -(-stations // columns))
    figure = Figure(figsize=(3.0 * columns + 1.0, 2.1 * rows + 0.9), dpi=DPI,
                    layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    figure.suptitle(f"Charging station loads — {outcome.mechanism}")
    points: list[tuple[CostSummary | None, str, dict[str, Any]]] = [
        (outcome.agreed, "agreed", {"color": "C0"}),
        (outcome.baseline, "baseline (uncoordinated)",
         {"color": "C1", "linestyle": "--", "linewidth": 1}),
        (outcome.centralized, "centralized reference", {"color": "C2"})]
    handles: dict[str, Any] = {}
    for index, axes in enumerate(grid.flat):
        if index >= stations:
            axes.set_visible(False)
            continue
        axes.set_title(outcome.stations[index], fontsize="medium")
        for point, label, style in points:
            if point is None or (label.startswith("centralized") and not point.feasible):
                continue
            loads = _station_array(point.station_load_mw, outcome)[index]
            if label.startswith("centralized"):
                middles = (np.arange(outcome.periods) + 0.5) * outcome.period_hours
                (line,) = axes.plot(middles, loads, linestyle="none", marker="o",
                                    markersize=3, markerfacecolor="none", label=label, **style)
            else:
                _step(axes, outcome, loads, label=label, **style)
                line = axes.get_lines()[-1]
            handles.setdefault(label, line)
        axes.set_xlim(0, outcome.periods * outcome.period_hours)
        axes.grid(True, alpha=0.3)
        if index % columns == 0:
            axes.set_ylabel("load (MW)")
        if index >= stations - columns:
            axes.set_xlabel(PERIOD_AXIS_LABEL)
            axes.tick_params(labelbottom=True)
    if handles:
        figure.legend(list(handles.values()), list(handles), loc="outside lower center",
                      ncols=len(handles), fontsize="small")
    elif stations:
        note(grid.flat[0], "no station loads")
    return figure


def plot_cost_comparison(outcome: NegotiationOutcome, path: Path) -> Path:
    """:func:`cost_comparison_figure` as PNG."""
    return save_figure(cost_comparison_figure(outcome), path)


def cost_comparison_figure(outcome: NegotiationOutcome) -> Figure:
    """Bars: each operating point's cost over the horizon (baseline, agreement,
    centralized reference where present), stacked by operator, its total written above.

    A point without a solution (an infeasible baseline, a failed reference) is named on the
    axis with its status and drawn without a bar.
    """
    figure, axes = new_figure()
    axes.set_title(f"Cost over the horizon — {outcome.mechanism}")
    axes.set_ylabel("cost over the horizon ($)")
    points = [(label, point) for label, point in (
        ("baseline\n(uncoordinated)", outcome.baseline), ("agreement", outcome.agreed),
        ("centralized\nreference", outcome.centralized)) if point is not None]
    if not points:
        note(axes, "no operating point")
        return figure
    operators: list[str] = []
    for _, point in points:
        operators += [name for name in point.by_operator if name not in operators]
    positions = np.arange(len(points), dtype=float)
    bottoms = np.zeros(len(points))
    for index, operator in enumerate(operators):
        values = np.array([cost_or_zero(point.by_operator.get(operator, math.nan))
                           for _, point in points])
        axes.bar(positions, values, width=0.6, bottom=bottoms, color=f"C{index % 10}",
                 label=operator)
        bottoms = bottoms + values
    labels = []
    for position, (label, point) in zip(positions, points, strict=True):
        if point.feasible and math.isfinite(point.total):
            axes.annotate(f"{point.total:,.0f} $", (position, point.total),
                          textcoords="offset points", xytext=(0, 3), ha="center",
                          fontsize="small")
            labels.append(label)
        else:
            labels.append(f"{label}\n({point.status})")
    axes.set_xticks(positions, labels)
    axes.margins(y=0.12)
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(title="operator", loc="upper left", bbox_to_anchor=(1.0, 1.0),
                fontsize="small")
    return figure


def cost_or_zero(value: float) -> float:
    """A bar height: the cost, or 0 where it is not finite (an operator without a solution)."""
    return float(value) if math.isfinite(value) else 0.0


def plot_station_prices(outcome: NegotiationOutcome, path: Path) -> Path:
    """:func:`station_prices_figure` as PNG."""
    return save_figure(station_prices_figure(outcome), path)


def station_prices_figure(outcome: NegotiationOutcome) -> Figure:
    """Station × period heatmap of the agreed price ($/MWh): in joint coordination the
    consensus price λ, at convergence the DLMP at each station's bus (the coordinator sees no
    other bus; the DSO's DLMPs of every bus are its private data)."""
    figure, axes = new_figure()
    axes.set_title(f"Agreed price at each station — {outcome.mechanism}")
    axes.set_xlabel("period")
    axes.set_ylabel("station")
    if outcome.agreed is None or not outcome.stations:
        note(axes, "no agreed prices")
        return figure
    prices = _station_array(outcome.agreed.price_per_mwh, outcome)
    stations, periods = prices.shape
    image = axes.imshow(np.ma.masked_invalid(prices), aspect="auto", origin="upper",
                        interpolation="nearest", cmap="magma",
                        extent=(-0.5, periods - 0.5, stations - 0.5, -0.5))
    figure.colorbar(image, ax=axes).set_label("price = DLMP at the station's bus ($/MWh)")
    axes.set_yticks(range(stations), list(outcome.stations), fontsize="small")
    axes.set_xticks(tick_positions(periods, 24))
    return figure


def positive(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Values a log axis can draw; the others become NaN (gaps)."""
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _station_array(values: ArrayLike, outcome: NegotiationOutcome) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=float)
    expected = (len(outcome.stations), outcome.periods)
    if array.shape != expected:
        raise ValueError(f"expected a (stations, periods) array of shape {expected}, "
                         f"got {array.shape}")
    return array


def _step(axes: Axes, outcome: NegotiationOutcome, values: NDArray[np.float64],
          **style: Any) -> None:
    """One value per period, drawn as a step over the period (the last one closed too)."""
    edges = np.arange(outcome.periods + 1) * outcome.period_hours
    axes.step(edges, np.append(values, values[-1:]), where="post", **style)


#: more stations than this put a line plot's legend beside the axes (it would cover the data)
LEGEND_INSIDE_MOST = 3


def _finish(axes: Axes, outcome: NegotiationOutcome) -> None:
    axes.set_xlim(0, outcome.periods * outcome.period_hours)
    axes.grid(True, alpha=0.3)
    if len(outcome.stations) <= LEGEND_INSIDE_MOST:
        axes.legend(loc="best", fontsize="small")
    else:
        axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small",
                    title="station", title_fontsize="small")


def note(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", color="gray")


def _colours(count: int) -> list[str]:
    """Matplotlib's default cycle, so a station keeps its colour across lines of a plot."""
    return [f"C{index % 10}" for index in range(count)]


__all__ = ["plot_convergence", "plot_cost_comparison", "plot_prices", "plot_station_loads",
           "plot_station_prices", "plot_voltage_heatmap"]
