"""``ptn run --resume`` of a folder holding a good result (issue 19: "a failed --resume
replaced a good summary and left the old checkpoint beside it"): the resumed run works in a
staging copy; it replaces the folder only when it succeeds, else it goes beside it. A finished
negotiation's checkpoint is refused before any work (its operators dropped its state)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ptn.cli.app import app

runner = CliRunner()
RUN = ["run", "--backend", "inproc", "--periods", "2", "--no-reference", "--quiet"]


def test_a_finished_run_is_not_resumed_and_its_folder_is_untouched(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(app, [*RUN, "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    good = (out / "summary.json").read_text()
    checkpoint = (out / "checkpoint.json").read_text()
    resumed = runner.invoke(app, [*RUN, "--resume", str(out / "checkpoint.json")])
    assert resumed.exit_code != 0
    assert "already ended (converged after" in resumed.output
    assert "nothing to resume" in resumed.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing written
    assert (out / "summary.json").read_text() == good
    assert (out / "checkpoint.json").read_text() == checkpoint
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
