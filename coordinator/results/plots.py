"""PNG plots of a negotiation: convergence, agreed prices, station loads, and a voltage heatmap.

Why this module exists: the results folder of ``ptn run`` shows at a glance whether and how a
negotiation converged and what it agreed on; the DSO draws its own (private) voltage heatmap
with the same look. Every figure is a :class:`matplotlib.figure.Figure` rendered by
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`: no pyplot global state, no display,
so plots may be drawn from several threads (or operator processes) at once.

Each function writes one PNG and returns its path. Arrays are (stations, periods); the x-axis is
the start of each period in hours (period ``p`` starts at ``p * period_hours``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator
from numpy.typing import ArrayLike, NDArray

from ptn.coordinator.outcome import NegotiationOutcome
from ptn.figures import new_figure, plot_voltage_heatmap, save_figure

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
    """Agreed consensus price per station vs period (steps); the baseline tariff dashed.

    A baseline flat across stations is one dashed line; otherwise each station's baseline price
    is dashed in that station's colour.
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
    return save_figure(figure, path)


def plot_station_loads(outcome: NegotiationOutcome, path: Path) -> Path:
    """Agreed charging load per station vs period; baseline dashed, centralized as markers."""
    figure, axes = new_figure()
    axes.set_title(f"Charging station loads — {outcome.mechanism}")
    axes.set_xlabel(PERIOD_AXIS_LABEL)
    axes.set_ylabel("load (MW)")
    colours = _colours(len(outcome.stations))
    drawn = False
    if outcome.agreed is not None:
        loads = _station_array(outcome.agreed.station_load_mw, outcome)
        for index, station in enumerate(outcome.stations):
            _step(axes, outcome, loads[index], color=colours[index], label=f"{station} agreed")
        drawn = True
    if outcome.baseline is not None:
        loads = _station_array(outcome.baseline.station_load_mw, outcome)
        for index, station in enumerate(outcome.stations):
            _step(axes, outcome, loads[index], color=colours[index], linestyle="--",
                  linewidth=1, label=f"{station} baseline")
        drawn = True
    if outcome.centralized is not None and outcome.centralized.feasible:
        loads = _station_array(outcome.centralized.station_load_mw, outcome)
        middles = (np.arange(outcome.periods) + 0.5) * outcome.period_hours
        for index, station in enumerate(outcome.stations):
            axes.plot(middles, loads[index], linestyle="none", marker="o", markersize=4,
                      markerfacecolor="none", color=colours[index],
                      label=f"{station} centralized")
        drawn = True
    if drawn:
        _finish(axes, outcome)
    else:
        note(axes, "no station loads")
    return save_figure(figure, path)


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


def _finish(axes: Axes, outcome: NegotiationOutcome) -> None:
    axes.set_xlim(0, outcome.periods * outcome.period_hours)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small", ncols=2 if len(outcome.stations) > 3 else 1)


def note(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", color="gray")


def _colours(count: int) -> list[str]:
    """Matplotlib's default cycle, so a station keeps its colour across lines of a plot."""
    return [f"C{index % 10}" for index in range(count)]


__all__ = ["plot_convergence", "plot_prices", "plot_station_loads", "plot_voltage_heatmap"]
