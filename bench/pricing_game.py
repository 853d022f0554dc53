"""Seed 001's pricing game: the whole game over gRPC, and AEM against exact best responses.

Why this exists: issue 5's benchmark. The paper (Lu et al. 2024, §4.2–4.3) reports 13 min 24 s
of MATLAB for Algorithm 1 on its case, and compares its elasticity-matrix approximation (AEM)
with a genetic algorithm (AEM: ~10 % of the time, within 0.1 % of the GA's best revenue). Here:

* **the game end to end over gRPC**, each operator its own OS process (``ptn serve``), the
  coordinator in this process: operator start-up, the non-cooperative negotiation alone (what
  the paper timed), and the whole experiment (both variants, the ε-Nash certificates, the
  revenue matrix); target: under 30 s;
* **one CNO's best response** on the seed case (the paper's Table 2 set-up: CNO 2's prices
  fixed, CNO 1 optimizes from the same start; the DSO's prices fixed at its non-cooperative
  outcome), in this process against the traffic model: AEM (one step, as in a round of
  Algorithm 1; iterated to convergence; per-period and full elasticities), the exact
  derivative-free search, and a differential-evolution search in the role of the paper's GA
  (200 generations). Time, revenue, equilibrium solves.

Run: ``python -m bench.pricing_game``; writes ``bench/results/pricing_game.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import operator_endpoints
from ptn.engines.games.cno_response import (
    BestResponse,
    CnoPricing,
    aem_best_response,
    exact_best_response,
    global_best_response,
    run_search,
)
from ptn.engines.traffic.multiperiod import build_multiperiod_problem
from ptn.scenario.document import load_scenario
from ptn.services.traffic.config import traffic_config_from_part

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"
SCENARIO = "pricing-seed001"
PAPER_SECONDS = 13 * 60 + 24


def game_over_grpc(directory: Path) -> dict[str, Any]:
    """The whole experiment with every operator its own process."""
    scenario = load_scenario(SCENARIO)
    started = time.perf_counter()
    with operator_endpoints(scenario, SCENARIO, "grpc", log_directory=directory / "logs") \
            as endpoints:
        ready = time.perf_counter() - started
        outcome = negotiate(scenario, endpoints, out=directory)
    nash = outcome.variants["nash"].outcome
    return {
        "status": str(outcome.status), "start_seconds": ready,
        "nash_rounds": len(nash.rounds), "nash_seconds": nash.seconds,
        "game_seconds": outcome.seconds,
        "cooperative_rounds": len(outcome.variants["cooperative"].outcome.rounds),
        "epsilon_usd": outcome.variants["nash"].epsilon_usd,
        "dso_price_per_mwh": outcome.variants["nash"].dso_price_per_mwh.tolist(),
        "charging_price_per_mwh": outcome.variants["nash"].charging_price_per_mwh.tolist(),
    }


def best_responses(game: dict[str, Any]) -> list[dict[str, Any]]:
    """CNO 1's best response by each method, against the traffic model in this process."""
    scenario = load_scenario(SCENARIO)
    problem = build_multiperiod_problem(traffic_config_from_part(scenario.part("traffic")).spec)
    stations = ("cs7", "cs9")
    rows = [scenario.public.stations.index(s) for s in stations]
    others = np.asarray(game["charging_price_per_mwh"])
    purchase = np.asarray(game["dso_price_per_mwh"])[rows]
    periods = scenario.public.periods
    pricing = CnoPricing(stations, np.full((2, periods), 150.0), np.full((2, periods), 250.0),
                         scenario.public.period_hours)
    start = np.full((2, periods), 200.0)
    state: dict[str, Any] = {"warm": None}

    def oracle(prices: list[np.ndarray]) -> list[np.ndarray]:
        answers = []
        for own in prices:
            full = others.copy()
            full[rows] = own
            result = problem.solve(full, warm_start=state["warm"])
            state["warm"] = result
            answers.append(result.station_load_mw.T[rows])
        return answers

    def timed(name: str, run: Any) -> dict[str, Any]:
        started = time.perf_counter()
        response: BestResponse = run()
        return {"method": name, "seconds": time.perf_counter() - started,
                "revenue_usd": response.revenue_usd,
                "start_revenue_usd": response.start_revenue_usd, "probes": response.probes,
                "batches": response.batches, "status": response.status}

    rows_out = [
        timed("AEM per-period, 1 step", lambda: run_search(
            aem_best_response(pricing, purchase, start), oracle)),
        timed("AEM per-period, iterated", lambda: run_search(
            aem_best_response(pricing, purchase, start, max_steps=30), oracle)),
        timed("AEM full, iterated", lambda: run_search(
            aem_best_response(pricing, purchase, start, elasticity="full", max_steps=30), oracle)),
        timed("exact (pattern search)", lambda: run_search(
            exact_best_response(pricing, purchase, start), oracle)),
        timed("differential evolution, 200 generations (GA role)", lambda: global_best_response(
            pricing, purchase, oracle, start_price_per_mwh=start, refine=False)),
    ]
    best = max(r["revenue_usd"] for r in rows_out)
    for row in rows_out:
        row["gap_to_best_percent"] = 100 * (best - row["revenue_usd"]) / best
    return rows_out


def write_report(game: dict[str, Any], responses: list[dict[str, Any]], command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pricing_game.json").write_text(json.dumps(
        {"game": game, "best_responses": responses}, indent=2), encoding="utf-8")
    lines = [
        f"Command: `{command}`", "",
        "| gRPC, each operator its own process | value |", "|---|---:|",
        f"| operator start-up | {game['start_seconds']:.1f} s |",
        f"| non-cooperative negotiation (Algorithm 1) | {game['nash_rounds']} rounds, "
        f"{game['nash_seconds']:.1f} s |",
        f"| whole game (both variants, certificates, revenue matrix) | "
        f"{game['game_seconds']:.1f} s |",
        f"| paper (MATLAB, Algorithm 1) | {PAPER_SECONDS} s |",
        f"| paper / ptn (Algorithm 1) | {PAPER_SECONDS / game['nash_seconds']:.0f}× |",
        "", "| CNO 1 best response | seconds | revenue $ | below best | solves | batches |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['method']} | {r['seconds']:.2f} | {r['revenue_usd']:,.2f} | "
              f"{r['gap_to_best_percent']:.3f} % | {r['probes']} | {r['batches']} |"
              for r in responses]
    (RESULTS / "pricing_game.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        game = game_over_grpc(Path(directory))
    write_report(game, best_responses(game), "python -m bench.pricing_game")


if __name__ == "__main__":
    main()
