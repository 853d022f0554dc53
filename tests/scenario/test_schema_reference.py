"""The scenario reference is generated from the schema: docs/scenarios.md is current, every key
the shipped scenarios use is documented with its unit, and ``ptn scenario keys`` and ``check``
work (typer's CliRunner on the command group's own app)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ptn import scenarios
from ptn.cli.scenario import scenario_app
from ptn.scenario.document import builtin_scenario_text
from ptn.scenario.reference import markdown, rows

ROOT = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()


def test_the_committed_reference_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "scenarios.md").read_text("utf-8")
    assert committed == markdown(), ("docs/scenarios.md is stale: run "
                                     "`python -m ptn.scenario.reference`")


def _keys_used(table: dict[str, Any], path: str, found: set[tuple[str, str]]) -> None:
    """(table as written, key) of every value in a parsed file, arrays of tables as [[...]]."""
    for name, value in table.items():
        if isinstance(value, dict):
            written = f"{path}.{name}" if path else name
            if path in ("cno", "placement.operators"):
                written = f"{path}.<id>"
            _keys_used(value, written, found)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value) \
                and name != "feeder":
            for entry in value:
                _keys_used(entry, f"[{path}.{name}]", found)
        else:
            found.add((f"[{path}]", name))  # [traffic], or [[traffic.station]] from above


def test_every_key_of_the_shipped_scenarios_is_in_the_reference() -> None:
    documented = {(row.table, row.key) for row in rows()}
    used: set[tuple[str, str]] = set()
    for name in scenarios.names():
        _keys_used(tomllib.loads(builtin_scenario_text(name)), "", used)
    assert used, "no keys found"
    assert used <= documented, sorted(used - documented)
    assert ("[[traffic.station]]", "capacity_veh_per_h") in used  # arrays of tables are seen


def test_keys_prints_every_key_with_unit_default_and_bounds() -> None:
    result = RUNNER.invoke(scenario_app, ["keys", "--json"])
    assert result.exit_code == 0, result.output
    listed = {(row["table"], row["key"]): row for row in json.loads(result.output)}
    ev_share = listed[("[traffic]", "ev_share")]
    assert (ev_share["type"], ev_share["unit"], ev_share["default"], ev_share["bounds"]) == \
        ("number", "fraction", "0.05", "[0, 1]")
    assert listed[("[[traffic.station]]", "node")]["default"] == "required"
    assert listed[("[cno.<id>]", "best_response")]["type"] == "one of aem, exact"
    assert listed[("[coordinator]", "max_rounds")]["bounds"] == ">= 1"
    text = RUNNER.invoke(scenario_app, ["keys", "--table", "dso.storage"])
    assert text.exit_code == 0
    assert "  energy_mwh (number; unit MWh; default required): energy capacity" in text.output
    assert "[traffic]" not in text.output


def test_check_says_ok_with_the_mechanism_and_operators() -> None:
    result = RUNNER.invoke(scenario_app, ["check", "nguyen-dupuis-ieee33"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("nguyen-dupuis-ieee33: OK: mechanism admm, operators dso, "
                                     "traffic; 3 stations, 24 periods of 1 h")


def test_check_says_what_a_private_scenario_protects(tmp_path: Path) -> None:
    path = tmp_path / "private.toml"
    path.write_text(builtin_scenario_text("nguyen-dupuis-ieee33") + '\n[privacy]\n'
                    'mechanism = "laplace"\nepsilon = 10.0\nrounds = 20\n'
                    'protect = ["station_loads"]\nload_mw = 0.1\n')
    result = RUNNER.invoke(scenario_app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("24 periods of 1 h; private: laplace noise on "
                                          "station_loads, total epsilon 10 over 20 releases")


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "my.toml"
    path.write_text(builtin_scenario_text("nguyen-dupuis-ieee33")
                    .replace("retries = 2", "retries = -2", 1)
                    .replace("davidson_j = 0.5", 'davidson_j = "half"', 1))
    result = RUNNER.invoke(scenario_app, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"ptn: error: {path}: coordinator.retries: must be at least 0, got -2",
        f'ptn: error: {path}: traffic.station[1].davidson_j: expected a number, got "half"',
    ]
    assert "Traceback" not in result.output


def test_check_reports_what_the_operators_data_refuses(tmp_path: Path) -> None:
    path = tmp_path / "my.toml"
    path.write_text(builtin_scenario_text("nguyen-dupuis-ieee33").replace("node = 10",
                                                                          "node = 99", 1))
    result = RUNNER.invoke(scenario_app, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}: traffic.station[2].node: node 99 is not a node of" in result.output
    missing = RUNNER.invoke(scenario_app, ["check", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1
    assert "cannot read scenario" in missing.output


#: the unit a key's name carries (the project names values with their units), longest first
UNIT_OF_SUFFIX = (("_veh_per_h", "veh/h"), ("_per_mw2h", "$/MW²h"), ("_per_mwh", "$/MWh"),
                  ("_mw_per_h", "MW/h"), ("_per_h", "$/h"), ("_mwh", "MWh"), ("_mw", "MW"),
                  ("_mvar", "MVAr"), ("_mva", "MVA"), ("_pu", "p.u."), ("_hours", "h"),
                  ("_h", "h"), ("_s", "s"))


def test_every_key_has_a_meaning_and_the_unit_its_name_carries() -> None:
    checked = 0
    for row in rows():
        assert row.meaning, row
        unit = next((unit for suffix, unit in UNIT_OF_SUFFIX if row.key.endswith(suffix)), None)
        if unit is not None:
            assert row.unit == unit, row
            checked += 1
    assert checked > 40


def test_the_study_keys_agree_with_ptn_study() -> None:
    """``[study]`` is checked by ptn study (ptn.lab.studies.study); the reference's keys and
    defaults are its keys and defaults."""
    from dataclasses import fields

    from ptn.lab.studies.study import STUDY_KEYS, STUDY_KINDS, StudySettings
    from ptn.scenario.schema import StudyTable

    assert tuple(StudyTable.model_fields) == STUDY_KEYS
    settings = StudySettings(kind="hosting")
    for item in fields(StudySettings):
        if item.name != "kind":
            assert StudyTable.model_fields[item.name].default == getattr(settings, item.name)
    listed = {row.key: row for row in rows() if row.table == "[study]"}
    assert listed["kind"].type == "one of " + ", ".join(STUDY_KINDS)
