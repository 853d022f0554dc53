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
        labelled = base.with_overrides({"placement.strategy": "pack",
                                        "placement.operators.dso.labels.zone": "worker_b",
                                        "placement.operators.traffic.labels.zone": "worker_a",
                                        "placement.operators.traffic.cpus": 1})
        label_group_result = ptn.run(labelled, backend="ray", reference=False)
        try:  # every node has one CPU
            ptn.run(base.with_overrides({"placement.operators.traffic.cpus": 2}),
                    backend="ray", reference=False)
            cpus_error = None
        except InvalidInputError as raised:
            cpus_error = str(raised)
        refusals = occupied_refusals(base)
        from ray.util.placement_group import placement_group_table

        groups_left = [g for g in placement_group_table().values() if g["state"] != "REMOVED"]
        return {
            "node_ids": node_ids, "node_resources": NODE_RESOURCES, "pins": PINS,
            "placement": result.placement, "summary": result.summary,
            "group_placement": group_result.placement, "group_summary": group_result.summary,
            "groups_left": len(groups_left), "by_id_placement": by_id_result.placement,
            "by_id_summary": by_id_result.summary,
            "label_group_placement": label_group_result.placement,
            "label_group_summary": label_group_result.summary, "cpus_error": cpus_error,
            "missing_error": error, "missing_seconds": error_seconds, "occupied": refusals,
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


#: how long the runs on an occupied resource may wait to be placed (s)
OCCUPIED_TIMEOUT_S = 3


def occupied_refusals(base: Any) -> dict[str, Any]:
    """``site_b`` held by another actor: the traffic department asking for half of it (which
    the cluster has in all, but not free) is refused after ``ready_timeout_s``, as an actor and
    as a placement group, each error with its seconds."""
    import ray

    from ptn.engines.errors import InvalidInputError

    @ray.remote(num_cpus=0, resources={"site_b": 1})
    class Holder:
        def ready(self) -> bool:
            return True

    holder = Holder.remote()  # type: ignore[attr-defined]
    ray.get(holder.ready.remote(), timeout=60)
    refusals: dict[str, Any] = {}
    try:
        for kind, overrides in (("actor", {}), ("group", {"placement.strategy": "spread"})):
            scenario = base.with_overrides({
                "placement.operators.traffic.resources.site_b": 0.5,
                "placement.ready_timeout_s": OCCUPIED_TIMEOUT_S, **overrides})
            started = time.monotonic()
            try:
                ptn_run(scenario)
                refusals[kind] = {"error": None}
            except InvalidInputError as error:
                refusals[kind] = {"error": str(error), "seconds": time.monotonic() - started}
    finally:
        ray.kill(holder)
    return refusals


def ptn_run(scenario: Any) -> Any:
    import ptn

    return ptn.run(scenario, backend="ray", reference=False)


if __name__ == "__main__":
    print(json.dumps(placement_run(int(sys.argv[1]))))
