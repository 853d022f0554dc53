"""Every network of a TNTP collection: does it load, does UE converge, does it match the best-known
flows?

Why this exists: ptn claims to read the Transportation Networks for Research collection
(https://github.com/bstabler/TransportationNetworks). This tool tries every directory of a copy of
it as a user would: load (or the one-line refusal naming file, line and reason), solve the user
equilibrium to a relative gap (default 1e-6) under a time cap per network, and where the
directory has a ``*_flow.tntp`` best-known solution, compare link flows (max absolute and max
relative difference, the relative one over links with at least 1 veh/h) and the Beckmann
objective of both flow vectors under ptn's link costs. Flows are compared on flow-dependent
links only: UE link flows are unique where costs strictly increase with flow, but not on
constant-cost links (connectors, b = 0 or power = 0), where any split of equal-cost routes is an
equilibrium; there the objective is the check. Best-known flows are only as good as the
gap they were computed to, and they depend on the generalized-cost weights (toll and distance
factors, from the net file's metadata or the directory's README.md; the table shows those used).

Run: ``python -m bench.tntp_collection [DIRECTORY] [--gap 1e-6] [--time-limit 300]``
(DIRECTORY defaults to ``$PTN_TNTP_DIR``); prints a Markdown table, and with ``--json PATH``
writes the rows. The collection is never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.assignment import solve_user_equilibrium
from ptn.engines.traffic.problem import problem_from_network
from ptn.engines.traffic.tntp import find_tntp_files, read_tntp_flows, read_tntp_network

#: links below this best-known flow (veh/h) are left out of the relative difference
RELATIVE_FLOOR_VEH_PER_H = 1.0


@dataclass
class Row:
    """One network's outcome (``refused``: the loader's one-line message)."""

    network: str
    nodes: int = 0
    links: int = 0
    zones: int = 0
    parallel_links: int = 0
    factors: str = ""
    load_s: float = 0.0
    solve_s: float = 0.0
    status: str = ""
    gap: float = float("nan")
    iterations: int = 0
    objective: float = float("nan")
    best_known_objective: float = float("nan")
    max_abs_flow_diff: float = float("nan")
    max_rel_flow_diff: float = float("nan")
    refused: str = ""


def run_network(directory: Path, gap: float, time_limit_s: float, algorithm: str) -> Row:
    """Load, solve and compare one network directory."""
    row = Row(directory.name)
    started = time.perf_counter()
    try:
        network = read_tntp_network(directory)
    except InvalidInputError as error:
        row.refused = str(error)
        row.load_s = time.perf_counter() - started
        return row
    row.load_s = time.perf_counter() - started
    row.nodes, row.links, row.zones = network.num_nodes, network.num_links, network.num_zones
    row.parallel_links = int(network.parallel_links.sum())
    row.factors = f"{network.toll_factor:g}/{network.distance_factor:g}"
    problem = problem_from_network(network)
    started = time.perf_counter()
    result = solve_user_equilibrium(problem, algorithm=algorithm, gap=gap,
                                    max_iterations=100_000, time_limit_seconds=time_limit_s)
    row.solve_s = time.perf_counter() - started
    row.status = str(result.status)
    row.gap = float(result.relative_gap)
    row.iterations = int(result.iterations)
    row.objective = problem.links.beckmann(result.link_flow)
    flow_file = find_tntp_files(directory).get("flow")
    if flow_file is not None:
        try:
            best = read_tntp_flows(flow_file, network).volume
        except InvalidInputError as error:
            row.refused = f"(flows not compared) {error}"
            return row
        unique = network.is_flow_dependent()
        difference = np.where(unique, np.abs(result.link_flow - best), 0.0)
        busy = unique & (best >= RELATIVE_FLOOR_VEH_PER_H)
        row.best_known_objective = problem.links.beckmann(best)
        row.max_abs_flow_diff = float(difference.max())
        row.max_rel_flow_diff = float((difference[busy] / best[busy]).max()) if busy.any() \
            else float("nan")
    return row


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table (refusals in their own column)."""
    header = ("| network | nodes | links | zones | parallel | toll/dist factor | load s | "
              "solve s | status | gap | iter | objective | best-known obj. | max abs dx | "
              "max rel dx | refused / note |")
    lines = [header, "|" + "---|" * 16]

    def number(value: float, spec: str) -> str:
        return "" if not np.isfinite(value) else format(value, spec)

    for r in rows:
        lines.append(
            f"| {r.network} | {r.nodes or ''} | {r.links or ''} | {r.zones or ''} | "
            f"{r.parallel_links or ''} | {r.factors} | {r.load_s:.1f} | "
            f"{number(r.solve_s, '.1f') if r.status else ''} | {r.status} | "
            f"{number(r.gap, '.1e')} | {r.iterations or ''} | {number(r.objective, ',.1f')} | "
            f"{number(r.best_known_objective, ',.1f')} | {number(r.max_abs_flow_diff, '.3g')} | "
            f"{number(r.max_rel_flow_diff, '.2e')} | {r.refused.replace('|', '/')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=os.environ.get("PTN_TNTP_DIR"),
                        help="folder of TNTP network directories (default: $PTN_TNTP_DIR)")
    parser.add_argument("--gap", type=float, default=1e-6, help="relative gap (default 1e-6)")
    parser.add_argument("--time-limit", type=float, default=300.0,
                        help="seconds per network's solve (default 300)")
    parser.add_argument("--algorithm", default="gradient-projection")
    parser.add_argument("--only", nargs="*", default=None, help="network directory names")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if not args.directory:
        parser.error("give a directory or set PTN_TNTP_DIR")
    root = Path(args.directory)
    directories = sorted(path for path in root.iterdir() if path.is_dir())
    if args.only:
        directories = [path for path in directories if path.name in set(args.only)]
    rows = []
    for directory in directories:
        row = run_network(directory, args.gap, args.time_limit, args.algorithm)
        print(f"{row.network}: {row.status or 'refused'} {row.refused}", flush=True)
        rows.append(row)
    print()
    print(markdown(rows))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=1))


if __name__ == "__main__":
    main()
