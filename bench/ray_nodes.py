"""What a second Ray node gives: the same work on one node and on two, each node one core.

Why this exists: issue 18 asks for the speed-up from 1 to 2 Ray nodes, measured, and what a
16-node cluster would give by the same measurements. This machine has two cores, so each Ray
node here is a raylet of ``ray.cluster_utils.Cluster`` started with one core of its own
(``num_cpus = 1`` and the CPU affinity of that core, which its workers inherit): one node =
one core, two nodes = two cores, as two one-core machines would be. Two kinds of work are
timed on each cluster, as whole ``ptn`` processes joining it with ``--ray-address``:

* a campaign (``ptn sweep``) of 8 trials of the default scenario's whole day, each trial a Ray
  task (``backend = "ray-tasks"``, one CPU each), concurrency 2: trials are independent, so
  their throughput is what more nodes buy;
* one negotiation (``ptn run``) with its operators as actors, the DSO and the traffic
  department pinned to different nodes on the two-node cluster (``[placement]`` by resource),
  both on the one node otherwise: ADMM's steps alternate between the two, so this measures
  what placement alone gives a single negotiation.

Run: ``python -m bench.ray_nodes [--scenario NAME] [--trials 8]``; writes
``bench/results/ray_nodes.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"


class OneCoreNodes:
    """A Ray cluster of ``nodes`` one-core nodes (``ray.cluster_utils.Cluster``, each raylet
    started while this process is pinned to its core, so it and its workers keep that core)."""

    def __init__(self, nodes: int) -> None:
        from ray.cluster_utils import Cluster

        everywhere = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {0})
            self.cluster = Cluster(initialize_head=True, head_node_args={
                "num_cpus": 1, "resources": {"node_0": 1}, "include_dashboard": False})
            for k in range(1, nodes):
                os.sched_setaffinity(0, {k})
                self.cluster.add_node(num_cpus=1, resources={f"node_{k}": 1})
        finally:
            os.sched_setaffinity(0, everywhere)
        self.cluster.wait_for_nodes()

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def shutdown(self) -> None:
        self.cluster.shutdown()  # type: ignore[no-untyped-call]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def campaign_file(folder: Path, scenario: str, trials: int) -> Path:
    """8 trials of the scenario's whole day (EV share varied), each a Ray task."""
    shares = [0.02 + 0.0025 * k for k in range(trials)]
    path = folder / "campaign.toml"
    path.write_text("\n".join([
        "[campaign]", 'name = "nodes"', f'scenario = "{scenario}"',
        'backend = "ray-tasks"', "concurrency = 2", "reference = false", "",
        "[grid]", '"traffic.ev_share" = [' + ", ".join(f"{s:g}" for s in shares) + "]", ""]))
    return path


def placement_file(folder: Path, nodes: int) -> Path:
    path = folder / f"placement-{nodes}.toml"
    traffic_node = 1 if nodes > 1 else 0
    path.write_text("\n".join([
        "[placement.operators.dso]", 'resource = "node_0"', "",
        "[placement.operators.traffic]", f'resource = "node_{traffic_node}"', ""]))
    return path


def measure(scenario: str, trials: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        campaign = campaign_file(folder, scenario, trials)
        for nodes in (1, 2):
            cluster = OneCoreNodes(nodes)
            address = cluster.address
            try:
                ptn = [sys.executable, "-m", "ptn"]
                sweep_s = timed([*ptn, "sweep", str(campaign), "--ray-address", address,
                                 "--out", str(folder / f"sweep-{nodes}")])
                run_s = timed([*ptn, "run", scenario, "--ray-address", address,
                               "--no-reference", "--placement",
                               str(placement_file(folder, nodes)),
                               "--out", str(folder / f"run-{nodes}")])
                summary = json.loads((folder / f"run-{nodes}" / "summary.json").read_text())
            finally:
                cluster.shutdown()
            rows[str(nodes)] = {"campaign_s": sweep_s, "campaign_trials": trials,
                                "run_s": run_s, "run_negotiation_s": summary["seconds"],
                                "run_rounds": summary["rounds"]}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="nguyen-dupuis-ieee33")
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    rows = measure(args.scenario, args.trials)
    one, two = rows["1"], rows["2"]
    rows["speedup"] = {"campaign": one["campaign_s"] / two["campaign_s"],
                       "run": one["run_s"] / two["run_s"]}
    RESULTS.joinpath("ray_nodes.json").write_text(json.dumps(rows, indent=1))
    command = "python -m bench.ray_nodes " + " ".join(sys.argv[1:])
    RESULTS.joinpath("ray_nodes.md").write_text("\n".join([
        "# One Ray node against two (one core each)", "", f"`{command}`", "",
        f"load average at the start: {os.getloadavg()[0]:.1f}", "",
        "| work | 1 node s | 2 nodes s | speed-up |", "|---|---:|---:|---:|",
        f"| campaign, {args.trials} trials of {args.scenario} (ray-tasks) | "
        f"{one['campaign_s']:.1f} | {two['campaign_s']:.1f} | "
        f"{rows['speedup']['campaign']:.2f} |",
        f"| one negotiation of {args.scenario}, DSO and traffic on nodes 0/0 vs 0/1 | "
        f"{one['run_s']:.1f} | {two['run_s']:.1f} | {rows['speedup']['run']:.2f} |", ""]))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
