"""SUE's Newton method needs memory linear in the network, not a links x links matrix.

A 45 x 45 two-way grid has L = 7,920 links: one dense L x L float64 array is 502 MB. The solve
runs in a fresh interpreter (numba allocates outside Python's tracemalloc), which reports how
far its peak resident set grew during the solve (``ru_maxrss`` after minus before). The bound,
L^2 x 8 bytes / 8 = 63 MB, is far above what link vectors and the few hundred routes need and
far below one dense matrix, so the test fails if a dense links x links system comes back. The
flows are checked independently: each origin's outflow equals its demand and the flow of every
link is the logit loading of the returned route costs (recomputed here).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

GRID = 45
CHILD = f"""
import json, resource
import numpy as np
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.problem import problem_from_network
from ptn.engines.traffic.sue import solve_stochastic_equilibrium

n = {GRID}
ids = np.arange(1, n * n + 1)
tails, heads = [], []
for r in range(n):
    for c in range(n):
        k = r * n + c
        if c + 1 < n:
            tails += [k, k + 1]; heads += [k + 1, k]
        if r + 1 < n:
            tails += [k, k + n]; heads += [k + n, k]
tail = np.array(tails); head = np.array(heads); links = tail.size
corners = [0, n - 1, n * (n - 1), n * n - 1]
origin = np.array([corners[0], corners[1], corners[2], corners[3]])
destination = np.array([corners[3], corners[2], corners[1], corners[0]])
demand = np.array([900.0, 700.0, 800.0, 600.0])
network = RoadNetwork(
    name="grid", node_ids=ids, num_zones=n * n, first_thru_node=1, link_tail=tail,
    link_head=head, capacity=np.full(links, 400.0), length=np.ones(links),
    free_flow_time=1.0 + (np.arange(links) % 7) / 10.0, b=np.full(links, 0.15),
    power=np.full(links, 4.0), toll=np.zeros(links), link_type=np.ones(links, dtype=np.int64),
    od_origin=origin, od_destination=destination, od_demand=demand)
problem = problem_from_network(network)
small = solve_stochastic_equilibrium(problem, theta=0.5, path_set="generate", max_iterations=1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = solve_stochastic_equilibrium(problem, theta=0.5, path_set="generate",
                                      criterion="residual", tolerance=1e-6)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
paths = result.paths
print(json.dumps({{
    "links": int(links), "grown_kib": int(after - before), "status": str(result.status),
    "link_flow": result.link_flow.tolist(), "link_cost": result.link_cost.tolist(),
    "od_first": paths.od_first.tolist(), "path_first": paths.path_first.tolist(),
    "path_links": paths.path_links.tolist(), "od_key": paths.od_key.tolist(),
    "tail": tail.tolist(), "origin": origin.tolist(), "demand": demand.tolist()}}))
"""


def test_newton_sue_on_a_large_grid_needs_no_links_by_links_memory() -> None:
    completed = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                               timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    links = report["links"]
    assert links == 4 * GRID * (GRID - 1)
    assert report["status"] == "converged"
    dense_bytes = links * links * 8
    assert report["grown_kib"] * 1024 < dense_bytes / 8, (
        f"the solve grew the peak resident set by {report['grown_kib'] / 1024:.0f} MiB; one "
        f"dense links x links array is {dense_bytes / 2**20:.0f} MiB")

    flow = np.array(report["link_flow"])
    cost = np.array(report["link_cost"])
    od_first, path_first = report["od_first"], report["path_first"]
    path_links = np.array(report["path_links"])
    tail = np.array(report["tail"])
    expected = np.zeros(links)
    theta = 0.5
    for od, key in enumerate(report["od_key"]):
        routes = range(od_first[od], od_first[od + 1])
        route_links = [path_links[path_first[p]:path_first[p + 1]] for p in routes]
        costs = np.array([cost[r].sum() for r in route_links])
        weights = np.exp(-theta * (costs - costs.min()))
        shares = report["demand"][key] * weights / weights.sum()
        for share, r in zip(shares, route_links, strict=True):
            expected[r] += share
        leaving = np.flatnonzero(tail == report["origin"][key])
        assert flow[leaving].sum() >= report["demand"][key] - 1e-6
    np.testing.assert_allclose(flow, expected, atol=1e-5)
