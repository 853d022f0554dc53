"""The results folder of the profit-sharing experiment (seed 000) and its terminal summary.

Why this module exists: the issue's outputs for Game B — the DNO's total cost and the TNO's
benefit against the share ρ, the chosen ρ*, the load shift per station and period — have to be
files a researcher opens without ptn. Only what the coordinator saw goes here. Files:

* ``summary.json``: C0, the TNO's cost alone, ρ*, the DNO's total cost and saving at ρ*, the
  TNO's benefit and payment, whether it accepted, every share negotiated, timings; plus the
  full-information references when the experiment computed them (``extra``). NaN → null.
* ``shares.csv``: one row per share negotiated: share, status, rounds, seconds, dso_cost_usd,
  tno_cost_usd, dno_total_cost_usd, tno_benefit_usd, payment_usd.
* ``rounds.csv``: every ADMM round of every share: stage (``rho<share>``, ``agreement``), round,
  seconds, primal_residual, dual_residual, penalty_per_mw2h.
* ``load_shift.csv``: station, period, preschedule_load_mw, rescheduled_load_mw (at ρ*),
  shift_mw.
* ``report.md``: the claims table ``| claim | paper | ptn | verdict |`` of
  docs/profit-sharing.md (:func:`claims_rows`): the paper's claims checked on this run, and the
  referee's questions and the fleet-model check as measured by the full-information references
  (:data:`REFERENCE_CLAIMS`, with the command that measured them).
* ``dno_cost.png`` (the DNO's total cost and its dispatch cost against ρ, C0 and ρ* marked),
  ``tno_benefit.png`` (the TNO's benefit against ρ), ``load_shift.png`` (one panel per
  station: its load per period as bars, prescheduled and at ρ*).

:func:`write_profit_sharing_folder` writes these and ``index.html``
(:mod:`ptn.coordinator.results.index_page`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ptn.coordinator.mechanisms.admm import ROUND_FIELDS
from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome
from ptn.coordinator.results.formatting import json_ready, money, write_csv
from ptn.coordinator.results.index_page import SUMMARY_FILE, write_index_page
from ptn.figures import DPI, new_figure, save_figure, tick_positions

SHARE_COLUMNS = ("share", "status", "rounds", "seconds", "dso_cost_usd", "tno_cost_usd",
                 "dno_total_cost_usd", "tno_benefit_usd", "payment_usd")
ROUND_COLUMNS = ("stage", "round", "seconds", *ROUND_FIELDS)
LOAD_SHIFT_COLUMNS = ("station", "period", "preschedule_load_mw", "rescheduled_load_mw",
                      "shift_mw")


#: Rows of the claims table measured by the full-information references of
#: ``ptn.lab.references.profit_sharing`` on ``profit-sharing-seed000`` (the coordinator sees
#: neither operator's model, so no run of the mechanism can measure them; commands and method
#: in docs/profit-sharing.md): (claim, paper, ptn, verdict).
REFERENCE_CLAIMS: tuple[tuple[str, str, str, str], ...] = (
    ("the case: 12 traffic nodes, 18 electric buses",
     "named, no data published",
     "a 12-node street grid, 18 buses in 6 lines, 3 stations on IEEE 33 (our data)",
     "not checkable (the paper publishes no data; ours is a plausible case)"),
    ("ρ* is the global minimum of the DNO's cost (referee, question 2)",
     "claimed, not verified",
     "exhaustive sweep (1001 shares + exact breakpoints): optimum at ρ = 1/8, 5,648.97 $; "
     "KKT (SCIP) agrees on the windows it closes",
     "reproduced (on ptn's case)"),
    ("the follower's response is unique (referee, question 1)",
     "not addressed",
     "ties at the 22 breakpoints, the optimum among them: at ρ = 1/8 the pessimistic "
     "follower costs the DNO 5,654.34 $ (+5.37 $)",
     "differs (the optimum is an optimistic infimum; just right of it the response is unique)"),
    ("the claims hold with 18 individual buses and whole charging visits",
     "18 electric buses (its fleet model is not given)",
     "per-bus MILP (`fleet_model = \"bus-mip\"`): exact ρ* = 1/5 against the pooled LP's 1/8; "
     "DNO 5,664.70 $ against C0 5,779.64 $ (−2.0 %), TNO +16.39 $; the next teeth within 3 $; "
     "the private search with the MILP TNO: ρ* = 0.2031, 5,665.15 $, TNO +16.84 $",
     "reproduced in direction (ρ* moves by +0.075: it depends on the fleet model)"),
)


def claims_rows(outcome: ProfitSharingOutcome) -> list[tuple[str, str, str, str]]:
    """The claims table: the paper's two claims checked on this run, then
    :data:`REFERENCE_CLAIMS`."""
    if not outcome.evaluations:
        return [("the DNO's total cost has a lowest point at ρ*", "yes",
                 f"no share negotiated ({outcome.message})", "not checkable (the run failed)"),
                *REFERENCE_CLAIMS]
    best = outcome.best
    c0 = outcome.original_dso_cost_usd
    total = outcome.dno_total_cost_usd(best)
    benefit = outcome.tno_benefit_usd(best)
    interior = 0.0 < outcome.best_share < 1.0 and total < c0
    lowest = ("the DNO's total cost C_DSO + ρ(C0 − C_DSO) has a lowest point at an optimal "
              "share ρ*, below its cost C0 without sharing",
              "yes (numbers not reproducible: no data)",
              f"ρ* = {outcome.best_share:.4f}: {money(total)} $ against C0 {money(c0)} $ "
              f"({_signed(100 * (total - c0) / c0, 1)} %)",
              "reproduced" if interior else "differs (no interior optimum on this case)")
    gains = ("the TNO also benefits at ρ*", "yes",
             f"{_signed(benefit, 2)} $ (own cost "
             f"{_signed(best.tno_cost_usd - outcome.tno_cost_alone_usd, 2)} $, payment "
             f"{money(outcome.payment_usd)} $), "
             f"{'accepted' if outcome.tno_accepted else 'refused'}",
             "reproduced" if benefit >= 0 and outcome.tno_accepted else "differs")
    return [lowest, gains, *REFERENCE_CLAIMS]


def _signed(value: float, digits: int) -> str:
    """``+7.52`` or ``−2.1`` (a true minus sign), thousands separated."""
    return f"{value:+,.{digits}f}".replace("-", "−")


def claims_markdown(outcome: ProfitSharingOutcome) -> str:
    """``report.md``: the claims table (docs/profit-sharing.md ends with the same table)."""
    lines = [f"# {outcome.scenario}: seed 000's claims", "",
             "| claim | paper | ptn | verdict |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in claims_rows(outcome)]
    return "\n".join(lines) + "\n"


def profit_sharing_summary(outcome: ProfitSharingOutcome) -> dict[str, Any]:
    """What ``summary.json`` holds."""
    best = outcome.best if outcome.evaluations else None
    summary: dict[str, Any] = {
        "scenario": outcome.scenario, "mechanism": "profit-sharing",
        "negotiation_id": outcome.negotiation_id,
        "status": str(outcome.status), "message": outcome.message, "seconds": outcome.seconds,
        "stations": list(outcome.stations), "periods": outcome.periods,
        "period_hours": outcome.period_hours,
        "original_dso_cost_usd": outcome.original_dso_cost_usd,
        "tno_cost_alone_usd": outcome.tno_cost_alone_usd,
        "best_share": outcome.best_share, "payment_usd": outcome.payment_usd,
        "tno_accepted": outcome.tno_accepted,
        "shares_negotiated": len(outcome.evaluations),
        "admm_rounds": sum(e.rounds for e in outcome.evaluations),
        "extra": dict(outcome.extra),
        "warnings": list(outcome.warnings),
    }
    if best is not None:
        total = outcome.dno_total_cost_usd(best)
        summary.update({
            "dno_total_cost_usd": total,
            "dno_saving_usd": outcome.original_dso_cost_usd - total,
            "dso_cost_at_best_usd": best.dso_cost_usd, "tno_cost_at_best_usd": best.tno_cost_usd,
            "tno_benefit_usd": outcome.tno_benefit_usd(best),
        })
    summary["evaluations"] = [
        {"share": e.share, "status": str(e.status), "rounds": e.rounds,
         "dso_cost_usd": e.dso_cost_usd, "tno_cost_usd": e.tno_cost_usd,
         "dno_total_cost_usd": outcome.dno_total_cost_usd(e),
         "tno_benefit_usd": outcome.tno_benefit_usd(e), "seconds": e.seconds}
        for e in outcome.evaluations]
    value: dict[str, Any] = json_ready(summary)
    return value


def write_profit_sharing_results(outcome: ProfitSharingOutcome, out: Path) -> list[Path]:
    """Create ``out`` and write the summary, the three tables and the three plots."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / SUMMARY_FILE]
    written[0].write_text(json.dumps(profit_sharing_summary(outcome), indent=2,
                                     allow_nan=False) + "\n", encoding="utf-8")
    written.append(out / "report.md")
    written[-1].write_text(claims_markdown(outcome), encoding="utf-8")
    written.append(write_csv(out / "shares.csv", SHARE_COLUMNS, _share_rows(outcome)))
    written.append(write_csv(out / "rounds.csv", ROUND_COLUMNS, _round_rows(outcome)))
    if outcome.evaluations:
        written.append(write_csv(out / "load_shift.csv", LOAD_SHIFT_COLUMNS,
                                 _load_shift_rows(outcome)))
        written += [_plot_dno_cost(outcome, out / "dno_cost.png"),
                    _plot_tno_benefit(outcome, out / "tno_benefit.png"),
                    plot_load_shift(outcome, out / "load_shift.png")]
    return written


def write_profit_sharing_folder(outcome: ProfitSharingOutcome, out: Path) -> list[Path]:
    """:func:`write_profit_sharing_results`, then ``index.html``."""
    written = write_profit_sharing_results(outcome, out)
    return [*written, write_index_page(Path(out))]


def result_tables(outcome: ProfitSharingOutcome) -> dict[str, pd.DataFrame]:
    """The tables of the results folder as DataFrames: ``shares``, ``rounds`` (every ADMM
    round of every share) and ``load_shift``."""
    return {"shares": pd.DataFrame(_share_rows(outcome), columns=list(SHARE_COLUMNS)),
            "rounds": pd.DataFrame(_round_rows(outcome), columns=list(ROUND_COLUMNS)),
            "load_shift": pd.DataFrame(_load_shift_rows(outcome) if outcome.evaluations else [],
                                       columns=list(LOAD_SHIFT_COLUMNS))}


def _share_rows(outcome: ProfitSharingOutcome) -> list[list[Any]]:
    return [[e.share, str(e.status), e.rounds, e.seconds, e.dso_cost_usd, e.tno_cost_usd,
             outcome.dno_total_cost_usd(e), outcome.tno_benefit_usd(e),
             e.share * (outcome.original_dso_cost_usd - e.dso_cost_usd)]
            for e in outcome.evaluations]


def _round_rows(outcome: ProfitSharingOutcome) -> list[list[Any]]:
    return [[record.stage, int(record.round), record.seconds,
             *(record.value(name) for name in ROUND_FIELDS)] for record in outcome.rounds]


def _load_shift_rows(outcome: ProfitSharingOutcome) -> list[list[Any]]:
    before, after = outcome.preschedule_load_mw, outcome.best.load_mw
    return [[station, period, before[s, period], after[s, period],
             after[s, period] - before[s, period]]
            for s, station in enumerate(outcome.stations) for period in range(outcome.periods)]


def format_profit_sharing_summary(outcome: ProfitSharingOutcome) -> str:
    """The few lines ``ptn run`` prints."""
    lines = [f"profit sharing {outcome.scenario}: {outcome.status} in {outcome.seconds:.1f} s"]
    warnings = [f"warning: {warning}" for warning in outcome.warnings]
    if not outcome.evaluations:
        return "\n".join([*lines, f"  {outcome.message}", *warnings])
    best = outcome.best
    total = outcome.dno_total_cost_usd(best)
    lines += [
        f"  prescheduling: DNO cost C0 {money(outcome.original_dso_cost_usd)} $, TNO cost "
        f"{money(outcome.tno_cost_alone_usd)} $",
        f"  best share ρ* = {outcome.best_share:.4f} ({len(outcome.evaluations)} shares "
        f"negotiated, {sum(e.rounds for e in outcome.evaluations)} ADMM rounds)",
        f"  DNO total cost {money(total)} $ (saves {money(outcome.original_dso_cost_usd - total)}"
        f" $), pays the TNO {money(outcome.payment_usd)} $",
        f"  TNO benefit {money(outcome.tno_benefit_usd(best))} $ "
        f"({'accepted' if outcome.tno_accepted else 'refused'})",
    ]
    if outcome.message:
        lines.append(f"  {outcome.message}")
    return "\n".join([*lines, *warnings])


def _curve(outcome: ProfitSharingOutcome) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
    shares = np.array([e.share for e in outcome.evaluations])
    total = np.array([outcome.dno_total_cost_usd(e) for e in outcome.evaluations])
    dispatch = np.array([e.dso_cost_usd for e in outcome.evaluations])
    benefit = np.array([outcome.tno_benefit_usd(e) for e in outcome.evaluations])
    return shares, total, dispatch, benefit


def _plot_dno_cost(outcome: ProfitSharingOutcome, path: Path) -> Path:
    figure, axes = new_figure()
    shares, total, dispatch, _ = _curve(outcome)
    axes.plot(shares, total, marker="o", markersize=3, label="DNO total cost C_DSO + ρ(C0 − C_DSO)")
    axes.plot(shares, dispatch, marker="s", markersize=3, label="DNO dispatch cost C_DSO")
    axes.axhline(outcome.original_dso_cost_usd, color="black", linestyle="--", linewidth=1,
                 label="C0 (prescheduling)")
    axes.axvline(outcome.best_share, color="tab:red", linestyle=":", linewidth=1,
                 label=f"ρ* = {outcome.best_share:.4f}")
    axes.set_xlabel("profit share ρ (–)")
    axes.set_ylabel("cost over the horizon ($)")
    axes.set_title(f"{outcome.scenario}: the DNO's cost against the share")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    return save_figure(figure, path)


def _plot_tno_benefit(outcome: ProfitSharingOutcome, path: Path) -> Path:
    figure, axes = new_figure()
    shares, _, _, benefit = _curve(outcome)
    axes.plot(shares, benefit, marker="o", markersize=3, color="tab:green")
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.axvline(outcome.best_share, color="tab:red", linestyle=":", linewidth=1,
                 label=f"ρ* = {outcome.best_share:.4f}")
    axes.set_xlabel("profit share ρ (–)")
    axes.set_ylabel("TNO benefit over planning alone ($)")
    axes.set_title(f"{outcome.scenario}: the TNO's benefit against the share")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    return save_figure(figure, path)


def plot_load_shift(outcome: ProfitSharingOutcome, path: Path) -> Path:
    """:func:`load_shift_figure` as PNG."""
    return save_figure(load_shift_figure(outcome), path)


def load_shift_figure(outcome: ProfitSharingOutcome) -> Figure:
    """One panel per station: its load in each period as two bars, prescheduled and at ρ*
    (MW over the period; x: the period's start in hours), so no period is a line's end
    point."""
    stations = len(outcome.stations)
    figure = Figure(figsize=(7.0, 1.6 * stations + 1.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(stations, 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    hours = np.arange(outcome.periods) * outcome.period_hours
    width = 0.4 * outcome.period_hours
    before, after = outcome.preschedule_load_mw, outcome.best.load_mw
    for s, axes in enumerate(grid):
        axes.bar(hours, before[s], width=width, align="edge", color="C7",
                 label="prescheduled (no sharing)")
        axes.bar(hours + width, after[s], width=width, align="edge", color="C0",
                 label=f"at ρ* = {outcome.best_share:.4f}")
        axes.set_title(outcome.stations[s], fontsize="medium", loc="left")
        axes.set_ylabel("load (MW)")
        axes.grid(True, axis="y", alpha=0.3)
    grid[-1].set_xlabel("period start (h)")
    grid[-1].set_xticks(hours[tick_positions(outcome.periods, 12)])
    grid[-1].set_xlim(0, outcome.periods * outcome.period_hours)
    figure.suptitle(f"{outcome.scenario}: station loads before and after profit sharing")
    handles, labels = grid[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small")
    return figure
