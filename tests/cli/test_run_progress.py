"""``ptn run --periods`` end to end with its progress in a pipe, and the progress log itself
(issue 19 items 2, 4): one timestamped line per step and round on stderr when it is not a
terminal, a manifest whose fingerprint is the resampled scenario's."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ptn
from ptn.cli.app import app
from ptn.lab.progress_log import ProgressLog

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_plain_progress_is_one_timestamped_line_per_event() -> None:
    stream = io.StringIO()
    log = ProgressLog(live=False, stream=stream)
    with log.step("baseline"):
        log.print("round   1  primal 1e-2")
    with pytest.raises(ValueError), log.step("reference"):
        raise ValueError("solver")
    lines = stream.getvalue().splitlines()
    assert [re.sub(STAMP + " ", "", line, count=1) for line in lines] == [
        "baseline ...", "round   1  primal 1e-2", lines[2].split(" ", 1)[1],
        "reference ...", lines[4].split(" ", 1)[1]]
    assert all(re.match(STAMP + " ", line) for line in lines)
    assert re.fullmatch(STAMP + r" baseline: done in \d+\.\d s", lines[2])
    assert re.fullmatch(STAMP + r" reference: stopped after \d+\.\d s \(ValueError\)", lines[4])


def test_live_progress_prints_lines_and_ends_its_display() -> None:
    stream = io.StringIO()
    log = ProgressLog(live=True, stream=stream)
    with log.step("negotiation"), log.step("reference"):
        log.print("round   1")
    assert not log.showing  # every step ended: no display left running
    text = stream.getvalue()
    assert "round   1" in text and "reference: done in" in text
    assert "negotiation: done in" in text and not re.search(STAMP, text)


def test_run_periods_writes_the_short_day_with_progress_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "quick"
    result = CliRunner().invoke(app, ["run", "--backend", "inproc", "--periods", "2",
                                      "--no-reference", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    rounds = summary["rounds"]
    stations = ptn.Scenario.load(None).document.public.stations
    with (out / "loads.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted({int(row["period"]) for row in rows}) == [0, 1]
    assert len(rows) == 2 * len(stations)
    manifest = json.loads((out / "manifest.json").read_text())
    expected = ptn.Scenario.load(None, periods=2).document
    assert manifest["scenario"]["fingerprint"] == expected.fingerprint
    assert manifest["scenario"]["fingerprint"] != ptn.Scenario.load(None).document.fingerprint
    assert manifest["scenario"]["periods"] == 2 and manifest["status"] == "ok"
    assert manifest["command"]  # the command line of the process
    # stderr is not a terminal here: plain lines, each with its UTC time
    lines = result.stderr.strip().splitlines()
    assert all(re.match(STAMP + " ", line) for line in lines), result.stderr
    events = [line.split(" ", 1)[1] for line in lines]
    assert any(e.startswith("nguyen-dupuis-ieee33: admm negotiation of 2 operators over 2 "
                            "periods") and e.endswith("...") for e in events)
    assert sum(bool(re.match(r"round +\d+ ", e)) for e in events) == rounds
    assert any(e.startswith("writing results: done in ") for e in events)


def test_assign_in_a_pipe_logs_the_gap_as_it_closes() -> None:
    result = CliRunner().invoke(app, ["assign", "--gap", "1e-10", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    lines = result.stderr.strip().splitlines()
    assert lines and all(re.match(STAMP + " assignment: iteration ", line) for line in lines)
    gaps = [float(line.rsplit(" ", 1)[1]) for line in lines]
    assert gaps == sorted(gaps, reverse=True) and len(gaps) >= 2
    last = re.search(r"iteration (\d+)/", lines[-1])
    assert last is not None and int(last.group(1)) <= summary["iterations"]
    quiet = CliRunner().invoke(app, ["assign", "--gap", "1e-4", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
