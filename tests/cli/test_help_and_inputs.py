"""Help that is true and the inputs a researcher reaches for (issue 19 item 5): plain help
(no bracketed word swallowed, no ``<bool>`` flags), the seeds in words, ``--periods`` where the
help promises it, ``ptn opf --list-buses``, ``ptn run``'s long ``loads.csv`` as ``--charging``,
and ``ptn serve ROLE`` on a scenario whose only operator of that role has another id."""

from __future__ import annotations

import csv
import json
import re
import tomllib
from pathlib import Path

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from ptn.cli.app import app, operator_of_role
from ptn.engines.errors import InvalidInputError
from tests.support import REPOSITORY

runner = CliRunner()
DER = REPOSITORY / "scenarios" / "der" / "seed002-ieee33.toml"
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def help_text(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())  # words as read, whatever the wrapping


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_are_flags_and_every_option_is_listed(command: str) -> None:
    text = help_text(command)
    assert "<bool>" not in text
    click_command = get_command(app).commands[command]  # type: ignore[attr-defined]
    for parameter in click_command.params:
        if isinstance(parameter, click.Option):
            assert parameter.opts[0] in text, parameter.opts[0]


def test_bracketed_words_survive() -> None:
    assert "the coordinator reads its [scenario] and [coordinator] tables" in \
        help_text("coordinate")
    assert "whose [placement] table replaces" in help_text("run")
    assert "\\[" not in help_text("run") + help_text("sweep")


def test_the_seeds_are_explained_in_words() -> None:
    text = help_text()
    for seed, words in (("seed 000", "profit sharing"), ("seed 001", "Nash price game"),
                        ("seed 002", "joint minimum-cost"), ("seed 003", "hosting capacity")):
        assert seed in text and words in text, seed
    for name in ("profit-sharing-seed000", "pricing-seed001", "seed002-sue-der",
                 "seed003-siouxfalls-ieee30"):
        assert (REPOSITORY / "scenarios" / f"{name}.toml").exists(), name
        assert name in text


def test_the_periods_options_the_help_refers_to_exist() -> None:
    assert "ptn coordinate --periods" in help_text("serve")
    for command in ("coordinate", "run", "study", "serve"):
        assert "--periods" in help_text(command), command


def test_run_refuses_bad_periods_in_one_line() -> None:
    result = runner.invoke(app, ["run", "--periods", "0", "--backend", "inproc"])
    assert result.exit_code == 2
    assert result.stderr.startswith("ptn: error: ") and "period" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_list_buses_shows_the_feeders_loads_limits_and_der() -> None:
    result = runner.invoke(app, ["opf", "--feeder", "case33bw", "--der", str(DER),
                                 "--list-buses", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 33 and sum(row["slack"] for row in rows) == 1
    # Baran & Wu (1989): the 33-bus feeder's total load is 3715 kW and 2300 kVAr
    assert sum(row["load_mw"] for row in rows) == pytest.approx(3.715, abs=1e-9)
    assert sum(row["load_mvar"] for row in rows) == pytest.approx(2.3, abs=1e-9)
    der = tomllib.loads(DER.read_text(encoding="utf-8"))
    by_bus = {row["bus"]: row for row in rows}
    for point in der["charging_point"]:
        assert f"{point['name']} (charging point)" in by_bus[point["bus"]]["der"]
    table = runner.invoke(app, ["opf", "--feeder", "case33bw", "--list-buses"])
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["feeder", "bus", "load", "MW"]
    assert "33 buses, 32 with load: 3.7150 MW, 2.3000 MVAr" in lines[-1]


def test_the_long_loads_csv_of_ptn_run_is_a_charging_file(tmp_path: Path) -> None:
    """The same loads, long (as ``ptn run`` writes ``loads.csv``) and wide, give the same
    dispatch."""
    loads = {"cs16": [0.1, 0.4], "cs20": [0.2, 0.0], "cs32": [0.3, 0.05]}
    long = tmp_path / "loads.csv"
    with long.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["station", "period", "agreed_load_mw", "agreed_price_per_mwh",
                         "baseline_load_mw", "centralized_load_mw"])
        for station, values in loads.items():
            for period, value in enumerate(values):
                writer.writerow([station, period, value, 80.0, -1.0, ""])
    wide = tmp_path / "wide.csv"
    wide.write_text("period,cs16,cs20,cs32\n0,0.1,0.2,0.3\n1,0.4,0.0,0.05\n")
    summaries = []
    for file in (long, wide):
        result = runner.invoke(app, ["opf", "--periods", "2", "--der", str(DER),
                                     "--charging", str(file), "--json"])
        assert result.exit_code == 0, result.output
        summaries.append(json.loads(result.stdout))
    assert summaries[0]["objective"] == pytest.approx(summaries[1]["objective"], rel=1e-9)
    baseline = runner.invoke(app, ["opf", "--periods", "2", "--der", str(DER), "--charging",
                                   str(long), "--charging-column", "baseline_load_mw"])
    assert baseline.exit_code == 2  # the column asked for, with its (negative) loads
    assert f"{long}:2: column 'baseline_load_mw': expected a finite non-negative" in \
        baseline.stderr
    long.write_text(long.read_text().replace("cs20,1,", "cs6,1,"))
    wrong = runner.invoke(app, ["opf", "--periods", "2", "--der", str(DER), "--charging",
                                str(long)])
    assert wrong.exit_code == 2
    assert re.search(rf"{re.escape(str(long))}:\d+: station 'cs6' is not a charging point",
                     wrong.stderr)


def test_serve_takes_the_only_operator_of_a_role() -> None:
    assert operator_of_role("dso", "nguyen-dupuis-ieee33") is None  # its id is its role
    with pytest.raises(InvalidInputError, match=r"cno1, cno2.*--operator-id"):
        operator_of_role("cno", "pricing-seed001")
    # the default scenario (what `ptn run --show-scenario` prints) has no CNO: say which has
    with pytest.raises(InvalidInputError, match=r"no cno operator.*ptn run pricing-seed001"):
        operator_of_role("cno", "nguyen-dupuis-ieee33")


def test_serve_cno_on_a_scenario_with_one_cno(tmp_path: Path) -> None:
    import ptn

    single = tmp_path / "one-cno.toml"
    single.write_text(ptn.Scenario.load("pricing-seed001").with_overrides(
        {"cno.cno2": None, "coordinator.variants": ["nash"]}).to_toml(), encoding="utf-8")
    assert operator_of_role("cno", str(single)) == "cno1"


def test_show_scenario_with_periods_says_how_to_run_it_the_same() -> None:
    shown = runner.invoke(app, ["run", "--periods", "4", "--show-scenario"])
    assert shown.exit_code == 0
    first, rest = shown.stdout.split("\n", 1)
    assert first.startswith("# shown with --periods 4") and "--periods 4 for the same" in first
    assert tomllib.loads(rest)["scenario"]["periods"] == 24  # the file is the scenario's own
    assert runner.invoke(app, ["run", "--show-scenario"]).stdout == rest
