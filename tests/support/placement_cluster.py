"""A real multi-node Ray cluster on this machine, the default scenario placed on it (JSON out).

Why this module exists: tests/test_ray_placement.py needs operators pinned to different Ray
nodes, which needs a cluster of several raylets (``ray.cluster_utils.Cluster``). The test
session keeps one local Ray runtime for its other tests, so this runs in a process of its own:
``python -m tests.support.placement_cluster PERIODS`` starts a head and two worker nodes, each
with its own custom resource, runs the default scenario with the DSO pinned to one worker and
the traffic department to the other (by resource; then as a spread placement group; then by
node id and by label, swapped), and a scenario asking for a resource no node has, and prints
one JSON object: the nodes, each run's placement and numbers, the error and its seconds.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

#: each node's own custom resource, by node
NODE_RESOURCES = {"head": "site_head", "worker_a": "site_a", "worker_b": "site_b"}
#: where the scenario pins each operator
PINS = {"dso": "site_a", "traffic": "site_b"}


def placement_run(periods: int) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    import ptn
    from ptn.engines.errors import InvalidInputError

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {NODE_RESOURCES["head"]: 1},
        "include_dashboard": False})
    try:
        nodes = {"head": cluster.head_node}
        for name in ("worker_a", "worker_b"):
            nodes[name] = cluster.add_node(num_cpus=1, resources={NODE_RESOURCES[name]: 1},
                                           labels={"zone": name})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        node_ids = {name: node.node_id for name, node in nodes.items()}
        base = ptn.Scenario.load(None, periods=periods)
        pinned = base.with_overrides({f"placement.operators.{operator_id}.resource": resource
                                      for operator_id, resource in PINS.items()})
        result = ptn.run(pinned, backend="ray", reference=False)
        missing = base.with_overrides({"placement.operators.dso.resource": "site_nowhere",
                                       "placement.ready_timeout_s": 20})
        started = time.monotonic()
        try:
            ptn.run(missing, backend="ray", reference=False)
            error = None
        except InvalidInputError as raised:
            error = str(raised)
        error_seconds = time.monotonic() - started
        grouped = base.with_overrides({"placement.strategy": "spread",
                                       "placement.operators.dso.resource": "site_a",
                                       "placement.operators.traffic.resource": "site_b"})
        group_result = ptn.run(grouped, backend="ray", reference=False)
        by_id = base.with_overrides({"placement.operators.dso.node_id": node_ids["worker_b"],
                                     "placement.operators.traffic.labels.zone": "worker_a"})
        by_id_result = ptn.run(by_id, backend="ray", reference=False)
        from ray.util.placement_group import placement_group_table

        groups_left = [g for g in placement_group_table().values() if g["state"] != "REMOVED"]
        return {
            "node_ids": node_ids, "node_resources": NODE_RESOURCES, "pins": PINS,
            "placement": result.placement, "summary": result.summary,
            "group_placement": group_result.placement, "group_summary": group_result.summary,
            "groups_left": len(groups_left), "by_id_placement": by_id_result.placement,
            "by_id_summary": by_id_result.summary,
            "missing_error": error, "missing_seconds": error_seconds,
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(json.dumps(placement_run(int(sys.argv[1]))))
