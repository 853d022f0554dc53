"""A coupled run whose charging stations are too small says which stations bind and by how much.

Scenario: the default one (Nguyen–Dupuis × case33bw) resampled to 4 periods of 6 h, with its
three stations' capacities cut from 30 veh/h each to 12, 6 and 6 veh/h. Its EV demand is 3 % of
Nguyen–Dupuis's 2,000 veh/h of OD demand times the hourly profile, i.e. 0.03 × 2,000 × Σ
profile / 6 = 126.6 veh/h summed over the 4 periods, against 4 × 24 = 96 veh/h of capacity over
those periods (computed here from the scenario's own numbers, not through ptn). The traffic
department's baseline equilibrium then stalls in the stations' linear continuation (the user's
"stopped at relative gap ... after 1000 iterations"), and the run reports, beside that, the
stations' loadings: checked against the flows of the same equilibrium solved here directly with
the traffic engine, over the capacities this test set. The reference (whose Davidson delay makes
the capacity a hard limit) is reported infeasible with the same shortfall, and the results
folder is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import ptn
from ptn.engines.traffic.multiperiod import build_multiperiod_problem
from ptn.services.traffic.config import traffic_config_from_part

CAPACITY_VEH_PER_H = {"cs6": 12.0, "cs10": 6.0, "cs11": 6.0}
PROFILE = [0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.65, 0.95, 1.00, 0.75, 0.60, 0.60,
           0.65, 0.60, 0.65, 0.75, 0.90, 1.00, 0.85, 0.60, 0.45, 0.35, 0.28, 0.20]
PERIODS = 4
TARIFF_PER_MWH = 85.0


@pytest.fixture(scope="module")
def small_stations() -> ptn.Scenario:
    overrides = {f"traffic.station[{k + 1}].capacity_veh_per_h": capacity
                 for k, capacity in enumerate(CAPACITY_VEH_PER_H.values())}
    return ptn.Scenario.load("nguyen-dupuis-ieee33", periods=PERIODS).with_overrides(overrides)


@pytest.fixture(scope="module")
def run(small_stations: ptn.Scenario, tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[ptn.api.RunResult, Path]:
    folder = tmp_path_factory.mktemp("small-stations")
    return ptn.run(small_stations, backend="inproc", out=folder), folder


def test_the_run_names_the_binding_stations_and_amounts(
        small_stations: ptn.Scenario, run: tuple[ptn.api.RunResult, Path]) -> None:
    _, folder = run
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    message = summary["message"]
    assert summary["status"] == "failed"
    assert summary["baseline"]["status"] == "not_converged"
    assert message.startswith(summary["baseline"]["message"])  # then the reference's note
    assert message.startswith("the uncoordinated operation failed on the traffic side: "
                              "operator traffic")
    assert "equilibrium stopped at relative gap" in message
    assert "charging capacity is short" in message
    # the same baseline equilibrium (flat tariff, the operator's gap and iteration limit),
    # solved here directly; loadings over the capacities this test set
    config = traffic_config_from_part(small_stations.document.part("traffic"))
    equilibrium = build_multiperiod_problem(config.spec).solve(
        np.full((3, PERIODS), TARIFF_PER_MWH), gap=config.equilibrium_gap,
        max_iterations=config.max_iterations)
    assert not equilibrium.converged
    flow = equilibrium.station_flow_veh_per_h  # (periods, stations)
    capacity = np.array(list(CAPACITY_VEH_PER_H.values()))
    worst = flow.max(axis=0) / capacity
    assert (worst > 1.0).all()  # every station carries more than its capacity
    reported = re.search(r"stations ([\w, ]+) carry ([\d %,and]+) of their charging capacity "
                         r"\(([^;]+);", message)
    assert reported is not None, message
    names = [name.strip() for name in reported.group(1).split(",")]
    percents = [int(p) for p in re.findall(r"(\d+) %", reported.group(2))]
    assert sorted(names) == sorted(CAPACITY_VEH_PER_H)
    by_station = dict(zip(names, percents, strict=True))
    for index, station in enumerate(CAPACITY_VEH_PER_H):
        assert by_station[station] == pytest.approx(100 * worst[index], abs=0.51)
    pairs = re.findall(r"([\d,]+) vs ([\d,]+) veh/h", reported.group(3))
    for (shown_flow, shown_capacity), station in zip(pairs, names, strict=True):
        index = list(CAPACITY_VEH_PER_H).index(station)
        assert float(shown_capacity) == capacity[index]
        assert float(shown_flow) == pytest.approx(flow[:, index].max(), abs=0.51)
    # the shortfall: the horizon's EV demand against its capacity, from the scenario's numbers
    ev_demand = 0.03 * 2000.0 * sum(PROFILE) / 6.0
    assert f"({ev_demand:,.0f} veh/h)" in message
    assert f"the stations have {PERIODS * capacity.sum():,.0f}" in message


def test_the_reference_is_infeasible_with_the_shortfall_and_results_are_written(
        run: tuple[ptn.api.RunResult, Path]) -> None:
    result, folder = run
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    centralized = summary["centralized"]
    assert centralized["status"] == "infeasible"
    assert "traffic side" in centralized["message"]
    assert f"the stations have {PERIODS * sum(CAPACITY_VEH_PER_H.values()):,.0f}" \
        in centralized["message"]
    assert "Try another solver" not in json.dumps(summary)
    for name in ("rounds.csv", "loads.csv", "prices.csv", "convergence.png"):
        assert (folder / name).exists()
    assert "reference: infeasible (" in result.format()


def test_a_converged_run_warns_of_binding_stations_with_the_baseline_loads() -> None:
    """The weak grid of test_infeasible_baseline.py with 20 veh/h stations: the equilibria
    converge (shifting spreads 144 veh/h of EV demand over 3 periods, more than the 120 the
    stations have), and the run warns with the stations' loadings at the flat tariff: checked
    against the baseline loads of its own loads table over the 20 veh/h this test set."""
    from tests.coordinator.mechanisms.test_infeasible_baseline import WEAK_GRID

    capacity, energy_mwh = 20.0, 0.045
    scenario = ptn.Scenario.from_toml(
        WEAK_GRID.replace("capacity_veh_per_h = 200.0", f"capacity_veh_per_h = {capacity}"),
        source="small.toml")
    result = ptn.run(scenario, backend="inproc", reference=False)
    assert result.converged, result.message
    (baseline_warning,) = [w for w in result.warnings if w.startswith("traffic RespondToPrices")]
    loads = result.tables["loads"]
    for station in ("cs6", "cs10"):
        worst = loads[loads.station == station].baseline_load_mw.max() / energy_mwh / capacity
        assert worst > 1.0
        assert f"{100 * worst:.0f} %" in baseline_warning
    assert result.summary["warnings"] == list(result.warnings)
