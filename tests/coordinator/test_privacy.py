"""Privacy canary: private data planted with unique sentinels never leaves its operator.

Each operator's table of the scenario gets sentinel values (names that exist nowhere else, and
numbers whose digit strings are long enough not to appear by chance). A negotiation then runs
over gRPC with each operator its own OS process (the deployment launcher), and no sentinel may
appear in any message (the transcript), the coordinator's results, checkpoint or output, any
operator's log (every request logged), or any metrics endpoint.
"""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

import pytest

from ptn.api import coordinate
from ptn.coordinator.runtime.launcher import OperatorProcesses, free_port
from ptn.scenario.document import builtin_scenario_text, load_scenario

#: (text in the default scenario, replacement planting a sentinel, the sentinel to look for)
PLANTS = [
    ("value_of_time_per_h = 10.0", "value_of_time_per_h = 10.000731019372",
     "731019372"),
    ("charging_time_h = 0.5", "charging_time_h = 0.50004281906657", "4281906657"),
    ("shift_cost_per_period = 3.0", "shift_cost_per_period = 3.0000962247183", "962247183"),
    ('name = "mt33"', 'name = "SENTINEL-MT-5f2c9e"', "SENTINEL-MT-5f2c9e"),
    ("cost_linear_per_mwh = 85.0", "cost_linear_per_mwh = 85.000618294437", "618294437"),
    ('name = "bess18"', 'name = "SENTINEL-BESS-81d04a"', "SENTINEL-BESS-81d04a"),
    ("energy_mwh = 1.0", "energy_mwh = 1.0000573310826", "573310826"),
    ("rated_mw = 1.0", "rated_mw = 1.0000274401983", "274401983"),
]


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
    return text


def test_no_sentinel_leaves_its_operator(tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    text = builtin_scenario_text("nguyen-dupuis-ieee33")
    for old, new, _ in PLANTS:
        assert old in text, old
        text = text.replace(old, new, 1)
    scenario_path = tmp_path / "canary.toml"
    scenario_path.write_text(text)
    scenario = load_scenario(scenario_path)
    out = tmp_path / "results"
    caplog.set_level(logging.DEBUG)
    observed: list[str] = []
    # the operators' logs beside the coordinator's results folder (which must be new or empty)
    log_directory = tmp_path / "operator-logs"
    with OperatorProcesses(str(scenario_path), scenario, log_directory=log_directory,
                           private_root=tmp_path / "private", verbose=True) as operators:
        port = free_port()
        addresses = [f"{o}={c.address}" for o, c in operators.processes.items()]
        outcome = coordinate(str(scenario_path), addresses, out=out, metrics_port=port)
        assert outcome.converged, outcome.message
        observed.append(_metrics(port))
        for child in operators.processes.values():
            assert child.metrics_port is not None
            observed.append(_metrics(child.metrics_port))
    logs = sorted(log_directory.glob("*.log"))
    assert {p.name for p in logs} == {"dso.log", "traffic.log"}
    assert "ConsensusStep round 1" in (log_directory / "dso.log").read_text()
    files = [p for p in [*out.rglob("*"), *logs] if p.is_file() and p.suffix != ".png"]
    assert {"transcript.jsonl", "summary.json", "checkpoint.json", "rounds.csv",
            "loads.csv"} <= {p.name for p in files}
    observed += [p.read_text(errors="replace") for p in files]
    observed.append(caplog.text)
    # the DSO's own report holds its private data (and shows the canary works)
    private = "".join(p.read_text() for p in (tmp_path / "private").rglob("*.csv"))
    assert private
    haystack = "\n".join(observed)
    assert len(haystack) > 100_000
    for _, _, sentinel in PLANTS:
        assert sentinel not in haystack, f"sentinel {sentinel} leaked"
