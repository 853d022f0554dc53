"""``ptn run`` on a scenario no dispatch can serve: statuses and reasons, results, exit code.

The scenario is tests/coordinator/mechanisms/test_infeasible_baseline.py's weak grid with the
DSO's voltage floor raised to 1.02 p.u.: case33bw's slack bus is held at 1.0 p.u. and the feeder
has no generation of its own (no DER table), so every bus voltage is at most 1.0 p.u. and no
dispatch meets the floor, with or without EV charging. The run must say so for the baseline,
the negotiation and the centralized reference (the power side, with the OPF's reason), write its
results folder, print no traceback and no solver advice, and exit 1 as README.md and
docs/runtime.md document for a negotiation that did not converge or whose operator failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ptn.engines.power.builtin_feeders import case33bw
from tests.coordinator.mechanisms.test_infeasible_baseline import WEAK_GRID

FLOOR_PU = 1.02


def test_an_infeasible_scenario_reports_statuses_writes_results_and_exits_1(
        tmp_path: Path) -> None:
    assert case33bw().slack_voltage_pu < FLOOR_PU  # why no dispatch can meet the floor
    scenario = tmp_path / "infeasible.toml"
    scenario.write_text(WEAK_GRID.replace("voltage_min_pu = 0.93",
                                          f"voltage_min_pu = {FLOOR_PU}"), encoding="utf-8")
    out = tmp_path / "results"
    finished = subprocess.run(
        [sys.executable, "-m", "ptn", "run", str(scenario), "--backend", "inproc", "--out",
         str(out)], capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PTN_CRASH_AFTER_ROUND": ""})
    assert finished.returncode == 1, finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout
    assert "Try another solver" not in finished.stderr + finished.stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed"
    assert "dso" in summary["message"] and "STATUS_INFEASIBLE" in summary["message"]
    baseline, centralized = summary["baseline"], summary["centralized"]
    assert baseline["status"] == "infeasible" and "power side" in baseline["message"]
    assert baseline["total"] is None and baseline["by_operator"]["traffic"] > 0
    assert centralized["status"] == "infeasible"
    assert "power side: the feeder cannot be operated even without EV charging" \
        in centralized["message"]
    for name in ("loads.csv", "prices.csv", "rounds.csv", "station_loads.png"):
        assert (out / name).exists(), name
    assert "baseline: infeasible (" in finished.stdout
    assert "reference: infeasible (" in finished.stdout
