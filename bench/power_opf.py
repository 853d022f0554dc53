"""DSO engine speed: build, first solve and re-solve of the DistFlow OPF, beside pandapower's OPF.

Why this exists: ADMM and the pricing games re-solve the DSO's OPF every round with new prices
or targets, so the re-solve time is what a negotiation pays (target: case33bw × 24 periods
with DER in <= 30 ms here). pandapower's AC OPF (PYPOWER interior point) is the peer a utility
researcher would otherwise use; it solves one period at a time, so the comparison is per
period and per day (24 sequential solves against our one multi-period solve, which also
couples the periods through storage and ramps that pandapower cannot model).

Cases:

* case33bw × 24 periods with seed 002's DER (``scenarios/der/seed002-ieee33.toml``);
* case141 × 96 periods (15-minute resolution), feeder alone, RTS daily load shape;
* case33bw per period: ptn (one period) vs ``pandapower.runopp``; and a day of 24 periods.

Run: ``python -m bench.power_opf [--repeats 7]``; writes ``bench/results/power_opf.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import pandapower as pp
import pandapower.networks as pn

from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.case_file import read_dso_case_toml
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.profiles import daily_profile

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"
SEED002_DER = REPOSITORY / "scenarios" / "der" / "seed002-ieee33.toml"


def timed(function: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def build_and_resolve(case: DsoCase, repeats: int, **options: Any) -> dict[str, Any]:
    """Build, first solve, then re-solves with the upstream price scaled by 1 + 1 %·k.

    The objective reported is the first solve's (at the case's own prices).
    """
    build_seconds, opf = timed(lambda: DistFlowOpf(case, **options))
    first_seconds, first = timed(opf.solve)
    base_price = opf.upstream_price_per_mwh()
    resolve_times = []
    result = first
    for k in range(1, repeats + 1):
        opf.set_upstream_price(base_price * (1.0 + 0.01 * k))
        seconds, result = timed(opf.solve)
        resolve_times.append(seconds)
    return {
        "build_s": build_seconds,
        "first_solve_s": first_seconds,
        "resolve_median_s": statistics.median(resolve_times),
        "resolve_min_s": min(resolve_times),
        "status": str(result.status),
        "objective": first.objective,
        "relaxation_gap_raw": max(first.relaxation_gap_raw, result.relaxation_gap_raw),
        "size": f"{opf.problem.size_metrics.num_scalar_variables} variables",
    }


def pandapower_day(periods: int, repeats: int) -> dict[str, Any]:
    """pandapower runopp per period on case33bw with the RTS load shape; ptn on the same day."""
    profile = daily_profile("rts-winter-weekday", periods)
    net = pn.case33bw()
    base_p = net.load.p_mw.to_numpy().copy()
    base_q = net.load.q_mvar.to_numpy().copy()
    pp.runopp(net)  # warm-up (imports, numba)
    pp_times = []
    pp_costs = []
    for factor in profile:
        net.load["p_mw"] = base_p * factor
        net.load["q_mvar"] = base_q * factor
        best = float("inf")
        for _ in range(repeats):
            seconds, _ = timed(lambda: pp.runopp(net))
            best = min(best, seconds)
        pp_times.append(best)
        pp_costs.append(float(net.res_cost))
    feeder = load_feeder("case33bw")
    single = DistFlowOpf(DsoCase(feeders=(feeder,)))
    single.solve()
    single_times = []
    for _ in range(repeats):
        seconds, single_result = timed(single.solve)
        single_times.append(seconds)
    day_case = DsoCase(feeders=(feeder,), periods=periods, load_profile=profile)
    day = build_and_resolve(day_case, repeats)
    return {
        "pandapower_per_period_s": statistics.median(pp_times),
        "pandapower_day_s": sum(pp_times),
        "pandapower_day_cost": sum(pp_costs),
        "ptn_single_period_s": statistics.median(single_times),
        "ptn_single_period_cost": single_result.objective,
        "ptn_day_first_solve_s": day["first_solve_s"] + day["build_s"],
        "ptn_day_resolve_s": day["resolve_median_s"],
        "ptn_day_cost": day["objective"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    repeats = args.repeats

    seed002 = read_dso_case_toml(SEED002_DER, (load_feeder("case33bw"),), 24)
    rows: dict[str, Any] = {}
    rows["case33bw x 24, seed 002 DER"] = build_and_resolve(seed002, repeats)
    rows["case33bw x 24, seed 002 DER, Clarabel refinement on"] = build_and_resolve(
        seed002, repeats, solver_options={"iterative_refinement_enable": True}
    )
    feeder141 = load_feeder("case141")
    case141 = DsoCase(feeders=(feeder141,), periods=96, period_hours=0.25,
                      load_profile=daily_profile("rts-winter-weekday", 96))
    rows["case141 x 96"] = build_and_resolve(case141, max(3, repeats // 2))
    day = pandapower_day(24, max(1, repeats // 3))

    lines = [
        "| case | build (s) | first solve (s) | re-solve, new prices (s) | objective | gap raw |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['build_s']:.3f} | {row['first_solve_s']:.3f} | "
            f"{row['resolve_median_s'] * 1000:.1f} ms | {row['objective']:.4f} | "
            f"{row['relaxation_gap_raw']:.1e} |"
        )
    lines += [
        "",
        "| case33bw, RTS day | pandapower runopp | ptn DistFlow-SOC | ratio |",
        "|---|---|---|---|",
        f"| one period | {day['pandapower_per_period_s'] * 1000:.1f} ms | "
        f"{day['ptn_single_period_s'] * 1000:.1f} ms | "
        f"{day['pandapower_per_period_s'] / day['ptn_single_period_s']:.1f}x |",
        f"| 24 periods (pandapower: 24 solves; ptn: one build + solve) | "
        f"{day['pandapower_day_s']:.3f} s | {day['ptn_day_first_solve_s']:.3f} s | "
        f"{day['pandapower_day_s'] / day['ptn_day_first_solve_s']:.1f}x |",
        f"| 24 periods, re-solve | {day['pandapower_day_s']:.3f} s | "
        f"{day['ptn_day_resolve_s']:.3f} s | "
        f"{day['pandapower_day_s'] / day['ptn_day_resolve_s']:.1f}x |",
        f"| cost of the day ($) | {day['pandapower_day_cost']:.4f} | "
        f"{day['ptn_day_cost']:.4f} | |",
    ]
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "power_opf.md").write_text(table + "\n")
    (RESULTS / "power_opf.json").write_text(
        json.dumps({"cases": rows, "pandapower_day": day, "repeats": repeats}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
