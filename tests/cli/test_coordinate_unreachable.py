"""``ptn coordinate`` with an operator that is not there: one line, within the window.

The window is the scenario's ``[coordinator] operator_wait_s``; the error names the operator,
its address and the setting, with no traceback, and exits 2 before anything is negotiated.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ptn.api import Scenario
from ptn.coordinator.runtime.launcher import free_port


def test_an_unreachable_operator_is_one_line_within_the_window(tmp_path: Path) -> None:
    scenario = tmp_path / "impatient.toml"
    scenario.write_text(Scenario.load("nguyen-dupuis-ieee33").with_overrides(
        {"coordinator.operator_wait_s": 2.0}).to_toml(), encoding="utf-8")
    port = free_port()  # nobody listens there
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ptn", "coordinate", "--scenario", str(scenario),
         "--endpoint", f"dso=127.0.0.1:{port}", "--endpoint", f"traffic=127.0.0.1:{port}",
         "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True,
        check=False)  # --quiet: no progress lines on stderr beside the error
    waited = time.monotonic() - started
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ptn: error: operator dso (gRPC 127.0.0.1:{port}) is not "
                               "serving after 2 s")
    assert "operator_wait_s" in lines[0] and "ptn serve dso" in lines[0]
    assert waited < 30.0
    assert not (tmp_path / "out" / "summary.json").exists()
