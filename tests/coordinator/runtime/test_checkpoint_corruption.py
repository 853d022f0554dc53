"""The checkpoint corruption battery (:mod:`ptn.lab.fuzzing.checkpoints`) on a real checkpoint.

A short profit sharing (seed 000, three shares) killed after driver round 5 by ``ptn run``;
over 50 seeded corruptions of its checkpoint and records file, each resumed with fresh
in-process operators: every harmful one is refused with one InvalidInputError line naming the
damaged file, every benign one resumes to the undamaged checkpoint's numbers (rtol 1e-9), and
the undamaged resume matches the uninterrupted run (independent: negotiated here without a
crash). The CLI says it in one line with exit 2, without a traceback.
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

from ptn.coordinator.runner import CHECKPOINT_FILE, negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.coordinator.runtime.checkpoint import (
    CHECKPOINT_VERSION,
    Checkpoint,
    CheckpointWriter,
    read_checkpoint,
    rounds_path,
)
from ptn.engines.errors import InvalidInputError
from ptn.lab.fuzzing.checkpoints import (
    corruptions,
    crashed_run,
    resume_in_process,
    run_battery,
)
from ptn.scenario.document import Scenario, load_scenario
from tests.support import with_settings


def _sharing(refine_tolerance: float = 1.0) -> Scenario:
    return with_settings(load_scenario("profit-sharing-seed000"), shares=[0.0, 0.3, 1.0],
                         refine_tolerance=refine_tolerance)



@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = crashed_run(_sharing().text, tmp_path_factory.mktemp("base"), crash_after=5)
    other = crashed_run(_sharing(0.5).text, tmp_path_factory.mktemp("other"), crash_after=3)
    return base, other / CHECKPOINT_FILE


def test_every_corruption_is_refused_naming_the_file_or_resumes_alike(
        runs: tuple[Path, Path]) -> None:
    base, other = runs
    results = run_battery(base, other, resume_in_process(_sharing()), seed=15)
    assert len(results) >= 31
    assert sum(r.benign for r in results) >= 3
    failures = [f"{r.name}: {r.outcome}: {r.detail}" for r in results if not r.passed]
    assert not failures, "\n".join(failures)


def test_the_undamaged_checkpoint_resumes_to_the_uninterrupted_numbers(
        runs: tuple[Path, Path], tmp_path: Path) -> None:
    scenario = _sharing()
    uninterrupted = negotiate(scenario, inproc_endpoints(scenario))
    folder = tmp_path / "copy"
    shutil.copytree(runs[0], folder)
    resumed = negotiate(scenario, inproc_endpoints(scenario, private_root=folder / "operators"),
                        out=folder, resume=folder / CHECKPOINT_FILE)
    assert resumed.best_share == uninterrupted.best_share
    assert resumed.payment_usd == pytest.approx(uninterrupted.payment_usd, rel=1e-6)


def test_the_cli_refuses_a_damaged_checkpoint_in_one_line(runs: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    base = runs[0]
    folder = tmp_path / "run"
    shutil.copytree(base, folder)
    records = rounds_path(folder / CHECKPOINT_FILE)
    lines = records.read_bytes().splitlines(keepends=True)
    records.write_bytes(lines[1] + lines[0] + b"".join(lines[2:]))
    command = [sys.executable, "-m", "ptn", "run", str(base.parent / "scenario.toml"),
               "--backend", "inproc", "--no-reference", "--out", str(folder), "--resume",
               str(folder / CHECKPOINT_FILE)]
    refused = subprocess.run(command, capture_output=True, text=True, check=False)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("ptn: error: ") and "Traceback" not in refused.stderr
    assert str(records) in refused.stderr and "records_sha256" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_the_battery_has_every_kind_of_damage(runs: tuple[Path, Path]) -> None:
    names = [c.name for c in corruptions(runs[0], runs[1], seed=15)]
    for kind in ("truncated", "flipped", "deleted", "duplicated", "swapped",
                 "another scenario", "empty", "junk", "a string", "forged"):
        assert any(kind in name for name in names), kind


def _checkpoint(round_: int) -> Checkpoint:
    return Checkpoint("n-1", "admm", "s", "f" * 16, round_, {"lambda": [1.5, float("nan")]}, ())


def _record(round_: int) -> object:
    from ptn.coordinator.outcome import RoundRecord

    return RoundRecord(round=round_, seconds=0.25, values={"r": 1e-3 * round_},
                       price_per_mwh=np.array([[1.0, 2.0]]),
                       load_mw={"dso": np.array([[0.5, -0.0]])})


def test_a_writer_fsyncs_the_directory_and_removes_dead_writers_temporaries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / CHECKPOINT_FILE
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".{CHECKPOINT_FILE}.{dead.pid}.tmp"
    stale.write_text("{")
    alive = tmp_path / f".{CHECKPOINT_FILE}.{os.getppid()}.tmp"
    alive.write_text("{")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    writer = CheckpointWriter(path)
    assert not stale.exists() and alive.exists()  # a live process's file is its own
    synced.clear()
    writer.write(_checkpoint(1), [_record(1)])  # type: ignore[list-item]
    # the records file, the checkpoint's temporary and the directory
    assert len(synced) == 3
    checkpoint = read_checkpoint(path)
    assert checkpoint.round == 1 and len(checkpoint.rounds) == 1
    assert np.isnan(checkpoint.mechanism_state["lambda"][1])
    assert json.loads(path.read_text())["version"] == CHECKPOINT_VERSION == 3
    assert not list(tmp_path.glob(f".{CHECKPOINT_FILE}.{os.getpid()}.tmp"))


def test_a_resumed_writer_keeps_the_digest_of_the_kept_records(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_FILE
    writer = CheckpointWriter(path)
    for round_ in (1, 2, 3):
        writer.write(_checkpoint(round_), [_record(round_)])  # type: ignore[list-item]
    resumed = CheckpointWriter(path, kept_rounds=2)  # a crash after 2, the 3rd not checkpointed
    resumed.write(_checkpoint(3), [_record(3)])  # type: ignore[list-item]
    assert [r.round for r in read_checkpoint(path).rounds] == [1, 2, 3]
    path.write_text(path.read_text().replace('"round": 3', '"round": 4'))
    with pytest.raises(InvalidInputError, match=r"checkpoint.json: a damaged checkpoint"):
        read_checkpoint(path)
