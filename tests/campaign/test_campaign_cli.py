"""``ptn sweep`` and ``ptn run --placement`` on the command line: tables written, exit codes,
one-line errors naming the file and key (never a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from ptn.cli.app import app

CAMPAIGN = """
[campaign]
name = "cli"
scenario = "nguyen-dupuis-ieee33"
periods = 2
backend = "ray"
reference = false

[overrides]
"coordinator.max_rounds" = 1

[grid]
"traffic.ev_share" = [0.02, 0.03]
"""


def test_ptn_sweep_writes_the_tables_and_resumes(tmp_path: Path) -> None:
    file = tmp_path / "campaign.toml"
    file.write_text(CAMPAIGN, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(file), "--out", str(out),
                                      "--backend", "inproc"])
    assert result.exit_code == 0, result.output
    assert "2 trials: 2 not_converged" in result.stdout
    assert f"table: {out}/campaign.parquet" in result.stdout
    assert "trials finished (2 done" in result.stderr  # plain lines off a terminal
    table = pd.read_parquet(out / "campaign.parquet")
    assert sorted(table["traffic.ev_share"]) == [0.02, 0.03]
    assert (table["rounds"] == 1).all()
    again = CliRunner().invoke(app, ["sweep", str(file), "--out", str(out),
                                     "--backend", "inproc"])
    assert again.exit_code == 0 and "2 from an earlier run" in again.stderr


def test_a_failed_trial_makes_the_exit_code_one(tmp_path: Path) -> None:
    file = tmp_path / "campaign.toml"
    file.write_text(CAMPAIGN.replace("[0.02, 0.03]", "[0.02, -1.0]"), encoding="utf-8")
    result = CliRunner().invoke(app, ["sweep", str(file), "--out", str(tmp_path / "out"),
                                      "--backend", "inproc"])
    assert result.exit_code == 1
    assert "1 invalid" in result.stdout and "1 not_converged" in result.stdout


def test_a_bad_campaign_file_is_a_one_line_error(tmp_path: Path) -> None:
    file = tmp_path / "campaign.toml"
    file.write_text(CAMPAIGN.replace('backend = "ray"', 'backend = "slurm"'), "utf-8")
    result = CliRunner().invoke(app, ["sweep", str(file)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"ptn: error: {file}: campaign.backend: expected one of "
                                     "ray, ray-tasks, inproc, got 'slurm'")
    missing = CliRunner().invoke(app, ["sweep", str(file.with_name("none.toml"))])
    assert missing.exit_code == 2 and "cannot read campaign" in missing.stderr


def test_ptn_run_placement_file_is_validated(tmp_path: Path) -> None:
    placement = tmp_path / "placement.toml"
    placement.write_text('[placement.operators.nobody]\nresource = "x"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--placement", str(placement), "--backend",
                                      "inproc", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "placement.operators.nobody: the scenario has no operator 'nobody'" in \
        result.stderr


def test_ptn_run_placement_file_replaces_the_scenarios_table(tmp_path: Path) -> None:
    placement = tmp_path / "placement.toml"
    placement.write_text('[placement]\nstrategy = "spread"\n', encoding="utf-8")
    scenario = tmp_path / "scenario.toml"
    from ptn.api import Scenario

    scenario.write_text(Scenario.load(None, periods=2).with_overrides(
        {"coordinator.max_rounds": 1}).to_toml(), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(scenario), "--placement", str(placement),
                                      "--backend", "inproc", "--no-reference", "--json",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1  # one round: not converged
    summary = json.loads(result.stdout)
    assert summary["placement"]["backend"] == "inproc"
    assert "ray backend only" in summary["placement"]["note"]
