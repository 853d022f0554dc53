"""The cost of privacy (issue 20 item 3): differentially private ADMM over an ε grid.

Why this exists: a privacy level is only useful with its price. On the default scenario
(``nguyen-dupuis-ieee33``), the traffic department releases its ADMM station loads with Laplace
noise (``[privacy]`` protecting ``station_loads``: one station's load changed by up to
``--load-mw`` MW in one period; the total ε split over ``--rounds`` planned rounds at δ =
``--delta``, docs/privacy-mechanisms.md), for each ε of the grid and a few noise seeds. For each
run: the agreed total cost (each side's own cost at its last solve), its gap to the non-private
agreed cost and to the centralized optimum (full information), the rounds, the status
(converged, stopped with the privacy budget spent, failed), the final relative primal residual,
and the planned per-round ε0 and Laplace scale b. The table is averaged over the seeds.

The agreed cost adds each side's cost at its own last solve; with noise the two sides' final
loads disagree (the primal residual), so it can even fall below the optimum. The
**implemented** cost is what would happen: the traffic department's vehicles charge its true
last loads (the experimenter regenerates the noise from the seed and subtracts it: full
information, the lab's view) and the DSO serves them (its fixed-load dispatch); its gap to the
non-private implemented cost is the welfare cost of privacy.

Run: ``nice -n 5 python -m bench.privacy_cost`` (``--periods 4`` for a quick horizon); writes
``bench/results/privacy_cost.{md,json,png}``. Each run's messages are also attacked by the
battery of ``ptn privacy audit`` (:func:`ptn.lab.privacy.audit.admm_attacks`: the DSO's fit of
the traffic department's hourly demand, the traffic department's reading of the DSO's tariff and
binding periods), so the table says what the noise buys as well as what it costs. Not measured
yet: the seed-001 pricing game (its probes are not noised yet).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ptn import api
from ptn.engines.privacy.noise import noise_generator
from ptn.lab.privacy.audit import admm_attacks
from ptn.services.dso.model import DsoModel

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIO = "nguyen-dupuis-ieee33"
EPSILONS = (math.inf, 100.0, 30.0, 10.0, 3.0, 1.0, 0.3)
#: the numeric fields the JSON writes as null when infinite or NaN
NUMBERS = ("epsilon", "epsilon_round", "implemented_gap", "implemented_gap_std",
           "implemented_gap_to_centralized", "gap_to_plain", "gap_to_plain_std",
           "gap_to_centralized", "gap_to_centralized_std", "final_primal_residual")


def private_overrides(epsilon: float, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    return {"privacy.mechanism": "laplace", "privacy.epsilon": epsilon,
            "privacy.delta": args.delta, "privacy.rounds": args.rounds, "privacy.seed": seed,
            "privacy.protect": ["station_loads"], "privacy.load_mw": args.load_mw,
            "coordinator.max_rounds": args.rounds}


def implemented_cost(scenario: api.Scenario, result: api.RunResult, seed: int,
                     dso: DsoModel) -> tuple[float | None, str]:
    """The traffic department's own cost plus the DSO's dispatch cost at the department's
    true last loads (its last noisy release minus that release's noise, regenerated), and the
    dispatch's status (``infeasible``: the feeders cannot serve those loads)."""
    agreed = result.outcome.agreed
    if agreed is None:
        return None, "no agreement"
    loads = np.array(agreed.station_load_mw, dtype=np.float64)
    spent = result.summary.get("privacy", {}).get("operators", {}).get("traffic")
    if spent is not None:
        document = scenario.document
        plan = document.privacy.plan("station_loads", document.public.periods,
                                     int(document.privacy.rounds or 1))
        assert plan.mechanism is not None
        generator = noise_generator(document.privacy.seed,
                                    document.privacy.stream("traffic", "station_loads"))
        noise = np.zeros_like(loads)
        for _ in range(int(spent["releases"])):  # LaplaceMechanism.release's draws, in order
            noise = generator.laplace(0.0, plan.mechanism.scale, size=loads.shape)
        loads = loads - noise
    dispatch = dso.dispatch(loads, "bench")
    if not np.isfinite(dispatch.cost_usd):
        return None, str(dispatch.status)
    return float(agreed.by_operator["traffic"]) + float(dispatch.cost_usd), "ok"


def one_run(scenario: api.Scenario, epsilon: float, seed: int, plain: dict[str, float],
            dso: DsoModel) -> dict[str, Any]:
    started = time.perf_counter()
    plain_total, centralized_total = plain["agreed"], plain["centralized"]
    try:
        result = api.run(scenario, reference=False)
    except Exception as error:  # a run that cannot finish is a data point, not the end
        return {"epsilon": epsilon, "seed": seed, "status": "failed", "message": str(error),
                "seconds": time.perf_counter() - started}
    implemented, implemented_status = implemented_cost(scenario, result, seed, dso)
    summary = result.summary
    agreed = summary["agreed"]["total"] if summary["agreed"] else None
    rounds = result.rounds
    residual = float(rounds["primal_residual"].iloc[-1]) if len(rounds) else math.nan
    spent = summary.get("privacy", {}).get("operators", {}).get("traffic", {})
    attacks = {attack.attack: (attack.error if attack.ok else None)
               for attack in admm_attacks(scenario.document, result.outcome)}
    status = summary["status"]
    if status == "not_converged" and "privacy budget spent" in summary["message"]:
        status = "budget_spent"
    return {
        "epsilon": epsilon, "seed": seed, "status": status, "message": summary["message"],
        "rounds": summary["rounds"], "agreed_total_usd": agreed,
        "gap_to_plain": None if agreed is None else (agreed - plain_total) / abs(plain_total),
        "gap_to_centralized": None if agreed is None
        else (agreed - centralized_total) / abs(centralized_total),
        "final_primal_residual": residual, "implemented_total_usd": implemented,
        "implemented_status": implemented_status,
        "implemented_gap": None if implemented is None
        else (implemented - plain["implemented"]) / abs(plain["implemented"]),
        "implemented_gap_to_centralized": None if implemented is None
        else (implemented - centralized_total) / abs(centralized_total),
        "epsilon_spent": spent.get("epsilon"), "releases": spent.get("releases"),
        "attacks": attacks, "seconds": time.perf_counter() - started,
    }


def plan_of(scenario: api.Scenario, rounds: int) -> tuple[float, float]:
    """The planned per-round ε0 and Laplace scale b (MW) of the traffic department."""
    settings = scenario.document.privacy
    plan = settings.plan("station_loads", scenario.document.public.periods, rounds)
    mechanism = plan.mechanism
    if mechanism is None or not math.isfinite(settings.epsilon):
        return math.inf, 0.0
    return float(mechanism.epsilon), float(mechanism.scale)


def aggregate(runs: list[dict[str, Any]], epsilon: float, plan: tuple[float, float]
              ) -> dict[str, Any]:
    mine = [r for r in runs if r["epsilon"] == epsilon]
    finished = [r for r in mine if r.get("agreed_total_usd") is not None]

    def mean(key: str) -> float:
        values = [float(r[key]) for r in finished if r.get(key) is not None]
        return statistics.fmean(values) if values else math.nan

    def spread(key: str) -> float:
        values = [float(r[key]) for r in finished if r.get(key) is not None]
        return statistics.stdev(values) if len(values) > 1 else 0.0

    names = sorted({name for run in mine for name in run.get("attacks", {})})
    attacks = {}
    for name in names:
        values = [float(r["attacks"][name]) for r in mine
                  if r.get("attacks", {}).get(name) is not None]
        attacks[name] = statistics.fmean(values) if values else math.nan
    statuses: dict[str, int] = {}
    for run in mine:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
        if run.get("implemented_status", "ok") != "ok":
            name = f"implemented {run['implemented_status']}"
            statuses[name] = statuses.get(name, 0) + 1
    return {"epsilon": epsilon, "epsilon_round": plan[0], "laplace_scale_mw": plan[1],
            "seeds": len(mine), "agreed_total_usd": mean("agreed_total_usd"),
            "gap_to_plain": mean("gap_to_plain"), "gap_to_plain_std": spread("gap_to_plain"),
            "gap_to_centralized": mean("gap_to_centralized"),
            "gap_to_centralized_std": spread("gap_to_centralized"),
            "implemented_gap": mean("implemented_gap"),
            "implemented_gap_std": spread("implemented_gap"),
            "implemented_gap_to_centralized": mean("implemented_gap_to_centralized"),
            "rounds": mean("rounds"), "final_primal_residual": mean("final_primal_residual"),
            "statuses": statuses, "attacks": attacks}


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# The cost of privacy: differentially private ADMM on the default scenario",
        "",
        f"`{meta['command']}` ({meta['scenario']}, {meta['periods']} periods; Laplace noise on "
        f"the traffic department's ADMM station loads, one station's load changed by up to "
        f"{meta['load_mw']:g} MW in one period, the total ε split over {meta['rounds']} planned "
        f"rounds at δ = {meta['delta']:g} (the best of basic/advanced/zCDP/RDP composition); "
        f"{meta['seeds']} noise seeds per ε; {meta['seconds']:.0f} s in all).",
        "",
        f"Non-private agreed cost {meta['plain_total_usd']:,.2f} $ "
        f"({meta['plain_rounds']} rounds, {meta['plain_status']}), implemented "
        f"{meta['plain_implemented_usd']:,.2f} $; centralized optimum "
        f"{meta['centralized_total_usd']:,.2f} $. Gaps are relative to those (mean ± std over "
        "the seeds; — when no run has one); statuses count the runs (*implemented "
        "infeasible*: the feeders cannot serve the department's true last loads). "
        "*Agreed*: each side's cost at its own last "
        "solve (the sides' final loads disagree by the primal residual, so it may fall below "
        "the optimum). *Implemented*: the traffic department's cost plus the DSO's dispatch "
        "cost at the department's true last loads (noise regenerated from the seed): the "
        "welfare that would be realized.",
        "",
        "| ε (total) | ε0 per round | b (MW) | implemented gap to non-private "
        "| implemented gap to centralized | agreed gap to non-private | rounds "
        "| final primal residual | statuses |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    def percent(value: float, sign: str = "+") -> str:
        return "—" if math.isnan(value) else f"{100 * value:{sign}.4f} %"

    for row in rows:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(row["statuses"].items()))
        lines.append(
            f"| {row['epsilon']:g} | {row['epsilon_round']:.4g} | {row['laplace_scale_mw']:.3g} "
            f"| {percent(row['implemented_gap'])} ± {percent(row['implemented_gap_std'], '')} "
            f"| {percent(row['implemented_gap_to_centralized'])} "
            f"| {100 * row['gap_to_plain']:+.3f} % ± {100 * row['gap_to_plain_std']:.3f} "
            f"| {row['rounds']:.1f} "
            f"| {row['final_primal_residual']:.2e} | {statuses} |")
    names = sorted({name for row in rows for name in row.get("attacks", {})})
    if names:
        lines += ["", "## What the noise buys: the attacks of `ptn privacy audit` on each run's "
                      "messages", "",
                  "Mean over the seeds; relative errors (0: a perfect inference) except "
                  "`dlmp-binding-periods` (precision: 1 is every claimed binding period right). "
                  "`admm-load-response`: the DSO's estimate of the traffic department's hourly "
                  "EV demand per station; `dlmp-upstream-tariff`: the traffic department's "
                  "estimate of the DSO's upstream price per period.", "",
                  "| ε (total) | " + " | ".join(f"`{name}`" for name in names) + " |",
                  "|---|" + "---|" * len(names)]
        for row in rows:
            cells = ["—" if math.isnan(value := row["attacks"].get(name, math.nan))
                     else f"{value:.3g}" if name == "dlmp-binding-periods"
                     else f"{100 * value:.3g} %" for name in names]
            lines.append(f"| {row['epsilon']:g} | " + " | ".join(cells) + " |")
    lines += ["", "Plot: privacy_cost.png (ε on a log axis): the cost gaps (symmetric log; "
                  "ε = ∞ the dashed line), the final relative primal residual and the attacks' "
                  "errors.",
              "", "Not measured yet: the seed-001 pricing game (its probe answers are not "
                  "noised yet).", ""]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = [r for r in rows if math.isfinite(r["epsilon"])]
    plain = next((r for r in rows if not math.isfinite(r["epsilon"])), None)
    figure, (cost, rounds_axis, attack_axis) = plt.subplots(1, 3, figsize=(16, 4.2))
    for run in runs:
        if math.isfinite(run["epsilon"]) and run.get("implemented_gap") is not None:
            cost.scatter(run["epsilon"], 100 * run["implemented_gap"], color="tab:blue", s=12,
                         alpha=0.5)
    cost.errorbar([r["epsilon"] for r in finite], [100 * r["implemented_gap"] for r in finite],
                  yerr=[100 * r["implemented_gap_std"] for r in finite], marker="o",
                  color="tab:blue", label="implemented cost: gap to the non-private run")
    cost.plot([r["epsilon"] for r in finite],
              [100 * r["implemented_gap_to_centralized"] for r in finite], marker="s",
              color="tab:orange", label="implemented cost: gap to the centralized optimum")
    cost.plot([r["epsilon"] for r in finite], [100 * r["gap_to_plain"] for r in finite],
              marker="^", color="tab:green", linestyle=":",
              label="agreed cost (sides disagree): gap to the non-private run")
    cost.axhline(0.0, color="gray", linestyle="--", label="ε = ∞ (no noise)")
    infeasible = [r["epsilon"] for r in finite if math.isnan(r["implemented_gap"])]
    for epsilon in infeasible:
        cost.axvline(epsilon, color="tab:red", alpha=0.3, linewidth=6)
    if infeasible:
        cost.plot([], [], color="tab:red", alpha=0.3, linewidth=6,
                  label="implemented loads infeasible for the feeders")
    cost.set_yscale("symlog", linthresh=1e-3)
    cost.set_xscale("log")
    cost.set_xlabel("total ε over the run")
    cost.set_ylabel("total cost gap (%, symmetric log)")
    cost.set_title("Welfare cost of privacy")
    cost.legend(fontsize=8)
    rounds_axis.plot([r["epsilon"] for r in finite],
                     [r["final_primal_residual"] for r in finite], marker="o")
    if plain is not None:
        rounds_axis.axhline(plain["final_primal_residual"], color="gray", linestyle="--",
                            label=f"ε = ∞: converged in {plain['rounds']:.0f} rounds")
        rounds_axis.legend(fontsize=8)
    rounds_axis.set_xscale("log")
    rounds_axis.set_yscale("log")
    rounds_axis.set_xlabel("total ε over the run")
    rounds_axis.set_ylabel("final relative primal residual")
    rounds = ", ".join(f"{n:.0f}" for n in sorted({r["rounds"] for r in finite}))
    rounds_axis.set_title(f"Disagreement left when the budget is spent ({rounds} rounds)")
    for name in sorted({name for r in finite for name in r.get("attacks", {})}):
        if name == "dlmp-binding-periods":
            continue  # a precision, not an error
        values = [100 * r["attacks"].get(name, math.nan) for r in finite]
        attack_axis.plot([r["epsilon"] for r in finite], values, marker="o", label=name)
        if plain is not None and name in plain.get("attacks", {}):
            attack_axis.axhline(100 * plain["attacks"][name], linestyle="--", alpha=0.5)
    attack_axis.set_xscale("log")
    attack_axis.set_yscale("log")
    attack_axis.set_xlabel("total ε over the run")
    attack_axis.set_ylabel("attack's relative error (%, log)")
    attack_axis.set_title("What the noise buys (dashed: ε = ∞)")
    attack_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_results(name: str, meta: dict[str, Any], rows: list[dict[str, Any]],
                  runs: list[dict[str, Any]],
                  markdown: Callable[[list[dict[str, Any]], dict[str, Any]], str],
                  plot: Callable[[list[dict[str, Any]], list[dict[str, Any]], Path], None]
                  ) -> None:
    """``bench/results/<name>.{json,md,png}`` of a cost-of-privacy bench, and the table."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(
        finite({"meta": meta, "rows": rows, "runs": runs}), indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown(rows, meta), encoding="utf-8")
    plot(rows, runs, RESULTS / f"{name}.png")
    print(markdown(rows, meta))


def finite(value: Any) -> Any:
    """JSON-native values: infinities and NaN as null (ε = ∞ is the row whose ε is null)."""
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=None, help="resample the day")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20,
                        help="planned rounds (the budget's split; also the round limit)")
    parser.add_argument("--load-mw", type=float, default=0.1)
    parser.add_argument("--delta", type=float, default=1e-6)
    parser.add_argument("--epsilons", type=float, nargs="+", default=list(EPSILONS))
    parser.add_argument("--name", default="privacy_cost")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw the plot from the written JSON")
    args = parser.parse_args()
    if args.replot:
        data = json.loads((RESULTS / f"{args.name}.json").read_text("utf-8"))
        for item in (*data["rows"], *data["runs"]):
            item.update({k: (math.inf if k.startswith("epsilon") else math.nan)
                         for k, v in item.items() if v is None and k in NUMBERS})
        plot(data["rows"], data["runs"], RESULTS / f"{args.name}.png")
        (RESULTS / f"{args.name}.md").write_text(markdown(data["rows"], data["meta"]),
                                                 encoding="utf-8")
        return
    started = time.perf_counter()
    base = api.Scenario.load(SCENARIO, periods=args.periods)
    limited = base.with_overrides({"coordinator.max_rounds": args.rounds})
    plain = api.run(limited, reference=True)
    dso = DsoModel.from_part(base.document.part("dso"))
    plain_implemented, _ = implemented_cost(limited, plain, 0, dso)
    assert plain_implemented is not None
    totals = {"agreed": float(plain.summary["agreed"]["total"]),
              "centralized": float(plain.summary["centralized"]["total"]),
              "implemented": plain_implemented}
    print(f"non-private: {plain.summary['status']} in {plain.summary['rounds']} rounds, "
          f"{totals}", flush=True)
    runs: list[dict[str, Any]] = []
    plans: dict[float, tuple[float, float]] = {}
    for epsilon in args.epsilons:
        for seed in range(args.seeds if math.isfinite(epsilon) else 1):
            scenario = base.with_overrides(private_overrides(epsilon, seed, args))
            plans[epsilon] = plan_of(scenario, args.rounds)
            run = one_run(scenario, epsilon, seed, totals, dso)
            runs.append(run)
            print(json.dumps(finite(run)), flush=True)
    rows = [aggregate(runs, epsilon, plans[epsilon]) for epsilon in args.epsilons]
    meta = {"command": "nice -n 5 python -m bench.privacy_cost"
                       + (f" --periods {args.periods}" if args.periods else ""),
            "scenario": SCENARIO, "periods": base.document.public.periods,
            "load_mw": args.load_mw, "rounds": args.rounds, "delta": args.delta,
            "seeds": args.seeds, "plain_total_usd": totals["agreed"],
            "plain_implemented_usd": totals["implemented"],
            "plain_rounds": plain.summary["rounds"], "plain_status": plain.summary["status"],
            "centralized_total_usd": totals["centralized"],
            "seconds": time.perf_counter() - started}
    write_results(args.name, meta, rows, runs, markdown, plot)


if __name__ == "__main__":
    main()
