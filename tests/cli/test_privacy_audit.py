"""``ptn privacy audit``: the default scenario's audit writes audit.json with every attack of
its mechanism, prints the table, and refuses what it cannot audit with a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ptn.api import Scenario
from ptn.cli.app import app
from ptn.lab.privacy.audit import ATTACKS, run_attacks

runner = CliRunner()


def test_the_default_scenarios_audit_writes_every_attack(tmp_path: Path) -> None:
    out = tmp_path / "audit"
    result = runner.invoke(app, ["privacy", "audit", "--periods", "4", "--out", str(out),
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    audit = json.loads((out / "audit.json").read_text("utf-8"))
    assert audit["scenario"] == "nguyen-dupuis-ieee33" and audit["mechanism"] == "admm"
    names = [a["attack"] for a in audit["attacks"]]
    assert names == ["admm-load-response", "dlmp-binding-periods", "dlmp-upstream-tariff"]
    assert all(a["status"] == "ok" and a["error"] is not None for a in audit["attacks"])
    response = audit["attacks"][0]
    assert (response["attacker"], response["target"]) == ("dso", "traffic")
    assert response["error"] < 0.01  # measured 0.17 %
    assert "admm-load-response" in result.output and "recovers" in result.output
    assert (out / "audit.md").read_text("utf-8").startswith("# Privacy audit")
    assert (out / "negotiation" / "transcript.jsonl").is_file()
    assert (out / "negotiation" / "rounds.csv").is_file()
    assert json.loads((out / "manifest.json").read_text("utf-8"))["status"] == "ok"


def test_a_mechanism_without_attacks_says_so() -> None:
    scenario = Scenario.load("profit-sharing-seed000").document
    assert scenario.coordinator.mechanism not in ATTACKS
    results, message = run_attacks(scenario, None)
    assert results == [] and "'profit-sharing' mechanism" in message


def test_a_missing_scenario_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["privacy", "audit", str(tmp_path / "missing.toml"),
                                 "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "ptn: error:" in result.output and "Traceback" not in result.output
