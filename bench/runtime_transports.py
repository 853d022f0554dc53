"""Negotiation runtime speed: rounds and seconds to converge, and each transport's overhead.

Why this exists: issue 4's targets — the default ``ptn run`` converges in <= 60 rounds and
<= 20 s here, and gRPC adds <= 5 ms per round over the same mechanism. The same ADMM
negotiation of the default scenario runs on every backend; the transcript gives, per call, the
coordinator's round-trip time and the operator's own time for the request (the reply header's
``solve_seconds``), and their difference is what the transport costs (serialization, the
operator host, the wire). Also timed: the whole default ``ptn run`` command (Ray start-up,
operators, negotiation, centralized reference, results folder), as a user sees it.

Run: ``python -m bench.runtime_transports [--repeats 3]``; writes
``bench/results/runtime_transports.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import operator_endpoints
from ptn.scenario.document import DEFAULT_SCENARIO, load_scenario

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"
BACKENDS = ("inproc", "ray", "grpc")


def overhead_per_round(transcript: Path) -> tuple[float, float]:
    """(mean, median) over rounds >= 1 of Σ_calls (round trip − operator time), seconds."""
    per_round: dict[int, float] = defaultdict(float)
    for line in transcript.open():
        entry = json.loads(line)
        if entry["direction"] != "reply" or entry["round"] < 1:
            continue
        solve = float(entry["message"]["header"].get("solve_seconds", 0.0))
        per_round[entry["round"]] += entry["round_trip_seconds"] - solve
    values = list(per_round.values())
    return statistics.mean(values), statistics.median(values)


def one_run(backend: str, directory: Path) -> dict[str, Any]:
    scenario = load_scenario(DEFAULT_SCENARIO)
    started = time.perf_counter()
    with operator_endpoints(scenario, DEFAULT_SCENARIO, backend) as endpoints:
        ready = time.perf_counter() - started
        outcome = negotiate(scenario, endpoints, out=directory)
    mean, median = overhead_per_round(directory / "transcript.jsonl")
    rounds = [r.seconds for r in outcome.rounds]
    return {"status": str(outcome.status), "rounds": len(outcome.rounds),
            "start_seconds": ready, "negotiation_seconds": outcome.seconds,
            "round_ms_mean": 1000 * statistics.mean(rounds),
            "overhead_ms_per_round_mean": 1000 * mean,
            "overhead_ms_per_round_median": 1000 * median,
            "agreed_total": outcome.agreed.total if outcome.agreed else float("nan")}


def cli_run(directory: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ptn", "run", "--out", str(directory)],
                   check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    results: dict[str, Any] = {"repeats": arguments.repeats, "backends": {}}
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        for backend in BACKENDS:
            runs = [one_run(backend, root / f"{backend}-{k}") for k in range(arguments.repeats)]
            results["backends"][backend] = runs
        results["ptn_run_seconds"] = [cli_run(root / f"cli-{k}")
                                      for k in range(arguments.repeats)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "runtime_transports.json").write_text(json.dumps(results, indent=2))
    lines = ["| backend | rounds | start-up s | negotiation s | ms per round | transport "
             "overhead ms per round (median of runs' medians) |", "|---|---|---|---|---|---|"]
    for backend, runs in results["backends"].items():
        def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(run[key] for run in runs)
        lines.append(f"| {backend} | {runs[0]['rounds']} | {median('start_seconds'):.2f} | "
                     f"{median('negotiation_seconds'):.2f} | {median('round_ms_mean'):.1f} | "
                     f"{median('overhead_ms_per_round_median'):.2f} |")
    cli = statistics.median(results["ptn_run_seconds"])
    lines.append("")
    lines.append(f"Default `ptn run` (local Ray, with the centralized reference and the results "
                 f"folder), wall clock: {cli:.1f} s (median of {arguments.repeats}).")
    (RESULTS / "runtime_transports.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
