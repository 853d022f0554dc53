"""The DSO's models at city scale: peak memory and seconds against feeders, periods and stations.

Why this exists: issue 18 measured the DSO's pricing model (seed 001's fitted-response OPF,
:class:`ptn.engines.power.pricing.DsoPricingProblem`) at 6.5 GB to build with 20 stations × 20
feeders and out of memory at 40 × 20, and the fixed-load OPF at 10.5 GB with 20 feeders × 24
periods: cvxpy's canonicalization of a parametrized (DPP) problem holds a work array of
(variables + 1) × (parameter entries + 1) entries, and both grow with the feeders (the response's
station × station Parameters make the second grow with stations² as well). This measures each
DSO model at a grid of sizes, each case in its own process (peak resident set from ``wait4``),
stopped when its resident set passes ``--memory-limit-gb``.

Cases: ``F`` copies of IEEE 33-bus (``case33bw``, 3.7 MW each) as one DSO's feeders, ``T``
periods of one hour (a load shape from 0.5 to 0.8), ``S`` charging stations dealt round-robin
over the feeders at buses 6, 12, 18, 24, 29, 9, 15, 21, 27, 32 (then again), each with a
fitted response of own slope −0.004 MW per $/MWh and cross-slopes −0.0001 to its feeder's
neighbours (negative definite), intercepts sized so that charging adds about 0.6 MW per
feeder at 120 $/MWh. Models:

* ``pricing``: build the pricing problem, solve it once (seed 001's limits, ϖ = 0.2);
* ``fixed``: the DSO's fixed-load dispatch (``DsoModel.dispatch_fixed``'s OPF), build and
  solve at the response's loads;
* ``priced``: the ADMM local step (``charging="priced"`` with coupling terms), build and solve.

``--impl feederwise-threads`` runs the fixed and priced models with two feeders solved at once
on threads (``FeederwiseOpf(workers=2)``; ``solve_cpu_s`` against ``solve_s`` shows the overlap).

``--impl current`` is the model as the DSO used it before issue 18 (one cvxpy problem over all
feeders, the response as Parameters), ``--impl feederwise`` the per-feeder models
(:mod:`ptn.engines.power.feeder_pricing`, :mod:`ptn.engines.power.feeder_blocks`).

Run: ``nice -n 5 python -m bench.dso_scaling [--models pricing fixed] [--impl current
feederwise] [--feeders 5 10 20 40] [--periods 4 24] [--stations 20 40 100]``; writes
``bench/results/dso_scaling.{md,json}`` (``--out`` changes the stem).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"
STATION_BUSES = (6, 12, 18, 24, 29, 9, 15, 21, 27, 32)
OWN_SLOPE = -0.004
CROSS_SLOPE = -0.0001
CHARGING_PER_FEEDER_MW = 0.6
REFERENCE_PRICE = 120.0
#: ``--impl feederwise-threads``: the fixed and priced models with this many feeder threads
THREADED = "feederwise-threads"
THREADS = 2


def dso_case(feeders: int, periods: int, stations: int) -> Any:
    """``feeders`` copies of case33bw with ``stations`` charging points (see the module doc)."""
    from ptn.engines.power.builtin_feeders import load_feeder
    from ptn.engines.power.der import ChargingPoint, DsoCase

    base = load_feeder("case33bw")
    copies = tuple(dataclasses.replace(base, name=f"f{k}") for k in range(feeders))
    points = []
    for s in range(stations):
        feeder, slot = s % feeders, s // feeders
        points.append(ChargingPoint(f"cs{s}", STATION_BUSES[slot % len(STATION_BUSES)],
                                    f"f{feeder}"))
    return DsoCase(feeders=copies, periods=periods, period_hours=1.0,
                   load_profile=np.linspace(0.5, 0.8, periods),
                   charging_points=tuple(points),
                   upstream_price_per_mwh=np.linspace(30.0, 60.0, periods))


def response(case: Any) -> Any:
    """A negative definite response: own slopes and cross-slopes among a feeder's stations."""
    from ptn.engines.power.pricing import ResponseFit

    points = case.charging_points
    S, T = len(points), case.periods
    same = np.array([[a.feeder == b.feeder for b in points] for a in points], dtype=float)
    slope = CROSS_SLOPE * same + (OWN_SLOPE - CROSS_SLOPE) * np.eye(S)
    per_feeder = np.array([same[s].sum() for s in range(S)])
    at_reference = CHARGING_PER_FEEDER_MW / per_feeder
    intercept = at_reference - slope @ np.full(S, REFERENCE_PRICE)
    return ResponseFit(slope=np.repeat(slope[None], T, axis=0),
                       intercept_mw=np.repeat(intercept[None], T, axis=0),
                       status="optimal", rms_residual_mw=0.0, points=5)


def run_one(model: str, impl: str, feeders: int, periods: int, stations: int) -> dict[str, Any]:
    """One model at one size in this process: build, solve; seconds and the answer's digest."""
    import warnings

    from ptn.engines.coupling import CouplingTerms
    from ptn.engines.power.distflow import DistFlowOpf
    from ptn.engines.power.pricing import DsoPricingProblem

    warnings.simplefilter("ignore")
    case = dso_case(feeders, periods, stations)
    fit = response(case)
    previous = np.full((stations, periods), 110.0)
    out: dict[str, Any] = {}
    started = time.perf_counter()
    if model == "pricing":
        if impl == "current":
            problem: Any = DsoPricingProblem(case)
        else:
            from ptn.engines.power.feeder_pricing import FeederwisePricingProblem

            problem = FeederwisePricingProblem(case)
        out["build_s"] = time.perf_counter() - started
        started = time.perf_counter()
        result = problem.solve(fit, previous)
        out["solve_s"] = time.perf_counter() - started
        out["status"] = result.status
        out["objective"] = result.predicted_revenue_usd
        out["mean_price"] = float(np.mean(result.price_per_mwh))
        return out
    load = fit.predict_mw(np.full((stations, periods), REFERENCE_PRICE))
    workers = THREADS if impl == THREADED else 1
    if model == "fixed":
        if impl == "current":
            opf: Any = DistFlowOpf(case)
        else:
            from ptn.engines.power.feeder_blocks import FeederwiseOpf

            opf = FeederwiseOpf(case, workers=workers)
        out["build_s"] = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        opf.set_charging_load(load)
        dispatch = opf.solve()
    else:
        names = tuple(c.name for c in case.charging_points)
        coupling = CouplingTerms.supplier(np.full((stations, periods), REFERENCE_PRICE), 1.0,
                                          load, 1.0, names)
        if impl == "current":
            opf = DistFlowOpf(case, charging="priced")
        else:
            from ptn.engines.power.feeder_blocks import FeederwiseOpf

            opf = FeederwiseOpf(case, charging="priced", workers=workers)
        out["build_s"] = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        dispatch = opf.solve_coupled(coupling)
    out["solve_s"] = time.perf_counter() - started
    out["solve_cpu_s"] = time.process_time() - cpu_started
    out["status"] = str(dispatch.status)
    out["objective"] = dispatch.objective
    return out


def measure(model: str, impl: str, feeders: int, periods: int, stations: int,
            limit_bytes: int, timeout_s: float) -> dict[str, Any]:
    """:func:`run_one` in a child process, its peak RSS from ``wait4``, stopped past the limit."""
    command = [sys.executable, "-m", "bench.dso_scaling", "--one", model, impl, str(feeders),
               str(periods), str(stations)]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, text=True)
    stopped: list[str] = []

    def watch() -> None:
        status = Path(f"/proc/{child.pid}/status")
        while child.poll() is None:
            try:
                rss_kb = next(int(line.split()[1]) for line in status.read_text().splitlines()
                              if line.startswith("VmRSS:"))
            except (OSError, StopIteration, ValueError):
                return
            if rss_kb * 1024 > limit_bytes:
                stopped.append(f"stopped at {rss_kb / 1024**2:.1f} GB resident")
                child.send_signal(signal.SIGKILL)
                return
            if time.perf_counter() - started > timeout_s:
                stopped.append(f"stopped after {timeout_s:.0f} s")
                child.send_signal(signal.SIGKILL)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert child.stdout is not None
    output = child.stdout.read()
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    watcher.join()
    row: dict[str, Any] = {"model": model, "impl": impl, "feeders": feeders, "periods": periods,
                           "stations": stations, "peak_rss_mb": usage.ru_maxrss / 1024.0,
                           "wall_s": time.perf_counter() - started}
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if stopped or not lines:
        row["status"] = stopped[0] if stopped else "crashed"
    else:
        row.update(json.loads(lines[-1]))
    return row


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    head = ("| model | impl | feeders | periods | stations | peak RSS (MB) | build (s) | "
            "solve (s) | solve CPU (s) | status | objective |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['model']} | {r['impl']} | {r['feeders']} | {r['periods']} | {r['stations']} | "
        f"{r['peak_rss_mb']:.0f} | {r.get('build_s', float('nan')):.2f} | "
        f"{r.get('solve_s', float('nan')):.2f} | {r.get('solve_cpu_s', float('nan')):.2f} | "
        f"{r['status']} | {r.get('objective', float('nan')):.6g} |\n" for r in rows)
    notes = (
        "Each row is one process: build the model, solve it once (see bench/dso_scaling.py). "
        "`current`: one cvxpy problem over all feeders (pricing: the response as station × "
        "station Parameters, `DsoPricingProblem`; fixed/priced: `DistFlowOpf`); `feederwise`: "
        "one cvxpy problem per feeder (pricing: their solver data stacked with the response "
        "as numbers, `FeederwisePricingProblem`; fixed/priced: `FeederwiseOpf`). Peak RSS from "
        "`wait4` includes ~345 MB of imports; a run past the memory limit is stopped, and "
        "larger sizes in every dimension are then not run. Seconds are wall time on a 2-core "
        "machine shared with other jobs (load average 8-15 during the run): compare them "
        "within a run only. `objective`: the pricing problem's predicted profit on charging "
        "($) or the OPF's objective ($); both implementations agree where both ran.\n\n")
    return f"# DSO scaling\n\n`{command}`\n\n{notes}{head}{body}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="+", default=["pricing", "fixed"])
    parser.add_argument("--impl", nargs="+", default=["current", "feederwise"])
    parser.add_argument("--feeders", nargs="+", type=int, default=[5, 10, 20, 40])
    parser.add_argument("--periods", nargs="+", type=int, default=[4, 24])
    parser.add_argument("--stations", nargs="+", type=int, default=[20, 40, 100])
    parser.add_argument("--memory-limit-gb", type=float, default=5.5)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--out", default="dso_scaling")
    args = parser.parse_args(argv)
    if args.one:
        model, impl, feeders, periods, stations = args.one
        print(json.dumps(run_one(model, impl, int(feeders), int(periods), int(stations))),
              flush=True)
        return
    rows = []
    limit = int(args.memory_limit_gb * 1024**3)
    for model in args.models:
        for impl in args.impl:
            stopped: list[tuple[int, int, int]] = []
            for feeders in args.feeders:
                for periods in args.periods:
                    for stations in (args.stations if model == "pricing" else args.stations[:1]):
                        size = (feeders, periods, stations)
                        beyond = next((s for s in stopped
                                       if all(a >= b for a, b in zip(size, s, strict=True))),
                                      None)
                        if beyond is not None:
                            # memory and time only grow with each size: not worth a run
                            row = {"model": model, "impl": impl, "feeders": feeders,
                                   "periods": periods, "stations": stations,
                                   "peak_rss_mb": float("nan"),
                                   "status": "not run: {} × {} × {} was stopped".format(*beyond)}
                        else:
                            row = measure(model, impl, feeders, periods, stations, limit,
                                          args.timeout_s)
                            if str(row["status"]).startswith(("stopped", "crashed")):
                                stopped.append(size)
                        print(json.dumps(row), flush=True)
                        rows.append(row)
    command = "python -m bench.dso_scaling " + " ".join(argv if argv is not None
                                                        else sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / f"{args.out}.md").write_text(markdown(rows, command))


if __name__ == "__main__":
    main()
