"""The results folder of a negotiation: files, their content, and the plots.

A synthetic outcome (2 stations, 4 periods, 5 rounds of decreasing residuals) whose numbers are
known here, so every value in the files is checked against an independent computation.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.outcome import CostSummary, NegotiationOutcome, NegotiationStatus, RoundRecord
from ptn.coordinator.results.joint_coordination import (
    format_summary_table,
    result_tables,
    write_results,
)
from ptn.coordinator.results.plots import plot_voltage_heatmap

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STATIONS = ("cs1", "cs2")
PERIODS = 4
AGREED_LOAD = np.array([[0.5, 1.0, 1.5, 0.5], [0.2, 0.4, 0.6, 0.8]])
AGREED_PRICE = np.array([[40.0, 45.0, 50.0, 42.0], [38.0, 41.0, 44.0, 47.0]])
BASELINE_LOAD = np.array([[1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
CENTRAL_LOAD = np.array([[0.5, 1.1, 1.4, 0.5], [0.2, 0.4, 0.75, 0.8]])
AGREED_COSTS = {"tno": 700.0, "dso": 300.0}
BASELINE_COSTS = {"tno": 750.0, "dso": 450.0}
CENTRAL_COSTS = {"tno": 690.0, "dso": 290.0}


def synthetic_outcome() -> NegotiationOutcome:
    records = tuple(
        RoundRecord(
            round=k,
            seconds=0.1 * (k + 1),
            values={"primal_residual": 10.0 ** (-k), "dual_residual": 0.5 * 10.0 ** (-k),
                    "penalty_per_mw2h": 1.0 * 2**k},
            price_per_mwh=AGREED_PRICE + (5 - k),
            load_mw={"tno": AGREED_LOAD, "dso": AGREED_LOAD},
        )
        for k in range(5)
    )
    return NegotiationOutcome(
        negotiation_id="neg-42",
        mechanism="admm",
        status=NegotiationStatus.CONVERGED,
        message="residuals below tolerance",
        stations=STATIONS,
        periods=PERIODS,
        period_hours=6.0,
        rounds=records,
        seconds=1.25,
        agreed=CostSummary(sum(AGREED_COSTS.values()), AGREED_COSTS, AGREED_LOAD, AGREED_PRICE),
        baseline=CostSummary(sum(BASELINE_COSTS.values()), BASELINE_COSTS, BASELINE_LOAD,
                             np.full((2, PERIODS), 60.0)),
        centralized=CostSummary(sum(CENTRAL_COSTS.values()), CENTRAL_COSTS, CENTRAL_LOAD,
                                AGREED_PRICE),
        extra={"tolerance": 1e-3, "undefined": math.nan},
    )


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 5_000, (path, len(data))


def test_write_results_files_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "results"
    written = write_results(synthetic_outcome(), out)
    names = {path.name for path in written}
    assert names == {"summary.json", "rounds.csv", "loads.csv", "prices.csv", "convergence.png",
                     "prices.png", "station_loads.png"}
    assert all(path.parent == out and path.is_file() for path in written)
    for path in written:
        if path.suffix == ".png":
            assert_png(path)


def test_summary_json_matches_the_outcome(tmp_path: Path) -> None:
    outcome = synthetic_outcome()
    write_results(outcome, tmp_path)
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")
    assert "NaN" not in text
    summary = json.loads(text)
    assert summary["negotiation_id"] == "neg-42"
    assert summary["mechanism"] == "admm"
    assert summary["status"] == "converged"
    assert summary["message"] == "residuals below tolerance"
    assert summary["rounds"] == 5
    assert summary["seconds"] == pytest.approx(1.25)
    assert summary["stations"] == ["cs1", "cs2"]
    assert summary["periods"] == PERIODS
    assert summary["period_hours"] == pytest.approx(6.0)
    assert summary["agreed"] == {"total": 1000.0, "by_operator": AGREED_COSTS}
    assert summary["baseline"] == {"total": 1200.0, "by_operator": BASELINE_COSTS}
    assert summary["centralized"] == {"total": 980.0, "by_operator": CENTRAL_COSTS}
    # 1200 − 1000 = 200 saved, 200 / 1200 relative; (1000 − 980) / 980 gap
    assert summary["saving_vs_baseline"]["absolute"] == pytest.approx(200.0)
    assert summary["saving_vs_baseline"]["relative"] == pytest.approx(200.0 / 1200.0)
    assert summary["gap_to_centralized"] == pytest.approx(20.0 / 980.0)
    assert summary["max_load_difference_to_centralized_mw"] == pytest.approx(0.15)
    assert summary["extra"] == {"tolerance": 1e-3, "undefined": None}


def test_summary_without_references_is_null(tmp_path: Path) -> None:
    base = synthetic_outcome()
    outcome = NegotiationOutcome(
        negotiation_id="neg-0", mechanism="admm", status=NegotiationStatus.FAILED,
        message="dso missed its deadline", stations=base.stations, periods=base.periods,
        period_hours=base.period_hours, rounds=(), seconds=0.5,
    )
    written = write_results(outcome, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed"
    assert summary["rounds"] == 0
    assert summary["agreed"] is None and summary["baseline"] is None
    assert summary["saving_vs_baseline"] == {"absolute": None, "relative": None}
    assert summary["gap_to_centralized"] is None
    assert summary["max_load_difference_to_centralized_mw"] is None
    with (tmp_path / "loads.csv").open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2 * PERIODS
    assert all(row["agreed_load_mw"] == "" and row["centralized_load_mw"] == "" for row in rows)
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_MAGIC


def test_rounds_csv(tmp_path: Path) -> None:
    outcome = synthetic_outcome()
    write_results(outcome, tmp_path)
    with (tmp_path / "rounds.csv").open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
    assert reader.fieldnames == [
        "round", "seconds", "primal_residual", "dual_residual", "penalty_per_mw2h",
        "mean_price_cs1_per_mwh", "mean_price_cs2_per_mwh",
    ]
    assert len(rows) == 5
    for k, row in enumerate(rows):
        assert int(row["round"]) == k
        assert float(row["primal_residual"]) == 10.0 ** (-k)
        assert float(row["dual_residual"]) == 0.5 * 10.0 ** (-k)
        assert float(row["penalty_per_mw2h"]) == 2.0**k
        assert float(row["mean_price_cs1_per_mwh"]) == pytest.approx(44.25 + 5 - k)
        assert float(row["mean_price_cs2_per_mwh"]) == pytest.approx(42.5 + 5 - k)
    # the DataFrame holds the same rows as the file
    frame = result_tables(outcome)["rounds"]
    assert list(frame.columns) == reader.fieldnames
    assert frame["primal_residual"].tolist() == [10.0 ** (-k) for k in range(5)]


def test_loads_csv(tmp_path: Path) -> None:
    write_results(synthetic_outcome(), tmp_path)
    with (tmp_path / "loads.csv").open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
    assert reader.fieldnames == [
        "station", "period", "agreed_load_mw", "agreed_price_per_mwh", "baseline_load_mw",
        "centralized_load_mw",
    ]
    assert len(rows) == len(STATIONS) * PERIODS
    for row in rows:
        s, p = STATIONS.index(row["station"]), int(row["period"])
        assert float(row["agreed_load_mw"]) == AGREED_LOAD[s, p]
        assert float(row["agreed_price_per_mwh"]) == AGREED_PRICE[s, p]
        assert float(row["baseline_load_mw"]) == BASELINE_LOAD[s, p]
        assert float(row["centralized_load_mw"]) == CENTRAL_LOAD[s, p]


def test_prices_csv(tmp_path: Path) -> None:
    write_results(synthetic_outcome(), tmp_path)
    with (tmp_path / "prices.csv").open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(STATIONS) * PERIODS
    for row in rows:
        s, p = STATIONS.index(row["station"]), int(row["period"])
        assert float(row["agreed_price_per_mwh"]) == AGREED_PRICE[s, p]
        assert float(row["baseline_price_per_mwh"]) == 60.0
        assert float(row["centralized_price_per_mwh"]) == AGREED_PRICE[s, p]


def test_summary_table() -> None:
    table = format_summary_table(synthetic_outcome())
    lines = table.splitlines()
    assert lines[0].startswith("admm negotiation neg-42: converged")
    assert "tno ($)" in lines[1] and "dso ($)" in lines[1]
    agreed = next(line for line in lines if line.startswith("agreed"))
    assert "1,000.00" in agreed and "700.00" in agreed and "300.00" in agreed
    assert any(line.startswith("baseline") and "1,200.00" in line for line in lines)
    assert "saving vs baseline:  200.00 (16.67 %)" in table
    assert "gap to centralized:  2.0408 %" in table
    assert "rounds:              5" in table


def test_voltage_heatmap(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    voltage = 1.0 - 0.06 * rng.random((12, 24))
    voltage[3, 5] = math.nan
    path = plot_voltage_heatmap(voltage, [f"bus{i}" for i in range(12)], tmp_path / "v.png",
                                v_min_pu=0.95, v_max_pu=1.05, title="IEEE 33, private")
    assert path == tmp_path / "v.png"
    assert_png(path)
    with pytest.raises(ValueError, match="bus labels"):
        plot_voltage_heatmap(voltage, ["bus0"], tmp_path / "w.png")
