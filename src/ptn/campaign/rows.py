"""One campaign row from a trial's ``summary.json``: the same outputs whatever the mechanism.

Why this module exists: the mechanisms' summaries differ (ADMM's agreed, baseline and
centralized costs; the pricing game's variants with their ε certificates; profit sharing's DNO
costs), while a campaign table needs one column per output to plot and compare. Every output
missing for a mechanism is NaN (never a guess).
"""

from __future__ import annotations

import math
from typing import Any

#: the outputs of a row, each with its unit (the plots' axis labels); ``seconds`` is the
#: negotiation's (its summary's), ``trial_seconds`` the trial's wall clock (operators started,
#: reference solved, results written)
OUTPUTS = {
    "rounds": "rounds",
    "seconds": "s",
    "trial_seconds": "s",
    "agreed_cost_usd": "$",
    "baseline_cost_usd": "$",
    "reference_cost_usd": "$",
    "gap": "relative",
    "saving_usd": "$",
    "saving_relative": "relative",
    "epsilon_usd": "$",
}
#: the outputs the standard plots draw against each varied parameter
PLOTTED = ("saving_usd", "rounds", "seconds", "gap", "epsilon_usd")


def number(value: Any) -> float:
    """A summary value as a float (None and non-numbers: NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def total(point: Any) -> float:
    return number(point.get("total")) if isinstance(point, dict) else math.nan


def outputs(summary: dict[str, Any]) -> dict[str, float]:
    """The row's outputs from a trial's summary (see :data:`OUTPUTS`)."""
    row = {name: math.nan for name in OUTPUTS}
    row["seconds"] = number(summary.get("seconds"))
    if "agreed" in summary:  # admm, joint
        saving = summary.get("saving_vs_baseline") or {}
        row.update(rounds=number(summary.get("rounds")),
                   agreed_cost_usd=total(summary.get("agreed")),
                   baseline_cost_usd=total(summary.get("baseline")),
                   reference_cost_usd=total(summary.get("centralized")),
                   gap=number(summary.get("gap_to_centralized")),
                   saving_usd=number(saving.get("absolute")),
                   saving_relative=number(saving.get("relative")))
    elif "variants" in summary:  # the pricing game: rounds over its variants, the worst ε;
        # each variant's own as extra columns (rounds_nash, epsilon_usd_cooperative, ...)
        variants = summary["variants"]
        row["rounds"] = float(sum(v.get("rounds", 0) for v in variants.values()))
        for name, variant in variants.items():
            row[f"rounds_{name}"] = number(variant.get("rounds"))
            row[f"epsilon_usd_{name}"] = number(variant.get("certificate", {})
                                                .get("epsilon_usd"))
        finite = [row[f"epsilon_usd_{name}"] for name in variants
                  if math.isfinite(row[f"epsilon_usd_{name}"])]
        row["epsilon_usd"] = max(finite) if finite else math.nan
    elif "original_dso_cost_usd" in summary:  # profit sharing: the DNO's view
        row.update(rounds=number(summary.get("admm_rounds")),
                   agreed_cost_usd=number(summary.get("dno_total_cost_usd")),
                   baseline_cost_usd=number(summary.get("original_dso_cost_usd")),
                   saving_usd=number(summary.get("dno_saving_usd")))
        if math.isfinite(row["saving_usd"]) and row["baseline_cost_usd"]:
            row["saving_relative"] = row["saving_usd"] / abs(row["baseline_cost_usd"])
    return row


def nodes(placement: dict[str, Any] | None) -> tuple[str, str]:
    """The Ray node ids and hosts the trial's operators ran on (``;``-separated, sorted;
    empty off Ray)."""
    operators = (placement or {}).get("operators") or {}
    ids = sorted({str(node.get("node_id", "")) for node in operators.values()} - {""})
    hosts = sorted({str(node.get("host", "")) for node in operators.values()} - {""})
    return ";".join(ids), ";".join(hosts)
