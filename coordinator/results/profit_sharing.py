"""The results folder of the profit-sharing experiment (seed 000) and its terminal summary.

Why this module exists: the issue's outputs for Game B — the DNO's total cost and the TNO's
benefit against the share ρ, the chosen ρ*, the load shift per station and period — have to be
files a researcher opens without ptn. Only what the coordinator saw goes here. Files:

* ``summary.json``: C0, the TNO's cost alone, ρ*, the DNO's total cost and saving at ρ*, the
  TNO's benefit and payment, whether it accepted, every share negotiated, timings; plus the
  full-information references when the experiment computed them (``extra``). NaN → null.
* ``shares.csv``: one row per share negotiated: share, status, rounds, seconds, dso_cost_usd,
  tno_cost_usd, dno_total_cost_usd, tno_benefit_usd, payment_usd.
* ``load_shift.csv``: station, period, preschedule_load_mw, rescheduled_load_mw (at ρ*),
  shift_mw.
* ``dno_cost.png`` (the DNO's total cost and its dispatch cost against ρ, C0 and ρ* marked),
  ``tno_benefit.png`` (the TNO's benefit against ρ), ``load_shift.png`` (station loads per
  period, prescheduled and at ρ*).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome
from ptn.coordinator.results.negotiation import _cell, _json_ready, _money
from ptn.figures import new_figure, save_figure

SHARE_COLUMNS = ("share", "status", "rounds", "seconds", "dso_cost_usd", "tno_cost_usd",
                 "dno_total_cost_usd", "tno_benefit_usd", "payment_usd")


def profit_sharing_summary(outcome: ProfitSharingOutcome) -> dict[str, Any]:
    """What ``summary.json`` holds."""
    best = outcome.best if outcome.evaluations else None
    summary: dict[str, Any] = {
        "scenario": outcome.scenario, "mechanism": "profit-sharing",
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
    value: dict[str, Any] = _json_ready(summary)
    return value


def write_profit_sharing_results(outcome: ProfitSharingOutcome, out: Path) -> list[Path]:
    """Create ``out`` and write the summary, the two tables and the three plots."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.json"]
    written[0].write_text(json.dumps(profit_sharing_summary(outcome), indent=2,
                                     allow_nan=False) + "\n", encoding="utf-8")
    with (out / "shares.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SHARE_COLUMNS)
        for e in outcome.evaluations:
            saving = outcome.original_dso_cost_usd - e.dso_cost_usd
            writer.writerow([_cell(e.share), str(e.status), e.rounds, _cell(e.seconds),
                             _cell(e.dso_cost_usd), _cell(e.tno_cost_usd),
                             _cell(outcome.dno_total_cost_usd(e)),
                             _cell(outcome.tno_benefit_usd(e)), _cell(e.share * saving)])
    written.append(out / "shares.csv")
    if outcome.evaluations:
        written.append(_write_load_shift(outcome, out / "load_shift.csv"))
        written += [_plot_dno_cost(outcome, out / "dno_cost.png"),
                    _plot_tno_benefit(outcome, out / "tno_benefit.png"),
                    _plot_load_shift(outcome, out / "load_shift.png")]
    return written


def format_profit_sharing_summary(outcome: ProfitSharingOutcome) -> str:
    """The few lines ``ptn run`` prints."""
    lines = [f"profit sharing {outcome.scenario}: {outcome.status} in {outcome.seconds:.1f} s"]
    if not outcome.evaluations:
        return "\n".join([*lines, f"  {outcome.message}"])
    best = outcome.best
    total = outcome.dno_total_cost_usd(best)
    lines += [
        f"  prescheduling: DNO cost C0 {_money(outcome.original_dso_cost_usd)} $, TNO cost "
        f"{_money(outcome.tno_cost_alone_usd)} $",
        f"  best share ρ* = {outcome.best_share:.4f} ({len(outcome.evaluations)} shares "
        f"negotiated, {sum(e.rounds for e in outcome.evaluations)} ADMM rounds)",
        f"  DNO total cost {_money(total)} $ (saves {_money(outcome.original_dso_cost_usd - total)}"
        f" $), pays the TNO {_money(outcome.payment_usd)} $",
        f"  TNO benefit {_money(outcome.tno_benefit_usd(best))} $ "
        f"({'accepted' if outcome.tno_accepted else 'refused'})",
    ]
    if outcome.message:
        lines.append(f"  {outcome.message}")
    return "\n".join(lines)


def _write_load_shift(outcome: ProfitSharingOutcome, path: Path) -> Path:
    before, after = outcome.preschedule_load_mw, outcome.best.load_mw
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("station", "period", "preschedule_load_mw", "rescheduled_load_mw",
                         "shift_mw"))
        for s, station in enumerate(outcome.stations):
            for t in range(outcome.periods):
                writer.writerow([station, t, _cell(before[s, t]), _cell(after[s, t]),
                                 _cell(after[s, t] - before[s, t])])
    return path


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


def _plot_load_shift(outcome: ProfitSharingOutcome, path: Path) -> Path:
    figure, axes = new_figure()
    periods = np.arange(outcome.periods)
    colours = [f"C{k}" for k in range(len(outcome.stations))]
    for s, station in enumerate(outcome.stations):
        axes.step(periods, outcome.preschedule_load_mw[s], where="post", color=colours[s],
                  linestyle="--", linewidth=1, label=f"{station} prescheduled")
        axes.step(periods, outcome.best.load_mw[s], where="post", color=colours[s],
                  label=f"{station} at ρ*")
    axes.set_xlabel("period")
    axes.set_ylabel("station load (MW)")
    axes.set_title(f"{outcome.scenario}: load shift at ρ* = {outcome.best_share:.4f}")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small", ncol=2)
    return save_figure(figure, path)
