"""Seed 000's profit sharing: the private search against the full-information references.

Why this exists: issue 6's benchmark. On ``profit-sharing-seed000`` (24 h), the private search
(the TNO and the DSO each their own process over gRPC; ADMM per share, a sweep, a branch and
bound over ρ) is timed against the references of :mod:`ptn.lab.references.profit_sharing`, which
read both operators' tables:

* the exhaustive sweep: 1001 shares with the centralized follower (optimistic and pessimistic
  among its optima), then the exact breakpoints of its response between the grid points;
* the optimistic bilevel problem by KKT reformulation in Pyomo, solved by SCIP: the exact form
  (complementarity as SOS1 pairs) and the strong-duality form (no complementarity; SCIP may use
  its feasibility tolerance in the strong-duality row), each under a time limit.

For each: seconds, and the share and the DNO's total cost ``C_DSO + ρ·(C0 − C_DSO)`` it reaches
(for the KKT also SCIP's dual bound). SCIP does not close the full day within minutes (the
module doc of :mod:`ptn.lab.references.profit_sharing.kkt`), so all three are also run on the
day's last twelve hours (both cases cut by
:func:`ptn.lab.references.profit_sharing.horizon.slice_horizon`; the private search then hosts
the two operators in this process), where SCIP proves the KKT optimum.

Run: ``python -m bench.profit_sharing``; writes ``bench/results/profit_sharing.{md,json}``.

Issue 17: ``python -m bench.profit_sharing --fleet-models 41`` runs the sweep (41 shares, then
the exact breakpoints) with the TNO's pooled LP and its per-bus MILP
(:mod:`ptn.engines.fleet.bus_plan`) on the same case, and writes
``bench/results/profit_sharing_fleet_models.{md,json}``: does ρ* move? (The MILP follower takes
1-2 s a solve with SCIP, so the grid is coarser than the LP's 1001 shares; the breakpoint search
makes the optimum exact all the same.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import hosted_endpoints, operator_endpoints
from ptn.engines.fleet.case import FleetCase
from ptn.engines.power.der import DsoCase
from ptn.lab.references.profit_sharing.horizon import slice_horizon
from ptn.lab.references.profit_sharing.kkt import BilevelSolution, KktMethod, solve_bilevel_kkt
from ptn.lab.references.profit_sharing.sweep import SweepResult, sweep
from ptn.scenario.document import load_scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.tno.config import tno_case_from_part
from ptn.services.tno.model import TnoModel

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "bench" / "results"
SCENARIO = "profit-sharing-seed000"
#: the reduced instance on which SCIP proves the KKT optimum (periods 12-23)
WINDOW = (12, 24)
WINDOW_NAME = f"periods {WINDOW[0]}-{WINDOW[1] - 1}"


def private_over_grpc(directory: Path) -> dict[str, Any]:
    """The private search with both operators as their own processes."""
    scenario = load_scenario(SCENARIO)
    started = time.perf_counter()
    with operator_endpoints(scenario, SCENARIO, "grpc", log_directory=directory / "logs") \
            as endpoints:
        ready = time.perf_counter() - started
        outcome = negotiate(scenario, endpoints)
    return {"instance": "24 h", "method": "private search over gRPC (11 shares + branch and "
            "bound to 1e-3)", "status": str(outcome.status), "start_seconds": ready,
            "seconds": outcome.seconds, "share": outcome.best_share,
            "dno_total_cost_usd": outcome.dno_total_cost_usd(outcome.best),
            "bound_usd": math.nan, "original_dso_cost_usd": outcome.original_dso_cost_usd,
            "negotiations": len(outcome.evaluations),
            "admm_rounds": sum(e.rounds for e in outcome.evaluations)}


def private_on_window() -> dict[str, Any]:
    """The private search on the window's cases, both operators in this process."""
    scenario = load_scenario(SCENARIO)
    config = dso_config_from_part(scenario.part("dso"))
    fleet, dso = slice_horizon(tno_case_from_part(scenario.part("tno")), config.case, *WINDOW)
    endpoints = hosted_endpoints({"tno": TnoModel("tno", fleet),
                                  "dso": DsoModel(dataclasses.replace(config, case=dso))})
    public = dataclasses.replace(scenario.public, periods=WINDOW[1] - WINDOW[0])
    outcome = negotiate(dataclasses.replace(scenario, public=public), endpoints)
    return {"instance": WINDOW_NAME, "method": "private search in process (11 shares + branch "
            "and bound to 1e-3)", "status": str(outcome.status), "seconds": outcome.seconds,
            "share": outcome.best_share,
            "dno_total_cost_usd": outcome.dno_total_cost_usd(outcome.best),
            "bound_usd": math.nan, "original_dso_cost_usd": outcome.original_dso_cost_usd}


def sweep_rows(result: SweepResult, instance: str) -> list[dict[str, Any]]:
    """The sweep's grid optimum (optimistic and pessimistic) and its exact optimum."""
    points = result.shares.size
    grid_share, grid_cost = result.optimistic_best
    worst_share, worst_cost = result.pessimistic_best
    exact_share, exact_cost = result.exact_best
    common = {"instance": instance, "status": result.status, "bound_usd": math.nan,
              "original_dso_cost_usd": result.original_dso_cost_usd}
    return [
        {**common, "method": f"sweep, {points} shares, optimistic follower",
         "seconds": result.seconds, "share": grid_share, "dno_total_cost_usd": grid_cost},
        {**common, "method": "same sweep, pessimistic follower (worst tie)",
         "seconds": math.nan, "share": worst_share, "dno_total_cost_usd": worst_cost},
        {**common, "method": f"same sweep, exact breakpoints ({len(result.breakpoints)} found, "
         f"{result.extra_solves} extra solves)", "seconds": math.nan,
         "share": exact_share, "dno_total_cost_usd": exact_cost},
    ]


def kkt_row(fleet: FleetCase, dso: DsoCase, order: list[int], instance: str,
            method: KktMethod, time_limit_s: float) -> dict[str, Any]:
    """The KKT reformulation solved by SCIP under a time limit."""
    solution: BilevelSolution = solve_bilevel_kkt(fleet, dso, station_order=order,
                                                  method=method, time_limit_s=time_limit_s)
    form = "SOS1 complementarity" if method == "sos1" else "strong duality, no SOS1"
    return {"instance": instance, "method": f"bilevel KKT, Pyomo + SCIP, {form} "
            f"({solution.complementarity_pairs} pairs, limit {time_limit_s:.0f} s)",
            "status": solution.status, "seconds": solution.seconds, "share": solution.share,
            "dno_total_cost_usd": solution.leader_cost_usd,
            "bound_usd": solution.objective_bound_usd,
            "original_dso_cost_usd": solution.original_dso_cost_usd,
            "follower_gap_usd": solution.follower_gap_usd,
            "nodes": solution.extra.get("nodes", math.nan)}


def references(kkt_time_limit_s: float) -> list[dict[str, Any]]:
    """The full-information references on the day and on the window."""
    scenario = load_scenario(SCENARIO)
    config = dso_config_from_part(scenario.part("dso"))
    fleet, dso, order = tno_case_from_part(scenario.part("tno")), config.case, config.point_order
    rows = sweep_rows(sweep(fleet, dso, station_order=order), "24 h")
    for method in ("sos1", "strong_duality"):
        rows.append(kkt_row(fleet, dso, order, "24 h", method, kkt_time_limit_s))
    fleet_window, dso_window = slice_horizon(fleet, dso, *WINDOW)
    rows.append(private_on_window())
    rows += sweep_rows(sweep(fleet_window, dso_window, station_order=order), WINDOW_NAME)
    rows.append(kkt_row(fleet_window, dso_window, order, WINDOW_NAME, "sos1", kkt_time_limit_s))
    return rows


def _number(value: float, digits: int) -> str:
    return "—" if not math.isfinite(value) else f"{value:,.{digits}f}"


def write_report(rows: list[dict[str, Any]], command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profit_sharing.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    lines = [f"Command: `{command}`", "",
             "| instance | method | status | seconds | ρ* | DNO total cost $ | SCIP bound $ |",
             "|---|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['instance']} | {r['method']} | {r['status']} | {_number(r['seconds'], 1)} "
              f"| {_number(r['share'], 5)} | {_number(r['dno_total_cost_usd'], 3)} | "
              f"{_number(r['bound_usd'], 3)} |" for r in rows]
    private = rows[0]
    lines += ["", f"C0 (24 h) = {private['original_dso_cost_usd']:,.3f} $; gRPC operator "
              f"start-up {private['start_seconds']:.1f} s; the private search ran "
              f"{private['negotiations']} negotiations, {private['admm_rounds']} ADMM rounds."]
    (RESULTS / "profit_sharing.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def fleet_model_rows(points: int) -> list[dict[str, Any]]:
    """The sweep on the seed case with each fleet model (module doc), its best teeth."""
    scenario = load_scenario(SCENARIO)
    config = dso_config_from_part(scenario.part("dso"))
    base = tno_case_from_part(scenario.part("tno"))
    rows = []
    for kind in ("pooled-lp", "bus-mip"):
        fleet = dataclasses.replace(base, fleet_model=kind)
        result = sweep(fleet, config.case, [k / (points - 1) for k in range(points)],
                       station_order=config.point_order)
        teeth = sorted(result.breakpoints, key=lambda b: b.optimistic_leader_cost_usd)[:4]
        for row in sweep_rows(result, kind):
            rows.append({**row, "tno_cost_alone_usd": result.tno_cost_alone_usd,
                         "breakpoints": len(result.breakpoints),
                         "best_teeth": [(b.share, b.optimistic_leader_cost_usd,
                                         b.pessimistic_leader_cost_usd, b.right_tno_cost_usd,
                                         b.right_dso_cost_usd) for b in teeth]})
    return rows


def write_fleet_model_report(rows: list[dict[str, Any]], command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profit_sharing_fleet_models.json").write_text(json.dumps(rows, indent=2),
                                                              encoding="utf-8")
    lines = [f"Command: `{command}`", "",
             "| fleet model | method | status | seconds | C0 $ | TNO alone $ | ρ* | "
             "DNO total cost $ |", "|---|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['instance']} | {r['method']} | {r['status']} | {_number(r['seconds'], 1)} "
              f"| {_number(r['original_dso_cost_usd'], 2)} | "
              f"{_number(r['tno_cost_alone_usd'], 2)} | {_number(r['share'], 5)} | "
              f"{_number(r['dno_total_cost_usd'], 3)} |" for r in rows]
    lines += ["", "Best teeth (breakpoints by optimistic DNO cost): share, optimistic $, "
              "pessimistic $, TNO cost $, DSO cost $ (right piece)", ""]
    for r in rows[::3]:
        teeth = "; ".join(f"{t[0]:.5f}: {t[1]:,.3f} / {t[2]:,.3f} ({t[3]:,.2f}, {t[4]:,.2f})"
                          for t in r["best_teeth"])
        lines.append(f"- {r['instance']}: {teeth}")
    (RESULTS / "profit_sharing_fleet_models.md").write_text("\n".join(lines) + "\n",
                                                            encoding="utf-8")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kkt-time-limit", type=float, default=300.0,
                        help="SCIP's time limit per KKT solve, seconds (default 300)")
    parser.add_argument("--fleet-models", type=int, default=0, metavar="POINTS",
                        help="instead: the sweep on POINTS shares with the pooled LP and the "
                             "per-bus MILP fleet (issue 17)")
    arguments = parser.parse_args()
    if arguments.fleet_models:
        write_fleet_model_report(fleet_model_rows(arguments.fleet_models),
                                 f"python -m bench.profit_sharing --fleet-models "
                                 f"{arguments.fleet_models}")
        return
    with tempfile.TemporaryDirectory() as directory:
        rows = [private_over_grpc(Path(directory))]
    rows += references(arguments.kkt_time_limit)
    command = "python -m bench.profit_sharing"
    if arguments.kkt_time_limit != 300.0:
        command += f" --kkt-time-limit {arguments.kkt_time_limit:g}"
    write_report(rows, command)


if __name__ == "__main__":
    main()
