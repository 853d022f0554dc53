"""The certificate's exact probes on Ray probe workers: one Ray node against two (one core each).

Why this exists: issue 18 asks what a second Ray node buys the city's pricing game and what a
16-node cluster would give. The game's rounds are sequential, but its ε certificate is thousands
of independent exact equilibria (each CNO's deviations from the final prices), which the traffic
department spreads over the cluster with ``[traffic] probe_workers_on = "ray"``
(:mod:`ptn.services.adapters.ray_probe_pool`). This bench times such a batch: a scenario's
traffic problem, its equilibrium at uniform prices (solved first, not timed), then ``--probes``
exact re-solves warm-started from it, each one price of one station 25 $/MWh away (as the
certificate's polls are), on 2 Ray probe workers of one CPU each, on a cluster of one and of two
one-core nodes (:class:`bench.ray_nodes.OneCoreNodes`). Each measurement is a process of its own
joining the cluster. The workers' start (each builds the problem) is timed apart.

Run: ``PTN_TNTP_DIR=... python -m bench.ray_probe_workers [--scenario chicago-city-game]
[--probes 8]``; writes ``bench/results/ray_probe_workers.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.ray_nodes import RESULTS, OneCoreNodes

#: the polls' distance from the base prices ($/MWh)
POLL_PER_MWH = 25.0
#: what starts a measurement's result line (Ray writes to the same stdout)
MARK = "RESULT "


def batch_seconds(address: str, scenario_name: str, probes: int) -> dict[str, float]:
    """In this process (joined to ``address``): the workers' start and the batch's seconds."""
    import numpy as np
    import ray

    from ptn.engines.traffic.probe_pool import ProbePool, ProbeSolve
    from ptn.scenario.document import load_scenario
    from ptn.services.adapters import ray_probe_pool
    from ptn.services.traffic.model import TrafficDepartmentModel

    ray.init(address=address, include_dashboard=False, log_to_driver=False)
    ray_probe_pool.register()
    model = TrafficDepartmentModel.from_part(load_scenario(scenario_name).part("traffic"))
    problem, config = model.problem, model.config
    stations, periods = len(model.stations), model.periods
    base_price = np.full((stations, periods), 200.0)
    base = problem.solve(base_price, gap=config.equilibrium_gap,
                         max_iterations=config.max_iterations)
    solves = []
    for k in range(probes + 2):
        price = base_price.copy()
        price[(7 * k) % stations, k % periods] += POLL_PER_MWH if k % 2 else -POLL_PER_MWH
        solves.append(ProbeSolve(price, base.warm_start, config.equilibrium_gap,
                                 config.max_iterations))
    pool = ProbePool(problem, 2, "ray")
    try:
        started = time.perf_counter()
        pool.solve(solves[:2])  # the workers start and build the problem
        start_s = time.perf_counter() - started
        started = time.perf_counter()
        pool.solve(solves[2:])
        batch_s = time.perf_counter() - started
    finally:
        pool.close()
    return {"workers_start_s": start_s, "batch_s": batch_s, "probes": probes}


def measure(scenario: str, probes: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for nodes in (1, 2):
        cluster = OneCoreNodes(nodes)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "bench.ray_probe_workers", "--scenario", scenario,
                 "--probes", str(probes), "--address", cluster.address],
                check=False, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"the {nodes}-node measurement failed:\n{done.stderr}")
        finally:
            cluster.shutdown()
        result = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
        rows[str(nodes)] = json.loads(result[-1][len(MARK):])
    rows["speedup"] = rows["1"]["batch_s"] / rows["2"]["batch_s"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="chicago-city-game")
    parser.add_argument("--probes", type=int, default=8)
    parser.add_argument("--address", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.address is not None:  # one measurement, in a process joined to the cluster
        print(MARK + json.dumps(batch_seconds(args.address, args.scenario, args.probes)))
        return
    load = os.getloadavg()[0]
    rows = measure(args.scenario, args.probes)
    rows["load_average_start"] = load
    name = "ray_probe_workers"
    RESULTS.joinpath(f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    command = f"python -m bench.{name} " + " ".join(sys.argv[1:])
    one, two = rows["1"], rows["2"]
    RESULTS.joinpath(f"{name}.md").write_text("\n".join([
        "# The certificate's exact probes on Ray probe workers: one node against two", "",
        f"`{command}` (one core per node; load average at the start {load:.1f})", "",
        "| cluster | workers' start s | batch s | s per probe |", "|---|---:|---:|---:|",
        *(f"| {n} node{'s' if n != '1' else ''} | {r['workers_start_s']:.1f} | "
          f"{r['batch_s']:.1f} | {r['batch_s'] / r['probes']:.2f} |"
          for n, r in (("1", one), ("2", two))),
        "", f"Speed-up of the batch: {rows['speedup']:.2f}x ({args.probes} probes of "
            f"{args.scenario}, each one price {POLL_PER_MWH:g} $/MWh from the base, 2 "
            f"workers of one CPU).", ""]))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
