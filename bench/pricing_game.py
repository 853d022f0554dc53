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
  (200 generations). Time, revenue, equilibrium solves;
* **the multi-CNO equilibrium** (the paper's Table 3: the DSO sells at its LMPs, here the
  DLMPs of its dispatch at the game's starting loads; CNO 1 and CNO 2 best-respond in turn
  until their prices change by less than 0.5 %), with AEM best responses against best
  responses by differential evolution (the GA's role; 40 generations of 30, refined by the
  compass search). Each CNO's revenue and mean price at the two equilibria, their deviation,
  time and equilibrium solves (the paper: AEM within 0.5 % of the GA, 15 % of its time).

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
    cno_revenue_usd,
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


def multi_cno_equilibria(max_rounds: int = 10, tolerance: float = 0.005) -> dict[str, Any]:
    """The paper's Table 3 set-up: both CNOs best-respond in turn at the DSO's DLMPs, by AEM
    and by differential evolution; the two equilibria side by side."""
    from ptn.services.dso.model import DsoModel

    scenario = load_scenario(SCENARIO)
    problem = build_multiperiod_problem(traffic_config_from_part(scenario.part("traffic")).spec)
    stations = scenario.public.stations
    periods, hours = scenario.public.periods, scenario.public.period_hours
    start = np.full((len(stations), periods), 200.0)
    dispatch = DsoModel.from_part(scenario.part("dso")).dispatch_fixed(
        problem.solve(start).station_load_mw.T)
    dlmp = np.stack([dispatch.charging_dlmp_per_mwh[s] for s in stations])
    cnos = {"cno1": ("cs7", "cs9"), "cno2": ("cs10", "cs12")}
    rows = {cno: [stations.index(s) for s in members] for cno, members in cnos.items()}
    methods: dict[str, Any] = {
        "AEM (per-period, iterated)": lambda pricing, purchase, own, oracle: run_search(
            aem_best_response(pricing, purchase, own, max_steps=30), oracle),
        "differential evolution (GA role)": lambda pricing, purchase, own, oracle:
            global_best_response(pricing, purchase, oracle, start_price_per_mwh=own,
                                 max_generations=40, population=30),
    }
    results: dict[str, Any] = {"dlmp_per_mwh": dlmp.tolist()}
    for name, method in methods.items():
        prices = start.copy()
        solves = 0
        started = time.perf_counter()
        rounds_played = 0
        for rounds_played in range(1, max_rounds + 1):  # noqa: B007 - reported below
            before = prices.copy()
            for cno, members in cnos.items():
                own_rows = rows[cno]

                def oracle(batch: list[np.ndarray], own_rows: list[int] = own_rows,
                           others: np.ndarray = prices) -> list[np.ndarray]:
                    answers = []
                    for own in batch:
                        full = others.copy()
                        full[own_rows] = own
                        answers.append(problem.solve(full).station_load_mw.T[own_rows])
                    return answers

                pricing = CnoPricing(members, np.full((2, periods), 150.0),
                                     np.full((2, periods), 250.0), hours)
                response = method(pricing, dlmp[own_rows], prices[own_rows], oracle)
                solves += response.probes
                prices[own_rows] = response.price_per_mwh
            change = float(np.linalg.norm(prices - before) / np.linalg.norm(before))
            if change < tolerance:
                break
        seconds = time.perf_counter() - started
        load = problem.solve(prices).station_load_mw.T
        results[name] = {
            "rounds": rounds_played, "last_change": change, "seconds": seconds, "solves": solves,
            "prices": prices.tolist(),
            "revenue_usd": {cno: cno_revenue_usd(prices[r], dlmp[r], load[r], hours)
                            for cno, r in rows.items()},
            "mean_price_per_mwh": {cno: float(prices[r].mean()) for cno, r in rows.items()},
        }
    return results


def table3_lines(table3: dict[str, Any]) -> list[str]:
    """Table 3 as Markdown: each CNO's revenue and mean price at the AEM and the DE equilibria."""
    aem, de = table3["AEM (per-period, iterated)"], table3["differential evolution (GA role)"]
    lines = ["| multi-CNO equilibrium at the DLMPs (Table 3) | AEM | differential evolution "
             "(GA role) | deviation |", "|---|---:|---:|---:|"]
    for cno in ("cno1", "cno2"):
        a, d = aem["revenue_usd"][cno], de["revenue_usd"][cno]
        lines.append(f"| {cno} revenue ($) | {a:,.2f} | {d:,.2f} | {100 * (a - d) / d:+.3f} % |")
        a, d = aem["mean_price_per_mwh"][cno], de["mean_price_per_mwh"][cno]
        lines.append(f"| {cno} mean price ($/MWh) | {a:.2f} | {d:.2f} | "
                     f"{100 * (a - d) / d:+.3f} % |")
    lines += [
        f"| rounds of best responses | {aem['rounds']} | {de['rounds']} | |",
        f"| equilibrium solves | {aem['solves']:,} | {de['solves']:,} | "
        f"{100 * aem['solves'] / de['solves']:.1f} % |",
        f"| seconds | {aem['seconds']:.2f} | {de['seconds']:.1f} | "
        f"{100 * aem['seconds'] / de['seconds']:.1f} % |",
    ]
    return lines


def write_report(game: dict[str, Any], responses: list[dict[str, Any]],
                 table3: dict[str, Any], command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pricing_game.json").write_text(json.dumps(
        {"game": game, "best_responses": responses, "table3": table3}, indent=2),
        encoding="utf-8")
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
    lines += ["", *table3_lines(table3)]
    (RESULTS / "pricing_game.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table3-only", action="store_true",
                        help="only the multi-CNO equilibrium (Table 3); prints it")
    args = parser.parse_args()
    if args.table3_only:
        print("\n".join(table3_lines(multi_cno_equilibria())))
        return
    with tempfile.TemporaryDirectory() as directory:
        game = game_over_grpc(Path(directory))
    write_report(game, best_responses(game), multi_cno_equilibria(),
                 "python -m bench.pricing_game")


if __name__ == "__main__":
    main()
