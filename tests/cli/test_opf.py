"""``ptn opf`` end to end: JSON and files out, one-line errors and exit codes on bad input."""

from __future__ import annotations

import csv
import functools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ptn.cli.opf
from ptn.cli.app import app
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeders
from tests.support import REPOSITORY

runner = CliRunner()

EXAMPLE = REPOSITORY / "scenarios" / "der" / "seed002-ieee33.toml"
#: pandapower's and MATPOWER's case33bw OPF at the shipped cost (20 $/MWh), one hour
CASE33BW_OBJECTIVE = 78.3535


@pytest.fixture(autouse=True)
def feeders_loaded_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Load each feeder once for the whole module (building case33bw takes half a second)."""
    monkeypatch.setattr(ptn.cli.opf, "load_feeders", _cached_load_feeders)
    yield


_cached_load_feeders = functools.cache(load_feeders)


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("ptn: error: ")
    return lines[0]


def test_case33bw_snapshot_json() -> None:
    result = runner.invoke(app, ["opf", "--feeder", "case33bw", "--periods", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(CASE33BW_OBJECTIVE, abs=1e-3)
    assert summary["periods"] == 1 and summary["period_hours"] == 1.0
    (feeder,) = summary["feeders"]
    assert feeder["name"] == "case33bw"
    assert 0.9 < feeder["voltage_min_pu"] < feeder["voltage_max_pu"] <= 1.0 + 1e-9
    assert summary["relaxation_gap_weighted_mw"] < 1e-5
    assert {"build_seconds", "seconds", "solver_seconds", "losses_mwh"} <= set(summary)


def test_human_summary_for_the_default_day() -> None:
    result = runner.invoke(app, ["opf", "--periods", "6"])
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first.startswith("case33bw, 6 periods of 4 h: optimal, objective ")
    assert "losses" in second and "voltage" in second and "relaxation gap" in second
    assert "built in" in second and "solved in" in second


def test_seed002_day_writes_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["opf", "--feeder", "case33bw", "--periods", "24",
                                 "--der", str(EXAMPLE), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "optimal"
    assert summary["devices"] == {"micro_turbines": 1, "storage": 1, "renewables": 2,
                                  "demand_response": 4, "charging_points": 3}
    assert summary["files"] == ["summary.json", "buses.csv", "branches.csv", "periods.csv"]
    assert json.loads((out / "summary.json").read_text())["objective"] == summary["objective"]

    buses = list(csv.DictReader((out / "buses.csv").open()))
    branches = list(csv.DictReader((out / "branches.csv").open()))
    periods = list(csv.DictReader((out / "periods.csv").open()))
    assert len(buses) == 33 * 24 and len(branches) == 32 * 24 and len(periods) == 24
    assert list(buses[0]) == ["feeder", "bus", "period", "voltage_pu", "dlmp_per_mwh",
                              "net_load_mw", "net_load_mvar"]
    assert list(branches[0]) == ["feeder", "branch", "from_bus", "to_bus", "period", "p_mw",
                                 "q_mvar", "loss_mw", "loading_percent"]
    assert list(periods[0])[:4] == ["period", "upstream_price_per_mwh", "import_mw", "losses_mw"]
    for column in ("mt33_p_mw", "bess18_p_mw", "bess18_soc", "pv28_p_mw", "pv28_curtailed_mw",
                   "wind14_p_mw", "dr7_shift_mw", "cs16_charging_mw"):
        assert column in periods[0]
    # the tariff, the storage's SOC band and the import as the head branch's flow, from the files
    assert [float(r["upstream_price_per_mwh"]) for r in periods[12:20]] == [1090.0] * 8
    assert all(0.2 - 1e-6 <= float(r["bess18_soc"]) <= 0.8 + 1e-6 for r in periods)
    head = {int(r["period"]): float(r["p_mw"]) for r in branches if r["from_bus"] == "1"}
    for row in periods:
        assert float(row["import_mw"]) == pytest.approx(head[int(row["period"])], abs=1e-6)
    # demand response only shifts energy in time
    assert sum(float(r["dr7_shift_mw"]) for r in periods) == pytest.approx(0.0, abs=1e-6)


def test_inexact_relaxation_warns_and_exits_zero(tmp_path: Path) -> None:
    der = tmp_path / "negative.toml"
    der.write_text("[upstream]\nprices_per_mwh = [-200.0]\n")
    result = runner.invoke(app, ["opf", "--periods", "1", "--der", str(der), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "inexact"
    assert "ptn: warning: the SOC relaxation is inexact" in result.stderr


def test_ac_check_agrees_when_exact_and_measures_the_inexact_case(tmp_path: Path) -> None:
    result = runner.invoke(app, ["opf", "--periods", "1", "--ac-check", "--json"])
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["ac_check"]
    assert check["converged"] and check["voltage_violations"] == 0
    assert check["max_voltage_deviation_pu"] < 1e-6
    der = tmp_path / "negative.toml"
    der.write_text("[upstream]\nprices_per_mwh = [-200.0]\n")
    result = runner.invoke(app, ["opf", "--periods", "1", "--der", str(der), "--ac-check",
                                 "--json"])
    summary = json.loads(result.stdout)
    # fictitious losses are paid for in the relaxation but not drawn in the AC power flow
    assert summary["ac_check"]["max_slack_deviation_mw"] > 1e-3
    assert summary["ac_check"]["recovered_objective"] > summary["objective"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[storage]]\nname = "s"\nbus = 18\nenergy_mwh = 1\ncharge_max_mw = 1\n'
         'discharge_max_mw = 1\nsoc_maximum = 0.9\n',
         "storage[1].soc_maximum: unknown key (allowed: name, bus, energy_mwh"),
        ('[[micro_turbine]]\nname = "m"\nbus = 3\np_max_mw = "half"\n',
         'micro_turbine[1].p_max_mw: expected a number, got "half"'),
        ('[[charging_point]]\nname = "cs"\nbus = 34\n',
         "charging_point[1].bus: feeder case33bw has no bus 34"),
        ('[upstream]\ntariff = "seed002-tou\n', ":2:"),
    ],
)
def test_bad_der_file_is_one_line_and_exit_code_two(
    tmp_path: Path, text: str, message: str
) -> None:
    der = tmp_path / "der.toml"
    der.write_text(text)
    result = runner.invoke(app, ["opf", "--der", str(der)])
    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert f"{der}" in line and message in line


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--feeder", "case999"], "unknown feeder 'case999'"),
        (["--periods", "0"], "--periods must be at least 1, got 0"),
        (["--periods", "5"], "--periods must divide 24"),
        (["--der", "no-such-der.toml"], "cannot read DER file no-such-der.toml"),
        (["--charging", "loads.csv"], "--charging loads.csv: the case has no charging points"),
        (["--out", str(EXAMPLE)], "exists and is not a directory"),
    ],
)
def test_bad_options_are_one_line_and_exit_code_two(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["opf", *arguments])
    assert result.exit_code == 2
    assert message in one_line_error(result.stderr)


def test_bad_charging_value_names_file_line_and_column(tmp_path: Path) -> None:
    loads = tmp_path / "loads.csv"
    loads.write_text("period,cs16,cs20,cs32\n0,0.1,0.2,0.3\n1,0.1,lots,0.3\n")
    result = runner.invoke(app, ["opf", "--periods", "2", "--der", str(EXAMPLE),
                                 "--charging", str(loads)])
    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert f"{loads}:3: column 'cs20': expected a load in MW, got 'lots'" in line


def test_charging_loads_reach_the_dispatch(tmp_path: Path) -> None:
    loads = tmp_path / "loads.csv"
    loads.write_text("period,cs32,cs20,cs16\n1,0,0,0.4\n0,0.3,0.2,0.1\n")
    out = tmp_path / "run"
    result = runner.invoke(app, ["opf", "--periods", "2", "--der", str(EXAMPLE),
                                 "--charging", str(loads), "--out", str(out)])
    assert result.exit_code == 0, result.output
    periods = list(csv.DictReader((out / "periods.csv").open()))
    assert [float(r["cs16_charging_mw"]) for r in periods] == [0.1, 0.4]
    assert [float(r["cs32_charging_mw"]) for r in periods] == [0.3, 0.0]


def test_infeasible_charging_load_exits_one(tmp_path: Path) -> None:
    der = tmp_path / "station.toml"
    der.write_text('[[charging_point]]\nname = "cs18"\nbus = 18\n')
    loads = tmp_path / "loads.csv"
    loads.write_text("period,cs18\n0,50\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / "buses.csv").write_text("an earlier run's table\n")
    # --force: a folder holding files is refused without it (tests/cli/test_results_folders.py)
    result = runner.invoke(app, ["opf", "--periods", "1", "--der", str(der), "--charging",
                                 str(loads), "--json", "--out", str(out), "--force"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "infeasible" and summary["objective"] is None
    # the earlier run's table is gone (the manifest is every results folder's)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "summary.json"]
    human = runner.invoke(app, ["opf", "--periods", "1", "--der", str(der), "--charging",
                                str(loads)])
    assert human.exit_code == 1 and "infeasible" in human.stdout


def test_module_entry_point_exit_codes(tmp_path: Path) -> None:
    """The real process: stdout JSON on success, one stderr line and exit 2 on bad input."""
    completed = subprocess.run(
        [sys.executable, "-m", "ptn", "opf", "--periods", "1", "--json"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["objective"] == pytest.approx(CASE33BW_OBJECTIVE,
                                                                      abs=1e-3)


@pytest.mark.skipif(shutil.which("ptn") is None, reason="ptn console script not installed")
def test_console_script(tmp_path: Path) -> None:
    der = tmp_path / "der.toml"
    der.write_text("[[pv]]\nname = 'p'\nbus = 5\nrated_mw = 'one'\n")
    completed = subprocess.run(["ptn", "opf", "--der", str(der)], capture_output=True,
                               text=True, timeout=120, check=False)
    assert completed.returncode == 2
    assert "pv[1].rated_mw: expected a number" in one_line_error(completed.stderr)


def test_an_infeasible_opf_names_the_binding_limit_in_json_and_in_words(tmp_path: Path) -> None:
    """CIGRE MV as pandapower ships it overloads its first HV/MV transformer (101.4 % in
    pandapower's own power flow): exit 1, the transformer in the message, the human line and
    the summary's ``infeasibility`` entry; a feeder without cost data gets the tariff note."""
    import pandapower as pp
    import pandapower.networks as pn

    feeder = tmp_path / "cigre_mv.json"
    pp.to_json(pn.create_cigre_network_mv(), str(feeder))
    result = runner.invoke(app, ["opf", "--feeder", str(feeder), "--periods", "1", "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "infeasible"
    (violation,) = summary["infeasibility"]["violations"]
    assert violation["kind"] == "transformer_rating" and violation["periods"] == [0]
    assert violation["element"].startswith("transformer 0 ")
    assert 101.0 < violation["value"] < 102.5 and violation["limit"] == 25.0
    assert "transformer 0 (bus 0\u20131) of feeder cigre_mv would be loaded 101." \
        in summary["message"]
    assert summary["notes"] == ["cigre_mv: no cost data; purchases priced at the "
                                "default tariff 50 $/MWh"]
    human = runner.invoke(app, ["opf", "--feeder", str(feeder), "--periods", "1"])
    assert human.exit_code == 1
    first, note = human.stdout.splitlines()
    assert first.startswith("cigre_mv, 1 period of 1 h: infeasible (the OPF is infeasible; ")
    assert "would be loaded 101." in first
    assert note == ("  note: cigre_mv: no cost data; purchases priced at the default "
                    "tariff 50 $/MWh")


def test_the_tariff_option_prices_a_feeder_without_cost_data(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    import pandapower as pp
    import pandapower.networks as pn

    # not in the --out folder: a non-empty --out is refused
    feeder = tmp_path_factory.mktemp("net") / "cigre_lv.json"
    pp.to_json(pn.create_cigre_network_lv(), str(feeder))
    at_50 = ptn.cli.opf.run_opf(feeder=str(feeder), periods=24)
    at_80 = ptn.cli.opf.run_opf(feeder=str(feeder), periods=24, tariff_per_mwh=80.0, out=tmp_path)
    for summary in (at_50, at_80):
        assert summary["status"] == "optimal", summary.get("message")
        assert summary["relaxation_gap_weighted_mw"] < 1e-5
    assert at_80["notes"] == ["cigre_lv: no cost data; purchases priced at the tariff "
                              "80 $/MWh"]
    # no DER: the dispatch does not depend on the tariff, the cost is tariff × energy bought
    assert at_50["energy_imported_mwh"] == pytest.approx(at_80["energy_imported_mwh"], rel=1e-7)
    assert at_80["objective"] == pytest.approx(80.0 * at_80["energy_imported_mwh"], rel=1e-7)
    assert at_50["objective"] == pytest.approx(50.0 * at_50["energy_imported_mwh"], rel=1e-7)
    periods = list(csv.DictReader((tmp_path / "periods.csv").open()))
    assert {float(r["upstream_price_per_mwh"]) for r in periods} == {80.0}
    with pytest.raises(InvalidInputError, match="--tariff-per-mwh must be a finite positive"):
        ptn.cli.opf.run_opf(feeder=str(feeder), periods=1, tariff_per_mwh=0.0)


def test_the_tariff_flag_reaches_the_opf_and_bad_values_exit_2() -> None:
    priced = runner.invoke(app, ["opf", "--feeder", "cigre_lv", "--periods", "4",
                                 "--tariff-per-mwh", "80", "--json"])
    assert priced.exit_code == 0, priced.output
    summary = json.loads(priced.stdout)
    assert summary["notes"] == ["cigre_lv: no cost data; purchases priced at the tariff 80 $/MWh"]
    # no DER: the whole objective is the tariff times the energy bought
    assert summary["objective"] == pytest.approx(80.0 * summary["energy_imported_mwh"], rel=1e-7)
    bad = runner.invoke(app, ["opf", "--feeder", "cigre_lv", "--tariff-per-mwh", "-3"])
    assert bad.exit_code == 2
    assert "--tariff-per-mwh must be a finite positive price" in bad.output
