"""A Ray cluster whose nodes lack ``$PTN_TNTP_DIR``, and a scenario that needs it (JSON out).

Why this module exists: tests/test_ray_runtime_env.py needs a worker node started without the
variable while the driver has it, which needs raylets started from an environment without it
(``ray.cluster_utils.Cluster`` starts them as processes of their own, with the environment of
this process at that time) and a driver that sets it afterwards. The session's other Ray tests
keep their one local runtime, so this runs in a process of its own:
``python -m tests.support.runtime_env_cluster PERIODS DIRECTORY`` copies the built-in
Nguyen-Dupuis network's TNTP files to ``DIRECTORY/NguyenDupuis``, starts a head and a worker
node (each with its own custom resource), only then points ``PTN_TNTP_DIR`` to ``DIRECTORY``,
and prints one JSON object: what the worker's processes see of the variable (without a
``runtime_env``), and the default scenario run on Ray with its road network read from
``$PTN_TNTP_DIR/NguyenDupuis`` by a traffic department pinned to the worker (its placement and
summary).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

#: each node's own custom resource
NODE_RESOURCES = {"head": "site_head", "worker": "site_worker"}
#: the scenario's road network, written as a scenario file would
NETWORK = "$PTN_TNTP_DIR/NguyenDupuis"


def runtime_env_run(periods: int, directory: Path) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    import ptn
    from ptn.engines.traffic.builtin import builtin_network_directory

    shutil.copytree(builtin_network_directory("nguyen-dupuis"), directory / "NguyenDupuis")
    os.environ.pop("PTN_TNTP_DIR", None)  # the nodes start without it
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {NODE_RESOURCES["head"]: 1}, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1, resources={NODE_RESOURCES["worker"]: 1})
        cluster.wait_for_nodes()
        os.environ["PTN_TNTP_DIR"] = str(directory)  # the driver has it
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)

        @ray.remote(num_cpus=0, resources={NODE_RESOURCES["worker"]: 0.01})
        def seen_on_worker() -> str | None:
            return os.environ.get("PTN_TNTP_DIR")

        scenario = ptn.Scenario.load(None, periods=periods).with_overrides({
            "traffic.network": NETWORK,
            "placement.operators.traffic.resource": NODE_RESOURCES["worker"],
            "placement.operators.dso.resource": NODE_RESOURCES["head"]})
        result = ptn.run(scenario, backend="ray", reference=False)
        return {"node_ids": {"head": cluster.head_node.node_id, "worker": worker.node_id},
                "worker_sees": ray.get(seen_on_worker.remote(), timeout=60),
                "placement": result.placement,
                "summary": result.summary}
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(json.dumps(runtime_env_run(int(sys.argv[1]), Path(sys.argv[2]))))
