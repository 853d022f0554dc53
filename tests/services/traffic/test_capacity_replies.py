"""The traffic department's replies say when its stations' charging capacity binds.

The weak grid's traffic side (tests/coordinator/mechanisms/test_infeasible_baseline.py:
Nguyen–Dupuis, 3 periods, EV demand 36, 60 and 48 veh/h, shifting by one period) with its two
stations cut to 20 veh/h each: 144 veh/h of EV demand over the horizon against 3 × 40 = 120 of
capacity, so each reply's stations are above capacity; the loadings are checked against the
reply's own loads over the 20 veh/h this test set.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ptn.scenario.document import scenario_from_text
from ptn.services.contract import OperatorStatus
from ptn.services.traffic.model import TrafficDepartmentModel
from tests.coordinator.mechanisms.test_infeasible_baseline import WEAK_GRID

CAPACITY_VEH_PER_H, ENERGY_MWH = 20.0, 0.045


def model(extra: str = "") -> TrafficDepartmentModel:
    text = WEAK_GRID.replace("capacity_veh_per_h = 200.0",
                             f"capacity_veh_per_h = {CAPACITY_VEH_PER_H}")
    text = text.replace("equilibrium_gap = 1e-10", "equilibrium_gap = 1e-10" + extra)
    scenario = scenario_from_text(text, source="weak.toml", base_directory=Path.cwd())
    return TrafficDepartmentModel.from_part(scenario.part("traffic"))


def loadings(message: str) -> list[int]:
    return [int(v) for v in re.findall(r"(\d+) %", message.split(" of their ")[0])]


def test_a_converged_reply_warns_with_the_stations_loadings() -> None:
    department = model()
    assert [s.demand_veh_per_h for s in department.shortfalls] == [144.0]
    reply = department.respond_to_prices(np.full((2, 3), 85.0))
    assert reply.status == OperatorStatus.OK and reply.load_mw is not None
    assert reply.message.startswith("charging capacity binds: stations cs6, cs10 carry ")
    worst = reply.load_mw.max(axis=1) / ENERGY_MWH / CAPACITY_VEH_PER_H
    assert loadings(reply.message) == [round(100 * w) for w in sorted(worst, reverse=True)]
    assert "the EV demand of periods 0–2 (144 veh/h)" in reply.message
    assert "the stations have 120" in reply.message


def test_a_stalled_probe_gives_the_capacity_as_its_reason() -> None:
    department = model("\nmax_iterations = 2")
    probes = department.probe_responses([np.full((2, 3), 85.0), np.full((2, 3), 120.0)])
    assert probes.status == OperatorStatus.NOT_CONVERGED
    assert probes.message.startswith("a probe's equilibrium stopped at relative gap ")
    assert "; charging capacity is short: " in probes.message
    assert "the stations have 120" in probes.message
