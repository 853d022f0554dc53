"""The results folder of the pricing game (seed 001's §4) and its terminal summary.

Why this module exists: a pricing game (:mod:`ptn.coordinator.mechanisms.pricing_game`) ends with
several variants, an ε-Nash certificate per variant and a revenue matrix; a researcher needs them in
files opened without ptn (JSON, CSV, Markdown, PNG) that reproduce the paper's Figures 5–7 and
Tables 4–5, and in a few lines on the terminal. Only what the coordinator saw goes here. Files
written (rounds as numbered in the outcome, periods from 0; a cell is empty and a JSON value
``null`` when the value is absent or not finite):

* ``summary.json``: the game's identity and status; per variant its status, rounds, converged
  round, final mean prices, revenues by party (end, start, relative change in %; the start is
  the last trial round, so the change depends on the trial draw, the end does not), the CNOs'
  member revenues, the certificate (per CNO revenue, best revenue, gain $ and %; ε); the
  revenue matrix (profiles → revenues, and its four flags); the claims table's rows.
* ``rounds.csv``: one row per variant and round: relative changes, mean prices, total load
  (the sum of every station's load over the periods, MW), probes, each party's revenue.
* ``prices.csv``: variant, round, station, period, the DSO's and the CNOs' prices, the load.
* ``revenue_matrix.csv`` (with a revenue matrix): one row per profile, each CNO's choice and
  revenue.
* ``comparison.md``: the equilibrium, non-cooperative vs cooperative (Table 5); apart from it,
  the revenue changes from the last trial round (seed 001's Figure 7 percentages, which depend
  on the DSO's random trial prices); AEM's equilibrium against the exact search per CNO (the
  ε-Nash certificate: seed 001's Table 3 check); the revenue matrix (Table 4) and the
  prisoner's-dilemma verdict; and the claims table ``| claim | paper | ptn | verdict |`` of
  seed 001 (:func:`seed001_claims`), as ``docs/pricing-game.md`` ends with.
* per variant: ``convergence-<variant>.png`` (Fig. 5), ``mean_prices-<variant>.png``
  (Fig. 6), ``revenues-<variant>.png`` (Fig. 7); with ``paper_names`` (as
  :func:`write_game_folder` writes them) named after the seed-001 paper's figure they
  reproduce: ``fig5_convergence-<variant>.png``, ``fig6_mean_prices-<variant>.png``,
  ``fig7_revenues-<variant>.png`` (:data:`PAPER_FIGURES`).

:func:`write_game_folder` also writes ``index.html`` (:mod:`ptn.coordinator.results.index_page`).

Means of prices are plain means over stations × periods; energies are Σ load·Δt.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ptn.coordinator.mechanisms.pricing_game import PricingGameOutcome, RevenueMatrix, VariantResult
from ptn.coordinator.mechanisms.revenue_profiles import ALL_PROFILES
from ptn.coordinator.outcome import FloatArray, RoundRecord
from ptn.coordinator.results.formatting import json_ready, money, write_csv
from ptn.coordinator.results.index_page import SUMMARY_FILE, write_index_page
from ptn.coordinator.results.plots import note, positive
from ptn.figures import new_figure, save_figure

ROUNDS_FILE = "rounds.csv"
PRICES_FILE = "prices.csv"
MATRIX_FILE = "revenue_matrix.csv"
COMPARISON_FILE = "comparison.md"
ROUND_COLUMNS = (
    "variant", "round", "trial", "seconds", "dso_price_change", "charging_price_change",
    "load_change", "mean_dso_price_per_mwh", "mean_charging_price_per_mwh", "total_load_mw",
    "probes",
)
PRICE_COLUMNS = (
    "variant", "round", "station", "period", "dso_price_per_mwh", "charging_price_per_mwh",
    "load_mw",
)
#: the relative changes of Fig. 5: value key → legend label
CHANGES = {
    "dso_price_change": "Δλ (DSO prices)",
    "charging_price_change": "Δα (charging prices)",
    "load_change": "Δx (station loads)",
}
VARIANT_LABELS = {"nash": "non-cooperative", "cooperative": "cooperative"}
#: the figure of seed 001 (the DSO&CNOs pricing paper, Front. Energy Res. 2024) each plot reproduces
PAPER_FIGURES = {"convergence": 5, "mean_prices": 6, "revenues": 7}
_DSO_SERIES = "dso_price_per_mwh"


def figure_name(kind: str, variant: str, *, paper_names: bool = False) -> str:
    """A per-variant figure's file name: ``<kind>-<variant>.png``, with ``paper_names``
    prefixed by the paper's figure (``fig5_convergence-nash.png``)."""
    prefix = f"fig{PAPER_FIGURES[kind]}_" if paper_names else ""
    return f"{prefix}{kind}-{variant}.png"


def write_game_folder(outcome: PricingGameOutcome, folder: Path, *,
                      tolerance: float | None = None,
                      dso_price_cap_per_mwh: float | None = None) -> list[Path]:
    """:func:`write_game_results` with the figures named after the paper's, then
    ``index.html``."""
    written = write_game_results(outcome, folder, tolerance=tolerance,
                                 dso_price_cap_per_mwh=dso_price_cap_per_mwh, paper_names=True)
    return [*written, write_index_page(Path(folder))]


def write_game_results(outcome: PricingGameOutcome, folder: Path, *,
                       tolerance: float | None = None,
                       dso_price_cap_per_mwh: float | None = None,
                       paper_names: bool = False) -> list[Path]:
    """Create ``folder`` (and parents) and write the files listed in the module docstring.

    ``tolerance`` (the stop test's relative change) draws a line on the convergence plots and
    ``dso_price_cap_per_mwh`` (the DSO's cap on its time-average price) one on the price plots;
    neither is in the outcome, the caller passes them when it knows them; ``paper_names``
    names the figures after the paper's (:func:`figure_name`). Returns the paths
    written; existing files of the same names are replaced.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary_path = folder / SUMMARY_FILE
    summary_path.write_text(json.dumps(game_summary(outcome), indent=2, allow_nan=False) + "\n",
                            encoding="utf-8")
    paths = [summary_path,
             write_csv(folder / ROUNDS_FILE, _round_columns(outcome), _round_rows(outcome)),
             write_csv(folder / PRICES_FILE, PRICE_COLUMNS, _price_rows(outcome))]
    if outcome.revenue_matrix is not None:
        paths.append(write_csv(folder / MATRIX_FILE, *_matrix_rows(outcome.revenue_matrix)))
    comparison_path = folder / COMPARISON_FILE
    comparison_path.write_text(format_comparison(outcome), encoding="utf-8")
    paths.append(comparison_path)
    for name, variant in outcome.variants.items():
        def path(kind: str, variant_name: str = name) -> Path:
            return folder / figure_name(kind, variant_name, paper_names=paper_names)

        paths += [
            plot_game_convergence(variant, path("convergence"), tolerance),
            plot_mean_prices(variant, path("mean_prices"), dso_price_cap_per_mwh),
            plot_revenues(variant, path("revenues")),
        ]
    return paths


# ------------------------------------------------------------------ summary.json
def game_summary(outcome: PricingGameOutcome) -> dict[str, Any]:
    """The content of ``summary.json`` as JSON-native values (NaN and infinities as None)."""
    summary: dict[str, Any] = {
        "scenario": outcome.scenario,
        "mechanism": "best-response",
        "negotiation_id": outcome.negotiation_id,
        "status": outcome.status.value,
        "converged": outcome.converged,
        "message": outcome.message,
        "seconds": float(outcome.seconds),
        "stations": list(outcome.stations),
        "periods": int(outcome.periods),
        "period_hours": float(outcome.period_hours),
        "variants": {name: _variant_summary(variant, outcome.period_hours)
                     for name, variant in outcome.variants.items()},
        "revenue_matrix": (None if outcome.revenue_matrix is None
                           else _matrix_summary(outcome.revenue_matrix)),
        "warnings": list(outcome.warnings),
        "claims": [claim.__dict__ for claim in seed001_claims(outcome)],
    }
    if outcome.privacy:
        summary["privacy"] = outcome.privacy
    return dict(json_ready(summary))


def _variant_summary(variant: VariantResult, period_hours: float) -> dict[str, Any]:
    rounds = variant.outcome.rounds
    revenues = {
        party: {"end": end, "start": start, "change_percent": _change_percent(end, start)}
        for party, end, start in (
            (party, variant.revenue_usd[party], variant.start_revenue_usd.get(party, math.nan))
            for party in variant.revenue_usd)
    }
    certificate = {
        cno: {"revenue_usd": entry.revenue_usd, "best_revenue_usd": entry.best_revenue_usd,
              "gain_usd": entry.gain_usd,
              "gain_percent": _ratio_percent(entry.gain_usd, entry.revenue_usd),
              "probes": entry.probes, "batches": entry.batches}
        for cno, entry in variant.certificate.items()
    }
    return {
        "status": variant.outcome.status.value,
        "message": variant.outcome.message,
        "negotiation_id": variant.outcome.negotiation_id,
        "rounds": len(rounds),
        "trial_rounds": sum(1 for record in rounds if _is_trial(record)),
        "converged_round": rounds[-1].round if rounds and variant.outcome.converged else None,
        "seconds": float(variant.outcome.seconds),
        "cnos": {cno: list(stations) for cno, stations in variant.cnos.items()},
        "final": {
            "mean_dso_price_per_mwh": _mean(variant.dso_price_per_mwh),
            "mean_charging_price_per_mwh": _mean(variant.charging_price_per_mwh),
            "total_charging_energy_mwh": _energy_mwh(variant.load_mw, period_hours),
        },
        "revenue_usd": revenues,
        "member_revenue_usd": dict(variant.member_revenue_usd),
        "certificate": {"cnos": certificate, "epsilon_usd": variant.epsilon_usd},
    }


def _matrix_summary(matrix: RevenueMatrix) -> dict[str, Any]:
    return {
        "cnos": list(matrix.cnos),
        "selection": matrix.selection,
        "profiles": [
            {"choices": dict(zip(matrix.cnos, profile, strict=True)),
             "revenue_usd": {cno: matrix.revenue_usd[profile].get(cno, math.nan)
                             for cno in matrix.cnos}}
            for profile in matrix.profiles
        ],
        "nash_is_stable": matrix.nash_is_stable,
        "cooperation_dominates": matrix.cooperation_dominates,
        "cooperation_is_unstable": matrix.cooperation_is_unstable,
        "prisoners_dilemma": matrix.prisoners_dilemma,
    }


# ------------------------------------------------------------------ CSV tables
def result_tables(outcome: PricingGameOutcome) -> dict[str, pd.DataFrame]:
    """The tables of the results folder as DataFrames: ``rounds``, ``prices`` and (with a
    revenue matrix) ``revenue_matrix``."""
    tables = {"rounds": pd.DataFrame(_round_rows(outcome), columns=_round_columns(outcome)),
              "prices": pd.DataFrame(_price_rows(outcome), columns=list(PRICE_COLUMNS))}
    if outcome.revenue_matrix is not None:
        columns, rows = _matrix_rows(outcome.revenue_matrix)
        tables["revenue_matrix"] = pd.DataFrame(rows, columns=columns)
    return tables


def _round_columns(outcome: PricingGameOutcome) -> list[str]:
    return [*ROUND_COLUMNS, *[f"revenue_{party}_usd" for party in _parties(outcome)]]


def _round_rows(outcome: PricingGameOutcome) -> list[list[Any]]:
    parties = _parties(outcome)
    rows = []
    for name, variant in outcome.variants.items():
        for record in variant.outcome.rounds:
            values = record.values
            load = _round_load(record)
            rows.append([
                name, int(record.round), int(_is_trial(record)), record.seconds,
                *[values.get(key, math.nan) for key in CHANGES],
                _mean(record.series.get(_DSO_SERIES)), _mean(record.price_per_mwh),
                math.nan if load is None else float(np.sum(load)),
                values.get("probes", math.nan),
                *[values.get(f"revenue_{party}_usd", math.nan) for party in parties],
            ])
    return rows


def _price_rows(outcome: PricingGameOutcome) -> list[list[Any]]:
    shape = (len(outcome.stations), outcome.periods)
    nothing = np.full(shape, np.nan)
    rows = []
    for name, variant in outcome.variants.items():
        for record in variant.outcome.rounds:
            dso = _shaped(record.series.get(_DSO_SERIES), shape, nothing)
            charging = _shaped(record.price_per_mwh, shape, nothing)
            load = _shaped(_round_load(record), shape, nothing)
            rows += [[name, int(record.round), station, period, float(dso[index, period]),
                      float(charging[index, period]), float(load[index, period])]
                     for index, station in enumerate(outcome.stations)
                     for period in range(outcome.periods)]
    return rows


def _matrix_rows(matrix: RevenueMatrix) -> tuple[list[str], list[list[Any]]]:
    columns = [*[f"choice_{cno}" for cno in matrix.cnos],
               *[f"revenue_{cno}_usd" for cno in matrix.cnos]]
    rows = [[*profile, *[matrix.revenue_usd[profile].get(cno, math.nan) for cno in matrix.cnos]]
            for profile in matrix.profiles]
    return columns, rows


# ------------------------------------------------------------------ comparison.md
def format_comparison(outcome: PricingGameOutcome) -> str:
    """``comparison.md``: the variants side by side (Table 5) and the revenue matrix (Table 4)."""
    lines = [f"# Pricing game {outcome.scenario}: {outcome.status.value}", ""]
    if outcome.message:
        lines += [f"Message: {outcome.message}", ""]
    variants = outcome.variants
    if variants:
        lines += ["## Equilibrium: non-cooperative vs cooperative game", "",
                  "Where the game ended; it does not depend on the DSO's random trial prices.",
                  "", *_comparison_table(outcome), "",
                  "## Changes from the last trial round", "",
                  "Seed 001's Figure 7 percentages: from the DSO's last random trial quote "
                  "(its \"iteration 0\") to the equilibrium. They depend on the trial draw "
                  "(`trial_price_min_per_mwh`, `trial_price_max_per_mwh`, `seed` of "
                  "`[dso.pricing]`).", "", *_trial_change_table(outcome), ""]
        certified = [v for v in variants.values() if v.certificate]
        if certified:
            lines += ["## AEM's equilibrium against the exact search", "",
                      "Each CNO's revenue where the game ended (AEM best responses) and its "
                      "exact best response against everyone else's final prices (a "
                      "derivative-free search; seed 001's Table 3 compares the AEM equilibrium "
                      "with a GA's).", "", *_certificate_table(certified), ""]
    else:
        lines += ["No variant finished.", ""]
    matrix = outcome.revenue_matrix
    if matrix is not None:
        lines += ["## Revenue matrix of the CNOs ($)", "",
                  "DSO prices fixed at the non-cooperative outcome; each CNO plays its Nash "
                  "prices or its share of the alliance's (cooperative) prices.", "",
                  *([] if matrix.selection == ALL_PROFILES else
                    [f"Profiles evaluated: {matrix.selection}.", ""]),
                  *_matrix_table(matrix), "", _verdict(matrix), ""]
    lines += ["## Seed 001's claims", "", *format_claims(seed001_claims(outcome)), ""]
    return "\n".join(lines)


def _trial_change_table(outcome: PricingGameOutcome) -> list[str]:
    table = [_md_row(["game", "party", "last trial round ($)", "equilibrium ($)", "change"]),
             _md_row(["---", "---", "---:", "---:", "---:"])]
    for name, variant in outcome.variants.items():
        for party, end in variant.revenue_usd.items():
            start = variant.start_revenue_usd.get(party, math.nan)
            table.append(_md_row([VARIANT_LABELS.get(name, name), party, _format(start, "money"),
                                  _format(end, "money"),
                                  _percent(_change_percent(end, start))]))
    return table


def _certificate_table(variants: list[VariantResult]) -> list[str]:
    table = [_md_row(["game", "CNO", "AEM equilibrium revenue ($)", "exact best response ($)",
                      "AEM below exact", "probes"]),
             _md_row(["---", "---", "---:", "---:", "---:", "---:"])]
    for variant in variants:
        for cno, entry in variant.certificate.items():
            table.append(_md_row([
                VARIANT_LABELS.get(variant.variant, variant.variant), cno,
                money(entry.revenue_usd), money(entry.best_revenue_usd),
                f"{_ratio_percent(entry.gain_usd, entry.best_revenue_usd):.3f} %",
                str(entry.probes)]))
    return table


def _comparison_table(outcome: PricingGameOutcome) -> list[str]:
    variants = list(outcome.variants.values())
    members = _member_cnos(outcome)
    rows: list[tuple[str, list[float], str]] = [
        ("DSO revenue ($)", [v.revenue_usd.get("dso", math.nan) for v in variants], "money")]
    rows += [(f"{cno} revenue ($)",
              [v.member_revenue_usd.get(cno, v.revenue_usd.get(cno, math.nan)) for v in variants],
              "money") for cno in members]
    rows += [
        ("total CNO revenue ($)", [_total_cno_revenue(v) for v in variants], "money"),
        ("mean charging price ($/MWh)", [_mean(v.charging_price_per_mwh) for v in variants],
         "price"),
        ("mean DSO price ($/MWh)", [_mean(v.dso_price_per_mwh) for v in variants], "price"),
        ("total charging energy (MWh)",
         [_energy_mwh(v.load_mw, outcome.period_hours) for v in variants], "energy"),
        ("rounds", [float(len(v.outcome.rounds)) for v in variants], "count"),
        ("ε of the ε-Nash certificate ($)", [v.epsilon_usd for v in variants], "epsilon"),
    ]
    both = {"nash", "cooperative"} <= set(outcome.variants)
    labels = [VARIANT_LABELS.get(name, name) for name in outcome.variants]
    header = ["", *labels] + (["change"] if both else [])
    table = [_md_row(header), _md_row(["---", *["---:"] * (len(header) - 1)])]
    names = list(outcome.variants)
    for label, values, kind in rows:
        cells = [label, *[_format(value, kind) for value in values]]
        if both:
            nash, cooperative = (values[names.index(n)] for n in ("nash", "cooperative"))
            cells.append("" if kind in ("count", "epsilon")
                         else _percent(_change_percent(cooperative, nash)))
        table.append(_md_row(cells))
    return table


def _matrix_table(matrix: RevenueMatrix) -> list[str]:
    cnos = matrix.cnos
    if len(cnos) == 2:
        choices = ("nash", "cooperative")
        table = [_md_row([f"{cnos[0]} \\ {cnos[1]}", *choices]),
                 _md_row(["---", *["---:"] * len(choices)])]
        for first in choices:
            cells = []
            for second in choices:
                revenue = matrix.revenue_usd.get((first, second))
                cells.append("—" if revenue is None else " / ".join(
                    money(revenue.get(cno, math.nan)) for cno in cnos))
            table.append(_md_row([first, *cells]))
        return [*table, "", f"Cells: {cnos[0]} revenue / {cnos[1]} revenue."]
    table = [_md_row(["profile", *[f"{cno} ($)" for cno in cnos]]),
             _md_row(["---", *["---:"] * len(cnos)])]
    for profile in matrix.profiles:
        label = ", ".join(f"{cno} {choice}" for cno, choice in zip(cnos, profile, strict=True))
        table.append(_md_row([label, *[money(matrix.revenue_usd[profile].get(cno, math.nan))
                                       for cno in cnos]]))
    return table


def _verdict(matrix: RevenueMatrix) -> str:
    """One sentence: is the revenue matrix a prisoner's dilemma, and if not, why not."""
    if matrix.prisoners_dilemma:
        return ("Prisoner's dilemma: the Nash profile is stable, every CNO earns more when all "
                "play cooperative prices, yet a CNO gains by leaving that profile alone.")
    reasons = []
    if not matrix.nash_is_stable:
        reasons.append("a CNO gains by leaving the Nash profile alone")
    if not matrix.cooperation_dominates:
        reasons.append("not every CNO earns more when all play cooperative prices")
    if not matrix.cooperation_is_unstable:
        reasons.append("no CNO gains by leaving the cooperative profile alone")
    return "No prisoner's dilemma: " + "; ".join(reasons) + "."


# ------------------------------------------------------------------ claims of seed 001
#: seed 001's figures (Lu et al. 2024, §4.3–4.4): Algorithm 1's iterations after the trials,
#: the DSO's cap, the CNOs' final mean price and upper limit, Figure 7's revenue changes
PAPER_ROUNDS = 12
PAPER_DSO_CAP_PER_MWH = 120.0
PAPER_CNO_MEAN_PER_MWH = 238.0
PAPER_CNO_LIMIT_PER_MWH = 250.0
PAPER_DSO_CHANGE_PERCENT = 23.9
PAPER_CNO_CHANGE_PERCENT = (-16.5, -13.5)
#: seed 001's Table 3: AEM's multi-CNO equilibrium within 0.5 % of the GA's
PAPER_TABLE3_PERCENT = 0.5
#: why cooperation does not lower prices here (docs/pricing-game.md, "Table 5")
WHY_TABLE5 = ("differs (route substitution between stations outweighs the mean-price demand "
              "law on this calibration: docs/pricing-game.md)")


@dataclass(frozen=True)
class Claim:
    """One row of the claims table: what seed 001 says, its figure, ptn's, the verdict."""

    claim: str
    paper: str
    ptn: str
    verdict: str


def seed001_claims(outcome: PricingGameOutcome) -> list[Claim]:
    """Seed 001's claims checked on a game's outcome (rows whose variant is missing are left
    out). Verdicts: reproduced, reproduced in direction, differs (why), not checkable (why)."""
    claims: list[Claim] = []
    nash = outcome.variants.get("nash")
    if nash is not None:
        claims += _nash_claims(nash)
    cooperative = outcome.variants.get("cooperative")
    if nash is not None and cooperative is not None:
        claims += _cooperation_claims(nash, cooperative, outcome.period_hours)
    matrix = outcome.revenue_matrix
    if matrix is not None:
        claims.append(Claim(
            "prisoner's dilemma among the CNOs (Table 4)", "yes",
            "yes" if matrix.prisoners_dilemma else "no",
            "reproduced" if matrix.prisoners_dilemma else "differs (" + _verdict(matrix) + ")"))
    if nash is not None and nash.certificate:
        worst = max(_ratio_percent(e.gain_usd, e.best_revenue_usd)
                    for e in nash.certificate.values())
        claims.append(Claim(
            "AEM's multi-CNO equilibrium is within 0.5 % of a global search's (Table 3)",
            f"< {PAPER_TABLE3_PERCENT:g} %",
            f"{worst:.3f} % below the exact best responses (ε-Nash certificate, the game's "
            "DSO prices)",
            "reproduced" if worst < PAPER_TABLE3_PERCENT else "differs (AEM's linearization "
            "is off the exact best response by more than the paper's bound)"))
    return claims


def _nash_claims(nash: VariantResult) -> list[Claim]:
    rounds = nash.outcome.rounds
    trials = [r for r in rounds if _is_trial(r)]
    after = len(rounds) - len(trials)
    claims = [Claim(
        "Algorithm 1 converges (ε = 0.005)", f"{PAPER_ROUNDS} iterations after the trials",
        f"{after} rounds after {len(trials)} trial rounds"
        + ("" if nash.outcome.converged else ", not converged"),
        "reproduced" if nash.outcome.converged else "differs (no convergence within the round "
        "limit)")]
    means = [_mean(r.series.get(_DSO_SERIES)) for r in rounds]
    final = _mean(nash.dso_price_per_mwh)
    start = means[len(trials) - 1] if trials else math.nan
    reached = next((k for k, m in enumerate(means[len(trials):], 1)
                    if abs(m - final) <= 0.5), 0)
    at_cap = abs(final - PAPER_DSO_CAP_PER_MWH) <= 0.5
    rises = start < final - 1.0
    verdict = ("reproduced" if at_cap and rises and reached > 1 else
               "reproduced in direction (it reaches the cap in the first round after the "
               "trials, not gradually)" if at_cap and rises else
               "differs (the last trial quote already sits at the cap)" if at_cap else
               "differs (the cap does not bind)")
    claims.append(Claim(
        "the DSO's mean price rises gradually to its cap (Figure 6)",
        f"to {PAPER_DSO_CAP_PER_MWH:g} $/MWh",
        f"{start:.1f} (last trial) → {final:.2f} $/MWh in {reached} round(s)", verdict))
    cno_mean = _mean(nash.charging_price_per_mwh)
    below = cno_mean < PAPER_CNO_LIMIT_PER_MWH - 1.0
    claims.append(Claim(
        "the CNOs' mean price settles below their upper limit (Figure 6)",
        f"{PAPER_CNO_MEAN_PER_MWH:g} $/MWh (< {PAPER_CNO_LIMIT_PER_MWH:g})",
        f"{cno_mean:.1f} $/MWh",
        ("reproduced (the level depends on the station data the paper does not give: the "
         "seed scenario's station capacity is calibrated to it)"
         if abs(cno_mean - PAPER_CNO_MEAN_PER_MWH) <= 5.0 else
         "reproduced in direction (a lower level: the paper's demand and station data are not "
         "given)") if below else "differs (the CNOs price at their limit)"))
    dso_change = _change_percent(nash.revenue_usd.get("dso", math.nan),
                                 nash.start_revenue_usd.get("dso", math.nan))
    claims.append(Claim(
        "the DSO's revenue grows from the last trial round (Figure 7; depends on the trial "
        "draw)", f"{PAPER_DSO_CHANGE_PERCENT:+.1f} %", _percent(dso_change),
        "reproduced in direction" if dso_change > 0 else "differs (the DSO's trial prices "
        "already earn as much as the equilibrium's)"))
    cno_changes = [_change_percent(nash.revenue_usd[cno], nash.start_revenue_usd.get(cno, math.nan))
                   for cno in nash.cnos if cno in nash.revenue_usd]
    claims.append(Claim(
        "the CNOs' revenues fall from the last trial round (Figure 7; depends on the trial "
        "draw)", ", ".join(f"{c:+.1f} %" for c in PAPER_CNO_CHANGE_PERCENT),
        ", ".join(_percent(c) for c in cno_changes),
        "reproduced in direction" if cno_changes and all(c < 0 for c in cno_changes) else
        "differs (the DSO's trial prices do not sit below its equilibrium prices)"))
    return claims


def _cooperation_claims(nash: VariantResult, cooperative: VariantResult,
                        period_hours: float) -> list[Claim]:
    members = [cno for cno in nash.cnos if cno in cooperative.member_revenue_usd]
    gains = [_change_percent(cooperative.member_revenue_usd[cno], nash.revenue_usd[cno])
             for cno in members]
    price = _change_percent(_mean(cooperative.charging_price_per_mwh),
                            _mean(nash.charging_price_per_mwh))
    energy = _change_percent(_energy_mwh(cooperative.load_mw, period_hours),
                             _energy_mwh(nash.load_mw, period_hours))
    dso = _change_percent(cooperative.revenue_usd.get("dso", math.nan),
                          nash.revenue_usd.get("dso", math.nan))
    return [
        Claim("cooperation raises every CNO's revenue (Table 5)", "yes",
              ", ".join(_percent(g) for g in gains),
              "reproduced" if gains and all(g > 0 for g in gains) else
              "differs (a member earns less in the alliance)"),
        Claim("cooperation lowers the charging price (Table 5)", "yes", _percent(price),
              "reproduced" if price < 0 else WHY_TABLE5),
        Claim("cooperation raises the EV charging load (Table 5)", "yes", _percent(energy),
              "reproduced" if energy > 0 else WHY_TABLE5),
        Claim("cooperation raises the DSO's revenue (Table 5)", "yes", _percent(dso),
              "reproduced" if dso > 0 else WHY_TABLE5),
    ]


def format_claims(claims: list[Claim]) -> list[str]:
    """The claims as the Markdown table ``| claim | paper | ptn | verdict |``."""
    return [_md_row(["claim", "paper", "ptn", "verdict"]), _md_row(["---"] * 4),
            *[_md_row([c.claim, c.paper, c.ptn, c.verdict]) for c in claims]]


# ------------------------------------------------------------------ console summary
def format_game_summary(outcome: PricingGameOutcome) -> str:
    """The plain-text summary ``ptn run`` prints: status, each variant's rounds, revenues by
    party at the equilibrium (and their change from the last trial round, in %), ε, and the
    prisoner's-dilemma verdict."""
    lines = [f"pricing game {outcome.scenario}: {outcome.status.value}"
             + (f" ({outcome.message})" if outcome.message else "")
             + f" in {outcome.seconds:.1f} s"]
    for name, variant in outcome.variants.items():
        rounds = variant.outcome.rounds
        state = (f"converged at round {rounds[-1].round}" if rounds and variant.outcome.converged
                 else variant.outcome.status.value)
        lines.append(f"{name}: {len(rounds)} rounds, {state}; mean prices: DSO "
                     f"{_format(_mean(variant.dso_price_per_mwh), 'price')}, CNO "
                     f"{_format(_mean(variant.charging_price_per_mwh), 'price')} $/MWh; "
                     f"ε = {money(variant.epsilon_usd)} $")
        revenues = []
        for party, end in variant.revenue_usd.items():
            change = _change_percent(end, variant.start_revenue_usd.get(party, math.nan))
            revenues.append(f"{party} {money(end)} ({_percent(change)})")
        lines.append("  equilibrium revenues ($; in brackets the change from the last trial round, "
                     "which depends on the DSO's trial draw): " + ", ".join(revenues))
        if set(variant.member_revenue_usd) != set(variant.revenue_usd) & set(variant.cnos):
            lines.append("  member revenues ($): " + ", ".join(
                f"{cno} {money(value)}" for cno, value in variant.member_revenue_usd.items()))
    if outcome.revenue_matrix is not None:
        lines.append("revenue matrix: " + _verdict(outcome.revenue_matrix))
    lines += [f"warning: {warning}" for warning in outcome.warnings]
    return "\n".join(lines)


def progress_line(record: RoundRecord, tolerance: float) -> str:
    """One round on the terminal: the variant, trial rounds marked, the relative changes of the
    DSO's and the CNOs' prices against the tolerance, mean prices and revenues."""
    values = record.values
    kind = "trial" if values.get("trial") else "     "
    revenues = "  ".join(f"{party} {values[f'revenue_{party}_usd']:9.0f}"
                         for party in _revenue_parties(values))
    return (f"{record.stage:>11} round {record.round:>3} {kind}  dλ "
            f"{values.get('dso_price_change', 0):8.2e}  dα "
            f"{values.get('charging_price_change', 0):8.2e}  (stop at {tolerance:.0e})  "
            f"λ̄ {_mean(record.series.get(_DSO_SERIES)):6.1f}  "
            f"ᾱ {_mean(record.price_per_mwh):6.1f}  $ {revenues}")


# ------------------------------------------------------------------ figures
def plot_game_convergence(variant: VariantResult, path: Path,
                          tolerance: float | None = None) -> Path:
    """Fig. 5: the relative changes of the DSO's prices, the charging prices and the loads per
    round (log axis; changes that are infinite, zero or absent are left out), trial rounds
    shaded, the tolerance dashed when given."""
    figure, axes = new_figure()
    records = variant.outcome.rounds
    axes.set_title(f"Convergence — {variant.variant} ({variant.outcome.status.value})")
    _round_axis(axes)
    axes.set_ylabel("relative change (–)")
    if not records:
        note(axes, "no rounds")
        return save_figure(figure, path)
    rounds = _rounds(records)
    drawn = False
    for (key, label), marker in zip(CHANGES.items(), ("o", "s", "^"), strict=True):
        values = positive(np.array([r.values.get(key, math.nan) for r in records], dtype=float))
        axes.plot(rounds, values, marker=marker, markersize=3, label=label)
        drawn = drawn or bool(np.isfinite(values).any())
    if tolerance is not None and math.isfinite(tolerance) and tolerance > 0:
        axes.axhline(tolerance, color="black", linestyle="--", linewidth=1,
                     label=f"tolerance {tolerance:.3g}")
        drawn = True
    if drawn:
        axes.set_yscale("log")
    _shade_trials(axes, records)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    return save_figure(figure, path)


def plot_mean_prices(variant: VariantResult, path: Path,
                     dso_price_cap_per_mwh: float | None = None) -> Path:
    """Fig. 6: the mean DSO price and the mean charging price per round, trial rounds shaded,
    the DSO's cap on its time-average price dashed when given."""
    figure, axes = new_figure()
    records = variant.outcome.rounds
    axes.set_title(f"Mean prices — {variant.variant}")
    _round_axis(axes)
    axes.set_ylabel("mean price ($/MWh)")
    if not records:
        note(axes, "no rounds")
        return save_figure(figure, path)
    rounds = _rounds(records)
    axes.plot(rounds, [_mean(r.series.get(_DSO_SERIES)) for r in records], marker="o",
              markersize=3, label="DSO (λ)")
    axes.plot(rounds, [_mean(r.price_per_mwh) for r in records], marker="s", markersize=3,
              label="CNOs (α)")
    if dso_price_cap_per_mwh is not None and math.isfinite(dso_price_cap_per_mwh):
        axes.axhline(dso_price_cap_per_mwh, color="C0", linestyle="--", linewidth=1,
                     label=f"DSO cap {dso_price_cap_per_mwh:.4g} $/MWh")
    _shade_trials(axes, records)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return save_figure(figure, path)


def plot_revenues(variant: VariantResult, path: Path) -> Path:
    """Fig. 7: each party's revenue per round, trial rounds shaded."""
    figure, axes = new_figure()
    records = variant.outcome.rounds
    axes.set_title(f"Revenues — {variant.variant}")
    _round_axis(axes)
    axes.set_ylabel("revenue ($)")
    if not records:
        note(axes, "no rounds")
        return save_figure(figure, path)
    rounds = _rounds(records)
    parties: list[str] = []
    for record in records:
        parties += [p for p in _revenue_parties(record.values) if p not in parties]
    for party in parties:
        axes.plot(rounds, [r.values.get(f"revenue_{party}_usd", math.nan) for r in records],
                  marker="o", markersize=3, label=party)
    _shade_trials(axes, records)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return save_figure(figure, path)


def _round_axis(axes: Axes) -> None:
    axes.set_xlabel("round")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def _rounds(records: tuple[RoundRecord, ...]) -> FloatArray:
    return np.array([record.round for record in records], dtype=float)


def _shade_trials(axes: Axes, records: tuple[RoundRecord, ...]) -> None:
    """Grey bands over each run of consecutive trial rounds (the DSO's random quotes)."""
    label: str | None = "DSO trial quotes"
    start: float | None = None
    previous = 0.0
    for record in (*records, None):
        trial = record is not None and _is_trial(record)
        if trial and start is None:
            assert record is not None
            start = float(record.round)
        if not trial and start is not None:
            axes.axvspan(start - 0.5, previous + 0.5, color="gray", alpha=0.15, linewidth=0,
                         label=label)
            start, label = None, None
        if record is not None:
            previous = float(record.round)


# ------------------------------------------------------------------ helpers
def _is_trial(record: RoundRecord) -> bool:
    return bool(record.values.get("trial", 0.0))


def _round_load(record: RoundRecord) -> FloatArray | None:
    """The station loads of a round: the traffic department's (the only side reporting)."""
    if "traffic" in record.load_mw:
        return record.load_mw["traffic"]
    return next(iter(record.load_mw.values()), None)


def _revenue_parties(values: dict[str, float]) -> list[str]:
    return [key[len("revenue_"):-len("_usd")] for key in values
            if key.startswith("revenue_") and key.endswith("_usd")]


def _parties(outcome: PricingGameOutcome) -> list[str]:
    """Every party with a revenue in some round: CNOs first (in order of appearance), then the
    others (the DSO)."""
    seen: list[str] = []
    cnos: set[str] = set()
    for variant in outcome.variants.values():
        cnos |= set(variant.cnos)
        for record in variant.outcome.rounds:
            seen += [party for party in _revenue_parties(record.values) if party not in seen]
    return [p for p in seen if p in cnos] + [p for p in seen if p not in cnos]


def _member_cnos(outcome: PricingGameOutcome) -> list[str]:
    """The CNOs as separate firms: the non-cooperative game's, then any other member."""
    members: list[str] = []
    if "nash" in outcome.variants:
        members += list(outcome.variants["nash"].cnos)
    for variant in outcome.variants.values():
        members += [cno for cno in variant.member_revenue_usd if cno not in members]
    return members


def _total_cno_revenue(variant: VariantResult) -> float:
    return float(sum(variant.revenue_usd.get(cno, math.nan) for cno in variant.cnos))


def _mean(values: FloatArray | None) -> float:
    if values is None or np.size(values) == 0:
        return math.nan
    return float(np.mean(values))


def _energy_mwh(load_mw: FloatArray, period_hours: float) -> float:
    return float(np.sum(load_mw)) * period_hours if np.size(load_mw) else math.nan


def _shaped(values: FloatArray | None, shape: tuple[int, int], default: FloatArray
            ) -> FloatArray:
    if values is None:
        return default
    return np.asarray(values, dtype=float).reshape(shape)


def _change_percent(end: float, start: float) -> float:
    """``100 · (end − start) / |start|``; NaN when undefined."""
    return _ratio_percent(end - start, start)


def _ratio_percent(part: float, whole: float) -> float:
    if not (math.isfinite(part) and math.isfinite(whole)) or whole == 0:
        return math.nan
    return 100.0 * part / abs(whole)


def _percent(value: float) -> str:
    return f"{round(value, 2) + 0.0:+.2f} %" if math.isfinite(value) else "—"  # no "-0.00"


def _format(value: float, kind: str) -> str:
    if not math.isfinite(value):
        return "—"
    if kind in ("money", "epsilon"):
        return money(value)
    if kind == "count":
        return str(int(value))
    return f"{value:,.2f}"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
