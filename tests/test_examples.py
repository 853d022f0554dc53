"""The examples under examples/ run as a user runs them, and say what they promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPOSITORY


def test_ev_share_study() -> None:
    finished = subprocess.run([sys.executable, str(REPOSITORY / "examples" / "ev_share_study.py")],
                              capture_output=True, text=True, check=False, timeout=600)
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.strip().splitlines()
    assert lines[0].split() == ["ev_share", "status", "rounds", "ev_energy_mwh",
                                "saving_vs_baseline_usd", "gap_to_centralized"]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == ["0.02", "0.04", "0.06"]
    assert all(row[1] == "converged" for row in rows)
    energy = [float(row[3]) for row in rows]
    # inelastic EV demand: the energy served is proportional to the EV share
    assert energy[1] / energy[0] == pytest.approx(2.0, rel=1e-6)
    assert energy[2] / energy[0] == pytest.approx(3.0, rel=1e-6)
    assert all(abs(float(row[5])) < 1e-4 for row in rows)  # each within 0.01 % of the optimum
