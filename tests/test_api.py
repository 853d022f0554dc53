"""The Python API (ptn.Scenario, ptn.run): scenarios changed in code, results as values.

Independent checks: the EV charging energy of a run against the demand it must serve, computed here
from the scenario's own numbers (EV demand is inelastic: every EV trip charges once, so the
stations' loads over the day add up to EV share × demand scale × profile × total OD demand × energy
per charge, summed over the periods); the API's summary and tables against the files ``ptn run``
writes.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

import ptn
from ptn.api import OverrideError
from ptn.coordinator.outcome import NegotiationStatus
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import load_network

PERIODS = 4  # the default scenario's day in periods of 6 h, to keep the runs short


@pytest.fixture(scope="module")
def base() -> ptn.Scenario:
    return ptn.Scenario.load("nguyen-dupuis-ieee33", periods=PERIODS)


def served_energy_mw(scenario: ptn.Scenario) -> np.ndarray:
    """Σ over stations of the EV charging load (MW) per period, from the scenario's numbers."""
    table = scenario.document.part("traffic").data
    profile = np.asarray(table["demand_profile"], dtype=float).reshape(PERIODS, -1).mean(axis=1)
    total = float(load_network(table["network"]).od_demand.sum())
    return (table["ev_share"] * table.get("demand_scale", 1.0) * profile * total
            * table["energy_per_charge_mwh"])


def test_load_and_show(base: ptn.Scenario) -> None:
    assert base.name == "nguyen-dupuis-ieee33" and base.mechanism == "admm"
    path = Path(ptn.scenarios.folder()) / "nguyen-dupuis-ieee33.toml"  # type: ignore[attr-defined]
    assert base.to_toml() == path.read_text(encoding="utf-8")
    assert ptn.Scenario.load().name == "nguyen-dupuis-ieee33"


def test_overrides_change_the_values_and_keep_the_comments(base: ptn.Scenario) -> None:
    changed = base.with_overrides({"traffic.ev_share": 0.05, "traffic.station[2].node": 11,
                                   "coordinator.tolerance": 2e-4,
                                   "dso.demand_response": None})
    traffic = changed.document.part("traffic").data
    assert traffic["ev_share"] == 0.05 and traffic["station"][1]["node"] == 11
    assert changed.document.coordinator.tolerance == 2e-4
    assert "demand_response" not in changed.document.part("dso").data
    text = changed.to_toml()
    assert "# The default scenario of `ptn run`" in text  # comments kept
    assert ptn.Scenario.from_toml(text).document.part("traffic").data["ev_share"] == 0.05
    assert changed.document.fingerprint != base.document.fingerprint
    assert base.document.part("traffic").data["ev_share"] == 0.03  # the original unchanged


def test_bad_overrides_name_the_key(base: ptn.Scenario) -> None:
    with pytest.raises(OverrideError, match=r"traffic\.station\[9\] does not exist"):
        base.with_overrides({"traffic.station[9].node": 1})
    with pytest.raises(OverrideError, match=r"'traffic\.ev share'"):
        base.with_overrides({"traffic.ev share": 1})
    with pytest.raises(InvalidInputError, match=r"traffic\.evshare: unknown key"):
        base.with_overrides({"traffic.evshare": 0.2})
    with pytest.raises(InvalidInputError, match=r"traffic\.ev_share: must be in \[0, 1\]"):
        base.with_overrides({"traffic.ev_share": 3.0})
    with pytest.raises(InvalidInputError, match=r"traffic\.station\[1\]\.node: node 99"):
        base.with_overrides({"traffic.station[1].node": 99})


def test_run_returns_values_and_writes_nothing(base: ptn.Scenario, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rounds: list[int] = []
    for scenario in (base, base.with_overrides({"traffic.ev_share": 0.06})):
        result = ptn.run(scenario, reference=False, progress=lambda r: rounds.append(r.round))
        assert result.status == NegotiationStatus.CONVERGED and result.converged, result.message
        assert result.folder is None
        summary = result.summary
        assert summary["status"] == "converged" and summary["rounds"] == len(result.rounds)
        assert summary["agreed"]["total"] == pytest.approx(result.outcome.agreed.total)
        assert list(result.rounds["round"]) == list(range(1, summary["rounds"] + 1))
        loads = result.loads
        assert loads is not None
        # drivers may shift their departure by a period, so the day's total is what is served
        assert loads["agreed_load_mw"].sum() == pytest.approx(
            served_energy_mw(scenario).sum(), rel=1e-6)
    assert rounds[0] == 1 and len(rounds) >= 4
    assert os.listdir(tmp_path) == []  # out=None: not a file written


def test_run_writes_the_folder_ptn_run_writes(base: ptn.Scenario, tmp_path: Path) -> None:
    result = ptn.run(base, out=tmp_path / "res")
    assert result.folder == tmp_path / "res"
    written = json.loads((tmp_path / "res" / "summary.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(result.summary))
    assert written["centralized"] is not None and abs(written["gap_to_centralized"]) < 1e-4
    with (tmp_path / "res" / "rounds.csv").open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [float(r["primal_residual"]) for r in rows] == pytest.approx(
        result.rounds["primal_residual"].tolist())
    assert {"checkpoint.json", "transcript.jsonl", "loads.csv", "prices.png"} <= {
        p.name for p in (tmp_path / "res").iterdir()}
