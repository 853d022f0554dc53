"""docs/tutorial.md, run as written: its files written, its commands run in order, its claims
checked against what they produced.

A fenced ```` ```toml file=NAME ```` block is written to NAME in a fresh folder; each ``$ ``
line of a ```` ```console ```` block is run there by bash (the ``export PTN_TNTP_DIR=...`` line
is replaced by the test's TNTP directory) and must exit 0. The tutorial's claims about the
results (the baseline infeasible on the feeder's lines, the negotiation converged, a small gap
to the centralized optimum) are then checked in the files the commands wrote.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.support import REPOSITORY

TUTORIAL = REPOSITORY / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str, str]]:
    """(language, info, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2).strip(), m.group(3))
            for m in BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8"))]


def test_the_tutorial_has_files_and_commands() -> None:
    kinds = [(language, info.split("=")[0]) for language, info, _ in blocks()]
    assert ("toml", "file") in kinds
    assert sum(language == "console" for language, _ in kinds) >= 5


def test_the_tutorial_runs_as_written(tmp_path: Path,
                                      tntp_directory: Callable[[str], Path]) -> None:
    tntp = tntp_directory("SiouxFalls").parent
    env = {**os.environ, "PTN_TNTP_DIR": str(tntp),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    outputs: list[str] = []
    for language, info, body in blocks():
        if language == "toml" and info.startswith("file="):
            (tmp_path / info.removeprefix("file=")).write_text(body, encoding="utf-8")
            continue
        if language != "console":
            continue
        for line in body.splitlines():
            if not line.startswith("$ ") or line.startswith("$ export PTN_TNTP_DIR="):
                continue
            command = line.removeprefix("$ ")
            done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, check=False, timeout=600)
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            outputs.append(done.stdout)
    # §1: the network as the tutorial describes it
    flows = pd.read_csv(tmp_path / "flows.csv")
    assert len(flows) == 76
    # §3: the check passes
    assert any(out.startswith("sioux-cigre.toml: OK") for out in outputs)
    # §2: the feeder alone is optimal
    alone = json.loads((tmp_path / "feeder-alone" / "summary.json").read_text())
    assert alone["status"] == "optimal"
    # §4-5: the baseline overloads the first branch's lines, the negotiation converges near the
    # centralized optimum, and the folder holds what §5 lists
    folder = tmp_path / "results" / "sioux-cigre"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "converged"
    assert summary["baseline"]["status"] == "infeasible"
    assert "line 1 (bus 2–3) of feeder cigre_mv" in summary["baseline"]["message"]
    # the reference solved (a failed one has no total); agreed and centralized each add up
    for side in ("agreed", "centralized"):
        parts = summary[side]["by_operator"]
        assert summary[side]["total"] == pytest.approx(parts["traffic"] + parts["dso"], rel=1e-9)
    assert abs(summary["gap_to_centralized"]) < 1e-4
    for name in ("index.html", "manifest.json", "rounds.csv", "loads.csv", "prices.csv",
                 "full_information/road_flows.png", "full_information/feeder.png",
                 "full_information/bus_dlmps.png"):
        assert (folder / name).is_file(), name
    assert outputs[-1].split() == ["converged", "infeasible", str(summary["rounds"])]
