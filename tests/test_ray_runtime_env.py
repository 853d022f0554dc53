"""Operators on Ray nodes started without ``$PTN_TNTP_DIR`` read the data the driver names.

The cluster (a head and a worker node started on this machine from an environment without the
variable; the driver sets it afterwards) runs in a process of its own
(tests/support/runtime_env_cluster.py). The scenario reads its road network from
``$PTN_TNTP_DIR/NguyenDupuis``, a copy of the built-in network's TNTP files; the traffic
department is pinned to the worker. Its numbers must equal the in-process run of the built-in
network, and the worker's own processes must not see the variable (else the test proves
nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ptn
from ptn.coordinator.runtime.runtime_env import operator_runtime_env, referenced_variables
from ptn.scenario.document import scenario_from_text

PERIODS = 2
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("tntp")
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.runtime_env_cluster", str(PERIODS),
         str(directory)], cwd=ROOT, capture_output=True, text=True, timeout=240,
        env=dict(os.environ), check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["directory"] = str(directory)
    return result


def test_an_operator_on_a_node_without_the_variable_reads_the_network(
        cluster_run: dict[str, Any]) -> None:
    assert cluster_run["worker_sees"] is None  # the worker node really lacks it
    operators = cluster_run["placement"]["operators"]
    assert operators["traffic"]["node_id"] == cluster_run["node_ids"]["worker"]
    assert operators["dso"]["node_id"] == cluster_run["node_ids"]["head"]
    expected = ptn.run(ptn.Scenario.load(None, periods=PERIODS), reference=False).summary
    summary = cluster_run["summary"]
    assert summary["status"] == expected["status"] == "converged"
    assert summary["rounds"] == expected["rounds"]
    for key in ("agreed", "baseline"):
        for operator_id, cost in expected[key]["by_operator"].items():
            assert summary[key]["by_operator"][operator_id] == pytest.approx(cost, abs=1e-9)


SCENARIO = """
[scenario]
name = "env"
periods = 1
stations = ["s1"]
[traffic]
network = "${NETWORKS}/Somewhere"
[[traffic.station]]
name = "s1"
node = "$NODE_FILE"
[dso]
feeder = ["~/feeders/$UNSET_HERE.m", "case33"]
"""


def test_the_runtime_env_carries_the_variables_a_part_refers_to() -> None:
    scenario = scenario_from_text(SCENARIO, source="env.toml", base_directory=Path("/"))
    environment = {"NETWORKS": "/data/networks", "NODE_FILE": "/data/node",
                   "PTN_TNTP_DIR": "/data/tntp", "UNRELATED": "x", "UNSET_HERE": ""}
    traffic = scenario.part("traffic")
    assert list(referenced_variables(traffic.data)) == ["NETWORKS", "NODE_FILE"]
    assert operator_runtime_env(traffic, environment) == {"env_vars": {
        "NETWORKS": "/data/networks", "NODE_FILE": "/data/node"}}
    # an empty or unset variable is not sent: the node's own value (if any) applies; a part
    # that refers to none gets no runtime_env (Ray's idle workers can host it)
    assert list(referenced_variables(scenario.part("dso").data)) == ["UNSET_HERE"]
    assert operator_runtime_env(scenario.part("dso"), environment) == {}
    environment["UNSET_HERE"] = "case18"
    assert operator_runtime_env(scenario.part("dso"), environment) == {
        "env_vars": {"UNSET_HERE": "case18"}}
