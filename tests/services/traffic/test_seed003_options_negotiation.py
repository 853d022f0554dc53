"""The private negotiation with seed 003's traffic options, checked against the reference.

The default scenario (Nguyen–Dupuis with case33bw, 24 periods, ADMM) with a fifth of each
period's vehicles carried into the next (``residual_share``) and two EV classes of 60 and 30 kWh
(``[[traffic.ev_class]]``): the operators, in process, still exchange only prices and aggregate
station loads, and their agreement is the full-information optimum the centralized reference
(which models the same traffic) computes on its own.
"""

from __future__ import annotations

from pathlib import Path

import ptn
from ptn.services.traffic.config import traffic_config_from_part
from tests.support import REPOSITORY

CLASSES = """
[[traffic.ev_class]]
name = "low"
share = 0.4
battery_mwh = 0.075
soc_arrival = 0.0
soc_target = 0.8

[[traffic.ev_class]]
name = "high"
share = 0.6
battery_mwh = 0.075
soc_arrival = 0.4
soc_target = 0.8
"""


def test_negotiation_with_residual_flow_and_classes_reaches_the_reference() -> None:
    text = (REPOSITORY / "scenarios/nguyen-dupuis-ieee33.toml").read_text()
    assert text.count("max_shift_periods = 1\n") == 1 and text.count("\n[dso]\n") == 1
    text = text.replace("max_shift_periods = 1\n", "max_shift_periods = 0\nresidual_share = 0.2\n")
    text = text.replace("\n[dso]\n", CLASSES + "\n[dso]\n")
    scenario = ptn.Scenario.from_toml(text, base_directory=Path(REPOSITORY / "scenarios"))
    spec = traffic_config_from_part(scenario.document.part("traffic")).spec
    assert spec.has_residual_flow and spec.ev_blocks == (2, 1)  # 60 and 30 kWh, 30 kWh blocks
    summary = ptn.run(scenario, backend="inproc").summary
    assert summary["status"] == "converged"
    assert abs(summary["gap_to_centralized"]) < 1e-5
    assert summary["max_load_difference_to_centralized_mw"] < 1e-3
    assert summary["centralized"]["total"] <= summary["baseline"]["total"]
