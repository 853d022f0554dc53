"""A small campaign run in this process: its rows, tables, resume, failures, metrics and plots.

The rows are checked against runs made directly through ``ptn.run`` with the same overrides
(not against the code that wrote them), and against each trial's own ``summary.json``. Resume
is checked by the rows' start times and by the durable log's lines: a resumed campaign runs
only the trials it has no row of.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import ptn
from ptn.campaign.progress import CampaignCounts, plain_printer
from ptn.campaign.store import CSV, PARQUET, ROWS
from ptn.engines.errors import InvalidInputError

PERIODS = 2
EV_SHARES = [0.02, 0.04]
#: a negotiation with its usual round cap (converges) and one stopped after two rounds
ROUND_CAPS = [200, 2]


def definition(**changes: Any) -> dict[str, Any]:
    head = {"name": "small", "scenario": "nguyen-dupuis-ieee33", "periods": PERIODS,
            "backend": "inproc", **changes}
    return {"campaign": head, "grid": {"traffic.ev_share": EV_SHARES},
            "sets": [{"coordinator.max_rounds": cap} for cap in ROUND_CAPS]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("campaign")
    port = free_port()
    seen: list[CampaignCounts] = []
    table = ptn.sweep(definition(), out=folder, metrics_port=port,
                      progress=lambda counts: seen.append(CampaignCounts(**vars(counts))))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        scraped = response.read().decode("utf-8")
    return {"folder": folder, "table": table, "progress": seen, "metrics": scraped}


def row(table: pd.DataFrame, ev_share: float, cap: int) -> pd.Series:
    found = table[(table["traffic.ev_share"] == ev_share)
                  & (table["coordinator.max_rounds"] == cap)]
    assert len(found) == 1
    return found.iloc[0]


def test_one_row_per_trial_with_its_status(campaign_run: dict[str, Any]) -> None:
    table = campaign_run["table"]
    assert len(table) == len(EV_SHARES) * len(ROUND_CAPS)
    assert table["trial_id"].is_unique
    for share in EV_SHARES:
        assert row(table, share, 200)["status"] == "converged"
        capped = row(table, share, 2)
        assert capped["status"] == "not_converged"
        assert capped["rounds"] == 2
    assert list(table.columns[:4]) == ["trial_id", "repetition", "traffic.ev_share",
                                       "coordinator.max_rounds"]


def test_rows_equal_direct_runs_of_the_same_overrides(campaign_run: dict[str, Any]) -> None:
    table = campaign_run["table"]
    for share in EV_SHARES[1:]:
        scenario = ptn.Scenario.load(None, periods=PERIODS).with_overrides(
            {"traffic.ev_share": share, "coordinator.max_rounds": 200})
        direct = ptn.run(scenario).summary
        got = row(table, share, 200)
        assert got["rounds"] == direct["rounds"]
        assert got["agreed_cost_usd"] == pytest.approx(direct["agreed"]["total"], rel=1e-9)
        assert got["baseline_cost_usd"] == pytest.approx(direct["baseline"]["total"], rel=1e-9)
        assert got["reference_cost_usd"] == pytest.approx(direct["centralized"]["total"],
                                                          rel=1e-9)
        saving = direct["baseline"]["total"] - direct["agreed"]["total"]
        assert got["saving_usd"] == pytest.approx(saving, rel=1e-9)
        gap = (direct["agreed"]["total"] - direct["centralized"]["total"]) / abs(
            direct["centralized"]["total"])
        assert got["gap"] == pytest.approx(gap, rel=1e-6, abs=1e-12)
    # more EVs, more charging to move: the saving grows (default scenario, ADMM)
    assert row(table, 0.04, 200)["saving_usd"] > row(table, 0.02, 200)["saving_usd"] > 0


def test_each_trial_keeps_its_own_results_folder(campaign_run: dict[str, Any]) -> None:
    folder, table = campaign_run["folder"], campaign_run["table"]
    for _, trial in table.iterrows():
        summary = json.loads((folder / trial["folder"] / "summary.json").read_text("utf-8"))
        assert summary["status"] == trial["status"]
        assert summary["rounds"] == trial["rounds"]
        assert trial["trial_seconds"] >= trial["seconds"] > 0


def test_parquet_and_csv_hold_the_same_table(campaign_run: dict[str, Any]) -> None:
    folder, table = campaign_run["folder"], campaign_run["table"]
    parquet = pd.read_parquet(folder / PARQUET)
    csv = pd.read_csv(folder / CSV, keep_default_na=False, na_values=[""])
    assert list(parquet["trial_id"]) == list(csv["trial_id"]) == list(table["trial_id"])
    for column in ("traffic.ev_share", "rounds", "agreed_cost_usd", "saving_usd"):
        assert parquet[column].tolist() == pytest.approx(csv[column].tolist(), nan_ok=True)
        assert parquet[column].tolist() == pytest.approx(table[column].tolist(), nan_ok=True)


def test_progress_and_metrics_count_every_trial(campaign_run: dict[str, Any]) -> None:
    last = campaign_run["progress"][-1]
    assert (last.total, last.done, last.failed, last.running) == (4, 4, 0, 0)
    assert max(counts.running for counts in campaign_run["progress"]) == 1
    metrics = campaign_run["metrics"]
    assert "ptn_campaign_trials_done 4.0" in metrics
    assert "ptn_campaign_trials_failed 0.0" in metrics
    assert "ptn_campaign_trials_running 0.0" in metrics
    assert "ptn_campaign_trial_seconds_count 4.0" in metrics


def test_plots_draw_each_output_against_each_parameter(campaign_run: dict[str, Any]) -> None:
    plots = {path.name for path in (campaign_run["folder"] / "plots").glob("*.png")}
    for output in ("saving_usd", "rounds", "seconds", "gap"):
        assert f"{output}-vs-traffic_ev_share.png" in plots
        assert f"{output}-vs-coordinator_max_rounds.png" in plots
    assert not any(name.startswith("epsilon") for name in plots)  # ADMM has no ε


def test_a_rerun_resumes_and_runs_only_the_trials_without_a_row(
        campaign_run: dict[str, Any]) -> None:
    folder, table = campaign_run["folder"], campaign_run["table"]
    log = folder / ROWS
    lines = log.read_text("utf-8").splitlines()
    again = ptn.sweep(definition(), out=folder)
    assert len(log.read_text("utf-8").splitlines()) == len(lines)  # nothing re-run
    assert list(again["started_at"]) == list(table["started_at"])
    # a campaign killed while writing its last row: that trial (only) runs again
    lost = json.loads(lines[-1])["trial_id"]
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40], encoding="utf-8")
    resumed = ptn.sweep(definition(), out=folder)
    rows = log.read_text("utf-8").splitlines()
    assert len(rows) == len(lines) + 1 and json.loads(rows[-1])["trial_id"] == lost
    assert rows[-2] == lines[-1][:40]  # the cut line stays, skipped when read
    kept = resumed[resumed["trial_id"] != lost]
    assert list(kept["started_at"]) == list(table[table["trial_id"] != lost]["started_at"])
    assert resumed.loc[resumed["trial_id"] == lost, "rounds"].item() == \
        table.loc[table["trial_id"] == lost, "rounds"].item()


def test_a_changed_campaign_is_refused_unless_forced(campaign_run: dict[str, Any],
                                                     tmp_path: Path) -> None:
    changed = definition()
    changed["grid"]["traffic.ev_share"] = [0.02, 0.03]
    with pytest.raises(InvalidInputError, match="--force"):
        ptn.sweep(changed, out=campaign_run["folder"])
    folder = tmp_path / "forced"
    small = {"campaign": {**definition()["campaign"], "reference": False},
             "sets": [{"coordinator.max_rounds": 1}]}
    ptn.sweep(small, out=folder)
    with_reference = {**small, "campaign": {**small["campaign"], "reference": True}}
    with pytest.raises(InvalidInputError, match="--force"):  # another definition
        ptn.sweep(with_reference, out=folder)
    table = ptn.sweep(with_reference, out=folder, force=True)
    assert len(table) == 1 and table["reference_cost_usd"].notna().all()
    assert len(list(folder.glob("rows-*.jsonl"))) == 1  # the old rows set aside


def test_a_failing_trial_is_a_row_and_the_campaign_goes_on(tmp_path: Path) -> None:
    document = {"campaign": {**definition()["campaign"], "reference": False},
                "sets": [{"coordinator.max_rounds": 1}, {"traffic.ev_share": -0.5},
                         {"traffic.no_such_key": 1}]}
    table = ptn.sweep(document, out=tmp_path)
    assert len(table) == 3
    statuses = dict(zip(table["trial_id"], table["status"], strict=True))
    assert sorted(statuses.values()) == ["invalid", "invalid", "not_converged"]
    reasons = " ".join(table.loc[table["status"] == "invalid", "reason"])
    assert "traffic.ev_share" in reasons and "no_such_key" in reasons


def test_the_plain_progress_lines_are_timestamped() -> None:
    lines: list[str] = []
    show = plain_printer(lines.append)
    counts = CampaignCounts("c", total=3)
    show(counts)
    show(counts)  # unchanged: no new line
    counts.done, counts.finished_now = 1, 1
    show(counts)
    assert len(lines) == 2
    assert lines[1].endswith("c: 1/3 trials finished (1 done, 0 failed, 0 running, 0 from an "
                             "earlier run, 0 retried), ETA " + lines[1].rsplit("ETA ", 1)[1])
    assert lines[0][:4].isdigit() and lines[0][10] == "T" and "ETA —" in lines[0]
