"""``ptn run --resume`` of a folder holding a good result (issue 19: "a failed --resume
replaced a good summary and left the old checkpoint beside it"): the resumed run works in a
staging copy; it replaces the folder only when it succeeds, else it goes beside it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ptn.cli.app import app

runner = CliRunner()
RUN = ["run", "--backend", "inproc", "--periods", "2", "--no-reference", "--quiet"]


def test_a_resumed_run_never_replaces_a_good_result_unless_it_succeeds(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(app, [*RUN, "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    good = (out / "summary.json").read_text()
    checkpoint = (out / "checkpoint.json").read_text()
    resumed = runner.invoke(app, [*RUN, "--resume", str(out / "checkpoint.json")])
    beside = sorted(p for p in tmp_path.iterdir() if p.name != "run")
    if resumed.exit_code == 0:  # the resumed run succeeded: it is the folder now
        assert beside == []
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["mode"] == "resume" and manifest["status"] == "ok"
        assert manifest["resumed_from"] == str(out / "checkpoint.json")
    else:  # it failed: the good result and its checkpoint are untouched, the failure beside
        assert (out / "summary.json").read_text() == good
        assert (out / "checkpoint.json").read_text() == checkpoint
        assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
        assert [p.name.startswith("run.failed-") for p in beside] == [True]
        failed = json.loads((beside[0] / "manifest.json").read_text())
        assert failed["mode"] == "resume" and failed["status"] != "ok"
        assert f"results: {beside[0]}" in resumed.stdout
