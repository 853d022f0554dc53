"""Campaigns on a real multi-node Ray cluster on this machine, one worker removed mid-way.

Why this module exists: tests/campaign/test_campaign_cluster.py needs trials spread over
several raylets and a node that leaves while its trial runs; the test session keeps one local
Ray runtime for its other tests, so this runs in a process of its own
(``python -m tests.support.campaign_cluster OUT_DIR``, like tests/support/placement_cluster.py):
a head and two worker nodes, each with one ``trial_slot`` (each trial's two operators reserve
half a slot each, so a node holds one trial at a time). It runs an 8-trial campaign, then a
4-trial one during which worker ``b`` is removed once a trial's placement group has stood on
it for a few seconds (its operators up), and the 8 trials as Ray tasks (``ray-tasks``: each
trial one CPU, its operators in the task); it prints one JSON object: the node ids, the
tables, when the node was removed, the placement groups left and the seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: each node's custom resources: one trial at a time per node
SLOT = {"trial_slot": 1}
EV_SHARES = [0.02, 0.025, 0.03, 0.035]
PENALTIES = [20.0, 50.0]
#: the nodes, each holding one trial at a time
NODES = ("head", "worker_a", "worker_b")
#: how long a trial's group must have stood on the worker before the worker is removed (s)
IN_FLIGHT_S = 8.0


def campaign(name: str, backend: str = "ray") -> dict[str, Any]:
    """8 small trials; each operator reserves half a slot (the trial: one slot)."""
    return {"campaign": {"name": name, "scenario": "nguyen-dupuis-ieee33", "periods": 2,
                         "backend": backend, "reference": False, "retries": 2},
            "grid": {"traffic.ev_share": EV_SHARES,
                     "coordinator.initial_penalty_per_mw2h": PENALTIES},
            "resources": {"operator": {"trial_slot": 0.5}, "strategy": "pack"}}


def groups_on(node_id: str) -> int:
    """Placement groups (created, not removed) with a bundle on ``node_id``."""
    from ray.util.placement_group import placement_group_table

    return sum(1 for group in placement_group_table().values()
               if group["state"] == "CREATED"
               and node_id in group.get("bundles_to_node_id", {}).values())


def finished(folder: Path) -> list[str]:
    """The trials with a row in the campaign's durable log."""
    rows = folder / "rows.jsonl"
    lines = rows.read_text("utf-8").splitlines() if rows.exists() else []
    return sorted(json.loads(line)["trial_id"] for line in lines if line.strip())


def remove_when_busy(cluster: Any, node: Any, folder: Path, removed: dict[str, Any]) -> None:
    """Remove ``node`` (no graceful drain) once a trial's placement group has stood on it for
    :data:`IN_FLIGHT_S`: its operators are up, its trial in flight."""
    since = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if groups_on(node.node_id):
            since = since or time.monotonic()
            if time.monotonic() - since >= IN_FLIGHT_S:
                removed.update(groups_on_node=groups_on(node.node_id),
                               finished_before=finished(folder),
                               at=datetime.now(UTC).isoformat(timespec="seconds"))
                cluster.remove_node(node, allow_graceful=False)
                removed["done"] = True
                return
        else:
            since = None
        time.sleep(0.1)


def table_rows(table: Any) -> list[dict[str, Any]]:
    columns = ["trial_id", "traffic.ev_share", "coordinator.initial_penalty_per_mw2h",
               "status", "reason", "rounds", "agreed_cost_usd", "nodes", "attempts",
               "started_at", "finished_at"]
    rows: list[dict[str, Any]] = json.loads(table[columns].to_json(orient="records"))
    return rows


def campaign_runs(out: Path) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster
    from ray.util.placement_group import placement_group_table

    import ptn

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": SLOT, "include_dashboard": False})
    try:
        nodes = {"head": cluster.head_node}
        for name in NODES[1:]:
            nodes[name] = cluster.add_node(num_cpus=1, resources=SLOT)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        node_ids = {name: node.node_id for name, node in nodes.items()}
        started = time.monotonic()
        spread = ptn.sweep(campaign("spread"), out=out / "spread", concurrency=3)
        spread_seconds = time.monotonic() - started
        groups_left = sum(1 for g in placement_group_table().values()
                          if g["state"] != "REMOVED")
        started = time.monotonic()
        tasks = ptn.sweep(campaign("tasks", "ray-tasks"), out=out / "tasks", concurrency=3)
        tasks_seconds = time.monotonic() - started
        removed: dict[str, Any] = {"done": False}
        remover = threading.Thread(target=remove_when_busy,
                                   args=(cluster, nodes["worker_b"], out / "lost", removed))
        remover.start()
        started = time.monotonic()
        lost_node = campaign("lost-node")
        lost_node["grid"]["traffic.ev_share"] = EV_SHARES[:2]
        lost = ptn.sweep(lost_node, out=out / "lost", concurrency=3)
        lost_seconds = time.monotonic() - started
        remover.join()
        alive = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
        return {"node_ids": node_ids, "spread": table_rows(spread),
                "spread_seconds": spread_seconds, "groups_left": groups_left,
                "tasks": table_rows(tasks), "tasks_seconds": tasks_seconds,
                "lost": table_rows(lost), "lost_seconds": lost_seconds, "removed": removed,
                "alive_after": alive}
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(json.dumps(campaign_runs(Path(sys.argv[1]))))
