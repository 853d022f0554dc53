"""Warm re-solve after a price change against a cold solve, as the pricing games use the engine.

Why this exists: the charging operators' price game asks the traffic department for m+1
equilibria per operator per round, each after a small price change, so the claim that a warm
re-solve costs a fraction of a cold one must be measured, not asserted in a test.

Cases (seed 001's set-up): stations with Davidson queues, 30 % EVs, departure shifting of at most
one period at 3 $/veh, six periods with beta = [0.7, 0.9, 0.8, 0.7, 1.0, 0.8]:

* Nguyen–Dupuis with stations at nodes 7, 9, 10, 12 (200 veh/h each);
* Sioux Falls with stations at nodes 5, 10, 11, 15, 16, 20 (30 000 veh/h each; read from
  ``$PTN_TNTP_DIR`` or ``../shared/data/tntp``).

For each case and target gap: solve at 200 $/MWh, raise one station's price by 5 % in the first
period, then time the re-solve warm-started from the first solution and the same solve cold.
Medians over repeats; numba compilation is excluded by a warm-up solve.

Run: ``python -m bench.warm_restart [--repeats 5] [--gaps 1e-6 1e-8 1e-10]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.traffic_peers import tntp_root
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import MultiPeriodSpec, build_multiperiod_problem
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.path_based import solve_path_based
from ptn.engines.traffic.problem import AssignmentProblem
from ptn.engines.traffic.tntp import read_tntp_network

PERIOD_FACTORS = np.array([0.7, 0.9, 0.8, 0.7, 1.0, 0.8])
EV_SHARE = 0.3
BASE_PRICE_PER_MWH = 200.0


def price_change_problems(
    network: RoadNetwork, station_nodes: tuple[int, ...], capacity_veh_per_h: float
) -> tuple[AssignmentProblem, AssignmentProblem]:
    """The multi-period problem at base prices and after +5 % at one station in period 1."""
    periods = PERIOD_FACTORS.size
    stations = tuple(
        ChargingStation(f"CS{node}", node, capacity_veh_per_h, 0.25, 0.5,
                        np.full(periods, BASE_PRICE_PER_MWH))
        for node in station_nodes
    )
    spec = ChargingNetworkSpec(network, stations)
    demand = network.od_demand
    problem = build_multiperiod_problem(MultiPeriodSpec(
        spec,
        gv_demand_veh_per_h=np.outer(PERIOD_FACTORS, demand * (1 - EV_SHARE)),
        ev_demand_veh_per_h=np.outer(PERIOD_FACTORS, demand * EV_SHARE),
    ))
    prices = spec.price_matrix_per_mwh()
    changed = prices.copy()
    changed[0, 0] *= 1.05
    return problem.problem_at(prices), problem.problem_at(changed)


def measure(
    before: AssignmentProblem, after: AssignmentProblem, gap: float, repeats: int
) -> dict[str, float]:
    base = solve_path_based(before, gap=gap)
    solve_path_based(after, gap=gap, warm_start=base.warm_start)  # compile everything first
    cold_s, warm_s, cold_it, warm_it = [], [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        warm = solve_path_based(after, gap=gap, warm_start=base.warm_start)
        warm_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        cold = solve_path_based(after, gap=gap)
        cold_s.append(time.perf_counter() - started)
        assert warm.converged and cold.converged
        cold_it.append(cold.iterations)
        warm_it.append(warm.iterations)
    return {
        "cold_s": statistics.median(cold_s), "warm_s": statistics.median(warm_s),
        "cold_iterations": statistics.median(cold_it),
        "warm_iterations": statistics.median(warm_it),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gaps", type=float, nargs="+", default=[1e-6, 1e-8, 1e-10])
    arguments = parser.parse_args()
    cases = [("Nguyen–Dupuis ×6 periods", nguyen_dupuis(), (7, 9, 10, 12), 200.0)]
    sioux_falls = tntp_root() / "SiouxFalls"
    if sioux_falls.is_dir():
        cases.append(("Sioux Falls ×6 periods", read_tntp_network(sioux_falls),
                      (5, 10, 11, 15, 16, 20), 30000.0))
    print("| case | gap | cold s (it) | warm s (it) | cold / warm |")
    print("|---|---|---|---|---|")
    for name, network, nodes, capacity in cases:
        before, after = price_change_problems(network, nodes, capacity)
        for gap in arguments.gaps:
            row = measure(before, after, gap, arguments.repeats)
            print(f"| {name} ({after.num_links} links) | {gap:g} | {row['cold_s']:.4f} "
                  f"({row['cold_iterations']:g}) | {row['warm_s']:.4f} "
                  f"({row['warm_iterations']:g}) | {row['cold_s'] / row['warm_s']:.1f}× |",
                  flush=True)


if __name__ == "__main__":
    main()
