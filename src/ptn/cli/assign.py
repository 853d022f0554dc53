"""``ptn assign``: load a network, solve its equilibrium, write link flows and a summary.

Kept apart from the CLI parser so it can be called (and tested) as a function. The flows file
has one row per link: tail, head, flow (veh/h), travel time and generalized cost (network time
units), free-flow time, capacity and volume/capacity ratio.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.assignment import canonical_algorithm, solve_user_equilibrium
from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.problem import problem_from_network
from ptn.lab.run_folder import check_writable

FLOW_FORMATS = (".csv", ".parquet")
#: a plain progress line at least this often (seconds) while the gap closes slowly
PLAIN_EVERY_S = 30.0
SUE_METHODS = ("newton", "line-search", "msa")


def run_assignment(
    *,
    network: str,
    algorithm: str | None = None,
    gap: float = 1e-8,
    max_iterations: int = 1000,
    sue_theta: float | None = None,
    out: Path | None = None,
    toll_factor: float | None = None,
    distance_factor: float | None = None,
    threads: int | None = None,
    show_progress: bool | str = False,
    force: bool = False,
) -> dict[str, Any]:
    """Solve and (optionally) write flows; return the JSON summary.

    ``threads`` (default: all cores) is how many threads the shortest-path passes use.
    ``show_progress``: ``"live"`` (or True) a bar on the terminal's stderr, ``"plain"`` a
    timestamped line on stderr per order of magnitude of the gap closed (and at least every
    30 s), False none.
    ``out`` is checked before the solve: a .csv or .parquet file in a folder that can be
    written, not an existing file unless ``force``; it is written whole or not at all (a
    temporary file renamed into place).
    """
    if out is not None:
        check_flows_file(out, force)
    if not (gap > 0 and math.isfinite(gap)):
        raise InvalidInputError(f"--gap must be a positive number, got {gap}")
    if max_iterations < 1:
        raise InvalidInputError(f"--max-iter must be at least 1, got {max_iterations}")
    if sue_theta is None:
        algorithm = algorithm or "gradient-projection"
        canonical_algorithm(algorithm)
    elif algorithm is None:
        algorithm = "newton"
    elif algorithm not in SUE_METHODS:
        raise InvalidInputError(f"--algorithm {algorithm}: a stochastic UE (--sue-theta) is "
                                f"solved by {', '.join(SUE_METHODS[:-1])} or {SUE_METHODS[-1]}"
                                f"; {algorithm} solves the deterministic UE")
    threads_used = use_threads(threads)
    road = load_network(network, toll_factor=toll_factor, distance_factor=distance_factor)
    problem = problem_from_network(road)
    with _progress(show_progress, max_iterations, gap) as report:
        if sue_theta is not None:
            from ptn.engines.traffic.sue import solve_stochastic_equilibrium

            sue = solve_stochastic_equilibrium(
                problem, theta=sue_theta, method=algorithm, tolerance=gap,
                max_iterations=max_iterations, progress=report,
            )
            flow, summary = sue.link_flow, sue.summary()
        else:
            result = solve_user_equilibrium(
                problem, algorithm=algorithm, gap=gap, max_iterations=max_iterations,
                progress=report,
            )
            flow, summary = result.link_flow, result.summary()
    summary = {"network": road.name, **summary, "threads": threads_used, "links": road.num_links,
               "od_pairs": int(road.od_demand.size), "demand": road.total_demand}
    if out is not None:
        write_link_flows(out, road, flow, problem.links.times(flow), problem.links.costs(flow))
        summary["flows_file"] = str(out)
    return summary


def check_flows_file(out: Path, force: bool) -> None:
    """Refuse, naming it, a flows file that cannot be written or would be overwritten."""
    if out.suffix.lower() not in FLOW_FORMATS:
        raise InvalidInputError(f"--out {out}: use a .csv or .parquet file name")
    if out.is_dir():
        raise InvalidInputError(f"--out {out}: is a directory (the flows go to one .csv or "
                                ".parquet file)")
    if out.exists() and not force:
        raise InvalidInputError(f"--out {out}: the file exists; choose another --out or pass "
                                "--force to replace it")
    check_writable(out.parent if str(out.parent) else Path("."), "--out folder")


def use_threads(threads: int | None) -> int:
    """Run numba's parallel kernels on ``threads`` threads (None: all cores); return the count.

    Idle OpenMP threads are told to sleep, not spin (``OMP_WAIT_POLICY=PASSIVE`` unless the
    environment says otherwise): between two parallel passes the solver runs sequential sweeps,
    and spinning workers would take a core from them whenever cores are shared.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numba

    available = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    if threads is None:
        threads = available
    if not 1 <= threads <= available:
        raise InvalidInputError(f"--threads {threads}: choose from 1 to {available} (this "
                                "machine's cores, or NUMBA_NUM_THREADS)")
    numba.set_num_threads(threads)
    return threads


def link_flow_table(
    network: RoadNetwork, flow: np.ndarray, time: np.ndarray, cost: np.ndarray
) -> dict[str, np.ndarray]:
    """Columns of the flows file, one entry per link."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(network.capacity > 0, flow / network.capacity, np.nan)
    return {
        "tail": network.node_ids[network.link_tail],
        "head": network.node_ids[network.link_head],
        "flow": flow,
        "time": time,
        "cost": cost,
        "free_flow_time": network.free_flow_time,
        "capacity": network.capacity,
        "volume_capacity_ratio": ratio,
    }


def write_link_flows(
    path: Path, network: RoadNetwork, flow: np.ndarray, time: np.ndarray, cost: np.ndarray
) -> None:
    """Write the flows table as CSV or Parquet, chosen by the file extension."""
    columns = link_flow_table(network, flow, time, cost)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table(columns), partial)
        else:
            names = list(columns)
            with partial.open("w", encoding="utf-8") as handle:
                handle.write(",".join(names) + "\n")
                for row in zip(*(columns[name] for name in names), strict=True):
                    handle.write(",".join(_csv_value(value) for value in row) + "\n")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _csv_value(value: Any) -> str:
    if isinstance(value, np.integer):
        return str(int(value))
    return repr(float(value))


@contextmanager
def _progress(
    mode: bool | str, max_iterations: int, target_gap: float
) -> Iterator[Callable[[int, float], None] | None]:
    """A rich progress bar (``live``) or plain timestamped lines (``plain``) fed by the
    solver's (iteration, gap) callback; nothing when ``mode`` is false."""
    if not mode:
        yield None
        return
    # progress measured as orders of magnitude of gap closed, from 1 to the target
    goal = max(-math.log10(target_gap), 1.0)

    def closed(gap: float) -> float:
        return min(max(-math.log10(max(gap, 1e-300)), 0.0), goal)

    if mode == "plain":
        from ptn.lab.progress_log import ProgressLog

        log = ProgressLog(live=False)
        last = {"order": -1.0, "time": time.monotonic()}

        def line(iteration: int, gap: float) -> None:
            order = math.floor(closed(gap))
            if order > last["order"] or time.monotonic() - last["time"] >= PLAIN_EVERY_S:
                last.update(order=order, time=time.monotonic())
                log.print(f"assignment: iteration {iteration}/{max_iterations} gap {gap:.2e}")

        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]assignment"), BarColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), transient=True, console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("", total=goal)

        def report(iteration: int, gap: float) -> None:
            bar.update(task, completed=closed(gap),
                       description=f"iteration {iteration}/{max_iterations} gap {gap:.2e}")

        yield report
