"""deploy/ray/cluster.yaml's nodes started on this machine, run_placed.py run on them (JSON out).

Why this module exists: tests/test_deploy_ray_cluster.py checks that the cluster the launcher
config describes puts each operator where deploy/ray/placement.toml says. Its nodes are
started here as a ``ray.cluster_utils.Cluster`` (a head and a worker per listed address) with
the custom resources the config's own start commands give them (run in bash:
tests/support/ray_cluster_config.py), in a process of its own (the test session keeps one
local Ray runtime). ``python -m tests.support.deploy_cluster PERIODS OUT`` runs
``deploy/ray/run_placed.py --ray-address ADDRESS --out OUT --periods PERIODS`` against them
and prints one JSON object: each node's id and resources, the script's exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def deploy_run(periods: int, out: Path) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    from tests.support import load_development_tool
    from tests.support.ray_cluster_config import cluster_config, node_resources

    resources = node_resources()
    head_ip = cluster_config()["provider"]["head_ip"]
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": resources[head_ip], "include_dashboard": False})
    try:
        nodes = {head_ip: cluster.head_node.node_id}
        for ip, given in resources.items():
            if ip != head_ip:
                nodes[ip] = cluster.add_node(num_cpus=1, resources=given).node_id
        cluster.wait_for_nodes()
        script = load_development_tool("deploy/ray/run_placed.py")
        code = script.main(["--ray-address", cluster.address, "--out", str(out),
                            "--periods", str(periods)])
        return {"nodes": nodes, "resources": resources, "exit_code": code}
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(json.dumps(deploy_run(int(sys.argv[1]), Path(sys.argv[2]))))
