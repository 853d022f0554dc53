"""The cost of privacy in seed 001's pricing game (issue 20 item 3): an ε grid.

Why this exists: a privacy level is only useful with its price, and the game's price differs
from ADMM's (bench/privacy_cost.py): the traffic department answers thousands of load
questions (each CNO's probes, each round's price response, the ε-Nash certificate's search),
and with ``[privacy]`` protecting ``station_loads`` every answer is one Laplace release
(docs/privacy-mechanisms.md, "The pricing game"). On ``pricing-seed001`` reduced to its
non-cooperative game and its certificate (no cooperative variant, no revenue matrix), for each ε
of the grid and a few noise seeds: the status (converged, stopped with the privacy budget spent,
failed), the rounds, the load answers, the ε spent, the revenues as the game's summary reports
them (each CNO's Σ Δt·(α − λ)·P, the DSO's profit on charging, and their sum, the total revenue
of the sellers; the drivers' side is not in the game's summary) against the non-private game,
the certificate's ε ($), and the errors of the CNO attacks of ``ptn privacy audit``
(:func:`ptn.lab.privacy.audit.game_attacks`: a CNO inferring the other's price bounds and
marginal cost from the messages it saw) on each run's messages.

The budget is split over ``--answers`` load answers (default: 1.25 × the non-private game's,
rounded up to a hundred), one station's load changed by up to ``--load-mw`` MW in one period,
δ = ``--delta``. Run: ``nice -n 5 python -m bench.privacy_cost_game``; writes
``bench/results/privacy_cost_game.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

from bench.privacy_cost import finite, write_results
from ptn import api
from ptn.engines.privacy.accountant import Totals
from ptn.lab.privacy.audit import game_attacks

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIO = "pricing-seed001"
EPSILONS = (math.inf, 1000.0, 100.0, 10.0, 1.0)
#: the game reduced to the non-cooperative variant and its certificate
REDUCED = {"coordinator.variants": ["nash"], "coordinator.revenue_matrix": False}


def private_overrides(epsilon: float, seed: int, answers: int, args: argparse.Namespace
                      ) -> dict[str, Any]:
    return {"privacy.mechanism": "laplace", "privacy.epsilon": epsilon,
            "privacy.delta": args.delta, "privacy.rounds": answers, "privacy.seed": seed,
            "privacy.protect": ["station_loads"], "privacy.load_mw": args.load_mw}


def one_run(scenario: api.Scenario, epsilon: float, seed: int,
            plain: dict[str, Any] | None) -> dict[str, Any]:
    """One game: status, rounds, answers, ε spent, revenues (and gaps), attacks' errors."""
    started = time.perf_counter()
    result = api.run(scenario, reference=False)
    summary = result.summary
    run: dict[str, Any] = {"epsilon": epsilon, "seed": seed, "status": summary["status"],
                           "message": summary["message"],
                           "seconds": time.perf_counter() - started}
    block = summary.get("privacy", {})
    run["load_answers"] = answers = block.get("load_answers")
    run["epsilon_spent"] = epsilon_spent(scenario, answers)
    variant = summary.get("variants", {}).get("nash")
    if variant is None:
        return run
    revenues = {party: value["end"] for party, value in variant["revenue_usd"].items()}
    run.update(rounds=variant["rounds"], revenue_usd=revenues,
               total_revenue_usd=sum(v for v in revenues.values() if v is not None),
               mean_charging_price_per_mwh=variant["final"]["mean_charging_price_per_mwh"],
               mean_dso_price_per_mwh=variant["final"]["mean_dso_price_per_mwh"],
               certificate_epsilon_usd=variant["certificate"]["epsilon_usd"])
    if plain is not None:
        run["revenue_gap"] = {party: value / plain["revenue_usd"][party] - 1.0
                              for party, value in revenues.items() if value is not None}
        run["total_revenue_gap"] = run["total_revenue_usd"] / plain["total_revenue_usd"] - 1.0
    attacks = game_attacks(scenario.document, result.outcome, "nash")
    run["attacks"] = [{"attack": a.attack, "attacker": a.attacker, "target": a.target,
                       "error": a.error if a.ok else None, "status": a.status}
                      for a in attacks]
    return run


def epsilon_spent(scenario: api.Scenario, answers: int | None) -> float | None:
    """The ε the department's accountant spent on ``answers`` noisy answers of its plan,
    composed here from the public plan (a check on the summary's operator figure, which the
    department reports with each answer)."""
    document = scenario.document
    settings = document.privacy
    if answers is None or not settings.active or settings.rounds is None:
        return None
    plan = settings.plan("station_loads", document.public.periods, settings.rounds)
    assert plan.cost is not None
    return Totals().plus(plan.cost, times=answers).spent(plan.budget.delta).epsilon


def aggregate(runs: list[dict[str, Any]], epsilon: float) -> dict[str, Any]:
    mine = [r for r in runs if r["epsilon"] == epsilon]
    played = [r for r in mine if r.get("total_revenue_usd") is not None]

    def values(key: str) -> list[float]:
        return [float(r[key]) for r in played if r.get(key) is not None]

    def mean(key: str) -> float:
        found = values(key)
        return statistics.fmean(found) if found else math.nan

    def spread(key: str) -> float:
        found = values(key)
        return statistics.stdev(found) if len(found) > 1 else 0.0

    statuses: dict[str, int] = {}
    for run in mine:
        kind = run["status"]
        if "privacy budget spent" in run["message"]:
            kind = "budget spent"
        statuses[kind] = statuses.get(kind, 0) + 1
    attacks: dict[str, list[float]] = {}
    for run in played:
        for attack in run.get("attacks", []):
            if attack["error"] is not None:
                attacks.setdefault(attack["attack"], []).append(float(attack["error"]))
    cnos = sorted({p for r in played for p in r["revenue_usd"] if p != "dso"})
    def over_all(key: str) -> float:  # failed games too: what they answered and spent
        found = [float(r[key]) for r in mine if r.get(key) is not None]
        return statistics.fmean(found) if found else math.nan

    return {"epsilon": epsilon, "seeds": len(mine), "played": len(played),
            "rounds": mean("rounds"), "load_answers": over_all("load_answers"),
            "epsilon_spent": over_all("epsilon_spent"),
            "total_revenue_usd": mean("total_revenue_usd"),
            "total_revenue_gap": mean("total_revenue_gap"),
            "total_revenue_gap_std": spread("total_revenue_gap"),
            "revenue_gap": {party: statistics.fmean(
                [r["revenue_gap"][party] for r in played if "revenue_gap" in r])
                if any("revenue_gap" in r for r in played) else math.nan
                for party in [*cnos, "dso"]},
            "mean_charging_price_per_mwh": mean("mean_charging_price_per_mwh"),
            "certificate_epsilon_usd": mean("certificate_epsilon_usd"),
            "attack_error": {name: statistics.fmean(errors) for name, errors in attacks.items()},
            "statuses": statuses}


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    attacks = sorted({name for row in rows for name in row["attack_error"]})
    parties = list(dict.fromkeys(p for row in rows for p in row["revenue_gap"]))

    def percent(value: float) -> str:
        return "—" if not math.isfinite(value) else f"{100 * value:+.2f} %"

    lines = [
        "# Cost of privacy: seed 001's pricing game", "",
        f"`{meta['command']}`. Scenario `{meta['scenario']}` (non-cooperative game and its "
        f"ε-Nash certificate); the traffic department's every load answer is a Laplace release "
        f"(d = {meta['load_mw']} MW in one period), the budget split over "
        f"{meta['answers']} load answers at δ = {meta['delta']:g} "
        f"(the non-private game gives {meta['plain_answers']}); {meta['seeds']} seeds per "
        f"finite ε. Non-private: {meta['plain_status']} in {meta['plain_rounds']} rounds, total "
        f"revenue {meta['plain_total_usd']:.2f} $ (CNOs + DSO). Gaps are to the non-private "
        "game, means over the seeds whose game played at least one round.", "",
        "| ε | per-answer ε0 | b (MW) | statuses | rounds | answers | ε spent | "
        + " | ".join(f"{p} revenue" for p in parties)
        + " | total revenue (± sd) | mean α ($/MWh) | certificate ε ($) | "
        + " | ".join(f"attack: {a}" for a in attacks) + " |",
        "|" + "---|" * (10 + len(parties) + len(attacks)),
    ]
    for row in rows:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(row["statuses"].items()))
        epsilon = "∞" if not math.isfinite(row["epsilon"]) else f"{row['epsilon']:g}"
        plan = meta["plans"].get(epsilon, [math.nan, math.nan])
        cells = [epsilon, f"{plan[0]:.3g}" if plan[0] is not None and math.isfinite(plan[0])
                 else "—", f"{plan[1]:.3g}" if plan[1] is not None and math.isfinite(plan[1])
                 else "0", statuses,
                 f"{row['rounds']:.1f}" if math.isfinite(row["rounds"]) else "—",
                 f"{row['load_answers']:.0f}",
                 "—" if not math.isfinite(row["epsilon_spent"]) else
                 f"{row['epsilon_spent']:.3g}",
                 *[percent(row["revenue_gap"].get(p, math.nan)) for p in parties],
                 f"{percent(row['total_revenue_gap'])} "
                 f"(± {100 * row['total_revenue_gap_std']:.2f})",
                 f"{row['mean_charging_price_per_mwh']:.1f}"
                 if math.isfinite(row["mean_charging_price_per_mwh"]) else "—",
                 f"{row['certificate_epsilon_usd']:.2f}"
                 if math.isfinite(row["certificate_epsilon_usd"]) else "skipped",
                 *[f"{100 * row['attack_error'][a]:.3g} %" if a in row["attack_error"]
                   else "—" for a in attacks]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Attack errors are relative errors (0: perfect inference) averaged over the "
              "CNO pairs and seeds. A failed game (the DSO cannot serve the noisy loads it "
              "dispatches) has no revenues; its answers and ε spent are those given before it "
              "failed.", ""]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite_rows = [r for r in rows if math.isfinite(r["epsilon"])]
    figure, (money_axis, attack_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for run in runs:
        if math.isfinite(run["epsilon"]) and run.get("total_revenue_gap") is not None:
            money_axis.scatter(run["epsilon"], 100 * run["total_revenue_gap"],
                               color="tab:blue", s=12, alpha=0.5)
    shown = [r for r in finite_rows if math.isfinite(r["total_revenue_gap"])]
    money_axis.errorbar([r["epsilon"] for r in shown],
                        [100 * r["total_revenue_gap"] for r in shown],
                        yerr=[100 * r["total_revenue_gap_std"] for r in shown], marker="o",
                        color="tab:blue", label="total revenue (CNOs + DSO)")
    for party in (shown[0]["revenue_gap"] if shown else {}):  # every party of a played game
        money_axis.plot([r["epsilon"] for r in shown],
                        [100 * r["revenue_gap"][party] for r in shown], marker=".",
                        linestyle=":", label=party)
    money_axis.axhline(0.0, color="gray", linestyle="--", label="ε = ∞ (no noise)")
    for row in finite_rows:
        if row["played"] < row["seeds"]:
            money_axis.axvline(row["epsilon"], color="tab:red", alpha=0.2, linewidth=6)
    money_axis.set_xscale("log")
    money_axis.set_xlabel("total ε over the game")
    money_axis.set_ylabel("revenue change vs the non-private game (%)")
    money_axis.set_title("Pricing game: cost of privacy (red: some seeds failed)")
    money_axis.legend(fontsize=8)
    names = sorted({name for r in rows for name in r["attack_error"]})
    for name in names:
        points = [(r["epsilon"] if math.isfinite(r["epsilon"]) else 1e4,
                   100 * r["attack_error"][name]) for r in rows if name in r["attack_error"]]
        attack_axis.plot(*zip(*points, strict=True), marker="o", label=name)
    attack_axis.set_xscale("log")
    attack_axis.set_xlabel("total ε over the game (∞ drawn at 10⁴)")
    attack_axis.set_ylabel("attack's relative error (%)")
    attack_axis.set_title("CNO attacks on the game's messages")
    attack_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plan_of(scenario: api.Scenario, answers: int) -> tuple[float, float]:
    """The per-answer ε0 and Laplace scale b (MW) of the plan."""
    document = scenario.document
    plan = document.privacy.plan("station_loads", document.public.periods, answers)
    if plan.mechanism is None or plan.cost is None:
        return math.inf, 0.0
    return plan.cost.epsilon, float(getattr(plan.mechanism, "scale", math.nan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--answers", type=int, default=None,
                        help="load answers the budget is split over (default: 1.25 × the "
                             "non-private game's, rounded up to a hundred)")
    parser.add_argument("--load-mw", type=float, default=0.1)
    parser.add_argument("--delta", type=float, default=1e-6)
    parser.add_argument("--epsilons", type=float, nargs="+", default=list(EPSILONS))
    parser.add_argument("--name", default="privacy_cost_game")
    args = parser.parse_args()
    started = time.perf_counter()
    base = api.Scenario.load(SCENARIO).with_overrides(REDUCED)
    probe = base.with_overrides(private_overrides(math.inf, 0, 10**9, args))
    plain = one_run(probe, math.inf, 0, None)  # ε = ∞ counts the answers, adds no noise
    answers = args.answers or int(math.ceil(1.25 * plain["load_answers"] / 100) * 100)
    print(f"non-private: {plain['status']}, {plain['rounds']} rounds, "
          f"{plain['load_answers']} answers; budget over {answers}", flush=True)
    runs: list[dict[str, Any]] = []
    plans: dict[str, tuple[float, float]] = {}
    for epsilon in args.epsilons:
        for seed in range(args.seeds if math.isfinite(epsilon) else 1):
            scenario = base.with_overrides(private_overrides(epsilon, seed, answers, args))
            plans["∞" if not math.isfinite(epsilon) else f"{epsilon:g}"] = plan_of(scenario,
                                                                                  answers)
            run = one_run(scenario, epsilon, seed, plain)
            runs.append(run)
            print(json.dumps(finite({k: v for k, v in run.items() if k != "attacks"})),
                  flush=True)
    rows = [aggregate(runs, epsilon) for epsilon in args.epsilons]
    meta = {"command": "nice -n 5 python -m bench.privacy_cost_game", "scenario": SCENARIO,
            "variants": ["nash"], "load_mw": args.load_mw, "delta": args.delta,
            "answers": answers, "plain_answers": plain["load_answers"], "seeds": args.seeds,
            "plain_status": plain["status"], "plain_rounds": plain["rounds"],
            "plain_revenue_usd": plain["revenue_usd"],
            "plain_total_usd": plain["total_revenue_usd"], "plans": plans,
            "seconds": time.perf_counter() - started}
    write_results(args.name, meta, rows, runs, markdown, plot)


if __name__ == "__main__":
    main()
