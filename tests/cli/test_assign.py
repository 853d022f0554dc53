"""``ptn assign`` end to end: files and JSON out, one-line errors and exit codes on bad input."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ptn.cli.app import app

runner = CliRunner()


def test_json_summary_and_csv_flows(tmp_path: Path) -> None:
    out = tmp_path / "flows.csv"
    result = runner.invoke(app, ["assign", "--network", "nguyen-dupuis", "--gap", "1e-10",
                                 "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "converged"
    assert summary["relative_gap"] <= 1e-10
    assert summary["links"] == 19 and summary["demand"] == 2000.0
    assert {"objective", "iterations", "seconds"} <= set(summary)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 19
    # flow conservation at node 5 (in: 1->5, 4->5; out: 5->6, 5->9), checked from the file
    flow = {(r["tail"], r["head"]): float(r["flow"]) for r in rows}
    inflow = flow[("1", "5")] + flow[("4", "5")]
    assert inflow == pytest.approx(flow[("5", "6")] + flow[("5", "9")], rel=1e-12)


def test_parquet_flows(tmp_path: Path) -> None:
    out = tmp_path / "flows.parquet"
    result = runner.invoke(app, ["assign", "--algorithm", "bfw", "--gap", "1e-4",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 19 and "volume_capacity_ratio" in table.column_names


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--network", "no-such-network"], "no such file or directory"),
        (["--algorithm", "simplex"], "unknown assignment algorithm 'simplex'"),
        (["--gap", "-1"], "--gap must be a positive number"),
        (["--max-iter", "0"], "--max-iter must be at least 1"),
        (["--out", "flows.xlsx"], "use a .csv or .parquet file name"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_two(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["assign", *arguments])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("ptn: error:")


def test_malformed_tntp_file_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "Bad_net.tntp").write_text(
        "<NUMBER OF ZONES> 2\n<NUMBER OF NODES> 2\n<END OF METADATA>\n1 2 10 1 ;\n"
    )
    (tmp_path / "Bad_trips.tntp").write_text("<NUMBER OF ZONES> 2\n<END OF METADATA>\n")
    result = runner.invoke(app, ["assign", "--network", str(tmp_path)])
    assert result.exit_code == 2
    assert "Bad_net.tntp:4: malformed link line" in result.stderr


def test_iteration_limit_exits_one_with_status() -> None:
    result = runner.invoke(app, ["assign", "--gap", "1e-14", "--max-iter", "1", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "max_iterations"


@pytest.mark.skipif(shutil.which("ptn") is None, reason="ptn console script not installed")
def test_console_script() -> None:
    completed = subprocess.run(["ptn", "assign", "--json"], capture_output=True, text=True,
                               timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["status"] == "converged"


def test_stochastic_equilibrium_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "sue.csv"
    result = runner.invoke(app, ["assign", "--sue-theta", "0.5", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "converged" and summary["theta"] == 0.5
    assert summary["residual"] <= 1e-6
    rows = list(csv.DictReader(out.open()))
    # every vehicle leaving origin 1 (1200 veh/h) is on 1->5 or 1->12
    leaving = sum(float(r["flow"]) for r in rows if r["tail"] == "1")
    assert leaving == pytest.approx(1200.0, rel=1e-9)
    bad = runner.invoke(app, ["assign", "--sue-theta", "0"])
    assert bad.exit_code == 2 and "theta" in bad.stderr


def test_an_algorithm_of_the_other_equilibrium_is_refused() -> None:
    """``--algorithm bfw --sue-theta 0.5`` once solved the SUE by Newton without a word."""
    bad = runner.invoke(app, ["assign", "--algorithm", "bfw", "--sue-theta", "0.5"])
    assert bad.exit_code == 2
    assert "--algorithm bfw: a stochastic UE (--sue-theta) is solved by newton, line-search " \
           "or msa" in bad.stderr
    chosen = runner.invoke(app, ["assign", "--algorithm", "line-search", "--sue-theta", "0.5",
                                 "--json"])
    assert chosen.exit_code == 0, chosen.output
    assert json.loads(chosen.stdout)["method"] == "line-search"


def test_a_network_without_trips_is_refused(tmp_path: Path) -> None:
    """An empty trips file once gave exit 0, "converged, objective 0"."""
    source = Path(__file__).resolve().parents[2] / "engines" / "traffic" / "data" / "NguyenDupuis"
    network = tmp_path / "NguyenDupuis"
    network.mkdir()
    for path in source.iterdir():
        text = path.read_text()
        if path.name.endswith("_trips.tntp"):
            text = text[: text.index("<END OF METADATA>")].replace("<TOTAL OD FLOW> 2000.0",
                                                                  "<TOTAL OD FLOW> 0")
            text += "<END OF METADATA>\n"
        (network / path.name).write_text(text)
    bad = runner.invoke(app, ["assign", "--network", str(network)])
    assert bad.exit_code == 2
    assert "NguyenDupuis_trips.tntp: no trips between zones: there is nothing to assign" \
        in bad.stderr
