"""deploy/ray/cluster.yaml's nodes run each operator where deploy/ray/placement.toml says.

The nodes are started on this machine with the resources the launcher config's own start
commands give them (tests/support/deploy_cluster.py, in a process of its own), and
deploy/ray/run_placed.py runs the default scenario (its day in 2 periods) on them as
``ray submit`` would on the head. Its results folder must say that the DSO ran on the node
started as 192.0.2.11 and the traffic department on the one started as 192.0.2.12 (Ray's own
node ids), with the in-process numbers.
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

ROOT = Path(__file__).resolve().parents[1]
PERIODS = 2


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("placed")
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.deploy_cluster", str(PERIODS), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, env=dict(os.environ), check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["summary"] = json.loads((out / "summary.json").read_text("utf-8"))
    return result


def test_operators_run_on_the_nodes_the_cluster_config_gives_their_resource(
        deployed: dict[str, Any]) -> None:
    assert deployed["exit_code"] == 0
    by_resource = {name: ip for ip, given in deployed["resources"].items() for name in given}
    operators = deployed["summary"]["placement"]["operators"]
    assert operators["dso"]["node_id"] == deployed["nodes"][by_resource["ptn_dso"]]
    assert operators["traffic"]["node_id"] == deployed["nodes"][by_resource["ptn_traffic"]]
    assert by_resource["ptn_dso"] == "192.0.2.11" and by_resource["ptn_traffic"] == "192.0.2.12"
    for where in operators.values():
        assert where["metrics"].startswith(f"http://{where['ip']}:")


def test_the_placed_run_has_the_in_process_numbers(deployed: dict[str, Any]) -> None:
    summary = deployed["summary"]
    expected = ptn.run(ptn.Scenario.load(None, periods=PERIODS), reference=False).summary
    assert summary["status"] == expected["status"] == "converged"
    assert summary["rounds"] == expected["rounds"]
    for key in ("agreed", "baseline"):
        for operator_id, cost in expected[key]["by_operator"].items():
            assert summary[key]["by_operator"][operator_id] == pytest.approx(cost, abs=1e-9)
