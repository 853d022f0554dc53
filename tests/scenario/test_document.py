"""Scenario files: the default is valid, and malformed ones get errors naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ptn.coordinator.runtime.backends import check_operator_parts
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import builtin_network_directory
from ptn.scenario.document import builtin_scenario_text, load_scenario

DEFAULT = builtin_scenario_text("nguyen-dupuis-ieee33")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def test_default_scenario_parts_hold_only_their_own_table() -> None:
    scenario = load_scenario()
    assert scenario.operator_ids == ("dso", "traffic")
    assert set(scenario.part("traffic").data) >= {"network", "station"}
    assert "charging_point" not in scenario.part("traffic").data
    assert "station" not in scenario.part("dso").data
    check_operator_parts(scenario)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("periods = 24", "periods = 24\ncolour = 1", "scenario.colour: unknown key"),
        ("periods = 24", 'periods = "24"', "scenario.periods: expected an integer"),
        ('stations = ["cs6", "cs10", "cs11"]', 'stations = ["cs6", "cs6"]',
         "scenario.stations[1]: station 'cs6' is listed twice"),
        ("tolerance = 1e-4", "tolerance = -1e-4", "coordinator.tolerance: must be positive"),
        ('mechanism = "admm"', 'mechanism = "auction"', "coordinator.mechanism: unknown"),
        ("ev_share = 0.03", "ev_share = 3.0", "traffic.ev_share: must be in [0, 1]"),
        ("node = 10", "node = 99", "traffic.station[2].node: node 99 is not a node"),
        ('network = "nguyen-dupuis"', 'network = "no/such/dir"', "traffic.network:"),
        ("capacity_veh_per_h = 30.0\ncharging_time_h = 0.5\ndavidson_j = 0.5\n\n[[traffic.station]]"
         "\nname = \"cs10\"", "charging_time_h = 0.5\ndavidson_j = 0.5\n\n[[traffic.station]]\n"
         "name = \"cs10\"", "traffic.station[1]: missing required key 'capacity_veh_per_h'"),
        ("bus = 20", "bus = 200", "dso: charging_point[2].bus"),
        ('feeder = "case33bw"', 'feeder = "case999"', "dso.feeder:"),
        ('name = "cs11"\nbus = 32', 'name = "cs12"\nbus = 32',
         "dso.charging_point: no [[dso.charging_point]] named 'cs11'"),
        ("[dso.horizon]", "[dso.horizon]\nperiod_hours = 2.0",
         "dso.horizon.period_hours: 2.0 differs from scenario.period_hours"),
        ("\n[dso]\n", "\n[dsoo]\n", "dsoo: unknown table"),
    ],
)
def test_malformed_scenarios_name_the_key(tmp_path: Path, old: str, new: str,
                                          expected: str) -> None:
    assert old in DEFAULT, old
    path = write(tmp_path, DEFAULT.replace(old, new, 1))
    with pytest.raises(InvalidInputError) as error:
        check_operator_parts(load_scenario(path))
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, DEFAULT.replace("periods = 24", "periods = = 24", 1))
    with pytest.raises(InvalidInputError, match=r"bad\.toml:\d+:\d+: TOML syntax error"):
        load_scenario(path)


def test_unknown_builtin_and_missing_file() -> None:
    with pytest.raises(InvalidInputError, match="unknown scenario 'nope'"):
        load_scenario("nope")
    with pytest.raises(InvalidInputError, match="cannot read scenario"):
        load_scenario("/no/such/scenario.toml")


def test_cli_reports_a_malformed_scenario_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, DEFAULT.replace("node = 10", "node = 99", 1))
    finished = subprocess.run(
        [sys.executable, "-m", "ptn", "run", str(path), "--backend", "inproc",
         "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True,
        check=False)  # --quiet: no progress lines (stderr is not a terminal)
    assert finished.returncode == 2
    assert finished.stderr.startswith("ptn: error: ")
    assert "traffic.station[2].node" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not (tmp_path / "out").exists()  # refused input leaves no results folder


def test_paths_expand_environment_variables(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    part = load_scenario().part("traffic")
    monkeypatch.setenv("PTN_TNTP_DIR", str(tmp_path))
    monkeypatch.setenv("PTN_TEST_RELATIVE", "data")
    assert part.resolve("$PTN_TNTP_DIR/SiouxFalls") == tmp_path / "SiouxFalls"
    assert part.resolve("${PTN_TNTP_DIR}/SiouxFalls") == tmp_path / "SiouxFalls"
    assert part.resolve("$PTN_TEST_RELATIVE/x") == part.base_directory / "data" / "x"
    assert part.resolve("plain/path") == part.base_directory / "plain" / "path"


def test_traffic_network_path_with_a_variable(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    directory = builtin_network_directory("nguyen-dupuis")
    monkeypatch.setenv("PTN_TEST_NETWORKS", str(directory.parent))
    text = DEFAULT.replace('network = "nguyen-dupuis"',
                           f'network = "${{PTN_TEST_NETWORKS}}/{directory.name}"', 1)
    check_operator_parts(load_scenario(write(tmp_path, text)))


@pytest.mark.parametrize("written", ["$PTN_TNTP_DIR/SiouxFalls", "${PTN_TNTP_DIR}/SiouxFalls"])
def test_unset_variable_names_file_key_and_variable(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    written: str) -> None:
    monkeypatch.delenv("PTN_TNTP_DIR", raising=False)
    path = write(tmp_path, DEFAULT.replace('network = "nguyen-dupuis"',
                                           f'network = "{written}"', 1))
    with pytest.raises(InvalidInputError) as error:
        check_operator_parts(load_scenario(path))
    assert str(error.value) == (f"{path}: traffic.network: $PTN_TNTP_DIR is not set (point it "
                                "to the directory of the TNTP networks)")


def test_empty_variable_counts_as_unset(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTN_TEST_EMPTY", "")
    part = load_scenario().part("dso")
    with pytest.raises(InvalidInputError, match=r": dso: \$PTN_TEST_EMPTY is not set$"):
        part.resolve("$PTN_TEST_EMPTY/feeder.toml")
