"""A scenario's ``[placement]`` on a real multi-node Ray cluster, and the table's validation.

The cluster (a head and two worker nodes started on this machine, each with its own custom
resource and label) runs in a process of its own (tests/support/placement_cluster.py): the
session's other Ray tests keep their one local runtime. Each operator must run on the node it
was pinned to, as Ray itself reports the nodes (``Cluster`` node ids), and the numbers must
equal the in-process run's.
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
from ptn.coordinator.runtime.backends import RAY_READY_TIMEOUT_S
from ptn.engines.errors import InvalidInputError

PERIODS = 4
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster_run() -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.placement_cluster", str(PERIODS)], cwd=ROOT,
        capture_output=True, text=True, timeout=240, env=dict(os.environ), check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def inproc_summary() -> dict[str, Any]:
    return ptn.run(ptn.Scenario.load(None, periods=PERIODS), reference=False).summary


def node_of(run: dict[str, Any], operator_id: str) -> str:
    node_id: str = run["operators"][operator_id]["node_id"]
    return node_id


def assert_same_numbers(summary: dict[str, Any], expected: dict[str, Any]) -> None:
    assert summary["status"] == expected["status"] == "converged"
    assert summary["rounds"] == expected["rounds"]
    for key in ("agreed", "baseline"):
        assert summary[key]["by_operator"].keys() == expected[key]["by_operator"].keys()
        for operator_id, cost in expected[key]["by_operator"].items():
            assert summary[key]["by_operator"][operator_id] == pytest.approx(cost, abs=1e-9)


def test_operators_run_on_the_nodes_their_resources_pin(cluster_run: dict[str, Any],
                                                        inproc_summary: dict[str, Any]) -> None:
    node_ids = cluster_run["node_ids"]
    placement = cluster_run["placement"]
    assert placement["backend"] == "ray"
    assert node_of(placement, "dso") == node_ids["worker_a"]  # resource site_a
    assert node_of(placement, "traffic") == node_ids["worker_b"]  # resource site_b
    assert placement["operators"]["dso"]["host"]
    assert cluster_run["summary"]["placement"] == placement
    assert_same_numbers(cluster_run["summary"], inproc_summary)


def test_a_spread_placement_group_keeps_the_pins_and_is_removed(
        cluster_run: dict[str, Any], inproc_summary: dict[str, Any]) -> None:
    node_ids = cluster_run["node_ids"]
    assert node_of(cluster_run["group_placement"], "dso") == node_ids["worker_a"]
    assert node_of(cluster_run["group_placement"], "traffic") == node_ids["worker_b"]
    assert cluster_run["groups_left"] == 0
    assert_same_numbers(cluster_run["group_summary"], inproc_summary)


def test_operators_pinned_by_node_id_and_by_label(cluster_run: dict[str, Any],
                                                  inproc_summary: dict[str, Any]) -> None:
    node_ids = cluster_run["node_ids"]
    assert node_of(cluster_run["by_id_placement"], "dso") == node_ids["worker_b"]
    assert node_of(cluster_run["by_id_placement"], "traffic") == node_ids["worker_a"]
    assert_same_numbers(cluster_run["by_id_summary"], inproc_summary)


def test_labels_choose_the_bundles_nodes_in_a_placement_group(
        cluster_run: dict[str, Any]) -> None:
    """PACK alone would put both bundles on one node; the labels send each elsewhere."""
    node_ids = cluster_run["node_ids"]
    assert node_of(cluster_run["label_group_placement"], "dso") == node_ids["worker_b"]
    assert node_of(cluster_run["label_group_placement"], "traffic") == node_ids["worker_a"]


def test_cpus_are_reserved_and_more_than_a_node_has_is_refused(
        cluster_run: dict[str, Any], inproc_summary: dict[str, Any]) -> None:
    """The labelled group's traffic bundle held worker_a's one CPU; two CPUs fit no node."""
    assert_same_numbers(cluster_run["label_group_summary"], inproc_summary)
    error = cluster_run["cpus_error"]
    assert error is not None and "[placement.operators.traffic] cpus" in error
    assert "no alive node of the Ray cluster has 2 CPUs" in error


def test_a_resource_no_node_has_fails_before_round_one(cluster_run: dict[str, Any]) -> None:
    error = cluster_run["missing_error"]
    assert error is not None
    assert "placement.operators.dso" in error and "site_nowhere" in error
    assert "site_a" in error  # the resources the cluster has
    assert cluster_run["missing_seconds"] < 10


def test_a_resource_taken_by_others_is_refused_after_the_ready_timeout(
        cluster_run: dict[str, Any]) -> None:
    actor, group = cluster_run["occupied"]["actor"], cluster_run["occupied"]["group"]
    assert "operator traffic was not placed on the Ray cluster within 3 s" in actor["error"]
    assert "placement group of 2 bundles (SPREAD) was not placed within" in group["error"]
    # after the scenario's 3 s, not the default wait (a bound far from both: the machine may
    # be loaded, and a test is not a timing)
    for refusal in (actor, group):
        assert 3 <= refusal["seconds"] < RAY_READY_TIMEOUT_S / 2
    assert cluster_run["groups_left"] == 0


def test_other_backends_say_the_placement_applies_to_ray_only(
        inproc_summary: dict[str, Any], tmp_path: Path) -> None:
    scenario = ptn.Scenario.load(None, periods=PERIODS).with_overrides(
        {"placement.operators.dso.resource": "site_a"})
    result = ptn.run(scenario, reference=False, out=tmp_path)
    assert result.placement is not None and result.placement["backend"] == "inproc"
    assert "ray backend only" in result.placement["note"]
    written = json.loads((tmp_path / "summary.json").read_text("utf-8"))
    assert written["placement"] == result.placement
    assert_same_numbers(result.summary, inproc_summary)
    assert "placement" not in inproc_summary


def test_the_placement_leaves_the_fingerprint_alone() -> None:
    """A checkpoint resumes on another cluster layout; another scenario is still refused."""
    base = ptn.Scenario.load(None)
    placed = base.with_overrides({"placement.strategy": "pack"})
    assert placed.document.fingerprint == base.document.fingerprint
    other = base.with_overrides({"coordinator.max_rounds": 7})
    assert other.document.fingerprint != base.document.fingerprint


@pytest.mark.parametrize(("overrides", "message"), [
    ({"placement.strategy": "scatter"}, "placement.strategy: expected one of spread, pack"),
    ({"placement.operators.nobody.resource": "x"}, "placement.operators.nobody: the scenario "
                                                   "has no operator 'nobody'"),
    ({"placement.operators.dso.resources.site_a": -1}, "placement.operators.dso.resources"
                                                       ".site_a: expected a positive amount"),
    ({"placement.operators.dso.resources.CPU": 1}, "placement.operators.dso.resources.CPU"),
    ({"placement.strategy": "pack", "placement.operators.dso.node_id": "ab"},
     "node_id cannot be combined with a placement group"),
    ({"placement.ready_timeout_s": 0}, "placement.ready_timeout_s: must be positive"),
    ({"placement.operators.traffic.cpus": -1}, "placement.operators.traffic.cpus: expected a "
                                               "number of CPUs"),
    ({"placement.operators.traffic.cpus": "two"}, "placement.operators.traffic.cpus"),
    ({"placement.operators.dso.colour": "red"}, "placement.operators.dso"),
])
def test_a_bad_placement_table_is_refused_naming_the_key(overrides: dict[str, Any],
                                                         message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace(".", r"\.")):
        ptn.Scenario.load(None).with_overrides(overrides)
