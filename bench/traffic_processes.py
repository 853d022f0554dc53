"""Whole-process traffic benchmark: ``ptn assign`` against pytraf and TAP-B, interleaved.

Why this exists: a user runs ``ptn assign`` as a process, so start-up (imports, loading numba's
compiled kernels), reading the TNTP files, solving and writing the flows all count; issue 16
asks for ``ptn assign`` no slower than pytraf with the same threads at gaps 1e-6 and 1e-8, and
within 2x of Algorithm B (TAP-B). ``bench/traffic_peers.py`` compares the solves alone.

For each network and gap, each repeat runs every tool once as a subprocess, in an order rotated
per repeat, so that the tools share the machine's load (the table reports the best and the
median of the repeats and the load average around each run):

* ``ptn``: ``python -m ptn assign --network DIR --gap G --threads N --out flows.csv --json``;
* ``pytraf``: ``python -m bench.pytraf_process`` (reads the TNTP files with pytraf's reader,
  ``pytraf.assign(..., threads=N)``, writes the flows), see that module;
* ``tapb``: TAP-B's binary, built from a checkout given with ``--tapb-source`` (bench/tapb.py),
  ``<NUMBER OF THREADS> N``.

Every tool's final link flows are judged by ONE independent relative gap, (TSTT - SPTT) / TSTT
with the BPR costs evaluated here in numpy and SPTT from scipy's Dijkstra (zone nodes that may
not be passed through are split into a source and a sink copy), the definition ptn and pytraf
use for their own stopping test. Peak memory is the child's maximum resident set size
(GNU time's ``%M``). Networks are TNTP directories (``--network DIR``, any number; the name is the
directory's), e.g. a grid from ``python -m bench.city_grid``.

Run: ``python -m bench.traffic_peers --whole-process --network DIR ... [--gaps 1e-6 1e-8]
[--threads N] [--repeat 3] [--tapb-source CHECKOUT] [--out PATH.md]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from bench import tapb
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.tntp import find_tntp_files, read_tntp_network

REPOSITORY = Path(__file__).resolve().parents[1]
TOOLS = ("ptn", "pytraf", "tapb")
TIMEOUT_SECONDS = 1800.0
TIME_BINARY = "/usr/bin/time"  # GNU time, for the peak resident memory of each run


@dataclass
class ProcessRun:
    """One whole-process run of one tool."""

    network: str
    tool: str
    gap: float
    repeat: int
    seconds: float
    peak_mb: float
    exit_code: int
    load_before: float
    own_gap: float | None = None
    iterations: int | None = None
    independent_gap: float | None = None
    note: str = ""


def independent_gap(network: RoadNetwork, flow: np.ndarray) -> float:
    """(TSTT - SPTT) / TSTT at ``flow``: BPR in numpy, SPTT by scipy's Dijkstra.

    No-through nodes (zones below ``<FIRST THRU NODE>``) get a sink copy that receives their
    incoming links, so no path passes through them; parallel links keep the cheapest.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(network.capacity > 0, flow / network.capacity, 0.0)
    cost = network.free_flow_time * (1.0 + network.b * ratio ** network.power)
    cost = cost + network.toll_factor * network.toll + network.distance_factor * network.length
    n = network.num_nodes
    blocked = network.no_through_nodes()
    sink = np.arange(n)
    sink[blocked] = n + np.arange(int(blocked.sum()))
    heads = sink[network.link_head]
    order = np.lexsort((cost, heads, network.link_tail))
    tails, heads, arc_cost = network.link_tail[order], heads[order], cost[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = (tails[1:] != tails[:-1]) | (heads[1:] != heads[:-1])
    size = n + int(blocked.sum())
    graph = csr_matrix((np.maximum(arc_cost[first], 1e-300), (tails[first], heads[first])),
                       shape=(size, size))
    origins = np.unique(network.od_origin)
    dist = dijkstra(graph, directed=True, indices=origins)
    rows = np.searchsorted(origins, network.od_origin)
    sptt = float(network.od_demand @ dist[rows, sink[network.od_destination]])
    tstt = float(flow @ cost)
    return (tstt - sptt) / tstt


def run_child(command: list[str], env: dict[str, str],
              cwd: Path = REPOSITORY) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS in MB, exit code, stdout) of one child process, run in ``cwd``.

    The peak comes from GNU time's ``%M`` (the child's maximum resident set size): a Python
    parent's own ``wait4`` would count the forked copy of itself before ``exec``.
    """
    with tempfile.TemporaryDirectory() as folder:
        peak_file = Path(folder) / "peak"
        wrapped = [TIME_BINARY, "-f", "%M", "-o", str(peak_file), *command]
        started = time.perf_counter()
        done = subprocess.run(wrapped, capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=TIMEOUT_SECONDS, check=False)
        seconds = time.perf_counter() - started
        lines = peak_file.read_text().split() if peak_file.exists() else []
        peak_kb = float(lines[-1]) if lines and lines[-1].isdigit() else float("nan")
    text = done.stdout + ("" if done.returncode == 0 else "\n" + done.stderr[-2000:])
    return seconds, peak_kb / 1024.0, done.returncode, text


@dataclass
class Network:
    """A benchmark network: ptn's reading of it, and the files each tool is given."""

    name: str
    directory: Path
    road: RoadNetwork
    net_file: Path
    trips_file: Path
    extra_cost: Path | None
    tapb_net: Path


def prepare_network(directory: Path, work: Path) -> Network:
    """Read once with ptn; write pytraf's extra cost and TAP-B's copy of the files."""
    road = read_tntp_network(directory)
    files = find_tntp_files(directory)
    extra = road.toll_factor * road.toll + road.distance_factor * road.length
    extra_path = None
    if np.any(extra != 0):
        extra_path = work / f"{directory.name}_extra_cost.npy"
        np.save(extra_path, extra.astype(np.float64))
    folder = work / f"tapb-{directory.name}"
    folder.mkdir(exist_ok=True)
    tapb_net = tapb.net_file_with_factors(files["net"], folder / files["net"].name, road)
    trips_link = folder / files["trips"].name
    if not trips_link.exists():
        trips_link.symlink_to(files["trips"].resolve())
    return Network(directory.name, directory, road, files["net"], files["trips"], extra_path,
                   tapb_net)


def run_tool(tool: str, network: Network, gap: float, threads: int, work: Path,
             tapb_binary: Path | None) -> tuple[float, float, int, float | None, int | None,
                                                np.ndarray | None, str]:
    """Run one tool once: (seconds, peak MB, exit code, own gap, iterations, flows, note)."""
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    if tool == "ptn":
        flows_file = work / "ptn_flows.csv"
        command = [sys.executable, "-m", "ptn", "assign", "--network", str(network.directory),
                   "--gap", repr(gap), "--threads", str(threads), "--max-iter", "100000",
                   "--json", "--out", str(flows_file)]
        seconds, peak, code, text = run_child(command, env)
        if code != 0 and code != 1:
            return seconds, peak, code, None, None, None, text.strip()[-300:]
        summary = json.loads(text)
        flow = np.genfromtxt(flows_file, delimiter=",", names=True)["flow"]
        return (seconds, peak, code, summary["relative_gap"], summary["iterations"], flow,
                summary["status"])
    if tool == "pytraf":
        flows_file = work / "pytraf_flows.npy"
        command = [sys.executable, "-m", "bench.pytraf_process", str(network.net_file),
                   str(network.trips_file), "--gap", repr(gap), "--threads", str(threads),
                   "--out", str(flows_file)]
        if network.extra_cost is not None:
            command += ["--extra-cost", str(network.extra_cost)]
        seconds, peak, code, text = run_child(command, env)
        if code != 0:
            return seconds, peak, code, None, None, None, text.strip()[-300:]
        summary = json.loads(text.strip().splitlines()[-1])
        return (seconds, peak, code, summary["relative_gap"], summary["iterations"],
                np.load(flows_file), "converged" if summary["converged"] else "not converged")
    assert tapb_binary is not None
    trips = network.tapb_net.parent / network.trips_file.name
    parameters, flows_file = tapb.write_parameters(work, network.tapb_net, trips, gap, threads,
                                                   TIMEOUT_SECONDS)
    # TAP-B writes full_log.txt into its working directory: the work folder, not the checkout
    seconds, peak, code, text = run_child([str(tapb_binary), str(parameters)], env, cwd=work)
    gaps = [line for line in text.splitlines() if line.startswith("Iteration")]
    if code != 0 or not gaps:
        return seconds, peak, code, None, None, None, text.strip()[-300:]
    last = gaps[-1].split()
    return (seconds, peak, code, float(last[3].rstrip(",")), int(last[1].rstrip(":")),
            tapb.read_flows(flows_file, network.road), "(TSTT-SPTT)/SPTT")


def benchmark(networks: Sequence[Network], gaps: Sequence[float], tools: Sequence[str],
              threads: int, repeat: int, work: Path, tapb_binary: Path | None) -> list[ProcessRun]:
    """Every (network, gap, repeat, tool), tools in an order rotated per repeat."""
    runs: list[ProcessRun] = []
    for network in networks:
        for gap in gaps:
            for index in range(repeat):
                shift = index % len(tools)
                for tool in list(tools[shift:]) + list(tools[:shift]):
                    load = os.getloadavg()[0]
                    seconds, peak, code, own, iterations, flow, note = run_tool(
                        tool, network, gap, threads, work, tapb_binary)
                    run = ProcessRun(network.name, tool, gap, index, seconds, peak, code, load,
                                     own, iterations, None, note)
                    if flow is not None and np.all(np.isfinite(flow)):
                        run.independent_gap = independent_gap(network.road, flow)
                    runs.append(run)
                    print(f"{network.name} gap {gap:g} #{index} {tool:<6} {seconds:8.2f} s "
                          f"{peak:7.0f} MB exit {code} it {iterations} own {own} "
                          f"independent {run.independent_gap} load {load:.2f} {note}",
                          flush=True)
    return runs


def summary_table(runs: Sequence[ProcessRun], tools: Sequence[str]) -> str:
    """Median and best seconds per tool, ratios to ptn (of medians), memory and gaps."""
    lines = ["| network | gap | tool | median s | best s | tool / ptn (median) | peak MB "
             "| iterations | own gap | independent gap (worst) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    keys = sorted({(r.network, r.gap) for r in runs}, key=lambda k: (k[0], -k[1]))
    for network, gap in keys:
        chosen = {tool: [r for r in runs if (r.network, r.gap, r.tool) == (network, gap, tool)]
                  for tool in tools}
        ptn_runs = chosen.get("ptn") or []
        ptn_median = statistics.median(r.seconds for r in ptn_runs) if ptn_runs else None
        for tool, these in chosen.items():
            if not these:
                continue
            median = statistics.median(r.seconds for r in these)
            ratio = f"{median / ptn_median:.2f}" if ptn_median else "–"
            gaps = [r.independent_gap for r in these if r.independent_gap is not None]
            worst = f"{max(gaps):.2e}" if len(gaps) == len(these) else "failed"
            last = these[-1]
            lines.append(
                f"| {network} | {gap:g} | {tool} | {median:.2f} | "
                f"{min(r.seconds for r in these):.2f} | {ratio} | "
                f"{max(r.peak_mb for r in these):.0f} | {last.iterations} | "
                f"{format(last.own_gap, '.2e') if last.own_gap is not None else '–'} | {worst} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.traffic_peers --whole-process")
    parser.add_argument("--network", type=Path, nargs="+", required=True,
                        help="TNTP network directories")
    parser.add_argument("--gaps", type=float, nargs="+", default=[1e-6, 1e-8])
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tapb-source", type=Path, default=None,
                        help="a checkout of https://github.com/spartalab/tap-b (else no TAP-B)")
    parser.add_argument("--out", type=Path,
                        default=REPOSITORY / "bench" / "results" / "traffic_processes.md")
    arguments = parser.parse_args(argv)
    tools = [t for t in arguments.tools if t != "tapb" or arguments.tapb_source is not None]
    command = "python -m bench.traffic_peers --whole-process " + shlex.join(
        sys.argv[1:] if argv is None else list(argv))
    with tempfile.TemporaryDirectory(prefix="ptn-bench-") as folder:
        work = Path(folder)
        binary = tapb.build_tapb(arguments.tapb_source, work) if "tapb" in tools else None
        networks = [prepare_network(directory, work) for directory in arguments.network]
        started = time.perf_counter()
        load_before = os.getloadavg()
        runs = benchmark(networks, arguments.gaps, tools, arguments.threads, arguments.repeat,
                         work, binary)
        total = time.perf_counter() - started
    table = summary_table(runs, tools)
    uptime = (f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; "
              f"{os.cpu_count()} cores; {total:.0f} s")
    print("\n" + table + "\n" + uptime)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(f"Command: `{command}`\n\n{uptime}\n\n{table}\n", encoding="utf-8")
    arguments.out.with_suffix(".json").write_text(json.dumps(
        {"command": command, "threads": arguments.threads, "load_before": load_before,
         "load_after": os.getloadavg(), "networks": {n.name: str(n.directory) for n in networks},
         "runs": [asdict(run) for run in runs]}, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {arguments.out} and {arguments.out.with_suffix('.json')}")
    return 0
