"""The city's traffic kernels, each the old way and the new way side by side in one run.

Why this exists: on the city game (Chicago Sketch, 100 stations, 4 periods) the traffic
department's equilibria and derivatives were most of every round. Two changes cut them, and this
bench measures each against the way it replaced, in one process:

* shortest paths: one tree per period copy of an origin, assembled for each generation node
  (:mod:`ptn.engines.traffic.fan_out`), against a Dijkstra from every generation node over all
  the copies it reaches: one gap measurement's forest, and one warm re-solve (a probe: one
  station's price 5 $/MWh up in every period) with and without the fan-out;
* load sensitivities: 100 price directions (each station +0.25 $/MWh in every period, a round's
  AEM batch) by one sparse LU factorization, against the 200-iteration conjugate gradients the
  derivative answers used, with the largest difference of their load changes.

Run: ``PTN_TNTP_DIR=... python -m bench.city_equilibrium [--scenario chicago-city-game]``; writes
``bench/results/city_equilibrium.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

from bench.ray_nodes import RESULTS
from ptn.engines.traffic import graph as graph_module
from ptn.engines.traffic import load_sensitivity as sensitivity_module
from ptn.engines.traffic.graph import compile_graph
from ptn.engines.traffic.shortest_path import shortest_path_costs
from ptn.scenario.document import load_scenario
from ptn.services.traffic.model import TrafficDepartmentModel

#: timed repetitions of each kernel (the median is reported)
REPEATS = 3


def median_seconds(work: Any, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def measure(scenario_name: str) -> dict[str, Any]:
    model = TrafficDepartmentModel.from_part(load_scenario(scenario_name).part("traffic"))
    problem, config = model.problem, model.config
    stations, periods = len(model.stations), model.periods
    price = np.random.default_rng(1).uniform(170.0, 230.0, (stations, periods))
    base = problem.solve(price, gap=config.equilibrium_gap, max_iterations=config.max_iterations)
    assignment = problem.problem_at(price)
    graph = compile_graph(assignment)
    assert graph.fan_out is not None
    forest = np.empty((graph.origins.size, graph.num_nodes), dtype=np.int32)
    cost = base.assignment.link_cost
    shortest_path_costs(graph, cost, forest)  # compiled before timing
    rows: dict[str, Any] = {
        "origins": int(graph.origins.size), "nodes": graph.num_nodes,
        "period_copy_roots": int(graph.fan_out.group_roots.size),
        "forest_per_origin_s": median_seconds(
            lambda: shortest_path_costs(graph, cost, forest, fan_out=False)),
        "forest_per_copy_s": median_seconds(lambda: shortest_path_costs(graph, cost, forest)),
    }
    probe = price.copy()
    probe[0] += 5.0

    def warm() -> Any:
        return problem.solve(probe, gap=config.equilibrium_gap,
                             max_iterations=config.max_iterations, warm_start=base)

    per_copy = warm()
    rows["warm_probe_per_copy_s"] = median_seconds(warm)
    original = graph_module.fan_out_of
    graph_module.fan_out_of = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        per_origin = warm()
        rows["warm_probe_per_origin_s"] = median_seconds(warm)
    finally:
        graph_module.fan_out_of = original
    rows["warm_probe_iterations"] = [per_copy.assignment.iterations,
                                     per_origin.assignment.iterations]
    rows["warm_probe_load_difference_mw"] = float(
        np.abs(per_copy.station_load_mw - per_origin.station_load_mw).max())
    directions = []
    for s in range(stations):
        step = np.zeros((stations, periods))
        step[s] = 0.25
        directions.append(step)
    lu = sensitivity_module.load_sensitivity(base, cg_max_iterations=200)
    cg = sensitivity_module.load_sensitivity(base, cg_max_iterations=200)
    cg.__dict__["_factor"] = None  # the conjugate gradients, as before the factorization
    for one in (lu, cg):  # the shared parts (demand basis; the factorization) before timing
        one.direction(directions[0])
    started = time.perf_counter()
    lu_flows = [lu.direction(d)[0] for d in directions]
    rows["directions_lu_s"] = time.perf_counter() - started
    started = time.perf_counter()
    cg_flows = [cg.direction(d)[0] for d in directions]
    rows["directions_cg200_s"] = time.perf_counter() - started
    links = lu.station_links
    worst = max(float(np.abs(a[links] - b[links]).max() / max(np.abs(a[links]).max(), 1e-12))
                for a, b in zip(lu_flows, cg_flows, strict=True))
    rows["directions"] = len(directions)
    rows["directions_largest_relative_difference"] = worst
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="chicago-city-game")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = measure(args.scenario)
    rows["load_average_start"] = load
    name = "city_equilibrium"
    RESULTS.joinpath(f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    command = f"python -m bench.{name} " + " ".join(sys.argv[1:])
    RESULTS.joinpath(f"{name}.md").write_text("\n".join([
        "# The city's traffic kernels, old and new side by side", "",
        f"`{command}` (load average at the start {load:.1f}; medians of {REPEATS})", "",
        "| kernel | before | after | ratio |", "|---|---:|---:|---:|",
        f"| shortest-path forest, {rows['origins']} generation nodes ({rows['nodes']} nodes): "
        f"per origin → per period copy ({rows['period_copy_roots']} roots) | "
        f"{rows['forest_per_origin_s']:.2f} s | {rows['forest_per_copy_s']:.2f} s | "
        f"{rows['forest_per_origin_s'] / rows['forest_per_copy_s']:.1f}x |",
        f"| warm re-solve (one station +5 $/MWh), iterations "
        f"{rows['warm_probe_iterations'][1]} → {rows['warm_probe_iterations'][0]} | "
        f"{rows['warm_probe_per_origin_s']:.1f} s | {rows['warm_probe_per_copy_s']:.1f} s | "
        f"{rows['warm_probe_per_origin_s'] / rows['warm_probe_per_copy_s']:.1f}x |",
        f"| {rows['directions']} load-sensitivity directions: CG (200 iterations) → sparse LU "
        f"| {rows['directions_cg200_s']:.2f} s | {rows['directions_lu_s']:.2f} s | "
        f"{rows['directions_cg200_s'] / rows['directions_lu_s']:.1f}x |", "",
        f"The warm re-solve's station loads differ by "
        f"{rows['warm_probe_load_difference_mw']:.1e} MW between the two; the directions' "
        f"station-load changes by {rows['directions_largest_relative_difference']:.1e} of "
        f"their largest (the CG's truncation).", ""]))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
