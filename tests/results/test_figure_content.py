"""What the new figures draw, read back from the matplotlib figures and compared with numbers
set here (not recomputed by the plotting code): panels per station, bar heights, units."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ptn.coordinator.outcome import CostSummary
from ptn.coordinator.results.plots import (
    cost_comparison_figure,
    prices_figure,
    station_loads_figure,
    station_prices_figure,
)
from ptn.coordinator.results.pricing_game import write_game_folder
from ptn.coordinator.results.profit_sharing import load_shift_figure
from tests.results.synthetic import (
    PRESCHEDULE_MW,
    RESCHEDULED_MW,
    synthetic_game,
    synthetic_outcome,
    synthetic_sharing,
)

# the joint outcome's numbers, as the existing results test sets them
AGREED_LOAD = np.array([[0.5, 1.0, 1.5, 0.5], [0.2, 0.4, 0.6, 0.8]])
AGREED_PRICE = np.array([[40.0, 45.0, 50.0, 42.0], [38.0, 41.0, 44.0, 47.0]])


def visible_axes(figure: Figure) -> list[Axes]:
    return [axes for axes in figure.axes if axes.get_visible() and axes.get_label() != "<colorbar>"]


def bars(axes: Axes) -> list[Rectangle]:
    return [patch for patch in axes.patches if isinstance(patch, Rectangle)]


def test_station_loads_one_panel_per_station_one_legend() -> None:
    outcome = synthetic_outcome()
    figure = station_loads_figure(outcome)
    panels = visible_axes(figure)
    assert [axes.get_title() for axes in panels] == ["cs1", "cs2"]
    assert panels[0].get_ylabel() == "load (MW)"
    assert all(axes.get_xlabel() == "period start (h)" for axes in panels)
    # one legend for the figure, three kinds of line, none inside a panel
    assert [text.get_text() for text in figure.legends[0].get_texts()] == [
        "agreed", "baseline (uncoordinated)", "centralized reference"]
    assert all(axes.get_legend() is None for axes in panels)
    for index, axes in enumerate(panels):
        agreed = axes.get_lines()[0].get_ydata()
        np.testing.assert_array_equal(np.asarray(agreed)[:-1], AGREED_LOAD[index])


def test_nine_stations_give_nine_panels() -> None:
    base = synthetic_outcome()
    stations = tuple(f"s{k}" for k in range(9))
    loads = np.arange(36, dtype=float).reshape(9, 4)
    outcome = replace(base, stations=stations, baseline=None, centralized=None,
                      agreed=CostSummary(1.0, {"tno": 1.0}, loads, loads))
    figure = station_loads_figure(outcome)
    assert len(visible_axes(figure)) == 9
    assert len(figure.legends[0].get_texts()) == 1


def test_cost_comparison_bars_stack_to_each_total() -> None:
    figure = cost_comparison_figure(synthetic_outcome())
    (axes,) = visible_axes(figure)
    assert axes.get_ylabel() == "cost over the horizon ($)"
    totals: dict[float, float] = {}
    for patch in bars(axes):
        centre = round(patch.get_x() + patch.get_width() / 2, 6)
        totals[centre] = totals.get(centre, 0.0) + patch.get_height()
    # baseline 750 + 450, agreement 700 + 300, reference 690 + 290 (the test's costs)
    assert [totals[key] for key in sorted(totals)] == pytest.approx([1200.0, 1000.0, 980.0])
    labels = [tick.get_text() for tick in axes.get_xticklabels()]
    assert labels == ["baseline\n(uncoordinated)", "agreement", "centralized\nreference"]


def test_station_prices_heatmap_shows_the_agreed_prices() -> None:
    figure = station_prices_figure(synthetic_outcome())
    (axes,) = visible_axes(figure)
    image = axes.get_images()[0]
    np.testing.assert_array_equal(np.asarray(image.get_array()), AGREED_PRICE)
    colour_bar = next(a for a in figure.axes if a.get_label() == "<colorbar>")
    assert "($/MWh)" in colour_bar.get_ylabel()


def test_load_shift_bars_per_station_with_units() -> None:
    outcome = synthetic_sharing()
    figure = load_shift_figure(outcome)
    panels = visible_axes(figure)
    assert len(panels) == 3
    assert panels[-1].get_xlabel() == "period start (h)"
    for index, axes in enumerate(panels):
        assert axes.get_ylabel() == "load (MW)"
        heights = [patch.get_height() for patch in bars(axes)]
        assert heights == [*PRESCHEDULE_MW[index], *RESCHEDULED_MW[index]]
        # every bar lies inside the horizon (4 periods of 6 h): no spike at its end
        assert max(p.get_x() + p.get_width() for p in bars(axes)) <= 24.0
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [
        "prescheduled (no sharing)", "at ρ* = 0.2500"]


def test_game_figures_are_named_after_the_paper(tmp_path: Path) -> None:
    paths = write_game_folder(synthetic_game(), tmp_path)
    names = {path.name for path in paths if path.suffix == ".png"}
    assert names == {f"fig{number}_{kind}-{variant}.png"
                     for number, kind in ((5, "convergence"), (6, "mean_prices"), (7, "revenues"))
                     for variant in ("nash", "cooperative")}


def test_many_stations_put_the_price_legend_beside_the_data() -> None:
    base = synthetic_outcome()
    stations = tuple(f"s{k}" for k in range(9))
    prices = 40.0 + np.arange(36, dtype=float).reshape(9, 4)
    many = replace(base, stations=stations, baseline=None, centralized=None,
                   agreed=CostSummary(1.0, {"tno": 1.0}, prices, prices))
    for outcome, outside in ((synthetic_outcome(), False), (many, True)):
        figure = prices_figure(outcome)
        figure.canvas.draw()
        (axes,) = visible_axes(figure)
        legend = axes.get_legend()
        assert legend is not None and axes.get_ylabel() == "price ($/MWh)"
        beside = legend.get_window_extent().x0 >= axes.get_window_extent().x1
        assert beside == outside
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == list(stations)
