"""The full-information figures of a results folder: the road map's link flows, the feeder's
one-line diagram, the bus DLMPs and the power balance, on the default scenario in 2 periods.

The agreed point is the traffic department's equilibrium at a flat 60 $/MWh (so the station
loads are exactly the ones its equilibrium gives); the checks compare the drawings with numbers
taken from the scenario's data and the solvers' raw results, not from the drawing code.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

from ptn.coordinator.outcome import CostSummary, NegotiationOutcome, NegotiationStatus
from ptn.coordinator.results.index_page import write_index_page
from ptn.lab.studies.dispatch import power_balance_mw
from ptn.lab.studies.network_drawings import (
    power_balance_figure,
    road_layout,
    road_map_figure,
    tree_layout,
)
from ptn.lab.studies.network_figures import traffic_equilibrium, write_network_figures
from ptn.scenario.document import Scenario, load_scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.traffic.config import traffic_config_from_part
from tests.results.browser import image_states, require_browser

PERIODS = 2
PRICE = 60.0


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(None, periods=PERIODS)


@pytest.fixture(scope="module")
def agreed(scenario: Scenario) -> NegotiationOutcome:
    config = traffic_config_from_part(scenario.part(scenario.operators_of("traffic")[0]))
    price = np.full((len(scenario.public.stations), PERIODS), PRICE)
    loads = np.asarray(traffic_equilibrium(config, price).station_load_mw).T
    # the baseline: the same loads a period later (its voltages differ from the agreement's)
    baseline = CostSummary(2.0, {"traffic": 2.0}, np.roll(loads, 1, axis=1), price)
    return NegotiationOutcome("n", "admm", NegotiationStatus.CONVERGED, "",
                              scenario.public.stations, PERIODS, scenario.public.period_hours,
                              (), 0.0, agreed=CostSummary(1.0, {"traffic": 1.0}, loads, price),
                              baseline=baseline)


@pytest.fixture(scope="module")
def folder(scenario: Scenario, agreed: NegotiationOutcome,
           tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    written = write_network_figures(scenario, agreed, out)
    assert {path.name for path in written} == {
        "link_flows.csv", "road_flows.png", "feeder.png", "bus_dlmps.png", "power_balance.png",
        "voltage_difference.png", "about.md"}
    write_index_page(out)
    return out


def test_link_flows_csv_holds_every_link_and_period(folder: Path, scenario: Scenario) -> None:
    config = traffic_config_from_part(scenario.part("traffic"))
    network = config.spec.charging.network
    with (folder / "full_information" / "link_flows.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == PERIODS * network.num_links
    for row in rows:
        link = int(row["link"])
        assert int(row["from_node"]) == network.node_ids[network.link_tail[link]]
        assert float(row["capacity_veh_per_h"]) == network.capacity[link]
        assert float(row["volume_capacity_ratio"]) == pytest.approx(
            float(row["flow_veh_per_h"]) / network.capacity[link])
    # flow is conserved at a node that is no zone: what arrives leaves, in every period
    through = next(p for p in range(network.num_nodes) if p >= network.num_zones)
    for period in range(PERIODS):
        mine = [r for r in rows if int(r["period"]) == period]
        into = sum(float(r["flow_veh_per_h"]) for r in mine
                   if int(r["to_node"]) == network.node_ids[through])
        out = sum(float(r["flow_veh_per_h"]) for r in mine
                  if int(r["from_node"]) == network.node_ids[through])
        assert into == pytest.approx(out, rel=1e-6, abs=1e-6)


def test_every_image_of_the_folder_loads(folder: Path) -> None:
    require_browser()
    (states,) = image_states(folder / "index.html")
    assert {state["src"] for state in states} == {
        f"full_information/{name}.png"
        for name in ("road_flows", "feeder", "bus_dlmps", "power_balance",
                     "voltage_difference")}
    assert all(state["width"] > 0 for state in states)


def test_road_map_draws_flows_as_widths_and_ratios_as_colours() -> None:
    x, y, source = road_layout(3, [0, 1], [1, 2], [0.0, 1.0, 2.0], [0.0, 0.0, 1.0])
    assert source.startswith("coordinates") and list(x) == [0.0, 1.0, 2.0]
    figure = road_map_figure(x, y, [0, 1], [1, 2], [100.0, 400.0], [200.0, 200.0],
                             {"cs": 2}, title="t")
    (lines,) = [c for c in figure.axes[0].collections if isinstance(c, LineCollection)]
    np.testing.assert_allclose(np.asarray(lines.get_array()), [0.5, 2.0])  # v/c
    widths = lines.get_linewidths()
    assert widths[1] > widths[0]
    assert figure.axes[1].get_ylabel() == "volume / capacity (–)"
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend == ["charging station", "100 veh/h", "200 veh/h", "400 veh/h"]
    # without coordinates: a layout, every node placed
    x, y, source = road_layout(3, [0, 1], [1, 2])
    assert source.startswith("Kamada") and np.isfinite(x).all() and np.isfinite(y).all()


def test_tree_layout_is_depth_by_leaves() -> None:
    # 0 - 1 - 2, 1 - 3 - 4: depths 0 1 2 2 3; leaves 2 and 4 stacked, 1 between them
    x, y = tree_layout(5, [0, 1, 1, 3], [1, 2, 3, 4], 0)
    assert list(x) == [0, 1, 2, 2, 3]
    assert y[2] != y[4] and y[1] == pytest.approx((y[2] + y[3]) / 2) and y[0] == y[1]


def test_power_balance_bars_add_up_to_load_losses_and_storage(
        scenario: Scenario, agreed: NegotiationOutcome) -> None:
    config = dso_config_from_part(scenario.part("dso"))
    loads = np.asarray(agreed.agreed.station_load_mw)  # type: ignore[union-attr]
    result = DsoModel(config).dispatch_fixed(loads)
    figure = power_balance_figure(power_balance_mw(config, result), config.case.period_hours)
    axes = figure.axes[0]
    assert axes.get_ylabel() == "power (MW)"
    hours = config.case.period_hours
    heights: dict[tuple[int, str], float] = {}
    for patch in (p for p in axes.patches if isinstance(p, Rectangle)):
        period = int(patch.get_x() // hours)
        side = "demand" if patch.get_hatch() else "supply"
        heights[period, side] = heights.get((period, side), 0.0) + patch.get_height()
    case = config.case
    base = sum(f.load_p_mw.sum() for f in case.feeders) * np.asarray(case.load_profile)
    shift = sum((np.asarray(v) for v in result.demand_response_shift_mw.values()),
                np.zeros(PERIODS))
    storage = sum((np.asarray(v) for v in result.storage_charge_mw.values()), np.zeros(PERIODS))
    losses = sum(np.asarray(f.branch_loss_mw).sum(axis=0) for f in result.feeders)
    expected = base + shift + loads.sum(axis=0) + storage + losses
    for period in range(PERIODS):
        assert heights[period, "demand"] == pytest.approx(expected[period], rel=1e-4, abs=1e-4)
        assert heights[period, "supply"] == pytest.approx(expected[period], rel=1e-4, abs=1e-4)


def test_prices_the_department_refuses_are_a_note(scenario: Scenario,
                                                  agreed: NegotiationOutcome,
                                                  tmp_path: Path) -> None:
    """A negative agreed price (a DLMP can be negative) is no equilibrium: said in about.md,
    the feeder figures are still drawn."""
    assert agreed.agreed is not None
    negative = agreed.agreed.price_per_mwh.copy()
    negative[0, 0] = -5.0
    point = CostSummary(1.0, {"traffic": 1.0}, agreed.agreed.station_load_mw, negative)
    written = write_network_figures(scenario, replace(agreed, agreed=point, baseline=None),
                                    tmp_path)
    names = {path.name for path in written}
    assert "road_flows.png" not in names and "feeder.png" in names
    about = (tmp_path / "full_information" / "about.md").read_text(encoding="utf-8")
    assert "Traffic: not re-solved at the agreed prices" in about
    assert "negative" in about or "-5" in about
