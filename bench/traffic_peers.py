"""ptn's user-equilibrium solvers against AequilibraE and pytraf, on the same TNTP problems.

Why this exists: ptn claims (docs/benchmarks.md) that its gradient-projection solver reaches
Chicago Sketch's equilibrium to a relative gap of 1e-6 no slower than pytraf (Rust) and at least
15x faster than AequilibraE, and that it reaches 1e-12. Those claims need one reproducible run
that puts every tool on the *same* problem and judges every answer with the *same* yardstick.

For each network and target gap the harness runs, one after another and each from a cold start:
ptn gradient projection (``ptn-gp``), ptn bi-conjugate Frank-Wolfe (``ptn-bfw``), AequilibraE's
``bfw`` and pytraf's gradient projection. It records

* wall seconds of the solve alone: file reading is excluded for everyone; ptn's numba kernels
  are compiled by a warm-up solve first; the peers' network/graph building is done once per
  network, timed separately and reported as ``setup_s``;
* iterations and the gap the tool itself reports;
* the relative gap *recomputed by ptn* (:func:`ptn.engines.traffic.result.gap_measures`) from the
  tool's link flows mapped to ptn's link order, and the Beckmann objective of those flows
  (:meth:`ptn.engines.traffic.link_costs.LinkCosts.beckmann`).

Every tool minimises the same generalized cost ``t_a(x) + toll_factor*toll + distance_factor*
length`` (Chicago Sketch: + 0.04 min/mile): the flow-independent part goes to AequilibraE as a
fixed-cost graph field (``TrafficClass.set_fixed_cost``) and to pytraf as
``TrafficClass(extra_link_cost=...)``; the BPR functions are left untouched.

Tools without a time limit (the peers) get an iteration cap derived from the time left in their
per-network budget and their measured seconds per iteration. A target not met within the budget
is recorded as "not reached"; tighter targets are then skipped with the reason.

Run: ``python -m bench.traffic_peers [--networks ...] [--gaps ...] [--out PATH.md]``; the raw
numbers go to ``PATH.json`` beside the markdown table.

``python -m bench.traffic_peers --whole-process --network DIR ...`` instead times ``ptn assign``,
pytraf and TAP-B as whole processes (start-up, reading and writing included), interleaved, with
peak memory and one independent gap for every tool's flows: see bench/traffic_processes.py.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

# Both are read when aequilibrae (and its OpenMP runtime) load. Spin-waiting OpenMP threads make
# AequilibraE up to 10x slower when another process holds a core, as on a shared 2-core machine.
os.environ.setdefault("AEQ_SHOW_PROGRESS", "FALSE")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from ptn.engines.traffic.assignment import solve_user_equilibrium
from ptn.engines.traffic.graph import CompiledGraph, compile_graph
from ptn.engines.traffic.network import FloatArray, RoadNetwork
from ptn.engines.traffic.problem import AssignmentProblem, problem_from_network
from ptn.engines.traffic.result import gap_measures
from ptn.engines.traffic.tntp import read_tntp_network

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_NETWORKS = ("SiouxFalls", "ChicagoSketch")
DEFAULT_GAPS = (1e-4, 1e-6, 1e-8, 1e-12)
DEFAULT_BUDGET_SECONDS = 300.0
DEFAULT_OUT = REPOSITORY / "bench" / "results" / "traffic_peers.md"
TOOLS = ("ptn-gp", "ptn-bfw", "aequilibrae-bfw", "pytraf")
# Imported before the setup timer starts: import time is not graph building.
TOOL_MODULES = {
    "ptn-gp": ("ptn.engines.traffic.path_based",),
    "ptn-bfw": ("ptn.engines.traffic.frank_wolfe",),
    "aequilibrae-bfw": ("pandas", "aequilibrae.matrix", "aequilibrae.paths"),
    "pytraf": ("pytraf",),
}
BASELINE = "ptn-gp"
# AequilibraE's BPR needs positive free-flow times (Chicago Sketch's connectors have 0).
AEQ_MIN_FREE_FLOW_TIME = 1e-6
MAX_ITERATION_CAP = 1_000_000
# A solve is repeated (best time kept) only while its repeats so far took less than this.
REPEAT_WITHIN_SECONDS = 20.0


def tntp_root() -> Path:
    """``$PTN_TNTP_DIR``, else ``../shared/data/tntp`` beside the checkout (as the tests do)."""
    configured = os.environ.get("PTN_TNTP_DIR")
    if configured:
        return Path(configured)
    return REPOSITORY.parent / "shared" / "data" / "tntp"


@dataclass(frozen=True)
class Outcome:
    """What one solve returned, in ptn's link order."""

    flow: FloatArray
    seconds: float
    iterations: int
    reported_gap: float
    converged: bool
    note: str = ""
    reported_objective: float | None = None


@dataclass
class Run:
    """One (network, tool, target gap) row of the benchmark."""

    network: str
    tool: str
    target_gap: float
    status: str  # "converged", "not reached", "skipped" or "error"
    reason: str = ""
    seconds: float | None = None
    setup_seconds: float | None = None
    iterations: int | None = None
    reported_gap: float | None = None
    recomputed_gap: float | None = None
    objective: float | None = None
    reported_objective: float | None = None  # the tool's own, where it reports one
    ratio_to_baseline: float | None = None
    all_seconds: list[float] = field(default_factory=list)


class Solver(ABC):
    """A tool under test, built for one network. Construction is the (separately timed) setup."""

    name: str
    separate_setup = True  # builds its network once, outside the timed solves

    def __init__(
        self, network: RoadNetwork, problem: AssignmentProblem, threads: int | None = None
    ) -> None:
        self.network = network
        self.problem = problem
        self.threads = threads
        self.config_seconds = 0.0  # per-solve configuration outside the timed call

    @abstractmethod
    def warm_up(self) -> None:
        """A short solve that compiles or loads whatever the tool needs before timing."""

    @abstractmethod
    def solve(self, gap: float, seconds_left: float) -> Outcome:
        """Solve from scratch to ``gap``, stopping within about ``seconds_left`` seconds."""


class IterationCappedSolver(Solver):
    """A peer without a time limit: an iteration cap at its measured pace stands in for one."""

    def __init__(
        self, network: RoadNetwork, problem: AssignmentProblem, threads: int | None = None
    ) -> None:
        super().__init__(network, problem, threads)
        self.seconds_per_iteration: float | None = None

    @abstractmethod
    def _run(self, gap: float, max_iter: int) -> Outcome:
        """One solve from scratch with at most ``max_iter`` iterations."""

    def warm_up(self) -> None:
        self.record_pace(self._run(gap=1e-3, max_iter=3))

    def iteration_cap(self, seconds_left: float) -> int:
        """Iterations that fit in ``seconds_left`` at the last measured pace."""
        if self.seconds_per_iteration is None or self.seconds_per_iteration <= 0:
            return MAX_ITERATION_CAP
        return int(min(MAX_ITERATION_CAP, max(1.0, seconds_left / self.seconds_per_iteration)))

    def record_pace(self, outcome: Outcome) -> None:
        if outcome.iterations > 0:
            self.seconds_per_iteration = outcome.seconds / outcome.iterations

    def solve(self, gap: float, seconds_left: float) -> Outcome:
        cap = self.iteration_cap(seconds_left)
        outcome = self._run(gap, cap)
        self.record_pace(outcome)
        if outcome.converged or outcome.iterations < cap:
            return outcome
        note = (f"stopped at its iteration cap of {cap}, set from the {seconds_left:.0f} s "
                "left of its time budget")
        return replace(outcome, note=note)


class PtnSolver(Solver):
    """ptn's :func:`solve_user_equilibrium` with one algorithm; it has its own time limit.

    Its graph compilation runs inside every solve and is timed with it (no separate setup).
    """

    separate_setup = False

    def __init__(self, network: RoadNetwork, problem: AssignmentProblem, algorithm: str) -> None:
        super().__init__(network, problem)
        self.algorithm = algorithm
        self.name = "ptn-gp" if algorithm == "gradient-projection" else f"ptn-{algorithm}"

    def warm_up(self) -> None:
        solve_user_equilibrium(self.problem, algorithm=self.algorithm, gap=1e-3, max_iterations=20)

    def solve(self, gap: float, seconds_left: float) -> Outcome:
        started = time.perf_counter()
        result = solve_user_equilibrium(
            self.problem, algorithm=self.algorithm, gap=gap, max_iterations=MAX_ITERATION_CAP,
            time_limit_seconds=seconds_left,
        )
        seconds = time.perf_counter() - started
        note = "" if result.converged else str(result.status)
        if result.status == "time_limit":
            note = f"stopped at its time limit, the {seconds_left:.0f} s left of its time budget"
        return Outcome(result.link_flow, seconds, result.iterations, result.relative_gap,
                       result.converged, note, reported_objective=result.objective)


class PytrafSolver(IterationCappedSolver):
    """pytraf (Rust, path-based gradient projection); threads default to all cores."""

    name = "pytraf"

    def __init__(
        self, network: RoadNetwork, problem: AssignmentProblem, threads: int | None = None
    ) -> None:
        super().__init__(network, problem, threads)
        import pytraf

        self._assign = pytraf.assign
        self.net = pytraf.Network(
            network.num_nodes,
            network.link_tail.astype(np.int64),
            network.link_head.astype(np.int64),
            network.free_flow_time.astype(np.float64),
            network.capacity.astype(np.float64),
            network.b.astype(np.float64),
            network.power.astype(np.float64),
            network.no_through_nodes(),
        )
        demand = pytraf.Demand(
            network.num_nodes,
            network.od_origin.astype(np.int64),
            network.od_destination.astype(np.int64),
            network.od_demand.astype(np.float64),
        )
        fixed = problem.links.fixed_cost
        self.demand_class = pytraf.TrafficClass(
            demand, extra_link_cost=fixed.astype(np.float64) if np.any(fixed != 0) else None
        )

    def _run(self, gap: float, max_iter: int) -> Outcome:
        started = time.perf_counter()
        result = self._assign(self.net, self.demand_class, gap=gap, max_iter=max_iter,
                              threads=self.threads)
        seconds = time.perf_counter() - started
        return Outcome(np.asarray(result.links.flow, dtype=np.float64), seconds,
                       int(result.iterations), float(result.relative_gap),
                       bool(result.converged),
                       reported_objective=float(result.diagnostics.objective))


class AequilibraeSolver(IterationCappedSolver):
    """AequilibraE's bi-conjugate Frank-Wolfe on an in-memory graph and matrix (all cores unless
    told otherwise)."""

    name = "aequilibrae-bfw"

    def __init__(
        self, network: RoadNetwork, problem: AssignmentProblem, threads: int | None = None
    ) -> None:
        super().__init__(network, problem, threads)
        import pandas as pd
        from aequilibrae.matrix import AequilibraeMatrix
        from aequilibrae.paths import Graph

        num_links = network.num_links
        self.link_ids = np.arange(1, num_links + 1, dtype=np.int64)
        self.fixed_cost = problem.links.fixed_cost.astype(np.float64)
        graph = Graph()
        graph.network = pd.DataFrame({
            "link_id": self.link_ids,
            "a_node": network.node_ids[network.link_tail].astype(np.int64),
            "b_node": network.node_ids[network.link_head].astype(np.int64),
            "direction": np.ones(num_links, dtype=np.int8),
            "free_flow_time": np.maximum(network.free_flow_time, AEQ_MIN_FREE_FLOW_TIME),
            "capacity": network.capacity.astype(np.float64),
            "b": network.b.astype(np.float64),
            "power": network.power.astype(np.float64),
            "fixed_cost": self.fixed_cost,
        })
        zones = network.node_ids[: network.num_zones].astype(np.int64)
        graph.prepare_graph(zones)
        graph.set_graph("free_flow_time")
        graph.set_skimming([])
        graph.set_blocked_centroid_flows(bool(network.first_thru_node > 1))
        self.graph = graph

        matrix = AequilibraeMatrix()
        matrix.create_empty(zones=network.num_zones, matrix_names=["demand"], memory_only=True)
        matrix.index[:] = zones
        trips = np.zeros((network.num_zones, network.num_zones))
        np.add.at(trips, (network.od_origin, network.od_destination), network.od_demand)
        matrix.matrices[:, :, 0] = trips
        matrix.computational_view(["demand"])
        self.matrix = matrix
        # Its "Desired RGap ... NOT reached" errors: the harness reports that itself.
        logging.getLogger("aequilibrae").setLevel(logging.CRITICAL)

    def _run(self, gap: float, max_iter: int) -> Outcome:
        from aequilibrae.paths import TrafficAssignment, TrafficClass

        configuring = time.perf_counter()
        demand_class = TrafficClass("car", self.graph, self.matrix)
        if np.any(self.fixed_cost != 0):
            demand_class.set_fixed_cost("fixed_cost", 1.0)
        assignment = TrafficAssignment()
        assignment.set_classes([demand_class])
        assignment.set_vdf("BPR")
        assignment.set_vdf_parameters({"alpha": "b", "beta": "power"})
        assignment.set_capacity_field("capacity")
        assignment.set_time_field("free_flow_time")
        assignment.set_algorithm("bfw")
        if self.threads is not None:
            assignment.set_cores(self.threads)
        assignment.max_iter = max_iter
        assignment.rgap_target = gap
        started = time.perf_counter()
        self.config_seconds = started - configuring
        assignment.execute(log_specification=False)
        seconds = time.perf_counter() - started
        loads = assignment.results()["PCE_AB"].reindex(self.link_ids)
        flow = np.nan_to_num(loads.to_numpy(dtype=np.float64), nan=0.0)
        reported = float(assignment.assignment.rgap)
        return Outcome(flow, seconds, int(assignment.assignment.iter), reported, reported <= gap)


def build_solver(
    tool: str, network: RoadNetwork, problem: AssignmentProblem, threads: int | None = None
) -> Solver:
    """The solver of ``tool``; ``threads`` applies to the peers (ptn's comes from numba's
    thread count, set once in :func:`main`)."""
    if tool == "ptn-gp":
        return PtnSolver(network, problem, "gradient-projection")
    if tool == "ptn-bfw":
        return PtnSolver(network, problem, "bfw")
    if tool == "aequilibrae-bfw":
        return AequilibraeSolver(network, problem, threads)
    if tool == "pytraf":
        return PytrafSolver(network, problem, threads)
    raise ValueError(f"unknown tool {tool!r} (choose from {', '.join(TOOLS)})")


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:200]


def benchmark_network(
    name: str,
    directory: Path,
    gaps: Sequence[float],
    tools: Sequence[str],
    budget_seconds: float,
    threads: int | None = None,
    repeat: int = 1,
    log: Any = print,
) -> list[Run]:
    """All (tool, gap) runs on one network, loosest gap first."""
    network = read_tntp_network(directory)
    problem = problem_from_network(network)
    graph = compile_graph(problem)
    log(f"{name}: {network.num_nodes} nodes, {network.num_links} links, "
        f"{network.od_demand.size} OD pairs, distance factor {network.distance_factor:g}, "
        f"toll factor {network.toll_factor:g}")
    solvers: dict[str, Solver] = {}
    setup: dict[str, float] = {}
    failures: dict[str, str] = {}
    for tool in tools:
        try:
            for module in TOOL_MODULES.get(tool, ()):
                importlib.import_module(module)
            started = time.perf_counter()
            solver = build_solver(tool, network, problem, threads)
            setup[tool] = time.perf_counter() - started
            solver.warm_up()
            solvers[tool] = solver
        except Exception as error:  # a missing or broken tool is a row, not a crash
            failures[tool] = f"setup failed: {_error_text(error)}"
            log(f"  {tool}: {failures[tool]}")
    spent = dict.fromkeys(tools, 0.0)
    skips: dict[str, str] = {}
    runs: list[Run] = []
    for gap in sorted(gaps, reverse=True):
        for tool in tools:
            run = Run(name, tool, gap, "skipped")
            if tool in failures:
                run.status, run.reason = "error", failures[tool]
            elif tool in skips:
                run.reason = skips[tool]
            elif (left := budget_seconds - spent[tool]) <= 0:
                run.reason = f"its {budget_seconds:g} s budget on {name} is used up"
            else:
                spent[tool] += _solve_into(run, solvers[tool], graph, problem, left, repeat)
                if solvers[tool].separate_setup:
                    run.setup_seconds = setup[tool] + solvers[tool].config_seconds
                if run.status != "converged":
                    skips[tool] = f"looser target {gap:g} not reached"
            runs.append(run)
            log("  " + _describe(run))
    _add_ratios(runs)
    return runs


def _solve_into(
    run: Run,
    solver: Solver,
    graph: CompiledGraph,
    problem: AssignmentProblem,
    left: float,
    repeat: int,
) -> float:
    """Fill ``run`` from the solve (best of ``repeat`` if quick).

    Returns the seconds of the first solve, which is what counts against the tool's budget.
    """
    try:
        outcome = solver.solve(run.target_gap, left)
        run.all_seconds = [outcome.seconds]
        while (outcome.converged and len(run.all_seconds) < repeat
               and sum(run.all_seconds) < REPEAT_WITHIN_SECONDS):
            run.all_seconds.append(solver.solve(run.target_gap, left).seconds)
    except Exception as error:
        run.status, run.reason = "error", _error_text(error)
        return run.all_seconds[0] if run.all_seconds else 0.0
    run.seconds = min(run.all_seconds)
    run.iterations = outcome.iterations
    run.reported_gap = outcome.reported_gap
    run.reported_objective = outcome.reported_objective
    if outcome.flow.shape == (problem.num_links,) and np.all(np.isfinite(outcome.flow)):
        run.recomputed_gap = gap_measures(graph, problem.links, outcome.flow).relative_gap
        run.objective = problem.links.beckmann(outcome.flow)
    if outcome.converged:
        run.status = "converged"
    else:
        run.status = "not reached"
        run.reason = outcome.note or "stopped before the target"
    return run.all_seconds[0]


def _add_ratios(runs: list[Run]) -> None:
    baseline = {(r.network, r.target_gap): r.seconds for r in runs
                if r.tool == BASELINE and r.status == "converged"}
    for run in runs:
        reference = baseline.get((run.network, run.target_gap))
        if run.status == "converged" and run.seconds is not None and reference:
            run.ratio_to_baseline = run.seconds / reference


def _describe(run: Run) -> str:
    text = f"{run.tool:<16} gap {run.target_gap:<7g} {run.status}"
    if run.seconds is not None:
        text += f" in {run.seconds:.3f} s, {run.iterations} it, own gap {run.reported_gap:.3e}"
    if run.recomputed_gap is not None:
        text += f", our gap {run.recomputed_gap:.3e}"
    if run.reason:
        text += f" ({run.reason})"
    return text


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, spec)


def markdown_table(runs: Sequence[Run]) -> str:
    """One row per run, grouped by network and target gap."""
    lines = [
        "| network | target gap | tool | status | seconds | × ptn-gp | iterations "
        "| own gap | our gap | Beckmann objective | setup s |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        status = run.status if not run.reason else f"{run.status}: {run.reason}"
        lines.append(
            f"| {run.network} | {run.target_gap:g} | {run.tool} | {status} "
            f"| {_number(run.seconds, '.3f')} | {_number(run.ratio_to_baseline, '.2f')} "
            f"| {run.iterations if run.iterations is not None else '–'} "
            f"| {_number(run.reported_gap, '.2e')} | {_number(run.recomputed_gap, '.2e')} "
            f"| {_number(run.objective, '.4f')} | {_number(run.setup_seconds, '.3f')} |"
        )
    return "\n".join(lines)


def target_checks(runs: Sequence[Run]) -> list[str]:
    """The claims of docs/benchmarks.md, each stated as met, not met or not measured."""
    def find(tool: str, gap: float) -> Run | None:
        return next((r for r in runs if r.network == "ChicagoSketch" and r.tool == tool
                     and r.target_gap == gap and r.status == "converged"), None)

    checks = []
    ours, rust, aeq = find(BASELINE, 1e-6), find("pytraf", 1e-6), find("aequilibrae-bfw", 1e-6)
    if ours and rust and ours.seconds and rust.seconds:
        verdict = "met" if ours.seconds <= rust.seconds else "not met"
        checks.append(f"Chicago Sketch 1e-6 no slower than pytraf: {verdict} "
                      f"({ours.seconds:.2f} s vs {rust.seconds:.2f} s)")
    else:
        checks.append("Chicago Sketch 1e-6 no slower than pytraf: not measured")
    if ours and aeq and ours.seconds and aeq.seconds:
        ratio = aeq.seconds / ours.seconds
        verdict = "met" if ratio >= 15 else "not met"
        checks.append(f"Chicago Sketch 1e-6 at least 15x faster than AequilibraE: {verdict} "
                      f"({ratio:.1f}x)")
    else:
        checks.append("Chicago Sketch 1e-6 at least 15x faster than AequilibraE: not measured")
    tight = find(BASELINE, 1e-12)
    checks.append("Chicago Sketch 1e-12 reachable: "
                  + (f"met ({tight.seconds:.2f} s)" if tight and tight.seconds is not None
                     else "not met or not measured"))
    return checks


def machine_description() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in ("numpy", "numba", "aequilibrae", "pytraf", "pandas"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.traffic_peers",
        description="Time ptn's UE solvers against AequilibraE and pytraf on TNTP networks.",
    )
    parser.add_argument("--networks", nargs="+", default=list(DEFAULT_NETWORKS),
                        help="TNTP network directory names (default: %(default)s)")
    parser.add_argument("--gaps", nargs="+", type=float, default=list(DEFAULT_GAPS),
                        help="target relative gaps (default: %(default)s)")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS),
                        help="tools to run (default: all)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS,
                        help="seconds each tool may spend per network (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="repeat solves under 20 s up to this many times, keep the best "
                             "(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for ptn, AequilibraE and pytraf (default: all cores)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="TNTP root (default: $PTN_TNTP_DIR or ../shared/data/tntp)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="markdown table to write; raw numbers go to the same name .json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if "--whole-process" in given:  # ptn assign, pytraf and TAP-B as whole processes
        from bench import traffic_processes

        given.remove("--whole-process")
        return traffic_processes.main(given)
    arguments = parse_arguments(argv)
    if arguments.threads is not None:  # ptn's shortest paths use numba's threads
        import numba

        numba.set_num_threads(arguments.threads)
    root = arguments.data_dir or tntp_root()
    command = " ".join(["python -m bench.traffic_peers",
                        shlex.join(sys.argv[1:] if argv is None else list(argv))]).strip()
    started = time.perf_counter()
    load_before = os.getloadavg()
    runs: list[Run] = []
    for name in arguments.networks:
        directory = root / name
        if not directory.is_dir():
            print(f"{name}: no TNTP directory at {directory} (set PTN_TNTP_DIR)", file=sys.stderr)
            return 2
        runs += benchmark_network(name, directory, arguments.gaps, arguments.tools,
                                  arguments.budget, arguments.threads, arguments.repeat)
    total = time.perf_counter() - started

    table = markdown_table(runs)
    checks = target_checks(runs)
    print()
    print(table)
    print()
    print("Ratios (peer seconds / ptn-gp seconds):")
    for run in runs:
        if run.tool != BASELINE and run.ratio_to_baseline is not None:
            print(f"  {run.network} {run.target_gap:g} {run.tool}: {run.ratio_to_baseline:.2f}")
    print("Targets:")
    for check in checks:
        print(f"  {check}")
    print(f"Total runtime {total:.0f} s; load average before {load_before[0]:.2f}, "
          f"after {os.getloadavg()[0]:.2f}")

    out: Path = arguments.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"Command: `{command}` ({total:.0f} s)\n\n{table}\n\n"
                   + "\n".join(f"- {check}" for check in checks) + "\n", encoding="utf-8")
    report = {
        "command": command,
        "total_seconds": total,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine_description(),
        "settings": {"networks": arguments.networks, "gaps": arguments.gaps,
                     "tools": arguments.tools, "budget_seconds": arguments.budget,
                     "repeat": arguments.repeat,
                     "peer_threads": arguments.threads or "tool default (all cores)",
                     "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                     "data_dir": str(root), "baseline": BASELINE,
                     "aequilibrae_min_free_flow_time": AEQ_MIN_FREE_FLOW_TIME},
        "targets": checks,
        "runs": [asdict(run) for run in runs],
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
