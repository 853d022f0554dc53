"""Seed 003's claims table (claim | paper | ptn | verdict), generated from a study's summary.

Why this module exists: docs/seed003.md ends with one table setting each of seed 003's claims
(Sadhu et al. 2022) beside what ptn measures and a verdict; the study's ``report.md`` carries
the same table, built here from the run's own numbers so the results folder says what matches
and why the rest differs. Verdicts: reproduced / reproduced in direction / differs (why) /
not checkable (why).
"""

from __future__ import annotations

import math
from typing import Any

from ptn.lab.studies.seed003_costs import PAPER_BASELINE_COST, PAPER_SYSTEM_COST

#: seed 003's figures the table cites
PAPER_SAVING_PERCENT = 100.0 * (PAPER_BASELINE_COST - PAPER_SYSTEM_COST) / PAPER_BASELINE_COST
PAPER_HOSTING_GAIN_PERCENT = 45.0
PAPER_LARGEST_CONGESTION_FACTOR = 1.834
#: the paper's stressed hours (from, to) of its 24-hour day
PAPER_STRESSED_HOURS = ((7, 9), (17, 19))
PAPER_STRESSED_PERIODS = 24
#: a hosting gain within this many points of the paper's counts as reproduced
HOSTING_GAIN_BAND_POINTS = 10.0

Claim = tuple[str, str, str, str]


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _row(summary: dict[str, Any], key: str, operation: str) -> dict[str, Any]:
    return next((row for row in summary.get(key, []) if row.get("operation") == operation), {})


def cost_claims(summary: dict[str, Any]) -> list[Claim]:
    """The 36.42 % saving: on the paper's cost terms, and under the paper's accounting."""
    claims: list[Claim] = []
    saving = _row(summary, "paper_cost_savings", "negotiated")
    on_terms = _number(saving.get("paper_objective_saving_percent"))
    social = _number(saving.get("social_cost_saving_percent"))
    claims.append((
        "coordination lowers the total cost by 36.42 % (5,470.67 against 8,604.67 €/h)",
        f"{PAPER_SAVING_PERCENT:.2f} %",
        f"{on_terms:.3g} % on the paper's terms (EV travel + charging bill + feeder), "
        f"{social:.3g} % without the bill",
        "differs: the 36.42 % compares two accountings of one operation (next row), not two "
        "operations; moving a few hundred EVs between two stations changes little"))
    negotiated = _row(summary, "paper_costs", "negotiated")
    accounting = summary.get("paper_table2_accounting", {})
    claims.append((
        "the paper's accounting: saving = TN + PDN − (PDN + 250.28) = the charging bill",
        f"{_number(accounting.get('saving')):,.2f} €/h "
        f"({_number(accounting.get('saving_percent')):.2f} %)",
        f"{_number(negotiated.get('paper_accounting_saving_usd')):,.2f} $ a day "
        f"({_number(negotiated.get('paper_accounting_saving_percent')):.2f} %) at the "
        f"negotiated operation",
        "reproduced (the accounting: Table 2 is consistent with it to the cent); its size "
        "is the bill's share of the costs, here far below the paper's"))
    return claims


def hosting_claims(summary: dict[str, Any]) -> list[Claim]:
    """The +45 % EV penetration and the 0.1–0.3 % voltage deviation."""
    hosting = summary.get("hosting", {})
    gain = _number(hosting.get("gain_percent"))
    periods = summary.get("periods", "?")
    if not math.isfinite(gain):
        verdict = "not checkable (the hosting search did not finish: see hosting.csv)"
    elif abs(gain - PAPER_HOSTING_GAIN_PERCENT) <= HOSTING_GAIN_BAND_POINTS:
        verdict = "reproduced (within 10 points; the EV scale is ours, the paper's unpublished)"
    elif gain > 0:
        verdict = ("reproduced in direction (the gain depends on the horizon's resolution: "
                   "docs/seed003.md)")
    else:
        verdict = "differs (coordination hosts no more EVs here)"
    claims: list[Claim] = [(
        "coordination hosts 45 % more EV penetration", f"+{PAPER_HOSTING_GAIN_PERCENT:.0f} %",
        f"{gain:+.1f} % ({periods} periods)", verdict)]
    drop = _number(summary.get("voltages", {}).get("after", {})
                   .get("max_voltage_drop_by_evs_percent"))
    claims.append((
        "voltage magnitudes deviate by 0.1–0.3 %", "0.1–0.3 %",
        f"{drop:.2f} % (largest drop the EVs cause, after coordination)",
        "reproduced" if 0.1 <= drop <= 0.3 else
        "differs (the drop scales with the EV load, which the paper does not publish)"))
    return claims


def voltage_claims(summary: dict[str, Any]) -> list[Claim]:
    """The heatmap's stressed buses and their relief."""
    voltages = summary.get("voltages", {})
    before, after = voltages.get("before", {}), voltages.get("after", {})
    difference = summary.get("voltage_difference", {})
    rise, fall = _number(difference.get("max_pu")), _number(difference.get("min_pu"))
    low_before = _number(before.get("voltage_min_pu"))
    low_after = _number(after.get("voltage_min_pu"))
    claims: list[Claim] = [(
        "the stressed buses are 16 and 6", "buses 16, 6",
        f"bus {before.get('worst_bus', '?')} (lowest voltage {low_before:.4f} p.u.)",
        "differs (the paper's radial layout of the 30-bus system is unpublished; in ours the "
        "weak point is bus 30, at the end of the branch that also feeds CS1's bus 7)")]
    modes = {row.get("operation"): row for row in summary.get("hosting", {}).get("modes", [])}
    at_band = str(modes.get("coordinated", {}).get("periods_at_band", ""))
    hours = [int(t) for t in at_band.split(";") if t.strip().isdigit()]
    if hours and summary.get("periods") == PAPER_STRESSED_PERIODS:
        inside = all(any(low <= t < high for low, high in PAPER_STRESSED_HOURS) for t in hours)
        claims.append((
            "the stress is highest at 7–9 h and 17–19 h", "7–9 h, 17–19 h",
            "hours at the band at the coordinated capacity: "
            + ", ".join(f"{t}–{t + 1} h" for t in hours),
            "reproduced (the EV and load peaks coincide there)" if inside
            else "reproduced in direction (some binding hours outside the paper's)"))
    up = difference.get("periods_lowest_voltage_up")
    down = difference.get("periods_lowest_voltage_down")
    if math.isfinite(rise) and up is not None and down is not None:
        claims.append((
            "optimization relieves the stressed buses (Fig. 4)", "relieved",
            f"the lowest voltage rises in {up} of {difference.get('periods')} periods and "
            f"falls in {down} (day's lowest {low_before:.4f} → {low_after:.4f} p.u.); after − "
            f"before from {100 * fall:+.3f} % (bus {difference.get('min_bus')}) to "
            f"{100 * rise:+.3f} % (bus {difference.get('max_bus')})",
            "reproduced in direction (coordination moves charging from the weak side to the "
            "strong side; small changes at this EV level)" if up > 0 and down == 0
            else "differs (coordination lowers the lowest voltage in some periods)" if down
            else "differs (no period's lowest voltage rises)"))
    return claims


def traffic_claims(summary: dict[str, Any]) -> list[Claim]:
    """Table 3 and the convergence."""
    table3 = summary.get("table3", {})
    negotiation = summary.get("negotiation", {})
    factor = _number(table3.get("max_congestion_factor"))
    return [
        ("Table 3: equilibrium flows and congestion factors (largest 1.834)",
         f"largest factor {PAPER_LARGEST_CONGESTION_FACTOR}",
         f"largest factor {factor:.3f}; flows within "
         f"{_number(table3.get('max_abs_flow_difference_to_best_known')):.3g} veh/h of the "
         f"TNTP best-known (the EVs' detours to the stations)",
         "not checkable row by row (the paper's arcs are not Sioux Falls links, three of its "
         "capacities are no link's); without EVs ptn's flows are the TNTP best-known ones "
         "(within 0.5 veh/h, tests)"),
        ("the joint problem is solved (13 solver iterations)", "13 iterations",
         f"ADMM {negotiation.get('status', '?')} in {negotiation.get('rounds', '?')} rounds, "
         f"gap to the centralized optimum {_number(negotiation.get('gap_to_centralized')):.1e}",
         "reproduced (the optimum, privately; the paper's 13 are a central solver's "
         "iterations, not comparable)"),
    ]


def claims_table(summary: dict[str, Any]) -> list[str]:
    """The Markdown table of every claim."""
    claims = (cost_claims(summary) + hosting_claims(summary) + voltage_claims(summary)
              + traffic_claims(summary))
    lines = ["| claim | paper | ptn | verdict |", "|---|---|---|---|"]
    lines += [f"| {claim} | {paper} | {ptn} | {verdict} |"
              for claim, paper, ptn, verdict in claims]
    return lines
