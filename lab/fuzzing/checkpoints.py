"""Seeded corruptions of a real checkpoint, each resumed and classified.

Why this module exists: a checkpoint is read back after the crash that may have damaged it, and
may be handed over by someone who edited it. Every corruption here (truncations at many
offsets, bit flips, deleted, duplicated or reordered round records, another scenario's
checkpoint, empty files, binary junk, well-formed JSON with wrong types, forgeries with
recomputed checksums) must either be refused with one :class:`InvalidInputError` line naming
the file, or, when it is benign (records appended beyond the count, a stale temporary file, a
trailing newline), resume to exactly the numbers of the undamaged checkpoint.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptn.coordinator.runner import CHECKPOINT_FILE, negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.coordinator.runtime.checkpoint import content_digest, rounds_path
from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import Scenario

#: a resume of a run folder's checkpoint: its numbers by name (raises on refusal)
Resume = Callable[[Path], dict[str, float]]


@dataclass(frozen=True)
class Corruption:
    """One way of damaging a run folder; ``benign`` ones must resume to the same numbers."""

    name: str
    apply: Callable[[Path], object]
    benign: bool = False


@dataclass(frozen=True)
class CorruptionResult:
    """What resuming a corrupted folder did: ``refused`` (one clear line naming the file),
    ``resumed`` (same numbers), or a defect: ``traceback``, ``unclear`` (refused without
    naming the file, or on several lines), ``accepted`` (resumed with other numbers, or a
    harmful corruption resumed at all)."""

    name: str
    benign: bool
    outcome: str
    detail: str

    @property
    def passed(self) -> bool:
        return self.outcome == ("resumed" if self.benign else "refused")


def _files(folder: Path) -> tuple[Path, Path]:
    checkpoint = folder / CHECKPOINT_FILE
    return checkpoint, rounds_path(checkpoint)


def _rewrite(which: int, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = _files(folder)[which]
        path.write_bytes(change(path.read_bytes()))
    return apply


def _edit_json(change: Callable[[dict[str, object]], object], *,
               recompute: bool) -> Callable[[Path], None]:
    """Change the checkpoint's JSON; ``recompute``: forge its checksum too (an adversary)."""
    def apply(folder: Path) -> None:
        path = _files(folder)[0]
        payload = json.loads(path.read_text(encoding="utf-8"))
        change(payload)
        if recompute:
            payload["sha256"] = content_digest(payload)
        path.write_text(json.dumps(payload), encoding="utf-8")
    return apply


def _lines(change: Callable[[list[bytes]], list[bytes]]) -> Callable[[Path], None]:
    return _rewrite(1, lambda data: b"".join(change(data.splitlines(keepends=True))))


def _flip(position: int, bit: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        flipped = bytearray(data)
        flipped[position % len(data)] ^= 1 << bit
        return bytes(flipped)
    return change


def _truncate(offset: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        return data[:offset]
    return change


def _set(key: str, value: object) -> Callable[[dict[str, object]], None]:
    def change(payload: dict[str, object]) -> None:
        payload[key] = value
    return change


def _replace_both(checkpoint: bytes, records: bytes) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        _files(folder)[0].write_bytes(checkpoint)
        _files(folder)[1].write_bytes(records)
    return apply


def _swap(lines: list[bytes]) -> list[bytes]:
    return [lines[1], lines[0], *lines[2:]]


def corruptions(folder: Path, other_checkpoint: Path, *, seed: int = 0) -> list[Corruption]:
    """The battery for the run folder ``folder`` (whose checkpoint covers at least 3 round
    records); ``other_checkpoint``: a checkpoint of another scenario."""
    generator = random.Random(seed)
    checkpoint, records = _files(folder)
    size, records_size = checkpoint.stat().st_size, records.stat().st_size
    count = json.loads(checkpoint.read_text(encoding="utf-8"))["records"]
    if count < 3:
        raise InvalidInputError(f"{checkpoint}: needs at least 3 round records, has {count}")
    record_lines = records.read_bytes().splitlines(keepends=True)
    other = other_checkpoint.read_bytes()
    other_records = rounds_path(other_checkpoint).read_bytes()
    battery = [
        Corruption("checkpoint deleted", lambda f: _files(f)[0].unlink()),
        Corruption("checkpoint empty", _rewrite(0, lambda _: b"")),
        Corruption("checkpoint binary junk",
                   _rewrite(0, lambda _: random.Random(seed).randbytes(size))),
        Corruption("checkpoint a JSON list", _rewrite(0, lambda d: b"[" + d + b"]")),
        Corruption("checkpoint of another scenario", _replace_both(other, other_records)),
        Corruption("checkpoint of another scenario, this run's records",
                   _rewrite(0, lambda _: other)),
        Corruption("version 2 (no checksums)", _edit_json(_set("version", 2), recompute=True)),
        Corruption("round a string", _edit_json(_set("round", "7"), recompute=False)),
        Corruption("round a string, checksum forged",
                   _edit_json(_set("round", "7"), recompute=True)),
        Corruption("round negative, checksum forged",
                   _edit_json(_set("round", -1), recompute=True)),
        Corruption("records beyond round, checksum forged",
                   _edit_json(_set("records", 10**6), recompute=True)),
        Corruption("records a float", _edit_json(_set("records", 2.5), recompute=True)),
        Corruption("mechanism_state a list, checksum forged",
                   _edit_json(_set("mechanism_state", []), recompute=True)),
        Corruption("round moved forward", _edit_json(_set("round", 1000), recompute=False)),
        Corruption("sha256 removed", _edit_json(lambda p: p.pop("sha256"), recompute=False)),
        Corruption("records file deleted", lambda f: _files(f)[1].unlink()),
        Corruption("records file empty", _rewrite(1, lambda _: b"")),
        Corruption("records file binary junk",
                   _rewrite(1, lambda _: random.Random(seed + 1).randbytes(records_size))),
        Corruption("record line deleted", _lines(lambda lines: lines[1:])),
        Corruption("record line duplicated", _lines(lambda lines: [lines[0], *lines])),
        Corruption("record lines swapped", _lines(_swap)),
        Corruption("records of another run",
                   _rewrite(1, lambda _: other_records)),
    ]
    for offset in [*sorted(generator.sample(range(1, size), 10)), size - 1]:
        battery.append(Corruption(f"checkpoint truncated to {offset} of {size} bytes",
                                  _rewrite(0, _truncate(offset))))
    for _ in range(10):
        position, bit = generator.randrange(size), generator.randrange(8)
        battery.append(Corruption(f"checkpoint bit {bit} of byte {position} flipped",
                                  _rewrite(0, _flip(position, bit))))
    within = len(b"".join(record_lines[:count]))
    for offset in sorted(generator.sample(range(1, within), 6)):
        battery.append(Corruption(f"records truncated to {offset} of {records_size} bytes",
                                  _rewrite(1, _truncate(offset))))
    for _ in range(8):
        position, bit = generator.randrange(within), generator.randrange(8)
        battery.append(Corruption(f"records bit {bit} of byte {position} flipped",
                                  _rewrite(1, _flip(position, bit))))
    battery += [
        Corruption("a record appended beyond the count",
                   _rewrite(1, lambda d: d + record_lines[count - 1]), benign=True),
        Corruption("half a record appended beyond the count",
                   _rewrite(1, lambda d: d + record_lines[0][: len(record_lines[0]) // 2]),
                   benign=True),
        Corruption("a trailing newline after the checkpoint",
                   _rewrite(0, lambda d: d + b"\n"), benign=True),
        Corruption("a dead writer's temporary file", lambda f: (
            f / f".{CHECKPOINT_FILE}.999999999.tmp").write_bytes(b'{"half": '), benign=True),
    ]
    return battery


def run_battery(folder: Path, other_checkpoint: Path, resume: Resume, *, seed: int = 0,
                cases: list[Corruption] | None = None) -> list[CorruptionResult]:
    """Apply every corruption to a copy of ``folder`` and resume it with ``resume``; benign
    ones are compared (rtol 1e-9) with the resume of the undamaged copy."""
    battery = cases if cases is not None else corruptions(folder, other_checkpoint, seed=seed)
    with tempfile.TemporaryDirectory(prefix="ptn-corruption-") as scratch:
        expected = resume(_copy(folder, Path(scratch) / "pristine"))
        results = []
        for index, case in enumerate(battery):
            copy = _copy(folder, Path(scratch) / f"case{index}")
            case.apply(copy)
            results.append(_resume_one(case, copy, resume, expected))
            shutil.rmtree(copy, ignore_errors=True)
    return results


def _copy(folder: Path, target: Path) -> Path:
    shutil.copytree(folder, target)
    return target


def _resume_one(case: Corruption, folder: Path, resume: Resume,
                expected: dict[str, float]) -> CorruptionResult:
    checkpoint, records = _files(folder)
    try:
        numbers = resume(folder)
    except InvalidInputError as error:
        text = str(error)
        named = str(checkpoint) in text or str(records) in text
        clear = named and "\n" not in text
        return CorruptionResult(case.name, case.benign, "refused" if clear else "unclear", text)
    except Exception as error:  # a traceback is what the battery looks for
        return CorruptionResult(case.name, case.benign, "traceback",
                                f"{type(error).__name__}: {error}")
    differs = sorted(key for key in expected if key not in numbers or not np.isclose(
        numbers[key], expected[key], rtol=1e-9, atol=0.0, equal_nan=True))
    if differs or not case.benign:
        return CorruptionResult(case.name, case.benign, "accepted",
                                f"resumed; differing: {', '.join(differs) or 'none'}")
    stale = [p.name for p in folder.glob(f".{CHECKPOINT_FILE}.*.tmp")]
    if stale:
        return CorruptionResult(case.name, case.benign, "accepted",
                                f"stale temporaries kept: {', '.join(stale)}")
    return CorruptionResult(case.name, case.benign, "resumed", "same numbers")


#: ``ptn run``'s exit code when ``PTN_CRASH_AFTER_ROUND`` stops it (as ``kill -9`` would)
CRASH_EXIT = 75


def resume_in_process(scenario: Scenario) -> Resume:
    """A :data:`Resume` that continues a results folder's checkpoint with the scenario's
    operators hosted in this process (their state in the folder's ``operators/``)."""

    def resume(folder: Path) -> dict[str, float]:
        outcome = negotiate(scenario, inproc_endpoints(scenario,
                                                       private_root=folder / "operators"),
                            out=folder, resume=folder / CHECKPOINT_FILE)
        return numbers_of(outcome)

    return resume


def crashed_run(scenario_text: str, folder: Path, crash_after: int) -> Path:
    """A ``ptn run`` (in-process operators) of a scenario killed right after checkpointing its
    ``crash_after``-th driver round; its results folder (the checkpoint, records, operators)."""
    import os
    import subprocess
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenario.toml"
    path.write_text(scenario_text, encoding="utf-8")
    out = folder / "run"
    killed = subprocess.run(
        [sys.executable, "-m", "ptn", "run", str(path), "--backend", "inproc", "--no-reference",
         "--out", str(out), "--json"], capture_output=True, text=True, check=False,
        env={**os.environ, "PTN_CRASH_AFTER_ROUND": str(crash_after)})
    if killed.returncode != CRASH_EXIT:
        raise RuntimeError(f"ptn run exited {killed.returncode}, not {CRASH_EXIT}: "
                           f"{killed.stderr[-2000:]}")
    return out


def numbers_of(value: object, prefix: str = "") -> dict[str, float]:
    """Every number in an outcome (dataclasses, mappings, sequences, arrays), by path; wall
    times (``seconds``) left out: what a resume must reproduce."""
    import dataclasses

    found: dict[str, float] = {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            found.update(numbers_of(getattr(value, item.name), f"{prefix}{item.name}."))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.update(numbers_of(item, f"{prefix}{key}."))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.update(numbers_of(item, f"{prefix}{index}."))
    elif isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        for index, number in enumerate(value.ravel().tolist()):
            found[f"{prefix}{index}"] = float(number)
    elif isinstance(value, int | float | np.floating | np.integer) \
            and not isinstance(value, bool):
        found[prefix.rstrip(".")] = float(value)
    return {key: number for key, number in found.items() if "seconds" not in key}
