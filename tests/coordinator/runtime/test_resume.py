"""Every mechanism checkpoints every driver round and resumes to the uninterrupted run's numbers.

``PTN_CRASH_AFTER_ROUND=k`` makes ``ptn run`` exit (75) right after checkpointing its k-th
driver round, as ``kill -9`` would; ``ptn run --resume`` then continues with operators started
afresh (they restore their own state from their private folders). Independent check: the same
scenario negotiated without interruption, in this process. A checkpoint of another scenario is
refused (exit 2) naming both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.scenario.document import Scenario, load_scenario
from tests.support import with_settings

CRASH_EXIT = 75


def _short_game() -> Scenario:
    """Seed 001's game cut short: the non-cooperative variant, 8 rounds (5 trial quotes, then
    the DSO's fitted response), no certificate: a crash after round 6 falls where the DSO's
    quotes depend on its history."""
    return with_settings(load_scenario("pricing-seed001"), max_rounds=8, variants=["nash"],
                         certificate=False)


def _short_sharing() -> Scenario:
    """Seed 000's profit sharing at three shares, no refinement."""
    return with_settings(load_scenario("profit-sharing-seed000"), shares=[0.0, 0.3, 1.0],
                         refine_tolerance=1.0)


def _command(path: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "ptn", "run", str(path), "--backend", "inproc",
            "--no-reference", "--out", str(out), "--json"]


def _crash(scenario: Scenario, folder: Path, crash_after: int) -> Path:
    """``ptn run`` killed after driver round ``crash_after``; its results folder."""
    path = folder / "scenario.toml"
    path.write_text(scenario.text, encoding="utf-8")
    out = folder / "run"
    killed = subprocess.run(_command(path, out), capture_output=True, text=True, check=False,
                            env={**os.environ, "PTN_CRASH_AFTER_ROUND": str(crash_after)})
    assert killed.returncode == CRASH_EXIT, killed.stderr
    checkpoint = json.loads((out / "checkpoint.json").read_text())
    assert checkpoint["round"] == crash_after and not (out / "summary.json").exists()
    return out


def _resume(out: Path, *, converges: bool = True) -> dict:  # type: ignore[type-arg]
    """``ptn run --resume`` of a killed run; its summary."""
    checkpoint = json.loads((out / "checkpoint.json").read_text())
    resumed = subprocess.run([*_command(out.parent / "scenario.toml", out), "--resume",
                              str(out / "checkpoint.json")],
                             capture_output=True, text=True, check=False)
    assert resumed.returncode == (0 if converges else 1), resumed.stderr
    summary: dict = json.loads(resumed.stdout)  # type: ignore[type-arg]
    assert summary["negotiation_id"] == checkpoint["negotiation_id"]
    return summary


@pytest.fixture(scope="module")
def killed_sharing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Profit sharing killed after driver round 5: round 1 is the prescheduling, round 2 the
    share 0, rounds 3... the ADMM at 0.3."""
    return _crash(_short_sharing(), tmp_path_factory.mktemp("sharing"), crash_after=5)


def test_the_pricing_game_resumes(tmp_path: Path) -> None:
    scenario = _short_game()
    uninterrupted = negotiate(scenario, inproc_endpoints(scenario))
    # 8 rounds are too few for the stopping test: both runs end not converged, alike
    assert uninterrupted.status == "not_converged"
    summary = _resume(_crash(scenario, tmp_path, crash_after=6), converges=False)
    assert summary["status"] == "not_converged"
    expected = uninterrupted.variants["nash"]
    resumed = summary["variants"]["nash"]
    assert resumed["rounds"] == len(expected.outcome.rounds) == 8
    for party, revenue in expected.revenue_usd.items():
        assert resumed["revenue_usd"][party]["end"] == pytest.approx(revenue, rel=1e-6)
    assert resumed["final"]["mean_dso_price_per_mwh"] == pytest.approx(
        float(expected.dso_price_per_mwh.mean()), rel=1e-6)
    assert resumed["final"]["mean_charging_price_per_mwh"] == pytest.approx(
        float(expected.charging_price_per_mwh.mean()), rel=1e-6)


def test_profit_sharing_resumes(killed_sharing: Path, tmp_path: Path) -> None:
    scenario = _short_sharing()
    uninterrupted = negotiate(scenario, inproc_endpoints(scenario))
    folder = tmp_path / "copy"
    shutil.copytree(killed_sharing.parent, folder)
    out = folder / "run"
    summary = _resume(out)
    assert summary["best_share"] == uninterrupted.best_share
    assert summary["dno_total_cost_usd"] == pytest.approx(
        uninterrupted.dno_total_cost_usd(uninterrupted.best), rel=1e-6)
    assert summary["payment_usd"] == pytest.approx(uninterrupted.payment_usd, rel=1e-6)
    evaluations = {e["share"]: e for e in summary["evaluations"]}
    assert set(evaluations) == {e.share for e in uninterrupted.evaluations}
    for expected in uninterrupted.evaluations:
        # the operators restarted without their solvers' warm starts: the same agreements to
        # the ADMM tolerance, after a round more or less (measured: 4 vs 2 at 0.3, 9 vs 10 at 1)
        got = evaluations[expected.share]
        assert abs(got["rounds"] - expected.rounds) <= 3
        assert got["dso_cost_usd"] == pytest.approx(expected.dso_cost_usd, rel=1e-6)
        assert got["tno_cost_usd"] == pytest.approx(expected.tno_cost_usd, rel=1e-6)
    shift = np.loadtxt(out / "load_shift.csv", delimiter=",", skiprows=1, usecols=3)
    assert np.allclose(shift, uninterrupted.best.load_mw.ravel(), atol=1e-6)


def test_a_checkpoint_of_another_scenario_is_refused(killed_sharing: Path,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(killed_sharing, out)
    text = (killed_sharing.parent / "scenario.toml").read_text(encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text(text.replace("refine_tolerance = 1.0", "refine_tolerance = 0.5"),
                     encoding="utf-8")
    command = [*_command(other, out)[:-1], "--resume", str(out / "checkpoint.json")]
    refused = subprocess.run(command, capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert refused.stderr.startswith("ptn: error: ")
    assert "written for another version of scenario 'profit-sharing-seed000'" in refused.stderr
    assert "fingerprint" in refused.stderr
    assert "Traceback" not in refused.stderr
    # nothing was negotiated or written over the interrupted run's files
    assert not (out / "summary.json").exists()
    (out / "checkpoint.json").write_text("{not json")
    damaged = subprocess.run([*_command(other, out), "--resume", str(out / "checkpoint.json")],
                             capture_output=True, text=True, check=False)
    assert damaged.returncode == 2 and "not a checkpoint" in damaged.stderr
