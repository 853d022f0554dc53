"""Results folders are never overwritten by surprise (issue 19 item 2): the rules of
:mod:`ptn.lab.run_folder`, and the commands that refuse a taken ``--out`` before any work."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptn.cli.app import app
from ptn.engines.errors import InvalidInputError
from ptn.lab.run_folder import (
    MANIFEST_FILE,
    OK,
    FolderTakenError,
    free_default_folder,
    holds_good_result,
    prepare_run_folder,
)

runner = CliRunner()


def good_folder(path: Path, marker: str = "good") -> Path:
    """A folder as a successful earlier run left it."""
    folder = prepare_run_folder(path, command="test")
    (folder.working / "summary.json").write_text(json.dumps({"run": marker}))
    assert folder.finish(OK) == path
    return path


def test_a_fresh_folder_gets_a_manifest_of_the_run(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run"
    folder = prepare_run_folder(out, command="ptn run x")
    assert folder.working == out and folder.mode == "fresh"
    running = json.loads((out / MANIFEST_FILE).read_text())
    assert running["status"] == "running" and running["ended_utc"] is None
    (out / "summary.json").write_text("{}")
    assert folder.finish(OK) == out
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["status"] == "ok" and manifest["command"] == "ptn run x"
    for key in ("started_utc", "ended_utc"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest[key])
    assert manifest["started_utc"] <= manifest["ended_utc"]
    import numpy

    assert manifest["packages"]["numpy"] == numpy.__version__
    assert "ptn_version" in manifest and manifest["python"].count(".") == 2


def test_a_taken_folder_is_refused_naming_it_and_force(tmp_path: Path) -> None:
    out = good_folder(tmp_path / "run")
    with pytest.raises(FolderTakenError) as refused:
        prepare_run_folder(out)
    assert str(out) in str(refused.value) and "--force" in str(refused.value)
    assert json.loads((out / "summary.json").read_text()) == {"run": "good"}


@pytest.mark.parametrize("make", ["file", "under a file"])
def test_a_file_is_refused_before_any_work(tmp_path: Path, make: str) -> None:
    file = tmp_path / "results.txt"
    file.write_text("not a folder")
    out = file if make == "file" else file / "run"
    with pytest.raises(InvalidInputError, match=re.escape(str(file))):
        prepare_run_folder(out)


def test_force_replaces_only_when_the_run_succeeds(tmp_path: Path) -> None:
    out = good_folder(tmp_path / "run")
    failed = prepare_run_folder(out, force=True)
    assert failed.working != out and failed.working.parent == out.parent
    (failed.working / "summary.json").write_text(json.dumps({"run": "failed"}))
    beside = failed.finish("not_converged", "200 rounds")
    assert beside != out and beside.name.startswith("run.failed-")
    assert json.loads((out / "summary.json").read_text()) == {"run": "good"}
    assert json.loads((beside / "summary.json").read_text()) == {"run": "failed"}
    assert json.loads((beside / MANIFEST_FILE).read_text())["status"] == "not_converged"
    succeeded = prepare_run_folder(out, force=True)
    (succeeded.working / "summary.json").write_text(json.dumps({"run": "new"}))
    assert succeeded.finish(OK) == out
    assert json.loads((out / "summary.json").read_text()) == {"run": "new"}
    # nothing left behind but the failed run's folder
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run", beside.name])


def test_an_exception_never_replaces_a_good_result(tmp_path: Path) -> None:
    out = good_folder(tmp_path / "run")
    folder = prepare_run_folder(out, force=True)
    with pytest.raises(RuntimeError), folder.running():
        (folder.working / "summary.json").write_text(json.dumps({"run": "crashed"}))
        raise RuntimeError("solver died")
    assert json.loads((out / "summary.json").read_text()) == {"run": "good"}
    assert folder.final is not None and folder.final != out
    manifest = json.loads((folder.final / MANIFEST_FILE).read_text())
    assert manifest["status"] == "failed" and manifest["message"] == "solver died"


def test_refused_input_leaves_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    folder = prepare_run_folder(out)
    with pytest.raises(InvalidInputError), folder.running():
        raise InvalidInputError("bad key")
    assert not out.exists()


def test_resume_continues_in_place_or_in_a_copy_of_a_good_result(tmp_path: Path) -> None:
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    (crashed / "checkpoint.json").write_text("{}")
    in_place = prepare_run_folder(crashed, resume=crashed / "checkpoint.json")
    assert in_place.mode == "resume" and in_place.working == crashed
    assert in_place.resume_path(crashed / "checkpoint.json") == crashed / "checkpoint.json"
    done = good_folder(tmp_path / "done")
    (done / "checkpoint.json").write_text('{"round": 9}')
    copy = prepare_run_folder(done, resume=done / "checkpoint.json")
    assert copy.working != done
    resumed_from = copy.resume_path(done / "checkpoint.json")
    assert resumed_from is not None and resumed_from.parent == copy.working
    assert json.loads(resumed_from.read_text()) == {"round": 9}
    (copy.working / "summary.json").write_text(json.dumps({"run": "resumed, failed"}))
    assert copy.finish("failed") != done
    assert json.loads((done / "summary.json").read_text()) == {"run": "good"}
    assert holds_good_result(done)


def test_a_taken_default_folder_gives_way_to_a_timestamped_one(tmp_path: Path) -> None:
    default = tmp_path / "results" / "scenario"
    assert free_default_folder(default) == default
    good_folder(default)
    other = free_default_folder(default)
    assert other.parent == default.parent
    assert re.fullmatch(r"scenario-\d{8}T\d{6}Z", other.name)


def test_run_refuses_a_taken_out_before_any_work(tmp_path: Path) -> None:
    out = good_folder(tmp_path / "run")
    result = runner.invoke(app, ["run", "--backend", "inproc", "--periods", "1", "--out",
                                 str(out)])
    assert result.exit_code == 2
    assert f"--out {out}: the folder already holds results" in result.stderr
    assert "--force" in result.stderr and "Traceback" not in result.output
    assert "negotiation" not in result.stderr  # refused before it started
    assert json.loads((out / "summary.json").read_text()) == {"run": "good"}


@pytest.mark.parametrize("command", [["run", "--periods", "1"], ["study",
                                     "scenarios/seed002-sue-der.toml", "--periods", "1"],
                                     ["coordinate", "--endpoint", "dso=localhost:1"]])
def test_every_negotiating_command_refuses_a_file_as_out(tmp_path: Path,
                                                         command: list[str]) -> None:
    file = tmp_path / "summary.json"
    file.write_text("{}")
    result = runner.invoke(app, [*command, "--out", str(file)])
    assert result.exit_code == 2, result.output
    assert f"--out {file}: exists and is not a directory" in result.stderr
    assert file.read_text() == "{}"


def test_opf_out_gets_a_manifest_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "opf"
    first = runner.invoke(app, ["opf", "--periods", "1", "--out", str(out)])
    assert first.exit_code == 0, first.output
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["status"] == "ok" and manifest["inputs"]["feeder"] == "case33bw"
    assert manifest["inputs"]["periods"] == 1
    objective = json.loads((out / "summary.json").read_text())["objective"]
    again = runner.invoke(app, ["opf", "--periods", "2", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.stderr
    assert json.loads((out / "summary.json").read_text())["objective"] == objective
    forced = runner.invoke(app, ["opf", "--periods", "2", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "summary.json").read_text())["periods"] == 2


def test_assign_refuses_an_existing_flows_file_before_solving(tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text("an earlier run\n")
    refused = runner.invoke(app, ["assign", "--out", str(flows)])
    assert refused.exit_code == 2 and f"--out {flows}: the file exists" in refused.stderr
    assert flows.read_text() == "an earlier run\n"
    forced = runner.invoke(app, ["assign", "--gap", "1e-4", "--out", str(flows), "--force"])
    assert forced.exit_code == 0, forced.output
    assert flows.read_text().startswith("tail,head,flow,")
    assert [p.name for p in tmp_path.iterdir()] == ["flows.csv"]  # no temporary file left


def test_the_python_api_refuses_a_taken_folder_before_any_work(tmp_path: Path) -> None:
    import ptn
    import ptn.api

    out = good_folder(tmp_path / "run")
    with pytest.raises(FolderTakenError, match="--force"):
        ptn.run(ptn.Scenario.load(None, periods=1), backend="inproc", out=out)
    with pytest.raises(FolderTakenError):
        ptn.api.coordinate(ptn.Scenario.load(None, periods=1), ["dso=127.0.0.1:1"], out=out)
    assert json.loads((out / "summary.json").read_text()) == {"run": "good"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
