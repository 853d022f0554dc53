"""What deploy/ray/cluster.yaml's start commands give each node, found by running them.

Why this module exists: the cluster's node roles are custom resources chosen in shell by each
machine's address (the on-premise provider has one node type). The tests check them against
the placement (tests/test_deploy_configs.py) and start a real cluster with them
(tests/support/deploy_cluster.py), so the commands are run here in bash, with ``hostname``
answering the node's address and ``ray`` printing its arguments instead of starting anything.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import yaml

from tests.support import REPOSITORY

CLUSTER_YAML = REPOSITORY / "deploy" / "ray" / "cluster.yaml"
HEAD_IP = "198.51.100.1"


def cluster_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CLUSTER_YAML.read_text("utf-8"))
    return config


def ray_start_arguments(commands: list[str], ip: str) -> list[str]:
    """The arguments of the ``ray start`` the commands run on the node at ``ip``."""
    stubs = (f"hostname() {{ echo '{ip} 10.11.12.13 '; }}; "
             "ray() { if [ \"$1\" = start ]; then printf '%s\\0' \"$@\"; fi; }; "
             f"RAY_HEAD_IP={HEAD_IP}; ")
    script = stubs + "; ".join(commands)
    completed = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                               timeout=30, check=True)
    return completed.stdout.rstrip("\0").split("\0")


def start_resources(arguments: list[str]) -> dict[str, float]:
    """The ``--resources`` JSON of ``ray start`` arguments (none: {})."""
    for argument in arguments:
        if argument.startswith("--resources="):
            resources: dict[str, float] = json.loads(argument.partition("=")[2])
            return resources
    return {}


def node_resources() -> dict[str, dict[str, float]]:
    """Per node address (the head's included), the custom resources its ``ray start`` gives."""
    config = cluster_config()
    provider = config["provider"]
    nodes = {provider["head_ip"]: start_resources(ray_start_arguments(
        config["head_start_ray_commands"], provider["head_ip"]))}
    for ip in provider["worker_ips"]:
        nodes[ip] = start_resources(ray_start_arguments(config["worker_start_ray_commands"], ip))
    return nodes


def other_worker_resources() -> dict[str, float]:
    """What a worker not listed by address gets."""
    return start_resources(ray_start_arguments(cluster_config()["worker_start_ray_commands"],
                                               "203.0.113.99"))
