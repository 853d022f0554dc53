"""The pricing game's results folder: files, their content, the summary, the verdict.

A synthetic game built by hand (2 variants of 3 rounds, 2 stations × 2 periods, a 2×2 revenue
matrix shaped like seed 001's Table 4), so every value in the files is checked against the
numbers put in here; the real game is never run.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.mechanisms.best_response import CertificateEntry
from ptn.coordinator.mechanisms.pricing_game import PricingGameOutcome, RevenueMatrix, VariantResult
from ptn.coordinator.outcome import NegotiationOutcome, NegotiationStatus, RoundRecord
from ptn.coordinator.results.pricing_game import (
    format_game_summary,
    seed001_claims,
    write_game_results,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STATIONS = ("s1", "s2")
PERIODS = 2
PERIOD_HOURS = 4.0
ROUNDS = 3
ALLIANCE = "cno-alliance"
NAN_ROUND = 2  # the nash variant reports no revenue for cno2 in this round
#: revenues by variant and round ($)
REVENUE = {
    "nash": {1: {"cno1": 7000.0, "cno2": 7100.0, "dso": 8000.0},
             2: {"cno1": 7050.0, "cno2": math.nan, "dso": 8500.0},
             3: {"cno1": 7200.0, "cno2": 7150.0, "dso": 9100.0}},
    "cooperative": {1: {ALLIANCE: 15400.0, "dso": 6800.0},
                    2: {ALLIANCE: 15200.0, "dso": 7200.0},
                    3: {ALLIANCE: 15000.0, "dso": 7500.0}},
}
MEMBERS = {"nash": {"cno1": 7200.0, "cno2": 7150.0},
           "cooperative": {"cno1": 7480.0, "cno2": 7520.0}}
CERTIFICATE = {"nash": {"cno1": CertificateEntry(7200.0, 7201.0, 10, 2),
                        "cno2": CertificateEntry(7150.0, 7172.5, 12, 3)},
               "cooperative": {ALLIANCE: CertificateEntry(15000.0, 15009.0, 20, 4)}}
#: Table 4's shape: (cno1, cno2) revenues by (cno1's, cno2's) choice
MATRIX = {("nash", "nash"): (7200.0, 7100.0), ("nash", "cooperative"): (8000.0, 6500.0),
          ("cooperative", "nash"): (6400.0, 8050.0),
          ("cooperative", "cooperative"): (7500.0, 7450.0)}


def _dso_price(variant: str, round_number: int) -> np.ndarray:
    return np.array([[100.0, 120.0], [110.0, 130.0]]) + round_number + (variant == "nash")


def _charging_price(variant: str, round_number: int) -> np.ndarray:
    return np.array([[200.0, 210.0], [205.0, 220.0]]) + 2 * round_number + 10 * (
        variant == "cooperative")


def _load(variant: str, round_number: int) -> np.ndarray:
    return np.array([[1.0, 1.5], [2.0, 0.5]]) * (1 + 0.1 * round_number) * (
        0.8 if variant == "cooperative" else 1.0)


def _record(variant: str, k: int) -> RoundRecord:
    values = {f"revenue_{party}_usd": value for party, value in REVENUE[variant][k].items()}
    values.update({"trial": float(k == 1), "charging_price_change": 0.1 / k,
                   "dso_price_change": math.inf if k == 1 else 0.2 / k,
                   "load_change": math.inf if k == 1 else 0.3 / k, "probes": 4.0 * k})
    return RoundRecord(
        round=k, seconds=0.1 * k, stage=variant, price_per_mwh=_charging_price(variant, k),
        load_mw={"traffic": _load(variant, k)}, values=values,
        series={"dso_price_per_mwh": _dso_price(variant, k)})


def _variant(variant: str) -> VariantResult:
    records = tuple(_record(variant, k) for k in range(1, ROUNDS + 1))
    outcome = NegotiationOutcome(
        negotiation_id=f"neg-{variant}", mechanism="best-response",
        status=NegotiationStatus.CONVERGED, message="", stations=STATIONS, periods=PERIODS,
        period_hours=PERIOD_HOURS, rounds=records, seconds=0.6)
    cnos = ({ALLIANCE: STATIONS} if variant == "cooperative"
            else {"cno1": ("s1",), "cno2": ("s2",)})
    start = dict(REVENUE[variant][1])
    if variant == "cooperative":
        start["dso"] = math.nan  # a NaN start revenue: null in the JSON
    return VariantResult(
        variant=variant, outcome=outcome, cnos=cnos,
        dso_price_per_mwh=_dso_price(variant, ROUNDS),
        charging_price_per_mwh=_charging_price(variant, ROUNDS), load_mw=_load(variant, ROUNDS),
        revenue_usd=dict(REVENUE[variant][ROUNDS]), start_revenue_usd=start,
        member_revenue_usd=dict(MEMBERS[variant]), certificate=dict(CERTIFICATE[variant]))


def _matrix(cells: dict[tuple[str, str], tuple[float, float]]) -> RevenueMatrix:
    return RevenueMatrix(cnos=("cno1", "cno2"), profiles=tuple(cells),
                         revenue_usd={p: {"cno1": r[0], "cno2": r[1]} for p, r in cells.items()})


def synthetic_game(cells: dict[tuple[str, str], tuple[float, float]] = MATRIX
                   ) -> PricingGameOutcome:
    return PricingGameOutcome(
        scenario="synthetic", stations=STATIONS, periods=PERIODS, period_hours=PERIOD_HOURS,
        variants={name: _variant(name) for name in ("nash", "cooperative")},
        revenue_matrix=_matrix(cells), seconds=1.5, status=NegotiationStatus.CONVERGED)


def _flags(cells: dict[tuple[str, str], tuple[float, float]]) -> dict[str, bool]:
    """The matrix's flags, computed here from the numbers (2 CNOs)."""
    n, c = "nash", "cooperative"
    stable = cells[c, n][0] <= cells[n, n][0] and cells[n, c][1] <= cells[n, n][1]
    dominates = cells[c, c][0] > cells[n, n][0] and cells[c, c][1] > cells[n, n][1]
    unstable = cells[n, c][0] > cells[c, c][0] or cells[c, n][1] > cells[c, c][1]
    return {"nash_is_stable": stable, "cooperation_dominates": dominates,
            "cooperation_is_unstable": unstable,
            "prisoners_dilemma": stable and dominates and unstable}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("game")
    paths = write_game_results(synthetic_game(), out, tolerance=0.005,
                               dso_price_cap_per_mwh=120.0)
    names = {"summary.json", "rounds.csv", "prices.csv", "revenue_matrix.csv", "comparison.md"}
    names |= {f"{kind}-{variant}.png" for kind in ("convergence", "mean_prices", "revenues")
              for variant in ("nash", "cooperative")}
    assert {path.name for path in paths} == names
    assert all(path.parent == out and path.is_file() for path in paths)
    return out


def test_figures_are_png(folder: Path) -> None:
    for path in folder.glob("*.png"):
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_rounds_table(folder: Path) -> None:
    rows = _rows(folder / "rounds.csv")
    assert [(row["variant"], row["round"]) for row in rows] == [
        (variant, str(k)) for variant in ("nash", "cooperative") for k in range(1, ROUNDS + 1)]
    revenue_columns = [c for c in rows[0] if c.startswith("revenue_")]
    assert sorted(revenue_columns) == sorted(
        f"revenue_{p}_usd" for p in ("cno1", "cno2", ALLIANCE, "dso"))
    for row in rows:
        variant, k = row["variant"], int(row["round"])
        assert row["trial"] == ("1" if k == 1 else "0")
        for party in ("cno1", "cno2", ALLIANCE, "dso"):
            expected = REVENUE[variant][k].get(party, math.nan)
            cell = row[f"revenue_{party}_usd"]
            assert (cell == "") if math.isnan(expected) else (float(cell) == expected)
        assert float(row["charging_price_change"]) == pytest.approx(0.1 / k)
        assert row["dso_price_change"] == ("" if k == 1 else repr(0.2 / k))
        assert float(row["mean_dso_price_per_mwh"]) == pytest.approx(
            _dso_price(variant, k).mean())
        assert float(row["mean_charging_price_per_mwh"]) == pytest.approx(
            _charging_price(variant, k).mean())
        assert float(row["total_load_mw"]) == pytest.approx(_load(variant, k).sum())
        assert float(row["probes"]) == 4.0 * k
    nan_row = rows[NAN_ROUND - 1]
    assert nan_row["revenue_cno2_usd"] == ""


def test_prices_table(folder: Path) -> None:
    rows = _rows(folder / "prices.csv")
    assert len(rows) == 2 * ROUNDS * len(STATIONS) * PERIODS
    for row in rows:
        variant, k = row["variant"], int(row["round"])
        i, t = STATIONS.index(row["station"]), int(row["period"])
        assert float(row["dso_price_per_mwh"]) == _dso_price(variant, k)[i, t]
        assert float(row["charging_price_per_mwh"]) == _charging_price(variant, k)[i, t]
        assert float(row["load_mw"]) == pytest.approx(_load(variant, k)[i, t])


def test_revenue_matrix_table(folder: Path) -> None:
    rows = _rows(folder / "revenue_matrix.csv")
    assert {(r["choice_cno1"], r["choice_cno2"]): (float(r["revenue_cno1_usd"]),
                                                   float(r["revenue_cno2_usd"]))
            for r in rows} == MATRIX


def test_summary_json(folder: Path) -> None:
    text = (folder / "summary.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    summary = json.loads(text)
    assert (summary["scenario"], summary["status"]) == ("synthetic", "converged")
    for name, variant in summary["variants"].items():
        assert variant["rounds"] == ROUNDS and variant["converged_round"] == ROUNDS
        for party, revenue in variant["revenue_usd"].items():
            end, start = REVENUE[name][ROUNDS][party], REVENUE[name][1][party]
            assert revenue["end"] == end
            if name == "cooperative" and party == "dso":
                assert revenue["start"] is None and revenue["change_percent"] is None
            else:
                assert revenue["start"] == start
                assert revenue["change_percent"] == pytest.approx(100 * (end - start) / start)
        assert variant["member_revenue_usd"] == MEMBERS[name]
        gains = {cno: e.best_revenue_usd - e.revenue_usd for cno, e in CERTIFICATE[name].items()}
        certificate = variant["certificate"]
        assert certificate["epsilon_usd"] == pytest.approx(max(gains.values()))
        for cno, entry in certificate["cnos"].items():
            assert entry["revenue_usd"] == CERTIFICATE[name][cno].revenue_usd
            assert entry["best_revenue_usd"] == CERTIFICATE[name][cno].best_revenue_usd
            assert entry["gain_usd"] == pytest.approx(gains[cno])
            assert entry["gain_percent"] == pytest.approx(
                100 * gains[cno] / CERTIFICATE[name][cno].revenue_usd)
        final = variant["final"]
        assert final["mean_dso_price_per_mwh"] == pytest.approx(_dso_price(name, ROUNDS).mean())
        assert final["mean_charging_price_per_mwh"] == pytest.approx(
            _charging_price(name, ROUNDS).mean())
        assert final["total_charging_energy_mwh"] == pytest.approx(
            _load(name, ROUNDS).sum() * PERIOD_HOURS)
    matrix = summary["revenue_matrix"]
    assert {tuple(p["choices"][c] for c in ("cno1", "cno2")):
            (p["revenue_usd"]["cno1"], p["revenue_usd"]["cno2"])
            for p in matrix["profiles"]} == MATRIX
    flags = _flags(MATRIX)
    assert flags["prisoners_dilemma"]  # the synthetic numbers are Table 4's dilemma
    assert {key: matrix[key] for key in flags} == flags


def test_comparison_markdown(folder: Path) -> None:
    text = (folder / "comparison.md").read_text(encoding="utf-8")
    for value in (9100.0, 7500.0, 7200.0, 7150.0, 7480.0, 7520.0, 14350.0, 15000.0):
        assert f"{value:,.2f}" in text  # DSO, members (both games), total CNO revenue
    assert "| cno1 \\ cno2 | nash | cooperative |" in text
    for r1, r2 in MATRIX.values():
        assert f"{r1:,.2f} / {r2:,.2f}" in text
    assert "Prisoner's dilemma" in text


def test_console_summary_and_verdict_without_dilemma(tmp_path: Path) -> None:
    text = format_game_summary(synthetic_game())
    assert "nash: 3 rounds, converged at round 3" in text
    assert "Prisoner's dilemma" in text and "22.50" in text  # ε of the nash variant
    cells = dict(MATRIX)
    cells["cooperative", "cooperative"] = (7000.0, 7450.0)  # cno1 is worse off cooperating
    assert not _flags(cells)["prisoners_dilemma"]
    game = synthetic_game(cells)
    assert "No prisoner's dilemma" in format_game_summary(game)
    write_game_results(game, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert {key: summary["revenue_matrix"][key] for key in _flags(cells)} == _flags(cells)
    assert "No prisoner's dilemma" in (tmp_path / "comparison.md").read_text(encoding="utf-8")


def test_claims_table_from_the_synthetic_game(folder: Path) -> None:
    """Each verdict worked out by hand from the synthetic numbers above."""
    claims = {c.claim.split(" (")[0]: c for c in seed001_claims(synthetic_game())}
    converged = claims["Algorithm 1 converges"]
    assert (converged.ptn, converged.verdict) == ("2 rounds after 1 trial rounds", "reproduced")
    # mean DSO price: 117 at the trial round, 119 at the end (the synthetic cap does not bind)
    assert claims["the DSO's mean price rises gradually to its cap"].ptn.startswith("117.0")
    assert claims["the DSO's mean price rises gradually to its cap"].verdict.startswith(
        "differs (the cap does not bind")
    # mean charging price 214.75 < 250, far from the paper's 238
    cno_price = claims["the CNOs' mean price settles below their upper limit"]
    assert cno_price.ptn == "214.8 $/MWh" and cno_price.verdict.startswith("reproduced in dir")
    # DSO 8,000 → 9,100 (+13.75 %); CNOs 7,000 → 7,200 and 7,100 → 7,150 rise
    assert claims["the DSO's revenue grows from the last trial round"].ptn == "+13.75 %"
    assert claims["the CNOs' revenues fall from the last trial round"].ptn == "+2.86 %, +0.70 %"
    assert claims["the CNOs' revenues fall from the last trial round"].verdict.startswith(
        "differs (")
    # members 7,480 and 7,520 against 7,200 and 7,150; charging price 214.75 → 224.75; energy
    # × 0.8; DSO 9,100 → 7,500
    assert claims["cooperation raises every CNO's revenue"].ptn == "+3.89 %, +5.17 %"
    assert claims["cooperation raises every CNO's revenue"].verdict == "reproduced"
    assert claims["cooperation lowers the charging price"].ptn == "+4.66 %"
    assert claims["cooperation raises the EV charging load"].ptn == "-20.00 %"
    assert claims["cooperation raises the DSO's revenue"].ptn == "-17.58 %"
    for name in ("lowers the charging price", "raises the EV charging load",
                 "raises the DSO's revenue"):
        assert claims[f"cooperation {name}"].verdict.startswith("differs (")
    assert claims["prisoner's dilemma among the CNOs"].verdict == "reproduced"
    # the worst certificate gain: cno2's 22.5 $ of its best 7,172.5 $
    table3 = claims["AEM's multi-CNO equilibrium is within 0.5 % of a global search's"]
    assert table3.ptn.startswith(f"{100 * 22.5 / 7172.5:.3f} %")
    assert table3.verdict == "reproduced"
    text = (folder / "comparison.md").read_text(encoding="utf-8")
    assert "| claim | paper | ptn | verdict |" in text
    assert text.rstrip().splitlines()[-1].startswith("| AEM's multi-CNO equilibrium")
    assert "## Changes from the last trial round" in text and "| non-cooperative | dso | " \
        "8,000.00 | 9,100.00 | +13.75 % |" in text
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert [row["claim"] for row in summary["claims"]] == \
        [c.claim for c in seed001_claims(synthetic_game())]
